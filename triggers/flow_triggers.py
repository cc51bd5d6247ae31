"""Flow triggers: start listening flows when an execution ends.

The deploy hook writes FlowTriggerIndex rows (``index_rows``) from each Flow trigger's
conditions and preconditions; when an execution ends, ``triggers.services.on_execution_ended`` (an
``executions.runtime.advance`` hook, after commit, in the executor) asks the index which triggers
could care, evaluates each in its own transaction and starts at most one execution per
(trigger, upstream execution). A flow never triggers itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection, transaction

from executions.models import Execution
from executions.runtime.loading import engine_env, execution_flow_spec, executor_budget
from executions.runtime.persistence import load_snapshot
from kernel.clock import now as clock
from kernel.conditions import UnknownCondition, condition_class
from kernel.engine.context import expression_context
from kernel.expressions.render import evaluate, render_value
from kernel.registry import registry
from kernel.spec.model import FlowSpec, TriggerSpec
from kernel.taint import unseal
from namespaces.boundaries import allows
from triggers import preconditions as pre_module
from triggers.firing import FireKey, Start, conditions_hold, fire_once
from triggers.models import FlowTriggerIndex
from triggers.schedules import live_trigger, lock_state

log = logging.getLogger(__name__)


def _kind(condition: Mapping[str, Any]) -> str:
    """What the condition narrows (its class's ``narrows``); "" for an unknown type."""
    try:
        return condition_class(str(condition.get("type", ""))).narrows
    except UnknownCondition:
        return ""


def _literal(value: Any) -> str | None:
    """A plain string usable in the index, or None for an expression or a missing value."""
    if not isinstance(value, str) or not value or "{{" in value or "{%" in value:
        return None
    return value


def _states(values: Any) -> str:
    if not values or not isinstance(values, list):
        return ""
    return "," + ",".join(str(v) for v in values) + ","


def _narrowest(conditions: list[Mapping[str, Any]]) -> tuple[str, bool, str] | None:
    """(namespace, prefix, flow id) that the AND of ``conditions`` implies, or None."""
    for c in conditions:
        if _kind(c) == "flow":
            ns, fid = _literal(c.get("namespace")), _literal(c.get("flowId"))
            if ns and fid:
                return ns, False, fid
    for c in conditions:
        if _kind(c) == "namespace" and _literal(c.get("namespace")):
            comparison = c.get("comparison") or ("PREFIX" if c.get("prefix") else "EQUALS")
            if comparison in ("EQUALS", "PREFIX"):
                return str(c["namespace"]), comparison == "PREFIX", ""
    return None


def _where_pattern(item: Mapping[str, Any]) -> tuple[str, bool, str] | None:
    if str(item.get("operand", "AND")).upper() == "OR":
        return None
    ns, prefix, fid = "", False, ""
    for f in item.get("filters") or ():
        field, kind = str(f.get("field", "")).upper(), str(f.get("type") or "EQUAL_TO").upper()
        value = _literal(f.get("value"))
        if value and field == "FLOW_ID" and kind == "EQUAL_TO":
            fid = value
        elif value and field == "NAMESPACE" and kind in ("EQUAL_TO", "STARTS_WITH"):
            ns, prefix = value, kind == "STARTS_WITH"
    return (ns, prefix, fid) if ns or fid else None


def index_rows(namespace: str, flow_id: str, trigger: TriggerSpec) -> list[FlowTriggerIndex]:
    """The index rows of one Flow trigger: a superset of the executions it may accept."""
    props = trigger.properties
    conditions = [c for c in props.get("conditions") or () if isinstance(c, Mapping)]
    states = _states(props.get("states"))
    for c in conditions:
        if _kind(c) == "states" and isinstance(c.get("in"), list):
            states = _states(c["in"])
    patterns: list[tuple[str, bool, str, str]] = []
    narrow = _narrowest(conditions)
    pre = props.get("preconditions") if isinstance(props.get("preconditions"), Mapping) else None
    if narrow is not None:
        patterns.append((*narrow, states))
    elif pre is not None:
        for entry in pre.get("flows") or ():
            ns, fid = _literal(entry.get("namespace")), _literal(entry.get("flowId"))
            patterns.append((ns or "", False, fid or "", _states(entry.get("states"))))
        for item in pre.get("where") or ():
            found = _where_pattern(item)
            patterns.append((*(found or ("", False, "")), ""))
    if not patterns:
        patterns.append(("", False, "", states))
    return [
        FlowTriggerIndex(
            namespace=namespace,
            flow_id=flow_id,
            trigger_id=trigger.id,
            source_namespace=ns,
            prefix=prefix,
            source_flow_id=fid,
            states=st,
        )  # fmt: skip
        for ns, prefix, fid, st in dict.fromkeys(patterns)
    ]


def boundary_warnings(spec: FlowSpec) -> list[tuple[str, str]]:
    """A deploy warning per Flow trigger listening, by name, to a namespace that does not
    allow this flow's (issue 21): such a trigger never fires, and the author should hear it
    when deploying rather than wait for an execution that never comes."""
    found: list[tuple[str, str]] = []
    for index, trigger in enumerate(spec.triggers):
        if registry.trigger_kind(trigger.type) != "flow":
            continue
        listened = {row.source_namespace for row in index_rows(spec.namespace, spec.id, trigger)
                    if row.source_namespace and not row.prefix}  # fmt: skip
        for namespace in sorted(listened):
            if not allows(spec.namespace, namespace):
                found.append((
                    f"triggers[{index}]",
                    f"trigger {trigger.id!r} will never fire: namespace {namespace!r} does not "
                    f"allow flows of {spec.namespace!r} to trigger on its executions",
                ))  # fmt: skip
    return found


def listeners_of(execution: Execution) -> list[tuple[str, str, str]]:
    """(namespace, flow id, trigger id) of every Flow trigger that may accept ``execution``.

    Asked for every execution that ends, on the hot path (a worker's fast path ends most of
    them): one plain statement built once, not an ORM query compiled anew each time (it was
    a tenth of a task worker's time in the throughput benchmark). A ``prefix`` row matches
    every namespace its ``source_namespace`` starts, as text (``company`` matches ``company.team``
    and ``companyx`` alike, as the index has always been read)."""
    ns, fid, state = execution.namespace, execution.flow_id, str(execution.state)
    with connection.cursor() as cursor:
        cursor.execute(_listeners_sql(), [ns, ns, fid, f"%,{state},%", ns, fid])
        return [tuple(row) for row in cursor.fetchall()]


@lru_cache(maxsize=1)
def _listeners_sql() -> str:
    table = FlowTriggerIndex._meta.db_table
    return (
        f"SELECT DISTINCT namespace, flow_id, trigger_id FROM {table} "
        "WHERE (source_namespace = '' OR source_namespace = %s OR (prefix AND "
        "substr(%s, 1, length(source_namespace)) = source_namespace)) "
        "AND (source_flow_id = '' OR source_flow_id = %s) "
        "AND (states = '' OR states LIKE %s) "
        "AND NOT (namespace = %s AND flow_id = %s) "
        "ORDER BY namespace, flow_id, trigger_id"
    )


def trigger_variables(execution: Execution) -> dict[str, Any]:
    """``trigger.*`` of an execution started by a Flow trigger."""
    return {
        "executionId": execution.id,
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "flowRevision": execution.flow_revision,
        "state": str(execution.state),
        "outputs": dict(execution.outputs or {}),
        "executionLabels": dict(execution.labels or {}),
    }


def upstream_context(execution: Execution) -> dict[str, Any]:
    """The ended execution's own expression context, with ``trigger.*`` describing it and
    ``execution`` carrying what conditions judge (namespace, flowId, state, labels, outputs)."""
    env = engine_env()
    ctx = expression_context(
        execution_flow_spec(execution), load_snapshot(execution),
        envs=env.envs, globals_=env.globals,
    )  # fmt: skip
    # Outputs derived from a secret are sealed at rest: opened (and marked) to render.
    ctx["trigger"] = unseal(trigger_variables(execution))
    ctx["execution"] = {
        **ctx["execution"],
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "flowRevision": execution.flow_revision,
        "state": str(execution.state),
        "labels": dict(execution.labels or {}),
        "outputs": unseal(dict(execution.outputs or {})),
    }
    return ctx


def _evaluate_one(
    execution: Execution, key: tuple[str, str, str], upstream: dict[str, Any], now: datetime
) -> Execution | None:
    namespace, flow_id, trigger_id = key
    # Conditions and inputs render under the trigger's lock: the executor's tight budget
    # applies (issue 21, docs/architecture.md "Expressions under the write lock").
    with executor_budget(), transaction.atomic():
        state = lock_state(namespace, flow_id, trigger_id)
        if state is None or not state.armed or state.disabled:
            return None
        found = live_trigger(namespace, flow_id, trigger_id)
        if found is None or registry.trigger_kind(found[2].type) != "flow":
            return None
        flow, spec, trigger = found
        context = {**upstream, "flow": {"id": spec.id, "namespace": spec.namespace}, "now": now}
        wanted_states = trigger.properties.get("states")
        if wanted_states and str(execution.state) not in wanted_states:
            return None
        if not conditions_hold(trigger, context):
            return None
        pre = trigger.properties.get("preconditions")
        if isinstance(pre, Mapping):
            facts = {**upstream["execution"], "executionId": execution.id}
            state.preconditions, fire = pre_module.step(
                pre, state.preconditions or {}, facts, now=now,
                render=lambda text: evaluate(text, context),
            )  # fmt: skip
            state.save(update_fields=["preconditions", "updated_at"])
            if not fire:
                return None

        def build() -> Start:
            inputs = render_value(dict(trigger.properties.get("inputs") or {}), context)
            return Start(trigger=trigger, variables=dict(upstream["trigger"]), inputs=inputs)

        fire_key = FireKey(namespace, flow_id, trigger_id, source_execution_id=execution.id)
        return fire_once(fire_key, flow, build)


def allowed_listeners(
    execution: Execution, listeners: list[tuple[str, str, str]]
) -> list[tuple[str, str, str]]:
    """The listeners whose namespace may trigger on ``execution``'s namespace (issue 21): a
    Flow trigger receives the upstream outputs, so another namespace's executions reach it
    only when that namespace allows the listener's. The others never fire."""
    verdicts: dict[str, bool] = {}
    kept = []
    for key in listeners:
        if key[0] not in verdicts:
            verdicts[key[0]] = allows(key[0], execution.namespace)
        if verdicts[key[0]]:
            kept.append(key)
        else:
            log.info("flow trigger %s ignores execution %s: namespace %r does not allow %r",
                     key, execution.id, execution.namespace, key[0])  # fmt: skip
    return kept


def flow_triggers_evaluate(execution: Execution, now: datetime | None = None) -> list[Execution]:
    """Start what listens to ``execution`` (which has ended). One failing trigger is logged
    and does not stop the others."""
    listeners = allowed_listeners(execution, listeners_of(execution))
    if not listeners:
        return []
    moment = now or clock()
    upstream = upstream_context(execution)
    started: list[Execution] = []
    for key in listeners:
        try:
            created = _evaluate_one(execution, key, upstream, moment)
        except Exception:
            log.exception("flow trigger %s failed for execution %s", key, execution.id)
            continue
        if created is not None:
            started.append(created)
    return started
