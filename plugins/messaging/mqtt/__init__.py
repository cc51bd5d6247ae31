"""MQTT (3.1.1 and 5): ``io.kestra.plugin.mqtt.*`` -- Publish, Subscribe, the batch Trigger
and the RealtimeTrigger.

Consumers acknowledge QoS 1 and 2 messages by hand (paho's ``manual_ack``) only once it is
safe: Subscribe after its file is stored, the Trigger after its execution is committed, the
RealtimeTrigger after the message's execution is committed. The triggers connect with a
persistent session under their ``clientId`` (MQTT 5: no clean start and a session that
outlives the connection by an hour; 3.1.1: ``clean_session`` false), so a message the
trigger received but never acknowledged is delivered again when it reconnects. MQTT gives a
message no identity: the RealtimeTrigger's key is the MQTT 5 user property ``messageId``,
which Publish sets on every message; without it the trigger is at-least-once (a crash after
the commit, before the acknowledgement, may start a second execution).
"""

from __future__ import annotations

from plugins.messaging.mqtt.tasks import Publish, Subscribe
from plugins.messaging.mqtt.triggers import MqttRealtimeTrigger, Trigger

PLUGINS = [Publish, Subscribe, Trigger, MqttRealtimeTrigger]
