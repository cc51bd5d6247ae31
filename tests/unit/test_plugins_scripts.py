"""Shell and Python script tasks run as real local processes against a fake run context."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from kernel.plugin import TaskFailed, TaskResult
from kernel.registry import registry
from kernel.states import State
from plugins.scripts import files, process, shell
from plugins.scripts import python as py
from tests.unit.fake_context import FakeContext


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    return FakeContext(tmp_path)


def test_commands_output_is_logged_line_by_line(ctx):
    outputs = shell.Commands().run({"commands": ["echo one", "echo two"]}, ctx)

    assert ctx.logger.lines("INFO") == ["one", "two"]
    assert outputs["exitCode"] == 0
    assert outputs["vars"] == {}
    assert outputs["outputFiles"] == {}


def test_stderr_is_logged_as_error(ctx):
    shell.Commands().run({"commands": ["echo oops >&2"]}, ctx)

    assert ctx.logger.lines("ERROR") == ["oops"]


def test_non_zero_exit_fails_the_task(ctx):
    with pytest.raises(TaskFailed, match="Command failed with exit code 3"):
        shell.Commands().run({"commands": ["exit 3"]}, ctx)


def test_fail_fast_stops_at_the_first_failing_line(ctx):
    with pytest.raises(TaskFailed, match="exit code 1"):
        shell.Commands().run({"commands": ["false", "echo after"]}, ctx)

    assert "after" not in ctx.logger.lines()


def test_without_fail_fast_the_last_line_decides(ctx):
    outputs = shell.Commands().run({"commands": ["false", "echo after"], "failFast": False}, ctx)

    assert outputs["exitCode"] == 0
    assert ctx.logger.lines("INFO") == ["after"]


def test_env_and_working_dir(ctx):
    shell.Commands().run({"commands": ['echo "$GREETING"', "pwd"], "env": {"GREETING": "hi"}}, ctx)

    assert ctx.logger.lines("INFO") == ["hi", str(ctx.working_dir)]


def test_kestra_output_lines_become_vars_and_are_not_logged(ctx):
    outputs = shell.Commands().run(
        {
            "commands": [
                """echo '::{"outputs":{"answer":42,"name":"x"}}::'""",
                """echo '::{"outputs":{"name":"y"}}::'""",
                "echo plain",
            ]
        },
        ctx,
    )

    assert outputs["vars"] == {"answer": 42, "name": "y"}
    assert ctx.logger.lines() == ["plain"]


def test_kestra_log_lines_are_logged_at_their_level(ctx):
    line = '::{"logs":[{"level":"WARN","message":"low disk"},{"level":"ODD","message":"x"}]}::'

    shell.Commands().run({"commands": [f"echo '{line}'"]}, ctx)

    assert ctx.logger.records == [("WARNING", "low disk"), ("INFO", "x")]


def test_input_files_are_written_and_output_files_stored(ctx):
    outputs = shell.Commands().run(
        {
            "inputFiles": {"in/data.txt": "hello"},
            "commands": ["tr a-z A-Z < in/data.txt > out.txt", "echo x > skip.log"],
            "outputFiles": ["*.txt"],
        },
        ctx,
    )

    assert outputs["outputFiles"] == {"out.txt": "kestra:///test/out.txt"}
    assert (ctx.storage / "out.txt").read_text() == "HELLO"


def test_input_file_from_internal_storage(ctx):
    (ctx.storage / "src.csv").write_text("a,b\n")

    shell.Commands().run(
        {"inputFiles": {"data.csv": "kestra:///test/src.csv"}, "commands": ["cat data.csv"]}, ctx
    )

    assert ctx.logger.lines("INFO") == ["a,b"]


def test_input_files_cannot_escape_the_working_dir(ctx):
    with pytest.raises(TaskFailed, match="outside the working directory"):
        shell.Commands().run({"inputFiles": {"../x": "no"}, "commands": ["true"]}, ctx)


def test_secrets_are_masked_in_logs(tmp_path):
    ctx = FakeContext(tmp_path, secrets=["s3cr3t"])

    shell.Commands().run({"commands": ["echo token=s3cr3t", "echo s3cr3t >&2"]}, ctx)

    # stdout and stderr are two pipes: their lines may interleave either way
    assert sorted(ctx.logger.lines()) == sorted(["token=********", "********"])


def test_warning_on_stderr(ctx):
    result = shell.Commands().run({"commands": ["echo careful >&2"], "warningOnStdErr": True}, ctx)

    assert isinstance(result, TaskResult)
    assert result.state is State.WARNING
    assert result.outputs["exitCode"] == 0


def test_container_image_is_ignored_with_one_warning(ctx):
    shell.Commands().run({"commands": ["true"], "containerImage": "ubuntu:22.04"}, ctx)

    assert len(ctx.logger.lines("WARNING")) == 1


def test_should_stop_kills_a_long_command(ctx):
    threading.Timer(0.5, lambda: setattr(ctx, "stop", True)).start()
    started = time.monotonic()

    with pytest.raises(TaskFailed, match="killed"):
        shell.Commands().run({"commands": ["sleep 30"]}, ctx)

    assert time.monotonic() - started < 5


def test_should_stop_kills_children_of_the_shell(ctx):
    threading.Timer(0.5, lambda: setattr(ctx, "stop", True)).start()
    started = time.monotonic()

    with pytest.raises(TaskFailed, match="killed"):
        shell.Commands().run({"commands": ["sleep 30", "echo never"]}, ctx)

    assert time.monotonic() - started < 5
    assert "never" not in ctx.logger.lines()


def test_a_process_ignoring_sigterm_gets_sigkill(ctx, monkeypatch):
    monkeypatch.setattr(process, "KILL_GRACE_SECONDS", 0.5)
    threading.Timer(0.3, lambda: setattr(ctx, "stop", True)).start()
    started = time.monotonic()

    with pytest.raises(TaskFailed, match="killed"):
        shell.Commands().run({"commands": ["trap '' TERM", "sleep 30"]}, ctx)

    assert time.monotonic() - started < 3


def test_a_background_child_holding_the_pipes_does_not_hang_the_task(ctx):
    started = time.monotonic()

    outputs = shell.Commands().run({"commands": ["sleep 30 &", "echo done"]}, ctx)

    assert outputs["exitCode"] == 0
    assert ctx.logger.lines("INFO") == ["done"]
    assert time.monotonic() - started < 5


def test_shell_script(ctx):
    outputs = shell.Script().run({"script": "for i in 1 2; do\n  echo line $i\ndone"}, ctx)

    assert outputs["exitCode"] == 0
    assert ctx.logger.lines("INFO") == ["line 1", "line 2"]


def test_deprecated_bash_uses_interpreter_and_args(ctx):
    outputs = shell.Bash().run(
        {"commands": ["echo $0"], "interpreter": "/bin/sh", "interpreterArgs": ["-c"]}, ctx
    )

    assert outputs["exitCode"] == 0
    assert outputs["stdOutLineCount"] == 1


def test_python_script_runs_with_the_worker_interpreter(ctx):
    script = (
        "import json, sys\n"
        "print('py', sys.version_info[0])\n"
        "print('::' + json.dumps({'outputs': {'total': sum(range(4))}}) + '::')\n"
    )

    outputs = py.Script().run({"script": script}, ctx)

    assert ctx.logger.lines("INFO") == ["py 3"]
    assert outputs["vars"] == {"total": 6}


def test_python_script_failure(ctx):
    with pytest.raises(TaskFailed, match="exit code 1"):
        py.Script().run({"script": "raise SystemExit(1)"}, ctx)


def test_python_commands_call_python_on_input_files(ctx):
    outputs = py.Commands().run(
        {
            "inputFiles": {"main.py": "import json\nprint(json.dumps([1, 2]))\n"},
            "beforeCommands": ["python -c 'print(1)' > /dev/null"],
            "commands": ["python main.py"],
        },
        ctx,
    )

    assert outputs["exitCode"] == 0
    assert [json.loads(line) for line in ctx.logger.lines("INFO")] == [[1, 2]]


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("io.kestra.plugin.scripts.shell.Commands", shell.Commands),
        ("io.kestra.plugin.scripts.shell.Script", shell.Script),
        ("io.kestra.core.tasks.scripts.Bash", shell.Bash),
        ("io.kestra.plugin.scripts.python.Script", py.Script),
        ("io.kestra.plugin.scripts.python.Commands", py.Commands),
    ],
)
def test_kestra_names_resolve(name, cls):
    assert registry.get(name) is cls


class FakeNamespaceFiles:
    """``ctx.namespace_files`` over a dict of {namespace: {path: bytes}}."""

    def __init__(self, files: dict[str, dict[str, bytes]]) -> None:
        self.files = files

    def list(self, namespace: str) -> list[str]:
        return sorted(self.files.get(namespace, {}))

    def copy_to(self, namespace: str, path: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.files[namespace][path])

    @staticmethod
    def matches(path: str, patterns: list[str]) -> bool:
        from namespaces.paths import matches

        return matches(path, patterns)


def test_namespace_files_are_copied_into_the_working_directory(ctx):
    ctx.namespace_files = FakeNamespaceFiles(
        {"test": {"/scripts/a.py": b"print('a')\n", "/scripts/b.sql": b"select 1",
                  "/tests/t.py": b"t"},
         "shared": {"/lib.py": b"x = 1"}}
    )  # fmt: skip

    outputs = shell.Commands().run(
        {"namespaceFiles": {"enabled": True, "include": ["**/*.py"], "exclude": ["tests/*"]},
         "commands": ["cat scripts/a.py", "ls scripts"]},
        ctx,
    )  # fmt: skip

    assert outputs["exitCode"] == 0
    assert ctx.logger.lines("INFO") == ["print('a')", "a.py"]
    assert not (ctx.working_dir / "tests").exists()


def test_namespace_files_from_other_namespaces_and_disabled_copies(ctx):
    ctx.namespace_files = FakeNamespaceFiles({"shared": {"/lib.py": b"x = 1"}})

    assert files.copy_namespace_files(ctx, {"namespaces": ["shared"]}) == 1
    assert (ctx.working_dir / "lib.py").read_text() == "x = 1"
    assert files.copy_namespace_files(ctx, {"enabled": False, "namespaces": ["shared"]}) == 0
    assert files.copy_namespace_files(ctx, None) == 0


# ------------------------------------------------------------ isolation (issue 9, security)


def _env_of(ctx: FakeContext) -> dict[str, str]:
    lines = [line for line in ctx.logger.lines("INFO") if "=" in line]
    return dict(line.split("=", 1) for line in lines)


def test_scripts_get_a_clean_environment(ctx, monkeypatch):
    monkeypatch.setenv("SECRET_DB_PASSWORD", "aHVudGVyMg==")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:pw@db/trellis")
    monkeypatch.setenv("SECRET_KEY", "django-key")
    monkeypatch.setenv("TRELLIS_ENCRYPTION_KEY", "k" * 32)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LC_TIME", "C")

    shell.Commands().run({"commands": ["env"], "env": {"DECLARED": "yes"}}, ctx)

    env = _env_of(ctx)
    assert not {"SECRET_DB_PASSWORD", "DATABASE_URL", "SECRET_KEY", "TRELLIS_ENCRYPTION_KEY"} & set(
        env
    )
    assert env["DECLARED"] == "yes"
    assert env["WORKING_DIR"] == str(ctx.working_dir)
    assert env["LANG"] == "C.UTF-8"
    assert env["LC_TIME"] == "C"
    assert env["PATH"]
    assert set(env) <= {*process.BASE_ENV, "LC_TIME", "LC_ALL", "LC_CTYPE", "WORKING_DIR",
                        "DECLARED", "PWD", "SHLVL", "_", "OLDPWD"}  # fmt: skip


def test_declared_env_may_override_the_basics(ctx):
    shell.Commands().run({"commands": ['echo "HOME=$HOME"'], "env": {"HOME": "/nowhere"}}, ctx)

    assert ctx.logger.lines("INFO") == ["HOME=/nowhere"]


def test_trellis_script_env_passes_named_worker_variables(ctx, monkeypatch, settings):
    settings.TRELLIS_SCRIPT_ENV = "JAVA_HOME, PIP_INDEX_URL"
    monkeypatch.setenv("JAVA_HOME", "/opt/java")
    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.internal/simple")
    monkeypatch.setenv("NOT_LISTED", "x")

    shell.Commands().run({"commands": ["env"]}, ctx)

    env = _env_of(ctx)
    assert env["JAVA_HOME"] == "/opt/java"
    assert env["PIP_INDEX_URL"] == "https://pypi.internal/simple"
    assert "NOT_LISTED" not in env


def test_python_scripts_get_the_clean_environment_too(ctx, monkeypatch):
    monkeypatch.setenv("SECRET_API", "dG9rZW4=")

    py.Script().run(
        {"script": "import os\nprint(sorted(k for k in os.environ if 'SECRET' in k))"}, ctx
    )

    assert ctx.logger.lines("INFO") == ["[]"]


def test_a_stop_kills_grandchildren_left_in_the_background(ctx):
    # A sandboxed script sees its own PID namespace, so the grandchild is found from here by
    # its unique command line rather than by the pid it would print.
    marker = f"{60 + os.getpid() % 1000 / 1000:.3f}"
    threading.Timer(0.5, lambda: setattr(ctx, "stop", True)).start()

    with pytest.raises(TaskFailed, match="killed"):
        shell.Commands().run({"commands": [f"sleep {marker} &", "wait"]}, ctx)

    deadline = time.monotonic() + 5
    while _sleeping(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleeping(marker) == []


def _sleeping(seconds: str) -> list[int]:
    """Live (not zombie) ``sleep SECONDS`` processes of this machine."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argv[:2] == [b"sleep", seconds.encode()] and state != "Z":
            found.append(int(entry.name))
    return found
