"""Scripts cannot reach the worker (issue 21, docs/reliability.md "Script sandbox").

Each attack the issue reports is replayed from a real Python or Shell task through the script
runner (``plugins.scripts``), and where it matters the same attack is first shown to work
with the sandbox switched off, so the assertion can fail. One flow replays them on the real
worker fleet. Tests that need bubblewrap skip with the reason on a machine without it; the
start-up refusal is simulated (``TRELLIS_BWRAP`` names no program) and runs everywhere.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings

from kernel.plugin import TaskFailed
from orchestrator.supervisor import Fleet
from plugins.scripts import python as py
from plugins.scripts import sandbox, shell
from tests.unit.fake_context import FakeContext

ROOT = Path(__file__).resolve().parents[2]
needs_sandbox = pytest.mark.skipif(
    sandbox.probe()[0] is None,
    reason=f"no working bubblewrap here ({sandbox.probe()[1]}); .ci/sandbox-setup installs it",
)
WORKER_SECRET = "c2FuZGJveC1wcm9iZS1zZWNyZXQ="  # a SECRET_ value the "worker" holds
DJANGO_KEY = "django-insecure-sandbox-probe-key"


@pytest.fixture
def worker_env():
    """A process holding a Django key and a SECRET_ value from its start, as a worker does
    (``/proc/<pid>/environ`` shows what a process was started with)."""
    env = {**os.environ, "SECRET_SANDBOX_PROBE": WORKER_SECRET, "SECRET_KEY": DJANGO_KEY}
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], env=env)
    try:
        yield worker.pid
    finally:
        worker.kill()
        worker.wait()


@pytest.fixture
def unsandboxed(monkeypatch):
    """Switch the sandbox off as a laptop without bwrap would run: the control case."""
    monkeypatch.setenv(sandbox.BWRAP_ENV, "/nonexistent/bwrap")
    monkeypatch.setenv(sandbox.UNSAFE_ENV, "1")


def run_python(tmp_path: Path, code: str, name: str = "task") -> tuple[FakeContext, dict]:
    """Run ``code`` as a Python Script task; it writes its findings to report.json."""
    ctx = FakeContext(tmp_path / name)
    outputs = py.Script().run({"script": code, "outputFiles": ["report.json"]}, ctx)
    assert outputs["outputFiles"] == {"report.json": "kestra:///test/report.json"}
    return ctx, json.loads((ctx.storage / "report.json").read_text())


# The attack of issue 21: every environment and command line this script can see, walking
# the process tree up from itself and across /proc.
PROCESS_WALK = r"""
import json, os

def read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError as exc:
        return None

seen = {}
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    seen[pid] = {"cmdline": (read(f"/proc/{pid}/cmdline") or "").replace("\0", " "),
                 "environ": (read(f"/proc/{pid}/environ") or "").split("\0")}
chain, pid = [], os.getpid()
while pid > 0:
    stat = read(f"/proc/{pid}/stat")
    if stat is None:
        break
    chain.append(pid)
    pid = int(stat.rsplit(")", 1)[1].split()[1])
report = {"pids": sorted(seen), "ancestors": chain, "processes": seen,
          "parent_environ": read(f"/proc/{os.getppid()}/environ"), "uid": os.getuid()}
with open("report.json", "w") as out:
    json.dump(report, out)
"""


@needs_sandbox
def test_a_python_task_sees_no_worker_process_and_no_secret(tmp_path, worker_env):
    _, report = run_python(tmp_path, PROCESS_WALK)

    text = json.dumps(report)
    assert WORKER_SECRET not in text
    assert DJANGO_KEY not in text
    assert "SECRET_" not in text
    worker_cmdline = Path("/proc/self/cmdline").read_text().replace("\0", " ")
    assert all(worker_cmdline not in p["cmdline"] for p in report["processes"].values())
    assert os.getpid() not in report["pids"]
    assert worker_env not in report["pids"]
    # its own PID namespace: the sandbox's init, the shell, the interpreter
    assert len(report["pids"]) <= 4
    assert report["ancestors"][-1] == 1
    assert report["uid"] == sandbox.SCRIPT_UID


def test_control_without_the_sandbox_the_same_walk_finds_the_worker(
    tmp_path, worker_env, unsandboxed
):
    _, report = run_python(tmp_path, PROCESS_WALK)

    text = json.dumps(report)
    assert WORKER_SECRET in text
    assert worker_env in report["pids"]
    assert os.getpid() in report["ancestors"]


@needs_sandbox
def test_a_shell_task_reads_no_environ_up_the_tree(tmp_path, worker_env):
    ctx = FakeContext(tmp_path)

    shell.Commands().run(
        {
            "commands": [
                "echo parent=$(tr '\\0' '\\n' < /proc/$PPID/environ | grep -c SECRET_)",
                "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done 2>/dev/null"
                " | grep -c -e SECRET_ -e DJANGO_SETTINGS -e DATABASE_URL | sed 's/^/all=/'",
                "echo processes=$(ls -d /proc/[0-9]* | wc -l)",
                "echo uid=$(id -u)",
            ]
        },
        ctx,
    )

    parent, everyone, processes, uid = ctx.logger.lines("INFO")
    assert (parent, everyone, uid) == ("parent=0", "all=0", "uid=65534")
    assert int(processes.split("=")[1]) <= 6  # its own PID namespace, not the machine's


# Files the worker can read that a script must not see.
def _worker_files(other_workdir: Path) -> dict[str, str]:
    db = settings.DATABASES["default"]
    files = {
        "TRELLIS_HOME": str(settings.TRELLIS_HOME),
        "storage": str(settings.MEDIA_ROOT),
        "checkout settings": str(ROOT / "orchestrator" / "settings.py"),
        "checkout .env.example": str(ROOT / ".env.example"),
        "another execution's file": str(other_workdir / "private.txt"),
    }
    if db["ENGINE"].endswith("sqlite3"):
        files["database"] = str(db["NAME"])
        files["test database"] = str(db.get("TEST", {}).get("NAME") or "")
    return {k: v for k, v in files.items() if v and Path(v).exists()}


FILE_PROBE = r"""
import json, os
targets = json.loads(os.environ["TARGETS"])
found = {}
for name, path in targets.items():
    try:
        found[name] = sorted(os.listdir(path)) if os.path.isdir(path) else len(open(path, "rb").read())
    except OSError:
        found[name] = None
homes = {}
for top in ("/root", "/home"):
    for folder, dirs, files in os.walk(top):
        homes[folder] = sorted(dirs + files)
        if folder.count("/") >= 4:
            dirs.clear()
with open("report.json", "w") as out:
    json.dump({"found": found, "homes": homes}, out)
"""


def _file_probe(tmp_path: Path) -> tuple[dict, dict[str, str]]:
    Path(settings.MEDIA_ROOT).mkdir(parents=True, exist_ok=True)  # every namespace's files
    other = FakeContext(tmp_path / "other-execution")
    (other.working_dir / "private.txt").write_text("another execution's data")
    targets = _worker_files(other.working_dir)
    ctx = FakeContext(tmp_path / "attacker")
    py.Script().run(
        {"script": FILE_PROBE, "env": {"TARGETS": json.dumps(targets)},
         "outputFiles": ["report.json"]},
        ctx,
    )  # fmt: skip
    return json.loads((ctx.storage / "report.json").read_text()), targets


@needs_sandbox
def test_trellis_home_the_database_the_checkout_and_other_executions_are_not_there(tmp_path):
    report, targets = _file_probe(tmp_path)

    assert {"TRELLIS_HOME", "storage", "checkout settings", "another execution's file"} <= set(
        targets
    )
    assert report["found"] == dict.fromkeys(targets)
    # /root and /home hold only the folders leading to the interpreter, read-only
    interpreter = sandbox.interpreter_paths()
    for folder in report["homes"]:
        assert any(p == folder or p.startswith(folder + "/") or folder.startswith(p + "/")
                   for p in interpreter), folder  # fmt: skip


def test_control_without_the_sandbox_the_files_are_there(tmp_path, unsandboxed):
    report, targets = _file_probe(tmp_path)

    assert all(report["found"][name] is not None for name in targets)


PROMOTE = r"""
import json, os, sqlite3
try:
    db = sqlite3.connect(os.environ["DB"])
    changed = db.execute(
        "UPDATE auth_user SET is_superuser = 1 WHERE username = 'mallory'").rowcount
    db.commit()
    result = {"changed": changed}
except Exception as exc:
    result = {"error": str(exc)}
with open("report.json", "w") as out:
    json.dump(result, out)
"""


@pytest.fixture
def mallory(django_user_model):
    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("the attack opens the SQLite file; PostgreSQL is a network service that "
                    "needs credentials scripts are never given (docs/reliability.md)")  # fmt: skip
    from django.db import connection

    user = django_user_model.objects.create_user(username="mallory", password="pw")
    return user, str(connection.settings_dict["NAME"])


def _promote(tmp_path: Path, db: str) -> dict:
    ctx = FakeContext(tmp_path)
    py.Script().run({"script": PROMOTE, "env": {"DB": db}, "outputFiles": ["report.json"]}, ctx)
    return json.loads((ctx.storage / "report.json").read_text())


@needs_sandbox
@pytest.mark.django_db(transaction=True)
def test_a_script_cannot_make_its_author_superuser(tmp_path, mallory):
    user, db = mallory

    result = _promote(tmp_path, db)

    assert "unable to open database file" in result["error"]
    user.refresh_from_db()
    assert user.is_superuser is False


@pytest.mark.django_db(transaction=True)
def test_control_without_the_sandbox_the_update_goes_through(tmp_path, mallory, unsandboxed):
    user, db = mallory

    assert _promote(tmp_path, db) == {"changed": 1}
    user.refresh_from_db()
    assert user.is_superuser is True


@needs_sandbox
def test_the_network_is_still_reachable(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        received: list[bytes] = []

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                received.append(conn.recv(64))

        listener = threading.Thread(target=accept, daemon=True)
        listener.start()
        ctx = FakeContext(tmp_path)
        py.Script().run(
            {"script": "import socket\n"
             f"socket.create_connection(('127.0.0.1', {port}), timeout=5).sendall(b'hi')\n"},
            ctx,
        )  # fmt: skip
        listener.join(timeout=10)

    assert received == [b"hi"]


@needs_sandbox
def test_the_working_directory_is_writable_and_outputs_flow_back(tmp_path):
    ctx = FakeContext(tmp_path)
    scratch = f"/tmp/trellis-sandbox-scratch-{os.getpid()}"

    outputs = shell.Commands().run(
        {
            "inputFiles": {"in.txt": "hello"},
            "commands": [
                "tr a-z A-Z < in.txt > out.txt",
                'echo \'::{"outputs":{"wd":"\'"$PWD"\'"}}::\'',
                f"echo tmp > {scratch} && echo home=$HOME",
            ],
            "outputFiles": ["out.txt"],
        },
        ctx,
    )

    assert outputs["vars"] == {"wd": str(ctx.working_dir)}
    assert (ctx.storage / "out.txt").read_text() == "HELLO"
    assert ctx.logger.lines("INFO") == ["home=/tmp"]
    assert not Path(scratch).exists()  # /tmp is the sandbox's own


@needs_sandbox
def test_operator_folders_are_read_only_or_shared_and_trellis_home_stays_covered(
    tmp_path, monkeypatch
):
    tools = tmp_path / "opt"
    (tools / "home").mkdir(parents=True)
    (tools / "tool.txt").write_text("a tool")
    (tools / "home" / "trellis.sqlite3").write_text("the database")
    shared = tmp_path / "drop"
    shared.mkdir(mode=0o1777)
    shared.chmod(0o1777)
    monkeypatch.setenv(sandbox.READ_ONLY_ENV, str(tools))
    monkeypatch.setenv(sandbox.WRITABLE_ENV, str(shared))
    monkeypatch.setenv("TRELLIS_HOME", str(tools / "home"))  # inside a visible folder
    ctx = FakeContext(tmp_path / "task")

    shell.Commands().run(
        {
            "commands": [
                f"cat {tools}/tool.txt; echo",
                f"ls -A {tools}/home | wc -l",
                f"touch {tools}/new 2>/dev/null || echo read-only",
                f"echo from the script > {shared}/out.txt",
            ]
        },
        ctx,
    )

    assert ctx.logger.lines("INFO") == ["a tool", "0", "read-only"]
    assert (shared / "out.txt").read_text() == "from the script\n"
    assert not (tools / "new").exists()


# ------------------------------------------------------------------ refusing to run unsandboxed


def test_the_runner_refuses_a_script_without_sandbox_and_without_permission(tmp_path, monkeypatch):
    monkeypatch.setenv(sandbox.BWRAP_ENV, "/nonexistent/bwrap")
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    ctx = FakeContext(tmp_path)

    with pytest.raises(TaskFailed, match="bubblewrap .* not installed.*TRELLIS_UNSAFE_SCRIPTS"):
        shell.Commands().run({"commands": ["touch ran"]}, ctx)

    assert not (ctx.working_dir / "ran").exists()


def _fleet(tmp_path: Path, **changes: str) -> Fleet:
    """A fleet for one worker on an empty embedded home, with no sandbox setting inherited."""
    fleet = Fleet(tmp_path / "logs")
    fleet.env = {**os.environ, "TRELLIS_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", sandbox.UNSAFE_ENV, sandbox.BWRAP_ENV):
        fleet.env.pop(name, None)
    fleet.env.update(changes)
    return fleet


@pytest.mark.parametrize(
    "missing",
    [
        {sandbox.BWRAP_ENV: "/nonexistent/bwrap"},
        {"PATH": str(Path(sys.executable).parent)},  # no bwrap on PATH
    ],
    ids=["TRELLIS_BWRAP", "PATH"],
)
def test_a_worker_without_bwrap_refuses_to_start(tmp_path, missing):
    fleet = _fleet(tmp_path, **missing)

    fleet.start_worker("tasks", "default", concurrency=1, wait=False)

    assert fleet.procs["tasks"].wait(timeout=120) == 78
    output = fleet.log_text("tasks")
    assert "trellis worker refuses to start" in output
    assert "bubblewrap (bwrap) is not installed" in output
    assert " ready." not in output


def _started(fleet: Fleet, queues: str = "default") -> str:
    """Start one worker, wait until it is ready (raises if it exits), stop it; its log."""
    try:
        fleet.start_worker("worker", queues, concurrency=1)
        return fleet.log_text("worker")
    finally:
        fleet.stop()


def test_a_worker_without_bwrap_starts_when_unsafe_scripts_are_allowed(tmp_path):
    fleet = _fleet(tmp_path, TRELLIS_BWRAP="/nonexistent/bwrap", TRELLIS_UNSAFE_SCRIPTS="1")

    assert "script tasks run UNSANDBOXED" in _started(fleet)


def test_an_executor_worker_runs_no_scripts_and_starts_without_bwrap(tmp_path):
    output = _started(_fleet(tmp_path, TRELLIS_BWRAP="/nonexistent/bwrap"), "executor")

    assert "script tasks" not in output


@pytest.mark.parametrize(
    ("queues", "runs_scripts"),
    [(None, True), ("default", True), ("executor", False), ("executor,wg.gpu", True),
     (["executor"], False), ("", True)],
)  # fmt: skip
def test_only_workers_of_task_queues_need_the_sandbox(queues, runs_scripts):
    assert sandbox.queues_run_scripts(queues) is runs_scripts


@needs_sandbox
def test_a_worker_with_bwrap_says_its_scripts_are_sandboxed(tmp_path):
    assert "script tasks run sandboxed by" in _started(_fleet(tmp_path))


# ------------------------------------------------------------------ through the real workers

WORKER_ATTACK = """
id: sandbox-attack
namespace: it.security
tasks:
  - id: attack
    type: io.kestra.plugin.scripts.python.Script
    env:
      DB: "%(db)s"
      TARGETS: '%(targets)s'
    outputFiles: [report.json]
    script: |
      import json, os, sqlite3, tempfile
      def read(path):
          try:
              with open(path, "rb") as handle:
                  return handle.read().decode(errors="replace")
          except OSError:
              return ""
      pids = [p for p in os.listdir("/proc") if p.isdigit()]
      environs = [read(f"/proc/{p}/environ") for p in pids]
      cmdlines = [read(f"/proc/{p}/cmdline").replace(chr(0), " ") for p in pids]
      promote = "no SQLite database"
      if os.environ["DB"]:
          try:
              db = sqlite3.connect(os.environ["DB"])
              db.execute("UPDATE auth_user SET is_superuser = 1 WHERE username = 'mallory'")
              db.commit()
              promote = "updated"
          except Exception as exc:
              promote = str(exc)
      here = os.getcwd()
      summary = {
          "uid": os.getuid(),
          "secret_vars": sum(e.count("SECRET_") for e in environs),
          "celery_processes": sum("celery" in c for c in cmdlines),
          "visible": {k: os.path.exists(v) for k, v in json.loads(os.environ["TARGETS"]).items()},
          "neighbours": sorted(n for n in os.listdir(os.path.dirname(here))
                               if n.startswith("trellis-") and n != os.path.basename(here)),
          "promote": promote,
      }
      with open("report.json", "w") as out:
          json.dump({"summary": summary, "environs": environs, "cmdlines": cmdlines}, out)
      print("::" + json.dumps({"outputs": summary}) + "::")
"""


@needs_sandbox
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_attacks_fail_on_the_real_workers(workers, django_user_model) -> None:
    from django.db import connection

    from executions.models import TaskRun
    from executions.services import execution_create, execution_wait
    from flows.services import flow_deploy
    from kernel.states import State
    from orchestrator.storage import default_storage

    mallory = django_user_model.objects.create_user(username="mallory", password="pw")
    Path(settings.MEDIA_ROOT).mkdir(parents=True, exist_ok=True)
    sqlite = connection.settings_dict["ENGINE"].endswith("sqlite3")
    targets = {
        "TRELLIS_HOME": str(settings.TRELLIS_HOME),
        "storage": str(settings.MEDIA_ROOT),
        "checkout": str(ROOT / "manage.py"),
        **({"database": str(connection.settings_dict["NAME"])} if sqlite else {}),
    }
    assert all(Path(path).exists() for path in targets.values())
    source = WORKER_ATTACK % {
        "db": connection.settings_dict["NAME"] if sqlite else "",
        "targets": json.dumps(targets),
    }
    flow = flow_deploy(source=source).flow

    done = execution_wait(execution_create(flow=flow).id, timeout=90)

    assert done.state == State.SUCCESS
    outputs = TaskRun.objects.get(execution=done, task_id="attack").outputs
    assert outputs["vars"] == {
        "uid": sandbox.SCRIPT_UID,
        "secret_vars": 0,
        "celery_processes": 0,
        "visible": dict.fromkeys(targets, False),
        "neighbours": [],
        "promote": "unable to open database file" if sqlite else "no SQLite database",
    }
    mallory.refresh_from_db()
    assert mallory.is_superuser is False
    # the whole report came back through outputFiles, and holds none of the workers' secrets
    with default_storage().open(outputs["outputFiles"]["report.json"]) as stored:
        report = stored.read().decode()
    assert "aHVudGVyMi1zZWNyZXQ=" not in report  # SECRET_DB_PASSWORD of the workers
    assert len(json.loads(report)["cmdlines"]) <= 4


# ------------------------------------------------------------------ local mode (make run)


def _local_mode_says(monkeypatch) -> str:
    from io import StringIO

    from orchestrator.management.commands.server import Command, LocalMode

    out = StringIO()
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)  # restored afterwards
    LocalMode(Command(stdout=out), "127.0.0.1", 8000, {}).sandbox_scripts()
    return out.getvalue()


def test_local_mode_runs_scripts_unsandboxed_only_where_bwrap_is_missing(monkeypatch):
    monkeypatch.setenv(sandbox.BWRAP_ENV, "/nonexistent/bwrap")

    said = _local_mode_says(monkeypatch)

    assert os.environ[sandbox.UNSAFE_ENV] == "1"  # the workers it starts inherit it
    assert "script tasks run UNSANDBOXED" in said
    assert "install bubblewrap" in said


@needs_sandbox
def test_local_mode_sandboxes_scripts_where_bwrap_works(monkeypatch):
    said = _local_mode_says(monkeypatch)

    assert sandbox.UNSAFE_ENV not in os.environ
    assert "script tasks run sandboxed" in said
