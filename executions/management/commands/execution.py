"""``manage.py execution SUBCOMMAND ...``: look at executions and act on them.

``list``, ``show``, ``logs``, ``kill`` and ``wait`` are defined here, each a few lines that
read the database or call one service and print with ``executions.cli.format``; the other
actions (restart, replay, resume, force-run, unqueue, set-state) come from
``executions.cli.actions``. Exit codes: 0 ok, 1 invalid input or refused action, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from executions import services
from executions.cli import actions
from executions.cli import format as fmt
from executions.cli.common import get_execution
from executions.cli.run import POLL_SECONDS, LogCursor, add_warn_after, finish, follow
from executions.documents import execution_json
from executions.log_levels import LEVELS
from executions.models import Execution, LogEntry, TaskRun
from executions.selectors import execution_problem
from flows.cli.base import fail
from kernel.secrets import shown, shown_inputs
from kernel.states import TERMINAL, State

#: Log levels, least severe first; WARNING is accepted as Kestra's and Python's name of WARN.


class Command(BaseCommand):
    help = "List, show, follow, kill, restart, replay and resume executions."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        subparsers = parser.add_subparsers(
            dest="subcommand", metavar="SUBCOMMAND", title="subcommands", required=True
        )
        for register in (register_list, register_show, register_logs, register_kill):
            register(subparsers)
        register_wait(subparsers)
        actions.register(subparsers)

    def handle(self, *args: Any, **options: Any) -> None:
        options["handler"](self, options)


def _json(command: BaseCommand, doc: Any) -> None:
    command.stdout.write(json.dumps(doc, indent=2, default=str))


# -- list -----------------------------------------------------------------------------------


def register_list(subparsers: Any) -> None:
    p = subparsers.add_parser("list", help="recent executions, newest first")
    p.add_argument("--namespace", help="this namespace and the namespaces inside it")
    p.add_argument("--flow", help="flow id")
    p.add_argument("--state", type=str.upper, choices=[s.value for s in State])
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=handle_list)


def handle_list(command: BaseCommand, options: dict) -> None:
    rows = Execution.objects.all()
    if ns := options["namespace"]:
        rows = rows.filter(namespace=ns) | rows.filter(namespace__startswith=f"{ns}.")
    if options["flow"]:
        rows = rows.filter(flow_id=options["flow"])
    if options["state"]:
        rows = rows.filter(state=options["state"])
    found = list(rows.order_by("-created_at")[: max(options["limit"], 0)])
    if options["json"]:
        _json(command, [execution_json(e) for e in found])
        return
    if not found:
        command.stderr.write("no executions")  # stderr: stdout stays empty for scripts
        return
    for line in fmt.list_rows(found):
        command.stdout.write(line)


# -- show -----------------------------------------------------------------------------------


def register_show(subparsers: Any) -> None:
    p = subparsers.add_parser("show", help="one execution: details and task runs as a tree")
    p.add_argument("execution_id", metavar="ID")
    p.add_argument("--logs", action="store_true", help="include the logs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=handle_show)


def _when(moment: Any) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}" if moment else "-"


def handle_show(command: BaseCommand, options: dict) -> None:
    execution = get_execution(options["execution_id"])
    if options["json"]:
        _json(command, execution_json(execution, logs=options["logs"]))
        return
    out = command.stdout.write
    out(f"execution {execution.id}")
    out(f"flow      {execution.namespace}.{execution.flow_id} rev {execution.flow_revision}")
    out(f"state     {execution.state}")
    out(f"created   {_when(execution.created_at)}")
    out(f"started   {_when(execution.started_at)}")
    took = fmt.duration(execution.started_at, execution.ended_at)
    out(f"ended     {_when(execution.ended_at)}{'  (' + took + ')' if took else ''}")
    if execution.parent_execution_id:
        out(f"parent    {execution.parent_execution_id}")
    if execution.original_id:
        out(f"replays   {execution.original_id}")
    problem = execution_problem(execution)
    if problem:
        out(f"problem   {problem}")
    for title in ("inputs", "outputs", "labels", "trigger"):
        value = getattr(execution, title)
        for line in fmt.mapping_lines(
            title, shown_inputs(value) if title == "inputs" else shown(value)
        ):
            out(line)
    runs = list(TaskRun.objects.filter(execution=execution).order_by("seq"))
    out("task runs:" if runs else "task runs: none yet")
    for line in fmt.tree_lines(runs, now=timezone.now()):
        out(line)
    if options["logs"]:
        out("logs:")
        for entry in LogEntry.objects.filter(execution=execution).order_by("timestamp", "id"):
            out("  " + fmt.log_line(entry))


# -- logs -----------------------------------------------------------------------------------


def register_logs(subparsers: Any) -> None:
    p = subparsers.add_parser("logs", help="the log lines of an execution")
    p.add_argument("execution_id", metavar="ID")
    p.add_argument(
        "--level", type=lambda v: "WARN" if v.upper() == "WARNING" else v.upper(),
        choices=LEVELS, default="INFO", help="this level and above (default INFO)",
    )  # fmt: skip
    p.add_argument("--follow", action="store_true", help="keep printing until it ends")
    p.set_defaults(handler=handle_logs)


def levels_from(minimum: str) -> list[str]:
    """The stored level names at or above ``minimum`` (WARNING counts as WARN)."""
    chosen = list(LEVELS[LEVELS.index(minimum) :])
    return [*chosen, "WARNING"] if "WARN" in chosen else chosen


def handle_logs(command: BaseCommand, options: dict) -> None:
    execution = get_execution(options["execution_id"])
    cursor = LogCursor(execution.id, levels=levels_from(options["level"]))
    try:
        while True:
            # State first, then lines: a terminal state read here means no line is missed.
            state = Execution.objects.filter(pk=execution.id).values_list("state", flat=True)[0]
            for entry in cursor.new_lines():
                command.stdout.write(fmt.log_line(entry))
            command.stdout.flush()
            if not options["follow"] or state in TERMINAL:
                return
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return  # Ctrl-C is how one stops following, as with tail -f


# -- kill / wait ----------------------------------------------------------------------------


def register_kill(subparsers: Any) -> None:
    p = subparsers.add_parser("kill", help="stop a running execution (and its subflows)")
    p.add_argument("execution_id", metavar="ID")
    p.set_defaults(handler=handle_kill)


def handle_kill(command: BaseCommand, options: dict) -> None:
    execution = get_execution(options["execution_id"])
    if execution.state in TERMINAL:
        raise fail(f"execution {execution.id} already ended {execution.state}: nothing to kill")
    killed = services.execution_kill(execution)
    command.stdout.write(f"kill: {killed.id} is {killed.state}")


def register_wait(subparsers: Any) -> None:
    p = subparsers.add_parser("wait", help="follow an execution until it ends")
    p.add_argument("execution_id", metavar="ID")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    p.add_argument("--json", action="store_true", help="print only the final execution")
    add_warn_after(p)
    p.set_defaults(handler=handle_wait)


def handle_wait(command: BaseCommand, options: dict) -> None:
    execution = get_execution(options["execution_id"])
    done = follow(command, execution.id, timeout=options["timeout"], quiet=options["json"],
                  warn_after=options["warn_after"])  # fmt: skip
    finish(command, done, timeout=options["timeout"], as_json=options["json"])
