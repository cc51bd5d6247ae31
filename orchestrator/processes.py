"""The Celery and web processes of each role, as command lines (one place for the flags)."""

from __future__ import annotations

import sys

from django.conf import settings


def celery(*args: str) -> list[str]:
    # LOG_FORMAT=json: no startup banner, so every line a Celery process prints is JSON.
    quiet = ["--quiet"] if settings.LOG_FORMAT == "json" else []
    return [sys.executable, "-m", "celery", "-A", "orchestrator", *quiet, *args]


def executor_cmd(concurrency: int = 2, name: str = "executor") -> list[str]:
    return celery("worker", "-Q", "executor", "-c", str(concurrency), "-n", f"{name}@%h",
                  "-l", "INFO")  # fmt: skip


def worker_cmd(queues: str = "default", concurrency: int = 2, name: str = "worker") -> list[str]:
    return celery("worker", "-Q", queues, "-c", str(concurrency), "-n", f"{name}@%h", "-l", "INFO")


def scheduler_cmd(local: bool = False) -> list[str]:
    if local:
        # One laptop, one beat: a schedule file under TRELLIS_HOME is enough.
        schedule = str(settings.TRELLIS_HOME / "beat-schedule")
        return celery("beat", "-S", settings.CELERY_BEAT_SCHEDULER, "-s", schedule, "-l", "INFO")
    return celery("beat", "-S", settings.CELERY_BEAT_SCHEDULER, "-l", "INFO")


def triggers_cmd() -> list[str]:
    """The realtime triggers role (``server triggers``): not Celery, a listener per trigger."""
    return [sys.executable, "-m", "orchestrator.cli", "server", "triggers"]
