"""NATS with JetStream: ``io.kestra.plugin.nats.*`` -- Produce, Consume, the batch Trigger,
the RealtimeTrigger, and the KV tasks (kv.Put, kv.Get, kv.Delete).

Consumers read through a JetStream pull consumer (``durableId`` makes it durable, so a
later run resumes where the last one acknowledged) and acknowledge each message only once
it is safe: Consume after its file is stored, the Trigger after the batch's execution is
committed, the RealtimeTrigger after the message's execution is committed. The realtime key
is the message's stream and sequence, which a redelivery keeps, so a redelivered message
starts nothing twice. An unacknowledged message comes back after the consumer's ack wait
(JetStream's default, 30 s).

nats-py is asyncio: each task owns one event loop, run in a thread of its own and driven
step by step from the task's thread, so the database work of a trigger (``fire``) never
runs inside the loop.
"""

from __future__ import annotations

from plugins.messaging.nats.tasks import Consume, KvDelete, KvGet, KvPut, Produce
from plugins.messaging.nats.triggers import NatsRealtimeTrigger, Trigger

PLUGINS = [Produce, Consume, Trigger, NatsRealtimeTrigger, KvPut, KvGet, KvDelete]
