"""``Sleep``: wait on a worker for a duration, stopping early when the run is killed."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from kernel.durations import parse_duration
from kernel.plugin import Prop, RunContext, RunnableTask, kestra_aliases


class Sleep(RunnableTask):
    type = "trellis.core.flow.Sleep"
    aliases = kestra_aliases("flow.Sleep", core_tasks="flows.Sleep")
    properties: ClassVar = (Prop("duration", "duration", required=True),)

    #: Returns nothing: it only waits.
    outputs: ClassVar = ()

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        deadline = time.monotonic() + parse_duration(props["duration"]).total_seconds()
        while (left := deadline - time.monotonic()) > 0:
            if ctx.should_stop():
                break
            time.sleep(min(left, 0.2))
        return {}


PLUGINS = [Sleep]
