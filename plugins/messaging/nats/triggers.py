"""The NATS triggers: the batch Trigger (polled on a worker) and the RealtimeTrigger."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import (
    Delivery,
    PollContext,
    PollEvent,
    PollingTrigger,
    Prop,
    RealtimeContext,
    RealtimeTrigger,
    StoreFile,
)
from plugins.messaging._common import (
    Budget,
    IonFile,
    close_when_dropped,
    limit_problems,
    limit_props,
)
from plugins.messaging.nats.client import (
    CONNECTION,
    CONSUMER,
    Session,
    aliases_of,
    consume,
    message_variables,
    validate_props,
)


class Trigger(PollingTrigger):
    """Every ``interval``, consume a batch and start one execution with ``trigger.uri`` and
    ``trigger.messagesCount``; acknowledged once the execution is committed."""

    type = "trellis.nats.Trigger"
    aliases = aliases_of("Trigger")
    default_interval = "PT60S"
    properties: ClassVar = (
        *CONNECTION,
        *CONSUMER,
        *limit_props(),
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return validate_props(props) + limit_problems(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        session = Session(props)
        try:
            messages = consume(session, props, Budget.of(props), lambda: False)
        except BaseException:
            session.close()
            raise
        if not messages:
            session.close()
            return []
        folder = Path(tempfile.mkdtemp(prefix="trellis-nats-"))
        ion = IonFile(folder)
        for message in messages:
            ion.write(message_variables(message, None))
        path = ion.close()

        def attach(store: StoreFile) -> Mapping[str, Any]:
            return {"uri": store(path, path.name), "messagesCount": ion.count, "count": ion.count}

        def done() -> None:
            try:
                session.ack(messages)
            finally:
                session.close()
                path.unlink(missing_ok=True)

        event = PollEvent(
            key=f"poll:{ctx.poll_id}", variables={"messagesCount": ion.count},
            attach=attach, done=done, decline=done,
        )  # fmt: skip
        return [close_when_dropped(event, session.close)]


class NatsRealtimeTrigger(RealtimeTrigger):
    """One execution per message (``trigger.subject``, ``trigger.headers``, ``trigger.data``,
    ``trigger.timestamp``)."""

    type = "trellis.nats.RealtimeTrigger"
    aliases = aliases_of("RealtimeTrigger")
    properties: ClassVar = (*CONNECTION, *CONSUMER, *RealtimeTrigger.shared_properties)
    examples = (
        """id: nats_realtime
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.data }}"
triggers:
  - id: watch
    type: io.kestra.plugin.nats.RealtimeTrigger
    url: nats://localhost:4222
    subject: kestra.trigger
    durableId: natsTrigger
    deliverPolicy: All
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return validate_props(props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        session = Session(props)
        try:
            sub = session.subscribe()
            while not ctx.should_stop():
                for message in session.fetch(sub, 1, 0.5):
                    variables = message_variables(message, None)
                    key = f"nats:{variables.get('stream')}:{variables.get('sequence')}"
                    ctx.fire(Delivery(key=key, variables=variables))
                    session.ack([message])  # after the commit
        finally:
            session.close()
