"""Oversized and malicious uploads, and who may read which stored file (issue 9):
a FILE input over the limit is a 413 that stores nothing, client file names cannot leave the
input's folder, bad input stores no file, and `read()` only reaches this execution's files."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from executions.models import Execution
from executions.runtime.expr_io import ExecutionIO
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.expressions.render import IO_KEY, ExpressionError, render
from orchestrator.storage import default_storage
from tests.conftest import flow_yaml
from tests.db.api_support import problem, writer

pytestmark = pytest.mark.django_db

INPUTS = """inputs:
  - id: doc
    type: FILE
    required: false
  - id: other
    type: FILE
    required: false
  - id: n
    type: INT
    required: false
"""
RUN = "/api/v1/executions/company.team/hello"


@pytest.fixture(autouse=True)
def storage_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "storage"
    return settings.MEDIA_ROOT


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(writer(django_user_model, "ana"))
    return client


@pytest.fixture
def flow():  # noqa: ANN201
    return flow_deploy(source=flow_yaml(extra=INPUTS)).flow


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_file_over_the_upload_limit_is_413_and_stores_nothing(api, flow, settings, storage_root):
    settings.TRELLIS_MAX_UPLOAD_BYTES = 1024
    upload = SimpleUploadedFile("big.bin", b"x" * 4096)

    body = problem(api.post(RUN, {"doc": upload}, format="multipart"), 413)

    assert "1024" in body["detail"]
    assert Execution.objects.count() == 0
    assert not storage_root.exists() or stored_files(storage_root) == []


def test_a_file_under_the_limit_is_stored(api, flow, settings, storage_root):
    settings.TRELLIS_MAX_UPLOAD_BYTES = 8192
    upload = SimpleUploadedFile("ok.bin", b"x" * 1024)

    response = api.post(RUN, {"doc": upload}, format="multipart")

    assert response.status_code == 200, response.content
    assert len(stored_files(storage_root)) == 1


@pytest.mark.parametrize(
    "name", ["../../../evil.sh", "..\\..\\evil.sh", "/etc/evil.sh", "....//evil.sh", ".evil.sh"]
)
def test_a_client_file_name_cannot_leave_the_inputs_folder(api, flow, storage_root, name):
    upload = SimpleUploadedFile(name, b"payload")

    response = api.post(RUN, {"doc": upload}, format="multipart")

    assert response.status_code == 200, response.content
    uri = response.json()["inputs"]["doc"]
    execution_id = response.json()["id"]
    assert uri == f"kestra:///company/team/hello/executions/{execution_id}/inputs/doc/evil.sh"
    assert stored_files(storage_root) == [
        f"company/team/hello/executions/{execution_id}/inputs/doc/evil.sh"
    ]


def test_bad_input_after_a_file_stores_no_file(api, flow, storage_root):
    upload = SimpleUploadedFile("a.txt", b"first")

    problem(api.post(RUN, {"doc": upload, "n": "not a number"}, format="multipart"), 422)

    assert Execution.objects.count() == 0
    assert not storage_root.exists() or stored_files(storage_root) == []


@pytest.mark.parametrize("value", [True, 3, ["a"], {"name": "x"}, "relative/path.txt"])
def test_a_file_input_that_is_not_a_file_is_422(api, flow, storage_root, value):
    # found by tests/db/test_fuzz_writes.py: `true` used to crash the storage write (500)
    body = problem(api.post(RUN, {"doc": value}, format="json"), 422)

    assert [e["field"] for e in body["errors"]] == ["doc"]
    assert Execution.objects.count() == 0
    assert not storage_root.exists() or stored_files(storage_root) == []


# ------------------------------------------------------------------- read() is confined


def _io(execution: Execution) -> dict:
    return {IO_KEY: ExecutionIO(execution.namespace, execution.flow_id, execution.id)}


def test_read_reaches_this_executions_files_only(flow):
    mine = execution_create(flow=flow, files={"doc": SimpleUploadedFile("m.txt", b"mine")})
    theirs = execution_create(flow=flow, files={"doc": SimpleUploadedFile("t.txt", b"theirs")})
    storage = default_storage()
    prefix = storage.execution_prefix(mine.namespace, mine.flow_id, mine.id)

    assert render("{{ read(inputs.doc) }}", {"inputs": mine.inputs, **_io(mine)}) == "mine"
    for uri in (
        theirs.inputs["doc"],
        prefix + "../" + theirs.id + "/inputs/doc/t.txt",
        prefix + "%2e%2e/" + theirs.id + "/inputs/doc/t.txt",
        "kestra:///../../etc/passwd",
        "kestra:///company/team/hello/executions/" + theirs.id + "/inputs/doc/t.txt",
        "file:///etc/passwd",
        "/etc/passwd",
        "../../etc/passwd",
    ):
        with pytest.raises(ExpressionError):
            render("{{ read(uri) }}", {"uri": uri, **_io(mine)})


def test_read_reaches_a_parent_executions_files(flow):
    parent = execution_create(flow=flow, files={"doc": SimpleUploadedFile("p.txt", b"parent")})
    child = execution_create(
        flow=flow, inputs={"doc": parent.inputs["doc"]}, parent=(parent, "run-id")
    )

    assert render("{{ read(inputs.doc) }}", {"inputs": child.inputs, **_io(child)}) == "parent"


# ------------------------------------------------------- tasks open their own files only


def _task_context(execution: Execution):
    import threading

    from executions.worker.run_context import WorkerContext
    from kernel.secrets import Masker

    return WorkerContext(
        execution_id=execution.id, task_run_id="run-1", task_id="t", attempt=1,
        namespace=execution.namespace, flow_id=execution.flow_id, variables=dict,
        logger=None, masker=Masker(), stop=threading.Event(),
    )  # fmt: skip


def test_a_task_opens_its_own_and_its_parents_files_not_another_executions(flow):
    from kernel.plugin import TaskFailed
    from kernel.registry import registry

    mine = execution_create(flow=flow, files={"doc": SimpleUploadedFile("m.txt", b"mine")})
    theirs = execution_create(flow=flow, files={"doc": SimpleUploadedFile("t.txt", b"theirs")})
    child = execution_create(flow=flow, inputs={"doc": mine.inputs["doc"]}, parent=(mine, "r"))
    ctx = _task_context(mine)

    assert ctx.open_uri(mine.inputs["doc"]).read_bytes() == b"mine"
    assert _task_context(child).open_uri(mine.inputs["doc"]).read_bytes() == b"mine"
    with pytest.raises(TaskFailed, match="is not a file of this execution or of its parents"):
        ctx.open_uri(theirs.inputs["doc"])
    # what a user sees: a script task naming another execution's input fails, copying nothing
    shell = registry.get("io.kestra.plugin.scripts.shell.Commands")()
    with pytest.raises(TaskFailed, match="is not a file of this execution"):
        shell.run({"commands": ["cat x"], "inputFiles": {"x": theirs.inputs["doc"]}}, ctx)
    assert not (ctx.working_dir / "x").exists()
    ctx.cleanup()


def test_delete_files_deletes_this_executions_files_only(flow):
    from kernel.plugin import TaskFailed
    from plugins.core.storage import DeleteFiles

    mine = execution_create(flow=flow, files={"doc": SimpleUploadedFile("m.txt", b"mine")})
    theirs = execution_create(flow=flow, files={"doc": SimpleUploadedFile("t.txt", b"theirs")})
    ctx = _task_context(mine)
    storage = default_storage()

    with pytest.raises(TaskFailed, match="is not a file of this execution"):
        DeleteFiles().run({"uris": [theirs.inputs["doc"]]}, ctx)
    assert storage.exists(theirs.inputs["doc"])
    assert DeleteFiles().run({"uris": [mine.inputs["doc"]]}, ctx) == {"deleted": 1}
    assert not storage.exists(mine.inputs["doc"])
    with pytest.raises(TaskFailed, match="no file at"):
        DeleteFiles().run({"uris": [mine.inputs["doc"]], "errorOnMissing": True}, ctx)
