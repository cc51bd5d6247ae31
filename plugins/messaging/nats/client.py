"""Connection, properties and message shape shared by the NATS tasks and triggers."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kernel.durations import parse_duration
from kernel.plugin import Prop, TaskFailed
from plugins.messaging._common import Budget, decode, gather, missing_library

EXTRA = "nats"


POLICIES = ("All", "Last", "New", "ByStartSequence", "ByStartTime", "LastPerSubject")


CONNECTION: tuple[Prop, ...] = (
    Prop("url", "string", required=True, description="nats://host:4222 (or nats://token@host)"),
    Prop("username", "string"),
    Prop("password", "string"),
    Prop("token", "string"),
    Prop("creds", "string", description="The content of a credentials file."),
)


CONSUMER: tuple[Prop, ...] = (
    Prop("subject", "string", required=True),
    Prop("durableId", "string", description="A durable consumer's name (resumes)."),
    Prop("deliverPolicy", "string", default="All", choices=POLICIES),
    Prop("since", "string", description="ByStartTime: an ISO date-time."),
    Prop("batchSize", "integer", default=10),
    Prop("pollDuration", "duration", default="PT2S"),
)


def aliases_of(name: str) -> tuple[str, ...]:
    return (f"io.kestra.plugin.nats.{name}", f"io.kestra.plugin.nats.core.{name}")


def validate_props(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    return missing_library("nats", EXTRA)


class Session:
    """One NATS connection and the event loop that drives it, step by step."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        # The loop runs in a thread of its own: the caller's thread may already run an event
        # loop (an async host, a test tool's), where run_until_complete would refuse to start.
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="nats")
        self._thread.start()
        self.props = props
        try:
            self.nc = self.run(self._connect())
        except Exception as exc:
            self._stop()
            # The host only: the url may carry a token or a password.
            host = urlsplit(str(props.get("url") or "")).hostname
            raise TaskFailed(f"cannot connect to NATS {host}: {type(exc).__name__}") from exc
        self.js = self.nc.jetstream()

    async def _connect(self) -> Any:
        import nats  # optional dependency (trellis[nats])

        async def quiet(exc: Exception) -> None:  # the failure is raised to the caller
            return None

        # max_reconnect_attempts: 0 means "for ever" to nats-py; one attempt, then fail.
        options: dict[str, Any] = {
            "servers": [str(self.props["url"])], "connect_timeout": 5, "error_cb": quiet,
            "allow_reconnect": False, "max_reconnect_attempts": 1,
        }  # fmt: skip
        if self.props.get("username"):
            options["user"] = str(self.props["username"])
            options["password"] = str(self.props.get("password") or "")
        if self.props.get("token"):
            options["token"] = str(self.props["token"])
        if self.props.get("creds"):
            folder = Path(tempfile.mkdtemp(prefix="trellis-nats-"))
            (folder / "user.creds").write_text(str(self.props["creds"]))
            options["user_credentials"] = str(folder / "user.creds")
        return await nats.connect(**options)

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def subscribe(self) -> Any:
        from nats.js.api import ConsumerConfig, DeliverPolicy  # optional dependency

        policy = str(self.props.get("deliverPolicy") or "All")
        names = {"All": "ALL", "Last": "LAST", "New": "NEW", "ByStartSequence":
                 "BY_START_SEQUENCE", "ByStartTime": "BY_START_TIME",
                 "LastPerSubject": "LAST_PER_SUBJECT"}  # fmt: skip
        config = ConsumerConfig(deliver_policy=getattr(DeliverPolicy, names[policy]))
        if policy == "ByStartTime":
            since = self.props.get("since")
            if not since:
                raise TaskFailed("`deliverPolicy: ByStartTime` needs `since`")
            config.opt_start_time = str(since)
        if policy == "ByStartSequence":
            config.opt_start_seq = 1
        durable = self.props.get("durableId") or None
        subject = str(self.props["subject"])
        return self.run(self.js.pull_subscribe(subject, durable=durable, config=config))

    def fetch(self, sub: Any, batch: int, timeout: float) -> list[Any]:
        import nats.errors  # optional dependency

        try:
            return self.run(sub.fetch(batch=max(1, batch), timeout=max(0.1, timeout)))
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    def ack(self, messages: list[Any]) -> None:
        async def ack_all() -> None:
            for message in messages:
                await message.ack()

        self.run(ack_all())

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.run(self.nc.drain())
        except Exception:  # closing after an error: the server forgets the connection anyway
            pass
        finally:
            self._stop()

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


def message_variables(message: Any, serde: str | None) -> dict[str, Any]:
    """One message as the flow sees it (Kestra's names, plus the stream and sequence)."""
    headers = {
        k: [v] if isinstance(v, str) else list(v) for k, v in (message.headers or {}).items()
    }
    variables: dict[str, Any] = {
        "subject": message.subject,
        "headers": headers,
        "data": decode(message.data, serde),
    }
    try:
        meta = message.metadata
    except Exception:  # a core NATS message (no JetStream metadata)
        return variables
    stamp = meta.timestamp
    variables["timestamp"] = (
        stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(stamp, datetime) else None
    )  # fmt: skip
    variables["stream"] = meta.stream
    variables["sequence"] = meta.sequence.stream
    return variables


def consume(session: Session, props: Mapping[str, Any], budget: Budget, stop: Any) -> list[Any]:
    """Fetch until the budget, ``stop()`` or a poll that found nothing; not acknowledged."""
    sub = session.subscribe()
    poll = parse_duration(props.get("pollDuration") or "PT2S").total_seconds()
    batch = int(props.get("batchSize") or 10)

    def receive(left: int | None) -> list[Any] | None:
        wait = poll if budget.max_seconds is None else min(poll, budget.wait(poll))
        return session.fetch(sub, min(batch, left) if left else batch, wait) or None

    return gather(budget, stop, receive)
