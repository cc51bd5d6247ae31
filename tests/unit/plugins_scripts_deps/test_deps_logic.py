"""The dependency cache's logic without installing anything: keys, refusals, locking,
publication, failures, and what the install step and the sandbox are given."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from kernel.plugin import TaskFailed
from plugins.scripts import deps, sandbox
from plugins.scripts import python as py
from tests.unit.fake_context import FakeContext, FakeLogger


def test_the_key_ignores_order_blanks_and_duplicates() -> None:
    a = deps.normalise(["requests", " pandas==2.2 ", "", "requests"])
    b = deps.normalise(["pandas==2.2", "requests"])
    assert a == b == ["pandas==2.2", "requests"]
    assert deps.env_key(a, "cpython-3.11", "pip") == deps.env_key(b, "cpython-3.11", "pip")


def test_the_key_changes_with_the_set_the_python_and_the_installer() -> None:
    base = deps.env_key(["requests"], "cpython-3.11", "pip")
    assert base != deps.env_key(["requests", "six"], "cpython-3.11", "pip")
    assert base != deps.env_key(["requests"], "cpython-3.12", "pip")
    assert base != deps.env_key(["requests"], "cpython-3.11", "uv")


def test_installer_options_and_local_paths_are_refused_at_deploy() -> None:
    problems = py.Script.validate(
        {"script": "x", "dependencies": ["--index-url=http://evil", "/etc/passwd", "requests"]}
    )
    assert [p for p, _ in problems] == ["dependencies", "dependencies"]
    assert "installer options" in problems[0][1]
    assert "local paths" in problems[1][1]
    assert py.Script.validate({"script": "x", "dependencies": ["requests>=2", "six"]}) == []


def test_pip_and_uv_command_lines(tmp_path: Path) -> None:
    folder = tmp_path / "env"
    pip = deps.install_commands(folder, ["six"], "/usr/bin/python3", None, own_pip=True)
    assert pip[0] == ["/usr/bin/python3", "-m", "venv", str(folder)]
    assert pip[1][:4] == [str(folder / "bin/python"), "-m", "pip", "install"]
    assert pip[1][-1] == "six"
    # The worker's pip installs into an environment made without one (no ensurepip).
    fast = deps.install_commands(folder, ["six"], "/usr/bin/python3", None, own_pip=False)
    assert fast[0] == ["/usr/bin/python3", "-m", "venv", "--without-pip", str(folder)]
    assert fast[1][:5] == [sys.executable, "-m", "pip", "--python", str(folder / "bin/python")]
    assert fast[1][-1] == "six"
    uv = deps.install_commands(folder, ["six"], "/usr/bin/python3", "/opt/uv")
    assert uv[0][:2] == ["/opt/uv", "venv"]
    assert uv[1][:3] == ["/opt/uv", "pip", "install"]
    assert "--python" in uv[1]
    assert uv[1][-1] == "six"


def test_package_manager_pip_never_uses_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deps.shutil, "which", lambda name, **kw: f"/bin/{name}")
    assert deps.installer_for("UV") == "/bin/uv"
    assert deps.installer_for(None) == "/bin/uv"
    assert deps.installer_for("PIP") is None


def test_the_install_step_gets_installer_settings_but_no_secrets() -> None:
    worker = {
        "PATH": "/usr/bin",
        "PIP_INDEX_URL": "https://mirror/simple",
        "UV_CACHE_DIR": "/cache",
        "HTTPS_PROXY": "http://proxy:3128",
        "SECRET_DB_PASSWORD": "hunter2",
        "DATABASE_URL": "postgres://u:p@db/x",
        "DJANGO_SECRET_KEY": "k",
    }
    env = deps.install_environment(worker)
    assert env["PIP_INDEX_URL"] == "https://mirror/simple"
    assert env["UV_CACHE_DIR"] == "/cache"
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert not {"SECRET_DB_PASSWORD", "DATABASE_URL", "DJANGO_SECRET_KEY"} & set(env)


def test_a_python_version_the_worker_lacks_fails_clearly(monkeypatch) -> None:
    monkeypatch.setattr(deps.shutil, "which", lambda name, **kw: None)
    with pytest.raises(TaskFailed, match="pythonVersion 2.7 is not available"):
        deps.base_python("2.7")


@pytest.fixture
def fake_install(monkeypatch: pytest.MonkeyPatch) -> list[list[list[str]]]:
    """Replace the installer: record the command lines, 'install' by writing bin/python."""
    calls: list[list[list[str]]] = []

    def run(commands, folder, jail, timeout, should_stop=None):  # noqa: ANN001, ANN202
        calls.append([list(c) for c in commands])
        (folder / "bin").mkdir(exist_ok=True)
        (folder / "bin" / "python").write_text("#!/bin/sh\n")
        return 0, "ok"

    monkeypatch.setattr(deps, "_run_install", run)
    return calls


def test_an_environment_is_built_once_then_reused(tmp_path: Path, fake_install) -> None:
    logger = FakeLogger()
    first = deps.ensure_env(["six"], logger, home=tmp_path, sandboxed=False)
    second = deps.ensure_env(["six"], logger, home=tmp_path, sandboxed=False)

    assert len(fake_install) == 1
    assert (first.reused, second.reused) == (False, True)
    assert first.path == second.path
    link = tmp_path / deps.ENVS_FOLDER / first.key
    assert link.is_symlink()
    assert Path(os.path.realpath(link)) == first.path
    marker = json.loads((first.path / deps.READY_MARKER).read_text())
    assert marker["dependencies"] == ["six"]


def test_two_workers_asking_at_once_build_it_once(tmp_path: Path, monkeypatch) -> None:
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow(commands, folder, jail, timeout, should_stop=None):  # noqa: ANN001, ANN202
        calls.append(folder)
        started.set()
        release.wait(10)
        (folder / "bin").mkdir()
        return 0, ""

    monkeypatch.setattr(deps, "_run_install", slow)
    results = []

    def worker() -> None:
        results.append(deps.ensure_env(["six"], FakeLogger(), home=tmp_path, sandboxed=False))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    threads[0].start()
    assert started.wait(10)
    threads[1].start()  # blocks on the lock file while the first builds
    release.set()
    for t in threads:
        t.join(20)
    assert len(calls) == 1
    assert sorted(r.reused for r in results) == [False, True]
    assert results[0].path == results[1].path


def test_a_failed_install_fails_with_the_installer_message_and_leaves_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    def failing(commands, folder, jail, timeout, should_stop=None):  # noqa: ANN001, ANN202
        return 1, "Collecting nosuchpkg\nERROR: No matching distribution found for nosuchpkg"

    monkeypatch.setattr(deps, "_run_install", failing)
    with pytest.raises(TaskFailed) as info:
        deps.ensure_env(["nosuchpkg"], FakeLogger(), home=tmp_path, sandboxed=False)
    assert "No matching distribution found for nosuchpkg" in str(info.value)
    assert "exit code 1" in str(info.value)
    root = tmp_path / deps.ENVS_FOLDER
    assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == []


def test_an_unfinished_folder_is_not_reused(tmp_path: Path, fake_install) -> None:
    env = deps.ensure_env(["six"], FakeLogger(), home=tmp_path, sandboxed=False)
    (env.path / deps.READY_MARKER).unlink()  # as if a build had died before publishing
    again = deps.ensure_env(["six"], FakeLogger(), home=tmp_path, sandboxed=False)
    assert not again.reused
    assert again.path != env.path
    assert len(fake_install) == 2
    assert not env.path.exists()  # the broken folder is cleaned up when replaced


def test_the_task_uses_the_environment_python_and_shows_it_read_only(
    tmp_path: Path, fake_install, monkeypatch
) -> None:
    monkeypatch.setattr(deps, "trellis_home", lambda: tmp_path / "home")
    ctx = FakeContext(tmp_path)
    runtime = py.python_runtime({"dependencies": ["six"]}, ctx, "process")
    assert runtime.python.endswith("/bin/python")
    assert runtime.read_only == (str(Path(runtime.python).parent.parent),)
    assert runtime.env["PATH"].startswith(str(Path(runtime.python).parent) + os.pathsep)
    assert runtime.env["VIRTUAL_ENV"] == runtime.read_only[0]


def test_inside_a_container_dependencies_are_installed_by_pip_first(tmp_path: Path) -> None:
    runtime = py.python_runtime(
        {"dependencies": ["pandas==2.2", "requests"]}, FakeContext(tmp_path), "docker"
    )
    assert runtime.python == "python"
    assert runtime.before == [
        "python -m pip install --quiet --disable-pip-version-check pandas==2.2 requests"
    ]


def test_without_the_cache_dependencies_go_into_the_working_directory(tmp_path) -> None:
    runtime = py.python_runtime(
        {"dependencies": ["six"], "dependencyCacheEnabled": False}, FakeContext(tmp_path), "process"
    )
    assert runtime.before[0].endswith("-m venv .venv")
    assert runtime.before[1] == ". .venv/bin/activate"
    assert runtime.before[2].endswith(" six")


def test_the_sandbox_binds_a_granted_folder_read_only_after_hiding_trellis_home(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    env_dir = home / "script-envs" / "abc-123"
    env_dir.mkdir(parents=True)
    jail = sandbox.Sandbox(
        "/usr/bin/bwrap", None, read_only=(str(tmp_path),), hidden=(str(home),)
    ).widened(read_only=[str(env_dir)])
    argv = jail.argv(["true"], tmp_path / "work")
    hide = argv.index(str(home))
    assert argv[hide - 1] == "--tmpfs"
    bind = argv.index(str(env_dir))
    assert argv[bind - 1] == "--ro-bind"
    assert bind > hide
    assert str(env_dir) not in argv[argv.index("--bind") :]  # never writable


def test_a_stop_during_the_install_kills_it_and_leaves_nothing(tmp_path: Path) -> None:
    """The task run killed (or timed out) while pip runs: the installer's group is killed."""
    folder = tmp_path / "script-envs" / "k-1"
    folder.mkdir(parents=True)
    flag = threading.Event()
    threading.Timer(0.5, flag.set).start()
    started = time.monotonic()
    with pytest.raises(TaskFailed, match="killed"):
        deps._run_install([["sleep", "30"]], folder, None, 60, flag.is_set)
    assert time.monotonic() - started < 10


def test_an_install_past_its_timeout_fails(tmp_path: Path) -> None:
    code, output = deps._run_install([["sleep", "30"]], tmp_path, None, 0.5)
    assert code == 124
    assert "timed out" in output


def test_in_a_container_only_listed_dependencies_are_installed(tmp_path: Path) -> None:
    """dbt's default set is for local processes: Kestra's dbt images already hold dbt."""
    ctx = FakeContext(tmp_path)
    runtime = py.python_runtime({}, ctx, "docker", ["dbt-core", "dbt-duckdb"])
    assert runtime.before == []
