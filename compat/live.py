"""Database side of a compatibility run: deploy the corpus, create and watch executions.

Everything here goes through Trellis's services (``flow_deploy``, ``execution_create``,
``execution_restart``...) and reads rows back; nothing writes run state itself. The executor
and workers are separate processes started by the command (or the integration tests).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.db.models import Q

from compat.scenarios import TEST_ONLY_TYPES, Corpus, Inputs, NotApplicable
from executions.models import Execution, TaskRun
from executions.services import InputsError, execution_create, execution_kill
from flows.models import Flow
from flows.selectors import flow_spec
from flows.services import flow_delete, flow_deploy
from kernel.registry import registry
from kernel.states import TERMINAL, State
from kv.services import kv_delete, kv_keys, kv_set
from templates.services import template_deploy

__all__ = [
    "Deployment",
    "apply_setup",
    "InputsError",
    "create_execution",
    "deploy_corpus",
    "descendants",
    "forget_previous_runs",
    "settle",
    "withdraw_scheduled",
    "wait_until",
]
#: Namespaces the corpus uses (``io.kestra.tests`` and below).
NAMESPACE = "io.kestra"


def in_corpus_namespaces(extra: Iterable[str] = ()) -> Q:
    """``io.kestra`` and below, plus the namespaces (and below) of extra corpora."""
    query = Q()
    for name in (NAMESPACE, *extra):
        query |= Q(namespace=name) | Q(namespace__startswith=f"{name}.")
    return query


def forget_previous_runs(extra: Iterable[str] = ()) -> int:
    """Delete every execution of the corpus namespaces (a run starts from a clean slate)."""
    deleted, _ = Execution.objects.filter(in_corpus_namespaces(extra)).delete()
    return deleted


def corpus_namespaces(corpus: Corpus) -> set[str]:
    """The namespaces a corpus's flow files declare (read without deploying)."""
    found = set()
    for path in corpus.flow_files():
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue
        if isinstance(doc, Mapping) and isinstance(doc.get("namespace"), str):
            found.add(doc["namespace"])
    return found


@dataclass
class Deployment:
    """What the corpus deploy produced: flows by corpus file, refusals with their reason."""

    flows: dict[str, Flow] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    #: Refusals due only to Kestra test-only task types (not applicable, not Trellis's fault).
    test_only: dict[str, list[str]] = field(default_factory=dict)
    templates_refused: dict[str, str] = field(default_factory=dict)
    #: Namespaces outside ``io.kestra`` that an extra corpus uses (cleaned like it).
    namespaces: set[str] = field(default_factory=set)

    def by_name(self, name: str) -> Flow | None:
        """A deployed flow by corpus file (with or without extension) or by flow id."""
        for key in (name, f"{name}.yaml", f"{name}.yml"):
            if key in self.flows:
                return self.flows[key]
        return next((f for f in self.flows.values() if f.flow_id == name), None)


def _first_problem(exc: Exception) -> str:
    problems = getattr(exc, "problems", None)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return f"{problems[0]}{more}"
    return f"{type(exc).__name__}: {exc}"


def _test_only_types(exc: Exception) -> list[str]:
    """The test-only types a refusal names, if those are its only problems."""
    found = []
    for problem in getattr(exc, "problems", None) or ():
        hits = [t for t in TEST_ONLY_TYPES if f"'{t}'" in str(problem.message)]
        if not hits:
            return []
        found += hits
    return sorted(set(found))


def deploy_corpus(corpus: Corpus) -> Deployment:
    """Deploy the templates the entries declare, then every corpus flow, one by one, so a
    refused flow does not hold back the others; refusals keep their file:line:col reason."""

    result = Deployment()
    for template in corpus.templates():
        try:
            template_deploy(source=yaml.safe_dump(dict(template), sort_keys=False))
        except Exception as exc:  # noqa: BLE001 - reported, the run goes on
            result.templates_refused[str(template.get("id"))] = _first_problem(exc)
    for path in corpus.flow_files():
        key = path.name if path.parent.name == "flows" else f"{path.parent.name}/{path.name}"
        try:
            result.flows[key] = flow_deploy(source=path.read_text(encoding="utf-8"),
                                            filename=path.name).flow  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - SpecError, or a bug: reported either way
            result.refused[key] = _first_problem(exc)
            if only := _test_only_types(exc):
                result.test_only[key] = only
    return result


def withdraw_scheduled(deployment: Deployment) -> list[str]:
    """Delete the corpus flows that carry a Schedule trigger (``switch``, ``task-flow``: hourly)
    so they do not start executions in this installation after the run; the next run deploys
    them again. Their executions stay readable."""

    withdrawn = []
    for file, flow in deployment.flows.items():
        flow.refresh_from_db()
        if flow.deleted or not any(
            registry.trigger_kind(t.type) == "schedule" for t in flow_spec(flow).triggers
        ):
            continue
        flow_delete(flow=flow)
        withdrawn.append(file)
    return withdrawn


class _Upload(io.BytesIO):
    """An in-memory file with a name, as a form upload has."""

    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name = name


def _defaults(flow: Flow) -> dict[str, Any]:
    return {
        i.id: i.options["defaults"]
        for i in flow_spec(flow).inputs
        if i.options.get("defaults") is not None
    }


def create_execution(
    flow: Flow, inputs: Inputs, labels: Mapping[str, str] | None = None
) -> tuple[Execution, str | None]:
    """Create the execution as the scenario's ``inputs_mode`` says; returns it and a note.

    ``validated`` goes through input validation (InputsError propagates). ``raw`` and
    ``none`` are Kestra test shortcuts that skip validation: Trellis validates first, and
    only when that refuses them are the values stored as given (plus the declared defaults,
    which Kestra's run context adds for missing inputs).
    """
    files = {k: _Upload(name, data) for k, (name, data) in inputs.files.items()}
    try:
        return execution_create(
            flow=flow, inputs=inputs.values, files=files or None, labels=labels
        ), None
    except InputsError as exc:
        if inputs.mode == "validated":
            raise
        execution = execution_create(
            flow=flow,
            inputs={**_defaults(flow), **inputs.values},
            labels=labels,
            validate_inputs=False,
        )
        return execution, f"inputs stored unvalidated ({inputs.mode}); validation said: {exc}"


def _reached(execution: Execution, until: str) -> bool:
    state = State(execution.state)
    if until == "PAUSED":
        return (
            state == State.PAUSED
            and TaskRun.objects.filter(execution=execution, state=State.PAUSED).exists()
        )
    if until == "RUNNING":
        return (
            state == State.RUNNING
            and TaskRun.objects.filter(execution=execution, state=State.RUNNING).exists()
        )
    if until == "QUEUED":
        return state == State.QUEUED
    if state not in TERMINAL:
        return False
    # Kestra's runner also waits for listeners: no task run may still be going.
    return not TaskRun.objects.filter(execution=execution).exclude(state__in=TERMINAL).exists()


#: Called on every poll of a wait (the command checks its worker processes there).
Tick = Callable[[], None]


def _noop() -> None:
    return None


def wait_until(
    execution_id: str,
    until: str = "TERMINATED",
    timeout: float = 60.0,
    interval: float = 0.1,
    tick: Tick = _noop,
) -> tuple[Execution, bool]:
    """Poll until the execution reaches ``until`` (TERMINATED, PAUSED, RUNNING, QUEUED);
    returns it and whether it got there in time. A terminal state also ends a wait for
    PAUSED or RUNNING (it will never come)."""
    deadline = time.monotonic() + timeout
    settled_at: float | None = None
    while True:
        tick()
        execution = Execution.objects.get(pk=execution_id)
        if _reached(execution, until):
            return execution, True
        if until != "TERMINATED" and execution.state in TERMINAL:
            return execution, False
        if until == "TERMINATED" and execution.state in TERMINAL:
            # terminal with a listener still going: give it a moment, not the whole timeout
            settled_at = settled_at or time.monotonic()
            if time.monotonic() - settled_at > min(10.0, timeout):
                return execution, True
        if time.monotonic() >= deadline:
            return execution, False
        time.sleep(interval)


def poll(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.2, tick: Tick = _noop
) -> Any:
    """``predicate()`` once it is truthy, or its last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        tick()
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def descendants(execution_id: str) -> list[Execution]:
    """Subflow executions started under this one, at any depth, oldest first."""
    found: list[Execution] = []
    frontier = [execution_id]
    while frontier:
        children = list(
            Execution.objects.filter(parent_execution_id__in=frontier).order_by("created_at")
        )
        found += children
        frontier = [c.id for c in children]
    return found


def executions_of(flow_name: str, since: Any) -> list[Execution]:
    """Executions of ``namespace.flowId`` created at or after ``since``, oldest first."""
    namespace, _, flow_id = flow_name.rpartition(".")
    return list(
        Execution.objects.filter(
            namespace=namespace, flow_id=flow_id, created_at__gte=since
        ).order_by("created_at")
    )


def settle(since: Any, extra: Iterable[str] = ()) -> None:
    """Kill what a scenario left running, so the next one starts on a quiet system."""
    leftovers = Execution.objects.filter(
        in_corpus_namespaces(extra), created_at__gte=since
    ).exclude(state__in=TERMINAL)
    for execution in leftovers:
        execution_kill(execution)


_DELETE_KV = re.compile(r"^delete every KV entry of namespace ([\w.-]+)$")


def apply_setup(entry_setup: Mapping[str, Any], scenario_setup: Mapping[str, Any]) -> None:
    """What an entry does before each of its scenarios (``before_each``) and what one
    scenario needs (``kv``: a KV entry); NotApplicable for a set-up given only in words."""

    before = entry_setup.get("before_each")
    if before:
        m = _DELETE_KV.match(str(before).strip())
        if not m:
            raise NotApplicable(f"set-up in words: {before!r}")
        for key in kv_keys(m.group(1)):
            kv_delete(m.group(1), key)
    entry = scenario_setup.get("kv")
    if entry:
        kv_set(str(entry["namespace"]), str(entry["key"]), entry.get("value"))
