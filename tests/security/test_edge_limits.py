"""Issue 21, crashes at the edge: documents nested past ``kernel.depth.MAX_DEPTH`` and zips
whose headers lie are refused with a clear error naming where, and create nothing.

Before: a 900-level YAML flow and a 100k-deep JSON body gave HTTP 500 ``RecursionError``
(a traceback in the CLI); a lying zip gave 500 ``BadZipFile``.
"""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from executions.models import Execution
from flows.archives import ArchiveError, read_checked
from flows.models import Flow
from flows.services import flow_deploy
from kernel.depth import MAX_DEPTH, TooDeep, check_depth, json_loads
from kernel.spec import yaml_loader
from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from tests.conftest import flow_yaml
from tests.db.api_support import authed_client, problem
from tests.db.test_cli_flow import manage

JSON_DEEP = 100_000


def deep_yaml(levels: int = 900) -> str:
    """A flow whose one task's message is a list nested ``levels`` deep (flow style)."""
    return flow_yaml("deep", message="[" * levels + "]" * levels)


def deep_block_yaml(levels: int = 900) -> str:
    """The same depth in block style: a mapping inside a mapping under ``variables``."""
    nested = "".join("  " * (i + 1) + f"k{i}:\n" for i in range(levels))
    return flow_yaml("deep", extra="variables:\n" + nested)


def deep_json(levels: int = JSON_DEEP) -> str:
    return '{"a": ' + "[" * levels + "]" * levels + "}"


def lying_zip(name: str, content: bytes, declared: int) -> bytes:
    """A zip whose local and central headers both say ``declared`` bytes for the member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    data = bytearray(buffer.getvalue())
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 22, declared)
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 24, declared)
    return bytes(data)


# --- the kernel: no database ---------------------------------------------------------------


@pytest.mark.parametrize("source", [deep_yaml(), deep_block_yaml()], ids=["flow", "block"])
def test_a_900_level_flow_is_a_spec_error_naming_the_path(source) -> None:
    with pytest.raises(SpecError) as caught:
        parse_flow(source, filename="deep.yml")

    (only,) = caught.value.problems
    assert only.message == f"nested deeper than the limit of {MAX_DEPTH} levels"
    assert only.path.startswith(("tasks[0].message[0][0]", "variables.k0.k1"))
    assert only.line > 1  # where the 101st level opens
    assert only.col > 1
    assert str(caught.value).startswith("deep.yml:")


def test_a_flow_at_the_limit_still_parses() -> None:
    # root mapping, tasks, the task, then the message's lists: 3 + 97 = 100 levels
    parse_flow(deep_yaml(MAX_DEPTH - 3))
    with pytest.raises(SpecError, match="nested deeper"):
        parse_flow(deep_yaml(MAX_DEPTH - 2))


def test_json_depth_is_measured_before_parsing_and_names_the_path() -> None:
    with pytest.raises(TooDeep) as caught:
        json_loads('{"rows": [1, {"x y": ' + "[" * 200 + "]" * 200 + "}]}")
    assert caught.value.path[:4] == ("rows", 1, "x y", 0)
    assert str(caught.value).startswith(f"nested deeper than the limit of {MAX_DEPTH} levels at ")
    assert 'rows[1]["x y"][0]' in str(caught.value)
    with pytest.raises(TooDeep):
        json_loads(deep_json())
    assert json_loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert json_loads('"[[[[[[[[[[[[["') == "[[[[[[[[[[[[["  # brackets in strings are text


def test_python_values_are_measured_without_recursion() -> None:
    value: list = []
    for _ in range(JSON_DEEP):
        value = [value]
    with pytest.raises(TooDeep, match=r"at inputs\.j\[0\]"):
        check_depth(value, path=("inputs", "j"))


def test_a_deep_yaml_document_is_a_yaml_problem_for_every_loader_user() -> None:
    with pytest.raises(yaml_loader.YamlProblem) as caught:
        yaml_loader.load("a: " + "[" * 500 + "]" * 500)
    assert caught.value.path.startswith("a[0][0]")


def test_a_zip_whose_headers_lie_is_refused_naming_the_member() -> None:
    content = flow_yaml("one").encode() + b"#" * 5000
    for declared in (10, 100_000):  # says less than it holds, then more
        with pytest.raises(ArchiveError) as caught:
            read_checked(io.BytesIO(lying_zip("flows/one.yml", content, declared)))
        assert caught.value.member == "flows/one.yml"
        assert str(declared) in caught.value.message
    assert read_checked(io.BytesIO(lying_zip("one.yml", content, len(content)))) == [
        ("one.yml", content)
    ]


def test_zip_member_count_total_size_and_names_are_capped() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            archive.writestr(f"f{i}.txt", "x" * 100)
    with pytest.raises(ArchiveError, match="holds 3 files; the limit is 2"):
        read_checked(io.BytesIO(buffer.getvalue()), max_members=2)
    with pytest.raises(ArchiveError, match="unpacks to more than 250 bytes") as caught:
        read_checked(io.BytesIO(buffer.getvalue()), max_total_bytes=250)
    assert caught.value.member == "f2.txt"
    for name in ("../evil.txt", "/etc/passwd", "a/../../b", "C:\\x"):
        escaping = io.BytesIO()
        with zipfile.ZipFile(escaping, "w") as archive:
            archive.writestr(name, "x")
        with pytest.raises(ArchiveError) as caught:
            read_checked(io.BytesIO(escaping.getvalue()))
        assert caught.value.member == name


# --- the API and the CLI ---------------------------------------------------------------------


FLOW_WITH_INPUTS = """id: typed
namespace: company.team
inputs:
  - id: payload
    type: JSON
  - id: doc
    type: YAML
    required: false
tasks:
  - id: say
    type: trellis.core.log.Log
    message: hi
"""


@pytest.fixture
def api(superuser):
    return authed_client(superuser)


@pytest.mark.django_db
def test_api_deploy_of_a_900_level_flow_is_422_with_the_path(api) -> None:
    for url in ("/api/v1/flows", "/api/v1/flows/company.team"):
        response = api.generic("POST", url, deep_yaml(), content_type="application/x-yaml")
        body = problem(response, 422)
        (error,) = body["errors"]
        assert error["path"].startswith("tasks[0].message[0]")
        assert error["message"] == f"nested deeper than the limit of {MAX_DEPTH} levels"
        assert error["line"] == 6
    assert Flow.objects.count() == 0


@pytest.mark.django_db
def test_api_validate_of_a_900_level_flow_reports_it_invalid(api) -> None:
    response = api.generic(
        "POST", "/api/v1/flows/validate", deep_block_yaml(), content_type="application/x-yaml"
    )

    assert response.status_code == 200, response.content  # validate answers per document
    (report,) = response.json()
    assert report["valid"] is False
    assert report["flow"] is None  # the refused document is not read for its ids either
    assert report["errors"][0]["path"].startswith("variables.k0.k1")
    assert Flow.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_editor_shows_a_900_level_flow_at_its_line(client, superuser) -> None:
    from django.urls import reverse

    client.force_login(superuser)
    response = client.post(reverse("admin:flows_flow_add"), {"source": deep_yaml(), "_save": "1"})

    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors["source"]
    assert message.startswith("line 6, col ")
    assert "nested deeper than the limit of 100 levels" in message
    assert Flow.objects.count() == 0


@pytest.mark.django_db
def test_api_template_of_900_levels_is_422(api) -> None:
    template = "id: deep\nnamespace: company.team\ntasks:\n  - id: t\n    type: x\n    v: "
    response = api.generic(
        "POST",
        "/api/v1/templates",
        template + "[" * 900 + "]" * 900 + "\n",
        content_type="application/x-yaml",
    )
    assert "nested deeper" in str(problem(response, 422)["errors"])


@pytest.mark.django_db
def test_a_100k_deep_json_body_to_any_api_endpoint_is_422(api) -> None:
    flow_deploy(source=FLOW_WITH_INPUTS)
    for url in (
        "/api/v1/executions/company.team/typed",
        "/api/v1/flows/disable/by-ids",
        "/api/v1/executions/kill/by-ids",
    ):
        response = api.post(url, deep_json(), content_type="application/json")
        body = problem(response, 422)
        assert body["type"] == "urn:trellis:problem:too-deep"
        assert body["errors"][0]["field"].startswith("body.a[0][0]")
    assert Execution.objects.count() == 0


@pytest.mark.django_db
def test_a_100k_deep_json_or_yaml_input_is_422_naming_the_input(api) -> None:
    flow_deploy(source=FLOW_WITH_INPUTS)
    url = "/api/v1/executions/company.team/typed"
    deep_yaml_input = "a: " + "[" * 900 + "]" * 900
    for fields, name in (
        ({"payload": deep_json()}, "payload"),  # a form field holding JSON text
        ({"payload": "{}", "doc": deep_yaml_input}, "doc"),
    ):
        body = problem(api.post(url, fields), 422)
        (error,) = body["errors"]
        assert error["field"] == name
        assert "nested deeper than the limit of 100 levels at a[0][0]" in error["message"]
    assert Execution.objects.count() == 0


@pytest.mark.django_db
def test_a_deep_kv_value_is_refused() -> None:
    from kv.services import KVError, kv_set

    value: list = []
    for _ in range(500):
        value = [value]
    flow_deploy(source=flow_yaml())
    with pytest.raises(KVError, match="nested deeper"):
        kv_set("company.team", "deep", value)


@pytest.mark.django_db
def test_a_lying_zip_import_is_422_and_deploys_nothing(api) -> None:
    content = flow_yaml("one").encode()
    upload = SimpleUploadedFile("flows.zip", lying_zip("one.yml", content, 10))

    body = problem(api.post("/api/v1/flows/import", {"fileUpload": upload}), 422)

    assert body["errors"][0]["member"] == "one.yml"
    assert "one.yml" in body["detail"]
    assert Flow.objects.count() == 0


@pytest.mark.django_db
def test_a_lying_zip_upload_to_namespace_files_is_422_and_writes_nothing(api, tmp_path) -> None:
    from namespaces.models import NamespaceFile

    flow_deploy(source=flow_yaml())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good.txt", "fine")  # first: a reader that streams would write it
        archive.writestr("bad.txt", b"x" * 10_000)
    data = bytearray(buffer.getvalue())
    bad_local = data.find(b"PK\x03\x04", data.find(b"PK\x03\x04") + 4)
    bad_central = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
    struct.pack_into("<I", data, bad_local + 22, 5)
    struct.pack_into("<I", data, bad_central + 24, 5)
    lying = bytes(data)
    upload = SimpleUploadedFile("bundle.zip", lying)

    response = api.post("/api/v1/namespaces/company.team/files?path=/data", {"fileContent": upload})

    body = problem(response, 422)
    assert "bad.txt" in body["detail"]
    assert not NamespaceFile.objects.filter(is_directory=False).exists()


@pytest.mark.django_db
def test_import_kestra_reports_a_lying_zip(tmp_path) -> None:
    from flows.kestra_import import kestra_import

    export = tmp_path / "export.zip"
    export.write_bytes(lying_zip("company.team.one.yml", flow_yaml("one").encode(), 10))

    report = kestra_import([export])

    assert not report.deployed
    (refused,) = report.files
    assert refused.filename == f"{export}!company.team.one.yml"
    assert "declared 10 bytes" in refused.problems[0].message
    assert Flow.objects.count() == 0


def test_cli_validate_and_deploy_of_a_900_level_flow_exit_1_with_file_line_col(tmp_path) -> None:
    path = tmp_path / "deep.yml"
    path.write_text(deep_yaml())
    for command in ("validate", "deploy"):
        result = manage(tmp_path, "flow", command, str(path))
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr + result.stdout
        assert f"{path}:6:" in result.stdout + result.stderr
        assert "nested deeper than the limit of 100 levels" in result.stdout + result.stderr


@pytest.mark.django_db
def test_cli_run_with_a_100k_deep_json_input_is_one_short_clear_error() -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    flow_deploy(source=FLOW_WITH_INPUTS)
    with pytest.raises(CommandError) as caught:
        call_command(
            "flow", "run", "company.team", "typed", "--input", f"payload={deep_json()}",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip

    message = str(caught.value)
    assert "payload: nested deeper than the limit of 100 levels at a[0][0]" in message
    assert len(message) < 1500  # the 200 kB value is quoted only in part
    assert "more characters)`" in message
    assert Execution.objects.count() == 0
