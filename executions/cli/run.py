"""``flow run NAMESPACE FLOW_ID``: start an execution, optionally follow it to the end."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from executions.cli.common import follow, pairs, print_json
from executions.documents import execution_json
from executions.services import ExecutionError, InputsError, execution_create
from executions.states import TERMINAL, State
from flows.cli.base import fail, get_flow


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run a flow (and follow it with --wait)")
    parser.add_argument("namespace", metavar="NAMESPACE")
    parser.add_argument("flow_id", metavar="FLOW_ID")
    parser.add_argument("--input", action="append", metavar="KEY=VALUE", help="an input value")
    parser.add_argument(
        "--file-input", action="append", metavar="KEY=PATH", help="a FILE input from a file"
    )
    parser.add_argument("--label", action="append", metavar="KEY=VALUE", help="a label")
    parser.add_argument("--revision", type=int, help="run this revision of the flow")
    parser.add_argument("--wait", action="store_true", help="follow the execution to its end")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds --wait waits")
    parser.add_argument("--json", action="store_true", help="print the execution as JSON")
    parser.set_defaults(handler=handle)


def handle(command: BaseCommand, options: dict) -> None:
    flow = get_flow(options["namespace"], options["flow_id"])
    inputs = pairs(options["input"], "=", "--input")
    labels = pairs(options["label"], "=", "--label")
    paths = pairs(options["file_input"], "=", "--file-input")
    for key, path in paths.items():
        if not Path(path).is_file():
            raise fail(f"--file-input {key}: no such file {path!r}")
    with ExitStack() as stack:
        files = {
            key: File(stack.enter_context(Path(path).open("rb")), name=Path(path).name)
            for key, path in paths.items()
        }
        try:
            execution = execution_create(
                flow=flow, inputs=inputs, files=files, labels=labels,
                revision=options["revision"],
            )  # fmt: skip
        except InputsError as exc:
            lines = "\n".join(f"  {name}: {message}" for name, message in exc.errors.items())
            raise fail(f"invalid inputs, nothing was started:\n{lines}") from None
        except ExecutionError as exc:
            raise fail(str(exc)) from None
    if not options["wait"]:
        if options["json"]:
            print_json(command, execution_json(execution))
        else:
            command.stdout.write(execution.id)
        return
    if not options["json"]:
        command.stdout.write(f"execution {execution.id} of {flow}")
    done = follow(command, execution.id, options["timeout"], quiet=options["json"])
    if options["json"]:
        print_json(command, execution_json(done))
    else:
        command.stdout.write(f"{done.state} {done.id}")
        if done.outputs:
            command.stdout.write(f"outputs: {done.outputs}")
    if done.state not in (State.SUCCESS, State.WARNING):
        reason = done.state if done.state in TERMINAL else f"{done.state} (timed out)"
        raise CommandError(f"execution {done.id} ended {reason}", returncode=1)
