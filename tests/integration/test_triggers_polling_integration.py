"""The local file trigger for real: beat's poll sweep (two beats), polls on the task worker
(with duplicated poll messages racing them), 100 files dropped at once -> 100 executions."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from django.conf import settings

from executions.models import Execution
from flows.services import flow_deploy
from kernel.states import State
from orchestrator import processes
from tests.integration.conftest import wait_for
from triggers.models import TriggerFire, TriggerState
from triggers.services import trigger_set_disabled

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FILES_FLOW = """id: inbox
namespace: it.poll
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.file.name }}}}"
triggers:
  - id: files
    type: io.kestra.plugin.fs.local.Trigger
    from: {inbox}
    action: MOVE
    moveDirectory: {done}
    interval: PT1S
    maxFiles: 30
"""
COUNT = 100


def start_database_beats(env: dict, count: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            processes.scheduler_cmd(),
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        for _ in range(count)
    ]


def stop(beats: list[subprocess.Popen]) -> None:
    for beat in beats:
        beat.terminate()
    for beat in beats:
        beat.wait(timeout=30)


def test_a_hundred_files_dropped_at_once_start_a_hundred_executions(workers, tmp_path) -> None:
    from triggers.tasks import poll_trigger

    inbox, done, staging = tmp_path / "inbox", tmp_path / "done", tmp_path / "staging"
    for folder in (inbox, staging):
        folder.mkdir()
    names = [f"file-{i:03d}.csv" for i in range(COUNT)]
    for name in names:
        (staging / name).write_text(name)
    flow_deploy(source=FILES_FLOW.format(inbox=inbox, done=done))
    beats = start_database_beats(workers.env, 2)
    started = time.monotonic()
    try:
        for name in names:  # all at once, each appearing whole
            os.rename(staging / name, inbox / name)
        duplicated: set[str] = set()

        def all_fired() -> bool:
            # Deliver every poll a second and third time, so polls race on the worker.
            token = TriggerState.objects.get(trigger_id="files").poll_token
            if token and token not in duplicated:
                duplicated.add(token)
                for _ in range(2):
                    poll_trigger.apply_async(("it.poll", "inbox", "files", token), queue="default")
            return (
                TriggerFire.objects.filter(flow_id="inbox").count() >= COUNT
                and len(list(done.glob("*.csv"))) == COUNT
            )

        wait_for(all_fired, timeout=120, poll=0.2)
        fired_in = time.monotonic() - started
        time.sleep(3)  # more polls, duplicated too: they must find nothing left
    finally:
        stop(beats)
        trigger_set_disabled(
            namespace="it.poll", flow_id="inbox", trigger_id="files", disabled=True
        )
    executions = list(Execution.objects.filter(namespace="it.poll", flow_id="inbox"))
    seen = sorted(e.trigger["variables"]["file"]["name"] for e in executions)
    assert seen == names  # one execution per file: none missing, none twice
    assert TriggerFire.objects.filter(flow_id="inbox").count() == COUNT
    assert sorted(p.name for p in done.iterdir()) == names
    assert not list(inbox.glob("*.csv"))
    assert len(duplicated) >= 2  # several polls ran, each delivered three times
    print(f"\n{COUNT} files -> {COUNT} executions created in {fired_in:.1f}s")

    def finished() -> bool:
        states = set(Execution.objects.filter(flow_id="inbox").values_list("state", flat=True))
        return states == {State.SUCCESS}

    wait_for(finished, timeout=180, poll=0.5)
    one = Execution.objects.filter(flow_id="inbox").first()
    assert one.task_runs.get(task_id="only").outputs == {
        "value": one.trigger["variables"]["file"]["name"]
    }
