"""What every serdes task shares: the missing-library check, reading ``from`` out of internal
storage, storing the converted file, rendering values as text, and ``onBadLines``."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import importlib.util
import json
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, ClassVar

from kernel import ion
from kernel.plugin import Prop, RunContext, RunnableTask, TaskFailed
from plugins.serdes.dates import JavaDateFormat

EXTRA = "serdes"
BAD_LINES = ("ERROR", "WARN", "SKIP")

FROM = Prop("from", "string", required=True, description="Source file URI (kestra://...).")
CHARSET = Prop("charset", "string", default="UTF-8", description="The file's character set.")
TIME_ZONE = Prop(
    "timeZoneId",
    "string",
    default="Etc/UTC",
    description="Time zone of timestamps that carry none.",
)
ON_BAD_LINES = Prop(
    "onBadLines",
    "string",
    default="ERROR",
    choices=BAD_LINES,
    description="A row that cannot be converted fails the task, is logged and skipped, or "
    "is skipped silently.",
)
#: The table writers' (IonToCsv, IonToExcel) ``header`` and text settings, which
#: :class:`TextFormats` reads.
WRITE_HEADER = Prop("header", "boolean", default=True, description="Write the field names first.")
TEXT_FORMAT_PROPS: tuple[Prop, ...] = (
    CHARSET,
    Prop("dateFormat", "string", default="yyyy-MM-dd"),
    Prop("timeFormat", "string", default="HH:mm:ss[XXX]"),
    Prop("dateTimeFormat", "string", default="yyyy-MM-dd'T'HH:mm:ss.SSS[XXX]"),
    TIME_ZONE,
)


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """The importable names among ``modules`` that are not installed."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            found = None
        if found is None:
            missing.append(name)
    return missing


class SerdesTask(RunnableTask):
    """A conversion task: its libraries are checked when a flow using it is validated."""

    #: Modules this type imports when it runs, and the extra that installs them (for
    #: ``trellis plugins list`` and the API to show, issue 17).
    requires: ClassVar[tuple[str, ...]] = ("amazon.ion",)
    extra: ClassVar[str] = EXTRA

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        missing = missing_modules(cls.requires)
        if missing:
            names = ", ".join(missing)
            return [
                (
                    "type",
                    f"{cls.type} needs {names}, which is not installed: "
                    f"pip install 'trellis[{cls.extra}]'",
                )
            ]
        return cls.validate_props(props)

    @classmethod
    def validate_props(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Checks of the properties themselves, once the libraries are known to be there."""
        return []


def source_path(ctx: RunContext, value: Any, what: str = "from") -> Path:
    """The local file behind a ``kestra://`` URI given in ``what``."""
    text = "" if value is None else str(value).strip()
    if not text.startswith("kestra://"):
        raise TaskFailed(f"{what} must be an internal storage URI (kestra:///...), not {text!r}")
    try:
        path = Path(ctx.open_uri(text))
    except (FileNotFoundError, PermissionError, ValueError) as exc:
        raise TaskFailed(f"{what}: cannot read {text}: {exc}") from exc
    if not path.is_file():
        raise TaskFailed(f"{what}: no file at {text}")
    return path


def target_path(ctx: RunContext, source: Path, extension: str) -> Path:
    """A new file in the working directory named after the source with another extension."""
    stem = source.stem or "data"
    target = ctx.working_dir / f"{stem}{extension}"
    n = 1
    while target.exists():
        target = ctx.working_dir / f"{stem}-{n}{extension}"
        n += 1
    return target


def store(ctx: RunContext, path: Path) -> str:
    """Put a converted file in internal storage for this task run; returns its URI."""
    return ctx.put_file(path, path.name)


def charset(props: Mapping[str, Any]) -> str:
    """The ``charset`` property as a Python codec name (Java's names are Python's too)."""
    name = str(props.get("charset") or "UTF-8").strip()
    try:
        "".encode(name)
    except LookupError as exc:
        raise TaskFailed(f"charset {name!r} is not a known character set") from exc
    return name


def time_zone(props: Mapping[str, Any]) -> dt.tzinfo:
    """The ``timeZoneId`` property: where naive timestamps are taken to be."""
    name = str(props.get("timeZoneId") or "Etc/UTC").strip()
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise TaskFailed(f"timeZoneId {name!r} is not a known time zone") from exc


def read_ion(path: Path) -> Iterator[Any]:
    """The rows of an Ion file, lazily; the file stays open until the iteration ends. A file
    that is not Ion fails the task, naming the row where reading stopped."""
    # optional dependency (extra "serdes"): imported when a file is read
    from amazon.ion.exceptions import IonException

    count = 0
    with path.open("rb") as stream:
        try:
            for row in ion.read_rows(stream, path.stat().st_size):
                count += 1
                yield row
        except IonException as exc:
            raise TaskFailed(f"not valid Ion after {count} rows: {exc}") from exc


@contextlib.contextmanager
def ion_output(path: Path) -> Iterator[ion.IonWriter]:
    with path.open("w", encoding="utf-8", newline="\n") as stream:
        yield ion.IonWriter(stream)


#: Rows converted between two looks at whether the run was asked to stop.
STOP_EVERY = 10_000


def stop_point(ctx: RunContext, count: int) -> None:
    """Every :data:`STOP_EVERY` rows, fail the task if its run was asked to stop, so a long
    conversion does not outlive a kill."""
    if count % STOP_EVERY == 0 and ctx.should_stop():
        raise TaskFailed("stopped while converting")


def write_ion_rows(ctx: RunContext, target: Path, rows: Iterable[Any]) -> int:
    """Write ``rows`` to the Ion file ``target``, one at a time; returns how many."""
    with ion_output(target) as out:
        for row in rows:
            out.write(row)
            stop_point(ctx, out.count)
    return out.count


def row_cells(
    rows: Iterable[Any], on_columns: Callable[[list[str]], None]
) -> Iterator[tuple[Any, list[str] | None, list[Any]]]:
    """Ion rows as cells for a table (IonToCsv, IonToExcel): (row, columns, cells). The first
    struct fixes the columns (``on_columns`` gets them once, e.g. to write a header) and each
    struct gives its values in that order; a list is its own cells, a scalar one cell."""
    columns: list[str] | None = None
    for row in rows:
        if isinstance(row, dict):
            if columns is None:
                columns = list(row)
                on_columns(columns)
            yield row, columns, [row.get(c) for c in columns]
        else:
            yield row, columns, row if isinstance(row, list) else [row]


class BadLines:
    """Applies ``onBadLines``: ERROR fails the task, WARN logs, SKIP stays silent."""

    def __init__(self, ctx: RunContext, mode: Any) -> None:
        self.mode = str(mode or "ERROR").upper()
        if self.mode not in BAD_LINES:
            raise TaskFailed(f"onBadLines must be one of {', '.join(BAD_LINES)}")
        self.ctx = ctx
        self.skipped = 0

    def __call__(self, where: str, message: str) -> None:
        if self.mode == "ERROR":
            raise TaskFailed(f"{where}: {message}")
        self.skipped += 1
        if self.mode == "WARN":
            self.ctx.logger.warning(f"{where}: {message} (skipped)")


class TextFormats:
    """How IonToCsv and IonToExcel render dates, times and timestamps as text."""

    def __init__(self, props: Mapping[str, Any], *, datetime_key: str = "dateTimeFormat") -> None:
        self.zone = time_zone(props)
        try:
            self.date = JavaDateFormat(str(props.get("dateFormat") or "yyyy-MM-dd"))
            self.time = JavaDateFormat(str(props.get("timeFormat") or "HH:mm:ss[XXX]"))
            self.datetime = JavaDateFormat(
                str(props.get(datetime_key) or "yyyy-MM-dd'T'HH:mm:ss.SSS[XXX]")
            )
        except ValueError as exc:
            raise TaskFailed(str(exc)) from exc

    def text(self, value: Any) -> str:
        """A value as one CSV field."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return value
        if isinstance(value, dt.datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=self.zone)
            return self.datetime.format(moment)
        if isinstance(value, dt.date):
            return self.date.format(value)
        if isinstance(value, dt.time):
            return self.time.format(value)
        if isinstance(value, float):
            return repr(value) if value == value and abs(value) != float("inf") else str(value)
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        if isinstance(value, dict | list):
            return json.dumps(json_safe(value, self.zone), ensure_ascii=False)
        return str(value)


def json_safe(value: Any, zone: dt.tzinfo) -> Any:
    """A row as JSON can carry it: timestamps as ISO 8601 text (naive ones in ``zone``),
    decimals as numbers, blobs as base64."""
    if isinstance(value, dict):
        return {str(k): json_safe(v, zone) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, zone) for v in value]
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=zone)
        text = moment.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return (
            int(value) if value == value.to_integral_value() and value.is_finite() else float(value)
        )
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        return None if value != value else str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def text_stream(path: Path, encoding: str) -> IO[str]:
    """A text file opened for reading in ``encoding``; a leading byte-order mark is dropped
    for UTF-8, as Kestra does."""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    return path.open("r", encoding=encoding, newline="")
