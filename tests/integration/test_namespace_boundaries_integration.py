"""Issue 21 through real workers: a flow's kv tasks, ``kv()`` and Subflow stop at another
namespace's boundary, and an allowed-namespaces entry opens it (the unit of each attack is
in tests/security/test_namespace_boundaries.py)."""

from __future__ import annotations

import pytest

from executions.models import Execution, LogEntry, TaskRun
from executions.services import execution_create, execution_wait
from flows.services import flow_deploy
from kernel.states import State
from kv.models import KVEntry
from kv.services import kv_set
from namespaces.allowed import allowed_namespace_add

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

THIEF = """
id: thief
namespace: it.attacker
tasks:
  - id: plant
    type: io.kestra.plugin.core.kv.Set
    namespace: it.victim
    key: token
    value: pwned
    allowFailure: true
  - id: peek
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('token', 'it.victim') }}"
    allowFailure: true
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: it.victim
    flowId: payroll
"""
PAYROLL = """
id: payroll
namespace: it.victim
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: salaries
"""


def run_thief() -> tuple[Execution, dict[str, TaskRun]]:
    done = execution_wait(execution_create(flow=flow_deploy(source=THIEF).flow).id, timeout=60)
    return done, {r.task_id: r for r in TaskRun.objects.filter(execution=done)}


def test_a_flow_run_by_workers_stays_inside_its_boundary(workers) -> None:
    kv_set("it.victim", "token", "victim-token")
    flow_deploy(source=PAYROLL)

    done, runs = run_thief()

    assert done.state == State.FAILED
    assert runs["plant"].state == runs["peek"].state == State.FAILED  # allowed to fail
    assert runs["call"].state == State.FAILED
    assert list(KVEntry.objects.values_list("namespace", "key", "value")) == [
        ("it.victim", "token", "victim-token")
    ]
    assert not Execution.objects.filter(namespace="it.victim").exists()
    messages = " ".join(
        LogEntry.objects.filter(execution_id=done.id).values_list("message", flat=True)
    )
    assert "victim-token" not in messages
    assert messages.count("does not allow flows of namespace 'it.attacker'") >= 3


def test_an_allowed_namespaces_entry_lets_the_same_flow_in(workers) -> None:
    kv_set("it.victim", "token", "victim-token")
    flow_deploy(source=PAYROLL)
    allowed_namespace_add(namespace="it.victim", allowed="it.attacker")

    done, runs = run_thief()

    assert done.state == State.SUCCESS
    assert runs["peek"].outputs == {"value": "pwned"}
    assert Execution.objects.get(namespace="it.victim").state == State.SUCCESS
