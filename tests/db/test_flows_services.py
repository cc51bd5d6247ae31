"""Flow services: revision rules, delete/re-create, restore, diff, hooks, case-only ids."""

from __future__ import annotations

import pytest

from flows.models import Flow, FlowLabel, FlowRevision
from flows.services import (
    FlowError,
    flow_delete,
    flow_deploy,
    flow_revision_restore,
    flow_revisions_diff,
    flow_set_disabled,
    on_flow_changed,
)
from kernel.spec.model import SpecError
from namespaces.models import Namespace
from tests.conftest import flow_yaml

pytestmark = pytest.mark.django_db


def revisions(flow: Flow) -> list[tuple[int, bool]]:
    return list(
        FlowRevision.objects.filter(flow=flow)
        .order_by("revision")
        .values_list("revision", "deleted")
    )


@pytest.fixture
def hook_calls():
    calls: list[tuple[str, int, str | None]] = []

    def hook(flow, spec):
        calls.append((flow.flow_id, flow.revision, spec.id if spec else None))

    on_flow_changed.append(hook)
    yield calls
    on_flow_changed.remove(hook)


def test_first_deploy_creates_revision_1_and_namespaces(superuser):
    source = "# keep me\n" + flow_yaml(extra="labels:\n  team: data\n  env: prod\n")

    result = flow_deploy(source=source, author=superuser)

    assert (result.created, result.changed, result.revision) == (True, True, 1)
    flow = Flow.objects.get()
    assert flow.source == source  # comments kept, byte for byte
    assert (flow.namespace.name, flow.flow_id, flow.revision) == ("company.team", "hello", 1)
    assert list(Namespace.objects.values_list("name", "parent__name", "depth")) == [
        ("company", None, 0),
        ("company.team", "company", 1),
    ]
    rev = FlowRevision.objects.get()
    assert (rev.revision, rev.source, rev.author, rev.deleted) == (1, source, superuser, False)
    assert dict(FlowLabel.objects.values_list("key", "value")) == {"team": "data", "env": "prod"}


def test_same_source_makes_no_revision(hook_calls):
    flow_deploy(source=flow_yaml())

    again = flow_deploy(source=flow_yaml())

    assert (again.created, again.changed, again.revision) == (False, False, 1)
    assert revisions(again.flow) == [(1, False)]
    assert hook_calls == [("hello", 1, "hello")]


def test_changed_source_makes_next_revision_and_syncs_labels(hook_calls):
    flow_deploy(source=flow_yaml(extra="labels:\n  team: data\n"))

    result = flow_deploy(source=flow_yaml(message="Changed", extra="labels:\n  env: dev\n"))

    assert (result.created, result.changed, result.revision) == (False, True, 2)
    assert revisions(result.flow) == [(1, False), (2, False)]
    assert Flow.objects.get().source == flow_yaml(message="Changed", extra="labels:\n  env: dev\n")
    assert dict(FlowLabel.objects.values_list("key", "value")) == {"env": "dev"}
    assert hook_calls == [("hello", 1, "hello"), ("hello", 2, "hello")]


def test_whitespace_only_change_is_a_change():
    flow_deploy(source=flow_yaml())

    result = flow_deploy(source=flow_yaml() + "\n")

    assert result.revision == 2


def test_invalid_yaml_changes_nothing_and_reports_lines(hook_calls):
    flow_deploy(source=flow_yaml())
    broken = flow_yaml(message="Changed").replace("    type: trellis.core.log.Log\n", "")

    with pytest.raises(SpecError) as excinfo:
        flow_deploy(source=broken, filename="hello.yaml")

    assert excinfo.value.problems
    assert all(p.filename == "hello.yaml" and p.line >= 1 for p in excinfo.value.problems)
    flow = Flow.objects.get()
    assert (flow.revision, flow.source) == (1, flow_yaml())
    assert hook_calls == [("hello", 1, "hello")]


def test_delete_keeps_history_and_adds_deleted_revision(hook_calls):
    flow = flow_deploy(source=flow_yaml()).flow
    flow_deploy(source=flow_yaml(message="v2"))

    rev = flow_delete(flow=flow)

    flow.refresh_from_db()
    assert (flow.deleted, flow.revision) == (True, 3)
    assert (rev.revision, rev.deleted, rev.source) == (3, True, flow_yaml(message="v2"))
    assert revisions(flow) == [(1, False), (2, False), (3, True)]
    assert hook_calls[-1] == ("hello", 3, None)
    with pytest.raises(FlowError, match="already deleted"):
        flow_delete(flow=flow)


def test_recreate_after_delete_continues_numbering():
    flow = flow_deploy(source=flow_yaml()).flow
    flow_delete(flow=flow)

    result = flow_deploy(source=flow_yaml())  # same source as before the delete

    assert (result.created, result.changed, result.revision) == (True, True, 3)
    assert result.flow.pk == flow.pk
    assert result.flow.deleted is False
    assert revisions(flow) == [(1, False), (2, True), (3, False)]


def test_ids_differing_only_by_case_are_refused():
    flow_deploy(source=flow_yaml("hello"))

    with pytest.raises(SpecError, match="differ only by case") as excinfo:
        flow_deploy(source=flow_yaml("Hello"), filename="Hello.yaml")

    assert excinfo.value.problems[0].line == 1  # the `id:` line
    assert list(Flow.objects.values_list("flow_id", flat=True)) == ["hello"]


def test_same_id_in_another_namespace_is_another_flow():
    flow_deploy(source=flow_yaml("hello", "a.b"))
    flow_deploy(source=flow_yaml("hello", "a.bc"))

    assert sorted(Flow.objects.values_list("namespace__name", "flow_id")) == [
        ("a.b", "hello"),
        ("a.bc", "hello"),
    ]


def test_restore_makes_next_revision_with_old_source(superuser):
    flow = flow_deploy(source=flow_yaml(message="v1")).flow
    flow_deploy(source=flow_yaml(message="v2"))

    result = flow_revision_restore(flow=flow, revision=1, author=superuser)

    assert (result.revision, result.changed) == (3, True)
    flow.refresh_from_db()
    assert flow.source == flow_yaml(message="v1")
    assert FlowRevision.objects.get(flow=flow, revision=3).author == superuser


def test_restore_of_current_source_makes_nothing_and_unknown_revision_fails():
    flow = flow_deploy(source=flow_yaml()).flow

    assert flow_revision_restore(flow=flow, revision=1).changed is False
    with pytest.raises(FlowError, match="has no revision 7"):
        flow_revision_restore(flow=flow, revision=7)
    assert revisions(flow) == [(1, False)]


def test_restore_of_deleted_flow_recreates_it():
    flow = flow_deploy(source=flow_yaml()).flow
    flow_delete(flow=flow)

    result = flow_revision_restore(flow=flow, revision=1)

    assert (result.revision, result.created, result.flow.deleted) == (3, True, False)


def test_diff_is_unified_between_two_revisions():
    flow = flow_deploy(source=flow_yaml(message="v1")).flow
    flow_deploy(source=flow_yaml(message="v2"))

    diff = flow_revisions_diff(flow=flow, a=1, b=2)

    assert diff.splitlines()[:2] == [
        "--- company.team.hello revision 1",
        "+++ company.team.hello revision 2",
    ]
    assert "-    message: v1" in diff.splitlines()
    assert "+    message: v2" in diff.splitlines()
    assert flow_revisions_diff(flow=flow, a=2, b=2) == ""
    with pytest.raises(FlowError, match="has no revision 3"):
        flow_revisions_diff(flow=flow, a=1, b=3)


def test_set_disabled_toggles_without_revision(hook_calls):
    flow = flow_deploy(source=flow_yaml()).flow

    flow_set_disabled(flow=flow, disabled=True)
    flow_set_disabled(flow=flow, disabled=True)  # already disabled: nothing

    flow.refresh_from_db()
    assert (flow.disabled, flow.revision) == (True, 1)
    assert len(hook_calls) == 2
    flow_set_disabled(flow=flow, disabled=False)
    assert Flow.objects.get().disabled is False


def test_failing_hook_rolls_the_deploy_back():
    def boom(flow, spec):
        raise RuntimeError("schedule sync failed")

    on_flow_changed.append(boom)
    try:
        with pytest.raises(RuntimeError, match="schedule sync failed"):
            flow_deploy(source=flow_yaml())
    finally:
        on_flow_changed.remove(boom)

    assert Flow.objects.count() == 0
    assert Namespace.objects.count() == 0
    assert FlowRevision.objects.count() == 0
