"""Log lines from a flow: ``Log`` (and the deprecated ``Echo``)."""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext, RunnableTask, kestra_aliases

LEVELS = ("ERROR", "WARN", "INFO", "DEBUG", "TRACE")


def emit(ctx: RunContext, level: str, message: Any) -> None:
    """Write one message (or each of a list) at ``level`` to the task run's log."""
    write = {
        "ERROR": ctx.logger.error,
        "WARN": ctx.logger.warning,
        "WARNING": ctx.logger.warning,
        "INFO": ctx.logger.info,
        "DEBUG": ctx.logger.debug,
        "TRACE": ctx.logger.trace,
    }[str(level).upper()]
    for line in message if isinstance(message, list) else [message]:
        write(line if isinstance(line, str) else str(line))


class Log(RunnableTask):
    """Write a message (or several) to the execution's logs."""

    type = "trellis.core.log.Log"
    aliases = kestra_aliases("log.Log")
    properties: ClassVar = (
        Prop("message", "any", required=True, description="A string or a list of strings."),
        Prop("level", "string", default="INFO", choices=LEVELS, dynamic=False),
    )
    examples = (
        """id: hello
namespace: trellis.examples
tasks:
  - id: say
    type: trellis.core.log.Log
    message: "Hello {{ flow.id }}"
""",
    )

    #: Returns nothing: its work is the log line.
    outputs: ClassVar = ()

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        emit(ctx, props.get("level") or "INFO", props["message"])
        return {}


class Echo(RunnableTask):
    """Kestra's old logging task: prints ``format`` at ``level``."""

    type = "trellis.core.debug.Echo"
    aliases = kestra_aliases("debug.Echo", core_tasks="debugs.Echo")
    deprecated = "use trellis.core.log.Log"
    properties: ClassVar = (
        Prop("format", "any", required=True),
        Prop("level", "string", default="INFO", choices=LEVELS, dynamic=False),
    )

    #: Returns nothing: its work is the log line.
    outputs: ClassVar = ()

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        emit(ctx, props.get("level") or "INFO", props["format"])
        return {}


PLUGINS = [Log, Echo]
