"""Python tasks: ``Script`` (inline code) and ``Commands`` (shell lines calling ``python``).

Without ``dependencies`` both run with the worker's own interpreter (``sys.executable``): its
directory comes first on ``PATH``, so ``python`` and ``pip`` in ``commands`` or
``beforeCommands`` mean that interpreter. With ``dependencies`` they run in a virtual
environment holding those packages, built once per dependency set and cached under
TRELLIS_HOME (:mod:`plugins.scripts.deps`); ``python``, ``pip`` and the packages' console
scripts are then the environment's. A script prints ``::{"outputs":{...}}::`` to hand values
to later tasks.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext
from plugins.scripts import deps
from plugins.scripts.files import as_bool, as_lines
from plugins.scripts.process import (
    COMMANDS,
    COMMON_PROPS,
    RunsCommands,
    Runtime,
    ScriptTask,
    write_script,
)

#: Kestra's Python properties (``PythonBasedPlugin``), shared by Script, Commands and DbtCLI.
PYTHON_PROPS: tuple[Prop, ...] = (
    Prop(
        "dependencies",
        "list",
        items="string",
        description="pip requirement strings (`pandas==2.2.*`, `requests>=2.28`) installed "
        "into a virtual environment cached per dependency set under TRELLIS_HOME and reused "
        "by later runs and other workers sharing it.",
    ),
    Prop(
        "pythonVersion",
        "string",
        description="The Python version of the environment: the worker's own, or one whose "
        "`pythonX.Y` is on the worker's PATH (Trellis does not download interpreters).",
    ),
    Prop(
        "dependencyCacheEnabled",
        "boolean",
        default=True,
        description="false: install `dependencies` afresh into the working directory on every "
        "run (inside the sandbox) instead of the shared cached environment.",
    ),
    Prop(
        "packageManager",
        "string",
        choices=("UV", "PIP"),
        default="UV",
        description="UV uses uv when it is on the worker's PATH (pip otherwise); PIP always pip.",
    ),
)


def python_runtime(
    props: Mapping[str, Any],
    ctx: RunContext,
    kind: str,
    default_dependencies: list[str] | None = None,
) -> Runtime:
    """The interpreter, PATH and read-only folders for a Python-based task's lines.
    ``default_dependencies`` (dbt's) apply to local processes only: an image provides its
    tools, so a container installs only what the flow lists."""
    listed = deps.normalise(as_lines(props.get("dependencies")))
    wanted = listed or deps.normalise(default_dependencies or [])
    if kind == "docker":
        wanted = listed
        before = []
        if wanted:
            quoted = " ".join(shlex.quote(d) for d in wanted)
            before = [f"python -m pip install --quiet --disable-pip-version-check {quoted}"]
        return Runtime(kind=kind, python="python", before=before)
    if not wanted:
        return Runtime(kind=kind, python=sys.executable)
    if not as_bool(props.get("dependencyCacheEnabled"), True):
        base, _tag = deps.base_python(props.get("pythonVersion"))
        quoted = " ".join(shlex.quote(d) for d in wanted)
        before = [
            f"{shlex.quote(base)} -m venv .venv",
            ". .venv/bin/activate",
            f"python -m pip install --quiet --disable-pip-version-check {quoted}",
        ]
        return Runtime(kind=kind, python="python", before=before)
    env = deps.ensure_env(
        wanted,
        ctx.logger,
        python_version=props.get("pythonVersion"),
        package_manager=props.get("packageManager"),
        should_stop=ctx.should_stop,
    )
    path = os.pathsep.join([str(env.bin_dir), os.environ.get("PATH", os.defpath)])
    return Runtime(
        kind=kind,
        python=str(env.python),
        env={**env.environment(), "PATH": path},
        read_only=(str(env.path),),
    )


def validate_dependencies(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    value = props.get("dependencies")
    if value is None or (isinstance(value, str) and "{{" in value):
        return []
    if not isinstance(value, list | str):
        return [("dependencies", "must be a list of requirement strings")]
    items = [d for d in as_lines(value) if "{{" not in d]
    return [("dependencies", problem) for problem in deps.refusals(items)]


class _PythonTask(ScriptTask):
    default_image = "python:3.13-slim"

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [*super().validate(props), *validate_dependencies(props)]

    def extra_env(self, props: dict[str, Any], ctx: RunContext) -> dict[str, str]:
        """Put this interpreter's directory first on PATH (the flow's ``env`` may override)."""
        bin_dir = str(Path(sys.executable).parent)
        return {"PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}

    def runtime(self, props: dict[str, Any], ctx: RunContext, kind: str) -> Runtime:
        return python_runtime(props, ctx, kind)


class Script(_PythonTask):
    """Run inline Python code with the worker's interpreter, or in a cached environment
    holding its ``dependencies``."""

    type = "trellis.scripts.python.Script"
    aliases = ("io.kestra.plugin.scripts.python.Script",)
    properties: ClassVar = (
        Prop("script", "string", required=True, description="The Python source to run."),
        *COMMON_PROPS,
        *PYTHON_PROPS,
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
        """id: python_dependencies
namespace: trellis.examples
tasks:
  - id: fetch
    type: io.kestra.plugin.scripts.python.Script
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    dependencies:
      - requests
    script: |
      import requests
      print(requests.__version__)
""",
    )

    def command_lines(
        self, props: dict[str, Any], ctx: RunContext, runtime: Runtime | None = None
    ) -> list[str]:
        name = write_script(ctx, props.get("script"), ".py")
        python = runtime.python if runtime and runtime.python else sys.executable
        if python == "python":
            return [f"python {name}"]
        return [f"{shlex.quote(python)} {name}"]


class Commands(RunsCommands, _PythonTask):
    """Run shell lines that call ``python`` (usually on files given in ``inputFiles``)."""

    type = "trellis.scripts.python.Commands"
    aliases = ("io.kestra.plugin.scripts.python.Commands",)
    properties: ClassVar = (
        COMMANDS,
        *COMMON_PROPS,
        *PYTHON_PROPS,
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


PLUGINS = [Script, Commands]
