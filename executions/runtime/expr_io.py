"""The I/O behind expression functions that need it (``read``, ``errorLogs``, ``fileURI``,
``secret``, ``kv``), for one execution. Handed to renders as the context's ``_trellis``
entry; ``read`` also reaches the namespace's files (namespaces app)."""

from __future__ import annotations

from typing import Any

from executions.models import Execution, LogEntry
from kernel.secrets import Masker, find_secret
from kv.services import kv_get
from namespaces.boundaries import Boundary
from namespaces.paths import PathRefused, parse_nsfile_uri
from namespaces.services import NamespaceFileError, NamespaceFileNotFound, nsfile_read
from orchestrator.storage import default_storage

#: read() refuses files bigger than this: expressions are not for bulk data.
MAX_READ_BYTES = 10 * 1024 * 1024
#: How far up a chain of subflows ``read()`` looks for the execution owning a file.
MAX_PARENTS = 10


class ExecutionIO:
    def __init__(
        self, namespace: str, flow_id: str, execution_id: str, masker: Masker | None = None
    ) -> None:
        self.namespace, self.flow_id, self.execution_id = namespace, flow_id, execution_id
        self.masker = masker
        self._boundary: Any = None

    @property
    def boundary(self) -> Any:
        """Where ``kv('k', 'other.ns')`` and ``read('f', 'other.ns')`` stop (issue 21): a
        :class:`namespaces.boundaries.Boundary`, made on first use (this module is imported
        without Django, like the rest of its I/O)."""
        if self._boundary is None:
            self._boundary = Boundary(self.namespace)
        return self._boundary

    def may_open(self, uri: str) -> bool:
        """Whether a task of this execution may open the internal storage file ``uri``: a
        file of this execution or of the executions above it, or a file of its namespace."""

        storage = default_storage()
        if uri.startswith(storage.namespace_files_prefix(self.namespace)):
            return True
        return any(storage.belongs_to(uri, *owner) for owner in self.lineage())

    def read(self, path: str, namespace: str | None = None) -> str:
        """Kestra's ``read()``: a namespace file by path (``scripts/q.sql``, in the flow's
        namespace or ``namespace``), an ``nsfile://`` URI, or a ``kestra:///`` URI of this
        execution's files or of the flow namespace's files."""

        text = str(path)
        if text.startswith("nsfile://"):
            try:
                ns, file_path = parse_nsfile_uri(text, namespace or self.namespace)
            except PathRefused as exc:
                raise LookupError(str(exc)) from None
            return self._namespace_file(ns, file_path)
        if not text.startswith("kestra://"):
            return self._namespace_file(namespace or self.namespace, text)
        storage = default_storage()
        files_prefix = storage.namespace_files_prefix(self.namespace)
        if text.startswith(files_prefix):
            from urllib.parse import unquote

            return self._namespace_file(self.namespace, unquote(text[len(files_prefix) :]))
        if not any(storage.belongs_to(text, *owner) for owner in self.lineage()):
            raise LookupError(f"{text} is not a file of this execution or of its parents")
        if storage.size(text) > MAX_READ_BYTES:
            raise LookupError(f"{text} is larger than {MAX_READ_BYTES} bytes")
        with storage.open(text) as handle:
            return handle.read().decode("utf-8", errors="replace")

    def lineage(self) -> list[tuple[str, str, str]]:
        """This execution and the executions that started it as a subflow (a child may read
        its parent's files, as in Kestra: ForEachItem hands each child a batch file)."""

        owners = [(self.namespace, self.flow_id, self.execution_id)]
        parent_id = (
            Execution.objects.filter(pk=self.execution_id)
            .values_list("parent_execution_id", flat=True)
            .first()
        )
        while parent_id and len(owners) < MAX_PARENTS:
            row = (
                Execution.objects.filter(pk=parent_id)
                .values_list("namespace", "flow_id", "parent_execution_id")
                .first()
            )
            if row is None:
                break
            owners.append((row[0], row[1], parent_id))
            parent_id = row[2]
        return owners

    def _namespace_file(self, namespace: str, path: str) -> str:
        self.boundary.check(namespace, "read its files")
        try:
            content = nsfile_read(namespace, path, max_bytes=MAX_READ_BYTES)
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise LookupError(str(exc)) from None
        return content.decode("utf-8", errors="replace")

    def on_secret(self, value: str) -> None:
        """A secret value seen while rendering (a SECRET input): hide it from the logs."""
        if self.masker is not None:
            self.masker.add(value)

    def error_logs(self) -> list[dict[str, Any]]:
        rows = LogEntry.objects.filter(execution_id=self.execution_id, level="ERROR")
        return [
            {"taskId": r.task_id, "taskRunId": r.task_run_id, "message": r.message,
             "level": r.level, "timestamp": r.timestamp.isoformat()}
            for r in rows.order_by("timestamp", "id")[:1000]
        ]  # fmt: skip

    def kv(self, key: str, namespace: str | None = None) -> object:
        """``kv(key)``: the value in the flow's namespace (or ``namespace``)."""

        target = namespace or self.namespace
        self.boundary.check(target, "read its KV store")
        return kv_get(target, key)

    def secret(self, key: str, namespace: str | None = None) -> str | None:
        value = find_secret(key)
        if value is not None and self.masker is not None:
            self.masker.add(value)
        return value
