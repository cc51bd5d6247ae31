"""``execution restart|replay|resume|pause|set-state|force-run|unqueue``: call the services;
a refused action prints the service's reason and exits 1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand

from executions import services
from executions.cli.common import get_execution, pairs
from executions.cli.run import opened_files
from flows.cli.base import fail


def _simple(name: str, text: str, action: Callable[..., Any]) -> Callable[..., None]:
    def handle(command: BaseCommand, options: dict) -> None:
        execution = get_execution(options["execution_id"])
        try:
            result = action(execution, options)
        except services.InputsError as exc:
            raise fail(f"invalid inputs: {exc}") from None
        except services.ExecutionError as exc:
            raise fail(str(exc)) from None
        command.stdout.write(f"{name}: {result.id} is {result.state}")

    return handle


def _resume(execution: Any, options: dict) -> Any:
    inputs = pairs(options.get("input"), "=", "--input")
    with opened_files(options.get("file_input")) as files:
        return services.execution_resume(execution, inputs, files=files or None)


ACTIONS = [
    ("restart", "run the failed task runs again (--revision N: on a new execution of that "
     "revision)", lambda e, o: services.execution_restart(e, revision=o.get("revision")),
     ["--revision"]),
    ("replay", "a new execution from a task run (or the start)",
     lambda e, o: services.execution_replay(e, o.get("task_run")), ["--task-run"]),
    ("resume", "resume a PAUSED execution", _resume, ["--input", "--file-input"]),
    ("pause", "pause a RUNNING execution (what runs finishes, nothing new starts)",
     lambda e, o: services.execution_pause(e), []),
    ("force-run", "start a CREATED or QUEUED execution now",
     lambda e, o: services.execution_force_run(e), []),
    ("unqueue", "take a QUEUED execution out of its queue",
     lambda e, o: services.execution_unqueue(e, o.get("state") or "CANCELLED"), ["--state"]),
    ("set-state", "set an ended task run's state by hand",
     lambda e, o: services.task_run_set_state(e, o["task_run"], o["state"]),
     ["--task-run!", "--state!"]),
]  # fmt: skip


def register(subparsers) -> None:
    for name, text, action, extra in ACTIONS:
        parser = subparsers.add_parser(name, help=text)
        parser.add_argument("execution_id", metavar="ID")
        for flag in extra:
            required = flag.endswith("!")
            flag = flag.rstrip("!")
            kwargs: dict[str, Any] = {"required": required}
            if flag == "--input":
                kwargs = {"action": "append", "metavar": "KEY=VALUE"}
            elif flag == "--revision":
                kwargs = {"type": int, "metavar": "N"}
            elif flag == "--file-input":
                kwargs = {"action": "append", "metavar": "KEY=PATH", "help": "a FILE input"}
            parser.add_argument(flag, **kwargs)
        parser.set_defaults(handler=_simple(name, text, action))
