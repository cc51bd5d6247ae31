"""The NATS tasks."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask
from plugins.messaging._common import (
    MESSAGES_COUNT,
    MESSAGES_OUTPUTS,
    Budget,
    checked,
    decode,
    encode,
    limit_props,
    source_values,
    store_and_ack,
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


class Produce(RunnableTask):
    """Publish messages on a subject (through JetStream when a stream holds the subject, so
    the call returns once the stream has them); ``messagesCount``."""

    outputs: ClassVar = (MESSAGES_COUNT,)

    type = "trellis.nats.Produce"
    aliases = aliases_of("Produce")
    properties: ClassVar = (
        *CONNECTION,
        Prop("subject", "string", required=True),
        Prop("from", "any", required=True,
             description="A message ({headers, data}), a list of them, or an Ion URI."),
    )  # fmt: skip
    examples = (
        """id: nats_produce
namespace: company.team
tasks:
  - id: produce
    type: io.kestra.plugin.nats.Produce
    url: nats://localhost:4222
    subject: kestra.publish
    from:
      headers:
        someHeaderKey: someHeaderValue
      data: Some message
""",
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        import nats.errors  # optional dependency (trellis[nats])
        import nats.js.errors

        values = source_values(props.get("from"), ctx)
        subject = str(props["subject"])
        with closing(Session(props)) as session:
            for value in values:
                message = (
                    value if isinstance(value, Mapping) and "data" in value else {"data": value}
                )
                headers = {str(k): _header(v) for k, v in (message.get("headers") or {}).items()}
                payload = encode(message.get("data"), "STRING")
                try:
                    session.run(session.js.publish(subject, payload, headers=headers or None))
                except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
                    session.run(session.nc.publish(subject, payload, headers=headers or None))
            session.run(session.nc.flush())
        return {"messagesCount": len(values)}


def _header(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


class Consume(RunnableTask):
    """Consume messages from a JetStream subject into an Ion file (``uri``,
    ``messagesCount``)."""

    outputs: ClassVar = MESSAGES_OUTPUTS

    type = "trellis.nats.Consume"
    aliases = aliases_of("Consume")
    properties: ClassVar = (*CONNECTION, *CONSUMER, *limit_props())
    examples = (
        """id: nats_consume
namespace: company.team
tasks:
  - id: consume
    type: io.kestra.plugin.nats.Consume
    url: nats://localhost:4222
    subject: kestra.>
    durableId: someDurableId
    pollDuration: PT5S
    maxRecords: 100
""",
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        with closing(Session(props)) as session:
            messages = consume(session, props, Budget.of(props), ctx.should_stop)
            return store_and_ack(ctx, messages, lambda m: message_variables(m, None), session.ack)


BUCKET = Prop("bucketName", "string", required=True)
#: The KV tasks that name keys of a bucket.
BUCKET_KEYS = (*CONNECTION, BUCKET, Prop("keys", "list", required=True, items="string"))


def _bucket(session: Session, props: Mapping[str, Any]) -> Any:
    return session.run(session.js.key_value(str(props["bucketName"])))


class KvPut(RunnableTask):
    """Put values in a JetStream key-value bucket (``values``: key -> value); ``revisions``."""

    outputs: ClassVar = (Output("revisions", "The revision of each key written.", "map"),)

    type = "trellis.nats.kv.Put"
    aliases = aliases_of("kv.Put")
    properties: ClassVar = (*CONNECTION, BUCKET, Prop("values", "map", required=True))

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        with closing(Session(props)) as session:
            kv = _bucket(session, props)
            revisions = {
                str(k): session.run(kv.put(str(k), encode(v, "STRING")))
                for k, v in (props.get("values") or {}).items()
            }
        return {"revisions": revisions}


class KvGet(RunnableTask):
    """Read keys of a key-value bucket (``output``: key -> value; missing keys left out)."""

    outputs: ClassVar = (Output("output", "The values of the keys found.", "map"),)

    type = "trellis.nats.kv.Get"
    aliases = aliases_of("kv.Get")
    properties: ClassVar = BUCKET_KEYS

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        import nats.js.errors  # optional dependency (trellis[nats])

        found: dict[str, Any] = {}
        with closing(Session(props)) as session:
            kv = _bucket(session, props)
            for key in props.get("keys") or []:
                try:
                    entry = session.run(kv.get(str(key)))
                except nats.js.errors.KeyNotFoundError:
                    continue
                found[str(key)] = decode(entry.value, "STRING")
        return {"output": found}


class KvDelete(RunnableTask):
    """Delete keys of a key-value bucket."""

    #: Nothing to report: the keys are gone.
    outputs: ClassVar = ()

    type = "trellis.nats.kv.Delete"
    aliases = aliases_of("kv.Delete")
    properties: ClassVar = BUCKET_KEYS

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        with closing(Session(props)) as session:
            kv = _bucket(session, props)
            for key in props.get("keys") or []:
                session.run(kv.delete(str(key)))
        return {}
