"""Trigger state, the record of each firing, and the index of flow triggers.

Flows are named (namespace, flow id), never referenced by key, as executions do: a trigger's
history outlives a flow's deletion. Rows change only through ``triggers.services``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class TriggerState(models.Model):
    """The live state of one trigger of one flow (any type).

    ``cursor`` is the heart of Schedule triggers: every tick up to it has been handled (fired,
    skipped by a condition or by policy). Redeploying keeps it, so a redeploy neither skips
    nor repeats a tick; arming a silenced trigger (re-enabled flow or trigger) moves it to now,
    so the silenced period is not replayed.
    """

    namespace = models.CharField(max_length=255)
    flow_id = models.CharField(max_length=255)
    trigger_id = models.CharField(max_length=255)
    #: Canonical plugin type (``trellis.core.trigger.Schedule``...).
    type = models.CharField(max_length=255)
    #: True while the trigger may fire: flow enabled, trigger enabled in YAML and here.
    armed = models.BooleanField(default=False)
    #: The operator's switch (CLI, admin) or ``stopAfter``; kept across redeploys.
    disabled = models.BooleanField(default=False)
    disabled_reason = models.CharField(max_length=255, blank=True, default="")
    #: A Schedule's cron, timezone and seconds flag: a change starts a new series of ticks.
    signature = models.CharField(max_length=512, blank=True, default="")
    cursor = models.DateTimeField(null=True, blank=True)
    next_date = models.DateTimeField(null=True, blank=True)
    last_fire_date = models.DateTimeField(null=True, blank=True)
    last_execution_id = models.CharField(max_length=40, blank=True, default="")
    #: Flow-trigger preconditions met so far: ``{"met": {condition id: {...}}, ...}``.
    preconditions = models.JSONField(default=dict, blank=True)
    #: The running or last backfill: see ``triggers.backfills``.
    backfill = models.JSONField(null=True, blank=True)
    #: Polling triggers (see ``triggers.polling``): how often, when next and last, and the
    #: poll in progress. ``next_evaluation_date`` is set only while a polling trigger is
    #: armed; the poll sweep claims a due row by a conditional UPDATE that sets a new
    #: ``poll_token``, and only the poll holding that token may record its result.
    interval = models.DurationField(null=True, blank=True)
    next_evaluation_date = models.DateTimeField(null=True, blank=True)
    last_evaluation_date = models.DateTimeField(null=True, blank=True)
    evaluation_started = models.DateTimeField(null=True, blank=True)
    poll_token = models.CharField(max_length=40, blank=True, default="")
    #: What the trigger keeps between polls (files already seen...), JSON.
    poll_state = models.JSONField(default=dict, blank=True)
    #: Why the last evaluation failed (empty when it did not).
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["namespace", "flow_id", "trigger_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "flow_id", "trigger_id"], name="trigger_state_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["armed", "next_date"], name="trigger_state_due"),
            models.Index(fields=["armed", "next_evaluation_date"], name="trigger_state_poll_due"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}.{self.flow_id}:{self.trigger_id}"


class TriggerFire(models.Model):
    """One decision to start an execution from a trigger.

    The unique keys are the only thing that decides "exactly once": a schedule tick
    (scheduled_date), an upstream execution (source_execution_id) or a polling trigger's
    event (event_key) can be inserted once; a
    second beat, a duplicated message or a replayed hook finds the row and starts nothing.
    """

    namespace = models.CharField(max_length=255)
    flow_id = models.CharField(max_length=255)
    trigger_id = models.CharField(max_length=255)
    scheduled_date = models.DateTimeField(null=True, blank=True)
    source_execution_id = models.CharField(max_length=40, blank=True, default="")
    #: A polling trigger's event (a claimed file, one poll of an HTTP endpoint).
    event_key = models.CharField(max_length=255, blank=True, default="")
    execution_id = models.CharField(max_length=40, blank=True, default="")
    backfill = models.BooleanField(default=False)
    #: Why no execution was created (bad inputs, an expression error).
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # NULL dates (flow triggers) never collide: NULLs are distinct in a unique index.
            models.UniqueConstraint(
                fields=["namespace", "flow_id", "trigger_id", "scheduled_date"],
                name="trigger_fire_unique_tick",
            ),
            models.UniqueConstraint(
                fields=["namespace", "flow_id", "trigger_id", "source_execution_id"],
                condition=~Q(source_execution_id=""),
                name="trigger_fire_unique_source",
            ),
            models.UniqueConstraint(
                fields=["namespace", "flow_id", "trigger_id", "event_key"],
                condition=~Q(event_key=""),
                name="trigger_fire_unique_event",
            ),
        ]

    def __str__(self) -> str:
        when = self.scheduled_date or self.source_execution_id or self.event_key
        return f"{self.namespace}.{self.flow_id}:{self.trigger_id} @ {when}"


class FlowTriggerIndex(models.Model):
    """Who listens to whom: one row per (listening flow trigger, upstream pattern).

    Written by the deploy hook from a Flow trigger's conditions and preconditions, read when
    an execution ends, so the cost of that lookup follows the listeners that could match, not
    every flow. The pattern is a superset: conditions still decide. An empty
    ``source_namespace`` matches every namespace; ``prefix`` matches namespaces starting with
    it; an empty ``source_flow_id`` matches every flow; ``states`` is ``",SUCCESS,FAILED,"``
    or empty for any state.
    """

    namespace = models.CharField(max_length=255)
    flow_id = models.CharField(max_length=255)
    trigger_id = models.CharField(max_length=255)
    source_namespace = models.CharField(max_length=255, blank=True, default="")
    prefix = models.BooleanField(default=False)
    source_flow_id = models.CharField(max_length=255, blank=True, default="")
    states = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["namespace", "flow_id", "trigger_id"]
        indexes = [
            models.Index(fields=["source_namespace", "source_flow_id"], name="flow_trigger_source"),
            models.Index(fields=["namespace", "flow_id"], name="flow_trigger_listener"),
        ]

    def __str__(self) -> str:
        source = f"{self.source_namespace or '*'}{'*' if self.prefix else ''}"
        return f"{self.namespace}.{self.flow_id}:{self.trigger_id} <- {source}.{self.source_flow_id or '*'}"


class WebhookDelivery(models.Model):
    """A signed webhook delivery already accepted: its id may start nothing again (issue 21).

    The unique key decides, not a lookup: two copies of one delivery arriving together both
    try to insert, one wins and its execution is created in the same transaction; the other
    is refused. A row is kept until ``expires_at`` (the delivery's timestamp plus the
    tolerance, past which the timestamp alone refuses a replay); the trigger recovery sweep
    deletes it after that.
    """

    namespace = models.CharField(max_length=255)
    flow_id = models.CharField(max_length=255)
    trigger_id = models.CharField(max_length=255)
    delivery_id = models.CharField(max_length=255)
    received_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "flow_id", "trigger_id", "delivery_id"],
                name="webhook_delivery_unique",
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="webhook_delivery_expiry")]

    def __str__(self) -> str:
        return f"{self.namespace}.{self.flow_id}:{self.trigger_id} delivery {self.delivery_id}"
