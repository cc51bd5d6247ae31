"""Node.js tasks: ``Script`` (inline JavaScript) and ``Commands`` (shell lines calling
``node``/``npm``), run like the shell tasks with the worker's ``node``.

Kestra's Node tasks have no ``dependencies`` property: packages come from ``beforeCommands``
(``npm install ...`` into the working directory) or from the container image.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext
from plugins.scripts.process import (
    COMMANDS,
    COMMON_PROPS,
    RunsCommands,
    Runtime,
    ScriptTask,
    write_script,
)


class Script(ScriptTask):
    """Run inline JavaScript with ``node``."""

    type = "trellis.scripts.node.Script"
    aliases = ("io.kestra.plugin.scripts.node.Script",)
    default_image = "node"
    properties: ClassVar = (
        Prop("script", "string", required=True, description="The JavaScript source to run."),
        *COMMON_PROPS,
    )
    examples = (
        """id: node_script
namespace: trellis.examples
tasks:
  - id: compute
    type: io.kestra.plugin.scripts.node.Script
    script: |
      const total = [1, 2, 3].reduce((a, b) => a + b, 0);
      console.log(`::${JSON.stringify({outputs: {total}})}::`);
""",
    )

    def command_lines(
        self, props: dict[str, Any], ctx: RunContext, runtime: Runtime | None = None
    ) -> list[str]:
        return [f"node {write_script(ctx, props.get('script'), '.js')}"]


class Commands(RunsCommands, ScriptTask):
    """Run shell lines that call ``node`` or ``npm``."""

    type = "trellis.scripts.node.Commands"
    aliases = ("io.kestra.plugin.scripts.node.Commands",)
    default_image = "node"
    properties: ClassVar = (
        COMMANDS,
        *COMMON_PROPS,
    )
    examples = (
        """id: node_commands
namespace: trellis.examples
tasks:
  - id: run
    type: io.kestra.plugin.scripts.node.Commands
    inputFiles:
      main.js: |
        console.log("hello from main.js");
    commands:
      - node main.js
""",
    )


PLUGINS = [Script, Commands]
