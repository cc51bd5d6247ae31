"""Reads: namespace hierarchy, search, flow_get and the cached flow_spec."""

from __future__ import annotations

import pytest

from flows.models import Flow, FlowRevision
from flows.selectors import (
    flow_get,
    flow_revision_spec,
    flow_spec,
    flows_search,
    namespace_children,
    namespace_descendants,
    namespace_tree,
)
from flows.services import flow_delete, flow_deploy, flow_set_disabled
from namespaces.models import Namespace
from tests.conftest import flow_yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    for flow_id, ns, extra in [
        ("one", "a", "labels:\n  team: data\n"),
        ("two", "a.b", "labels:\n  team: data\n  env: prod\n"),
        ("three", "a.b.c", "labels:\n  team: web\n"),
        ("four", "a.bc", "description: nightly report\n"),
        ("five", "z", ""),
    ]:
        flow_deploy(source=flow_yaml(flow_id, ns, extra=extra))


def ids(flows) -> list[str]:
    return [f.flow_id for f in flows]


def test_namespaces_are_created_with_their_parents(catalogue):
    assert list(Namespace.objects.values_list("name", flat=True)) == [
        "a",
        "a.b",
        "a.b.c",
        "a.bc",
        "z",
    ]
    assert Namespace.objects.get(name="a.b.c").parent.name == "a.b"
    assert Namespace.objects.get(name="a.b.c").is_inside("a")
    assert not Namespace.objects.get(name="a.bc").is_inside("a.b")


def test_children_and_descendants_use_whole_segments(catalogue):
    assert sorted(namespace_children("a").values_list("name", flat=True)) == ["a.b", "a.bc"]
    assert list(namespace_descendants("a.b").values_list("name", flat=True)) == ["a.b.c"]
    assert list(namespace_descendants("a.b", include_self=True).values_list("name", flat=True)) == [
        "a.b",
        "a.b.c",
    ]


def test_tree_counts_live_flows_directly_and_in_total(catalogue):
    flow_delete(flow=flow_get("z", "five"))

    tree = namespace_tree()

    rows = [(n.name, n.depth, n.flow_count, n.total_flow_count) for r in tree for n in r.walk()]
    assert rows == [
        ("a", 0, 1, 4),
        ("a.b", 1, 1, 2),
        ("a.b.c", 2, 1, 1),
        ("a.bc", 1, 1, 1),
        ("z", 0, 0, 0),
    ]


def test_search_by_namespace_prefix_label_text_and_disabled(catalogue):
    flow_set_disabled(flow=flow_get("a.b", "two"), disabled=True)

    assert ids(flows_search(namespace="a.b")) == ["two", "three"]
    assert ids(flows_search(namespace="a")) == ["one", "two", "three", "four"]
    assert ids(flows_search(labels={"team": "data"})) == ["one", "two"]
    assert ids(flows_search(labels={"team": "data", "env": "prod"})) == ["two"]
    assert ids(flows_search(q="NIGHTLY")) == ["four"]
    assert ids(flows_search(disabled=True)) == ["two"]
    assert ids(flows_search(disabled=False, namespace="a.b")) == ["three"]


def test_deleted_flows_are_hidden_unless_asked(catalogue):
    flow_delete(flow=flow_get("a", "one"))

    assert "one" not in ids(flows_search())
    assert "one" in ids(flows_search(include_deleted=True))
    with pytest.raises(Flow.DoesNotExist):
        flow_get("a", "one")
    assert flow_get("a", "one", include_deleted=True).deleted is True


def test_flow_spec_is_cached_per_revision_and_reads_old_revisions(monkeypatch):
    from flows.selectors import _parse_cached
    from kernel.spec import parse as spec_module

    _parse_cached.cache_clear()
    flow = flow_deploy(source=flow_yaml(message="v1")).flow
    calls = []
    real = spec_module.parse_flow
    monkeypatch.setattr(
        spec_module, "parse_flow", lambda src, **kw: calls.append(src) or real(src, **kw)
    )

    first = flow_spec(flow)
    again = flow_spec(Flow.objects.get(pk=flow.pk))
    flow_deploy(source=flow_yaml(message="v2"))
    flow.refresh_from_db()
    current = flow_spec(flow)
    old = flow_spec(flow, revision=1)

    assert first is again
    assert first.id == "hello"
    assert current is not first
    assert old is first
    # v1 parsed once for three reads; v2 once by the deploy and once for the cache
    assert calls == [flow_yaml(message="v1"), flow_yaml(message="v2"), flow_yaml(message="v2")]


def test_a_revision_spec_is_that_revisions_source_even_after_a_delete():
    flow_deploy(source=flow_yaml("rev", "r", extra="description: first\n"))
    flow = flow_deploy(source=flow_yaml("rev", "r", extra="description: second\n")).flow
    flow_delete(flow=flow)
    assert flow_revision_spec("r", "rev", 1).description == "first"
    assert flow_revision_spec("r", "rev", 2).description == "second"
    assert flow_revision_spec("r", "rev", 3).description == "second"  # the deletion's
    assert flow_revision_spec("r", "rev", 2) is flow_spec(flow, revision=2)
    # A flow made without revision rows is read through the ORM; a missing one still raises.
    FlowRevision.objects.filter(flow=flow).delete()
    Flow.objects.filter(pk=flow.pk).update(revision=4, deleted=False)
    assert flow_revision_spec("r", "rev", 4).description == "second"
    with pytest.raises(Flow.DoesNotExist):
        flow_revision_spec("r", "nope", 1)
