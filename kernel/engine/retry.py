"""Retry policies (``retry:`` on a task or the flow), as pure maths over attempt counts.

The engine asks one question: this runnable task run failed after ``attempts`` attempts, the
first of which started at ``first_start``; when, if ever, is the next attempt due?
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from kernel.durations import parse_duration


def _duration(policy: Mapping[str, Any], key: str) -> timedelta | None:
    value = policy.get(key)
    return parse_duration(value) if value not in (None, "") else None


def max_attempts(policy: Mapping[str, Any]) -> int | None:
    """Total attempts allowed (the first one included), or None when only time bounds it."""
    value = policy.get("maxAttempt", policy.get("maxAttempts"))
    return int(value) if value is not None else None


def delay_before(
    policy: Mapping[str, Any], attempt: int, rng: random.Random | None = None
) -> timedelta:
    """Wait before attempt number ``attempt + 1`` (``attempt`` attempts were made)."""
    kind = str(policy.get("type", "constant")).lower()
    if kind == "exponential":
        base = _duration(policy, "interval") or timedelta(seconds=1)
        factor = float(policy.get("delayFactor") or 2)
        delay = base * (factor ** max(attempt - 1, 0))
        cap = _duration(policy, "maxInterval")
        return min(delay, cap) if cap else delay
    if kind == "random":
        low = _duration(policy, "minInterval") or timedelta(0)
        high = _duration(policy, "maxInterval") or low
        span = max((high - low).total_seconds(), 0.0)
        return low + timedelta(seconds=(rng or random).uniform(0, span))
    return _duration(policy, "interval") or timedelta(0)


def next_attempt_at(
    policy: Mapping[str, Any] | None,
    attempts: int,
    first_start: datetime | None,
    now: datetime,
    rng: random.Random | None = None,
) -> datetime | None:
    """When the next attempt is due, or None when the policy allows no more attempts.

    With neither ``maxAttempt`` nor ``maxDuration`` a policy would retry forever; such a
    policy allows no retry at all (the spec warns about it at deploy).
    """
    if not policy:
        return None
    limit = max_attempts(policy)
    budget = _duration(policy, "maxDuration")
    if limit is None and budget is None:
        return None
    if limit is not None and attempts >= limit:
        return None
    due = now + delay_before(policy, attempts, rng)
    if budget is not None and first_start is not None and due - first_start > budget:
        return None
    return due
