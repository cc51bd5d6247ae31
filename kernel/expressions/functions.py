"""Functions available in expressions (`now()`, `secret()`, `kv()`, `render()`...).

Functions that need I/O reach it through the render's `_trellis` object (see expressions.py),
never through Django: this module stays pure. A missing capability is a clear ExpressionError.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets as secrets_random
import uuid as uuidlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import yaml
from jinja2 import pass_context
from jinja2.runtime import Context

from kernel import secrets, taint
from kernel.expressions.dates import format_date
from kernel.expressions.filters import from_json
from kernel.expressions.state import (
    MAX_RANGE,
    MAX_RENDER_DEPTH,
    ExpressionError,
    LimitExceeded,
    current_state,
    require_defined,
    tick,
    to_json,
)


def _io(name: str) -> Callable[..., Any]:
    state = current_state()
    io = state.io if state else None
    fn = getattr(io, name, None) if io is not None else None
    if fn is None and isinstance(io, Mapping):
        fn = io.get(name)
    if not callable(fn):
        raise ExpressionError(f"The '{name}' capability is not available in this context")
    return fn


def _optional_io(name: str) -> Callable[..., Any] | None:
    try:
        return _io(name)
    except ExpressionError:
        return None


def now(
    format: str | None = None,  # noqa: A002
    timeZone: str | None = None,  # noqa: N803
    locale: str | None = None,
) -> str:
    """Current time, formatted like Kestra (ISO with microseconds, `Z` for UTC)."""
    clock = _optional_io("now")
    moment = clock() if clock else dt.datetime.now(dt.UTC)
    return format_date(moment, format, timeZone or "UTC", None, locale)


@pass_context
def secret(ctx: Context, key: str, namespace: str | None = None, subkey: str | None = None) -> str:
    require_defined(key)
    lookup = _optional_io("secret")
    flow = ctx.get("flow")
    ns = namespace or (flow.get("namespace") if isinstance(flow, Mapping) else None)
    value = lookup(key, ns) if lookup else secrets.find_secret(key)
    if value is None:
        raise ExpressionError(f"Cannot find secret for key '{key}'.")
    if subkey:
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ExpressionError(
                f"Failed to read secret sub-key '{subkey}' from secret '{key}'. "
                "Ensure the secret contains valid JSON value."
            ) from None
        if not isinstance(parsed, dict) or subkey not in parsed:
            raise ExpressionError(f"Cannot find secret sub-key '{subkey}' in secret '{key}'.")
        item = parsed[subkey]
        value = item if isinstance(item, str) else to_json(item)
    seen = _optional_io("on_secret")
    if seen:
        seen(value)
        state = current_state()
        if state is not None:  # reported once: the render does not report it again
            state.extra.setdefault("kx_reported", set()).add(value)
    return taint.SecretText(value)  # issue 21: tracked through whatever the template does


@pass_context
def kv(
    ctx: Context,
    key: str,
    namespace: str | None = None,
    errorOnMissing: bool = False,  # noqa: N803 - Kestra's argument name
) -> Any:
    """Kestra's `kv(key, namespace, errorOnMissing)`: a missing key is null unless asked
    (the corpus's Kestra 0.21 default; namespace inheritance is the `kv` callable's job)."""
    flow = ctx.get("flow")
    ns = namespace or (flow.get("namespace") if isinstance(flow, Mapping) else None)
    try:
        value = _io("kv")(key, ns)
    except LookupError:
        value = None
    if value is None and errorOnMissing is True:
        raise ExpressionError(f"The key '{key}' does not exist in the namespace '{ns}'.")
    return value


def read(path: str, namespace: str | None = None) -> str:
    """Kestra's ``read(path)``: a namespace file (``read('scripts/q.sql')``), an
    ``nsfile://`` URI or a ``kestra:///`` URI of this execution."""
    require_defined(path)
    reader = _io("read")
    if namespace is None:
        return reader(path)
    return reader(path, require_defined(namespace))


def error_logs() -> list[Any]:
    return list(_io("error_logs")())


@pass_context
def file_uri(ctx: Context, path: str) -> str:
    """Kestra's ``fileURI(path)``: the ``kestra:///`` URI of a file of the flow's namespace
    (``kestra:///company/team/_files/scripts/etl.py``), which ``read()`` and script tasks'
    ``inputFiles`` accept."""
    require_defined(path)
    flow = ctx.get("flow")
    namespace = flow.get("namespace") if isinstance(flow, Mapping) else None
    if not namespace:
        raise ExpressionError("The 'fileURI' function needs a flow namespace")
    return f"kestra:///{str(namespace).replace('.', '/')}/_files/{str(path).lstrip('/')}"


def _public_vars(ctx: Context) -> dict[str, Any]:
    return {k: v for k, v in ctx.get_all().items() if not k.startswith("_") and k in ctx.parent}


@pass_context
def print_context(ctx: Context) -> str:
    data = {k: v for k, v in _public_vars(ctx).items() if not callable(v)}
    return json.dumps(data, default=str, ensure_ascii=False, indent=2)


def _render_with(ctx: Context, template: Any, recursive: bool) -> str:
    state = current_state()
    if state is None or state.render_string is None:
        raise ExpressionError("render() is only available while rendering")
    if not isinstance(template, str):
        return template
    if state.depth >= MAX_RENDER_DEPTH:
        raise LimitExceeded("render() nested too deeply")
    variables = _public_vars(ctx)
    state.depth += 1
    try:
        current = template
        for _ in range(MAX_RENDER_DEPTH if recursive else 1):
            rendered = state.render_string(current, variables)
            if rendered == current or not recursive:
                return rendered
            current = rendered
        return current
    finally:
        state.depth -= 1


@pass_context
def render(ctx: Context, template: Any, recursive: bool = True) -> Any:
    """Explicitly render a string that holds an expression (Kestra does not by default)."""
    return _render_with(ctx, template, recursive)


@pass_context
def render_once(ctx: Context, template: Any) -> Any:
    return _render_with(ctx, template, False)


@pass_context
def current_each_output(ctx: Context, outputs: Any) -> Any:
    """Outputs of the current ForEach iteration: walk outer-to-inner parent values, then this
    task run's value (`parents` is innermost first, as in Kestra)."""
    if not isinstance(outputs, Mapping):
        raise ExpressionError(
            "The 'currentEachOutput' function expects an argument 'outputs' with type map."
        )  # noqa: E501
    parents = ctx.get("parents") or []
    for parent in reversed(list(parents)):
        taskrun = parent.get("taskrun") if isinstance(parent, Mapping) else None
        value = taskrun.get("value") if isinstance(taskrun, Mapping) else None
        if value is None or (isinstance(taskrun, Mapping) and taskrun.get("iteration", 0) is None):
            continue  # not a loop iteration (a flowable inside one only carries its value)
        if outputs.get(value) is None:
            raise ExpressionError("No execution outputs for the current task runs path")
        outputs = outputs[value]
    taskrun = ctx.get("taskrun")
    value = taskrun.get("value") if isinstance(taskrun, Mapping) else None
    return outputs.get(value)


def _checked_range(start: int, stop: int, step: int) -> Iterator[int]:
    for i, value in enumerate(range(start, stop, step)):
        if i % 1000 == 0:
            tick()
        yield value


def range_(start: int, end: int | None = None, step: int = 1) -> list[int]:
    """`range(n)` is 0..n-1 (Jinja); `range(a, b[, step])` includes `b` (Pebble)."""
    if end is None:
        start, stop = 0, int(start)
    else:
        start, step = int(start), int(step)
        if step == 0:
            raise ExpressionError("range() step must not be zero")
        stop = int(end) + (1 if step > 0 else -1)
    size = len(range(start, stop, step))
    if size > MAX_RANGE:
        raise LimitExceeded(f"range() of {size} items exceeds the limit of {MAX_RANGE}")
    return list(_checked_range(start, stop, step))


def _extreme(pick: Callable[..., Any], values: tuple[Any, ...]) -> Any:
    if len(values) == 1 and isinstance(values[0], list | tuple):
        values = tuple(values[0])
    if not values:
        raise ExpressionError("max()/min() need at least one value")
    return pick(require_defined(v) for v in values)


def max_(*values: Any) -> Any:
    return _extreme(max, values)


def min_(*values: Any) -> Any:
    return _extreme(min, values)


def random_int(lower: int, upper: int) -> int:
    """Kestra's ``randomInt(lower, upper)``: lower included, upper excluded."""
    low, high = int(require_defined(lower)), int(require_defined(upper))
    if high <= low:
        raise ExpressionError("randomInt: 'upper' must be greater than 'lower'")
    return low + secrets_random.randbelow(high - low)


def random_port() -> int:
    """Kestra's ``randomPort()``: a TCP port free on this machine right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def yaml_parse(text: Any) -> Any:
    try:
        return yaml.safe_load(require_defined(text))
    except yaml.YAMLError as exc:
        raise ExpressionError(f"Invalid YAML: {exc}") from None


FUNCTIONS = {
    "now": now,
    "secret": secret,
    "kv": kv,
    "read": read,
    "errorLogs": error_logs,
    "fileURI": file_uri,
    "printContext": print_context,
    "render": render,
    "renderOnce": render_once,
    "currentEachOutput": current_each_output,
    "fromJson": from_json,
    "json": from_json,
    "jsonDecode": from_json,
    "toJson": to_json,
    "yaml": yaml_parse,
    "uuid": lambda: str(uuidlib.uuid4()),
    "randomInt": random_int,
    "randomPort": random_port,
    "range": range_,
    "max": max_,
    "min": min_,
}
