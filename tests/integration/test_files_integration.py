"""The files families on real workers (issue 17): flows written with Kestra's type names run
by a task worker of their own (worker group ``files-it``), whose environment lets it reach
the servers this test starts on 127.0.0.1 and the folder of its bare git repository."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from executions.models import Execution
from executions.services import execution_wait
from flows.services import flow_deploy
from kernel.states import State
from orchestrator import processes
from tests.file_servers import PASSWORD, USER, bare_repo, s3_server, sftp_server
from tests.integration.conftest import wait_for
from tests.integration.harness import loopback_worker
from tests.integration.runs import log_messages, run_source
from triggers.services import trigger_set_disabled

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUP = "    workerGroup:\n      key: files-it\n"
#: The same, for a task inside a flowable's ``tasks``.
INNER_GROUP = "        workerGroup:\n          key: files-it\n"


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("files-it")


@pytest.fixture(scope="module")
def files_worker(celery_processes, shared, tmp_path_factory):  # noqa: ANN201
    logs = tmp_path_factory.mktemp("files-logs")
    with loopback_worker(logs, "files-it", TRELLIS_FS_ALLOWED_PATHS=str(shared)) as fleet:
        yield fleet


def run(source: str) -> Execution:
    return run_source(source, timeout=90, inputs={})


def run_round_trip(flow_id: str, content: str, transfer: str, read: str) -> Execution:
    """Run a flow that writes ``content`` to a file (task ``write``), moves it with the
    ``transfer`` tasks, and outputs as ``content`` what it reads back from the ``read`` URI
    (an expression)."""
    return run(f"""id: {flow_id}
namespace: it.files
tasks:
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "{content}"
    extension: .txt
{transfer}  - id: result
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ read({read}) }}}}"
outputs:
  - id: content
    type: STRING
    value: "{{{{ outputs.result.value }}}}"
""")


def messages(execution: Execution) -> str:
    """Everything the execution logged, in one text."""
    return " ".join(log_messages(execution))


def test_s3_upload_list_download(workers, files_worker) -> None:
    pytest.importorskip("boto3")
    with s3_server() as endpoint:
        import boto3

        bucket = f"it-{uuid.uuid4().hex[:10]}"
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k",
                     aws_secret_access_key="s", region_name="us-east-1").create_bucket(
            Bucket=bucket)  # fmt: skip
        conn = (
            f"    accessKeyId: it-key\n    secretKeyId: it-secret\n    region: us-east-1\n"
            f"    endpointOverride: {endpoint}\n    bucket: {bucket}\n{GROUP}"
        )
        transfer = f"""  - id: upload
    type: io.kestra.plugin.aws.s3.Upload
    from: "{{{{ outputs.write.uri }}}}"
    key: in/hello.txt
{conn}  - id: list
    type: io.kestra.plugin.aws.s3.List
    prefix: in/
{conn}  - id: download
    type: io.kestra.plugin.aws.s3.Download
    key: "{{{{ outputs.list.objects[0].key }}}}"
{conn}"""
        done = run_round_trip("s3-round-trip", "hello from s3", transfer, "outputs.download.uri")
    assert done.state == State.SUCCESS, done.state
    assert done.outputs == {"content": "hello from s3"}
    logged = messages(done)
    assert "it-secret" not in logged
    assert "s3://" in logged  # the tasks did log what they did


def test_sftp_upload_then_download(workers, files_worker, shared) -> None:
    root = shared / "sftp-root"
    root.mkdir()
    with sftp_server(root) as port:
        conn = (
            f'    host: 127.0.0.1\n    port: "{port}"\n    username: {USER}\n'
            f"    password: {PASSWORD}\n{GROUP}"
        )
        transfer = f"""  - id: upload
    type: io.kestra.plugin.fs.sftp.Upload
    from: "{{{{ outputs.write.uri }}}}"
    to: /upload/hello.txt
{conn}  - id: download
    type: io.kestra.plugin.fs.sftp.Download
    from: /upload/hello.txt
{conn}"""
        done = run_round_trip("sftp-round-trip", "hello over sftp", transfer, "outputs.download.to")
    assert done.state == State.SUCCESS, done.state
    assert done.outputs == {"content": "hello over sftp"}
    assert (root / "upload/hello.txt").read_text() == "hello over sftp"
    assert PASSWORD not in messages(done)


def test_git_clone_then_read_a_file(workers, files_worker, shared) -> None:
    folder = shared / f"git-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    bare = bare_repo(folder, {"greeting.txt": "hello from git\n"}, branch="main")
    done = run(f"""id: git-clone
namespace: it.files
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
{GROUP}    tasks:
      - id: clone
        type: io.kestra.plugin.git.Clone
        url: file://{bare}
        branch: main
        directory: repo
{INNER_GROUP}      - id: show
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - cat repo/greeting.txt
{INNER_GROUP}""")
    assert done.state == State.SUCCESS, done.state
    assert "hello from git" in log_messages(done)


def test_s3_trigger_starts_one_execution_and_moves_the_object(workers, files_worker) -> None:
    pytest.importorskip("boto3")
    with s3_server() as endpoint:
        import boto3

        bucket = f"it-{uuid.uuid4().hex[:10]}"
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k",
                          aws_secret_access_key="s", region_name="us-east-1")  # fmt: skip
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="in/order.json", Body=b'{"id": 7}')
        flow_deploy(
            source=f"""id: s3-watch
namespace: it.files
tasks:
  - id: show
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ read(trigger.objects[0].uri) }}}}"
triggers:
  - id: watch
    type: io.kestra.plugin.aws.s3.Trigger
    interval: PT1S
    accessKeyId: it-key
    secretKeyId: it-secret
    region: us-east-1
    endpointOverride: {endpoint}
    bucket: {bucket}
    prefix: in/
    action: MOVE
    moveTo:
      key: archive
{GROUP}"""
        )
        beat = subprocess.Popen(
            processes.scheduler_cmd(), env=files_worker.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:

            def moved() -> bool:
                listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
                return [o["Key"] for o in listed] == ["archive/order.json"]

            wait_for(moved, timeout=60, poll=0.5)
            execution = wait_for(
                lambda: Execution.objects.filter(flow_id="s3-watch").first(), timeout=30
            )
            done = execution_wait(execution.id, timeout=60)
            time.sleep(2)  # more polls: they find nothing left
        finally:
            beat.terminate()
            beat.wait(15)
            trigger_set_disabled(
                namespace="it.files", flow_id="s3-watch", trigger_id="watch", disabled=True
            )
    assert done.state == State.SUCCESS
    assert Execution.objects.filter(flow_id="s3-watch").count() == 1
    assert done.task_runs.get(task_id="show").outputs == {"value": '{"id": 7}'}
    objects = done.trigger["variables"]["objects"]
    assert [o["key"] for o in objects] == ["in/order.json"]
    assert objects[0]["uri"].startswith("kestra://")


def test_git_push_flows_then_sync_them_into_a_child_namespace(
    workers, files_worker, shared
) -> None:
    from flows.models import Flow

    folder = shared / f"sync-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    bare = bare_repo(folder, {"README.md": "flows\n"}, branch="main")
    done = run(f"""id: git-round-trip
namespace: it.gitsync
tasks:
  - id: push
    type: io.kestra.plugin.git.PushFlows
    url: file://{bare}
    branch: main
    commitMessage: from trellis
{GROUP}  - id: sync
    type: io.kestra.plugin.git.SyncFlows
    url: file://{bare}
    branch: main
    targetNamespace: it.gitsync.copy
{GROUP}""")
    assert done.state == State.SUCCESS, done.state
    push = done.task_runs.get(task_id="push").outputs
    assert len(push["commitId"]) == 40
    assert push["flows"] == ["git-round-trip"]
    copy = Flow.objects.live().get(namespace__name="it.gitsync.copy", flow_id="git-round-trip")
    assert "namespace: it.gitsync.copy" in copy.source
    sync = done.task_runs.get(task_id="sync").outputs
    assert sync["flows"] == [
        {"namespace": "it.gitsync.copy", "flowId": "git-round-trip", "syncState": "ADDED"}
    ]
