"""Trigger routes: search, one flow's triggers, one trigger, update (switch, backfill) and the
bulk actions, on Kestra's paths under /api/v1/triggers. Each view parses its input and
calls one service of ``triggers.services``.

Namespace access (issue 6): reads need ``read``; switching a trigger on or off is a change
to the catalogue, so it needs ``write`` (as a flow's enable/disable); a backfill creates
executions and needs ``execute``. Bulk actions refuse the triggers the user may not touch in
their per-trigger report and carry out the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from access.policy import Action, access_for, check, readable
from flows import selectors as flow_selectors
from flows.api.common import bool_param, readable_within
from flows.models import Flow
from kernel.clock import now as clock
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem, Conflict
from orchestrator.api.pagination import paginate
from orchestrator.api.schema import PROBLEM_RESPONSES, page_params
from triggers import selectors, services
from triggers.api.documents import document_maker
from triggers.api.serializers import (
    SetDisabledSerializer,
    TriggerBulkResultSerializer,
    TriggerDocumentSerializer,
    TriggerKeySerializer,
    TriggerPageSerializer,
    TriggerUpdateSerializer,
)
from triggers.models import TriggerState
from triggers.services import BulkResult, TriggerKey

#: Public sort keys -> fields of ``selectors.trigger_states`` rows.
TRIGGER_SORTS = {
    "namespace": "namespace",
    "flowId": "flow_id",
    "triggerId": "trigger_id",
    "type": "type",
    "nextExecutionDate": "next_fire",
    "date": "last_fire_date",
    "updatedDate": "updated_at",
}
QUERY_PARAMS = [
    OpenApiParameter("q", str, description="part of the namespace, flow id or trigger id"),
    OpenApiParameter("namespace", str, description="this namespace and those inside it"),
    OpenApiParameter("flowId", str, description="exact flow id"),
    OpenApiParameter(
        "type", str, description="Schedule, Flow, Webhook (end of the type name) or Polling"
    ),
]
KEYS_REQUEST = TriggerKeySerializer(many=True)


def _search(request):  # noqa: ANN202 - a QuerySet[TriggerState]
    params = request.query_params
    readable_within(request.user, params.get("namespace") or None)
    states = selectors.trigger_states(
        namespace=params.get("namespace") or None,
        flow_id=params.get("flowId") or None,
        type_suffix=params.get("type") or None,
        q=params.get("q") or None,
    )
    return readable(states, request.user, "namespace")


def _page(request, states) -> Response:  # noqa: ANN001
    return paginate(request, states, document_maker(request.user), sortable=TRIGGER_SORTS)


def _one(key: TriggerKey, user) -> Response:  # noqa: ANN001
    check(user, key.namespace, Action.READ)
    try:
        state = selectors.trigger_state_get(key.namespace, key.flow_id, key.trigger_id)
    except TriggerState.DoesNotExist:
        raise NotFound(
            f"no trigger {key.trigger_id!r} on flow {key.namespace}.{key.flow_id}"
        ) from None
    return Response(document_maker(user)(state))


def _call(action: Callable[[], TriggerState]) -> TriggerState:
    """Run one service call, its refusals shaped as API errors."""
    try:
        return action()
    except services.TriggerError as exc:
        raise NotFound(str(exc)) from None
    except services.BackfillConflict as exc:
        raise Conflict(str(exc)) from None
    except services.BackfillError as exc:
        raise ApiProblem(str(exc), status_code=422) from None


def _key(request) -> TriggerKey:  # noqa: ANN001
    body = TriggerKeySerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return body.key()


def _keys(request) -> list[TriggerKey]:  # noqa: ANN001
    body = TriggerKeySerializer(data=request.data, many=True, allow_empty=False)
    body.is_valid(raise_exception=True)
    return [TriggerKey(t["namespace"], t["flowId"], t["triggerId"]) for t in body.validated_data]


def _query_keys(request) -> list[TriggerKey]:  # noqa: ANN001
    return [TriggerKey.of(s) for s in _search(request)]


def _permitted(
    request,
    keys: Sequence[TriggerKey],
    action: Action,
    run: Callable[[list[TriggerKey]], list[BulkResult]],
) -> Response:  # noqa: ANN001
    """Run a bulk ``run`` on the keys the user may ``action``; the others are reported refused."""
    access = access_for(request.user)
    allowed = [k for k in keys if access.allows(k.namespace, action)]
    refused = [
        BulkResult(k, False, f"you may not {action} in namespace {k.namespace!r}")
        for k in keys
        if k not in allowed
    ]
    return _report([*(run(allowed) if allowed else []), *refused])


def _report(results: Sequence[BulkResult]) -> Response:
    return Response(
        {
            "count": sum(r.ok for r in results),
            "results": [
                {
                    "namespace": r.key.namespace,
                    "flowId": r.key.flow_id,
                    "triggerId": r.key.trigger_id,
                    "ok": r.ok,
                    "message": r.message,
                }
                for r in results
            ],
        }  # fmt: skip
    )


class TriggerSearchView(ApiView):
    @extend_schema(
        operation_id="triggers_search",
        parameters=QUERY_PARAMS + page_params(TRIGGER_SORTS),
        responses={200: TriggerPageSerializer, **PROBLEM_RESPONSES},
        description="Triggers with their next and last fire, disabled switch, polling "
        "evaluations and backfill progress.",
    )
    def get(self, request):
        return _page(request, _search(request))


class FlowTriggersView(ApiView):
    @extend_schema(
        operation_id="triggers_of_flow",
        parameters=page_params(TRIGGER_SORTS),
        responses={200: TriggerPageSerializer, **PROBLEM_RESPONSES},
        description="Every trigger of one flow.",
    )
    def get(self, request, namespace: str, flow_id: str):
        check(request.user, namespace, Action.READ)
        try:
            flow_selectors.flow_get(namespace, flow_id)
        except Flow.DoesNotExist:
            raise NotFound(f"flow {namespace}.{flow_id} does not exist") from None
        states = selectors.trigger_states(flow_id=flow_id).filter(namespace=namespace)
        return _page(request, states)


class TriggerDetailView(ApiView):
    @extend_schema(
        operation_id="triggers_get",
        responses={200: TriggerDocumentSerializer, **PROBLEM_RESPONSES},
        description="One trigger (poll this to follow a backfill's progress).",
    )
    def get(self, request, namespace: str, flow_id: str, trigger_id: str):
        return _one(TriggerKey(namespace, flow_id, trigger_id), request.user)


class TriggerUpdateView(ApiView):
    @extend_schema(
        operation_id="triggers_update",
        request=TriggerUpdateSerializer,
        responses={200: TriggerDocumentSerializer, **PROBLEM_RESPONSES},
        description="Kestra's update: `disabled` flips the operator's switch; `backfill` "
        "(start, end, inputs, labels) starts a backfill of a Schedule trigger. Other fields "
        "of a trigger context sent back are ignored.",
    )
    def put(self, request):
        body = TriggerUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = body.key()
        if body.validated_data.get("disabled") is not None:
            check(request.user, key.namespace, Action.WRITE)
        if body.window(clock()) is not None:
            check(request.user, key.namespace, Action.EXECUTE)
        state = _call(
            lambda: services.trigger_update(
                **key.kwargs(),
                disabled=body.validated_data.get("disabled"),
                backfill=body.window(clock()),
                reason=f"disabled by {request.user}",
            )  # fmt: skip
        )
        return _one(TriggerKey.of(state), request.user)


class SetDisabledByTriggersView(ApiView):
    @extend_schema(
        operation_id="triggers_set_disabled_by_triggers",
        request=SetDisabledSerializer,
        responses={200: TriggerBulkResultSerializer, **PROBLEM_RESPONSES},
        description="Disable (or, with `disabled: false`, enable) each trigger named.",
    )
    def post(self, request):
        body = SetDisabledSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        disabled = body.validated_data["disabled"]
        reason = f"disabled by {request.user}"
        return _permitted(
            request,
            body.keys(),
            Action.WRITE,
            lambda keys: services.triggers_set_disabled(keys, disabled=disabled, reason=reason),
        )


class SetDisabledByQueryView(ApiView):
    @extend_schema(
        operation_id="triggers_set_disabled_by_query",
        request=None,
        parameters=[
            *QUERY_PARAMS,
            OpenApiParameter("disabled", bool, description="true (default) or false"),
        ],
        responses={200: TriggerBulkResultSerializer, **PROBLEM_RESPONSES},
        description="Disable or enable every trigger the query matches.",
    )
    def post(self, request):
        disabled = bool_param(request, "disabled", default=True)
        reason = f"disabled by {request.user}"
        return _permitted(
            request,
            _query_keys(request),
            Action.WRITE,
            lambda keys: services.triggers_set_disabled(keys, disabled=disabled, reason=reason),
        )


def _backfill_view(name: str, verb: str, action: Callable[[TriggerKey], TriggerState], method: str):  # noqa: ANN202
    """The one-trigger backfill view of ``name`` (pause, unpause, delete)."""

    @extend_schema(
        operation_id=f"triggers_backfill_{name}",
        request=TriggerKeySerializer,
        responses={200: TriggerDocumentSerializer, **PROBLEM_RESPONSES},
        description=f"{verb} the backfill of one Schedule trigger.",
    )
    def handler(self, request):  # noqa: ANN001, ANN202
        key = _key(request)
        check(request.user, key.namespace, Action.EXECUTE)
        _call(lambda: action(key))
        return _one(key, request.user)

    return type(f"Backfill{name.title()}View", (ApiView,), {method: handler})


def _backfill_bulk_views(
    name: str, verb: str, action: Callable[[Sequence[TriggerKey]], list[BulkResult]]
):  # noqa: ANN202
    @extend_schema(
        operation_id=f"triggers_backfill_{name}_by_triggers",
        request=KEYS_REQUEST,
        responses={200: TriggerBulkResultSerializer, **PROBLEM_RESPONSES},
        description=f"{verb} the backfill of each trigger named.",
    )
    def by_triggers(self, request):  # noqa: ANN001, ANN202
        return _permitted(request, _keys(request), Action.EXECUTE, action)

    @extend_schema(
        operation_id=f"triggers_backfill_{name}_by_query",
        request=None,
        parameters=QUERY_PARAMS,
        responses={200: TriggerBulkResultSerializer, **PROBLEM_RESPONSES},
        description=f"{verb} the backfill of every trigger the query matches.",
    )
    def by_query(self, request):  # noqa: ANN001, ANN202
        return _permitted(request, _query_keys(request), Action.EXECUTE, action)

    title = name.title()
    return (
        type(f"Backfill{title}ByTriggersView", (ApiView,), {"post": by_triggers}),
        type(f"Backfill{title}ByQueryView", (ApiView,), {"post": by_query}),
    )


BackfillPauseView = _backfill_view(
    "pause", "Pause", lambda k: services.backfill_set_paused(**k.kwargs(), paused=True), "put"
)
BackfillUnpauseView = _backfill_view(
    "unpause", "Resume", lambda k: services.backfill_set_paused(**k.kwargs(), paused=False), "put"
)
BackfillDeleteView = _backfill_view(
    "delete", "Stop and forget", lambda k: services.backfill_delete(**k.kwargs()), "post"
)
BackfillPauseByTriggersView, BackfillPauseByQueryView = _backfill_bulk_views(
    "pause", "Pause", lambda keys: services.backfills_set_paused(keys, paused=True)
)
BackfillUnpauseByTriggersView, BackfillUnpauseByQueryView = _backfill_bulk_views(
    "unpause", "Resume", lambda keys: services.backfills_set_paused(keys, paused=False)
)
BackfillDeleteByTriggersView, BackfillDeleteByQueryView = _backfill_bulk_views(
    "delete", "Stop and forget", services.backfills_delete
)
