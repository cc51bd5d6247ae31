"""Running SQL with SQLAlchemy Core: connections, statement splitting, safe parameter
binding and the four fetch types (FETCH_ONE, FETCH, STORE, NONE) shared by the tasks and
the trigger of the SQL family.

Parameters are always bound by the driver (``:name`` placeholders, Kestra's spelling), never
formatted into the SQL. A ``:word`` that names no parameter (inside a string literal, a JSON
value, a time) is left as it is. STORE streams rows through a server-side cursor
(``stream_results`` + ``yield_per``) into an Ion file, so a result of any size is written in
constant memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import importlib.util
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.plugin import TaskFailed
from plugins.jdbc.urls import DRIVER_MODULES, Target

FETCH_TYPES = ("FETCH_ONE", "FETCH", "STORE", "NONE")
EXTRA_HINT = "pip install 'trellis[jdbc]'"
DEFAULT_FETCH_SIZE = 10_000
#: Seconds to wait for a PostgreSQL server that does not answer (PyMySQL's default is 10 too).
CONNECT_TIMEOUT = 10
#: How often (seconds) a running statement checks whether the run was killed.
_WATCH_SECONDS = 0.5
#: How often (rows) a long STORE checks whether the run was killed.
_STOP_CHECK = 1_000
# Where SQLAlchemy's text() sees a bind parameter: ``:name`` not preceded by ``:``, a word
# character or a backslash, and not followed by ``:`` (so ``x::int`` stays a cast).
_DML = re.compile(r"\s*(insert|update|delete|merge|copy)\b(?![\s\S]*\breturning\b)", re.I)
_QUERY = re.compile(r"[\s(]*(select|with|values|table)\b", re.I)
# Quoted text and comments, where a ``:word`` is never a parameter.
_QUOTED = (
    r"\"(?:[^\"]|\"\")*\"|`[^`]*`|--[^\n]*|/\*[\s\S]*?\*/"
    r"|(?<![\w$])\$(?P<tag>[A-Za-z_]\w*|)\$[\s\S]*?\$(?P=tag)\$"
)
_SKIP = re.compile(r"'(?:[^']|'')*'|" + _QUOTED)
_SKIP_MYSQL = re.compile(r"'(?:[^'\\]|''|\\[\s\S])*'|" + _QUOTED)
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


class MissingLibrary(RuntimeError):
    """A library the SQL family needs is not installed."""


def missing_libraries(database: str | None) -> list[str]:
    """Modules the family (and ``database``'s driver, when known) needs that are not
    installed. Looked up without importing them: a deploy on the API server should not load
    DuckDB or a driver just to check a flow."""
    wanted = ["sqlalchemy", "amazon.ion", *DRIVER_MODULES.get(database or "", ())]
    return [name for name in wanted if not _installed(name)]


def _installed(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None  # None: an import that is known to fail
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_message(missing: list[str]) -> str:
    return (
        f"the SQL (jdbc) plugins need {', '.join(missing)}, which "
        f"{'is' if len(missing) == 1 else 'are'} not installed: {EXTRA_HINT}"
    )


def fetch_type(props: Mapping[str, Any]) -> str:
    """Kestra's rule: the deprecated booleans win, in the order fetchOne, store, fetch;
    otherwise ``fetchType`` (default NONE)."""
    if props.get("fetchOne") is True:
        return "FETCH_ONE"
    if props.get("store") is True:
        return "STORE"
    if props.get("fetch") is True:
        return "FETCH"
    value = str(props.get("fetchType") or "NONE").upper()
    if value not in FETCH_TYPES:
        raise ValueError(f"fetchType must be one of {', '.join(FETCH_TYPES)}, got {value!r}")
    return value


def split_statements(sql: str, *, backslash_escapes: bool = False) -> list[str]:
    """Split a script on top-level ``;``, skipping those inside quotes ('', "", ``),
    comments (``--``, ``/* */``) and PostgreSQL dollar quotes. Each statement starts at its
    first word (comments before it are dropped); empty statements are dropped."""
    out: list[str] = []
    begin: int | None = None
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c == ";":
            if begin is not None:
                out.append(sql[begin:i].strip())
            begin = None
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        if begin is None:
            begin = i
        if c in "'\"`":
            i = _end_of_quote(sql, i, backslash_escapes and c == "'")
            continue
        if c == "$":
            tag = re.match(r"\$(?:[A-Za-z_]\w*)?\$", sql[i:])
            if tag and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                end = sql.find(tag.group(0), i + len(tag.group(0)))
                i = n if end < 0 else end + len(tag.group(0))
                continue
        i += 1
    if begin is not None and sql[begin:].strip():
        out.append(sql[begin:].strip())
    return out


def _end_of_quote(sql: str, i: int, backslash: bool) -> int:
    quote, j, n = sql[i], i + 1, len(sql)
    while j < n:
        ch = sql[j]
        if backslash and ch == "\\":
            j += 2
            continue
        if ch == quote:
            if j + 1 < n and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def bindable(
    sql: str, parameters: Mapping[str, Any], *, backslash_escapes: bool = False
) -> tuple[str, dict[str, Any]]:
    """(SQL for ``sqlalchemy.text``, the parameters it uses). Only a ``:name`` outside
    quotes and comments that names a parameter is bound; every other ``:word`` (in a string
    literal, a quoted identifier, a comment, a JSON value, an unknown name) is escaped so
    text() leaves it as written."""
    used: dict[str, Any] = {}

    def keep(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in parameters:
            used[name] = parameters[name]
            return match.group(0)
        return "\\" + match.group(0)

    def escape(match: re.Match[str]) -> str:
        return _BIND.sub(lambda m: "\\" + m.group(0), match.group(0))

    skip = _SKIP_MYSQL if backslash_escapes else _SKIP
    out, last = [], 0
    for quoted in skip.finditer(sql):
        out.append(_BIND.sub(keep, sql[last : quoted.start()]))
        out.append(escape(quoted))
        last = quoted.end()
    out.append(_BIND.sub(keep, sql[last:]))
    return "".join(out), used


def engine_for(target: Target) -> Any:
    """A SQLAlchemy engine without a pool (one task, one connection, closed after)."""
    missing = missing_libraries(target.database)
    if missing:
        raise TaskFailed(missing_message(missing))
    # Imported here: SQLAlchemy is an optional dependency (the `jdbc` extra).
    import sqlalchemy

    if target.is_file and target.name:
        Path(target.name).parent.mkdir(parents=True, exist_ok=True)
    try:
        connect_args = {}
        if target.database == "postgresql" and "connect_timeout" not in target.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT  # libpq waits for ever
        return sqlalchemy.create_engine(
            target.sqlalchemy_url(), poolclass=sqlalchemy.pool.NullPool, connect_args=connect_args
        )
    except (sqlalchemy.exc.NoSuchModuleError, ImportError) as exc:
        raise TaskFailed(
            f"no SQLAlchemy dialect or driver for {target.drivername!r} on this worker ({exc}); "
            "install the package that provides it"
        ) from None


def driver_error(exc: BaseException) -> str:
    """A database error without the statement's parameters (they may hold secrets)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return f"{type(orig if orig is not None else exc).__name__}: {text}"


@dataclass
class Store:
    """Where STORE files go: a folder, and a prefix for their names."""

    folder: Path
    name: str = "result"


def execute(
    conn: Any,
    sql: str,
    parameters: Mapping[str, Any],
    mode: str,
    *,
    store: Store,
    index: int = 0,
    fetch_size: int = DEFAULT_FETCH_SIZE,
    tz: Any = None,
    should_stop: Callable[[], bool] = lambda: False,
    count_rows: bool = False,
) -> dict[str, Any] | None:
    """Run one statement on ``conn``; the outputs of its rows per ``mode``, or None when it
    returns no rows. For STORE, ``uri`` is the local path of the Ion file (the caller puts it
    in internal storage)."""
    import sqlalchemy  # optional dependency (the `jdbc` extra)

    from plugins.jdbc.values import mysql_time, to_ion, to_json

    mysql = conn.dialect.name in ("mysql", "mariadb")
    if mysql:  # their TIME arrives as a timedelta

        def to_json(value: Any, tz: Any = None, _json: Any = to_json) -> Any:
            return mysql_time(value) if isinstance(value, dt.timedelta) else _json(value, tz)

        def to_ion(value: Any, tz: Any = None, _ion: Any = to_ion) -> Any:
            return mysql_time(value) if isinstance(value, dt.timedelta) else _ion(value, tz)

    text, used = bindable(sql, parameters, backslash_escapes=mysql)
    options: dict[str, Any] = {}
    if mode != "FETCH" and _QUERY.match(sql):
        # Stream (a server-side cursor where the database has one, which holds only a query):
        # FETCH_ONE reads one row, STORE and NONE any number, none held in memory.
        batch = 1 if mode == "FETCH_ONE" else max(1, int(fetch_size))
        options = {"stream_results": True, "yield_per": batch}
    result = conn.execute(sqlalchemy.text(text), used, execution_options=options)
    if not result.returns_rows:
        return None
    keys = [str(k) for k in result.keys()]  # noqa: SIM118 - a Result, not a dict
    if keys == ["Count"] and _DML.match(sql):  # DuckDB answers INSERT/UPDATE/DELETE with a count
        result.close()
        return None
    try:
        if mode == "FETCH_ONE":
            first = result.fetchone()
            if first is None:
                return {"size": 0}
            return {"row": {k: to_json(v, tz) for k, v in zip(keys, first, strict=True)}, "size": 1}
        if mode == "FETCH":
            rows = [{k: to_json(v, tz) for k, v in zip(keys, r, strict=True)} for r in result]
            return {"rows": rows, "size": len(rows)}
        if mode == "STORE":
            from plugins.jdbc.ion_rows import IonRowWriter

            suffix = f"-{index + 1}" if index else ""
            path = store.folder / f"{store.name}{suffix}.ion"
            with IonRowWriter(path, keys) as writer:
                for row in result:
                    writer.write({k: to_ion(v, tz) for k, v in zip(keys, row, strict=True)})
                    if writer.count % _STOP_CHECK == 0 and should_stop():
                        raise TaskFailed("stopped while storing the rows")
            return {"uri": path, "size": writer.count}
        if not count_rows:  # NONE, as in Kestra: the rows are not read
            return {}
        count = sum(1 for _ in result)  # streamed: read and dropped
        return {"size": count}
    finally:
        result.close()


def run_script(
    target: Target,
    statements: Iterable[str],
    parameters: Mapping[str, Any],
    mode: str,
    *,
    store: Store,
    transaction: bool = True,
    after_sql: str | None = None,
    fetch_size: int = DEFAULT_FETCH_SIZE,
    tz: Any = None,
    should_stop: Callable[[], bool] = lambda: False,
    setup: Callable[[Any], None] | None = None,
    count_rows: bool = False,
) -> list[dict[str, Any]]:
    """Run statements in one connection, in one transaction unless ``transaction`` is false
    (then each statement commits on its own); ``after_sql`` runs last, in the same
    transaction. Returns the outputs of each statement that returned rows, in order."""
    import sqlalchemy  # optional dependency (the `jdbc` extra)

    engine = engine_for(target)
    outputs: list[dict[str, Any]] = []
    try:
        with engine.connect() as conn, _cancel_when(should_stop, conn):
            if setup is not None:
                setup(conn)
            try:
                for statement in statements:
                    out = execute(
                        conn,
                        statement,
                        parameters,
                        mode,
                        store=store,
                        index=len(outputs),
                        fetch_size=fetch_size,
                        tz=tz,
                        should_stop=should_stop,
                        count_rows=count_rows,
                    )
                    if out is not None:
                        outputs.append(out)
                    if not transaction:
                        conn.commit()
                if after_sql:
                    for statement in split_statements(after_sql):
                        mysql = conn.dialect.name in ("mysql", "mariadb")
                        text, used = bindable(statement, parameters, backslash_escapes=mysql)
                        conn.execute(sqlalchemy.text(text), used).close()
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
    except sqlalchemy.exc.SQLAlchemyError as exc:
        if should_stop():
            raise TaskFailed("stopped: the running statement was cancelled") from None
        raise TaskFailed(driver_error(exc)) from None
    finally:
        engine.dispose()
    return outputs


@contextlib.contextmanager
def _cancel_when(should_stop: Callable[[], bool], conn: Any) -> Iterator[None]:
    """Watch ``should_stop`` beside the running statement and cancel it on the server when
    the run is killed or times out (psycopg2's ``cancel``, sqlite3's and DuckDB's
    ``interrupt``); drivers without a cancel (PyMySQL) finish their statement."""
    raw = getattr(conn.connection, "driver_connection", None)
    cancel = getattr(raw, "cancel", None) or getattr(raw, "interrupt", None)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(_WATCH_SECONDS):
            if should_stop():
                with contextlib.suppress(Exception):  # the statement may have just ended
                    cancel()
                return

    watcher = threading.Thread(target=watch, name="jdbc-cancel", daemon=True) if cancel else None
    if watcher is not None:
        watcher.start()
    try:
        yield
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
