"""Process logs (not execution logs, which are rows): JSON lines, and the run they are about.

The executor and the worker say which execution, task run and flow they are handling with
``log_context`` / ``bind`` (a ``contextvars`` variable, so threads and pool processes never
see another's); ``RunContextFilter`` copies it onto every record, and ``JsonFormatter`` writes
one JSON object per line. A dozen lines of the standard library do it: no dependency.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

#: Fields a log line may carry about the run it concerns.
RUN_FIELDS = ("execution_id", "task_run_id", "namespace", "flow_id")

_run: ContextVar[dict[str, str]] = ContextVar("trellis_log_run", default={})  # noqa: B039 - never mutated


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Lines logged inside carry ``fields`` (and those of an enclosing context)."""
    token = _run.set({**_run.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _run.reset(token)


def bind(**fields: str | None) -> None:
    """Add fields to the current context (the enclosing ``log_context`` drops them on exit)."""
    _run.set({**_run.get(), **{k: v for k, v in fields.items() if v is not None}})


def current() -> dict[str, str]:
    return dict(_run.get())


class RunContextFilter(logging.Filter):
    """Copy the current run's fields onto the record (fields given in ``extra=`` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _run.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message, the run's
    fields where known, and the traceback of an exception as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key in RUN_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)
