"""The ``triggers`` role is a server role of its own, and local mode starts it."""

from __future__ import annotations

import sys

from orchestrator import processes
from orchestrator.management.commands import server


def test_the_triggers_role_runs_through_the_trellis_command() -> None:
    assert "triggers" in server.ROLES
    assert processes.triggers_cmd() == [
        sys.executable, "-m", "orchestrator.cli", "server", "triggers",
    ]  # fmt: skip


def test_local_mode_starts_the_triggers_role(monkeypatch, tmp_path, settings) -> None:
    started: dict[str, list[str]] = {}

    class FakePopen:
        def __init__(self, argv, **kwargs) -> None:  # noqa: ANN001, ANN003
            started[argv[-1] if argv[-2:-1] == ["server"] else str(len(started))] = argv

    monkeypatch.setattr(server.subprocess, "Popen", FakePopen)
    settings.TRELLIS_HOME = tmp_path
    mode = server.LocalMode(
        command=server.Command(), host="127.0.0.1", port=8000,
        options={"queues": "default", "concurrency": None},
    )  # fmt: skip
    mode.say = lambda text: None
    mode.start_children()
    assert set(mode.children) == {"executor", "worker", "scheduler", "triggers", "web"}
    assert started["triggers"] == processes.triggers_cmd()
