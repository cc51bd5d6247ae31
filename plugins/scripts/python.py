"""Python tasks: ``Script`` (inline code) and ``Commands`` (shell lines calling ``python``).

Both run with the worker's own interpreter (``sys.executable``): its directory comes first on
``PATH``, so ``python`` and ``pip`` in ``commands`` or ``beforeCommands`` mean that interpreter.
A script prints ``::{"outputs":{...}}::`` to hand values to later tasks.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext
from plugins.scripts.process import COMMON_PROPS, ScriptTask, as_lines


class _PythonTask(ScriptTask):
    def extra_env(self, props: dict[str, Any], ctx: RunContext) -> dict[str, str]:
        """Put this interpreter's directory first on PATH (the flow's ``env`` may override)."""
        bin_dir = str(Path(sys.executable).parent)
        return {"PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}


class Script(_PythonTask):
    """Run inline Python code with the worker's interpreter."""

    type = "trellis.scripts.python.Script"
    aliases = ("io.kestra.plugin.scripts.python.Script",)
    properties: ClassVar = (
        Prop("script", "string", required=True, description="The Python source to run."),
        *COMMON_PROPS,
    )
    examples = (
        """id: python_script
namespace: trellis.examples
tasks:
  - id: compute
    type: trellis.scripts.python.Script
    script: |
      import json
      total = sum(range(10))
      print("total is", total)
      print("::" + json.dumps({"outputs": {"total": total}}) + "::")
""",
    )

    def command_lines(self, props: dict[str, Any], ctx: RunContext) -> list[str]:
        fd, name = tempfile.mkstemp(prefix="script_", suffix=".py", dir=ctx.working_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(str(props.get("script") or ""))
        return [f"{shlex.quote(sys.executable)} {shlex.quote(Path(name).name)}"]


class Commands(_PythonTask):
    """Run shell lines that call ``python`` (usually on files given in ``inputFiles``)."""

    type = "trellis.scripts.python.Commands"
    aliases = ("io.kestra.plugin.scripts.python.Commands",)
    properties: ClassVar = (
        Prop("commands", "list", required=True, items="string", description="Lines to run."),
        *COMMON_PROPS,
    )
    examples = (
        """id: python_commands
namespace: trellis.examples
tasks:
  - id: run
    type: trellis.scripts.python.Commands
    inputFiles:
      main.py: |
        print("hello from main.py")
    commands:
      - python main.py
""",
    )

    def command_lines(self, props: dict[str, Any], ctx: RunContext) -> list[str]:
        return as_lines(props.get("commands"))


PLUGINS = [Script, Commands]
