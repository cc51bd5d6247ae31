"""`server web` is gunicorn tuned from the environment; runserver only in local mode."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from orchestrator.management.commands.server import web_cmd


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_production_web_role_is_gunicorn_with_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    monkeypatch.setenv("TRELLIS_WEB_TIMEOUT", "120")
    monkeypatch.setenv("TRELLIS_WEB_THREADS", "3")

    argv = web_cmd("0.0.0.0", 8000)

    assert argv[1:4] == ["-m", "gunicorn", "orchestrator.wsgi:application"]
    assert flag(argv, "--bind") == "0.0.0.0:8000"
    assert (flag(argv, "--workers"), flag(argv, "--timeout"), flag(argv, "--threads")) == (
        "5", "120", "3"
    )  # fmt: skip
    assert "runserver" not in argv


def test_defaults_and_ipv6_bind(monkeypatch):
    for name in ("WEB_CONCURRENCY", "TRELLIS_WEB_TIMEOUT", "TRELLIS_WEB_THREADS"):
        monkeypatch.delenv(name, raising=False)

    argv = web_cmd("::", 8080)

    assert flag(argv, "--bind") == "[::]:8080"
    assert (flag(argv, "--workers"), flag(argv, "--timeout")) == ("2", "60")


@pytest.mark.parametrize("value", ["zero", "0", "-1", "2.5"])
def test_a_bad_worker_count_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("WEB_CONCURRENCY", value)

    with pytest.raises(CommandError, match="WEB_CONCURRENCY must be a positive whole number"):
        web_cmd("127.0.0.1", 8000)


def test_local_mode_keeps_the_development_server():
    argv = web_cmd("127.0.0.1", 8000, local=True)

    assert argv[1:4] == ["-m", "orchestrator.cli", "runserver"]
    assert "--insecure" in argv
