"""Helpers the execution commands share: argument parsing, lookups, live progress."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand

from executions.models import Execution, LogEntry, TaskRun
from executions.states import TERMINAL
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


def print_json(command: BaseCommand, doc: Any) -> None:
    command.stdout.write(json.dumps(doc, indent=2, default=str))


def follow(
    command: BaseCommand, execution_id: str, timeout: float, quiet: bool = False
) -> Execution:
    """Print task-run state changes and new log lines until the execution ends."""
    seen: dict[str, str] = {}
    last_log = 0
    deadline = time.monotonic() + timeout
    while True:
        execution = Execution.objects.get(pk=execution_id)
        if not quiet:
            for run in TaskRun.objects.filter(execution_id=execution_id).order_by("seq"):
                if seen.get(run.id) != run.state:
                    seen[run.id] = run.state
                    label = f"{run.task_id}[{run.value}]" if run.value else run.task_id
                    command.stdout.write(f"  {run.state:<9} {label}")
            for line in LogEntry.objects.filter(
                execution_id=execution_id, id__gt=last_log
            ).order_by("id"):
                last_log = line.id
                command.stdout.write(f"    {line.level:<5} {line.task_id}: {line.message}")
            sys.stdout.flush()
        if execution.state in TERMINAL or time.monotonic() >= deadline:
            return execution
        time.sleep(0.2)
