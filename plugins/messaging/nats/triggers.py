"""The NATS triggers: the batch Trigger (polled on a worker) and the RealtimeTrigger."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from kernel.plugin import (
    Output,
    PollContext,
    PollEvent,
    PollingTrigger,
    RealtimeContext,
    RealtimeTrigger,
)
from plugins.messaging._common import MESSAGES_OUTPUTS, Budget, checked
from plugins.messaging._triggers import (
    Received,
    batch_properties,
    realtime_properties,
    received,
    relay,
    session_batch,
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

    outputs: ClassVar = MESSAGES_OUTPUTS

    type = "trellis.nats.Trigger"
    aliases = aliases_of("Trigger")
    properties: ClassVar = batch_properties(*CONNECTION, *CONSUMER)
    validate = checked(validate_props, limits=True)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        session = Session(props)
        return session_batch(
            "nats", f"poll:{ctx.poll_id}", session,
            lambda: consume(session, props, Budget.of(props), lambda: False),
            lambda message: message_variables(message, None), session.ack,
        )  # fmt: skip


class NatsRealtimeTrigger(RealtimeTrigger):
    """One execution per message (``trigger.subject``, ``trigger.headers``, ``trigger.data``,
    ``trigger.timestamp``)."""

    outputs: ClassVar = (
        Output("subject", "The subject.", "any"),
        Output("headers", "The message headers.", "any"),
        Output("data", "The message data, decoded per serdeType.", "any"),
        Output("timestamp", "When the stream stored it.", "any"),
        Output("stream", "The JetStream stream.", "any"),
        Output("sequence", "The stream sequence number.", "any"),
    )

    type = "trellis.nats.RealtimeTrigger"
    aliases = aliases_of("RealtimeTrigger")
    properties: ClassVar = realtime_properties(*CONNECTION, *CONSUMER)
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

    validate = checked(validate_props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        session = Session(props)
        try:
            sub = session.subscribe()

            def receive() -> Any:
                found = session.fetch(sub, 1, 0.5)
                return found[0] if found else None

            def deliver(message: Any) -> Received:
                variables = message_variables(message, None)
                key = f"nats:{variables.get('stream')}:{variables.get('sequence')}"
                return key, variables, partial(session.ack, [message])

            relay(ctx, received(receive, deliver))
        finally:
            session.close()
