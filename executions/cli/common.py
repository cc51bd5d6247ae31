"""Helpers the execution commands share: argument parsing and lookups."""

from __future__ import annotations

from executions.models import Execution
from flows.cli.base import fail


def pairs(values: list[str] | None, sep: str, what: str) -> dict[str, str]:
    """``["k=v", ...]`` -> dict, with a clear error for a malformed item."""
    out: dict[str, str] = {}
    for item in values or []:
        key, found, value = item.partition(sep)
        if not found or not key:
            raise fail(f"{what} must look like KEY{sep}VALUE, not {item!r}")
        out[key] = value
    return out


def get_execution(execution_id: str) -> Execution:
    execution = Execution.objects.filter(pk=execution_id).first()
    if execution is None:
        raise fail(f"no execution {execution_id!r}")
    return execution
