"""What a runnable task sees on a worker: its logger, working directory, files and renderer.

``AttemptLogger`` buffers lines and writes them in batches (the heartbeat flushes them), so
a chatty task costs one INSERT per batch, not per line; every line is masked first.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from executions import selectors
from executions.models import LogEntry
from executions.runtime import rows
from executions.runtime.expr_io import ExecutionIO
from executions.runtime.ports import use_cases
from flows.store import FlowSourceStore
from kernel.expressions.render import evaluate, render_value
from kernel.plugin import TaskFailed
from kernel.secrets import Masker
from kernel.taint import shown_form
from kv.store import KVStore
from namespaces.boundaries import Boundary
from namespaces.store import NamespaceFileStore
from orchestrator.storage import default_storage

if TYPE_CHECKING:
    from executions.worker.workdir import SharedFolder


def has_template(value: Any) -> bool:
    """True when a string anywhere in ``value`` holds ``{{`` or ``{%``."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(has_template(k) or has_template(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_template(v) for v in value)
    return False


LEVEL_ORDER = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4}


_LOG_COLUMNS = ("execution_id", "task_run_id", "task_id", "attempt", "timestamp", "level",
                "message")  # fmt: skip


class AttemptLogger:
    """Satisfies kernel.plugin.TaskLogger; thread-safe; flushed by the heartbeat and at the end."""

    def __init__(
        self,
        execution_id: str,
        task_run_id: str,
        task_id: str,
        attempt: int,
        masker: Masker,
        min_level: str = "TRACE",
    ) -> None:
        self._ids = (execution_id, task_run_id, task_id, attempt)
        self._masker = masker
        self._min = LEVEL_ORDER.get(min_level, 0)
        self._lines: list[tuple[datetime, str, str]] = []
        self._lock = threading.Lock()

    def _add(self, level: str, msg: str) -> None:
        if LEVEL_ORDER[level] < self._min:
            return
        with self._lock:
            self._lines.append((timezone.now(), level, self._masker.mask(shown_form(str(msg)))))

    def trace(self, msg: str) -> None:
        self._add("TRACE", msg)

    def debug(self, msg: str) -> None:
        self._add("DEBUG", msg)

    def info(self, msg: str) -> None:
        self._add("INFO", msg)

    def warning(self, msg: str) -> None:
        self._add("WARN", msg)

    def error(self, msg: str) -> None:
        self._add("ERROR", msg)

    def flush(self) -> int:
        return self.write(self.take())

    def take(self) -> list[tuple[datetime, str, str]]:
        """The lines buffered so far, removed from the buffer (``write`` them)."""
        with self._lock:
            lines, self._lines = self._lines, []
        return lines

    def write(self, lines: list[tuple[datetime, str, str]]) -> int:
        """Insert ``lines`` (from ``take``) in the caller's transaction: a caller whose
        transaction rolls back can write the same lines again."""
        if not lines:
            return 0
        execution_id, run_id, task_id, attempt = self._ids
        rows.insert(LogEntry, _LOG_COLUMNS, (
            (execution_id, run_id, task_id, attempt, ts, level, message)
            for ts, level, message in lines
        ))  # fmt: skip
        return len(lines)


def execution_link(execution_id: str) -> str | None:
    """The absolute address of an execution's page, or None when ``TRELLIS_URL`` (the
    address users reach Trellis at) is not set: a worker cannot guess it."""
    base = str(getattr(settings, "TRELLIS_URL", "") or "").rstrip("/")
    if not base:
        return None
    return base + reverse("admin:executions_execution_change", args=[execution_id])


class WorkerContext:
    """Satisfies kernel.plugin.RunContext for one attempt of one task run."""

    def __init__(
        self,
        *,
        execution_id: str,
        task_run_id: str,
        task_id: str,
        attempt: int,
        namespace: str,
        flow_id: str,
        variables: Callable[[], Mapping[str, Any]],
        logger: AttemptLogger,
        masker: Masker,
        stop: threading.Event,
        shared: SharedFolder | None = None,
    ) -> None:
        self.execution_id, self.task_run_id, self.attempt = execution_id, task_run_id, attempt
        #: Set when the task sits in a WorkingDirectory: the folder it shares with its siblings.
        self.shared = shared
        self.task_id, self.namespace, self.flow_id = task_id, namespace, flow_id
        self._variables_factory = variables
        self._variables: Mapping[str, Any] | None = None
        self.logger = logger
        self._masker = masker
        self._stop = stop
        self._working_dir: Path | None = None

        #: What this flow may reach beyond its namespace tree (issue 21): the stores below
        #: are bound to it, so a plugin's ``namespace:`` property cannot cross it.
        self.boundary = Boundary(namespace)
        self.kv = KVStore(self.boundary)
        self.namespace_files = NamespaceFileStore(self.boundary)
        self.records = use_cases().records(namespace, execution_id)
        #: Flows of the namespace tree, read and deployed within the boundary (issue 17).
        self.flows = FlowSourceStore(self.boundary)

    @property
    def working_dir(self) -> Path:
        """A fresh directory owned by this attempt, made on first use: most tasks never
        touch one, and making and removing it costs more than a whole Log task."""
        if self._working_dir is None:
            prefix = f"trellis-{self.task_run_id[:8]}-"
            self._working_dir = Path(tempfile.mkdtemp(prefix=prefix))
            if self.shared is not None:
                self.shared.restore(self, self._working_dir)
        return self._working_dir

    def save_shared(self) -> dict[str, Any]:
        """Outputs to add once the task ended well: the shared folder saved for the next
        task of its WorkingDirectory (nothing when the task never used its folder)."""
        if self.shared is None or self._working_dir is None:
            return {}
        return self.shared.save(self, self._working_dir)

    @property
    def variables(self) -> Mapping[str, Any]:
        """The expression context, built on first use: most properties hold no template, and
        building it reads every task run of the execution."""
        if self._variables is None:
            self._variables = self._variables_factory()
        return self._variables

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        """Render ``value``; a lone ``{{ expr }}`` keeps its native type."""
        if not has_template(value):
            return value
        variables = {**self.variables, **(extra or {})}
        if isinstance(value, str):
            return evaluate(value, variables)
        return render_value(value, variables)

    def render_text(self, value: Any) -> Any:
        """Render every string in ``value`` to text."""
        return render_value(value, self.variables) if has_template(value) else value

    def put_file(self, local_path: Path, name: str | None = None) -> str:
        return default_storage().put_task_file(
            self.namespace, self.flow_id, self.execution_id, self.task_id, self.task_run_id,
            Path(local_path), name,
        )  # fmt: skip

    def delete_uri(self, uri: str) -> bool:
        """Delete a file of this execution (not a parent's, not a namespace file); False
        when there was none."""

        storage = default_storage()
        if not storage.belongs_to(str(uri), self.namespace, self.flow_id, self.execution_id):
            raise TaskFailed(f"{uri} is not a file of this execution")
        return storage.delete(str(uri))

    def open_uri(self, uri: str) -> Path:
        """A local copy of ``uri``, which must be a file of this execution, of an execution
        above it (a subflow reads its parent's) or of its namespace: a task never opens
        another execution's inputs or outputs by naming their URI (issue 9)."""

        if not ExecutionIO(self.namespace, self.flow_id, self.execution_id).may_open(str(uri)):
            raise TaskFailed(f"{uri} is not a file of this execution or of its parents")
        return default_storage().path_of(uri)

    def execution_summary(self, execution_id: str | None = None) -> dict[str, Any]:
        """What a notification reports about an execution (this one by default): plain data
        from :func:`executions.selectors.execution_summary` plus ``link``, the execution's
        page when ``TRELLIS_URL`` is set (else None). Another namespace's execution is read
        only where the boundary lets this flow reach that namespace (issue 21)."""
        wanted = str(execution_id or self.execution_id)
        summary = selectors.execution_summary(wanted)
        if summary is None:
            raise TaskFailed(f"execution {wanted!r} not found")
        if summary["namespace"] != self.namespace:
            self.boundary.check(summary["namespace"], "read its executions")
        summary["link"] = execution_link(wanted)
        return summary

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def secret_values(self) -> Sequence[str]:
        return list(getattr(self._masker, "_forms", ()))

    def cleanup(self) -> None:
        if self._working_dir is not None:
            shutil.rmtree(self._working_dir, ignore_errors=True)
