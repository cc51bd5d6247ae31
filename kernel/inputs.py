"""Typed execution inputs, as Kestra declares and checks them.

One declaration drives three things: the deploy-time check of a flow's ``inputs``
(:func:`validate_input_specs`), the conversion of what a form, the CLI or the API submitted
into typed, JSON-serialisable values (:func:`coerce_inputs`), and the JSON schema the API and
the admin form show (:func:`input_json_schema`). Keeping them in one module means a value the
schema advertises is a value the run accepts.

Error messages follow Kestra's wording (``Invalid input for `x`, it must be more than `10`,
but received `9```) so that users and Kestra's own test expectations recognise them.
Pure: no Django; file uploads and expression rendering are injected by the caller.

Why one module of some 800 lines: each input type's check, conversion and schema sit side by
side in one table, so a change to a type is read and reviewed in one place; split by concern,
the three views of a type would drift apart.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from kernel import taint
from kernel.depth import TooDeep, check_depth, json_loads
from kernel.durations import DurationError, format_duration, parse_duration
from kernel.expressions.limits import regex_fullmatch
from kernel.expressions.state import ExpressionError
from kernel.secrets import MASK, seal_secret
from kernel.spec.yaml_loader import YamlProblem, load  # no aliases, size-limited

#: Kestra's old names, read as the new ones.
_ALIASES = {"BOOL": "BOOLEAN", "ENUM": "SELECT"}
#: What an ARRAY may hold: a value that reads from one JSON item.
_ITEM_KINDS = frozenset(
    {"STRING", "INT", "FLOAT", "BOOLEAN", "DATETIME", "DATE", "TIME", "DURATION", "JSON",
     "URI", "SECRET", "EMAIL", "YAML", "SELECT"}
)  # fmt: skip
_TEMPORAL = frozenset({"DATETIME", "DATE", "TIME"})
#: Kinds for which an empty form field means "not given" rather than an empty value.
_TEXT_KINDS = frozenset({"STRING", "SECRET"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
#: Schemes whose URIs name a host; ``http:/bla`` is not one (Kestra's test rejects it).
_NETWORK_SCHEMES = frozenset({"http", "https", "ftp", "ftps", "ws", "wss", "sftp", "ssh"})
_SCHEMA_FORMATS = {
    "DATETIME": "date-time",
    "DATE": "date",
    "TIME": "time",
    "DURATION": "duration",
    "EMAIL": "email",
    "URI": "uri",
}


class InputsError(ValueError):
    """Submitted inputs that cannot make an execution; ``errors`` maps input id -> message,
    so the API and the admin form can put each message next to its field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(self.errors)  # args that rebuild it, so it pickles (Celery)

    def __str__(self) -> str:
        return "; ".join(
            f"{key}: Invalid input for `{key}`, {msg}" for key, msg in self.errors.items()
        )


class _Invalid(ValueError):
    """One value that does not fit; the message reads after "Invalid input for `x`, "."""


def kind_of(input_type: str) -> str:
    """The canonical type name: ``BOOL`` is ``BOOLEAN`` and ``ENUM`` is ``SELECT``."""
    upper = str(input_type).upper()
    return _ALIASES.get(upper, upper)


def templated(value: Any) -> bool:
    """True when ``value`` holds a ``{{ }}``/``{% %}`` expression anywhere inside it."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(templated(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(templated(v) for v in value)
    return False


# ----------------------------------------------------------------------------- deploy time


def validate_input_specs(specs: Sequence[Any]) -> list[tuple[str, str]]:
    """Problems in input declarations, as ``("[i].option", message)`` pairs.

    Run when a flow is deployed, so a default that could never be used, or a validator that
    cannot compile, is reported on its line instead of failing the first execution.
    Defaults written as expressions are left alone: they only have a value at run time.
    """
    problems: list[tuple[str, str]] = []
    for index, spec in enumerate(specs):
        for option, message in _spec_problems(spec):
            problems.append((f"[{index}].{option}", message))
    return problems


def _spec_problems(spec: Any) -> Iterable[tuple[str, str]]:
    kind, opts = kind_of(spec.type), spec.options
    if "required" in opts and not isinstance(opts["required"], bool):
        yield "required", f"`required` must be true or false, not {opts['required']!r}"
    validator = opts.get("validator")
    if validator is not None:
        if not isinstance(validator, str):
            yield "validator", "`validator` must be a regular expression"
        else:
            try:
                re.compile(validator)
            except re.error as exc:
                yield "validator", f"invalid validator regex: {exc}"
    if kind == "SELECT" and opts.get("values") in (None, [], ""):
        yield "values", f"a {spec.type} input needs `values`, the list of allowed values"
    if kind == "MULTISELECT" and not (opts.get("values") or opts.get("options")):
        yield "values", "a MULTISELECT input needs `values`, the list of allowed values"
    for key in ("values", "options"):
        if key in opts and not isinstance(opts[key], list) and not templated(opts[key]):
            yield key, f"`{key}` must be a list or an expression"
    if kind == "ARRAY":
        item = opts.get("itemType")
        if item is None:
            yield "itemType", "an ARRAY input needs `itemType`"
        elif kind_of(item) not in _ITEM_KINDS:
            yield "itemType", f"an ARRAY cannot hold {item!r} items"
    bounds_ok = True
    for key, bound in _bounds(kind, opts):
        try:
            _parse(kind, bound, opts)
        except _Invalid as exc:
            bounds_ok = False
            yield key, f"`{key}` must be a valid {spec.type}: {exc}"
    if bounds_ok:
        low, high = _bound(kind, opts, low=True), _bound(kind, opts, low=False)
        if (
            low
            and high
            and _key(kind, _parse(kind, low[1], opts)) > _key(kind, _parse(kind, high[1], opts))
        ):
            yield high[0], f"`{low[0]}` ({low[1]}) is greater than `{high[0]}` ({high[1]})"
    lengths = {k: opts[k] for k in ("minLength", "maxLength") if opts.get(k) is not None}
    bad = [k for k, n in lengths.items() if isinstance(n, bool) or not isinstance(n, int) or n < 0]
    for key in bad:
        yield key, f"`{key}` must be a whole number of characters, not {lengths[key]!r}"
    if not bad and len(lengths) == 2 and lengths["minLength"] > lengths["maxLength"]:
        yield "maxLength", "`minLength` is greater than `maxLength`"
    bounds_ok = bounds_ok and not bad
    if not bounds_ok or kind == "FILE":
        if kind == "FILE" and opts.get("defaults") is not None:
            default = opts["defaults"]
            if not (isinstance(default, str) and default.startswith(("kestra://", "nsfile://"))):
                yield "defaults", "a FILE default must be a `kestra:///` or `nsfile:///` URI"
        return
    for key in ("defaults", "prefill"):
        value = opts.get(key)
        if (
            value is None
            or templated(value)
            or (kind == "SELECT" and templated(opts.get("values")))
        ):
            continue
        try:
            _check(kind, _parse(kind, value, opts), opts, None)
        except _Invalid as exc:
            yield key, f"invalid `{key}`: {exc}, but received `{_show(value)}`"


# ----------------------------------------------------------------------------- run time


def coerce_inputs(
    specs: Sequence[Any],
    raw: Mapping[str, Any],
    *,
    files: Mapping[str, Any] | None = None,
    store_file: Callable[[str, Any], str] | None = None,
    render: Callable[[str], Any] | None = None,
    nest: bool = True,
    seal: Callable[[str], str] | None | bool = True,
) -> dict[str, Any]:
    """Typed inputs of a new execution, or InputsError naming every bad field at once.

    ``raw`` holds strings (forms, CLI) or JSON values (API); ``files`` holds uploaded file
    objects by input id, handed to ``store_file`` which returns their ``kestra:///`` URI.
    ``render`` evaluates defaults written as expressions. With ``nest`` (Kestra's way),
    dotted ids become nested maps: ``nested.bool`` is read as ``inputs.nested.bool``.
    Every declared input gets a key; an optional input without value is ``None``.
    SECRET values are stored sealed: ``seal`` encrypts them (True: with
    :func:`kernel.secrets.seal_secret`; None or False: kept in clear, for tests).
    """
    if seal is True:
        seal = seal_secret
    known = {spec.id: spec for spec in specs}
    submitted = _flatten_groups(raw, known)
    uploads = dict(files or {})
    errors: dict[str, str] = {}
    names = ", ".join(f"`{name}`" for name in known) or "none"
    for key in [*submitted, *uploads]:
        if key not in known:
            value = uploads[key] if key in uploads else submitted[key]
            shown = _show(value) if key in submitted else "a file"
            errors[key] = (
                f"this flow has no such input (its inputs: {names}), but received `{shown}`"
            )
    typed: dict[str, Any] = {}
    for spec in specs:
        kind = kind_of(spec.type)
        value = uploads[spec.id] if spec.id in uploads else submitted.get(spec.id)
        is_default = False
        if _missing(kind, value):
            value = copy.deepcopy(spec.options.get("defaults"))
            is_default = value is not None
            if is_default and render is not None and templated(value) and isinstance(value, str):
                try:
                    value = render(value)
                except Exception as exc:  # any rendering failure is the default's fault
                    errors[spec.id] = (
                        f"cannot render its default `{spec.options['defaults']}`: {exc}"
                    )
                    continue
            if not is_default:
                if _required(spec):
                    errors[spec.id] = "missing required input, but received `null`"
                else:
                    typed[spec.id] = None
                continue
        try:
            if kind == "FILE":
                typed[spec.id] = _file(spec.id, value, store_file, is_default)
            else:
                parsed = _parse(kind, value, spec.options)
                _check(kind, parsed, spec.options, render)
                typed[spec.id] = _dump(parsed)
                if kind == "SECRET" and callable(seal) and typed[spec.id] is not None:
                    typed[spec.id] = seal(typed[spec.id])
                elif callable(seal) and taint.is_marked(value):
                    # Issue 21: a value derived from a secret (a Subflow's input set from
                    # `secret()`) is stored sealed, and marked again when the child renders.
                    typed[spec.id] = taint.seal(taint.mark(typed[spec.id]))
        except _Invalid as exc:
            hidden = kind == "SECRET" or taint.is_marked(value)
            errors[spec.id] = f"{exc}, but received `{MASK if hidden else _show(value)}`"
    if errors:
        raise InputsError(errors)
    return _nest(typed) if nest else typed


def _required(spec: Any) -> bool:
    required = spec.options.get("required", True)
    return required if isinstance(required, bool) else str(required).lower() != "false"


def _missing(kind: str, value: Any) -> bool:
    return value is None or (value == "" and kind not in _TEXT_KINDS)


def _flatten_groups(raw: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    """Accept ``{"nested": {"bool": true}}`` for the dotted input ``nested.bool``."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        prefix = f"{key}."
        if (
            key not in known
            and isinstance(value, Mapping)
            and any(k.startswith(prefix) for k in known)
        ):
            flat.update(_flatten_groups({f"{prefix}{k}": v for k, v in value.items()}, known))
        else:
            flat[str(key)] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``; a dotted id that collides stays flat."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node: Any = out
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf not in node:
            node[leaf] = value
        else:
            out[key] = value
    return out


def _file(
    input_id: str, value: Any, store_file: Callable[[str, Any], str] | None, is_default: bool
) -> str:
    if isinstance(value, str):
        if value.startswith("kestra://") or (is_default and value.startswith("nsfile://")):
            return value
        raise _Invalid("expected an uploaded file or a `kestra:///` URI")
    if store_file is None:
        raise _Invalid("file uploads are not accepted here")
    try:
        return store_file(input_id, value)
    except ValueError as exc:
        raise _Invalid(f"the file could not be stored: {exc}") from None


# ----------------------------------------------------------------------------- one value


def _parse(kind: str, value: Any, opts: Mapping[str, Any]) -> Any:
    """``value`` read as ``kind``: plain JSON data, or date/datetime/time for the temporal
    kinds (so bounds compare as dates, not strings)."""
    parser = _PARSERS.get(kind)
    if parser is None:
        raise _Invalid(f"unknown input type `{kind}`")
    return parser(value, opts)


def _string(value: Any, opts: Mapping[str, Any]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise _Invalid("expected a text value")


def _int(value: Any, opts: Mapping[str, Any]) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise _Invalid("expected a whole number like `42`")


def _float(value: Any, opts: Mapping[str, Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Invalid("expected a number like `4.2`")
    try:
        number = float(value)
    except ValueError:
        raise _Invalid("expected a number like `4.2`") from None
    if not math.isfinite(number):
        raise _Invalid("expected a finite number")
    return number


def _boolean(value: Any, opts: Mapping[str, Any]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Invalid("expected `true` or `false`")


def _datetime(value: Any, opts: Mapping[str, Any]) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Invalid("expected a date and time like `2024-01-01T10:00:00Z`") from None
    else:
        raise _Invalid("expected a date and time like `2024-01-01T10:00:00Z`")
    # A naive moment is read as UTC: Kestra's DATETIME is an Instant.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _date(value: Any, opts: Mapping[str, Any]) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Invalid("expected a date like `2024-01-31`")


def _time(value: Any, opts: Mapping[str, Any]) -> time:
    if isinstance(value, time):
        parsed = value
    elif isinstance(value, str) and re.fullmatch(
        r"\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?", value.strip()
    ):
        try:
            parsed = time.fromisoformat(value.strip())
        except ValueError:
            raise _Invalid("expected a time like `13:45:00`") from None
    else:
        raise _Invalid("expected a time like `13:45:00`")
    return parsed.replace(tzinfo=None)


def _duration(value: Any, opts: Mapping[str, Any]) -> str:
    if isinstance(value, timedelta) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    ):
        try:
            return format_duration(parse_duration(value))
        except DurationError as exc:
            raise _Invalid(str(exc)) from None
    if isinstance(value, str):
        try:
            parse_duration(value)
        except DurationError:
            raise _Invalid("expected an ISO-8601 duration like `PT5M` or `P1D`") from None
        return value.strip()
    raise _Invalid("expected an ISO-8601 duration like `PT5M` or `P1D`")


def _json(value: Any, opts: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        try:
            return json_loads(value)
        except TooDeep as exc:
            raise _Invalid(str(exc)) from None
        except ValueError as exc:
            raise _Invalid(f"expected JSON ({exc})") from None
    return _jsonable(value)


def _yaml(value: Any, opts: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return _jsonable(value)
    try:
        node, problems = load(value)
    except YamlProblem as exc:
        where = f" at {exc.path}" if exc.path else ""
        raise _Invalid(f"expected YAML ({exc.message}{where})") from None
    if problems:
        raise _Invalid(f"expected YAML ({problems[0].message})")
    return None if node is None else node.plain()


def _uri(value: Any, opts: Mapping[str, Any]) -> str:
    text = value.strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    ok = (
        parts is not None
        and bool(parts.scheme)
        and _SCHEME.fullmatch(text.split(":", 1)[0]) is not None
        and not re.search(r"\s", text)
        and len(text) > len(parts.scheme) + 1
        and (parts.scheme.lower() not in _NETWORK_SCHEMES or bool(parts.netloc))
    )
    if not ok:
        # Kestra's wording, kept so its tests and users recognise it.
        raise _Invalid(f"Expected `URI` but received `{_show(value)}`")
    return text


def _email(value: Any, opts: Mapping[str, Any]) -> str:
    if isinstance(value, str) and _EMAIL.fullmatch(value.strip()):
        return value.strip()
    raise _Invalid("expected an email address like `name@example.com`")


def _select(value: Any, opts: Mapping[str, Any]) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise _Invalid("expected one of the values")


def _multiselect(value: Any, opts: Mapping[str, Any]) -> list[str]:
    items = _list(value)
    return [_select(item, opts) for item in items]


def _array(value: Any, opts: Mapping[str, Any]) -> list[Any]:
    items = _list(value)
    item_kind = kind_of(opts.get("itemType", "STRING"))
    if item_kind not in _ITEM_KINDS:
        raise _Invalid(f"an ARRAY cannot hold `{item_kind}` items")
    out = []
    for item in items:
        try:
            out.append(_parse(item_kind, item, opts))
        except _Invalid:
            raise _Invalid(
                f"Unable to parse array element as `{item_kind}` on `{_show(item)}`"
            ) from None
    return out


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json_loads(value) if value.strip().startswith("[") else [value]
        except TooDeep as exc:
            raise _Invalid(str(exc)) from None
        except ValueError:
            raise _Invalid("expected a JSON list like `[1, 2]`") from None
    if not isinstance(value, list | tuple):
        raise _Invalid("expected a list")
    return list(value)


_PARSERS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "STRING": _string,
    "SECRET": _string,
    "INT": _int,
    "FLOAT": _float,
    "BOOLEAN": _boolean,
    "DATETIME": _datetime,
    "DATE": _date,
    "TIME": _time,
    "DURATION": _duration,
    "JSON": _json,
    "YAML": _yaml,
    "URI": _uri,
    "EMAIL": _email,
    "SELECT": _select,
    "MULTISELECT": _multiselect,
    "ARRAY": _array,
}


def _check(
    kind: str, value: Any, opts: Mapping[str, Any], render: Callable[[str], Any] | None
) -> None:
    """Raise _Invalid when a parsed value breaks its declared constraints."""
    if kind == "ARRAY":
        item_kind = kind_of(opts.get("itemType", "STRING"))
        for item in value:
            _check(item_kind, item, opts, render)
        return
    if kind in ("SELECT", "MULTISELECT") and not opts.get("allowCustomValue"):
        allowed = _allowed(opts, render)
        chosen = value if kind == "MULTISELECT" else [value]
        if allowed is not None and any(v not in allowed for v in chosen):
            raise _Invalid(f"it must match the values `[{', '.join(allowed)}]`")
    if isinstance(value, str) and kind in _TEXT_KINDS:
        validator = opts.get("validator")
        if isinstance(validator, str) and not _matches(validator, value):
            raise _Invalid(f"it must match the pattern `{validator}`")
        if opts.get("minLength") is not None and len(value) < opts["minLength"]:
            raise _Invalid(f"it must be at least `{opts['minLength']}` characters long")
        if opts.get("maxLength") is not None and len(value) > opts["maxLength"]:
            raise _Invalid(f"it must be at most `{opts['maxLength']}` characters long")
    for low in (True, False):
        found = _bound(kind, opts, low=low)
        if found is None:
            continue
        bound = _parse(kind, found[1], opts)
        if (
            (_key(kind, value) < _key(kind, bound))
            if low
            else (_key(kind, value) > _key(kind, bound))
        ):
            shown = _show_bound(kind, bound)
            if kind in _TEMPORAL:
                raise _Invalid(f"it must be {'after' if low else 'before'} `{shown}`")
            # Kestra capitalises this one message; kept for recognisability.
            verb = "It" if kind == "DURATION" else "it"
            raise _Invalid(f"{verb} must be {'more' if low else 'less'} than `{shown}`")


def _allowed(opts: Mapping[str, Any], render: Callable[[str], Any] | None) -> list[str] | None:
    """The allowed values as text, or None when an expression cannot be rendered here."""
    values = opts.get("values") if opts.get("values") is not None else opts.get("options")
    if isinstance(values, str) and templated(values):
        if render is None:
            return None
        try:
            values = render(values)
        except Exception as exc:  # the expression's fault, reported on this input
            raise _Invalid(f"cannot render its allowed values: {exc}") from None
        if isinstance(values, str):
            try:
                values = json.loads(values)
            except ValueError:
                values = [values]
    if not isinstance(values, list | tuple):
        return None
    return [str(v) for v in values]


def _bounds(kind: str, opts: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [found for low in (True, False) if (found := _bound(kind, opts, low=low))]


def _bound(kind: str, opts: Mapping[str, Any], *, low: bool) -> tuple[str, Any] | None:
    """The option (``min``, or ``after`` for dates as Kestra names it) and its value."""
    if kind not in _TEMPORAL and kind not in ("INT", "FLOAT", "DURATION"):
        return None
    names = ("min", "after") if low else ("max", "before")
    for name in names if kind in _TEMPORAL else names[:1]:
        if opts.get(name) is not None:
            return name, opts[name]
    return None


def _key(kind: str, value: Any) -> Any:
    return parse_duration(value) if kind == "DURATION" else value


def _show_bound(kind: str, bound: Any) -> str:
    if kind == "TIME" and not bound.second and not bound.microsecond:
        return bound.strftime("%H:%M")  # as java.time.LocalTime prints it
    return _show(_dump(bound))


def _dump(value: Any) -> Any:
    """JSON form of a parsed value: ISO text for the temporal kinds."""
    if isinstance(value, datetime):
        text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            micro = f"{value.microsecond:06d}"
            text += "." + (micro[:3] if micro.endswith("000") else micro)
        return text + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    if isinstance(value, list):
        return [_dump(item) for item in value]
    return value


def _jsonable(value: Any) -> Any:
    """Native data as JSON would hold it (YAML-loaded dates become ISO text); refused when
    nested deeper than ``kernel.depth.MAX_DEPTH`` (issue 21), before anything recurses."""
    try:
        check_depth(value)
    except TooDeep as exc:
        raise _Invalid(str(exc)) from None
    return _plain_json(value)


def _plain_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    if isinstance(value, datetime | date | time):
        return _dump(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid("expected finite numbers")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise _Invalid(f"cannot hold a {type(value).__name__}")


#: A refused value is quoted up to this many characters (a 100k-deep body is not echoed).
_SHOWN_CHARS = 500


def _show(value: Any) -> str:
    """A submitted value as Kestra quotes it in messages, cut past _SHOWN_CHARS."""
    text = _quoted(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}…({len(text) - _SHOWN_CHARS} more characters)"


def _quoted(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        check_depth(value)
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError, TooDeep):
        return f"<a {type(value).__name__}>"


# ----------------------------------------------------------------------------- schema


def input_json_schema(specs: Sequence[Any]) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the inputs object, for the API and the admin form.

    ``x-kestra-type`` carries the declared type so a form can pick a widget (a file picker
    for FILE) where JSON Schema has no word for it.
    """
    properties: dict[str, Any] = {}
    required: list[str] = []
    for spec in specs:
        kind = kind_of(spec.type)
        prop = _type_schema(kind, spec.options)
        prop["x-kestra-type"] = str(spec.type).upper()
        opts = spec.options
        if opts.get("displayName"):
            prop["title"] = str(opts["displayName"])
        if opts.get("description"):
            prop["description"] = str(opts["description"])
        default = opts.get("defaults")
        if default is not None:
            if templated(default):
                prop["x-default-expression"] = default
            else:
                prop["default"] = _schema_value(kind, default, opts)
        if opts.get("prefill") is not None and not templated(opts["prefill"]):
            prop["x-prefill"] = _schema_value(kind, opts["prefill"], opts)
        if _required(spec) and default is None:
            required.append(spec.id)
        properties[spec.id] = prop
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _type_schema(kind: str, opts: Mapping[str, Any]) -> dict[str, Any]:
    if kind in ("STRING", "SECRET"):
        prop: dict[str, Any] = {"type": "string"}
        if isinstance(opts.get("validator"), str):
            prop["pattern"] = f"^(?:{opts['validator']})$"
        for key in ("minLength", "maxLength"):
            if isinstance(opts.get(key), int):
                prop[key] = opts[key]
        if kind == "SECRET":
            prop["writeOnly"] = True
        return prop
    if kind in ("INT", "FLOAT"):
        prop = {"type": "integer" if kind == "INT" else "number"}
        for name, key in (("min", "minimum"), ("max", "maximum")):
            if isinstance(opts.get(name), int | float) and not isinstance(opts[name], bool):
                prop[key] = opts[name]
        return prop
    if kind == "BOOLEAN":
        return {"type": "boolean"}
    if kind in _SCHEMA_FORMATS:
        prop = {"type": "string", "format": _SCHEMA_FORMATS[kind]}
        for low, key in ((True, "formatMinimum"), (False, "formatMaximum")):
            found = _bound(kind, opts, low=low)
            if found is not None:
                prop[key] = _schema_value(kind, found[1], opts)
        return prop
    if kind == "FILE":
        return {"type": "string", "format": "uri", "contentMediaType": "application/octet-stream"}
    if kind in ("SELECT", "MULTISELECT"):
        values = opts.get("values") if opts.get("values") is not None else opts.get("options")
        item: dict[str, Any] = {"type": "string"}
        if isinstance(values, list):
            item["examples" if opts.get("allowCustomValue") else "enum"] = [str(v) for v in values]
        if kind == "SELECT":
            return item
        return {"type": "array", "items": item, "uniqueItems": True}
    if kind == "ARRAY":
        item_kind = kind_of(opts.get("itemType", "STRING"))
        items = _type_schema(item_kind, opts) if item_kind in _ITEM_KINDS else {}
        return {"type": "array", "items": items}
    return {}  # JSON, YAML: any value


def _schema_value(kind: str, value: Any, opts: Mapping[str, Any]) -> Any:
    """A declared value as the schema shows it: typed when it parses, else as written."""
    try:
        return _dump(_parse(kind, value, opts))
    except (_Invalid, TypeError):
        return _jsonable(value) if not isinstance(value, date | time) else _dump(value)


# ----------------------------------------------------------------------------- SECRET


def secret_input_ids(specs: Sequence[Any]) -> list[str]:
    """Ids of the SECRET-typed inputs, as dotted paths into the (nested) inputs."""
    return [spec.id for spec in specs if kind_of(spec.type) == "SECRET"]


def open_secret_inputs(
    inputs: Mapping[str, Any], specs: Sequence[Any], opener: Callable[[Any], Any]
) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``inputs`` with every SECRET input opened by ``opener``, and the clear
    values (so the caller can mask them); inputs without SECRET ones come back as they are."""
    ids = secret_input_ids(specs)
    out = dict(inputs)
    opened: list[str] = []
    for input_id in ids:
        node: Any = out
        *parents, leaf = input_id.split(".") if input_id not in out else [input_id]
        for part in parents:
            child = node.get(part) if isinstance(node, Mapping) else None
            if not isinstance(child, Mapping):
                node = None
                break
            node[part] = child = dict(child)
            node = child
        if not isinstance(node, dict) or node.get(leaf) is None:
            continue
        node[leaf] = opener(node[leaf])
        if isinstance(node[leaf], str):
            opened.append(node[leaf])
    return out, opened


#: Seconds of CPU a ``validator`` pattern may take on one value (issue 21: a catastrophic
#: pattern must not pin the web process that validates a run's inputs).
VALIDATOR_SECONDS = 1.0


def _matches(pattern: str, value: str) -> bool:
    try:
        return regex_fullmatch(pattern, value, timeout=VALIDATOR_SECONDS)
    except ExpressionError as exc:
        raise _Invalid(f"its pattern `{pattern}` could not be checked: {exc}") from None
