"""The stores the git tasks use through the run context (issue 17): flows deployed and
listed, namespace files written and deleted, within the namespace boundary for writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.models import Flow
from flows.services import flow_deploy
from flows.store import FlowSourceStore
from namespaces.allowed import allowed_namespace_add
from namespaces.boundaries import Boundary, BoundaryRefused
from namespaces.store import NamespaceFileStore

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def storage_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "storage"
    return settings.MEDIA_ROOT


def flow(namespace: str, flow_id: str, message: str = "hi") -> str:
    return (
        f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n  - id: a\n"
        f"    type: io.kestra.plugin.core.log.Log\n    message: {message}\n"
    )


def test_deploy_reports_states_and_deletes_missing_flows() -> None:
    flow_deploy(source=flow("gs.team", "kept"))
    flow_deploy(source=flow("gs.team", "stale"))
    store = FlowSourceStore(Boundary("gs.team"))
    documents = [("a.yml", flow("gs.team", "kept")), ("b.yml", flow("gs.team.sub", "new"))]

    dry = store.deploy(documents, namespace="gs.team", delete_missing=True, dry_run=True)
    assert Flow.objects.live().filter(flow_id="new").count() == 0
    report = store.deploy(documents, namespace="gs.team", delete_missing=True)

    states = {(r["namespace"], r["flowId"]): r["syncState"] for r in report}
    assert states == {
        ("gs.team", "kept"): "UNCHANGED",
        ("gs.team.sub", "new"): "ADDED",
        ("gs.team", "stale"): "DELETED",
    }
    assert dry == report
    live = sorted(Flow.objects.live().in_namespace("gs").values_list("flow_id", flat=True))
    assert live == ["kept", "new"]
    listed = store.list("gs.team", children=True)
    assert [(f.namespace, f.id) for f in listed] == [("gs.team", "kept"), ("gs.team.sub", "new")]


def test_a_flow_may_not_deploy_above_or_beside_its_namespace() -> None:
    store = FlowSourceStore(Boundary("gs.team"))
    for target in ("gs", "other"):
        with pytest.raises(BoundaryRefused):
            store.deploy([("a.yml", flow(target, "x"))], namespace=target)
    allowed_namespace_add(namespace="other", allowed="gs.team")
    store = FlowSourceStore(Boundary("gs.team"))
    store.deploy([("a.yml", flow("other", "x"))], namespace="other")
    assert Flow.objects.live().filter(namespace__name="other", flow_id="x").exists()


def test_namespace_files_write_and_delete_within_the_boundary() -> None:
    files = NamespaceFileStore(Boundary("gs.team"))
    files.write("gs.team.sub", "/a/b.txt", b"B")
    assert files.read("gs.team.sub", "/a/b.txt") == b"B"
    files.delete("gs.team.sub", "/a/b.txt")
    assert files.list("gs.team.sub") == []
    with pytest.raises(BoundaryRefused):
        files.write("gs", "/x.txt", b"no")
