"""Flow triggers: the index written on deploy, and firing when the end hook is called."""

from __future__ import annotations

from pathlib import Path

import pytest

from executions.models import Execution, TaskRun
from executions.services import execution_create
from flows.services import flow_deploy, flow_set_disabled
from kernel.states import State
from triggers.flow_triggers import listeners_of
from triggers.models import FlowTriggerIndex, TriggerFire
from triggers.services import on_execution_ended

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _t_down_may_listen_to_t_up() -> None:
    """The listeners here live in ``t.down``, a sibling of ``t.up``: outside its tree, so
    ``t.up`` must allow them (issue 21; tests/security/test_namespace_boundaries.py checks
    that without this entry they never fire)."""
    from namespaces.allowed import allowed_namespace_add

    allowed_namespace_add(namespace="t.up", allowed="t.down")


CORPUS = Path(__file__).resolve().parents[3] / "shared" / "kestra-corpus" / "flows"
RETURN = "io.kestra.plugin.core.debug.Return"


def flow(flow_id: str, namespace: str = "t.up", *, triggers: str = "", inputs: str = ""):
    text = (
        f"id: {flow_id}\nnamespace: {namespace}\n{inputs}"
        f"tasks:\n  - id: only\n    type: {RETURN}\n    format: '{flow_id} done'\n"
    )
    if triggers:
        text += "triggers:\n" + triggers
    return flow_deploy(source=text).flow


def ended(upstream, state: State = State.SUCCESS, *, output: str = "value!", labels=None):
    """An execution of ``upstream`` that ended in ``state`` with one task output."""
    execution = execution_create(flow=upstream, labels=labels)
    TaskRun.objects.create(
        execution=execution, task_id="only", state=state, outputs={"value": output}
    )
    execution.state = state
    execution.outputs = {"result": output}
    execution.save()
    return execution


def started_by(trigger_id: str) -> list[Execution]:
    return [e for e in Execution.objects.all() if (e.trigger or {}).get("id") == trigger_id]


LISTEN_A = """  - id: after-a
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      upstream: "{{ trigger.executionId }}"
      said: "{{ outputs.only.value }}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: t.up
        flowId: a
"""
INPUTS = "inputs:\n  - id: upstream\n    type: STRING\n  - id: said\n    type: STRING\n"


def test_the_index_narrows_to_what_conditions_and_preconditions_name() -> None:
    flow("b", "t.down", triggers=LISTEN_A, inputs=INPUTS)
    flow(
        "c",
        "t.down",
        triggers="""  - id: any-in-t
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionNamespace
        namespace: t.
        comparison: PREFIX
""",
    )
    flow(
        "d",
        "t.down",
        triggers="""  - id: both
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      flows:
        - {namespace: t.up, flowId: a, states: [SUCCESS]}
        - {namespace: t.up, flowId: z}
""",
    )
    flow("e", "t.down", triggers="  - id: all\n    type: io.kestra.plugin.core.trigger.Flow\n")
    rows = {
        (r.flow_id, r.source_namespace, r.prefix, r.source_flow_id, r.states)
        for r in FlowTriggerIndex.objects.all()
    }
    assert rows == {
        ("b", "t.up", False, "a", ",SUCCESS,"),
        ("c", "t.", True, "", ""),
        ("d", "t.up", False, "a", ",SUCCESS,"),
        ("d", "t.up", False, "z", ""),
        ("e", "", False, "", ""),
    }


def test_lookup_follows_the_index_and_never_returns_the_flow_itself() -> None:
    a = flow("a")
    flow("b", "t.down", triggers=LISTEN_A, inputs=INPUTS)
    flow(
        "far",
        "elsewhere",
        triggers="""  - id: other
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: elsewhere
        flowId: x
""",
    )
    self_listener = flow(
        "self",
        "t.up",
        triggers="""  - id: ns
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionNamespace
        namespace: t.up
""",
    )
    assert listeners_of(ended(a)) == [("t.down", "b", "after-a"), ("t.up", "self", "ns")]
    assert listeners_of(ended(a, State.FAILED)) == [("t.up", "self", "ns")]
    assert listeners_of(ended(self_listener)) == []


def test_an_ended_execution_starts_the_listener_once_with_rendered_inputs() -> None:
    a = flow("a")
    b = flow("b", "t.down", triggers=LISTEN_A, inputs=INPUTS)
    upstream = ended(a, output="from a")
    on_execution_ended(upstream)
    on_execution_ended(upstream)  # a replayed hook starts nothing more
    [child] = started_by("after-a")
    assert (child.namespace, child.flow_id) == ("t.down", "b")
    assert child.inputs == {"upstream": upstream.id, "said": "from a"}
    assert child.trigger["type"] == "io.kestra.plugin.core.trigger.Flow"
    assert child.trigger["variables"] == {
        "executionId": upstream.id, "namespace": "t.up", "flowId": "a",
        "flowRevision": a.revision, "state": "SUCCESS", "outputs": {"result": "from a"},
        "executionLabels": upstream.labels,
    }  # fmt: skip
    assert TriggerFire.objects.get().source_execution_id == upstream.id
    assert b.flow_id == "b"


def test_false_conditions_and_disabled_listeners_start_nothing() -> None:
    a = flow("a")
    b = flow("b", "t.down", triggers=LISTEN_A, inputs=INPUTS)
    on_execution_ended(ended(a, State.FAILED))
    assert started_by("after-a") == []
    flow_set_disabled(flow=b, disabled=True)
    assert not FlowTriggerIndex.objects.filter(flow_id="b").exists()
    on_execution_ended(ended(a))
    assert started_by("after-a") == []


def test_preconditions_wait_for_every_upstream_flow() -> None:
    a, b = flow("a"), flow("b")
    flow(
        "joined",
        "t.down",
        triggers="""  - id: both
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      flows:
        - {namespace: t.up, flowId: a, states: [SUCCESS]}
        - {namespace: t.up, flowId: b, states: [SUCCESS]}
""",
    )
    for upstream in (a, a, b, b):
        on_execution_ended(ended(upstream))
    [child] = started_by("both")
    assert child.trigger["variables"]["flowId"] == "b"


def test_kestra_corpus_listeners_fire_on_trigger_flow() -> None:
    if not CORPUS.is_dir():
        pytest.skip("the Kestra corpus is not next to the project")
    for name in (
        "trigger-flow", "trigger-flow-listener", "trigger-flow-listener-no-inputs",
        "trigger-flow-listener-namespace-condition",
    ):  # fmt: skip
        flow_deploy(source=(CORPUS / f"{name}.yaml").read_text())
    from flows.selectors import flow_get

    upstream = ended(flow_get("io.kestra.tests.trigger", "trigger-flow"), output="from parents: x")
    on_execution_ended(upstream)
    children = {e.flow_id: e for e in Execution.objects.exclude(pk=upstream.pk)}
    assert set(children) == {
        "trigger-flow-listener", "trigger-flow-listener-no-inputs",
        "trigger-flow-listener-namespace-condition",
    }  # fmt: skip
    listener = children["trigger-flow-listener"]
    assert listener.inputs == {"from-parent": "from parents: x"}
    for child in children.values():
        assert child.trigger["variables"]["executionId"] == upstream.id
        assert child.trigger["variables"]["flowId"] == "trigger-flow"


def test_an_expression_filter_written_for_one_upstream_does_not_stop_the_others() -> None:
    """Kestra's flow-trigger-preconditions corpus flow: ``labels.some`` exists only on the
    executions of ``a``; for ``b`` the field filters decide and the expression is not run."""
    a = flow_deploy(
        source="id: a\nnamespace: t.up\nlabels:\n  some: label\n"
        f"tasks:\n  - id: only\n    type: {RETURN}\n    format: x\n"
    ).flow
    b = flow("b")
    flow(
        "joined",
        "t.down",
        triggers="""  - id: both
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      where:
        - id: from-a
          filters:
            - {field: FLOW_ID, type: EQUAL_TO, value: a}
            - {field: EXPRESSION, type: IS_TRUE, value: "{{ labels.some == 'label' }}"}
        - id: from-b
          filters:
            - {field: NAMESPACE, type: ENDS_WITH, value: .up}
            - {field: FLOW_ID, type: EQUAL_TO, value: b}
""",
    )
    for upstream in (a, a, b):
        on_execution_ended(ended(upstream))
    [child] = started_by("both")
    assert child.trigger["variables"]["flowId"] == "b"


def test_kestra_corpus_preconditions_fire_after_a_a_b() -> None:
    if not CORPUS.is_dir():
        pytest.skip("the Kestra corpus is not next to the project")
    from flows.selectors import flow_get

    names = ("flow-a", "flow-b", "flow-listen")
    for name in names:
        flow_deploy(source=(CORPUS / f"flow-trigger-preconditions-{name}.yaml").read_text())
    ns = "io.kestra.tests.trigger.preconditions"
    a = flow_get(ns, "flow-trigger-preconditions-flow-a")
    b = flow_get(ns, "flow-trigger-preconditions-flow-b")
    for upstream in (a, a):
        on_execution_ended(ended(upstream))
    assert started_by("flow") == []
    on_execution_ended(ended(b))
    [child] = started_by("flow")
    assert child.flow_id == "flow-trigger-preconditions-flow-listen"
