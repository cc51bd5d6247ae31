"""AMQP 0-9-1 (RabbitMQ): ``io.kestra.plugin.amqp.*`` -- Publish, Consume, the batch Trigger,
the RealtimeTrigger, and CreateQueue / DeclareExchange / QueueBind.

Consumers never use automatic acknowledgement unless ``autoAck: true``: Consume acknowledges
once its file is in internal storage, the Trigger once the batch's execution is committed,
the RealtimeTrigger once the message's execution is committed. A consumer that dies before
that leaves its messages with the broker, which delivers them again. The RealtimeTrigger's
key is the message's ``messageId``: Publish sets one on every message, and a publisher that
sets none gets at-least-once delivery (a crash after the commit, before the ack, may start a
second execution for that message).
"""

from __future__ import annotations

from plugins.messaging.amqp.tasks import Consume, CreateQueue, DeclareExchange, Publish, QueueBind
from plugins.messaging.amqp.triggers import AmqpRealtimeTrigger, Trigger

PLUGINS = [
    Publish,
    Consume,
    Trigger,
    AmqpRealtimeTrigger,
    CreateQueue,
    DeclareExchange,
    QueueBind,
]
