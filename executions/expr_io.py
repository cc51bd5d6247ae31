"""The I/O behind expression functions that need it (``read``, ``errorLogs``, ``fileURI``,
``secret``), for one execution. Handed to renders as the context's ``_trellis`` entry."""

from __future__ import annotations

from typing import Any

from executions.secrets import Masker, find_secret

#: read() refuses files bigger than this: expressions are not for bulk data.
MAX_READ_BYTES = 10 * 1024 * 1024


class ExecutionIO:
    def __init__(
        self, namespace: str, flow_id: str, execution_id: str, masker: Masker | None = None
    ) -> None:
        self.namespace, self.flow_id, self.execution_id = namespace, flow_id, execution_id
        self.masker = masker

    def read(self, path: str) -> str:
        """Text of a file of this execution (``kestra:///...``)."""
        from executions.storage import default_storage

        storage = default_storage()
        if not str(path).startswith("kestra://"):
            raise LookupError(f"read() takes a kestra:// URI of this execution, not {path!r}")
        if not storage.belongs_to(path, self.namespace, self.flow_id, self.execution_id):
            raise LookupError(f"{path} is not a file of this execution")
        if storage.size(path) > MAX_READ_BYTES:
            raise LookupError(f"{path} is larger than {MAX_READ_BYTES} bytes")
        with storage.open(path) as handle:
            return handle.read().decode("utf-8", errors="replace")

    def error_logs(self) -> list[dict[str, Any]]:
        from executions.models import LogEntry

        rows = LogEntry.objects.filter(execution_id=self.execution_id, level="ERROR")
        return [
            {"taskId": r.task_id, "taskRunId": r.task_run_id, "message": r.message,
             "level": r.level, "timestamp": r.timestamp.isoformat()}
            for r in rows.order_by("timestamp", "id")[:1000]
        ]  # fmt: skip

    def kv(self, key: str, namespace: str | None = None) -> object:
        """``kv(key)``: the value in the flow's namespace (or ``namespace``)."""
        from kv.services import kv_get

        return kv_get(namespace or self.namespace, key)

    def secret(self, key: str, namespace: str | None = None) -> str | None:
        value = find_secret(key)
        if value is not None and self.masker is not None:
            self.masker.add(value)
        return value
