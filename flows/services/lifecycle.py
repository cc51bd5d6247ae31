"""Changing an existing flow: delete, enable/disable, restore a revision, diff revisions."""

from __future__ import annotations

import difflib
from typing import Any

from django.db import transaction

from access.policy import Action, check
from flows.models import Flow, FlowRevision
from flows.selectors import flow_spec
from flows.services.common import FlowError, problem
from flows.services.deploy import DeployResult, _user_or_none, apply_spec, parse_source
from flows.services.hooks import notify_flow_changed
from kernel.spec.model import SpecError


def _lock(flow: Flow) -> Flow:
    return Flow.objects.select_for_update().select_related("namespace").get(pk=flow.pk)


def flow_delete(*, flow: Flow, author: Any = None) -> FlowRevision:
    """Soft-delete ``flow``: the row stays, with a ``deleted`` revision N+1 (same source).

    Deploying the flow again re-creates it and continues the numbering. Raises FlowError if
    the flow is already deleted; ``author`` needs write access to the flow's namespace.
    """
    check(author, flow.namespace.name, Action.WRITE)
    with transaction.atomic():
        locked = _lock(flow)
        if locked.deleted:
            raise FlowError(f"flow {locked} is already deleted")
        locked.revision += 1
        locked.deleted = True
        locked.save(update_fields=["revision", "deleted", "updated_at"])
        revision = FlowRevision.objects.create(
            flow=locked,
            revision=locked.revision,
            source=locked.source,
            author=_user_or_none(author),
            deleted=True,
        )
        notify_flow_changed(locked, None)
    _refresh(flow, locked)
    return revision


def flow_set_disabled(*, flow: Flow, disabled: bool, author: Any = None) -> Flow:
    """Enable or disable ``flow`` without a new revision.

    This is an operational switch (stop scheduling and starting it); the source is left as it
    is, so deploying a changed source sets ``disabled`` from the source again. It changes the
    catalogue, so ``author`` needs write access (as Kestra's flow update permission).
    """
    check(author, flow.namespace.name, Action.WRITE)

    with transaction.atomic():
        locked = _lock(flow)
        if locked.deleted:
            raise FlowError(f"flow {locked} is deleted")
        if locked.disabled != disabled:
            locked.disabled = disabled
            locked.save(update_fields=["disabled", "updated_at"])
            notify_flow_changed(locked, flow_spec(locked))
    _refresh(flow, locked)
    return flow


def flow_revision_restore(*, flow: Flow, revision: int, author: Any = None) -> DeployResult:
    """Make revision N+1 with the source of ``revision`` (nothing if it equals the current one).

    Restoring a deleted flow re-creates it. Raises FlowError for an unknown revision and
    SpecError if that old source no longer validates; ``author`` needs write access.
    """
    check(author, flow.namespace.name, Action.WRITE)
    old = FlowRevision.objects.filter(flow=flow, revision=revision).first()
    if old is None:
        raise FlowError(f"flow {flow} has no revision {revision}")
    filename = f"{flow} revision {revision}"
    spec = parse_source(old.source, filename=filename)
    if spec.namespace != flow.namespace.name or spec.id.lower() != flow.flow_id.lower():
        raise SpecError([problem(filename, f"revision {revision} describes another flow")])
    with transaction.atomic():
        result = apply_spec(spec=spec, source=old.source, author=author, filename=filename)
    _refresh(flow, result.flow)
    return result


def flow_revisions_diff(*, flow: Flow, a: int, b: int) -> str:
    """A unified diff from revision ``a`` to revision ``b`` ("" when the sources are equal)."""
    sources = dict(
        FlowRevision.objects.filter(flow=flow, revision__in=[a, b]).values_list(
            "revision", "source"
        )
    )
    for number in (a, b):
        if number not in sources:
            raise FlowError(f"flow {flow} has no revision {number}")
    lines = difflib.unified_diff(
        sources[a].splitlines(),
        sources[b].splitlines(),
        fromfile=f"{flow} revision {a}",
        tofile=f"{flow} revision {b}",
        lineterm="",
    )
    text = "\n".join(lines)
    return f"{text}\n" if text else ""


def _refresh(target: Flow, source: Flow) -> None:
    """Copy the written state back into the caller's instance so it is not stale."""
    if target is not source:
        for name in ("flow_id", "revision", "source", "description", "disabled", "deleted"):
            setattr(target, name, getattr(source, name))
