"""``manage.py server ROLE``: run one process role of Trellis, or all of them (``local``).

Roles (DESIGN.md, "Processes"):

* ``web`` -- the admin + REST API under gunicorn (threaded workers; static files served by
  WhiteNoise). ``WEB_CONCURRENCY`` worker processes (default 2), ``TRELLIS_WEB_THREADS``
  threads each (default 8: a live log stream holds one), ``TRELLIS_WEB_TIMEOUT`` seconds
  (default 60); any other gunicorn flag through ``GUNICORN_CMD_ARGS``. Django's development
  server runs only in ``local`` mode.
* ``executor`` -- a Celery worker on queue ``executor`` (flowable logic).
* ``worker`` -- a Celery worker on the task queues (``default`` and ``wg.<key>`` groups).
* ``scheduler`` -- celery beat with the DatabaseScheduler (schedules, sweeper, timers).
* ``triggers`` -- the realtime triggers' listeners (``triggers.realtime``): one thread per
  armed realtime trigger (AMQP, MQTT, NATS, Redis...), each starting one execution per
  message. Runs in this process (no Celery); SIGTERM or Ctrl-C stops the listeners.
* ``local`` -- the laptop mode: migrate, deploy ``examples/``, create an admin login, then
  supervise an executor, a task worker, beat, the triggers role and the web server until
  Ctrl-C or SIGTERM.

Every role but ``local`` replaces this process (``os.execv``) so that the signals a process
manager sends reach Celery or the web server directly. ``local`` starts each child in its own
session (process group): Ctrl-C in the terminal reaches only this supervisor, which stops
the children in order -- SIGTERM to each leader (Celery then stops its pool warmly), SIGKILL
to the whole group of anything still alive after 20 s or on a second Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from flows.services import flows_deploy_folder
from kernel.spec.model import SpecError
from orchestrator import processes
from plugins.scripts.sandbox import UNSAFE_ENV, probe, unsafe_allowed
from triggers.realtime import RealtimeRole

ROLES = ("local", "web", "executor", "worker", "scheduler", "triggers")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
STOP_SECONDS = 20.0
READY_SECONDS = 90.0
LOCAL_CONCURRENCY = 2


def parse_bind(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[::1]:PORT`` or a bare ``PORT`` -> ``(host, port)``."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = DEFAULT_HOST, value
    host = host.strip("[]") or DEFAULT_HOST
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"--bind must look like HOST:PORT, not {value!r}", returncode=2)
    return host, int(port)


def bind_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def browser_url(host: str, port: int) -> str:
    """Where to point a browser: a wildcard bind is reached through the loopback address."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{bind_text(shown, port)}/admin/"


def web_cmd(host: str, port: int, *, local: bool = False) -> list[str]:
    """The web role's command line: gunicorn in production, Django's runserver in local mode.

    Both go through ``python -m``, never a ``manage.py`` path: an installed wheel has none.
    """
    if local:
        # Local mode serves the admin's CSS even with DEBUG=false (runserver --insecure).
        argv = [sys.executable, "-m", "orchestrator.cli", "runserver", bind_text(host, port)]
        return [*argv, "--noreload", "--insecure"]
    return [
        sys.executable, "-m", "gunicorn", "orchestrator.wsgi:application",
        "--bind", bind_text(host, port),
        "--worker-class", "gthread",
        "--workers", _env_int("WEB_CONCURRENCY", 2),
        "--threads", _env_int("TRELLIS_WEB_THREADS", 8),
        "--timeout", _env_int("TRELLIS_WEB_TIMEOUT", 60),
        "--graceful-timeout", _env_int("TRELLIS_WEB_GRACEFUL_TIMEOUT", 30),
        "--access-logfile", "-",
    ]  # fmt: skip


def _env_int(name: str, default: int) -> str:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise CommandError(f"{name} must be a positive whole number, not {raw!r}", returncode=2)
    return raw


class Command(BaseCommand):
    help = "Run Trellis: `local` (every role, for a laptop) or one role for production."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("role", choices=ROLES)
        parser.add_argument(
            "--bind", help=f"web, local: HOST:PORT to listen on (default {DEFAULT_HOST}:"
            f"{DEFAULT_PORT})",
        )  # fmt: skip
        parser.add_argument("--host", help="web, local: address (same as --bind's HOST)")
        parser.add_argument("--port", type=int, help="web, local: port (same as --bind's PORT)")
        parser.add_argument(
            "--queues", default="default", help="worker, local: comma-separated queues"
        )
        parser.add_argument(
            "--concurrency", type=int, help="executor, worker: processes (default: CPUs)"
        )
        parser.add_argument("--no-examples", action="store_true", help="local: skip examples/")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = self.address(options)
        # Children re-read settings from the environment: give them this process's resolved
        # home, so a relative TRELLIS_HOME does not move when they start elsewhere.
        os.environ["TRELLIS_HOME"] = str(settings.TRELLIS_HOME)
        # ...and the same .env (or none): they start in another folder, whose .env is not ours.
        os.environ["TRELLIS_ENV_FILE"] = str(settings.TRELLIS_ENV_FILE or "")
        if options["role"] == "local":
            LocalMode(self, host, port, options).run()
            return
        if options["role"] == "triggers":
            run_triggers_role()
            return
        concurrency = options["concurrency"] or os.cpu_count() or 2
        argv = {
            "web": lambda: web_cmd(host, port),
            "executor": lambda: processes.executor_cmd(concurrency),
            "worker": lambda: processes.worker_cmd(options["queues"], concurrency),
            "scheduler": lambda: processes.scheduler_cmd(),
        }[options["role"]]()
        sys.stdout.flush()
        sys.stderr.flush()
        os.chdir(settings.BASE_DIR)  # `celery -A orchestrator` imports from here
        os.execv(argv[0], argv)

    @staticmethod
    def address(options: dict) -> tuple[str, int]:
        if options["bind"] and (options["host"] or options["port"]):
            raise CommandError("give --bind or --host/--port, not both", returncode=2)
        if options["bind"]:
            return parse_bind(options["bind"])
        return options["host"] or DEFAULT_HOST, options["port"] or DEFAULT_PORT


class _Stop(Exception):
    """SIGINT or SIGTERM, as an exception: it unwinds from wherever we are to the cleanup."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


class LocalMode:
    """Everything on one machine: the same processes as production, supervised."""

    def __init__(self, command: BaseCommand, host: str, port: int, options: dict) -> None:
        self.command, self.host, self.port, self.options = command, host, port, options
        self.logs = settings.TRELLIS_HOME / "logs"
        self.children: dict[str, subprocess.Popen] = {}
        self.offsets: dict[str, int] = {}
        self.hurry = False

    def say(self, text: str) -> None:
        self.command.stdout.write(text)
        self.command.stdout.flush()

    def run(self) -> None:
        self.check_port()
        # Both signals, explicitly: a shell starting us in the background ignores SIGINT,
        # and Python then would not turn Ctrl-C into KeyboardInterrupt.
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        crashed = None
        try:
            self.say(f"Trellis local mode; data in {settings.TRELLIS_HOME}")
            call_command("migrate", interactive=False, verbosity=0)
            self.say("  database migrated")
            if not self.options["no_examples"]:
                self.deploy_examples()
            login = self.ensure_admin()
            self.sandbox_scripts()
            self.start_children()
            self.wait_ready()
            url = browser_url(self.host, self.port)
            self.say(self.command.style.SUCCESS(f"Trellis is running: open {url} ({login})"))
            self.say("Press Ctrl-C to stop.")
            crashed = self.supervise()
        except _Stop:
            pass
        finally:
            self.stop_children()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if crashed:
            raise CommandError(f"{crashed} stopped unexpectedly; see {self.log(crashed)}")

    def check_port(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver does
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise CommandError(f"cannot listen on {self.host}:{self.port}: {exc}") from None

    def deploy_examples(self) -> None:
        folder = Path(settings.TRELLIS_EXAMPLES_DIR)
        if not folder.is_dir():
            return
        try:
            result = flows_deploy_folder(paths=[folder])
        except SpecError as exc:  # a broken example must not keep the rest from starting
            self.command.stderr.write(f"  examples not deployed:\n{exc}")
            return
        changed = sum(1 for r in result.results if r.changed)
        self.say(f"  examples: {len(result.results)} flows from {folder} ({changed} changed)")

    def ensure_admin(self) -> str:
        """Create the local admin if there is no superuser; return how to log in. The password
        is printed once and stored only as Django's hash."""
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            return "log in with your superuser"
        name = os.environ.get("TRELLIS_ADMIN_USER") or "admin"
        if users.objects.filter(username=name).exists():
            return f"user {name} exists but is not a superuser: run `manage.py createsuperuser`"
        given = os.environ.get("TRELLIS_ADMIN_PASSWORD")
        password = given or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=name, email="", password=password)
        self.say(f"  created superuser {name}")
        return f"user {name}, password {'from TRELLIS_ADMIN_PASSWORD' if given else password}"

    def sandbox_scripts(self) -> None:
        """Say how script tasks will run. A laptop without bubblewrap still runs them, but
        unsandboxed, and the user is told so (a production worker refuses instead)."""
        sandbox, why = probe()
        if sandbox is not None:
            self.say(f"  script tasks run sandboxed ({sandbox.bwrap})")
            return
        if not unsafe_allowed():
            os.environ[UNSAFE_ENV] = "1"  # the workers started next inherit it
        self.say(self.command.style.WARNING(
            f"  {why}: script tasks run UNSANDBOXED, able to read this machine's files "
            f"({UNSAFE_ENV}=1 set); install bubblewrap to sandbox them"
        ))  # fmt: skip

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start_children(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        commands = {
            "executor": processes.executor_cmd(LOCAL_CONCURRENCY),
            "worker": processes.worker_cmd(
                self.options["queues"], self.options["concurrency"] or LOCAL_CONCURRENCY
            ),
            "scheduler": processes.scheduler_cmd(),
            "triggers": processes.triggers_cmd(),
            "web": web_cmd(self.host, self.port, local=True),
        }
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name, argv in commands.items():
            path = self.log(name)
            self.offsets[name] = path.stat().st_size if path.exists() else 0
            with path.open("ab") as log:
                self.children[name] = subprocess.Popen(
                    argv, cwd=settings.BASE_DIR, env=env, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
        self.say(f"  started {', '.join(self.children)}; logs in {self.logs}")

    def new_log_text(self, name: str) -> str:
        with self.log(name).open("rb") as log:
            log.seek(self.offsets[name])
            return log.read().decode(errors="replace")

    def wait_ready(self) -> None:
        """Until the web port answers and both Celery workers say ``ready.``: the banner
        promises a working system, not processes that may still fail to start."""
        deadline = time.monotonic() + READY_SECONDS
        pending = {"executor", "worker", "web"}
        while pending:
            if name := self.dead_child():
                raise CommandError(f"{name} failed to start:\n{self.new_log_text(name)[-3000:]}")
            pending = {name for name in pending if not self.is_ready(name)}
            if time.monotonic() > deadline:
                raise CommandError(f"{', '.join(sorted(pending))} not ready; see {self.logs}")
            time.sleep(0.2)

    def is_ready(self, name: str) -> bool:
        if name == "web":
            return self.web_answers()
        return " ready." in self.new_log_text(name)  # Celery's "celery@host ready."

    def web_answers(self) -> bool:
        try:
            socket.create_connection((self.host, self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def dead_child(self) -> str | None:
        return next((n for n, c in self.children.items() if c.poll() is not None), None)

    def supervise(self) -> str | None:
        """Watch the children; the name of one that exited on its own, if any."""
        while True:
            if name := self.dead_child():
                tail = self.new_log_text(name)[-3000:]
                self.command.stderr.write(f"{name} exited ({self.children[name].returncode}):")
                self.command.stderr.write(tail)
                return name
            time.sleep(0.5)

    def _hurry(self, signum: int, frame: object) -> None:
        self.hurry = True

    def stop_children(self) -> None:
        """SIGTERM each leader, wait, then SIGKILL each whole group (pool processes too)."""
        signal.signal(signal.SIGINT, self._hurry)  # a second Ctrl-C: stop waiting
        signal.signal(signal.SIGTERM, self._hurry)
        alive = [c for c in self.children.values() if c.poll() is None]
        if alive:
            self.say(f"stopping {len(alive)} processes...")
        for child in alive:
            _signal_leader(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while any(c.poll() is None for c in alive) and not self.hurry:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for child in self.children.values():
            _kill_group(child.pid)  # leftovers, even of a leader that already exited
            child.wait()
        if self.children:
            self.say("Trellis stopped.")


def run_triggers_role() -> None:
    """The ``triggers`` role in this process, until SIGTERM or SIGINT. Its own lines at
    INFO at least, as the Celery roles run with ``-l INFO``."""
    triggers_log = logging.getLogger("triggers")
    triggers_log.setLevel(min(logging.INFO, logging.getLogger().getEffectiveLevel()))
    role = RealtimeRole()

    def stop(signum: int, frame: object) -> None:
        role.stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    role.run()


def _signal_leader(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
