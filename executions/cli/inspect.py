"""``execution list|show|logs|wait``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from executions.cli.common import follow, get_execution, print_json
from executions.documents import execution_json
from executions.models import Execution, LogEntry, TaskRun
from executions.run_context import LEVEL_ORDER
from executions.states import TERMINAL, State
from flows.cli.base import fail


def register(subparsers) -> None:
    p = subparsers.add_parser("list", help="recent executions, newest first")
    p.add_argument("--namespace", help="this namespace and the ones inside it")
    p.add_argument("--flow", help="flow id")
    p.add_argument("--state", type=str.upper, choices=[s.value for s in State])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=handle_list)

    p = subparsers.add_parser("show", help="one execution with its task runs")
    p.add_argument("execution_id", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.add_argument("--logs", action="store_true", help="include the logs")
    p.set_defaults(handler=handle_show)

    p = subparsers.add_parser("logs", help="the logs of an execution")
    p.add_argument("execution_id", metavar="ID")
    p.add_argument("--level", type=str.upper, default="TRACE", choices=list(LEVEL_ORDER))
    p.add_argument("--follow", action="store_true", help="keep printing until it ends")
    p.set_defaults(handler=handle_logs)

    p = subparsers.add_parser("wait", help="follow an execution until it ends")
    p.add_argument("execution_id", metavar="ID")
    p.add_argument("--timeout", type=float, default=300.0)
    p.set_defaults(handler=handle_wait)


def handle_list(command: BaseCommand, options: dict) -> None:
    rows = Execution.objects.all()
    if options["namespace"]:
        ns = options["namespace"]
        rows = rows.filter(namespace=ns) | rows.filter(namespace__startswith=f"{ns}.")
    if options["flow"]:
        rows = rows.filter(flow_id=options["flow"])
    if options["state"]:
        rows = rows.filter(state=options["state"])
    rows = list(rows.order_by("-created_at")[: max(options["limit"], 0)])
    if options["json"]:
        print_json(command, [execution_json(e) for e in rows])
        return
    for e in rows:
        command.stdout.write(
            f"{e.id}  {e.state:<9} {e.namespace}.{e.flow_id} rev {e.flow_revision}  "
            f"{e.created_at:%Y-%m-%d %H:%M:%S}"
        )


def handle_show(command: BaseCommand, options: dict) -> None:
    execution = get_execution(options["execution_id"])
    if options["json"]:
        print_json(command, execution_json(execution, logs=options["logs"]))
        return
    out = command.stdout.write
    out(f"{execution.id}  {execution.namespace}.{execution.flow_id} rev {execution.flow_revision}")
    out(f"state    {execution.state}")
    out(f"started  {execution.started_at}   ended {execution.ended_at}")
    for key in ("inputs", "outputs", "labels", "trigger"):
        value = getattr(execution, key)
        if value:
            out(f"{key:<8} {value}")
    runs = list(TaskRun.objects.filter(execution=execution).order_by("seq"))
    depth: dict[str | None, int] = {None: -1}
    for run in runs:
        depth[run.id] = depth.get(run.parent_id, -1) + 1
        label = f"{run.task_id}[{run.value}]" if run.value else run.task_id
        took = (
            (run.ended_at - run.started_at).total_seconds()
            if run.ended_at and run.started_at
            else None
        )
        timing = f" {took:.2f}s" if took is not None else ""
        out(f"{'  ' * (depth[run.id] + 1)}{run.state:<9} {label} (attempts {run.attempts}){timing}")
    if options["logs"]:
        for line in LogEntry.objects.filter(execution=execution).order_by("timestamp", "id"):
            out(f"  {line.timestamp:%H:%M:%S} {line.level:<5} {line.task_id}: {line.message}")


def handle_logs(command: BaseCommand, options: dict) -> None:
    execution = get_execution(options["execution_id"])
    levels = [lvl for lvl, rank in LEVEL_ORDER.items() if rank >= LEVEL_ORDER[options["level"]]]
    last = 0
    while True:
        lines = LogEntry.objects.filter(execution=execution, id__gt=last, level__in=levels)
        for line in lines.order_by("id"):
            last = line.id
            command.stdout.write(
                f"{line.timestamp:%H:%M:%S} {line.level:<5} {line.task_id}: {line.message}"
            )
        execution.refresh_from_db(fields=["state"])
        if not options["follow"] or execution.state in TERMINAL:
            return
        import time

        time.sleep(0.3)


def handle_wait(command: BaseCommand, options: dict) -> None:
    done = follow(command, get_execution(options["execution_id"]).id, options["timeout"])
    command.stdout.write(f"{done.state} {done.id}")
    if done.state not in TERMINAL:
        raise fail(f"execution {done.id} still {done.state} after {options['timeout']}s")
    if done.state not in (State.SUCCESS, State.WARNING):
        raise CommandError(f"execution {done.id} ended {done.state}", returncode=1)
