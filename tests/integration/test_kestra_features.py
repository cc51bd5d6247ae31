"""Kestra features that cross the worker boundary, run by real workers (issue 8): SECRET
inputs sealed at rest, namespace files read by ``read()`` and by script tasks, ForEachItem."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from executions.models import Execution, LogEntry, TaskRun
from executions.services import execution_create, execution_wait
from flows.services import flow_deploy
from kernel.states import State
from namespaces.services import nsfile_put
from orchestrator.storage import default_storage

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def outputs_of(execution: Execution) -> dict:
    return dict(TaskRun.objects.filter(execution=execution).values_list("task_id", "outputs"))


def test_a_secret_input_is_stored_sealed_masked_in_logs_and_clear_to_tasks(workers) -> None:
    flow = flow_deploy(
        source="""
id: secret-input
namespace: it.kestra
inputs:
  - id: password
    type: SECRET
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "the password is {{ inputs.password }}"
  - id: length
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.password | length }}"
"""
    ).flow

    done = execution_wait(execution_create(flow=flow, inputs={"password": "hunter22"}).id, 60)

    assert done.state == State.SUCCESS
    assert done.inputs["password"] != "hunter22"
    messages = list(LogEntry.objects.filter(execution_id=done.id).values_list("message", flat=True))
    assert "the password is ********" in messages
    assert not any("hunter22" in m for m in messages)
    assert outputs_of(done)["length"] == {"value": "8"}


def test_namespace_files_reach_read_and_script_tasks(workers) -> None:
    nsfile_put(namespace="it.kestra", path="queries/q.sql", data=b"select 42\n")
    nsfile_put(namespace="it.kestra", path="scripts/hello.sh", data=b"echo from-a-script\n")
    flow = flow_deploy(
        source="""
id: namespace-files
namespace: it.kestra
tasks:
  - id: query
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('queries/q.sql') | trim }}"
  - id: script
    type: io.kestra.plugin.scripts.shell.Commands
    namespaceFiles:
      enabled: true
      include: ["scripts/*"]
    commands:
      - sh scripts/hello.sh
      - test ! -e queries/q.sql
"""
    ).flow

    done = execution_wait(execution_create(flow=flow).id, 60)

    assert done.state == State.SUCCESS, list(LogEntry.objects.values_list("message", flat=True))
    assert outputs_of(done)["query"] == {"value": "select 42"}
    logs = LogEntry.objects.filter(execution_id=done.id, task_id="script")
    assert "from-a-script" in logs.values_list("message", flat=True)


def test_for_each_item_starts_one_subflow_per_batch_and_merges_their_outputs(workers) -> None:
    flow_deploy(
        source="""
id: fei-child
namespace: it.kestra
inputs:
  - id: items
    type: STRING
tasks:
  - id: count
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(inputs.items) | trim | split('\\n') | length }}"
outputs:
  - id: lines
    type: INT
    value: "{{ outputs.count.value | number }}"
"""
    )
    parent = flow_deploy(
        source="""
id: fei-parent
namespace: it.kestra
inputs:
  - id: file
    type: FILE
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ inputs.file }}"
    batch:
      rows: 2
    namespace: it.kestra
    flowId: fei-child
    inputs:
      items: "{{ taskrun.items }}"
"""
    ).flow
    upload = SimpleUploadedFile("items.txt", b"a\nb\nc\nd\ne\n")

    done = execution_wait(execution_create(flow=parent, files={"file": upload}).id, 90)

    errors = LogEntry.objects.filter(level="ERROR").values_list("task_id", "message")
    assert done.state == State.SUCCESS, list(errors)
    runs = list(TaskRun.objects.filter(execution=done).order_by("seq"))
    assert [r.task_id for r in runs] == ["each", "each_split", "each_items", "each_merge"]
    items = runs[2].outputs
    assert items["numberOfBatches"] == 3
    assert items["iterations"] == {"CREATED": 0, "RUNNING": 0, "SUCCESS": 3}
    children = Execution.objects.filter(parent_execution_id=done.id)
    assert children.count() == 3
    assert all("/tasks/each-split/" in c.inputs["items"] for c in children)
    with default_storage().open(runs[3].outputs["subflowOutputs"]) as merged:
        lines = [json.loads(line) for line in merged.read().decode().splitlines()]
    assert lines == [{"lines": 2}, {"lines": 2}, {"lines": 1}]


def test_storage_tasks_chain_files_between_tasks(workers) -> None:
    flow = flow_deploy(
        source="""
id: storage-chain
namespace: it.kestra
tasks:
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "a\\nb\\nc\\n"
    extension: .csv
  - id: split
    type: io.kestra.plugin.core.storage.Split
    from: "{{ outputs.write.uri }}"
    rows: 2
  - id: reverse
    type: io.kestra.plugin.core.storage.Reverse
    from: "{{ outputs.write.uri }}"
  - id: concat
    type: io.kestra.plugin.core.storage.Concat
    files: "{{ outputs.split.uris }}"
    separator: "--\\n"
  - id: size
    type: io.kestra.plugin.core.storage.Size
    uri: "{{ outputs.concat.uri }}"
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ read(outputs.reverse.uri) | trim }}"
"""
    ).flow

    done = execution_wait(execution_create(flow=flow).id, 60)

    assert done.state == State.SUCCESS
    outputs = outputs_of(done)
    assert len(outputs["split"]["uris"]) == 2
    storage = default_storage()
    with storage.open(outputs["concat"]["uri"]) as handle:
        assert handle.read() == b"a\nb\n--\nc\n"
    assert outputs["size"] == {"size": 9}
    messages = LogEntry.objects.filter(execution_id=done.id, task_id="show")
    assert [m.message for m in messages] == ["c\nb\na"]


def test_a_working_directory_shares_its_folder_between_its_tasks(workers) -> None:
    nsfile_put(namespace="it.kestra", path="data/seed.txt", data=b"from-the-namespace\n")
    flow = flow_deploy(
        source="""
id: shared-folder
namespace: it.kestra
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    namespaceFiles:
      enabled: true
      include: ["data/**"]
    inputFiles:
      names.txt: "Grace\\nAda\\n"
    outputFiles:
      - "*.csv"
    tasks:
      - id: write
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - sort names.txt > sorted.csv
          - mkdir -p sub && echo deep > sub/deep.txt
      - id: log
        type: io.kestra.plugin.core.log.Log
        message: a task that never touches the folder
      - id: read
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - echo "read $(cat sorted.csv | tr '\\n' ' ')$(cat sub/deep.txt) $(cat data/seed.txt)"
          - echo more >> sorted.csv
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(outputs.wdir.outputFiles['sorted.csv']) | trim }}"
"""
    ).flow

    done = execution_wait(execution_create(flow=flow).id, 90)

    assert done.state == State.SUCCESS
    lines = list(LogEntry.objects.filter(execution_id=done.id, task_id="read").values_list(
        "message", flat=True))  # fmt: skip
    assert "read Ada Grace deep from-the-namespace" in lines
    outputs = outputs_of(done)
    assert list(outputs["wdir"]["outputFiles"]) == ["sorted.csv"]
    assert outputs["after"] == {"value": "Ada\nGrace\nmore"}


def test_a_failed_task_in_a_working_directory_leaves_the_folder_as_it_was(workers) -> None:
    flow = flow_deploy(
        source="""
id: shared-folder-retry
namespace: it.kestra
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: first
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - echo 1 > count.txt
      - id: flaky
        type: io.kestra.plugin.scripts.shell.Commands
        retry:
          type: constant
          interval: PT0.2S
          maxAttempt: 2
        commands:
          - echo x >> count.txt
          - test "$(wc -l < count.txt)" -ge 3 || { echo "lines $(wc -l < count.txt)"; exit 1; }
"""
    ).flow

    done = execution_wait(execution_create(flow=flow).id, 90)

    # each attempt starts from what `first` left: two lines, never three
    assert done.state == State.FAILED
    flaky = TaskRun.objects.get(execution=done, task_id="flaky")
    assert flaky.attempts == 2
    lines = LogEntry.objects.filter(execution_id=done.id, task_id="flaky", message="lines 2")
    assert lines.count() == 2


def test_housekeeping_tasks_reach_the_records_from_a_worker(workers) -> None:
    old = flow_deploy(
        source="id: old\nnamespace: it.kestra.house\ntasks:\n  - id: a\n"
        "    type: io.kestra.plugin.core.log.Log\n    message: old\n"
    ).flow
    previous = execution_wait(execution_create(flow=old).id, 60)
    flow = flow_deploy(
        source="""
id: housekeeping
namespace: it.kestra.house
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello from this execution
  - id: fetch
    type: io.kestra.plugin.core.log.Fetch
    level: INFO
  - id: count
    type: io.kestra.plugin.core.execution.Count
    startDate: "{{ now() | dateAdd(-1, 'HOURS') }}"
    flows:
      - {namespace: it.kestra.house, flowId: old}
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    endDate: "{{ now() | dateAdd(1, 'MINUTES') }}"
    flowId: old
"""
    ).flow

    done = execution_wait(execution_create(flow=flow).id, 60)

    assert done.state == State.SUCCESS
    outputs = outputs_of(done)
    with default_storage().open(outputs["fetch"]["uri"]) as handle:
        lines = [json.loads(line) for line in handle.read().decode().splitlines()]
    assert [line["message"] for line in lines] == ["hello from this execution"]
    assert outputs["count"]["results"] == [
        {"namespace": "it.kestra.house", "flowId": "old", "count": 1}
    ]
    assert outputs["purge"]["executionsCount"] == 1
    assert not Execution.objects.filter(pk=previous.id).exists()
