"""With DEBUG off, Trellis refuses to start on settings that only look like they work, names
the setting to fix, and reads `.env` (the environment winning). Each case is a fresh process:
settings are read once at start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What README "Deploying" documents for production (no HTTPS redirect override: defaults).
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "trellis.example.com",
    "TRELLIS_ENCRYPTION_KEY": secrets.token_hex(16),
}
#: Variables of this test process that must not leak into the child's settings.
CLEARED = ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "TRELLIS_ENCRYPTION_KEY",
           "TRELLIS_PRODUCTION", "TRELLIS_ENV_FILE", "DJANGO_ALLOW_ASYNC_UNSAFE")  # fmt: skip


def trellis(tmp_path: Path, *args: str, cwd: Path | None = None, **env: str):
    clean = {k: v for k, v in os.environ.items() if k not in CLEARED}
    clean.update(TRELLIS_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=cwd or tmp_path,  # outside the checkout: its own .env, if any, is not read
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_start(tmp_path):
    done = trellis(tmp_path, "check", **PRODUCTION)

    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),  # the development default
        ({"SECRET_KEY": "change-me"}, "SECRET_KEY"),
        ({"SECRET_KEY": "change-me-in-production-" + "x" * 40}, "SECRET_KEY"),
        ({"SECRET_KEY": "short-but-random-3f9a"}, "SECRET_KEY"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS"),
        ({"TRELLIS_ENCRYPTION_KEY": None}, "TRELLIS_ENCRYPTION_KEY"),
        ({"TRELLIS_ENCRYPTION_KEY": "CHANGE-ME"}, "TRELLIS_ENCRYPTION_KEY"),
    ],
)
def test_debug_off_refuses_to_start(tmp_path, change, named):
    env = {k: v for k, v in {**PRODUCTION, **change}.items() if v is not None}

    done = trellis(tmp_path, "check", **env)

    assert done.returncode != 0
    assert "will not start with DEBUG off" in done.stderr
    refused = [line for line in done.stderr.splitlines() if line.strip().startswith("- ")]
    assert len(refused) == 1, done.stderr  # only the wrong setting is blamed
    assert named in refused[0]


def test_every_wrong_setting_is_named_at_once(tmp_path):
    done = trellis(tmp_path, "check", DEBUG="false")

    assert done.returncode != 0
    for named in ("SECRET_KEY", "ALLOWED_HOSTS", "TRELLIS_ENCRYPTION_KEY"):
        assert named in done.stderr


def test_trellis_production_is_debug_off(tmp_path):
    done = trellis(tmp_path, "check", TRELLIS_PRODUCTION="1")

    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr


def test_the_development_default_still_starts(tmp_path):
    assert trellis(tmp_path, "check").returncode == 0


def test_check_deploy_passes_with_the_documented_production_settings(tmp_path):
    done = trellis(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_the_development_defaults_fail_the_deploy_check(tmp_path):
    done = trellis(tmp_path, "check", "--deploy", "--fail-level", "WARNING")

    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016",
                    "security.W018"):  # fmt: skip
        assert warning in done.stderr


SHOW = "from django.conf import settings; print(settings.TIME_ZONE, settings.ALLOWED_HOSTS)"


def test_dotenv_in_the_working_directory_is_read(tmp_path):
    (tmp_path / ".env").write_text("TIME_ZONE=Europe/Paris\nALLOWED_HOSTS=a.example,b.example\n")

    done = trellis(tmp_path, "shell", "--no-imports", "-c", SHOW)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Europe/Paris", "['a.example',", "'b.example']"]


def test_the_environment_wins_over_dotenv(tmp_path):
    (tmp_path / ".env").write_text("TIME_ZONE=Europe/Paris\n")

    done = trellis(tmp_path, "shell", "--no-imports", "-c", SHOW, TIME_ZONE="Asia/Tokyo")

    assert done.stdout.split()[0] == "Asia/Tokyo"


def test_dotenv_can_make_a_production_server(tmp_path):
    """The secrets of a production server may live in .env alone."""
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in PRODUCTION.items()))

    assert trellis(tmp_path, "check").returncode == 0
    (tmp_path / ".env").write_text("DEBUG=false\n")
    assert "SECRET_KEY" in trellis(tmp_path, "check").stderr


def test_trellis_env_file_names_another_file_and_a_missing_one_is_an_error(tmp_path):
    other = tmp_path / "prod.env"
    other.write_text("TIME_ZONE=America/Lima\n")

    assert trellis(
        tmp_path, "shell", "--no-imports", "-c", SHOW, TRELLIS_ENV_FILE=str(other)
    ).stdout.startswith("America/Lima")
    missing = trellis(tmp_path, "check", TRELLIS_ENV_FILE=str(tmp_path / "nope.env"))
    assert missing.returncode != 0
    assert "nope.env" in missing.stderr
