"""Real Celery processes for integration tests: an executor worker, a task worker and beat,
started as subprocesses on the configured broker and the test database (see
``orchestrator.supervisor``). Nothing runs eagerly: tests wait for the database."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.supervisor import Fleet, database_url, purge_broker

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["ROOT", "Processes", "database_url", "purge_broker"]


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
