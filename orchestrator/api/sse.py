"""Server-sent events by polling the database: the ``follow`` endpoints.

The database is the source of truth (no pub/sub to miss): a follower asks ``poll(cursor)``
every ``interval`` seconds for what is new since its cursor, sends it, and stops when
``poll`` says the subject is finished or after ``max_seconds``. A comment line keeps proxies
from closing an idle stream. Each follower holds one database connection while it streams.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

HEARTBEAT_SECONDS = 15.0


@dataclass
class Batch:
    #: (event name, JSON-able data) pairs to send, in order.
    events: list[tuple[str, Any]] = field(default_factory=list)
    #: The cursor to pass to the next poll.
    cursor: Any = None
    #: True once nothing more will ever come (the execution ended).
    done: bool = False


def format_event(event: str, data: Any, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    payload = json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))
    lines.extend(f"data: {line}" for line in payload.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


def follow(
    poll: Callable[[Any], Batch],
    *,
    cursor: Any = None,
    interval: float = 0.5,
    max_seconds: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """Yield SSE frames from ``poll`` until it is done or ``max_seconds`` passed.

    Ends with an ``end`` event (``{"reason": "done"|"timeout"}``) so a client knows the
    stream closed on purpose. ``sleep``/``clock`` are injectable for tests.
    """
    started = last_sent = clock()
    while True:
        batch = poll(cursor)
        cursor = batch.cursor
        for name, data in batch.events:
            yield format_event(name, data)
            last_sent = clock()
        if batch.done:
            yield format_event("end", {"reason": "done"})
            return
        if clock() - started >= max_seconds:
            yield format_event("end", {"reason": "timeout"})
            return
        if clock() - last_sent >= HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = clock()
        sleep(interval)


def sse_response(frames: Iterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(frames, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


class EventStreamRenderer(BaseRenderer):
    """Lets DRF accept ``Accept: text/event-stream``; errors are sent as one ``error`` event."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return format_event("error", data).encode("utf-8")
