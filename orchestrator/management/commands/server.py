"""``manage.py server ROLE``: run one role of Trellis, or all of them (``local``).

``local`` is the laptop mode: migrate, load the examples, create an admin login, then run an
executor worker, a task worker, beat and the web server as child processes until Ctrl-C.
The other roles replace this process with the role's own (signals go straight to Celery).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from orchestrator import processes

ROLES = ("local", "web", "executor", "worker", "scheduler")


class Command(BaseCommand):
    help = "Run Trellis: `local` (everything, for a laptop) or one production role."

    def add_arguments(self, parser) -> None:
        parser.add_argument("role", choices=ROLES)
        parser.add_argument("--host", default="127.0.0.1", help="web: address to listen on")
        parser.add_argument("--port", type=int, default=8000, help="web: port to listen on")
        parser.add_argument("--queues", default="default", help="worker: queues to consume")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
        parser.add_argument("--no-examples", action="store_true", help="local: skip examples/")

    def handle(self, *args, **options) -> None:
        role = options["role"]
        if role == "local":
            self.local(options)
            return
        argv = {
            "web": lambda: processes.web_cmd(options["host"], options["port"]),
            "executor": lambda: processes.executor_cmd(options["concurrency"]),
            "worker": lambda: processes.worker_cmd(options["queues"], options["concurrency"]),
            "scheduler": lambda: processes.scheduler_cmd(),
        }[role]()
        sys.stdout.flush()
        os.execv(argv[0], argv)

    # -- local mode ----------------------------------------------------------------------

    def local(self, options: dict) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not options["no_examples"]:
            self.load_examples()
        login = self.ensure_admin()
        children = self.start_children(options)
        url = f"http://{options['host']}:{options['port']}/admin/"
        self.stdout.write(self.style.SUCCESS(f"Trellis is running: open {url}"))
        if login:
            self.stdout.write(f"  log in as {login[0]} / {login[1]} (shown once)")
        self.stdout.write(f"  data in {settings.TRELLIS_HOME}; Ctrl-C stops everything")
        self.supervise(children)

    def load_examples(self) -> None:
        from flows.services import flows_deploy_folder

        folder = settings.TRELLIS_EXAMPLES_DIR
        if folder.exists():
            result = flows_deploy_folder(paths=[folder])
            self.stdout.write(f"examples: {len(getattr(result, 'results', []) or [])} flows")

    def ensure_admin(self) -> tuple[str, str] | None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            return None
        name = os.environ.get("TRELLIS_ADMIN_USER", "admin")
        password = os.environ.get("TRELLIS_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=name, email="", password=password)
        return name, password

    def start_children(self, options: dict) -> dict[str, subprocess.Popen]:
        logs = settings.TRELLIS_HOME / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        commands = {
            "executor": processes.executor_cmd(2),
            "worker": processes.worker_cmd(options["queues"], options["concurrency"]),
            "scheduler": processes.scheduler_cmd(local=True),
            "web": processes.web_cmd(options["host"], options["port"]),
        }
        children = {}
        for name, argv in commands.items():
            log = (logs / f"{name}.log").open("ab")
            children[name] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=settings.BASE_DIR,
            )  # fmt: skip
        self.stdout.write(f"  logs in {logs}")
        return children

    def supervise(self, children: dict[str, subprocess.Popen]) -> None:
        stopping = False
        crashed: list[str] = []

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with {child.returncode}; stopping")
                        crashed.append(name)
                        stopping = True
                time.sleep(0.5)
        finally:
            self.stop_children(children)
        if crashed:
            raise CommandError(
                f"{', '.join(crashed)} stopped unexpectedly; see its log", returncode=1
            )

    def stop_children(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.terminate()  # the leader only: Celery then stops its pool children itself
        deadline = time.monotonic() + 20
        for child in children.values():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.stdout.write("Trellis stopped.")
