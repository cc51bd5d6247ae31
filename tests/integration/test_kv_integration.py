"""KV tasks and the kv() function in a flow run by real workers."""

from __future__ import annotations

import pytest

from executions.models import TaskRun
from executions.services import execution_create, execution_wait
from flows.services import flow_deploy
from kernel.states import State
from kv.services import kv_get

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_flow_sets_reads_lists_and_deletes_keys(workers) -> None:
    flow = flow_deploy(
        source="""
id: kv-flow
namespace: it.kv
tasks:
  - id: put
    type: io.kestra.plugin.core.kv.Set
    key: config
    value: {"field": "value"}
    kvType: JSON
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('config').field }}"
  - id: get
    type: io.kestra.plugin.core.kv.Get
    key: config
  - id: list
    type: io.kestra.plugin.core.kv.GetKeys
  - id: drop
    type: io.kestra.plugin.core.kv.Delete
    key: config
  - id: again
    type: io.kestra.plugin.core.kv.Get
    key: config
    errorOnMissing: true
"""
    ).flow
    done = execution_wait(execution_create(flow=flow).id, timeout=60)
    outputs = dict(TaskRun.objects.filter(execution=done).values_list("task_id", "outputs"))
    assert outputs["read"] == {"value": "value"}
    assert outputs["get"] == {"value": {"field": "value"}}
    assert outputs["list"] == {"keys": ["config"]}
    assert outputs["drop"] == {"deleted": True}
    assert done.state == State.FAILED  # `again` asked for a missing key
    with pytest.raises(LookupError):
        kv_get("it.kv", "config")
