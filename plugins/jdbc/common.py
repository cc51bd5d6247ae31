"""Properties, deploy-time checks and connection set-up shared by every type of the SQL
family (Kestra's ``jdbc.*`` plugins)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kernel.plugin import Prop, TaskFailed, TaskLogger
from plugins.jdbc.runner import (
    DEFAULT_FETCH_SIZE,
    FETCH_TYPES,
    fetch_type,
    missing_libraries,
    missing_message,
)
from plugins.jdbc.urls import DRIVER_MODULES, Target, UrlError, parse_url
from plugins.jdbc.values import zone

_DEPRECATED = "use fetchType instead"

CONNECTION_PROPS: tuple[Prop, ...] = (
    Prop(
        "url",
        "string",
        required=True,
        description="JDBC URL (jdbc:postgresql://host:5432/db, jdbc:mysql://, jdbc:mariadb://, "
        "jdbc:sqlite:/path, jdbc:duckdb: or jdbc:duckdb:/path) or a SQLAlchemy URL.",
    ),
    Prop("username", "string", description="Database user (overrides the URL's)."),
    Prop("password", "string", description="Database password; never logged."),
)
FETCH_PROPS: tuple[Prop, ...] = (
    Prop(
        "fetchType",
        "string",
        default="NONE",
        dynamic=False,
        choices=FETCH_TYPES,
        description="FETCH_ONE: output `row`; FETCH: output `rows`; STORE: rows to an Ion "
        "file in internal storage (`uri`); NONE: nothing.",
    ),
    Prop("fetch", "boolean", dynamic=False, deprecated=_DEPRECATED),
    Prop("fetchOne", "boolean", dynamic=False, deprecated=_DEPRECATED),
    Prop("store", "boolean", dynamic=False, deprecated=_DEPRECATED),
    Prop(
        "fetchSize",
        "integer",
        default=DEFAULT_FETCH_SIZE,
        description="Rows fetched per round trip while streaming (STORE).",
    ),
)
QUERY_PROPS: tuple[Prop, ...] = (
    Prop("sql", "string", required=True, description="The SQL to run."),
    Prop(
        "parameters",
        "map",
        description="Named parameters bound by the driver to `:name` placeholders.",
    ),
    Prop(
        "timeZoneId",
        "string",
        description="Time zone in which timestamps with an offset are shown.",
    ),
    Prop(
        "afterSQL",
        "string",
        description="SQL run after `sql`, in the same transaction (mark rows as processed).",
    ),
)
# Kestra's per-database options that Trellis accepts so its flows deploy; they change nothing.
ACCEPTED_PROPS: tuple[Prop, ...] = (
    Prop("autoCommit", "boolean", dynamic=False, description="Accepted; each task commits."),
    Prop("ssl", "boolean", description="Accepted; set sslmode in the URL instead."),
    Prop("sslMode", "string", description="PostgreSQL sslmode (DISABLE, REQUIRE...)."),
    Prop("sslRootCert", "string", description="PostgreSQL: CA certificate (PEM text)."),
    Prop("sslCert", "string", description="PostgreSQL: client certificate (PEM text)."),
    Prop("sslKey", "string", description="PostgreSQL: client key (PEM text)."),
    Prop("sslKeyPassword", "string", description="PostgreSQL: the client key's password."),
)
#: Kestra's PostgreSQL SSL properties holding PEM text -> the libpq parameter of the file.
_PEM_PROPS = {"sslRootCert": "sslrootcert", "sslCert": "sslcert", "sslKey": "sslkey"}


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def validate_connection(
    props: Mapping[str, Any], *, postgres_only: bool = False
) -> list[tuple[str, str]]:
    """Deploy-time checks: a readable URL naming a supported database, and the libraries it
    needs installed (the message names the extra to install)."""
    errors: list[tuple[str, str]] = []
    url = props.get("url")
    database = None
    if isinstance(url, str) and not _templated(url):
        try:
            database = parse_url(url).database
        except UrlError as exc:
            errors.append(("url", str(exc)))
        else:
            if postgres_only and database != "postgresql":
                errors.append(("url", f"this task works with PostgreSQL only, not {database}"))
    missing = missing_libraries(database)
    if missing:
        errors.append(("url" if "url" in props else "type", missing_message(missing)))
    elif database is not None and database not in DRIVER_MODULES:
        error = _unknown_dialect(str(url))
        if error:
            errors.append(("url", error))
    tz = props.get("timeZoneId")
    if isinstance(tz, str) and not _templated(tz):
        try:
            zone(tz)
        except ValueError as exc:
            errors.append(("timeZoneId", str(exc)))
    return errors


def _unknown_dialect(url: str) -> str | None:
    """A SQLAlchemy URL of a dialect Trellis does not ship must name one SQLAlchemy knows
    (its driver is imported only when the task runs)."""
    # Imported here: SQLAlchemy is an optional dependency (checked just before).
    from sqlalchemy.dialects import registry
    from sqlalchemy.exc import NoSuchModuleError

    drivername = parse_url(url).drivername
    try:
        registry.load(drivername.replace("+", "."))
    except (NoSuchModuleError, ImportError):
        return f"SQLAlchemy has no dialect {drivername!r} on this machine"
    return None


def validate_fetch(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    chosen = [k for k in ("fetch", "fetchOne", "store") if props.get(k) is True]
    if len(chosen) > 1:
        return [(chosen[1], f"set only one of fetch, fetchOne, store (got {', '.join(chosen)})")]
    size = props.get("fetchSize")
    if isinstance(size, int) and not isinstance(size, bool) and size < 1:
        return [("fetchSize", "fetchSize must be at least 1")]
    return []


def target_of(props: Mapping[str, Any], working_dir: Path, logger: TaskLogger) -> Target:
    """Parse the rendered connection properties; a bad URL fails the task."""
    try:
        target = parse_url(
            str(props.get("url") or ""),
            username=props.get("username") or None,
            password=props.get("password") or None,
            base_dir=working_dir,
        )
    except UrlError as exc:
        raise TaskFailed(str(exc)) from None
    if target.database == "postgresql":
        mode = props.get("sslMode")
        if mode and "sslmode" not in target.query:
            target.query["sslmode"] = str(mode).lower().replace("_", "-")
        for prop, param in _PEM_PROPS.items():
            if props.get(prop):  # libpq reads files: the PEM text goes to the working dir
                pem = working_dir / f"{param}.pem"
                pem.write_text(str(props[prop]), encoding="utf-8")
                pem.chmod(0o600)
                target.query[param] = str(pem)
        if props.get("sslKeyPassword"):
            target.query["sslpassword"] = str(props["sslKeyPassword"])
    if target.ignored:
        logger.warning(
            f"URL parameters ignored (JDBC driver settings): {', '.join(target.ignored)}"
        )
    check_file_allowed(target, working_dir)
    logger.debug(f"Connecting to {target.display()}")
    return target


#: ``os.pathsep``-separated folders where SQLite/DuckDB database files may be; unset or empty
#: means anywhere but Trellis's own home. The task's working directory is always allowed.
ALLOWED_ENV = "TRELLIS_JDBC_ALLOWED_PATHS"


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_file_allowed(target: Target, working_dir: Path) -> None:
    """Refuse a SQLite/DuckDB file outside ``TRELLIS_JDBC_ALLOWED_PATHS`` or inside
    ``TRELLIS_HOME`` (Trellis's own database and storage), as the local file trigger does
    with ``TRELLIS_FS_ALLOWED_PATHS``."""
    if not target.is_file or not target.name:
        return
    path = Path(target.name).resolve()
    if _inside(path, working_dir.resolve()):
        return
    home = os.environ.get("TRELLIS_HOME", "").strip()
    if home and _inside(path, Path(home).resolve()):
        raise TaskFailed(f"{target.database} file {target.name!r} is inside Trellis's home")
    roots = [r for r in os.environ.get(ALLOWED_ENV, "").split(os.pathsep) if r.strip()]
    if roots and not any(_inside(path, Path(r).resolve()) for r in roots):
        raise TaskFailed(f"{target.database} file {target.name!r} is outside {ALLOWED_ENV}")


def parameters_of(props: Mapping[str, Any]) -> dict[str, Any]:
    params = props.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise TaskFailed("`parameters` must be a map of name -> value")
    return {str(k): v for k, v in params.items()}


def mode_and_options(props: Mapping[str, Any]) -> tuple[str, int, Any]:
    """(fetch type, fetch size, tzinfo) from rendered properties; bad values fail the task."""
    try:
        mode = fetch_type(props)
        tz = zone(props.get("timeZoneId"))
        size = int(props.get("fetchSize") or DEFAULT_FETCH_SIZE)
    except (TypeError, ValueError) as exc:
        raise TaskFailed(str(exc)) from None
    return mode, max(1, size), tz
