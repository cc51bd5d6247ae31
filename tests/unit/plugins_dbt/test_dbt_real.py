"""DbtCLI for real: dbt-core and dbt-duckdb installed into a cached environment, a tiny
project made by the test built against a DuckDB file in the working directory.

The environment is cached in a folder kept across test runs (``TRELLIS_TEST_SCRIPT_ENVS``,
default ``<tmp>/trellis-test-script-envs``): the first run on a machine installs dbt (half a
minute), later runs reuse it, as workers do. Skips when no package index answers. dbt-core is
pinned below 1.12, whose new dependency downloads a binary from GitHub at install time."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from plugins.dbt.cli import DbtCLI
from plugins.scripts import deps
from tests.unit.fake_context import FakeContext
from tests.unit.plugins_scripts_deps.helpers import index_answers

DEPENDENCIES = ["dbt-core>=1.8,<1.12", "dbt-duckdb"]
PROJECT = {
    "proj/dbt_project.yml": "name: demo\nversion: '1.0'\nconfig-version: 2\nprofile: demo\n",
    "proj/models/answer.sql": "select 42 as answer\n",
    "proj/models/schema.yml": (
        "version: 2\nmodels:\n  - name: answer\n    columns:\n      - name: answer\n"
        "        data_tests: [not_null]\n"
    ),
}
PROFILES = """
demo:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: dbt.duckdb
      threads: 1
"""


def test_dbt_builds_a_tiny_duckdb_project(tmp_path: Path, monkeypatch) -> None:
    if not index_answers(tmp_path / "probe", "dbt-duckdb", timeout=120):
        pytest.skip("no package index answers pip here")
    cache = Path(
        os.environ.get("TRELLIS_TEST_SCRIPT_ENVS")
        or Path(tempfile.gettempdir()) / "trellis-test-script-envs"
    )
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o755)
    monkeypatch.setattr(deps, "trellis_home", lambda: cache)
    ctx = FakeContext(tmp_path)
    out = DbtCLI().run(
        {
            "inputFiles": PROJECT,
            "projectDir": "proj",
            "profiles": PROFILES,
            "dependencies": DEPENDENCIES,
            "env": {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            "commands": ["dbt build"],
        },
        ctx,
    )
    assert out["exitCode"] == 0
    results = json.loads(ctx.open_uri(out["outputFiles"]["run_results.json"]).read_text())
    statuses = {r["unique_id"].split(".")[0]: r["status"] for r in results["results"]}
    assert statuses == {"model": "success", "test": "pass"}
    # As in Kestra, dbt runs from the working directory: the profile's relative path is there.
    assert (ctx.working_dir / "dbt.duckdb").is_file()
    assert "manifest.json" in out["outputFiles"]
    assert any("Completed successfully" in m for m in ctx.logger.lines())
