"""Real installs: a Python Script with ``dependencies`` gets a virtual environment built by
pip (or uv), and the second run reuses it. The package is a wheel made by the test and
installed with ``--no-index --find-links``, so no package index is needed; one test also
installs a real package from the configured index, and skips when none answers.

When scripts are sandboxed (bwrap works here, as in CI), the install runs in its own sandbox
and the script sees the environment read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel.plugin import TaskFailed
from plugins.scripts import deps, sandbox
from plugins.scripts import python as py
from tests.unit.fake_context import FakeContext
from tests.unit.plugins_scripts_deps.helpers import build_wheel, index_answers

SCRIPT = """
import json, os, sys, trellis_probe_pkg
print("::" + json.dumps({"outputs": {
    "value": trellis_probe_pkg.VALUE,
    "prefix": sys.prefix,
    "venv": os.environ.get("VIRTUAL_ENV"),
}}) + "::")
"""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One TRELLIS_HOME and one wheel folder for the module: building an environment takes
    seconds, and tests after the first show the reuse (as workers sharing the home do)."""
    root = tmp_path_factory.mktemp("deps-real")
    wheels = root / "wheels"
    build_wheel(wheels)
    build_wheel(wheels, "trellis_other_pkg")
    for folder in (root, wheels):
        folder.chmod(0o755)
    return root / "home", wheels


@pytest.fixture
def local_index(shared: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip installs only from a folder holding the test's wheels (and the sandboxed install
    step may read that folder)."""
    home, wheels = shared
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv(sandbox.READ_ONLY_ENV, str(wheels))
    monkeypatch.setattr(deps, "trellis_home", lambda: home)
    monkeypatch.setattr(deps.shutil, "which", _no_uv(deps.shutil.which))
    return home


def _no_uv(which):  # noqa: ANN001, ANN202
    """Make the pip path deterministic even where uv happens to be installed."""
    return lambda name, *a, **kw: None if name == "uv" else which(name, *a, **kw)


def _run(tmp_path: Path, name: str, props: dict) -> tuple[FakeContext, dict]:
    ctx = FakeContext(tmp_path / name)
    return ctx, py.Script().run(props, ctx)


def test_a_script_runs_in_a_cached_environment_reused_by_the_next_run(
    tmp_path: Path, local_index: Path
) -> None:
    props = {"script": SCRIPT, "dependencies": ["trellis-probe-pkg"]}
    started = time.monotonic()
    first_ctx, first = _run(tmp_path, "one", props)
    first_seconds = time.monotonic() - started
    started = time.monotonic()
    second_ctx, second = _run(tmp_path, "two", props)
    second_seconds = time.monotonic() - started

    assert first["vars"]["value"] == 42 == second["vars"]["value"]
    env_dir = first["vars"]["prefix"]
    assert env_dir == second["vars"]["prefix"] == first["vars"]["venv"]
    assert Path(env_dir).parent == local_index / deps.ENVS_FOLDER
    assert (Path(env_dir) / deps.READY_MARKER).is_file()
    assert any("installing trellis-probe-pkg with pip" in m for m in first_ctx.logger.lines())
    assert not any("installing" in m for m in second_ctx.logger.lines())
    # The marker says it: reused; the time says it too (a venv + pip install takes seconds).
    assert second_seconds < first_seconds


def test_the_order_of_dependencies_does_not_make_a_new_environment(
    tmp_path: Path, local_index: Path
) -> None:
    _, a = _run(
        tmp_path,
        "a",
        {"script": SCRIPT, "dependencies": ["trellis-probe-pkg", "trellis-other-pkg"]},
    )
    _, b = _run(
        tmp_path,
        "b",
        {"script": SCRIPT, "dependencies": ["trellis-other-pkg", "trellis-probe-pkg"]},
    )
    assert a["vars"]["prefix"] == b["vars"]["prefix"]


def test_an_install_failure_fails_the_task_run_with_pip_s_message(
    tmp_path: Path, local_index: Path
) -> None:
    with pytest.raises(TaskFailed) as info:
        _run(tmp_path, "bad", {"script": "print(1)", "dependencies": ["no-such-package-xyz"]})
    message = str(info.value)
    assert "installing dependencies with pip failed" in message
    assert "no-such-package-xyz" in message
    assert "No matching distribution" in message
    # Nothing half-built is left: every folder there is a finished environment.
    root = local_index / deps.ENVS_FOLDER
    folders = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    assert all((p / deps.READY_MARKER).is_file() for p in folders)


def test_commands_find_python_and_the_packages_on_path(tmp_path: Path, local_index) -> None:
    ctx = FakeContext(tmp_path)
    out = py.Commands().run(
        {
            "commands": ["python -c 'import trellis_probe_pkg as p; print(p.VALUE)'"],
            "dependencies": ["trellis-probe-pkg"],
        },
        ctx,
    )
    assert out["exitCode"] == 0
    assert ctx.logger.lines("INFO")[-1] == "42"


@pytest.mark.skipif(sandbox.probe()[0] is None, reason="bubblewrap does not work here")
def test_in_the_sandbox_the_environment_is_readable_but_not_writable(
    tmp_path: Path, local_index: Path
) -> None:
    script = (
        SCRIPT
        + """
try:
    open(os.path.join(sys.prefix, "planted.txt"), "w").write("x")
    print("::" + json.dumps({"outputs": {"wrote": True}}) + "::")
except OSError as exc:
    print("::" + json.dumps({"outputs": {"wrote": False, "error": str(exc)}}) + "::")
print("::" + json.dumps({"outputs": {"uid": os.getuid()}}) + "::")
"""
    )
    _, out = _run(tmp_path, "jail", {"script": script, "dependencies": ["trellis-probe-pkg"]})
    assert out["vars"]["value"] == 42
    assert out["vars"]["wrote"] is False, out["vars"]
    assert out["vars"]["uid"] == sandbox.SCRIPT_UID
    assert not (Path(out["vars"]["prefix"]) / "planted.txt").exists()


def test_a_package_from_the_configured_index(tmp_path: Path, monkeypatch) -> None:
    """The worker's own pip configuration (index, mirror) is what installs: here `six`."""
    if not index_answers(tmp_path / "probe", "six==1.17.0"):
        pytest.skip("no package index answers pip here")
    monkeypatch.setattr(deps, "trellis_home", lambda: tmp_path / "home")
    ctx = FakeContext(tmp_path)
    out = py.Script().run(
        {
            "script": "import six, json; print('::' + json.dumps({'outputs': {'v': six.__version__}}) + '::')",
            "dependencies": ["six==1.17.0"],
            "packageManager": "PIP",
        },
        ctx,
    )
    assert out["vars"]["v"] == "1.17.0"


BUILDER = """
import json, sys
from pathlib import Path
from plugins.scripts import deps
from tests.unit.fake_context import FakeLogger
env = deps.ensure_env(["trellis-probe-pkg", "trellis-other-pkg", "six"][: int(sys.argv[2])],
                      FakeLogger(), home=Path(sys.argv[1]), sandboxed=False)
print(json.dumps({"reused": env.reused, "path": str(env.path)}))
"""


def test_two_worker_processes_sharing_a_home_build_an_environment_once(
    tmp_path: Path, local_index: Path
) -> None:
    """Two processes (as two workers) ask for the same new set at the same moment: the lock
    file makes one build it and the other reuse it."""
    home = tmp_path / "shared-home"
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILDER, str(home), "2"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["reused"] for r in results) == [False, True]
    assert results[0]["path"] == results[1]["path"]
    built = [p for p in (home / deps.ENVS_FOLDER).iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(built) == 1
