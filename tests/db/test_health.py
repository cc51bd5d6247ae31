"""/health/live and /health/ready for the web role, `trellis health` for the others: ready
when every part works, 503 / exit 1 naming the part that does not (database, migrations,
broker, storage), and never behind a login."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE_BROKER = {"CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
                      "CELERY_BROKER_TRANSPORT_OPTIONS": {}}  # fmt: skip

pytestmark = pytest.mark.django_db


def test_live_answers_without_login_and_for_any_host(client):
    response = client.get("/health/live", HTTP_HOST="10.1.2.3:8000")  # a probe hits the pod IP

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_names_every_part_when_all_work(client):
    response = client.get("/health/ready/", HTTP_HOST="10.1.2.3")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok", "storage": "ok"},
    }


def test_ready_is_503_when_the_broker_is_unreachable(client):
    with override_settings(**UNREACHABLE_BROKER):
        response = client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "migrations": "ok", "broker": "failing",
                              "storage": "ok"}  # fmt: skip


def test_ready_is_503_when_storage_is_not_writable(client, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # a folder under a file cannot be made, even by root
    with override_settings(MEDIA_ROOT=str(blocker / "storage")):
        response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "failing"
    assert response.json()["checks"]["broker"] == "ok"


def test_the_failure_reason_is_not_published(client):
    """The endpoint needs no login: it says which part fails, never the broker's address."""
    with override_settings(**UNREACHABLE_BROKER):
        response = client.get("/health/ready")

    assert b"127.0.0.1" not in response.content
    assert b"Error" not in response.content


# --- Separate processes: a database the test process cannot lose, settings read at start ---


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(TRELLIS_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT), TRELLIS_ENV_FILE="")
    env.update(extra)
    return env


def trellis_health(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "health"], cwd=tmp_path,
        env=child_env(tmp_path, **extra), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


READY_IN_CHILD = (
    "import django, json; django.setup(); from django.test import Client; "
    "r = Client().get('/health/ready'); print(r.status_code, r.content.decode())"
)


def test_ready_is_503_when_the_database_is_unreachable(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", READY_IN_CHILD], cwd=tmp_path, capture_output=True, text=True,
        env=child_env(tmp_path, DATABASE_URL="postgres://trellis@127.0.0.1:1/nowhere",
                      DJANGO_SETTINGS_MODULE="orchestrator.settings"),
        timeout=120,
    )  # fmt: skip

    status, body = done.stdout.split(" ", 1)
    assert status == "503", done.stderr
    assert json.loads(body)["checks"]["database"] == "failing"
    assert json.loads(body)["checks"]["migrations"] == "failing"


def test_health_command_names_an_unreachable_database_and_broker(tmp_path):
    done = trellis_health(
        tmp_path, DATABASE_URL="postgres://trellis@127.0.0.1:1/nowhere",
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    )  # fmt: skip

    assert done.returncode == 1
    assert "not healthy: database, migrations, broker" in done.stderr
    assert "storage: ok" in done.stdout


def test_health_command_names_unapplied_migrations_then_passes_after_migrate(tmp_path):
    # A database of its own: embedded SQLite in a fresh home, nothing migrated yet.
    env = {"DATABASE_URL": "", "CELERY_BROKER_URL": ""}
    done = trellis_health(tmp_path, **env)

    assert done.returncode == 1
    assert "not healthy: migrations" in done.stderr
    assert "run `trellis migrate`" in done.stdout

    migrate = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "migrate", "-v0"], cwd=tmp_path,
        env=child_env(tmp_path, **env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    healthy = trellis_health(tmp_path, **env)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.split("\n")[:4] == [
        "database: ok", "migrations: ok", "broker: ok", "storage: ok"
    ]  # fmt: skip


def test_health_command_asks_a_web_role_by_url(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "health", "--url",
         "http://127.0.0.1:1/health/ready", "--timeout", "2"],
        cwd=tmp_path, env=child_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 1
    assert "unreachable" in done.stderr
