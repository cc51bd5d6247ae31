"""The opt-in ``foreach_item_100k`` scenario: ForEachItem over 10,000 then 100,000 items.

A parent flow takes its items as a FILE input (uploaded with the execution, so it sits in
internal storage as a user's would) and batches them into subflows of 1,000 rows: 10 and 100
child executions of a one-``Log`` flow. Measured: both end SUCCESS, wall time (100k should
cost at most 12x 10k: linear), and the resident memory of each role, sampled every 0.05 s as
VmRSS summed over its process trees (leader + prefork children): the 100k peak should be
within 10% of the 10k peak, i.e. nothing holds all items (or all batches) in memory at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.files.uploadedfile import SimpleUploadedFile

from bench.flows import LOG, NAMESPACE, deploy
from bench.report import Row
from bench.scenarios import REPEATS, TimedOut, wait_terminal
from executions.models import Execution
from executions.services import execution_create
from flows.models import Flow
from kernel.states import State

ROWS = 1000
SIZES = (10_000, 100_000)
CHILD = f"""id: item_batch
namespace: {NAMESPACE}
inputs:
  - id: items
    type: STRING
tasks:
  - id: log
    type: {LOG}
    message: "batch {{{{ inputs.items }}}}"
"""
PARENT = f"""id: foreach_items
namespace: {NAMESPACE}
inputs:
  - id: file
    type: FILE
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{{{ inputs.file }}}}"
    batch:
      rows: {ROWS}
    namespace: {NAMESPACE}
    flowId: item_batch
    inputs:
      items: "{{{{ taskrun.items }}}}"
"""


class Sampler:
    """Peak of each role's summed VmRSS while a ``with sampler.window():`` block runs."""

    def __init__(self, workers, every: float = 0.05) -> None:  # noqa: ANN001 - bench Workers
        self.workers = workers
        self.every = every

    @contextmanager
    def window(self) -> Iterator[dict[str, int]]:
        """Yields {role: peak of the sum, "<role>/one": peak of its largest process} (kB),
        filled in until the block ends."""
        peak: dict[str, int] = {"executor": 0, "tasks": 0, "executor/one": 0, "tasks/one": 0}
        done = threading.Event()

        def sample() -> None:
            while True:
                for role, kbs in self.workers.process_rss_kb().items():
                    peak[role] = max(peak[role], sum(kbs))
                    peak[f"{role}/one"] = max(peak[f"{role}/one"], max(kbs, default=0))
                if done.wait(self.every):
                    return

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield peak
        finally:
            done.set()
            thread.join()


def _items(n: int) -> SimpleUploadedFile:
    text = "".join(json.dumps({"id": i, "name": f"item-{i}"}) + "\n" for i in range(n))
    return SimpleUploadedFile(f"items-{n}.jsonl", text.encode())


def run_items(parent: Flow, n: int, timeout: float) -> tuple[float, str]:
    """Wall seconds of one ForEachItem execution over ``n`` items; raises unless SUCCESS."""
    upload = _items(n)  # built before the clock starts: it is the user's file
    started = time.perf_counter()
    execution = execution_create(flow=parent, files={"file": upload})
    wait_terminal([execution.id], timeout, poll=0.05)
    seconds = time.perf_counter() - started
    state = Execution.objects.values_list("state", flat=True).get(pk=execution.id)
    children = Execution.objects.filter(parent_execution_id=execution.id)
    ok = children.filter(state=State.SUCCESS).count()
    detail = f"{ok}/{children.count()} child executions SUCCESS"
    if state != State.SUCCESS:
        raise RuntimeError(f"ForEachItem over {n} items ended {state} ({detail})")
    return seconds, detail


def foreach_item_100k(backend: str, workers) -> list[Row]:  # noqa: ANN001 - bench Workers
    deploy(CHILD)
    parent = deploy(PARENT)
    run_items(parent, 2 * ROWS, 120)  # every pool child has imported the ForEachItem path
    sampler = Sampler(workers)
    idle = workers.role_rss_kb()
    results: dict[int, tuple[float, str, dict[str, int]]] = {}
    rows: list[Row] = []
    for n in SIZES:
        budget = 600.0 if n == SIZES[0] else min(3600.0, max(120.0, 20 * results[SIZES[0]][0]))
        # The short run is repeated (median time, highest peak): one sample is too noisy.
        samples = []
        with sampler.window() as peak:
            try:
                for _ in range(REPEATS if n == SIZES[0] else 1):
                    samples.append(run_items(parent, n, budget))
            except TimedOut:
                rows.append(Row(backend, f"ForEachItem over {n:,} items: wall time", None, "s",
                                error=f"> {budget:.0f} s (stopped)"))  # fmt: skip
                return rows
        seconds, detail = sorted(samples)[len(samples) // 2]
        results[n] = (seconds, detail, dict(peak))
        times = " / ".join(f"{s:.2f}" for s, _ in samples)
        rows.append(Row(backend, f"ForEachItem over {n:,} items ({n // ROWS} batches): wall "
                        "time", seconds, "s",
                        details=f"{'median of ' if len(samples) > 1 else ''}{times} s; SUCCESS; "
                        f"{detail}; peak RSS executors {peak['executor'] / 1024:.0f} MB "
                        f"(+{(peak['executor'] - idle['executor']) / 1024:.0f} over idle), task "
                        f"workers {peak['tasks'] / 1024:.0f} MB "
                        f"(+{(peak['tasks'] - idle['tasks']) / 1024:.0f})"))  # fmt: skip
    (small, _, small_peak), (large, _, large_peak) = results[SIZES[0]], results[SIZES[1]]
    rows.append(Row(backend, "ForEachItem 100,000 / 10,000 items: wall time", large / small, "x",
                    ("<=", 12), f"{large:.2f} / {small:.2f} s"))  # fmt: skip
    for role, label in (("executor", "executor"), ("tasks", "task worker")):
        rows.append(Row(backend, f"ForEachItem peak RSS of the {label}s: 100k / 10k",
                        large_peak[role] / small_peak[role], "x", ("<=", 1.10),
                        f"{large_peak[role] / 1024:.0f} / {small_peak[role] / 1024:.0f} MB "
                        f"(idle before: {idle[role] / 1024:.0f} MB; VmRSS summed over the "
                        "leader and its prefork children, sampled every 0.05 s); largest "
                        f"process {large_peak[role + '/one'] / 1024:.0f} / "
                        f"{small_peak[role + '/one'] / 1024:.0f} MB"))  # fmt: skip
    return rows
