"""What the flow page shows about running the flow: the Execute button, the topology, the
latest executions and the triggers with their next fire times (issue 7).

Called by ``flows.admin.FlowAdmin.change_view``; reads only.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import mark_safe

from executions.admin.common import trigger_label
from executions.admin.execute import can_execute
from executions.admin.topology import topology_svg
from executions.models import Execution
from flows.graph import flow_graph
from flows.models import Flow
from flows.selectors import flow_spec
from kernel.spec.model import FlowSpec
from triggers.selectors import trigger_states

RECENT = 10


def _triggers(flow: Flow, spec: FlowSpec | None) -> list[dict[str, Any]]:
    """The flow's declared triggers with their state (armed, next and last fire), when the
    ``triggers`` app is installed."""
    if spec is None or not spec.triggers:
        return []
    states = {}
    if apps.is_installed("triggers"):
        states = {
            s.trigger_id: s
            for s in trigger_states(namespace=flow.namespace.name, flow_id=flow.flow_id)
            if s.namespace == flow.namespace.name
        }
    return [
        {
            "id": t.id,
            "kind": trigger_label(t.type),
            "disabled": t.disabled,
            "state": states.get(t.id),
        }
        for t in spec.triggers
    ]


def flow_panels(request: HttpRequest, flow: Flow) -> dict[str, Any]:
    """Extra context for the flow's change page."""
    try:
        spec: FlowSpec | None = flow_spec(flow)
        topology, problem = topology_svg(flow_graph(spec)), ""
    except Exception as exc:  # an unparsable stored source must not break the page
        spec, topology, problem = None, "", f"the topology cannot be drawn: {exc}"
    executions = Execution.objects.filter(
        namespace=flow.namespace.name, flow_id=flow.flow_id
    ).order_by("-created_at")
    changelist = reverse("admin:executions_execution_changelist")
    return {
        "flow_panels": True,
        "execute_url": reverse("admin:flows_flow_execute", args=[flow.pk])
        if can_execute(request.user) and not flow.deleted
        else "",
        "topology": mark_safe(topology),  # noqa: S308 - built with html.escape
        "topology_problem": problem,
        "recent_executions": list(executions[:RECENT]),
        "executions_url": f"{changelist}?flow={flow.namespace.name}/{flow.flow_id}",
        "triggers": _triggers(flow, spec),
    }
