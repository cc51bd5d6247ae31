"""The installed ``trellis`` command is ``manage.py`` under the product's name (issue 8:
``trellis import-kestra PATH``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("trellis")


@pytest.mark.skipif(not SCRIPT.exists(), reason="the package is not installed in this Python")
def test_the_trellis_command_runs_management_commands_from_any_folder(tmp_path) -> None:
    env = {**os.environ, "TRELLIS_HOME": str(tmp_path / "home")}

    done = subprocess.run(
        [str(SCRIPT), "import-kestra", "--help"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "usage: trellis import-kestra" in done.stdout
    assert "--dry-run" in done.stdout
