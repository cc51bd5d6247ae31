"""``flow run NAMESPACE FLOW_ID``: start an execution and, with ``--wait``, follow it to its end.

Following is done by polling the database (the single source of truth) every 0.2 s: the CLI
needs no broker connection and sees exactly what the admin and the API see. On a terminal the
task runs are a live ``rich`` table with log lines scrolling above it; piped, the same events
are plain lines (state changes and log lines), which is what scripts and CI logs want.
``execution wait`` and ``execution logs --follow`` reuse :func:`follow` and :class:`LogCursor`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from executions.cli import format as fmt
from executions.cli.stall import WARN_AFTER_SECONDS, StallWatch
from executions.documents import execution_json
from executions.models import Execution, LogEntry, TaskRun
from executions.services import ExecutionError, InputsError, execution_create
from flows.cli.base import fail, get_flow
from kernel.secrets import shown
from kernel.states import TERMINAL, State

POLL_SECONDS = 0.2
#: Final states ``--wait`` treats as success (exit 0); any other end, or a timeout, exits 1.
OK_STATES = frozenset({State.SUCCESS, State.WARNING})


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run a flow (and follow it with --wait)")
    parser.add_argument("namespace", metavar="NAMESPACE")
    parser.add_argument("flow_id", metavar="FLOW_ID")
    parser.add_argument("--input", action="append", metavar="KEY=VALUE", help="an input value")
    parser.add_argument(
        "--input-file", "--file-input", dest="input_file", action="append",
        metavar="KEY=PATH", help="a FILE input, uploaded to internal storage",
    )  # fmt: skip
    parser.add_argument(
        "--label", action="append", metavar="KEY:VALUE", help="a label (KEY=VALUE works too)"
    )
    parser.add_argument("--revision", type=int, help="run this revision of the flow")
    parser.add_argument("--wait", action="store_true", help="follow the execution to its end")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds --wait waits (default 300)"
    )
    add_warn_after(parser)
    parser.add_argument("--json", action="store_true", help="print the execution as JSON")
    parser.set_defaults(handler=handle)


def add_warn_after(parser: Any) -> None:
    parser.add_argument(
        "--warn-after", type=float, default=WARN_AFTER_SECONDS, metavar="S",
        help="--wait: warn when nothing has moved for S seconds and the execution waits on "
        f"a queue nobody seems to consume (default {WARN_AFTER_SECONDS:g}; 0: never)",
    )  # fmt: skip


def handle(command: BaseCommand, options: dict) -> None:
    flow = get_flow(options["namespace"], options["flow_id"])
    inputs = fmt.parse_pairs(options["input"], "--input")
    labels = fmt.parse_pairs(options["label"], "--label", seps=":=")
    with opened_files(options["input_file"]) as files:
        try:
            execution = execution_create(
                flow=flow, inputs=inputs, files=files, labels=labels,
                revision=options["revision"],
            )  # fmt: skip
        except InputsError as exc:
            raise fail(_bad_inputs(exc.errors)) from None
        except ExecutionError as exc:
            raise fail(str(exc)) from None
    if not options["wait"]:
        if options["json"]:
            _print_json(command, execution)
        else:
            command.stdout.write(execution.id)
        return
    if not options["json"]:
        command.stdout.write(
            f"execution {execution.id} of {execution.namespace}.{execution.flow_id} "
            f"rev {execution.flow_revision}"
        )
    done = follow(command, execution.id, timeout=options["timeout"], quiet=options["json"],
                  warn_after=options["warn_after"])  # fmt: skip
    finish(command, done, timeout=options["timeout"], as_json=options["json"])


def _bad_inputs(errors: dict[str, str]) -> str:
    lines = "\n".join(f"  {name}: {message}" for name, message in errors.items())
    return f"invalid inputs, nothing was started:\n{lines}"


def _print_json(command: BaseCommand, execution: Execution) -> None:
    import json

    command.stdout.write(json.dumps(execution_json(execution), indent=2, default=str))


@contextmanager
def opened_files(given: list[str] | None) -> Iterator[dict[str, File]]:
    """``--file-input KEY=PATH`` values as open Django files by input id (closed after);
    a path that is no file stops the command before anything is sent."""
    paths = fmt.parse_pairs(given, "--file-input")
    missing = {key: path for key, path in paths.items() if not Path(path).is_file()}
    if missing:
        raise fail(_bad_inputs({key: f"no such file {path!r}" for key, path in missing.items()}))
    with ExitStack() as stack:
        yield {
            key: File(stack.enter_context(Path(path).open("rb")), name=Path(path).name)
            for key, path in paths.items()
        }


def finish(
    command: BaseCommand, execution: Execution, *, timeout: float, as_json: bool = False
) -> None:
    """Print how it ended (outputs, then the final state as the last line); raise a
    CommandError (exit 1) unless it ended SUCCESS or WARNING."""
    if as_json:
        _print_json(command, execution)
    else:
        for line in fmt.mapping_lines("outputs", shown(execution.outputs)):
            command.stdout.write(line)
        command.stdout.write(fmt.final_line(execution))
    if execution.state in OK_STATES:
        return
    if execution.state not in TERMINAL:
        raise CommandError(
            f"execution {execution.id} is still {execution.state} after {timeout:g}s "
            "(it goes on; `manage.py execution wait ID` follows it again)",
            returncode=1,
        )
    raise CommandError(f"execution {execution.id} ended {execution.state}", returncode=1)


# -- following ------------------------------------------------------------------------------


class LogCursor:
    """The new log lines of one execution, each exactly once, in id order.

    Ids are given at insert but become visible at commit, so on PostgreSQL two workers can
    commit lines 11 then 10: a plain ``id > last`` cursor would skip 10 for good. The cursor
    therefore looks back ``LOOKBACK`` ids (only ids; rows are fetched for unseen ones).
    """

    LOOKBACK = 1000

    def __init__(self, execution_id: str, levels: list[str] | None = None) -> None:
        self.execution_id = execution_id
        self.levels = levels
        self.high = 0
        self.seen: set[int] = set()

    def new_lines(self) -> list[LogEntry]:
        rows = LogEntry.objects.filter(
            execution_id=self.execution_id, id__gt=max(self.high - self.LOOKBACK, 0)
        )
        if self.levels is not None:
            rows = rows.filter(level__in=self.levels)
        fresh = set(rows.values_list("id", flat=True)) - self.seen
        if not fresh:
            return []
        lines = list(LogEntry.objects.filter(pk__in=fresh).order_by("timestamp", "id"))
        self.seen |= fresh
        self.high = max(self.high, *fresh)
        floor = self.high - self.LOOKBACK
        self.seen = {i for i in self.seen if i > floor}
        return lines


@dataclass
class Progress:
    """What one poll found: the execution, all its task runs, and what is new since."""

    execution: Execution
    runs: list[TaskRun]
    changed: list[TaskRun] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    execution_changed: bool = False


class Watch:
    """Polls one execution; each :meth:`poll` reports only what changed since the last."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.logs = LogCursor(execution_id)
        self.states: dict[str, tuple[str, int]] = {}
        self.last_state: str | None = None

    def poll(self) -> Progress:
        # The execution is read first: whatever it says, the runs and logs read afterwards are
        # at least as new, so a terminal state here means nothing is missed below.
        execution = Execution.objects.get(pk=self.execution_id)
        runs = list(TaskRun.objects.filter(execution_id=self.execution_id).order_by("seq"))
        changed = [r for r in runs if self.states.get(r.id) != (r.state, r.attempts)]
        self.states.update({r.id: (r.state, r.attempts) for r in changed})
        progress = Progress(
            execution=execution,
            runs=runs,
            changed=changed,
            logs=self.logs.new_lines(),
            execution_changed=execution.state != self.last_state,
        )
        self.last_state = execution.state
        return progress


class PlainView:
    """Line by line, for pipes and files: state changes and log lines as they happen."""

    def __init__(self, command: BaseCommand) -> None:
        self.out = command.stdout

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.flush()

    def show(self, progress: Progress) -> None:
        # Runs, their logs, then the execution: the order in which they usually happen.
        for run in progress.changed:
            self.out.write(fmt.state_change(run))
        for line in progress.logs:
            self.out.write("    " + fmt.log_line(line))
        if progress.execution_changed:
            self.out.write(f"execution {progress.execution.state}")
        self.out.flush()


class LiveView:
    """On a terminal: a live table of the task runs, log lines printed above it."""

    def __init__(self, command: BaseCommand) -> None:
        from rich.console import Console
        from rich.live import Live

        # Django's OutputWrapper appends a newline to every write, which would break rich's
        # cursor movements: rich gets the wrapped stream itself.
        self.console = Console(file=getattr(command.stdout, "_out", command.stdout))
        self.live = Live(console=self.console, auto_refresh=False, redirect_stdout=False)

    def __enter__(self) -> LiveView:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def show(self, progress: Progress) -> None:
        from rich.text import Text

        for line in progress.logs:
            self.live.console.print(Text(fmt.log_line(line), style=_level_style(line.level)))
        self.live.update(self.table(progress), refresh=True)

    def table(self, progress: Progress) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        execution = progress.execution
        now = timezone.now()
        title = (
            f"{execution.namespace}.{execution.flow_id} {execution.id}  "
            f"[{fmt.STATE_STYLE.get(execution.state, '')}]{execution.state}[/]  "
            f"{fmt.duration(execution.started_at, execution.ended_at, now)}"
        )
        table = Table(expand=False)
        for name in ("task", "state", "attempts", "duration"):
            table.add_column(name, no_wrap=True)
        for depth, run in fmt.tree(progress.runs):
            table.add_row(
                "  " * depth + fmt.run_label(run),
                f"[{fmt.STATE_STYLE.get(run.state, '')}]{run.state}[/]",
                str(run.attempts or ""),
                fmt.duration(run.started_at, run.ended_at, now),
            )
        return Group(Text.from_markup(title), table)


def _level_style(level: str) -> str:
    return {"ERROR": "red", "WARN": "yellow", "DEBUG": "dim", "TRACE": "dim"}.get(level, "")


class QuietView(PlainView):
    """Prints nothing while following (``--json`` prints only the final document)."""

    def show(self, progress: Progress) -> None:
        return None


def follow(
    command: BaseCommand,
    execution_id: str,
    *,
    timeout: float,
    quiet: bool = False,
    warn_after: float = WARN_AFTER_SECONDS,
) -> Execution:
    """Show the execution's progress until it ends or ``timeout`` seconds pass; returns its
    last state read. Ctrl-C stops following (exit 130), never the execution. A quiet spell
    of ``warn_after`` seconds with the execution waiting on a queue prints a warning on
    stderr (``executions/cli/stall.py``)."""
    watch = Watch(execution_id)
    stall = StallWatch(warn_after)
    if quiet:
        view: PlainView | LiveView = QuietView(command)
    elif command.stdout.isatty():
        view = LiveView(command)
    else:
        view = PlainView(command)
    deadline = time.monotonic() + timeout
    try:
        with view:
            while True:
                progress = watch.poll()
                view.show(progress)
                moved = bool(progress.changed or progress.logs or progress.execution_changed)
                warning = stall.check(progress.execution, moved=moved, moment=timezone.now())
                if warning:
                    command.stderr.write(warning)
                if progress.execution.state in TERMINAL or time.monotonic() >= deadline:
                    return progress.execution
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        raise CommandError(
            f"stopped following {execution_id}; the execution goes on "
            f"(`manage.py execution kill {execution_id}` stops it)",
            returncode=130,
        ) from None
