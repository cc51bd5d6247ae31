"""Redis: ``io.kestra.plugin.redis.*`` -- list.ListPush / ListPop, pubsub.Publish, the list
Trigger (a batch per poll) and RealtimeTrigger (one execution per item), string Get / Set /
Delete.

A Redis list has no acknowledgement, so the triggers never pop an item outright. They
*claim* it: a Lua script (atomic in Redis) moves items from the list into the trigger's own
in-flight list and stores, beside it, a fresh random id; the id is the event's key.
Once the execution is committed the in-flight list is deleted. A trigger that died in
between finds its in-flight list on its next claim and offers the same items with the same
id again, which the key turns into nothing if the execution was committed.
"""

from __future__ import annotations

from plugins.messaging.redis.tasks import Delete, Get, ListPop, ListPush, Publish, Set
from plugins.messaging.redis.triggers import RedisRealtimeTrigger, Trigger

PLUGINS = [ListPush, ListPop, Publish, Get, Set, Delete, Trigger, RedisRealtimeTrigger]
