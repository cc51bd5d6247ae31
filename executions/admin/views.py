"""The execution page: overview, Gantt, topology, live logs, outputs and the action forms.

Reads only; the forms post to ``admin_actions``. Heavy parts are bounded (Gantt rows, task-run
table, output text) so an execution with a huge ForEach still renders quickly; the logs are
not in the page at all but fetched in pages by the browser (``admin_logs``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from access.policy import Action, check, readable
from executions.admin.common import (
    STATE_ORDER,
    duration,
    file_name,
    format_duration,
    state_color,
    storage_uris,
    trigger_label,
)
from executions.admin.failure import failure_summary
from executions.admin.forms import InputsForm
from executions.admin.gantt import GanttBar, GanttRow, gantt_svg
from executions.admin.logs import state_stamp
from executions.admin.topology import node_statuses, topology_svg
from executions.log_levels import LEVELS
from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime.loading import execution_flow_spec
from executions.services import RESTARTABLE, SETTABLE_TASK_RUN_STATES
from flows.graph import flow_graph
from flows.models import Flow
from kernel.secrets import shown, shown_inputs
from kernel.spec.model import FlowSpec, InputSpec
from kernel.states import TERMINAL, State
from kernel.storage import StorageError
from orchestrator.storage import default_storage

#: Rows drawn in the Gantt chart and listed in the task-run table.
MAX_ROWS = 300
#: Characters of one task run's outputs shown before "…".
MAX_OUTPUT_CHARS = 20_000
#: Trigger variables shown in the overview, and characters of each value.
MAX_TRIGGER_VARIABLES = 20
MAX_TRIGGER_CHARS = 120


def execution_for(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> Execution:
    """The execution, or 404; the user must be allowed to view executions."""
    execution = Execution.objects.filter(pk=object_id).first()
    if execution is None:
        raise Http404(f"execution {object_id} does not exist")
    if not model_admin.has_view_or_change_permission(request, execution):
        raise PermissionDenied
    check(request.user, execution.namespace, Action.READ)  # namespace access (issue 6)
    return execution


@dataclass
class FileLink:
    path: str
    uri: str
    name: str
    url: str


@dataclass
class RunRow:
    run: TaskRun
    depth: int
    attempts: list[TaskRunAttempt] = field(default_factory=list)
    outputs_text: str = ""
    files: list[FileLink] = field(default_factory=list)
    #: The first run of its task carries the ``task-<id>`` anchor the topology links to.
    first_of_task: bool = False

    @property
    def duration(self) -> str:
        return format_duration(duration(self.run.started_at, self.run.ended_at, timezone.now()))

    @property
    def elapsed(self) -> float | None:
        """Seconds so far while the run is going (the page ticks it on); else None."""
        return running_seconds(self.run.started_at, self.run.ended_at, self.run.state)

    @property
    def label(self) -> str:
        value = shown(self.run.value)  # a loop over secrets shows masked values (issue 21)
        return self.run.task_id + (f" [{value}]" if value is not None else "")


def running_seconds(started_at, ended_at, state: str) -> float | None:  # noqa: ANN001
    """Seconds since ``started_at`` for something still going, else None (nothing ticks)."""
    if started_at is None or ended_at is not None or state in TERMINAL:
        return None
    return max((timezone.now() - started_at).total_seconds(), 0.0)


def file_links(execution: Execution, value: Any) -> list[FileLink]:
    """Download links for the storage URIs inside ``value`` (inputs or outputs)."""
    url = reverse("admin:executions_execution_file", args=[execution.id])
    return [
        FileLink(path, uri, file_name(uri), f"{url}?{urlencode({'uri': uri})}")
        for path, uri in storage_uris(value)
    ]


def _depths(runs: list[TaskRun]) -> dict[str, int]:
    by_id = {r.id: r for r in runs}
    depths: dict[str, int] = {}

    def depth(run: TaskRun) -> int:
        if run.id not in depths:
            parent = by_id.get(run.parent_id or "")
            depths[run.id] = 0 if parent is None else depth(parent) + 1
        return depths[run.id]

    for run in runs:
        depth(run)
    return depths


def execution_spec(execution: Execution) -> tuple[FlowSpec | None, str]:
    """The revision the execution ran, or None and why it cannot be shown."""

    try:
        return execution_flow_spec(execution), ""
    except Exception as exc:  # a flow gone or unparsable must not break the page
        return None, f"the flow's revision cannot be shown: {exc}"


def on_resume_specs(spec: FlowSpec | None, runs: list[TaskRun]) -> list[InputSpec]:
    """The ``onResume`` inputs declared by the paused tasks (what resuming asks for)."""
    if spec is None:
        return []
    specs: dict[str, InputSpec] = {}
    for run in runs:
        if run.state != State.PAUSED:
            continue
        try:
            task = spec.task(run.task_id)
        except KeyError:
            continue
        for item in task.properties.get("onResume") or []:
            if isinstance(item, dict) and item.get("id"):
                options = {k: v for k, v in item.items() if k not in ("id", "type")}
                specs[item["id"]] = InputSpec(item["id"], item.get("type", "STRING"), options)
    return list(specs.values())


def _rows(execution: Execution, runs: list[TaskRun]) -> list[RunRow]:
    depths = _depths(runs)
    attempts: dict[str, list[TaskRunAttempt]] = {}
    for attempt in TaskRunAttempt.objects.filter(execution=execution).order_by("number"):
        attempts.setdefault(attempt.task_run_id, []).append(attempt)
    rows = []
    seen: set[str] = set()
    for run in runs[:MAX_ROWS]:
        text = json.dumps(shown(run.outputs), indent=2, default=str) if run.outputs else ""
        if len(text) > MAX_OUTPUT_CHARS:
            text = text[:MAX_OUTPUT_CHARS] + "\n…"
        rows.append(
            RunRow(run, depths[run.id], attempts.get(run.id, []), text,
                   file_links(execution, run.outputs), run.task_id not in seen)
        )  # fmt: skip
        seen.add(run.task_id)
    return rows


def gantt_legend(rows: list[RunRow]) -> list[tuple[str, str]]:
    """``(state, colour)`` of every state drawn in the Gantt, in the states' life order."""
    seen = {r.run.state for r in rows} | {a.state for r in rows for a in r.attempts}
    return [(str(s), state_color(s)) for s in STATE_ORDER if s in seen]


def _gantt(rows: list[RunRow]) -> str:
    chart_rows = [
        GanttRow(
            label=row.label, depth=row.depth, state=row.run.state,
            start=row.run.started_at or row.run.created_at, end=row.run.ended_at,
            attempts=tuple(
                GanttBar(a.state, a.started_at, a.ended_at, f"attempt {a.number}")
                for a in row.attempts
            ),
            href=f"#taskrun-{row.run.id}",
        )
        for row in rows
    ]  # fmt: skip
    return gantt_svg(chart_rows, now=timezone.now())


def _topology(spec: FlowSpec | None, runs: list[TaskRun]) -> str:
    if spec is None:
        return ""
    statuses = node_statuses((r.task_id, r.state, r.value) for r in runs)
    return topology_svg(flow_graph(spec), statuses, link_prefix="#task-")


def _trigger(execution: Execution, user: Any) -> dict[str, Any]:
    """What started the execution: the trigger's kind and id, and its variables (a schedule's
    dates, a webhook's body, the upstream execution...) one line each, secrets masked and cut
    short; ``trigger_upstream`` is the execution a Flow trigger or a subflow names, when
    ``user`` may read its namespace."""
    trigger = execution.trigger or {}
    variables = shown(trigger.get("variables") or {})
    if not isinstance(variables, dict):
        variables = {"variables": variables}
    lines = []
    for key, value in list(variables.items())[:MAX_TRIGGER_VARIABLES]:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > MAX_TRIGGER_CHARS:
            text = text[: MAX_TRIGGER_CHARS - 1] + "…"
        lines.append((str(key), text))
    upstream_id = variables.get("executionId")
    upstream = (
        readable(Execution.objects.filter(pk=upstream_id), user)
        .only("id", "namespace", "flow_id")
        .first()
        if isinstance(upstream_id, str) and upstream_id
        else None
    )
    return {
        "trigger": execution.trigger,
        "trigger_kind": trigger_label(trigger.get("type")) or "manual",
        "trigger_variables": lines,
        "more_trigger_variables": max(len(variables) - MAX_TRIGGER_VARIABLES, 0),
        "trigger_upstream": upstream,
    }


def _related(execution: Execution) -> dict[str, Any]:
    return {
        "parent": execution.parent_execution,
        "children": list(Execution.objects.filter(parent_execution=execution)[:100]),
        "original": Execution.objects.filter(pk=execution.original_id).first()
        if execution.original_id
        else None,
        "replays": list(Execution.objects.filter(original_id=execution.id)[:50]),
    }


def execution_page(
    model_admin: ModelAdmin,
    request: HttpRequest,
    object_id: str,
    *,
    resume_form: InputsForm | None = None,
) -> HttpResponse:
    """The whole page. Action forms post to their own URLs and come back here (a resume
    form with errors is passed back in ``resume_form``, and the answer is a 400)."""
    # The stamp first: a worker's claim between reading the runs and the stamp would leave
    # the page showing the run CREATED under a stamp that already counts its claim.
    stamp = state_stamp(object_id)
    execution = execution_for(model_admin, request, object_id)
    runs = list(TaskRun.objects.filter(execution=execution).order_by("seq"))
    spec, spec_problem = execution_spec(execution)
    rows = _rows(execution, runs)
    can_change = model_admin.has_change_permission(request, execution)
    resume_specs = on_resume_specs(spec, runs) if execution.state == State.PAUSED else []
    base = reverse("admin:executions_execution_action", args=[execution.id, "_"])[:-2]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Execution {execution.id}",
        "subtitle": f"{execution.namespace}.{execution.flow_id}",
        "execution": execution,
        "terminal": execution.state in TERMINAL,
        "duration": format_duration(
            duration(execution.started_at, execution.ended_at, timezone.now())
        ),
        "elapsed": running_seconds(execution.started_at, execution.ended_at, execution.state),
        "inputs": [
            (k, json.dumps(v, default=str))
            for k, v in shown_inputs(execution.inputs or {}).items()
        ],
        "input_files": file_links(execution, execution.inputs),
        "outputs_text": json.dumps(shown(execution.outputs), indent=2, default=str)
        if execution.outputs
        else "",
        "labels": sorted(shown(execution.labels or {}).items()),
        **_trigger(execution, request.user),
        **_flow_links(execution),
        "stamp": stamp,
        **_related(execution),
        "rows": rows,
        "failures": failure_summary(execution, runs),
        "gantt_legend": gantt_legend(rows),
        "more_rows": max(len(runs) - MAX_ROWS, 0),
        "gantt": mark_safe(_gantt(rows)),  # noqa: S308 - built with html.escape throughout
        "topology": mark_safe(_topology(spec, runs)),  # noqa: S308 - idem
        "spec_problem": spec_problem,
        "levels": LEVELS,
        "logs_url": reverse("admin:executions_execution_logs", args=[execution.id]),
        "state_url": reverse("admin:executions_execution_state", args=[execution.id]),
        "action_base": base,
        "can_change": can_change,
        "can_kill": can_change and execution.state not in TERMINAL
        and execution.state != State.KILLING,
        "can_restart": can_change and execution.state in RESTARTABLE,
        "can_replay": can_change and execution.state in TERMINAL,
        "can_force": can_change and execution.state in (State.CREATED, State.QUEUED),
        "can_pause": can_change and execution.state == State.RUNNING,
        "can_unqueue": can_change and execution.state == State.QUEUED,
        "can_resume": can_change and execution.state == State.PAUSED,
        "resume_form": resume_form
        or (InputsForm(resume_specs) if execution.state == State.PAUSED else None),
        "ended_runs": [r for r in runs if r.state in TERMINAL],
        "settable_states": [s.value for s in SETTABLE_TASK_RUN_STATES],
    }  # fmt: skip
    status = 400 if resume_form is not None else 200
    return TemplateResponse(request, "admin/executions/execution/page.html", context, status=status)


def _flow_links(execution: Execution) -> dict[str, str]:
    """Links to the flow's admin page and to the revision this execution ran."""

    flow = (
        Flow.objects.filter(namespace__name=execution.namespace, flow_id=execution.flow_id)
        .values_list("pk", flat=True)
        .first()
    )
    if flow is None:
        return {"flow_url": "", "revision_url": ""}
    return {
        "flow_url": reverse("admin:flows_flow_change", args=[flow]),
        "revision_url": reverse("admin:flows_flow_revision", args=[flow, execution.flow_revision]),
    }


def file_download(request: HttpRequest, execution: Execution) -> HttpResponse:
    """One stored file of this execution (or of an execution it descends from, whose files
    it was given), as an attachment. Any other URI is a 404."""
    uri = request.GET.get("uri", "")
    storage = default_storage()
    owner: Execution | None = execution
    allowed = False
    for _ in range(10):  # parents of parents: a bounded walk
        if owner is None:
            break
        if storage.belongs_to(uri, owner.namespace, owner.flow_id, owner.id):
            allowed = True
            break
        owner = owner.parent_execution
    if not allowed:
        raise Http404("no such file in this execution")
    try:
        stream = storage.open(uri)
    except StorageError:
        raise Http404("no such file in this execution") from None
    return FileResponse(stream, as_attachment=True, filename=file_name(uri))
