"""Kestra's ``by-ids`` bulk actions on executions: restart, replay, resume, force-run, unqueue,
change-status and labels (kill and delete are in :mod:`executions.api.views_search`).

The body is the JSON list of execution ids (labels: ``{executionsId, executionLabels}``).
Every id gets a result: acted on (``ok: true``), or refused with the reason (missing, not
allowed, wrong state), without stopping the others. A malformed request is a 400 and acts on
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers

from executions.api.serializers import ByIdsResultSerializer
from executions.api.views_actions import CHANGEABLE, state_param
from executions.api.views_search import IDS_REQUEST, MAX_IDS, ids_body, report
from executions.services import actions
from flows.api.serializers import LabelSerializer
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem
from orchestrator.api.schema import PROBLEM_RESPONSES

UNQUEUE_STATES = ("RUNNING", "CANCELLED", "KILLED")

Bulk = Callable[..., list[actions.ItemResult]]


def _schema(operation: str, text: str, params: Sequence[OpenApiParameter] = (), body: Any = None):  # noqa: ANN202
    return extend_schema(
        operation_id=f"executions_{operation}_by_ids",
        request=body or IDS_REQUEST,
        parameters=list(params),
        responses={200: ByIdsResultSerializer, **PROBLEM_RESPONSES},
        description=text + " Each id gets a result; missing, forbidden or refused executions "
        "are reported (ok: false) and do not stop the others.",
    )


class _ByIdsView(ApiView):
    #: The bulk action, called with the ids and ``actor=``.
    bulk: Bulk = staticmethod(actions.executions_restart)

    def options_for(self, request) -> tuple[Any, ...]:
        """Extra positional arguments for :attr:`bulk` taken from the request."""
        return ()

    def post(self, request):
        ids = ids_body(request)
        return report(type(self).bulk(ids, *self.options_for(request), actor=request.user))


class RestartByIdsView(_ByIdsView):
    bulk = staticmethod(actions.executions_restart)

    @_schema("restart", "Restart each FAILED, KILLED or WARNING execution named.")
    def post(self, request):
        return super().post(request)


class ReplayByIdsView(_ByIdsView):
    bulk = staticmethod(actions.executions_replay)

    @_schema("replay", "Replay each ended execution named from its start (same flow revision); "
             "each message names the new execution.")  # fmt: skip
    def post(self, request):
        return super().post(request)


class ResumeByIdsView(_ByIdsView):
    bulk = staticmethod(actions.executions_resume)

    @_schema("resume", "Resume each PAUSED execution named (without onResume inputs).")
    def post(self, request):
        return super().post(request)


class PauseByIdsView(_ByIdsView):
    bulk = staticmethod(actions.executions_pause)

    @_schema("pause", "Pause each RUNNING execution named.")
    def post(self, request):
        return super().post(request)


class ForceRunByIdsView(_ByIdsView):
    bulk = staticmethod(actions.executions_force_run)

    @_schema("force_run", "Start each CREATED or QUEUED execution named now.")
    def post(self, request):
        return super().post(request)


class UnqueueByIdsView(_ByIdsView):
    bulk = staticmethod(actions.executions_unqueue)

    def options_for(self, request) -> tuple[Any, ...]:
        if not request.query_params.get("state"):
            return ("CANCELLED",)
        return (state_param(request, "state", UNQUEUE_STATES),)

    @_schema(
        "unqueue",
        "Take each QUEUED execution named out of its queue.",
        [
            OpenApiParameter(
                "state", str, enum=list(UNQUEUE_STATES), description="default CANCELLED"
            )
        ],
    )
    def post(self, request):
        return super().post(request)


class ChangeStatusByIdsView(_ByIdsView):
    bulk = staticmethod(actions.executions_change_status)

    def options_for(self, request) -> tuple[Any, ...]:
        return (state_param(request, "newStatus", CHANGEABLE),)

    @_schema(
        "change_status",
        "Give each ended (SUCCESS, WARNING or FAILED) execution named another final state.",
        [OpenApiParameter("newStatus", str, required=True, enum=list(CHANGEABLE))],
    )
    def post(self, request):
        return super().post(request)


LABELS_REQUEST = inline_serializer(
    "SetLabelsByIds",
    {
        "executionsId": serializers.ListField(child=serializers.CharField(), min_length=1),
        "executionLabels": LabelSerializer(many=True),
    },
)


class LabelsByIdsView(ApiView):
    @_schema(
        "labels",
        "Add or replace labels on each execution named: "
        '`{"executionsId": [...], "executionLabels": [{"key": ..., "value": ...}]}`.',
        body=LABELS_REQUEST,
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise ApiProblem(
                "the body must be a JSON object with executionsId and executionLabels",
                errors=[{"field": "body", "message": "expected an object"}],
            )
        ids = body.get("executionsId")
        labels = body.get("executionLabels")
        errors = []
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            errors.append({"field": "executionsId", "message": 'expected ["id", ...]'})
        elif len(ids) > MAX_IDS:
            errors.append({"field": "executionsId", "message": f"at most {MAX_IDS} ids"})
        if not isinstance(labels, list) or not all(
            isinstance(i, dict) and isinstance(i.get("key"), str) and i["key"] for i in labels
        ):
            errors.append({"field": "executionLabels", "message": "expected [{key, value}, ...]"})
        if errors:
            raise ApiProblem(
                "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
            )
        pairs = {i["key"]: "" if i.get("value") is None else str(i["value"]) for i in labels}
        return report(actions.executions_set_labels(ids, pairs, actor=request.user))


#: path segment -> view, mounted as ``executions/<segment>/by-ids``.
BY_IDS = {
    "restart": RestartByIdsView,
    "replay": ReplayByIdsView,
    "resume": ResumeByIdsView,
    "pause": PauseByIdsView,
    "force-run": ForceRunByIdsView,
    "unqueue": UnqueueByIdsView,
    "change-status": ChangeStatusByIdsView,
    "labels": LabelsByIdsView,
}
