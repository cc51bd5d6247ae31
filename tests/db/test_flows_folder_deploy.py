"""flows_deploy_folder: all-or-nothing, every file's problems, namespace scope, delete_missing."""

from __future__ import annotations

import pytest

from flows.models import Flow, FlowRevision
from flows.services import flow_deploy, flows_deploy_folder
from kernel.spec.model import SpecError
from tests.conftest import flow_yaml

pytestmark = pytest.mark.django_db

BAD = "id: broken\nnamespace: company.team\ntasks:\n  - id: t\n"  # no type


def live() -> list[tuple[str, str, int]]:
    return list(
        Flow.objects.live()
        .order_by("namespace__name", "flow_id")
        .values_list("namespace__name", "flow_id", "revision")
    )


def test_folder_deploys_every_file_recursively(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "one.yaml").write_text(flow_yaml("one"))
    (tmp_path / "sub" / "two.yml").write_text(flow_yaml("two", "company.other"))
    (tmp_path / "notes.txt").write_text("not a flow")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text(BAD)

    result = flows_deploy_folder(paths=[tmp_path])

    assert [(r.flow.flow_id, r.revision, r.created) for r in result.results] == [
        ("one", 1, True),
        ("two", 1, True),
    ]
    assert live() == [("company.other", "two", 1), ("company.team", "one", 1)]


def test_one_bad_file_deploys_nothing_and_reports_every_file(tmp_path):
    flow_deploy(source=flow_yaml("one"))
    (tmp_path / "a.yaml").write_text(flow_yaml("one", message="changed"))
    (tmp_path / "b.yaml").write_text(BAD)
    (tmp_path / "c.yaml").write_text("id: [unclosed\n")

    with pytest.raises(SpecError) as excinfo:
        flows_deploy_folder(paths=[tmp_path])

    files = {p.filename for p in excinfo.value.problems}
    assert files == {str(tmp_path / "b.yaml"), str(tmp_path / "c.yaml")}
    assert live() == [("company.team", "one", 1)]
    assert FlowRevision.objects.count() == 1


def test_case_clash_found_at_write_time_rolls_back_the_others():
    flow_deploy(source=flow_yaml("hello"))

    with pytest.raises(SpecError, match="differ only by case"):
        flows_deploy_folder(
            documents=[("new.yaml", flow_yaml("new")), ("Hello.yaml", flow_yaml("Hello"))]
        )

    assert live() == [("company.team", "hello", 1)]


def test_duplicate_flow_in_two_files_is_refused():
    with pytest.raises(SpecError, match="also defined in a.yaml"):
        flows_deploy_folder(documents=[("a.yaml", flow_yaml()), ("b.yaml", flow_yaml())])
    assert live() == []


def test_missing_path_and_empty_input_are_problems(tmp_path):
    with pytest.raises(SpecError, match="no such file or folder"):
        flows_deploy_folder(paths=[tmp_path / "nope"])
    with pytest.raises(SpecError, match="no .yml or .yaml file"):
        flows_deploy_folder(paths=[tmp_path])
    with pytest.raises(SpecError, match="no flow documents given"):
        flows_deploy_folder(documents=[])


def test_namespace_option_refuses_flows_outside_it():
    with pytest.raises(SpecError) as excinfo:
        flows_deploy_folder(
            namespace="company.team",
            documents=[
                ("in.yaml", flow_yaml("in", "company.team.sub")),
                ("out.yaml", flow_yaml("out", "company.teamx")),
            ],
        )

    assert [str(p) for p in excinfo.value.problems] == [
        "out.yaml:2:1: namespace 'company.teamx' is not inside 'company.team' (namespace)"
    ]
    assert live() == []


def test_delete_missing_within_namespace_and_its_children_only():
    for flow_id, ns in [("keep", "a.b"), ("gone", "a.b"), ("child", "a.b.c"), ("other", "a.bc")]:
        flow_deploy(source=flow_yaml(flow_id, ns))

    result = flows_deploy_folder(
        namespace="a.b", delete_missing=True, documents=[("keep.yaml", flow_yaml("keep", "a.b"))]
    )

    assert sorted(f.flow_id for f in result.deleted) == ["child", "gone"]
    assert live() == [("a.b", "keep", 1), ("a.bc", "other", 1)]
    assert Flow.objects.get(flow_id="gone").revision == 2  # the deleted revision


def test_delete_missing_without_namespace_uses_the_documents_namespaces():
    flow_deploy(source=flow_yaml("gone", "a.b"))
    flow_deploy(source=flow_yaml("child", "a.b.c"))

    flows_deploy_folder(delete_missing=True, documents=[("k.yaml", flow_yaml("keep", "a.b"))])

    assert live() == [("a.b", "keep", 1), ("a.b.c", "child", 1)]
