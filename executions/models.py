"""Run state: executions, their task runs, task-run attempts and log lines.

Models hold data and invariants only. ``executions.runtime.appliers.apply_plan`` is the only writer
of run state (states, task runs, attempts) on the executor side; the worker records an
attempt's result through ``executions.worker.attempt`` with fencing on the attempt row.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Coalesce

from flows.models import Label
from kernel.states import State

STATE_CHOICES = [(s.value, s.value) for s in State]


def new_id() -> str:
    """A fresh execution / task-run id (uuid4 hex, 32 characters)."""
    return uuid.uuid4().hex


class Execution(models.Model):
    """One run of one revision of a flow.

    ``version`` is bumped by every write of run state so readers (SSE, ``--wait``) can tell
    cheaply whether anything changed. ``due_at`` is the earliest time the executor must look
    at this execution again (retry delay, pause delay, timeout); the sweeper wakes it then.
    """

    id = models.CharField(primary_key=True, max_length=40, default=new_id, editable=False)
    #: The flow is named, not referenced: flows are soft-deleted and keep their revisions, so
    #: (namespace, flow_id, flow_revision) always finds the source this execution ran.
    namespace = models.CharField(max_length=255)
    flow_id = models.CharField(max_length=255)
    flow_revision = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=State.CREATED)
    #: ``[{"state": "CREATED", "date": "2024-...Z"}, ...]`` oldest first.
    state_history = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    variables = models.JSONField(default=dict, blank=True)
    #: The flow's labels merged with the execution's own (the execution's win), as a dict.
    #: Rows in ExecutionLabel (``label_rows``) mirror it for filtering.
    labels = models.JSONField(default=dict, blank=True)
    #: ``{"id": trigger id, "type": ..., "variables": {...}}`` or None for a manual run.
    trigger = models.JSONField(null=True, blank=True)
    parent_execution = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="subflows"
    )
    parent_task_run_id = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001 - NULL = none
    #: The execution this one replays (``None`` for an original run).
    original_id = models.CharField(max_length=40, null=True, blank=True, db_index=True)  # noqa: DJ001 - NULL = none
    #: The execution this one was replayed from directly (Kestra's ``parentId`` of a replay).
    replayed_from = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001 - NULL = none
    due_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    #: The last ``version`` at which an *ended* task run was changed or deleted (services,
    #: or a plan that re-opens a run): an executor process's remembered task runs from any
    #: version since are still good for every ended run (``executions/runtime/snapshot_cache.py``).
    settled_version = models.PositiveIntegerField(default=0)
    #: Paused by a user (the pause action), not by a Pause task: the executor plans nothing
    #: for it until it is resumed or killed.
    held = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["namespace", "flow_id", "-created_at"], name="exec_flow_created"),
            models.Index(fields=["state", "-created_at"], name="exec_state_created"),
            models.Index(fields=["due_at"], name="exec_due_at"),
            models.Index(fields=["-created_at"], name="exec_created"),
            # A Subflow's or ForEachItem's children, counted each time one of them ends.
            models.Index(fields=["parent_task_run_id"], name="exec_parent_run"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}.{self.flow_id} {self.id} {self.state}"


class ExecutionLabel(Label):
    """One label of an execution, for filtering (``filter_by_labels(qs, relation="label_rows")``)."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="label_rows")

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "key"], name="exec_label_unique_key"),
        ]
        indexes = [models.Index(fields=["key", "value"], name="exec_label_kv")]


class TaskRun(models.Model):
    """One run of one task of a flow (one per loop value for ForEach children).

    The unique key (execution, parent, task id, value) makes a duplicate impossible even if two
    executors planned the same child: NULL parent/value are folded to '' so they compare equal.
    """

    id = models.CharField(primary_key=True, max_length=40, default=new_id, editable=False)
    #: No index of its own: ``taskrun_exec_seq`` leads with it (one index less per insert).
    execution = models.ForeignKey(
        Execution, on_delete=models.CASCADE, related_name="task_runs", db_index=False
    )
    task_id = models.CharField(max_length=255)
    parent_id = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001 - NULL = none
    value = models.CharField(max_length=1024, null=True, blank=True)  # noqa: DJ001 - NULL = none
    iteration = models.IntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=State.CREATED)
    state_history = models.JSONField(default=list, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    #: A flowable's remembered decision (If's branch, ForEach's values).
    decision = models.JSONField(default=dict, blank=True)
    #: Queue its attempts go to (``default`` or ``wg.<key>``).
    queue = models.CharField(max_length=255, default="default")
    due_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    #: Creation order within the execution.
    seq = models.PositiveIntegerField(default=0)
    #: Attempts made so far (0 before the first dispatch).
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["execution", "seq"]
        constraints = [
            models.UniqueConstraint(
                "execution",
                Coalesce("parent_id", models.Value("")),
                "task_id",
                Coalesce("value", models.Value("")),
                name="taskrun_unique_key",
            ),
        ]
        indexes = [models.Index(fields=["execution", "seq"], name="taskrun_exec_seq")]

    def __str__(self) -> str:
        suffix = f"[{self.value}]" if self.value is not None else ""
        return f"{self.task_id}{suffix} {self.state}"


class TaskRunAttempt(models.Model):
    """One dispatch of a runnable task run to a worker: the unit a worker claims.

    Written QUEUED by the executor in the same transaction as the state change that caused it,
    so a lost broker message can be re-sent from here. A worker claims it with a conditional
    UPDATE (QUEUED -> RUNNING, owner, lease) and heartbeats ``lease_expires_at``; the sweeper
    marks one whose lease expired as lost and queues attempt number + 1.
    """

    #: Indexed by ``attempt_unique_number`` and ``attempt_execution`` only: a foreign key's
    #: own index (and PostgreSQL's LIKE twin of it) would be two more writes per attempt.
    task_run = models.ForeignKey(
        TaskRun, on_delete=models.CASCADE, related_name="attempt_rows", db_index=False
    )
    execution = models.ForeignKey(
        Execution, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=State.QUEUED)
    queue = models.CharField(max_length=255, default="default")
    #: ``hostname:pid`` of the worker process that claimed it.
    owner = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    #: Last time a message for it was sent (the sweeper re-sends a stale QUEUED attempt).
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    #: Why it ended other than by its own result ("lease expired", "superseded"...).
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["task_run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["task_run", "number"], name="attempt_unique_number"),
        ]
        indexes = [
            models.Index(fields=["state", "lease_expires_at"], name="attempt_state_lease"),
            models.Index(fields=["state", "sent_at"], name="attempt_state_sent"),
            models.Index(fields=["execution"], name="attempt_execution"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.task_run_id} {self.state}"


class LogEntry(models.Model):
    """One log line of an execution, written in batches by workers and the executor."""

    #: No index of its own: ``log_exec_ts`` leads with it (log lines are the busiest insert).
    execution = models.ForeignKey(
        Execution, on_delete=models.CASCADE, related_name="logs", db_index=False
    )
    task_run_id = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001 - NULL = none
    task_id = models.CharField(max_length=255, blank=True, default="")
    attempt = models.PositiveIntegerField(null=True, blank=True)
    timestamp = models.DateTimeField()
    level = models.CharField(max_length=8, default="INFO")
    message = models.TextField()

    class Meta:
        ordering = ["execution", "timestamp", "id"]
        indexes = [
            models.Index(fields=["execution", "timestamp"], name="log_exec_ts"),
            models.Index(fields=["task_run_id"], name="log_taskrun"),
        ]

    def __str__(self) -> str:
        return f"{self.timestamp:%H:%M:%S} {self.level} {self.message[:60]}"
