"""Realtime triggers: the ``triggers`` role keeps one listener per armed realtime trigger.

A realtime trigger (``kernel.plugin.RealtimeTrigger``: AMQP, MQTT, NATS, Redis...) starts one
execution per message. Its plugin's ``listen`` runs in a thread of this role, never on a
Celery worker: it blocks on the broker for as long as the flow is live. Every
``TRELLIS_REALTIME_RELOAD_SECONDS`` (3 s) the role reads which realtime triggers are armed
(``TriggerState``, kept by the deploy hook) and starts, restarts (the trigger's definition
changed) or stops listeners to match; a listener whose ``listen`` failed is started again
after a pause that grows to a minute, its error shown on the trigger's state.

Exactly one execution per message (docs/architecture.md, "Realtime triggers: ack after
commit"): ``fire`` inserts a ``TriggerFire`` row unique on (trigger, the message's broker key)
and creates the execution in the same transaction, and returns only once it is committed;
the plugin acknowledges the message after that. A crash before the commit leaves the
message unacknowledged, so the broker delivers it again; a crash after the commit but
before the acknowledgement redelivers a message whose key is already taken, and nothing
more starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction

from flows.models import Flow
from kernel.clock import now as clock
from kernel.expressions.render import render_value
from kernel.plugin import Delivery, RealtimeTrigger
from kernel.registry import UnknownType, registry
from kernel.spec.model import FlowSpec, TriggerSpec
from orchestrator.observability import metrics
from triggers.firing import (
    FireKey,
    Start,
    base_context,
    conditions_hold,
    count_skipped,
    create_execution,
    record_fire,
    render_labels,
)
from triggers.models import TriggerFire, TriggerState
from triggers.polling import _Logger, event_key, render_properties
from triggers.schedules import live_trigger

log = logging.getLogger(__name__)

#: TEST-ONLY hook (tests/integration/test_messaging_crash.py): ``receipt:SECONDS`` sleeps
#: after a message is received and before its execution is committed; ``commit:SECONDS``
#: after the commit and before the plugin may acknowledge. It lets a test SIGKILL the role
#: at those two moments. Never set it in production.
PAUSE_ENV = "TRELLIS_TEST_REALTIME_PAUSE"
MAX_BACKOFF_SECONDS = 60.0


class TriggerGone(RuntimeError):
    """The trigger's flow was disabled or deleted while a message was on its way."""


def reload_seconds() -> float:
    return float(getattr(settings, "TRELLIS_REALTIME_RELOAD_SECONDS", 3))


def realtime_class(trigger_type: str) -> type[RealtimeTrigger] | None:
    try:
        cls = registry.get(trigger_type)
    except UnknownType:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, RealtimeTrigger) else None


def realtime_types() -> list[str]:
    return sorted(t for t, c in registry.all().items() if issubclass(c, RealtimeTrigger))


def _signature(trigger: TriggerSpec) -> str:
    """What makes a listener current: its type and properties (a change restarts it)."""
    text = json.dumps([trigger.type, trigger.properties], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _test_pause(moment: str) -> None:
    raw = os.environ.get(PAUSE_ENV, "")
    where, _, seconds = raw.partition(":")
    if where == moment and seconds:
        log.warning("TEST HOOK: paused %s s after %s", seconds, moment)
        time.sleep(float(seconds))


# ------------------------------------------------------------------------------- firing


@dataclass
class Listening:
    """The RealtimeContext a plugin's ``listen`` gets."""

    namespace: str
    flow_id: str
    trigger_id: str
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.logger = _Logger(f"{self.namespace}.{self.flow_id}:{self.trigger_id}")

    def should_stop(self) -> bool:
        return self.stop.is_set()

    def fire(self, delivery: Delivery) -> bool:
        """Create and commit the delivery's execution once per key (see the module doc)."""
        _test_pause("receipt")
        # The flow as it is now: a redeploy that kept the trigger as it was (so the listener
        # goes on) may have changed the tasks the execution must run.
        found = live_trigger(self.namespace, self.flow_id, self.trigger_id)
        if found is None:  # disabled or deleted meanwhile: leave the message to the broker
            raise TriggerGone(f"{self.namespace}.{self.flow_id}:{self.trigger_id} is not live")
        started = realtime_fire(*found, delivery)
        _test_pause("commit")
        return started


def realtime_fire(flow: Flow, spec: FlowSpec, trigger: TriggerSpec, delivery: Delivery) -> bool:
    """Start the delivery's execution unless its key started one; True when it did now.

    Must not run inside a transaction: it returns once its own transaction is committed,
    which is what allows the caller to acknowledge the message. A message the trigger's
    conditions refuse starts nothing (and may be acknowledged); so does one whose inputs or
    labels do not render (the error is kept on its TriggerFire row, as ``fire_once`` does:
    redelivering it would fail the same way forever). A database error raises.
    """
    variables = dict(delivery.variables)
    context = base_context(spec, trigger=variables, now=clock())
    if not conditions_hold(trigger, context):
        count_skipped(spec.namespace, spec.id, trigger.id, "conditions")
        return False
    key = event_key(delivery.key)
    with transaction.atomic():
        try:
            with transaction.atomic():
                fire = TriggerFire.objects.create(
                    namespace=spec.namespace, flow_id=spec.id, trigger_id=trigger.id,
                    event_key=key,
                )  # fmt: skip
        except IntegrityError:
            count_skipped(spec.namespace, spec.id, trigger.id, "duplicate")
            return False
        try:
            inputs = render_value(dict(trigger.properties.get("inputs") or {}), context)
            labels = render_labels(trigger.properties.get("labels"), context)
        except Exception as exc:  # the flow's own expressions: retrying would fail forever
            log.warning("realtime trigger %s of %s: %s", trigger.id, flow, exc)
            fire.error = f"{type(exc).__name__}: {exc}"[:2000]
            fire.save(update_fields=["error"])
            count_skipped(spec.namespace, spec.id, trigger.id, "error")
            return False
        execution = create_execution(
            flow, Start(trigger=trigger, variables=variables, inputs=inputs, labels=labels)
        )
        fire.execution_id = execution.id
        fire.save(update_fields=["execution_id"])
        record_fire(FireKey(spec.namespace, spec.id, trigger.id), execution)
        metrics.inc_on_commit(
            metrics.TRIGGERS_FIRED, namespace=spec.namespace, flow=spec.id, trigger=trigger.id
        )
    return True


# ------------------------------------------------------------------------------- listeners


class Listener(threading.Thread):
    """One realtime trigger's ``listen``, called again after a failure until stopped."""

    def __init__(self, namespace: str, flow_id: str, trigger_id: str, signature: str) -> None:
        super().__init__(name=f"realtime:{namespace}.{flow_id}:{trigger_id}", daemon=True)
        self.key = (namespace, flow_id, trigger_id)
        self.signature = signature
        self.stop_event = threading.Event()

    def run(self) -> None:
        backoff = 1.0
        while not self.stop_event.is_set():
            close_old_connections()
            error = ""
            try:
                self.listen_once()
                backoff = 1.0
            except Exception as exc:  # the plugin's (broker down, bad queue...): retry later
                log.warning("realtime trigger %s failed", ":".join(self.key), exc_info=True)
                error = f"{type(exc).__name__}: {exc}"[:2000]
            self._record(error)
            if error:
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        connection.close()

    def listen_once(self) -> None:
        found = live_trigger(*self.key)
        cls = realtime_class(found[2].type) if found is not None else None
        if found is None or cls is None:
            self.stop_event.wait(reload_seconds())
            return
        _flow, spec, trigger = found
        ctx = Listening(*self.key, stop=self.stop_event)
        props = render_properties(trigger, cls, base_context(spec, now=clock()))  # type: ignore[arg-type]
        log.info("realtime trigger %s listening", ":".join(self.key))
        cls().listen(props, ctx)

    def _record(self, error: str) -> None:
        try:
            TriggerState.objects.filter(
                namespace=self.key[0], flow_id=self.key[1], trigger_id=self.key[2]
            ).exclude(last_error=error).update(last_error=error)
        except Exception:  # the database is away too: the next round records it
            log.debug("could not record a realtime trigger's error", exc_info=True)


def armed_realtime() -> dict[tuple[str, str, str], str]:
    """Every armed realtime trigger of a live flow -> the signature of its definition."""
    wanted: dict[tuple[str, str, str], str] = {}
    types = realtime_types()
    if not types:
        return wanted
    rows = TriggerState.objects.filter(armed=True, disabled=False, type__in=types)
    for namespace, flow_id, trigger_id in rows.values_list("namespace", "flow_id", "trigger_id"):
        found = live_trigger(namespace, flow_id, trigger_id)
        if found is not None and realtime_class(found[2].type) is not None:
            wanted[(namespace, flow_id, trigger_id)] = _signature(found[2])
    return wanted


class RealtimeRole:
    """The ``triggers`` process: keeps the listeners in line with the flows."""

    def __init__(self) -> None:
        self.listeners: dict[tuple[str, str, str], Listener] = {}
        self.stopping = threading.Event()

    def reconcile(self, wanted: Mapping[tuple[str, str, str], str]) -> None:
        for key, listener in list(self.listeners.items()):
            if wanted.get(key) != listener.signature or not listener.is_alive():
                listener.stop_event.set()
                listener.join(timeout=10)
                del self.listeners[key]
                log.info("realtime trigger %s stopped", ":".join(key))
        for key, signature in wanted.items():
            if key not in self.listeners:
                listener = Listener(*key, signature=signature)
                self.listeners[key] = listener
                listener.start()

    def run(self) -> None:
        log.info("realtime triggers role started (%s)", ", ".join(realtime_types()) or "none")
        while not self.stopping.is_set():
            try:
                close_old_connections()
                self.reconcile(armed_realtime())
            except Exception:  # the database restarting: keep the listeners, try again
                log.warning("realtime triggers: reload failed", exc_info=True)
            self.stopping.wait(reload_seconds())
        self.shutdown()

    def shutdown(self) -> None:
        for listener in self.listeners.values():
            listener.stop_event.set()
        for listener in self.listeners.values():
            listener.join(timeout=15)
        self.listeners.clear()
