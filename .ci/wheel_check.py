"""The image's steps without docker: build the wheel, install it into a fresh virtual
environment outside the checkout, and run every role from there against PostgreSQL + Redis.

Run by `.ci/wheel-check` (called from `.ci/run`). It stands in for `docker build` + `docker
compose up`: docker/Dockerfile does the same steps (install the wheel, collectstatic) and
compose starts the same commands. Everything runs with the working directory in a temporary
folder, so nothing can be imported from the source tree: a module, template, static file or
migration missing from the wheel fails here.

Standard library only: it runs under the machine's python3 before anything is installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get(
    "WHEEL_CHECK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trellis_wheelcheck"
)
BROKER_URL = os.environ.get("WHEEL_CHECK_BROKER_URL", "redis://127.0.0.1:6379/14")
PORT = int(os.environ.get("WHEEL_CHECK_PORT", "18765"))
BASE = f"http://127.0.0.1:{PORT}"
FLOW = """id: wheel_check
namespace: ci.wheel
tasks:
  - id: hello
    type: trellis.core.log.Log
    message: "built from the wheel"
"""


STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"wheel-check [{time.monotonic() - STARTED:5.0f} s]: {text}", flush=True)


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, text=True, capture_output=True, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"wheel-check: {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def copy_sources(target: Path) -> None:
    """The checkout's files as git sees them (tracked and new, not ignored): a clean build
    tree, so a stale build/ folder or a local .env cannot leak into the wheel."""
    listed = run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=ROOT).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def build_and_install(work: Path) -> Path:
    src, dist, venv = work / "src", work / "dist", work / "venv"
    copy_sources(src)
    pip = [sys.executable, "-m", "pip"]
    if (ROOT / ".venv/bin/python").exists():  # the checkout's pip, with its wheel cache
        pip = [str(ROOT / ".venv/bin/python"), "-m", "pip"]
    run([*pip, "wheel", "-q", "--no-deps", "-w", str(dist), str(src)], cwd=work)
    wheel = next(dist.glob("trellis-*.whl"))
    say(f"built {wheel.name}")
    run([sys.executable, "-m", "venv", str(venv)], cwd=work)
    install = [
        str(venv / "bin/pip"),
        "install",
        "-q",
        "--no-compile",
        "--disable-pip-version-check",
    ]
    run([*install, "-c", str(ROOT / "constraints.txt"), str(wheel)], cwd=work)
    say("installed into a fresh virtual environment")
    return venv


def database(action: str) -> str:
    """CREATE or DROP the check's database, through the maintenance database."""
    base, _, name = DATABASE_URL.rpartition("/")
    code = (
        "import psycopg2, sys\n"
        f"c = psycopg2.connect({base + '/postgres'!r}); c.autocommit = True\n"
        f"c.cursor().execute({f'DROP DATABASE IF EXISTS {name} WITH (FORCE)'!r})\n"
        + (f"c.cursor().execute({f'CREATE DATABASE {name}'!r})\n" if action == "create" else "")
    )
    return code


def http(method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(BASE + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Roles:
    def __init__(self, trellis: Path, env: dict[str, str], cwd: Path) -> None:
        self.trellis, self.env, self.cwd = trellis, env, cwd
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> None:
        log = (self.cwd / f"{name}.log").open("wb")
        self.children[name] = subprocess.Popen(
            [str(self.trellis), *args], cwd=self.cwd, env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def check_alive(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise SystemExit(f"wheel-check: {name} exited:\n{self.tail(name)}")

    def tail(self, name: str) -> str:
        return (self.cwd / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def wait_for(what: str, probe, roles: Roles, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        roles.check_alive()
        try:
            result = probe()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    logs = "\n".join(f"--- {n}\n{roles.tail(n)}" for n in roles.children)
    raise SystemExit(f"wheel-check: {what} not reached in {seconds:.0f} s\n{logs}")


def exercise(roles: Roles, token: str) -> None:
    ready = wait_for("/health/ready 200", lambda: http("GET", "/health/ready")[0] == 200, roles)
    status, _, body = http("GET", "/health/ready")
    say(f"web ready: {body.decode()}")
    assert ready
    auth = {"Authorization": f"Bearer {token}"}
    status, _, body = http("POST", "/api/v1/flows", FLOW.encode(),
                           {**auth, "Content-Type": "application/x-yaml"})  # fmt: skip
    if status not in (200, 201):
        raise SystemExit(f"wheel-check: creating the flow answered {status}: {body[:500]!r}")
    status, _, body = http("POST", "/api/v1/executions/ci.wheel/wheel_check", b"", auth)
    if status not in (200, 201):
        raise SystemExit(f"wheel-check: starting the execution answered {status}: {body[:500]!r}")
    execution = json.loads(body)["id"]

    def finished() -> str | None:
        state = json.loads(http("GET", f"/api/v1/executions/{execution}", None, auth)[2])
        current = state["state"]["current"]
        return current if current in {"SUCCESS", "FAILED", "KILLED", "WARNING"} else None

    final = wait_for(f"execution {execution} finished", finished, roles)
    if final != "SUCCESS":
        raise SystemExit(f"wheel-check: execution ended {final}")
    say(f"execution {execution} ran to SUCCESS through executor and worker")

    status, _, page = http("GET", "/admin/login/")
    css = re.findall(rb'href="(/static/[^"]+\.css)"', page)
    if status != 200 or not css:
        raise SystemExit(f"wheel-check: /admin/login/ answered {status} without a stylesheet")
    for href in css:
        status, headers, _ = http("GET", href.decode())
        kind = headers.get("Content-Type", "")
        if status != 200 or not kind.startswith("text/css"):
            raise SystemExit(f"wheel-check: {href.decode()} answered {status} {kind}")
    say(f"admin login page and its {len(css)} stylesheets served (text/css)")
    status, _, page = http("GET", "/api/v1/docs/")
    scripts = re.findall(rb'src="(/static/[^"]+\.js)"', page)
    if status != 200 or not scripts:
        raise SystemExit(f"wheel-check: /api/v1/docs/ answered {status} without its scripts")
    for src in scripts:
        if http("GET", src.decode())[0] != 200:
            raise SystemExit(f"wheel-check: {src.decode()} is not served")
    say(f"Swagger UI and its {len(scripts)} scripts served")


def main() -> None:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="trellis-wheel-check-"))
    roles = None
    venv = None
    try:
        venv = build_and_install(work)
        python, trellis = venv / "bin/python", venv / "bin/trellis"
        run([str(python), "-c", database("create")], cwd=work)
        run_dir = work / "run"
        run_dir.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TRELLIS_", "DJANGO"))},
            "DATABASE_URL": DATABASE_URL,
            "CELERY_BROKER_URL": BROKER_URL,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "TRELLIS_ENCRYPTION_KEY": secrets.token_hex(16),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TRELLIS_HOME": str(work / "home"),
            "TRELLIS_STATIC_ROOT": str(work / "static"),
            # Plain HTTP on the loopback address: no HTTPS redirect (behind a TLS proxy in
            # production, see README "Deploying").
            "TRELLIS_SSL_REDIRECT": "false",
            "TRELLIS_ENV_FILE": "",
            "WEB_CONCURRENCY": "1",
            "DJANGO_SUPERUSER_USERNAME": "admin",
            "DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe(16),
            "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
        }
        run([str(python), "-c", f"import redis; redis.Redis.from_url({BROKER_URL!r}).flushdb()"])
        # The image's build step, then compose's one-shot jobs.
        run([str(trellis), "collectstatic", "--noinput", "-v0"], cwd=run_dir, env=env)
        run([str(trellis), "migrate", "--noinput", "-v0"], cwd=run_dir, env=env)
        run([str(trellis), "createsuperuser", "--noinput"], cwd=run_dir, env=env)
        token = run([str(trellis), "token", "create", "admin"], cwd=run_dir, env=env).stdout
        say("collectstatic, migrate, createsuperuser done")
        roles = Roles(trellis, env, run_dir)
        roles.start("web", "server", "web", "--host", "127.0.0.1", "--port", str(PORT))
        roles.start("executor", "server", "executor", "--concurrency", "1")
        roles.start("worker", "server", "worker", "--queues", "default", "--concurrency", "1")
        roles.start("beat", "server", "scheduler")
        exercise(roles, token.strip())
        # The containers' health checks: the web role's (by URL) and the other roles'.
        for args in (["health", "--url", f"{BASE}/health/ready"], ["health"]):
            health = subprocess.run([str(trellis), *args], cwd=run_dir, env=env,
                                    capture_output=True, text=True)  # fmt: skip
            if health.returncode != 0:
                raise SystemExit(f"wheel-check: trellis {' '.join(args)} failed:\n"
                                 f"{health.stdout}{health.stderr}")  # fmt: skip
        roles.check_alive()
        say("trellis health passes (web by URL, and from inside); every role still running")
    finally:
        if roles:
            roles.stop()
        if venv and (venv / "bin/python").exists():
            subprocess.run([str(venv / "bin/python"), "-c", database("drop")], cwd=work)
            subprocess.run([str(venv / "bin/python"), "-c",
                            f"import redis; redis.Redis.from_url({BROKER_URL!r}).flushdb()"])  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)
    say(f"passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
