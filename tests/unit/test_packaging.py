"""The wheel carries every file the installed server needs: each local app of INSTALLED_APPS
with its Python modules, migrations, templates and static files. The image installs this
wheel (docker/Dockerfile), so a folder missing here is a server that cannot start there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
DATA_FOLDERS = ("templates", "static", "html", "migrations")


def source_files() -> list[str]:
    """The checkout as git sees it (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-c", "-o", "--exclude-standard"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [name for name in listed if (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the checkout's files")
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    for name in source_files():  # a clean tree: no stale build/ folder can fill the gaps
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"),
         str(src)], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if built.returncode != 0 and "Could not find a version" in built.stderr:
        pytest.skip(f"the build backend cannot be installed here: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("trellis-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def local_apps() -> list[str]:
    return [app for app in settings.INSTALLED_APPS if (ROOT / app / "apps.py").is_file()]


def test_every_local_app_is_found():
    # the detection the next test relies on finds at least the apps of issue 18's image bug
    assert set(local_apps()) >= {"orchestrator", "flows", "templates", "executions", "kv",
                                 "triggers", "access", "namespaces"}  # fmt: skip


def test_the_wheel_carries_every_app_file_the_server_reads(wheel_names):
    needed = [
        name for name in source_files()
        if name.split("/")[0] in {*local_apps(), "plugins"}
        and (name.endswith(".py") or set(name.split("/")[1:-1]) & set(DATA_FOLDERS))
    ]  # fmt: skip

    missing = sorted(set(needed) - wheel_names)
    assert not missing, f"not in the wheel: {missing[:20]}"
    for folder in ("executions/static/", "executions/templates/", "flows/templates/",
                   "kv/migrations/", "access/migrations/", "namespaces/migrations/"):  # fmt: skip
        assert any(name.startswith(folder) for name in wheel_names), folder


def test_the_wheel_installs_the_trellis_command_and_no_tests(wheel_names):
    entry_points = next(n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
    assert entry_points
    assert not any(name.startswith(("tests/", "bench/", "docker/")) for name in wheel_names)
