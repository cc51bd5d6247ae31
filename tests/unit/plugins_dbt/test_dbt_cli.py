"""DbtCLI without dbt: the profile file, the project folder, the environment and the default
dependencies a flow gets (the real run is in test_dbt_real.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugins.base import TaskFailed
from plugins.dbt import cli
from plugins.registry import registry
from plugins.scripts import process
from tests.unit.fake_context import FakeContext

PROFILES = """
demo:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: dbt.duckdb
    prod:
      type: postgres
      host: db
"""


def test_kestra_name_resolves() -> None:
    assert registry.get("io.kestra.plugin.dbt.cli.DbtCLI") is cli.DbtCLI


def test_default_dependencies_follow_the_profile_adapters() -> None:
    assert cli.default_dependencies(PROFILES) == [cli.DBT_CORE, "dbt-duckdb", "dbt-postgres"]
    assert cli.default_dependencies(None) == [cli.DBT_CORE]
    assert cli.default_dependencies({"p": {"outputs": {"x": {"type": "Snowflake"}}}}) == [
        cli.DBT_CORE,
        "dbt-snowflake",
    ]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run DbtCLI without dbt: the environment is faked and the process records its input."""
    seen: dict = {}

    def fake_runtime(props, ctx, kind, default=None):  # noqa: ANN001, ANN202
        seen["dependencies"] = props.get("dependencies") or default
        return process.Runtime(kind=kind, python="python", env={"PATH": "/env/bin:/usr/bin"},
                               read_only=("/env",))  # fmt: skip

    def fake_run(ctx, argv, *, env=None, read_only=()):  # noqa: ANN001, ANN202
        seen.update(argv=list(argv), env=dict(env or {}), read_only=tuple(read_only))
        target = ctx.working_dir / "proj" / "target"
        target.mkdir(parents=True, exist_ok=True)
        (target / "run_results.json").write_text('{"results": []}')
        return process.ProcessResult(exit_code=0)

    monkeypatch.setattr(cli, "python_runtime", fake_runtime)
    monkeypatch.setattr(process, "run_process", fake_run)
    return seen


def test_the_command_lines_profile_and_environment(tmp_path: Path, captured: dict) -> None:
    ctx = FakeContext(tmp_path)
    (ctx.working_dir / "proj").mkdir()
    out = cli.DbtCLI().run(
        {
            "profiles": PROFILES,
            "projectDir": "proj",
            "beforeCommands": ["echo before"],
            "commands": ["dbt deps", "dbt build --target dev"],
        },
        ctx,
    )
    assert (ctx.working_dir / "profiles.yml").read_text() == PROFILES
    script = captured["argv"][-1].splitlines()
    assert script == [
        "set -e",
        "echo before",
        f"cd {ctx.working_dir / 'proj'}",
        "dbt deps",
        "dbt build --target dev",
    ]
    assert captured["env"]["DBT_PROFILES_DIR"] == str(ctx.working_dir)
    assert captured["env"]["PATH"] == "/env/bin:/usr/bin"
    assert captured["read_only"] == ("/env",)
    assert captured["dependencies"] == [cli.DBT_CORE, "dbt-duckdb", "dbt-postgres"]
    assert list(out["outputFiles"]) == ["run_results.json"]


def test_a_profiles_map_is_written_as_yaml(tmp_path: Path, captured: dict) -> None:
    ctx = FakeContext(tmp_path)
    cli.DbtCLI().run(
        {
            "profiles": {"demo": {"target": "dev", "outputs": {"dev": {"type": "duckdb"}}}},
            "commands": ["dbt debug"],
            "dependencies": ["dbt-core==1.9.0", "dbt-duckdb==1.9.0"],
        },
        ctx,
    )
    assert "type: duckdb" in (ctx.working_dir / "profiles.yml").read_text()
    assert captured["dependencies"] == ["dbt-core==1.9.0", "dbt-duckdb==1.9.0"]
    assert captured["argv"][-1].splitlines()[-1] == "dbt debug"  # no cd: project is the root


def test_a_project_dir_outside_the_working_directory_is_refused(tmp_path, captured) -> None:
    assert cli.DbtCLI.validate({"commands": ["dbt run"], "projectDir": "../other"}) == [
        ("projectDir", "must be a relative folder inside the working dir")
    ]
    with pytest.raises(TaskFailed, match="outside the working directory"):
        cli.DbtCLI().run({"commands": ["dbt run"], "projectDir": "/etc"}, FakeContext(tmp_path))
