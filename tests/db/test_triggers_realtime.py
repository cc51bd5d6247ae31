"""The realtime triggers runtime without a broker: one execution per delivery key, the
trigger's conditions, and which listeners the role keeps (issue 17)."""

from __future__ import annotations

import pytest

from executions.models import Execution
from flows.services import flow_deploy, flow_set_disabled
from kernel.plugin import Delivery
from triggers.models import TriggerFire
from triggers.realtime import (
    Listening,
    RealtimeRole,
    TriggerGone,
    armed_realtime,
    realtime_fire,
)
from triggers.schedules import live_trigger

pytestmark = pytest.mark.django_db

FLOW = """id: rt
namespace: db.realtime
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.data }}"
triggers:
  - id: watch
    type: io.kestra.plugin.amqp.RealtimeTrigger
    host: 127.0.0.1
    queue: q
    inputs: {}
    labels:
      source: "{{ trigger.routingKey }}"
"""


def _fire(key: str, variables: dict) -> bool:
    flow, spec, trigger = live_trigger("db.realtime", "rt", "watch")
    return realtime_fire(flow, spec, trigger, Delivery(key=key, variables=variables))


def test_a_delivery_key_starts_one_execution_however_often_it_comes() -> None:
    flow_deploy(source=FLOW)
    assert _fire("amqp:m1", {"data": "hello", "routingKey": "orders"}) is True
    assert _fire("amqp:m1", {"data": "hello", "routingKey": "orders"}) is False
    assert _fire("amqp:m2", {"data": "again", "routingKey": "orders"}) is True
    executions = list(Execution.objects.filter(flow_id="rt").order_by("created_at"))
    assert [e.trigger["variables"]["data"] for e in executions] == ["hello", "again"]
    assert executions[0].trigger["id"] == "watch"
    assert executions[0].labels["source"] == "orders"
    assert set(TriggerFire.objects.values_list("event_key", flat=True)) == {"amqp:m1", "amqp:m2"}


def test_conditions_refuse_a_message_without_starting_anything() -> None:
    flow_deploy(
        source=FLOW.replace(
            "    inputs: {}\n",
            "    inputs: {}\n    conditions:\n"
            "      - type: io.kestra.plugin.core.condition.Expression\n"
            "        expression: \"{{ trigger.data == 'yes' }}\"\n",
        )
    )
    assert _fire("amqp:no", {"data": "no", "routingKey": "k"}) is False
    assert _fire("amqp:yes", {"data": "yes", "routingKey": "k"}) is True
    assert Execution.objects.filter(flow_id="rt").count() == 1


def test_labels_that_do_not_render_are_recorded_not_retried() -> None:
    flow_deploy(source=FLOW)
    assert _fire("amqp:bad", {"data": "no routing key"}) is False
    fire = TriggerFire.objects.get(event_key="amqp:bad")
    assert "routingKey" in fire.error
    assert fire.execution_id == ""
    assert not Execution.objects.filter(flow_id="rt").exists()


def test_the_role_listens_to_armed_triggers_of_enabled_flows_only() -> None:
    flow = flow_deploy(source=FLOW).flow
    wanted = armed_realtime()
    assert list(wanted) == [("db.realtime", "rt", "watch")]
    first = wanted[("db.realtime", "rt", "watch")]
    flow_deploy(source=FLOW.replace("queue: q", "queue: other"))
    assert armed_realtime()[("db.realtime", "rt", "watch")] != first  # changed: restart
    flow_set_disabled(flow=flow, disabled=True)
    assert armed_realtime() == {}


def test_reconcile_starts_and_stops_listeners(monkeypatch) -> None:
    started: list = []
    monkeypatch.setattr("triggers.realtime.Listener.start", lambda self: started.append(self))
    monkeypatch.setattr("triggers.realtime.Listener.is_alive", lambda self: True)
    monkeypatch.setattr("triggers.realtime.Listener.join", lambda self, timeout=None: None)
    role = RealtimeRole()
    role.reconcile({("n", "f", "t"): "sig1"})
    assert [listener.key for listener in started] == [("n", "f", "t")]
    role.reconcile({("n", "f", "t"): "sig1"})
    assert len(started) == 1  # unchanged: left alone
    role.reconcile({("n", "f", "t"): "sig2"})
    assert len(started) == 2
    assert started[0].stop_event.is_set()
    role.reconcile({})
    assert started[1].stop_event.is_set()
    assert role.listeners == {}


def test_a_redeploy_that_keeps_the_trigger_runs_the_new_tasks() -> None:
    flow_deploy(source=FLOW)
    ctx = Listening("db.realtime", "rt", "watch")
    flow_deploy(source=FLOW.replace('format: "{{ trigger.data }}"', 'format: "v2"'))
    assert ctx.fire(Delivery(key="amqp:x", variables={"data": "d", "routingKey": "k"})) is True
    execution = Execution.objects.get(flow_id="rt")
    assert execution.flow_revision == 2


def test_a_message_for_a_flow_disabled_meanwhile_is_left_to_the_broker() -> None:
    flow = flow_deploy(source=FLOW).flow
    ctx = Listening("db.realtime", "rt", "watch")
    flow_set_disabled(flow=flow, disabled=True)
    with pytest.raises(TriggerGone):
        ctx.fire(Delivery(key="amqp:y", variables={"data": "d", "routingKey": "k"}))
    assert not TriggerFire.objects.exists()
