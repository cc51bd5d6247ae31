"""`manage.py check --deploy` passes with the production settings (TRELLIS_PRODUCTION=1),
and production refuses to start without a real SECRET_KEY."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # DJANGO_ALLOW_ASYNC_UNSAFE: set by the browser tests' Playwright fixtures in this process
    ignored = ("SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in ignored}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "TRELLIS_HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_in_production(tmp_path):
    done = manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING",
        TRELLIS_PRODUCTION="1", SECRET_KEY=secrets.token_urlsafe(50),
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_the_development_defaults_fail_the_deploy_check(tmp_path):
    done = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")

    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016",
                    "security.W018"):  # fmt: skip
        assert warning in done.stderr


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    done = manage(tmp_path, "check", TRELLIS_PRODUCTION="1")

    assert done.returncode != 0
    assert "TRELLIS_PRODUCTION needs SECRET_KEY from the environment" in done.stderr
