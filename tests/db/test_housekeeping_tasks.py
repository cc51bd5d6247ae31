"""Kestra's housekeeping tasks (PurgeExecutions, PurgeLogs, Count, log Fetch) on real
records: they act inside the running flow's namespace only, delete only finished executions
and never the running one."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from executions.models import Execution, LogEntry
from executions.services import execution_create
from executions.services.records import ExecutionRecords
from flows.services import flow_deploy
from kernel.expressions.render import evaluate
from kernel.plugin import TaskFailed
from kernel.states import State
from plugins.core.housekeeping import Count, Fetch, PurgeExecutions, PurgeLogs
from tests.unit.fake_context import FakeContext

pytestmark = pytest.mark.django_db


def deploy(namespace: str, flow_id: str):  # noqa: ANN201
    return flow_deploy(
        source=f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n  - id: a\n"
        "    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    ).flow


def ended(flow, state: State = State.SUCCESS, *, days_ago: int = 10) -> Execution:
    execution = execution_create(flow=flow)
    created = timezone.now() - timedelta(days=days_ago)
    Execution.objects.filter(pk=execution.pk).update(state=state, created_at=created)
    LogEntry.objects.create(execution=execution, task_id="a", timestamp=created, level="DEBUG",
                            message="noise")  # fmt: skip
    LogEntry.objects.create(execution=execution, task_id="a", timestamp=created, level="ERROR",
                            message="it broke")  # fmt: skip
    return Execution.objects.get(pk=execution.pk)


@pytest.fixture
def world(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "storage"
    mine, inner, theirs = (
        deploy("co.team", "etl"),
        deploy("co.team.sub", "load"),
        deploy("co.other", "x"),
    )
    running = execution_create(flow=mine)  # the execution running the housekeeping task
    Execution.objects.filter(pk=running.pk).update(
        state=State.RUNNING, created_at=timezone.now() - timedelta(days=30)
    )
    ctx = FakeContext(tmp_path)
    ctx.namespace, ctx.execution_id = "co.team", running.id
    ctx.records = ExecutionRecords("co.team", running.id)
    ctx.render = lambda value, extra=None: evaluate(value, dict(extra or {}))
    return {"mine": mine, "inner": inner, "theirs": theirs, "running": running, "ctx": ctx}


def test_purge_executions_deletes_finished_ones_in_scope_only(world) -> None:
    old_ok, old_failed = ended(world["mine"]), ended(world["inner"], State.FAILED)
    recent, neighbour = ended(world["mine"], days_ago=1), ended(world["theirs"])
    end = (timezone.now() - timedelta(days=5)).isoformat()

    outputs = PurgeExecutions().run({"endDate": end}, world["ctx"])

    assert outputs["executionsCount"] == 2
    assert outputs["logsCount"] == 4
    left = set(Execution.objects.values_list("id", flat=True))
    assert left == {recent.id, neighbour.id, world["running"].id}
    assert old_ok.id not in left
    assert old_failed.id not in left


def test_purge_executions_by_state_and_logs_only(world) -> None:
    ok, failed = ended(world["mine"]), ended(world["mine"], State.FAILED)
    end = timezone.now().isoformat()

    outputs = PurgeExecutions().run(
        {"endDate": end, "states": ["FAILED"], "purgeExecution": False}, world["ctx"]
    )

    assert outputs["executionsCount"] == 0
    assert outputs["logsCount"] == 2
    assert Execution.objects.filter(pk__in=[ok.id, failed.id]).count() == 2
    assert not LogEntry.objects.filter(execution=failed).exists()
    assert LogEntry.objects.filter(execution=ok).count() == 2


def test_purge_logs_by_level(world) -> None:
    gone = ended(world["inner"])

    outputs = PurgeLogs().run(
        {"endDate": timezone.now().isoformat(), "logLevels": ["DEBUG", "TRACE"]}, world["ctx"]
    )

    assert outputs == {"count": 1}
    assert list(LogEntry.objects.filter(execution=gone).values_list("level", flat=True)) == [
        "ERROR"
    ]


@pytest.mark.parametrize("task", [PurgeExecutions, PurgeLogs])
def test_another_namespace_is_refused_and_nothing_changes(world, task) -> None:
    neighbour = ended(world["theirs"])

    with pytest.raises(TaskFailed, match="outside this flow's namespace 'co.team'"):
        task().run({"endDate": timezone.now().isoformat(), "namespace": "co.other"}, world["ctx"])
    with pytest.raises(TaskFailed, match="outside"):
        task().run({"endDate": timezone.now().isoformat(), "namespace": "co.teamx"}, world["ctx"])
    assert LogEntry.objects.filter(execution=neighbour).count() == 2


def test_count_per_flow_with_an_expression(world) -> None:
    ended(world["mine"]), ended(world["mine"]), ended(world["inner"], State.FAILED)
    start = (timezone.now() - timedelta(days=20)).isoformat()

    every = Count().run({"startDate": start}, world["ctx"])
    named = Count().run(
        {"startDate": start, "states": ["SUCCESS"], "expression": "{{ count == 0 }}",
         "flows": [{"namespace": "co.team", "flowId": "etl"},
                   {"namespace": "co.team.sub", "flowId": "load"}]},
        world["ctx"],
    )  # fmt: skip

    assert every["results"] == [
        {"namespace": "co.team", "flowId": "etl", "count": 2},
        {"namespace": "co.team.sub", "flowId": "load", "count": 1},
    ]
    assert named == {"results": [{"namespace": "co.team.sub", "flowId": "load", "count": 0}],
                     "total": 1}  # fmt: skip


def test_fetch_stores_this_executions_logs_from_a_level(world) -> None:
    running = world["running"]
    LogEntry.objects.create(execution=running, task_id="a", timestamp=timezone.now(),
                            level="INFO", message="hello")  # fmt: skip
    LogEntry.objects.create(execution=running, task_id="b", timestamp=timezone.now(),
                            level="DEBUG", message="quiet")  # fmt: skip

    outputs = Fetch().run({"level": "INFO"}, world["ctx"])

    assert outputs["size"] == 1
    [line] = [json.loads(x) for x in world["ctx"].open_uri(outputs["uri"]).read_text().splitlines()]
    assert (line["taskId"], line["level"], line["message"]) == ("a", "INFO", "hello")
    neighbour = ended(world["theirs"])
    with pytest.raises(TaskFailed, match="outside"):
        Fetch().run({"executionId": neighbour.id}, world["ctx"])


def test_purge_kv_by_pattern_and_expiry_inside_the_namespace(world) -> None:
    from kv.models import KVEntry
    from kv.services import kv_set
    from plugins.core.housekeeping import PurgeKV

    for namespace in ("co.team", "co.team.sub", "co.other"):
        kv_set(namespace, "cache_a", 1)
        kv_set(namespace, "keep", 2)
    kv_set("co.team", "cache_old", 3, ttl="PT1S")
    KVEntry.objects.filter(key="cache_old").update(expires_at=timezone.now() - timedelta(hours=1))

    expired = PurgeKV().run({"expiredOnly": True}, world["ctx"])
    by_pattern = PurgeKV().run({"keyPattern": "cache_*"}, world["ctx"])

    assert expired == {"size": 1}
    assert by_pattern == {"size": 2}
    left = sorted(KVEntry.objects.values_list("namespace", "key"))
    assert left == [("co.other", "cache_a"), ("co.other", "keep"), ("co.team", "keep"),
                    ("co.team.sub", "keep")]  # fmt: skip
    with pytest.raises(TaskFailed, match="outside this flow's namespace"):
        PurgeKV().run({"namespaces": ["co.other"]}, world["ctx"])


def test_toggle_flips_or_sets_a_trigger_in_scope(world) -> None:
    from plugins.core.housekeeping import Toggle
    from triggers.models import TriggerState

    flow_deploy(
        source="id: nightly\nnamespace: co.team.sub\ntasks:\n  - id: a\n"
        "    type: io.kestra.plugin.core.log.Log\n    message: hi\ntriggers:\n"
        "  - id: tick\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '0 2 * * *'\n"
    )
    props = {"namespace": "co.team.sub", "flowId": "nightly", "trigger": "tick"}

    assert Toggle().run(props, world["ctx"]) == {"enabled": False}
    assert TriggerState.objects.get(trigger_id="tick").disabled is True
    assert Toggle().run(props, world["ctx"]) == {"enabled": True}
    assert Toggle().run({**props, "enabled": True}, world["ctx"]) == {"enabled": True}
    with pytest.raises(TaskFailed, match="no trigger 'nope'"):
        Toggle().run({**props, "trigger": "nope"}, world["ctx"])
    with pytest.raises(TaskFailed, match="outside"):
        Toggle().run({**props, "namespace": "co.other"}, world["ctx"])
