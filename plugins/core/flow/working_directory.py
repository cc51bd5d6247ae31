"""``WorkingDirectory``: run tasks one after the other in one folder they share.

Kestra runs the whole block on one worker. Trellis keeps each child an ordinary task run (its
own attempts, retries, crash recovery) and carries the folder between them through internal
storage instead (``executions.worker.workdir``): the first child to touch its working directory
starts from the block's ``namespaceFiles`` and ``inputFiles``; every child that ends well
saves the folder for the next one; ``outputFiles`` are collected from the folder each time it
is saved and become this task's outputs. Only runnable tasks may sit inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from kernel.plugin import FlowableContext, Output, Prop, RunnableTask, kestra_aliases
from kernel.registry import UnknownType, registry
from plugins.core.flow.sequential import BLOCK_PROPS, BlockTask

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec

TYPE = "trellis.core.flow.WorkingDirectory"
#: The key under which a child's run records what it saved (read back by ``outputs``).
SAVED = "_workingDirectory"

_EXAMPLE = """id: shared_folder
namespace: trellis.examples
tasks:
  - id: wdir
    type: trellis.core.flow.WorkingDirectory
    inputFiles:
      names.txt: "Ada\\nGrace\\n"
    outputFiles:
      - "*.csv"
    tasks:
      - id: write
        type: trellis.scripts.shell.Commands
        commands:
          - sort names.txt > sorted.csv
      - id: read
        type: trellis.scripts.shell.Commands
        commands:
          - cat sorted.csv
"""


class WorkingDirectory(BlockTask):
    """Run ``tasks`` in sequence in one shared folder, with ``errors`` and ``finally``."""

    type = TYPE
    replay_restarts_children = True
    aliases = (
        *kestra_aliases("flow.WorkingDirectory", core_tasks="flows.WorkingDirectory"),
        "io.kestra.core.tasks.flows.Worker",
        "org.kestra.core.tasks.flows.Worker",
    )
    properties: ClassVar = (
        Prop("tasks", "tasks", required=True, description="Runnable tasks only."),
        Prop("inputFiles", "any", description="Files written into the folder first."),
        Prop("outputFiles", "list", items="string", description="Globs kept as outputs."),
        Prop("namespaceFiles", "map", description="enabled, include, exclude, namespaces."),
        Prop("cache", "map", description="Accepted and ignored: the folder is not cached."),
        *BLOCK_PROPS,
    )
    examples = (_EXAMPLE,)

    declared_outputs: ClassVar = (
        Output("outputFiles", "Files matching `outputFiles`, name -> internal-storage URI.", "map"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        for i, child in enumerate(props.get("tasks") or ()):
            kind = child.get("type") if isinstance(child, Mapping) else None
            try:
                found = registry.get(str(kind))
            except UnknownType:
                continue  # the parser reports the unknown type itself
            if not issubclass(found, RunnableTask):
                problems.append(
                    (f"tasks[{i}].type", f"only runnable tasks can run in a WorkingDirectory, "
                     f"not the flowable {kind!r}")
                )  # fmt: skip
        return problems

    def outputs(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        """``outputFiles`` as the last child that saved the folder found them."""
        if not task.properties.get("outputFiles"):
            return {}
        saved = [c for c in ctx.children() if isinstance(c.outputs.get(SAVED), Mapping)]
        latest = max(saved, key=lambda c: c.seq, default=None)
        files = latest.outputs[SAVED].get("outputFiles", {}) if latest is not None else {}
        return {"outputFiles": dict(files)}


PLUGINS = [WorkingDirectory]
