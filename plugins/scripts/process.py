"""Running script tasks as local processes: what the shell and Python plugins share.

A script task builds a list of command lines; :class:`ScriptTask` writes the input files, runs
the lines through an interpreter in the task's working directory, streams both output streams to
the task log (secrets masked), reads Kestra's ``::{"outputs": {...}}::`` lines, stores the output
files and turns the exit code into the task's outcome. ``taskRunner`` picks where: Kestra's
Process runner (the default) runs the process on the worker itself; the Docker runner runs it in
``containerImage`` through the Docker Engine API (:mod:`plugins.scripts.docker`) when the
workers have one configured, and fails the run with a clear message otherwise.

Isolation on the worker: the process runs in the sandbox of :mod:`plugins.scripts.sandbox`
(bubblewrap: an unprivileged user that sees its working directory, the system's read-only
files and the network, never the worker's processes, TRELLIS_HOME or the database); each
task run gets its own working directory (removed afterwards); the process starts in a new
session (its own process group) so a kill or timeout takes its children too; and its
environment is clean: the declared ``env``, ``WORKING_DIR`` (Kestra's name for the working
directory) and a few basics from the worker (:data:`BASE_ENV`, plus the names listed in
``TRELLIS_SCRIPT_ENV``), never the worker's database URL, Django key or ``SECRET_*``
variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

from kernel import config
from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed, TaskResult
from kernel.secrets import MASK
from kernel.states import State
from plugins.scripts.files import (
    as_bool,
    as_lines,
    copy_namespace_files,
    store_output_files,
    write_input_files,
)
from plugins.scripts.sandbox import Sandbox, SandboxUnavailable, sandbox_for_scripts

#: How often the run loop looks at ``ctx.should_stop()``.
POLL_SECONDS = 0.2
#: Time a killed process group gets between SIGTERM and SIGKILL.
KILL_GRACE_SECONDS = 5.0
#: Time to wait for the output pipes after the interpreter exited (children may hold them).
PIPE_GRACE_SECONDS = 1.0

#: Worker variables a script inherits: what a shell needs to find programs, know its user
#: and print text. Everything else must be declared in ``env`` (or TRELLIS_SCRIPT_ENV).
BASE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
            "TERM")  # fmt: skip

#: Kestra's protocol for values printed by a script: a whole line ``::{json}::``.
_KESTRA_LINE = re.compile(r"^::(\{.*\})::\s*$")
_LOG_LEVELS = {
    "ERROR": "error",
    "WARN": "warning",
    "WARNING": "warning",
    "INFO": "info",
    "DEBUG": "debug",
    "TRACE": "trace",
}

#: The ``commands`` property of the ``Commands`` tasks (shell, Python, Node).
COMMANDS = Prop("commands", "list", required=True, items="string", description="Lines to run.")

#: Properties every script task has (Kestra's ``AbstractExecScript``).
COMMON_PROPS: tuple[Prop, ...] = (
    Prop(
        "env",
        "map",
        description="Environment variables of the script. The worker's own are not passed on, "
        "except PATH, LANG, LC_*, TZ and those named in TRELLIS_SCRIPT_ENV; WORKING_DIR is the "
        "working directory; in the sandbox HOME and TMPDIR are its private /tmp.",
    ),
    Prop("beforeCommands", "list", items="string", description="Lines run before the main ones."),
    Prop(
        "interpreter",
        "list",
        items="string",
        default=["/bin/sh", "-c"],
        description="The program and arguments that receive the joined command lines.",
    ),
    Prop(
        "inputFiles",
        "any",
        description="File name -> content, written into the working directory first; a "
        "`kestra://` URI as content copies that file from internal storage.",
    ),
    Prop(
        "outputFiles",
        "list",
        items="string",
        description="Glob patterns, relative to the working directory, of files to keep; "
        "they appear in `outputs.<task>.outputFiles` as name -> URI.",
    ),
    Prop("failFast", "boolean", default=True, description="Stop at the first failing line."),
    Prop(
        "warningOnStdErr",
        "boolean",
        default=False,
        description="End in WARNING instead of SUCCESS when anything was written to stderr.",
    ),
    Prop(
        "containerImage",
        "string",
        description="The image the Docker task runner uses; ignored by the Process runner.",
    ),
    Prop(
        "taskRunner",
        "map",
        description="`{type: io.kestra.plugin.core.runner.Process}` (the default: a sandboxed "
        "local process) or `{type: io.kestra.plugin.scripts.runner.docker.Docker, pullPolicy, "
        "credentials, user, entryPoint, networkMode, cpu, memory, delete}`: a container on the "
        "Docker Engine the workers are configured with (TRELLIS_DOCKER_HOST).",
    ),
    Prop("docker", "map", deprecated="use containerImage and taskRunner"),
    Prop("runner", "string", deprecated="use taskRunner (ignored: local process)"),
    Prop(
        "namespaceFiles",
        "map",
        description="Copy the namespace's files into the working directory first: "
        "`{enabled: true, include: [globs], exclude: [globs], namespaces: [ns...]}` "
        "(the flow's namespace by default).",
    ),
    Prop("targetOS", "string", choices=("LINUX", "WINDOWS", "AUTO"), default="AUTO"),
    Prop("outputDirectory", "boolean", default=False, description="Accepted and ignored."),
)


def mask(line: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, MASK)
    return line


@dataclass
class ProcessResult:
    exit_code: int
    #: Merged ``outputs`` of the ``::{...}::`` lines.
    vars: dict[str, Any] = field(default_factory=dict)
    stdout_lines: int = 0
    stderr_lines: int = 0


def _pump(stream: IO[str], name: str, lines: queue.Queue[tuple[str, str | None]]) -> None:
    try:
        for line in stream:
            lines.put((name, line.rstrip("\r\n")))
    finally:
        lines.put((name, None))


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the whole process group, SIGKILL it if it is still there after the grace time."""
    _signal_group(proc, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_SECONDS)
    _signal_group(proc, signal.SIGKILL)
    proc.wait()


class _Output:
    """Turns raw lines into log records and ``vars``; lives on the calling thread."""

    def __init__(self, ctx: RunContext, result: ProcessResult) -> None:
        self.ctx, self.result = ctx, result
        self.secrets = sorted((s for s in ctx.secret_values() if s), key=len, reverse=True)

    def line(self, stream: str, text: str) -> None:
        match = _KESTRA_LINE.match(text)
        if match and self._kestra(match.group(1)):
            return
        if stream == "stdout":
            self.result.stdout_lines += 1
            self.ctx.logger.info(mask(text, self.secrets))
        else:
            self.result.stderr_lines += 1
            self.ctx.logger.error(mask(text, self.secrets))

    def _kestra(self, payload: str) -> bool:
        """Apply a ``::{...}::`` line; False when it is not valid JSON (then it is logged)."""
        try:
            data = json.loads(payload)
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        outputs = data.get("outputs")
        if isinstance(outputs, dict):
            self.result.vars.update(outputs)
        for entry in data.get("logs") or ():
            if isinstance(entry, dict) and "message" in entry:
                level = _LOG_LEVELS.get(str(entry.get("level", "INFO")).upper(), "info")
                write = getattr(self.ctx.logger, level)
                write(mask(str(entry["message"]), self.secrets))
        return True


def _passthrough_names() -> list[str]:
    """Extra worker variables operators let scripts see (``TRELLIS_SCRIPT_ENV``)."""
    raw: Any = os.environ.get("TRELLIS_SCRIPT_ENV", "")
    raw = config.setting("TRELLIS_SCRIPT_ENV", raw)
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [str(name).strip() for name in items if str(name).strip()]


def script_environment(
    working_dir: Path,
    declared: Mapping[str, Any] | None,
    worker: Mapping[str, str] | None = None,
    *,
    sandbox: Sandbox | None = None,
) -> dict[str, str]:
    """The whole environment of a script: basics from the worker (adjusted to the sandbox),
    WORKING_DIR, then the declared ``env`` (which may override any of them)."""
    source = os.environ if worker is None else worker
    names = {*BASE_ENV, *_passthrough_names()}
    env = {k: v for k, v in source.items() if k in names or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    if sandbox is not None:
        env = sandbox.environment(env)
    env["WORKING_DIR"] = str(working_dir)
    env.update({str(k): "" if v is None else str(v) for k, v in (declared or {}).items()})
    return env


def run_process(
    ctx: RunContext,
    argv: Sequence[str],
    *,
    env: Mapping[str, Any] | None = None,
    read_only: Sequence[str] = (),
) -> ProcessResult:
    """Run ``argv`` in ``ctx.working_dir`` until it exits or ``ctx.should_stop()`` turns true.

    Two threads read stdout and stderr into a queue and this (calling) thread writes the log
    records, so a logger that is not thread-safe (a database connection per thread) is only
    ever used from the thread that called the plugin. Raises TaskFailed("killed") on a stop,
    and TaskFailed before starting anything when no sandbox works and running unsandboxed
    was not allowed (issue 21). ``read_only`` folders (a cached dependency environment) are
    shown to the sandboxed process without write access.
    """
    try:
        jail = sandbox_for_scripts()
    except SandboxUnavailable as exc:
        raise TaskFailed(str(exc)) from None
    if jail is not None and read_only:
        jail = jail.widened(read_only=read_only)
    full_env = script_environment(ctx.working_dir, env, sandbox=jail)
    command = list(argv)
    if jail is not None:
        jail.prepare(ctx.working_dir)
        command = jail.argv(command, ctx.working_dir)
    try:
        proc = subprocess.Popen(
            command,
            cwd=ctx.working_dir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise TaskFailed(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
    result = ProcessResult(exit_code=-1)
    out = _Output(ctx, result)
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        threading.Thread(target=_pump, args=(stream, name, lines), daemon=True).start()
    open_streams = 2
    exited_at: float | None = None
    swept = False
    next_check = 0.0
    while open_streams:
        idle = False
        try:
            name, text = lines.get(timeout=POLL_SECONDS)
        except queue.Empty:
            idle = True
        else:
            if text is None:
                open_streams -= 1
            else:
                out.line(name, text)
        now = time.monotonic()
        if now >= next_check:  # at most every POLL_SECONDS, however fast lines come
            next_check = now + POLL_SECONDS
            if ctx.should_stop():
                _stop(proc)
                _drain(lines, out)
                raise TaskFailed("killed")
        if exited_at is None:
            exited_at = now if proc.poll() is not None else None
        elif idle and now - exited_at > PIPE_GRACE_SECONDS:
            if swept:  # a child left the process group and keeps the pipes: stop reading
                break
            # The interpreter is gone but a background child still holds the pipes: the
            # working directory is about to be removed, so the group goes with it.
            _signal_group(proc, signal.SIGKILL)
            swept, exited_at = True, now
    result.exit_code = proc.wait()
    _drain(lines, out)
    return result


def _drain(lines: queue.Queue[tuple[str, str | None]], out: _Output) -> None:
    while True:
        try:
            name, text = lines.get_nowait()
        except queue.Empty:
            return
        if text is not None:
            out.line(name, text)


def shell_script(before: Sequence[str], commands: Sequence[str], *, fail_fast: bool) -> str:
    """One script for a shell interpreter: ``set -e`` first when failing fast."""
    return "\n".join([*(["set -e"] if fail_fast else []), *before, *commands])


@dataclass
class Runtime:
    """Where and with what a script task's lines run, decided before they are written."""

    #: ``process`` or ``docker`` (after the Docker -> Process fallback, if any).
    kind: str = "process"
    #: Command naming the Python interpreter (Python tasks).
    python: str = ""
    #: Variables added to the script's environment (PATH with a dependency env first...).
    env: dict[str, str] = field(default_factory=dict)
    #: Folders the sandboxed process may read (a cached dependency environment).
    read_only: tuple[str, ...] = ()
    #: Lines run before ``beforeCommands`` (installing dependencies inside a container).
    before: list[str] = field(default_factory=list)


def write_script(ctx: RunContext, source: Any, suffix: str) -> str:
    """Write an inline ``script`` into the working directory as a fresh file; its name, quoted
    for the shell (the ``Script`` tasks run it from there)."""
    fd, name = tempfile.mkstemp(prefix="script_", suffix=suffix, dir=ctx.working_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(str(source or ""))
    return shlex.quote(Path(name).name)


class ScriptTask(RunnableTask):
    """Base of the process-backed script tasks; subclasses say which lines to run."""

    properties: ClassVar[tuple[Prop, ...]] = COMMON_PROPS
    #: Kestra's default ``containerImage`` for the type (the Docker runner's image).
    default_image: ClassVar[str | None] = None

    outputs: ClassVar = (
        Output("exitCode", "The exit code (0: a failing command fails the task).", "integer"),
        Output("vars", 'Values the script printed as `::{"outputs": {...}}::` lines.', "map"),
        Output("outputFiles", "Files matching `outputFiles`, name -> internal-storage URI.", "map"),
        Output("stdOutLineCount", "Lines printed on standard output.", "integer"),
        Output("stdErrLineCount", "Lines printed on standard error.", "integer"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        from plugins.scripts.docker import validate_runner

        return [("taskRunner", m) for m in validate_runner(props.get("taskRunner"))]

    def command_lines(
        self, props: dict[str, Any], ctx: RunContext, runtime: Runtime | None = None
    ) -> list[str]:
        """The main lines (after ``beforeCommands``); may write files into the working dir."""
        raise NotImplementedError

    def extra_env(self, props: dict[str, Any], ctx: RunContext) -> dict[str, str]:
        return {}

    def runtime(self, props: dict[str, Any], ctx: RunContext, kind: str) -> Runtime:
        """Prepare what the lines need (a dependency environment); Python tasks override."""
        return Runtime(kind=kind)

    def argv(self, props: dict[str, Any], script: str) -> list[str]:
        interpreter = as_lines(props.get("interpreter")) or ["/bin/sh", "-c"]
        return [*interpreter, script]

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any] | TaskResult:
        from plugins.scripts.docker import effective_kind

        kind = effective_kind(task_runner_of(props), ctx.logger)
        if kind == "process":
            warn_ignored(props, ctx)
        copy_namespace_files(ctx, props.get("namespaceFiles"))
        write_input_files(ctx, props.get("inputFiles"))
        runtime = self.runtime(props, ctx, kind)
        script = shell_script(
            [*runtime.before, *as_lines(props.get("beforeCommands"))],
            self.command_lines(props, ctx, runtime),
            fail_fast=as_bool(props.get("failFast"), True),
        )
        env = {**self.extra_env(props, ctx), **runtime.env, **(props.get("env") or {})}
        argv = self.argv(props, script)
        if kind == "docker":
            result = self.run_in_container(props, ctx, argv, env)
        else:
            result = run_process(ctx, argv, env=env, read_only=runtime.read_only)
        if result.exit_code != 0:
            raise TaskFailed(f"Command failed with exit code {result.exit_code}")
        outputs = {
            "exitCode": result.exit_code,
            "vars": result.vars,
            "outputFiles": store_output_files(ctx, as_lines(props.get("outputFiles"))),
            "stdOutLineCount": result.stdout_lines,
            "stdErrLineCount": result.stderr_lines,
        }
        if result.stderr_lines and as_bool(props.get("warningOnStdErr"), False):
            return TaskResult(outputs=outputs, state=State.WARNING)
        return outputs

    def run_in_container(
        self, props: dict[str, Any], ctx: RunContext, argv: Sequence[str], env: Mapping[str, Any]
    ) -> ProcessResult:
        """The Docker runner: the same lines in ``containerImage``, logs and ``::{...}::``
        lines read as for a process. Only the declared env and WORKING_DIR go in."""
        from plugins.scripts.docker import run_container

        legacy = props.get("docker") if isinstance(props.get("docker"), Mapping) else {}
        image = props.get("containerImage") or legacy.get("image") or self.default_image
        if not image:
            raise TaskFailed("the Docker task runner needs containerImage")
        variables = {str(k): "" if v is None else str(v) for k, v in env.items()}
        variables.pop("PATH", None)  # the worker's PATH means nothing in the image
        variables["WORKING_DIR"] = str(ctx.working_dir)
        result = ProcessResult(exit_code=-1)
        out = _Output(ctx, result)
        runner = dict(task_runner_of(props) or {})
        result.exit_code = run_container(ctx, str(image), argv, variables, runner, out.line)
        return result


def task_runner_of(props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``taskRunner`` when it is a map. Kestra's older ``runner: DOCKER`` stays ignored (a
    process), as before: old flows relied on it being a no-op here."""
    runner = props.get("taskRunner")
    return runner if isinstance(runner, Mapping) else None


def warn_ignored(props: Mapping[str, Any], ctx: RunContext) -> None:
    """One warning when the flow asks for a container we don't provide."""
    image = props.get("containerImage") or (props.get("docker") or {}).get("image")
    if image:
        ctx.logger.warning(
            f"containerImage {image!r} is ignored: Trellis runs scripts as local processes"
        )


class RunsCommands:
    """For the ``Commands`` tasks (put before :class:`ScriptTask` in the bases): the main
    lines are the ``commands`` property as given."""

    def command_lines(
        self, props: dict[str, Any], ctx: RunContext, runtime: Runtime | None = None
    ) -> list[str]:
        return as_lines(props.get("commands"))
