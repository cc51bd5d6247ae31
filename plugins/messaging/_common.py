"""What every messaging family shares: message (de)serialisation, the Ion files consumed
messages are written to, the ``from`` of producers, consumption limits and the check that a
family's client library is installed.

Consumed messages go to internal storage as Kestra writes them: one Ion text value per line,
no version marker, so a flow reading ``{{ outputs.consume.uri }}`` with Kestra's serde tasks
(or ``trellis.core.storage``) sees the same file in both products.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from kernel import ion
from kernel.durations import parse_duration
from kernel.plugin import Output, PollEvent, Prop, RunContext, TaskFailed

#: A family's own message object.
M = TypeVar("M")

SERDE_TYPES = ("STRING", "JSON", "BYTES")
#: How often a consumer waiting for messages checks its limits and ``should_stop`` (s).
WAIT_STEP_SECONDS = 0.5


def missing_library(module: str, extra: str) -> list[tuple[str, str]]:
    """A validation problem when ``module`` (the family's client library) is not installed,
    naming the extra that brings it."""
    if importlib.util.find_spec(module) is not None:
        return []
    return [("type", f"the `{module}` library is not installed: pip install 'trellis[{extra}]'")]


#: A producer's ``from`` (see :func:`source_values`).
FROM = Prop("from", "any", required=True, description="A message, a list, or an Ion URI.")


Problems = list[tuple[str, str]]


def checked(check: Callable[[Mapping[str, Any]], Problems], *, limits: bool = False) -> Any:
    """A type's ``validate``: the family's ``check`` (its library, its connection), and
    Kestra's consumer rule (:func:`limit_problems`) when ``limits``."""

    def validate(cls: type, props: Mapping[str, Any]) -> Problems:
        problems = check(props)
        return problems + limit_problems(props) if limits else problems

    return classmethod(validate)


def templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def limit_problems(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Kestra's rule for consumers: ``maxRecords`` or ``maxDuration`` (else they never end)."""
    if props.get("maxRecords") in (None, "") and props.get("maxDuration") in (None, ""):
        return [("maxRecords", "set `maxRecords` or `maxDuration`: a consumer must stop")]
    return []


def limit_props() -> tuple[Prop, ...]:
    return (
        Prop("maxRecords", "integer", description="Stop after this many messages."),
        Prop("maxDuration", "duration", description="Stop after this long."),
    )


def decode(body: bytes | str | None, serde: str | None, *, strict: bool = True) -> Any:
    """A message body as the flow sees it: text (STRING), parsed JSON, or base64 (BYTES).

    A body that is not JSON under ``JSON`` fails a task; a trigger passes ``strict=False``
    and gets the text instead: failing would leave the message with the broker, which would
    hand it back for ever (a poison message blocking the queue)."""
    kind = (serde or "STRING").upper()
    if body is None:
        return None
    if kind == "BYTES":
        raw = body.encode() if isinstance(body, str) else bytes(body)
        return base64.b64encode(raw).decode("ascii")
    text = body if isinstance(body, str) else bytes(body).decode("utf-8", errors="replace")
    if kind == "JSON":
        try:
            return json.loads(text)
        except ValueError as exc:
            if not strict:
                return text
            raise TaskFailed(f"a message is not JSON (serdeType: JSON): {exc}") from None
    return text


def encode(value: Any, serde: str | None) -> bytes:
    """A value to send: JSON text (JSON), the text as is (STRING, non-text values as JSON),
    or base64 decoded (BYTES)."""
    kind = (serde or "STRING").upper()
    if kind == "BYTES":
        if isinstance(value, bytes):
            return value
        return base64.b64decode(str(value))
    if kind == "JSON":
        return json.dumps(plain(value), default=str).encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(plain(value), default=str).encode()


def plain(value: Any) -> Any:
    """Ion's typed values (IonPyDict, IonPyInt...) as plain Python values."""
    from amazon.ion.simple_types import IonPyNull  # optional dependency (amazon-ion)

    if isinstance(value, IonPyNull):
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def ion_line(value: Any) -> str:
    return ion.dumps(_ionable(value))


def _ionable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _ionable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_ionable(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def read_ion(path: Path) -> Iterator[Any]:
    """The values of an Ion text file (one per line, or any Ion layout), as plain Python."""
    with path.open("rb") as stream:
        for value in ion.read_rows(stream, path.stat().st_size):
            yield plain(value)


class IonFile:
    """Consumed records, appended one Ion line each to a file of the task's working folder."""

    def __init__(self, folder: Path, name: str = "messages.ion") -> None:
        self.path = folder / name
        self._stream = self.path.open("w", encoding="utf-8")
        self.count = 0

    def write(self, record: Any) -> None:
        self._stream.write(ion_line(record) + "\n")
        self.count += 1

    def close(self) -> Path:
        self._stream.close()
        return self.path


def source_values(value: Any, ctx: RunContext) -> list[Any]:
    """A producer's ``from``: a ``kestra://`` URI of an Ion file (one message a value), a
    list of messages, or one message."""
    if isinstance(value, str) and value.startswith("kestra://"):
        return list(read_ion(ctx.open_uri(value)))
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        return parsed if isinstance(parsed, list) else [value]
    if isinstance(value, list | tuple):
        return list(value)
    if value is None:
        raise TaskFailed("`from` is empty: nothing to send")
    return [value]


@dataclass
class Budget:
    """``maxRecords`` / ``maxDuration`` of one consumption (soft limits, as Kestra's)."""

    max_records: int | None
    max_seconds: float | None
    started: float = 0.0

    @classmethod
    def of(cls, props: Mapping[str, Any], default_seconds: float | None = None) -> Budget:
        records = props.get("maxRecords")
        duration = props.get("maxDuration")
        seconds = parse_duration(duration).total_seconds() if duration else default_seconds
        return cls(int(records) if records not in (None, "") else None, seconds, time.monotonic())

    def full(self, count: int) -> bool:
        return self.max_records is not None and count >= self.max_records

    def expired(self) -> bool:
        return self.max_seconds is not None and time.monotonic() - self.started >= self.max_seconds

    def left(self, count: int) -> int | None:
        return None if self.max_records is None else max(0, self.max_records - count)

    def wait(self, cap: float = WAIT_STEP_SECONDS) -> float:
        """How long the next blocking receive may wait."""
        if self.max_seconds is None:
            return cap
        remaining = self.max_seconds - (time.monotonic() - self.started)
        return max(0.0, min(cap, remaining))


def gather(
    budget: Budget, stop: Callable[[], bool], receive: Callable[[int | None], list[M] | None]
) -> list[M]:
    """The consumers' loop: ``receive(left)`` until ``budget`` or ``stop()`` says enough.
    ``left`` is how many more ``maxRecords`` allows (``None``: no limit); ``receive`` returns
    what came (``[]``: nothing this time, ask again) or ``None`` when the source is done."""
    received: list[M] = []
    while not (budget.full(len(received)) or budget.expired() or stop()):
        found = receive(budget.left(len(received)))
        if found is None:
            break
        received.extend(found)
    return received


#: A producer's output.
MESSAGES_COUNT = Output("messagesCount", "How many messages (Kestra's name).", "integer")
#: The outputs of :func:`store_records` (AMQP and Redis consumers, and their batch triggers).
STORED_OUTPUTS = (
    Output("uri", "The Ion file of the messages, one a line.", "uri"),
    Output("count", "How many messages.", "integer"),
)
#: The outputs of :func:`as_messages` (MQTT and NATS consumers, and their batch triggers).
MESSAGES_OUTPUTS = (STORED_OUTPUTS[0], MESSAGES_COUNT, STORED_OUTPUTS[1])


def store_records(ctx: RunContext, records: Iterable[Any]) -> dict[str, Any]:
    """Write records as an Ion file to internal storage; Kestra's ``uri`` and ``count``."""
    ion = IonFile(ctx.working_dir)
    for record in records:
        ion.write(record)
    path = ion.close()
    return {"uri": ctx.put_file(path, path.name), "count": ion.count}


def as_messages(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`store_records`' outputs under Kestra's MQTT / NATS names (``messagesCount``),
    ``count`` kept."""
    return {"uri": outputs["uri"], "messagesCount": outputs["count"], "count": outputs["count"]}


def store_and_ack(
    ctx: RunContext,
    messages: list[M],
    record: Callable[[M], Any],
    ack: Callable[[list[M]], None],
) -> dict[str, Any]:
    """Consumed ``messages`` written to internal storage (each as ``record(message)``), then
    acknowledged: a failure before the file is stored leaves them with the broker. Kestra's
    MQTT / NATS outputs (:func:`as_messages`)."""
    outputs = store_records(ctx, [record(message) for message in messages])
    ack(messages)  # stored: safe to acknowledge
    return as_messages(outputs)


def password_masked(text: str, secret: str | None) -> str:
    return text.replace(secret, "******") if secret else text


def close_when_dropped(event: PollEvent, close: Callable[[], None]) -> PollEvent:
    """Run ``close`` once the poll drops ``event`` (after ``done``, or without it when the
    execution could not be committed): the broker then gets unacknowledged messages back at
    once instead of whenever the garbage collector gets to the connection. ``close`` must
    be safe to call twice."""
    weakref.finalize(event, _quietly, close)
    return event


def _quietly(close: Callable[[], None]) -> None:
    try:
        close()
    except Exception:  # closing a connection that is already gone
        return
