"""The one clock every app and plugin reads: aware UTC datetimes.

One place to read (and, in tests, to patch) the time; the engine itself is handed ``now``
as an argument and never calls this.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current moment, timezone-aware, in UTC (as Django's ``timezone.now`` with USE_TZ)."""
    return datetime.now(UTC)
