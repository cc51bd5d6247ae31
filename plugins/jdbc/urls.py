"""Connection URLs: Kestra's JDBC form (``jdbc:postgresql://host:5432/db``) and SQLAlchemy's
(``postgresql://user@host/db``) both become one :class:`Target`, from which the SQLAlchemy
URL is built. Parsing needs no database library, so a flow's URL is checked at deploy.

Supported databases and the driver each uses (issue 17): PostgreSQL (psycopg2), MySQL and
MariaDB (PyMySQL), SQLite (the standard library) and DuckDB (duckdb-engine).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: URL scheme -> (database, default SQLAlchemy driver name).
SCHEMES: dict[str, tuple[str, str]] = {
    "postgresql": ("postgresql", "postgresql+psycopg2"),
    "postgres": ("postgresql", "postgresql+psycopg2"),
    "mysql": ("mysql", "mysql+pymysql"),
    "mariadb": ("mariadb", "mariadb+pymysql"),
    "sqlite": ("sqlite", "sqlite"),
    "duckdb": ("duckdb", "duckdb"),
}
#: Python modules each database needs besides SQLAlchemy (checked at deploy).
DRIVER_MODULES: dict[str, tuple[str, ...]] = {
    "postgresql": ("psycopg2",),
    "mysql": ("pymysql",),
    "mariadb": ("pymysql",),
    "sqlite": ("sqlite3",),
    "duckdb": ("duckdb", "duckdb_engine"),
}
#: JDBC URL query parameters with a libpq/psycopg2 equivalent; the others are JDBC driver
#: settings with no meaning here and are dropped (named in the task's log).
_PG_PARAMS = {
    "sslmode": "sslmode",
    "sslrootcert": "sslrootcert",
    "sslcert": "sslcert",
    "sslkey": "sslkey",
    "connectTimeout": "connect_timeout",
    "connect_timeout": "connect_timeout",
    "ApplicationName": "application_name",
    "application_name": "application_name",
}
_MYSQL_PARAMS = {"charset": "charset", "characterEncoding": "charset"}
_MEMORY = ("", ":memory:", "memory:")
_DIALECT = re.compile(r"[a-z][a-z0-9_]*(\+[a-z0-9_]+)?\Z", re.I)


class UrlError(ValueError):
    """The URL is not one Trellis can connect with; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where to connect: everything needed to build a SQLAlchemy URL."""

    database: str
    drivername: str
    host: str | None = None
    port: int | None = None
    #: Database name (server databases) or file path (SQLite, DuckDB); None is in-memory.
    name: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    query: dict[str, str] = field(default_factory=dict)
    #: JDBC parameters that were dropped because they mean nothing to the Python driver.
    ignored: tuple[str, ...] = ()

    @property
    def is_file(self) -> bool:
        return self.database in ("sqlite", "duckdb")

    def display(self) -> str:
        """The URL without its password, for logs."""
        auth = f"{self.username}@" if self.username else ""
        if self.is_file:
            return f"{self.database}:{self.name or ':memory:'}"
        port = f":{self.port}" if self.port else ""
        return f"{self.database}://{auth}{self.host or ''}{port}/{self.name or ''}"

    def sqlalchemy_url(self) -> Any:
        """A ``sqlalchemy.engine.URL`` (escapes the password itself; never a formatted string)."""
        # Imported here: SQLAlchemy is an optional dependency (the `jdbc` extra).
        from sqlalchemy.engine import URL

        return URL.create(
            self.drivername,
            username=self.username or None,
            password=self.password or None,
            host=self.host or None,
            port=self.port,
            database=self.name,
            query=self.query,
        )


def database_of(url: str) -> str:
    """The database a URL names (``postgresql``, ``mysql``...); raises :class:`UrlError`."""
    return parse_url(url).database


def parse_url(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    base_dir: Path | None = None,
) -> Target:
    """Parse a JDBC or SQLAlchemy URL; ``username``/``password`` override the URL's, and a
    relative SQLite/DuckDB file is taken from ``base_dir`` (the task's working directory)."""
    if not isinstance(url, str) or not url.strip():
        raise UrlError("`url` must be a JDBC URL such as jdbc:postgresql://host:5432/db")
    text = url.strip()
    jdbc = text.lower().startswith("jdbc:")
    if jdbc:
        text = text[5:]
    scheme, sep, rest = text.partition(":")
    base, _, driver = scheme.lower().partition("+")
    if (
        sep
        and base not in SCHEMES
        and not jdbc
        and rest.startswith("//")
        and _DIALECT.match(scheme)
    ):
        return _other_dialect(scheme, rest, username=username, password=password)
    if not sep or base not in SCHEMES:
        known = ", ".join(
            f"jdbc:{s}:" for s in ("postgresql", "mysql", "mariadb", "sqlite", "duckdb")
        )
        raise UrlError(
            f"unsupported database URL {_redact(url)!r}: use one of {known}, or a SQLAlchemy "
            "URL (dialect+driver://...) of a dialect installed on the workers"
        )
    database, drivername = SCHEMES[base]
    if driver and not jdbc:
        drivername = f"{database}+{driver}"
    if database in ("sqlite", "duckdb"):
        return _file_target(database, drivername, rest, jdbc=jdbc, base_dir=base_dir)
    if not rest.startswith("//"):
        raise UrlError(f"{_redact(url)!r} has no host: expected {base}://host:port/database")
    parts = urllib.parse.urlsplit(f"{base}:{rest}")
    try:
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"bad port in {_redact(url)!r}") from exc
    params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    user = params.pop("user", None) or (urllib.parse.unquote(parts.username or "") or None)
    secret = params.pop("password", None) or (urllib.parse.unquote(parts.password or "") or None)
    known = _PG_PARAMS if database == "postgresql" else _MYSQL_PARAMS
    query, ignored = {}, []
    for key, value in params.items():
        if jdbc:
            if key in known:
                query[known[key]] = value
            elif database == "postgresql" and key == "currentSchema":
                query["options"] = f"-csearch_path={value}"
            else:
                ignored.append(key)
        else:
            query[key] = value
    name = urllib.parse.unquote(parts.path.lstrip("/")) or None
    return Target(
        database=database,
        drivername=drivername,
        host=parts.hostname,
        port=port,
        name=name,
        username=username or user,
        password=password or secret,
        query=query,
        ignored=tuple(ignored),
    )


def _other_dialect(scheme: str, rest: str, *, username: str | None, password: str | None) -> Target:
    """A SQLAlchemy URL of a dialect Trellis does not ship (``mssql+pyodbc://``, ...): passed
    on as it is; its driver must be installed on the workers (issue 17)."""
    parts = urllib.parse.urlsplit(f"{scheme}:{rest}")
    try:
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"bad port in {scheme}:// URL") from exc
    return Target(
        database=scheme.split("+", 1)[0].lower(),
        drivername=scheme.lower(),
        host=parts.hostname,
        port=port,
        name=urllib.parse.unquote(parts.path.lstrip("/")) or None,
        username=username or (urllib.parse.unquote(parts.username or "") or None),
        password=password or (urllib.parse.unquote(parts.password or "") or None),
        query=dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
    )


def _file_target(
    database: str, drivername: str, rest: str, *, jdbc: bool, base_dir: Path | None
) -> Target:
    """``jdbc:sqlite:/abs``, ``jdbc:sqlite:rel.db``, ``jdbc:duckdb:`` (memory) and the
    SQLAlchemy spellings ``sqlite:///rel.db``, ``sqlite:////abs``, ``sqlite://`` (memory)."""
    path, _, query = rest.partition("?")
    if not jdbc:
        if not path.startswith("//"):
            raise UrlError(f"expected {database}:///path or {database}:// (in memory)")
        path = path[3:] if path.startswith("///") else path[2:]
    elif path.startswith("//") and not path.startswith("///"):
        path = path[1:]  # jdbc:duckdb://tmp/x reads as /tmp/x
    path = urllib.parse.unquote(path)
    options = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    if path in _MEMORY:
        return Target(database=database, drivername=drivername, name=None)
    if path.startswith("md:") or path.startswith("motherduck:"):
        raise UrlError("MotherDuck URLs are not supported: use a local DuckDB file")
    file = Path(path).expanduser()
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    ignored = tuple(options) if jdbc else ()
    query_out = {} if jdbc else options
    return Target(
        database=database, drivername=drivername, name=str(file), query=query_out, ignored=ignored
    )


def _redact(url: str) -> str:
    """The URL with any password (userinfo or ``password=`` parameter) replaced by ``***``."""
    out = url
    try:
        parts = urllib.parse.urlsplit(url[5:] if url.lower().startswith("jdbc:") else url)
        if parts.password:
            out = out.replace(f":{parts.password}@", ":***@")
    except ValueError:
        pass
    head, sep, query = out.partition("?")
    if sep:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{k}={'***' if k.lower() == 'password' else v}" for k, v in pairs)
    return head + sep + query
