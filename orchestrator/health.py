"""Is this process able to do its work? The checks behind ``/health/ready`` and ``trellis health``.

Every role needs the same four things, so one list serves the web role's readiness endpoint
and the command the worker, executor and beat containers run as their health check:
the database answers, every migration is applied, the broker accepts a connection, and the
internal storage takes a write. Each check is short-timed and reports a plain reason; the
HTTP endpoint shows only the part's name and status (it needs no login), the command prints
the reason too (it runs inside the container).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: Seconds a broker connection may take before the broker counts as unreachable.
BROKER_TIMEOUT = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str = ""
    seconds: float = 0.0


def check_database() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return ""


def check_migrations() -> str:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        first = plan[0][0]
        raise RuntimeError(
            f"{len(plan)} migrations not applied (first {first.app_label}.{first.name}): "
            "run `trellis migrate`"
        )
    return ""


def check_broker() -> str:
    from django.conf import settings
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {})
    with Connection(url, connect_timeout=BROKER_TIMEOUT, transport_options=options) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT
        )
    return ""


def check_storage() -> str:
    """Write and delete a small file through the configured storage backend (a folder, S3...)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    backend = storages["default"]
    name = backend.save(f".health/{uuid.uuid4().hex}", ContentFile(b"ok"))
    backend.delete(name)
    return ""


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "storage": check_storage,
}


def run_checks() -> list[Check]:
    """Run every check; a failure of one does not skip the others (all are reported).

    The migrations check needs the database: when that is down it is reported as failing
    without waiting on a second connection attempt.
    """
    results: list[Check] = []
    for name, check in CHECKS.items():
        if name == "migrations" and results and not results[0].ok:
            results.append(Check(name, False, "database unreachable"))
            continue
        started = time.monotonic()
        try:
            check()
        except Exception as exc:  # any failure of a part is that part's status, not a crash
            reason = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
            logger.warning("health check %s failed: %s", name, reason)
            results.append(Check(name, False, reason, time.monotonic() - started))
        else:
            results.append(Check(name, True, "", time.monotonic() - started))
    if results[0].ok is False:
        _forget_broken_connection()
    return results


def _forget_broken_connection() -> None:
    """A failed connection must not linger into the next probe (it retries from scratch)."""
    from django.db import connection

    try:
        connection.close()
    except Exception:  # closing a connection that never opened may itself fail
        logger.debug("closing the failed database connection failed", exc_info=True)
