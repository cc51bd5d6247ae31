"""Shell tasks: ``Commands``, ``Script`` and Kestra's deprecated ``Bash``.

All three join their lines into one script handed to a shell interpreter (``/bin/sh -c`` by
default) in the task's working directory; :mod:`plugins.scripts.process` does the running.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext, TaskResult
from plugins.scripts.files import as_bool, as_lines
from plugins.scripts.process import COMMANDS, COMMON_PROPS, RunsCommands, Runtime, ScriptTask


class Commands(RunsCommands, ScriptTask):
    """Run shell command lines; ``::{"outputs":{...}}::`` lines become ``outputs.vars``."""

    default_image = "ubuntu"

    type = "trellis.scripts.shell.Commands"
    aliases = ("io.kestra.plugin.scripts.shell.Commands",)
    properties: ClassVar = (
        COMMANDS,
        *COMMON_PROPS,
    )
    examples = (
        """id: shell_commands
namespace: trellis.examples
tasks:
  - id: hello
    type: trellis.scripts.shell.Commands
    env:
      GREETING: hello
    commands:
      - echo "$GREETING from $(pwd)"
      - echo '::{"outputs":{"answer":42}}::'
      - echo done > result.txt
    outputFiles:
      - "*.txt"
""",
    )


class Script(ScriptTask):
    """Run a multi-line shell script given inline."""

    default_image = "ubuntu"

    type = "trellis.scripts.shell.Script"
    aliases = ("io.kestra.plugin.scripts.shell.Script",)
    properties: ClassVar = (
        Prop("script", "string", required=True, description="The script's text."),
        *COMMON_PROPS,
    )
    examples = (
        """id: shell_script
namespace: trellis.examples
tasks:
  - id: count
    type: trellis.scripts.shell.Script
    script: |
      for i in 1 2 3; do
        echo "line $i"
      done
""",
    )

    def command_lines(
        self, props: dict[str, Any], ctx: RunContext, runtime: Runtime | None = None
    ) -> list[str]:
        return [str(props.get("script") or "")]


_BASH_KEEPS = {"env", "inputFiles", "outputFiles", "warningOnStdErr", "runner"}


class Bash(RunsCommands, ScriptTask):
    """Kestra's first shell task, kept so old flows run: ``interpreter`` is one program and
    ``interpreterArgs`` its arguments, ``exitOnFailed`` plays ``failFast``'s part."""

    type = "trellis.scripts.shell.Bash"
    aliases = ("io.kestra.core.tasks.scripts.Bash", "org.kestra.core.tasks.scripts.Bash")
    deprecated = "use trellis.scripts.shell.Commands"
    properties: ClassVar = (
        Prop("commands", "list", required=True, items="string"),
        Prop("interpreter", "string", default="/bin/bash"),
        Prop("interpreterArgs", "list", items="string", default=["-c"]),
        Prop("exitOnFailed", "boolean", default=True),
        Prop("dockerOptions", "map", description="Ignored: local process."),
        Prop("outputDirs", "list", items="string", description="Ignored."),
        Prop("outputsFiles", "list", items="string", deprecated="use outputFiles"),
        Prop("files", "list", items="string", deprecated="use outputFiles"),
        *(p for p in COMMON_PROPS if p.name in _BASH_KEEPS),
    )

    def argv(self, props: dict[str, Any], script: str) -> list[str]:
        args = as_lines(props.get("interpreterArgs")) if "interpreterArgs" in props else ["-c"]
        return [str(props.get("interpreter") or "/bin/bash"), *args, script]

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any] | TaskResult:
        props = dict(props)
        props["failFast"] = as_bool(props.get("exitOnFailed"), True)
        props["warningOnStdErr"] = as_bool(props.get("warningOnStdErr"), True)
        props["outputFiles"] = [
            *as_lines(props.get("outputFiles")),
            *as_lines(props.get("outputsFiles")),
            *as_lines(props.get("files")),
        ]
        return super().run(props, ctx)


PLUGINS = [Commands, Script, Bash]
