"""The two backends the benchmark runs on, prepared fresh and removed afterwards.

Each run gets its own ``TRELLIS_HOME`` (a temporary folder) and an empty database: SQLite and
the filesystem broker under that folder for ``embedded``; a ``trellis_bench`` database and
Redis database 14 for ``postgres``, dropped and flushed before and after, so one run's rows or
messages never slow the next one. Nothing here imports Django: settings are read from the
environment when a process starts, so each backend runs in its own child process.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from plugins.scripts.sandbox import UNSAFE_ENV, probe

ROOT = Path(__file__).resolve().parent.parent
#: Server and broker of the ``postgres`` backend; override to point elsewhere.
PG_SERVER = os.environ.get("TRELLIS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TRELLIS_BENCH_REDIS", "redis://127.0.0.1:6379/14")
#: Database the ``postgres`` backend drops and creates (one per person on a shared machine).
PG_DATABASE = os.environ.get("TRELLIS_BENCH_DB", "trellis_bench")
BACKENDS = ("embedded", "postgres")


class Unavailable(RuntimeError):
    """The backend's services cannot be reached: the backend is skipped, not failed."""


@dataclass
class Backend:
    """One prepared backend: its environment for child processes and its home folder."""

    name: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str | None:
        return self.env.get("DATABASE_URL")


def _pg_admin():  # noqa: ANN202 - a psycopg2 connection
    import psycopg2

    try:
        conn = psycopg2.connect(f"{PG_SERVER}/postgres", connect_timeout=5)
    except psycopg2.OperationalError as exc:
        raise Unavailable(f"PostgreSQL at {PG_SERVER}: {str(exc).strip()}") from exc
    conn.autocommit = True
    return conn


def _redis():  # noqa: ANN202 - a redis client
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise Unavailable(f"Redis at {REDIS_URL}: {exc}") from exc
    return client


def _reset_postgres() -> None:
    conn = _pg_admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {PG_DATABASE}")
    finally:
        conn.close()
    _redis().flushdb()


def _drop_postgres() -> None:
    conn = _pg_admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    finally:
        conn.close()
    _redis().flushdb()


def base_env(home: Path) -> dict[str, str]:
    """This process's environment without anything that would pick another database or
    broker, plus production-like switches (DEBUG off: no query log kept in memory)."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "TRELLIS_TEST_DB",
                        "TRELLIS_STORAGE_DIR"}}  # fmt: skip
    env.update({
        "TRELLIS_HOME": str(home),
        "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
        "DEBUG": "false",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    })  # fmt: skip
    # DEBUG off is production, which refuses to start without these (issue 18): a throwaway
    # set per run; the bench's flows have no SECRET inputs that would need to outlive it.
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    env.setdefault("TRELLIS_ENCRYPTION_KEY", secrets.token_hex(16))
    # Scripts run sandboxed; where bubblewrap is missing the bench runs them as local mode does.
    if probe()[0] is None:
        env.setdefault(UNSAFE_ENV, "1")
    return env


def prepare(name: str) -> Backend:
    """A fresh, migrated backend. Raises Unavailable when its services are not running."""
    home = Path(tempfile.mkdtemp(prefix=f"trellis-bench-{name}-"))
    backend = Backend(name, home, base_env(home))
    try:
        if name == "postgres":
            _reset_postgres()
            backend.env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
            backend.env["CELERY_BROKER_URL"] = REDIS_URL
        migrate(backend)
    except BaseException:
        release(backend, keep=False)
        raise
    return backend


def migrate(backend: Backend) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=backend.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed on {backend.name}:\n{done.stdout}{done.stderr}")


def release(backend: Backend, *, keep: bool) -> None:
    """Drop the database and flush the broker; remove the home folder unless ``keep``."""
    if backend.name == "postgres":
        try:
            _drop_postgres()
        except Unavailable as exc:
            print(f"could not clean up {backend.name}: {exc}", file=sys.stderr)
    if keep:
        print(f"kept {backend.home} (worker logs under logs/)")
    else:
        shutil.rmtree(backend.home, ignore_errors=True)
