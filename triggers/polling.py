"""Polling triggers: beat's clock, a worker's poll, one execution per event.

The timing lives in the database, like every other due time (DESIGN, "Processes"):

* an armed polling trigger has ``TriggerState.next_evaluation_date`` (set by the deploy hook,
  now for a new trigger) and its ``interval``;
* every ``TRELLIS_POLL_TICK_SECONDS`` (1 s) beat sends ``triggers.tasks.poll_triggers``, which
  claims each due row with one conditional UPDATE (the due date it read, no poll running or
  the running one older than the lease) that stores a fresh ``poll_token`` and the next
  evaluation date, and sends ``triggers.tasks.poll_trigger`` with that token to the worker
  queue (``default``, or the trigger's ``workerGroup``): polls do I/O, the executor does not;
* the worker calls the plugin's ``evaluate`` (outside any transaction), then fires each event
  in its own transaction through a ``TriggerFire`` row unique on (trigger, event key), and
  finally records the poll (last evaluation, state kept between polls, error) if it still
  holds the token.

So two beats, a duplicated message or a poll that outlives its lease never double an event: at
worst two polls run at once, and the event keys (and the plugin's own claim, such as the file
trigger's rename) decide. A poll whose worker vanished is claimed again once
``TRELLIS_POLL_LEASE_SECONDS`` have passed.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from executions.models import Execution
from executions.runtime.dispatch import send
from flows.models import Flow
from kernel.clock import now as clock
from kernel.durations import parse_duration
from kernel.expressions.render import evaluate, render_value
from kernel.plugin import PollEvent, PollingTrigger
from kernel.registry import UnknownType, registry
from kernel.spec.model import FlowSpec, TriggerSpec
from kernel.storage import sanitize_filename
from orchestrator.celery import worker_group_queue
from orchestrator.storage import default_storage
from triggers.firing import (
    FireKey,
    Start,
    base_context,
    conditions_hold,
    create_execution,
    record_fire,
    render_labels,
)
from triggers.models import TriggerFire, TriggerState
from triggers.schedules import live_trigger, lock_state
from triggers.task_names import POLL_TRIGGER

log = logging.getLogger(__name__)

POLL_ENTRY = "trellis:poll-triggers"
#: Due rows claimed per sweep at most (the rest wait for the next second).
MAX_CLAIMS_PER_SWEEP = 200
_KEY_MAX = 255


def tick_seconds() -> float:
    return float(getattr(settings, "TRELLIS_POLL_TICK_SECONDS", 1))


def poll_lease() -> timedelta:
    """How long a claimed poll may run before another may be claimed."""
    return timedelta(seconds=float(getattr(settings, "TRELLIS_POLL_LEASE_SECONDS", 300)))


def polling_class(trigger_type: str) -> type[PollingTrigger] | None:
    """The plugin class of a polling trigger type, or None for any other type."""
    try:
        cls = registry.get(trigger_type)
    except UnknownType:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, PollingTrigger) else None


def polling_types() -> list[str]:
    """Canonical names of every registered polling trigger type."""
    return sorted(t for t, c in registry.all().items() if issubclass(c, PollingTrigger))


def interval_of(trigger: TriggerSpec, cls: type[PollingTrigger]) -> timedelta:
    """The trigger's ``interval`` (its plugin's default when unset), at least one tick."""
    raw = trigger.properties.get("interval") or cls.default_interval
    return max(parse_duration(raw), timedelta(seconds=tick_seconds()))


def event_key(key: str) -> str:
    """The key as stored: long keys (deep file paths) become their hash."""
    if len(key) <= _KEY_MAX:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


# ------------------------------------------------------------------------------- the clock


def polls_due(now: datetime | None = None) -> int:
    """Claim every due polling trigger and send its poll; returns how many were sent.

    Safe with several beats: each claim is a conditional UPDATE, so one sweep wins a row.
    """
    moment = now or clock()
    stale = moment - poll_lease()
    idle = Q(evaluation_started__isnull=True) | Q(evaluation_started__lt=stale)
    due = (
        TriggerState.objects.filter(armed=True, disabled=False, next_evaluation_date__lte=moment)
        .filter(idle)
        .order_by("next_evaluation_date")
        .values_list("pk", "next_evaluation_date", "interval")[:MAX_CLAIMS_PER_SWEEP]
    )
    sent = 0
    for pk, due_at, interval in list(due):
        token = uuid.uuid4().hex
        every = interval or timedelta(seconds=60)
        claimed = (
            TriggerState.objects.filter(pk=pk, next_evaluation_date=due_at, armed=True)
            .filter(idle)
            .update(
                poll_token=token,
                evaluation_started=moment,
                next_evaluation_date=moment + every,
            )
        )
        if claimed:
            state = TriggerState.objects.get(pk=pk)
            _send_poll(state, token)
            sent += 1
    return sent


def _send_poll(state: TriggerState, token: str) -> None:
    found = live_trigger(state.namespace, state.flow_id, state.trigger_id)
    group = found[2].properties.get("workerGroup") if found is not None else None
    key = group.get("key") if isinstance(group, Mapping) else None
    args = (state.namespace, state.flow_id, state.trigger_id, token)
    send(POLL_TRIGGER, args, queue=worker_group_queue(key))


# ------------------------------------------------------------------------------- the poll


class _Logger:
    """The PollContext logger: Python logging, prefixed with the trigger."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _log(self, level: int, msg: str) -> None:
        log.log(level, "%s: %s", self.name, msg)

    def trace(self, msg: str) -> None:
        self._log(logging.DEBUG, msg)

    def debug(self, msg: str) -> None:
        self._log(logging.DEBUG, msg)

    def info(self, msg: str) -> None:
        self._log(logging.INFO, msg)

    def warning(self, msg: str) -> None:
        self._log(logging.WARNING, msg)

    def error(self, msg: str) -> None:
        self._log(logging.ERROR, msg)


@dataclass
class PollRun:
    """The PollContext a polling trigger's ``evaluate`` gets."""

    namespace: str
    flow_id: str
    trigger_id: str
    poll_id: str
    now: datetime
    context: Mapping[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logger = _Logger(f"{self.namespace}.{self.flow_id}:{self.trigger_id}")

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        context = {**self.context, **(extra or {})}
        if isinstance(value, str):
            return evaluate(value, context)
        return render_value(value, context)


def render_properties(
    trigger: TriggerSpec, cls: type[PollingTrigger], context: Mapping[str, Any]
) -> dict[str, Any]:
    """Declared defaults, then the trigger's properties, dynamic ones rendered."""
    props: dict[str, Any] = {p.name: p.default for p in cls.properties if p.default is not None}
    for key, value in trigger.properties.items():
        declared = cls.prop(key)
        if declared is None:
            continue  # common keys (conditions, stopAfter, workerGroup...): the driver's
        if not declared.dynamic:
            props[declared.name] = value
        elif declared.kind in ("string", "duration"):
            props[declared.name] = render_value(value, context)
        else:
            props[declared.name] = (
                evaluate(value, context) if isinstance(value, str) else render_value(value, context)
            )
    return props


@dataclass
class PollOutcome:
    """What one poll did (for the caller, tests and logs)."""

    started: list[Execution] = field(default_factory=list)
    already: int = 0
    declined: int = 0
    failed: int = 0
    error: str = ""


def poll_run(*, namespace: str, flow_id: str, trigger_id: str, token: str) -> PollOutcome:
    """One poll of one trigger (a worker runs it). Does nothing unless ``token`` is the
    trigger's current poll token (a poll that was superseded or never claimed)."""
    outcome = PollOutcome()
    state = TriggerState.objects.filter(
        namespace=namespace, flow_id=flow_id, trigger_id=trigger_id, poll_token=token
    ).first()
    if state is None or not state.armed or state.disabled:
        return outcome
    found = live_trigger(namespace, flow_id, trigger_id)
    cls = polling_class(found[2].type) if found is not None else None
    if found is None or cls is None:
        _finish(state, token, dict(state.poll_state or {}), "the trigger is no longer live")
        return outcome
    flow, spec, trigger = found
    moment = clock()
    context = base_context(spec, now=moment)
    run = PollRun(
        namespace=namespace, flow_id=flow_id, trigger_id=trigger_id, poll_id=token,
        now=moment, context=context, state=dict(state.poll_state or {}),
    )  # fmt: skip
    try:
        props = render_properties(trigger, cls, context)
        events = cls().evaluate(props, run)
    except Exception as exc:  # the plugin's failure (unreachable URL, missing folder...)
        log.warning("polling trigger %s failed", state, exc_info=True)
        outcome.error = f"{type(exc).__name__}: {exc}"[:2000]
        _finish(state, token, dict(state.poll_state or {}), outcome.error)
        return outcome
    for event in events:
        _fire_event(flow, spec, trigger, event, outcome)
    _finish(state, token, run.state, outcome.error)
    return outcome


def _fire_event(
    flow: Flow, spec: FlowSpec, trigger: TriggerSpec, event: PollEvent, outcome: PollOutcome
) -> None:
    """Start the event's execution unless its key was fired before; then run its callbacks."""
    variables = dict(event.variables)
    context = base_context(spec, trigger=variables, now=clock())
    if not conditions_hold(trigger, context):
        outcome.declined += 1
        _callback(event.decline, trigger)
        return
    key = event_key(event.key)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    fire = TriggerFire.objects.create(
                        namespace=spec.namespace, flow_id=spec.id, trigger_id=trigger.id,
                        event_key=key,
                    )  # fmt: skip
            except IntegrityError:
                execution = None
            else:
                execution = _create(flow, spec, trigger, event, variables, context)
                fire.execution_id = execution.id
                fire.save(update_fields=["execution_id"])
                record_fire(FireKey(spec.namespace, spec.id, trigger.id), execution)
    except Exception as exc:  # left for a later poll: nothing was committed, nothing is done
        log.warning(
            "polling trigger %s of %s: event %s failed", trigger.id, flow, key, exc_info=True
        )
        outcome.failed += 1
        outcome.error = outcome.error or f"{type(exc).__name__}: {exc}"[:2000]
        return
    if execution is None:
        outcome.already += 1
    else:
        outcome.started.append(execution)
    _callback(event.done, trigger)


def _create(
    flow: Flow,
    spec: FlowSpec,
    trigger: TriggerSpec,
    event: PollEvent,
    variables: dict[str, Any],
    context: Mapping[str, Any],
) -> Execution:
    inputs = render_value(dict(trigger.properties.get("inputs") or {}), context)
    labels = render_labels(trigger.properties.get("labels"), context)
    execution = create_execution(
        flow, Start(trigger=trigger, variables=variables, inputs=inputs, labels=labels)
    )
    if event.attach is not None:
        store = _store_for(execution, trigger.id)
        variables.update(event.attach(store))
        execution.trigger = {**(execution.trigger or {}), "variables": variables}
        execution.save(update_fields=["trigger"])
    return execution


def _store_for(execution: Execution, trigger_id: str):  # noqa: ANN202 - a StoreFile
    """Files of a trigger go under the execution's ``trigger/<trigger id>/`` folder."""

    storage = default_storage()
    prefix = storage.execution_prefix(execution.namespace, execution.flow_id, execution.id)

    def store(path: Path, name: str) -> str:
        uri = f"{prefix}trigger/{trigger_id}/{sanitize_filename(name)}"
        with open(path, "rb") as stream:
            return storage.put(uri, stream)

    return store


def _callback(callback: Any, trigger: TriggerSpec) -> None:
    if callback is None:
        return
    try:
        callback()
    except Exception:  # the execution exists; a later poll finishes what is left
        log.warning("polling trigger %s: a follow-up action failed", trigger.id, exc_info=True)


def _finish(state: TriggerState, token: str, poll_state: dict[str, Any], error: str) -> None:
    """Record the poll, if it still holds the token (a poll superseded after its lease
    records nothing)."""
    with transaction.atomic():
        locked = lock_state(state.namespace, state.flow_id, state.trigger_id)
        if locked is None or locked.poll_token != token:
            return
        locked.poll_state = poll_state
        locked.last_evaluation_date = locked.evaluation_started or clock()
        locked.evaluation_started = None
        locked.last_error = error
        if not locked.armed or locked.disabled:
            locked.next_evaluation_date = None
        locked.save(
            update_fields=[
                "poll_state", "last_evaluation_date", "evaluation_started", "last_error",
                "next_evaluation_date", "updated_at",
            ]
        )  # fmt: skip
