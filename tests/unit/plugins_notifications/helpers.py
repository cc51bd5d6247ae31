"""Shared by the notifications tests: a run context that knows one execution, and a local
HTTP server that records what it is sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kernel.plugin import TaskFailed
from tests.unit.fake_context import FakeContext

#: A failed execution as the run context's ``execution_summary`` hands it over.
FAILED_EXECUTION: dict[str, Any] = {
    "id": "4Xx9failedexec",
    "namespace": "company.team",
    "flowId": "nightly",
    "flowRevision": 3,
    "state": {
        "current": "FAILED",
        "startDate": "2026-01-02T03:04:05.000Z",
        "endDate": "2026-01-02T03:06:10.500Z",
    },
    "labels": [],
    "taskRunList": [
        {
            "id": "r1",
            "taskId": "extract",
            "parentTaskRunId": None,
            "value": None,
            "state": {"current": "SUCCESS"},
        },
        {
            "id": "r2",
            "taskId": "load",
            "parentTaskRunId": None,
            "value": None,
            "state": {"current": "FAILED"},
        },
        {
            "id": "r3",
            "taskId": "alert",
            "parentTaskRunId": None,
            "value": None,
            "state": {"current": "RUNNING"},
        },
    ],  # fmt: skip
    "link": "https://trellis.example.com/admin/executions/execution/4Xx9failedexec/change/",
}


class SummaryContext(FakeContext):
    """A FakeContext whose ``execution_summary`` knows the executions it was given."""

    def __init__(self, root: Path, executions: Mapping[str, Mapping[str, Any]] | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(root, **kwargs)
        self.executions = dict(executions or {FAILED_EXECUTION["id"]: FAILED_EXECUTION})
        self.asked: list[str | None] = []

    def execution_summary(self, execution_id: str | None = None) -> dict[str, Any]:
        self.asked.append(execution_id)
        wanted = execution_id or next(iter(self.executions))
        if wanted not in self.executions:
            raise TaskFailed(f"execution {wanted!r} not found")
        return json.loads(json.dumps(self.executions[wanted]))


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Recorder:
    """The server's address and every request it received; ``answers`` maps a path to the
    (status, body) it replies with (200 ``ok`` otherwise)."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def last(self) -> Recorded:
        assert self.requests, "the server received nothing"
        return self.requests[-1]


@contextmanager
def recording_server() -> Iterator[Recorder]:
    recorder = Recorder(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            recorder.requests.append(
                Recorded(self.command, self.path, dict(self.headers.items()), body)
            )
            code, answer = recorder.answers.get(self.path, (200, b"ok"))
            self.send_response(code)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
