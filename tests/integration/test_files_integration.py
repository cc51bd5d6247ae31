"""The files families on real workers (issue 17): flows written with Kestra's type names run
by a task worker of their own (worker group ``files-it``), whose environment lets it reach
the servers this test starts on 127.0.0.1 and the folder of its bare git repository."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from executions.models import Execution, LogEntry
from executions.services import execution_create, execution_wait
from executions.states import State
from flows.services import flow_deploy
from tests.file_servers import PASSWORD, USER, bare_repo, s3_server, sftp_server
from tests.integration.harness import Processes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUP = "    workerGroup:\n      key: files-it\n"


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("files-it")


@pytest.fixture(scope="module")
def files_worker(celery_processes, shared, tmp_path_factory):  # noqa: ANN201
    fleet = Processes(tmp_path_factory.mktemp("files-logs"))
    fleet.env.update({"TRELLIS_HTTP_ALLOW": "127.0.0.1", "TRELLIS_FS_ALLOWED_PATHS": str(shared)})
    fleet.start_worker("files", "wg.files-it", concurrency=1)
    try:
        yield fleet
    finally:
        fleet.stop()


def run(source: str) -> Execution:
    flow = flow_deploy(source=source).flow
    return execution_wait(execution_create(flow=flow, inputs={}).id, timeout=90)


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
        done = run(f"""id: s3-round-trip
namespace: it.files
tasks:
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "hello from s3"
    extension: .txt
  - id: upload
    type: io.kestra.plugin.aws.s3.Upload
    from: "{{{{ outputs.write.uri }}}}"
    key: in/hello.txt
{conn}  - id: list
    type: io.kestra.plugin.aws.s3.List
    prefix: in/
{conn}  - id: download
    type: io.kestra.plugin.aws.s3.Download
    key: "{{{{ outputs.list.objects[0].key }}}}"
{conn}  - id: result
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ read(outputs.download.uri) }}}}"
outputs:
  - id: content
    type: STRING
    value: "{{{{ outputs.result.value }}}}"
""")
    assert done.state == State.SUCCESS, done.state
    assert done.outputs == {"content": "hello from s3"}


def test_sftp_upload_then_download(workers, files_worker, shared) -> None:
    root = shared / "sftp-root"
    root.mkdir()
    with sftp_server(root) as port:
        conn = (
            f'    host: 127.0.0.1\n    port: "{port}"\n    username: {USER}\n'
            f"    password: {PASSWORD}\n{GROUP}"
        )
        done = run(f"""id: sftp-round-trip
namespace: it.files
tasks:
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "hello over sftp"
    extension: .txt
  - id: upload
    type: io.kestra.plugin.fs.sftp.Upload
    from: "{{{{ outputs.write.uri }}}}"
    to: /upload/hello.txt
{conn}  - id: download
    type: io.kestra.plugin.fs.sftp.Download
    from: /upload/hello.txt
{conn}  - id: result
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ read(outputs.download.to) }}}}"
outputs:
  - id: content
    type: STRING
    value: "{{{{ outputs.result.value }}}}"
""")
    assert done.state == State.SUCCESS, done.state
    assert done.outputs == {"content": "hello over sftp"}
    assert (root / "upload/hello.txt").read_text() == "hello over sftp"
    messages = " ".join(LogEntry.objects.filter(execution=done).values_list("message", flat=True))
    assert PASSWORD not in messages


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
{GROUP.replace("    ", "        ", 1).replace("      key", "          key")}      - id: show
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - cat repo/greeting.txt
{GROUP.replace("    ", "        ", 1).replace("      key", "          key")}""")
    assert done.state == State.SUCCESS, done.state
    messages = list(LogEntry.objects.filter(execution=done).values_list("message", flat=True))
    assert "hello from git" in messages
