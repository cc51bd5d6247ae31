"""Real Celery processes for integration tests: an executor worker, a task worker and beat,
started as subprocesses on the configured broker and the test database (see
``orchestrator.supervisor``). Nothing runs eagerly: tests wait for the database."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from orchestrator.supervisor import Fleet, database_url, purge_broker
from plugins.scripts.sandbox import WRITABLE_ENV

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["ROOT", "Processes", "database_url", "loopback_worker", "purge_broker"]


class Processes(Fleet):
    """A fleet with short leases and sweeps, so crash recovery shows within a test."""

    def __init__(self, logs: Path) -> None:
        super().__init__(
            logs,
            {
                "TRELLIS_SWEEP_SECONDS": "1",
                "TRELLIS_LEASE_SECONDS": os.environ.get("TRELLIS_LEASE_SECONDS", "6"),
                "TRELLIS_HEARTBEAT_SECONDS": "1",
                "TRELLIS_QUIET_SECONDS": "5",
                "TRELLIS_RESEND_SECONDS": "10",
                # Counters reach the database within a test; unloadable flows fail within one.
                "TRELLIS_METRICS_FLUSH_SECONDS": "0.5",
                "TRELLIS_LOAD_RETRY_SECONDS": "1",
                # A secret the workers know, for the masking tests (base64 of hunter2-secret).
                "SECRET_DB_PASSWORD": "aHVudGVyMi1zZWNyZXQ=",
            },
        )

    def share_with_scripts(self, folder: Path) -> Path:
        """Let this fleet's script tasks write ``folder`` (bound into their sandbox, issue 21):
        tests watch a script's side effects there. Call it before starting processes."""
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o1777)  # scripts of a root worker run as uid 65534
        self.env[WRITABLE_ENV] = str(folder)
        return folder


@contextlib.contextmanager
def loopback_worker(logs: Path, group: str, **env: str) -> Iterator[Processes]:
    """A task worker of its own serving worker group ``group`` whose HTTP guard lets it reach
    127.0.0.1 (``TRELLIS_HTTP_ALLOW``), plus ``env``: how a test reaches the servers it starts
    on loopback (S3, a webhook) while the session's shared fleet keeps the default policy,
    under which the same request is refused. Flows send their tasks there with
    ``workerGroup: {key: <group>}``."""
    fleet = Processes(logs)
    fleet.env.update({"TRELLIS_HTTP_ALLOW": "127.0.0.1", **env})
    fleet.start_worker(group, f"wg.{group}", concurrency=1)
    try:
        yield fleet
    finally:
        fleet.stop()
