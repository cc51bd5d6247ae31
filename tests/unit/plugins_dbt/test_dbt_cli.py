"""DbtCLI without dbt: the profile file, the project folder, the environment and the default
dependencies a flow gets (the real run is in test_dbt_real.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from plugins.dbt import cli
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
            "commands": ["dbt deps", "dbt build --target dev", "ls target"],
            "logFormat": "JSON",
        },
        ctx,
    )
    assert (ctx.working_dir / "profiles.yml").read_text() == PROFILES
    script = captured["argv"][-1].splitlines()
    assert script == [
        "set -e",
        "echo before",
        "dbt deps --project-dir proj --log-format json",
        "dbt build --target dev --project-dir proj --log-format json",
        "ls target",
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
    assert captured["argv"][-1].splitlines()[-1] == "dbt debug"  # the project is the root


def test_a_project_dir_outside_the_working_directory_is_refused(tmp_path, captured) -> None:
    assert cli.DbtCLI.validate({"commands": ["dbt run"], "projectDir": "../other"}) == [
        ("projectDir", "must be a relative folder inside the working dir")
    ]
    with pytest.raises(TaskFailed, match="outside the working directory"):
        cli.DbtCLI().run({"commands": ["dbt run"], "projectDir": "/etc"}, FakeContext(tmp_path))


class FakeKV:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], object] = {}

    def get(self, namespace: str, key: str) -> object:
        return self.values.get((namespace, key))

    def set(self, namespace: str, key: str, value: object, **options: object) -> None:
        self.values[(namespace, key)] = value


def test_manifests_are_loaded_from_and_stored_into_the_kv_store(tmp_path, monkeypatch) -> None:
    ctx = FakeContext(tmp_path)
    ctx.kv = FakeKV()
    ctx.kv.values[("test", "manifest.json")] = {"nodes": {"old": 1}}
    seen = {}

    def fake_run(ctx_, argv, *, env=None, read_only=()):  # noqa: ANN001, ANN202
        target = ctx_.working_dir / "proj" / "target"
        seen["loaded"] = (target / "manifest.json").read_text()
        (target / "manifest.json").write_text('{"nodes": {"new": 2}}')
        return process.ProcessResult(exit_code=0)

    monkeypatch.setattr(cli, "python_runtime", lambda *a, **k: process.Runtime())
    monkeypatch.setattr(process, "run_process", fake_run)
    spec = {"key": "manifest.json", "namespace": "test"}
    out = cli.DbtCLI().run(
        {"commands": ["dbt build"], "projectDir": "proj", "loadManifest": spec,
         "storeManifest": spec},
        ctx,
    )  # fmt: skip
    assert '"old"' in seen["loaded"]
    assert ctx.kv.values[("test", "manifest.json")] == {"nodes": {"new": 2}}
    assert "manifest.json" in out["outputFiles"]


def test_the_fusion_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TaskFailed, match="FUSION is not supported"):
        cli.DbtCLI().run({"commands": ["dbt build"], "engine": "FUSION"}, FakeContext(tmp_path))
