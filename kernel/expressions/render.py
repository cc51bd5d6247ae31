"""Render Kestra flow expressions in a Jinja2 sandbox.

Pebble syntax is translated first (kernel/expressions/pebble.py), then rendered by an immutable
sandboxed Jinja2 environment with Kestra's functions and filters. Safety rules:

* every value is rendered once: output is never rendered again (only `render()` does that, on
  purpose), so inputs and webhook bodies are data, never templates;
* sandbox escapes (`__class__`, `__globals__`, `str.format` tricks) fail with ExpressionError;
* limits: `range` size, string/list growth, output size, and a time budget per render checked
  on every call, attribute access, filter, loop iteration and output chunk; integers may not
  grow past :data:`MAX_INT_BITS` (one huge multiplication cannot be interrupted), and no
  value may *weigh* more than :data:`MAX_WEIGHT` (see :func:`weight`: a list holding the same
  big list twice, nested 40 times, is small in memory but explodes when printed or compared);
* undefined variables raise (Pebble's strictVariables), except on the left of `??`/`???` and
  in `is defined` tests: undefined values chain through attribute access and fail when used.

Functions needing I/O get it from the context entry `_trellis` (an object or mapping with
optional callables `read`, `kv`, `error_logs`, `secret`, `on_secret`, `now`); that
entry is not visible to templates.

Why one module of some 600 lines: the environment, its sandbox policy (what an expression may
call or reach) and the render entry points must be read together to review the sandbox; the
filters, functions, dates, text and limits already live in their own modules.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

from kernel import taint
from kernel.expressions import pebble
from kernel.expressions.filters import FILTERS, RISKY_BUILTINS, TESTS, json_encode
from kernel.expressions.functions import FUNCTIONS
from kernel.expressions.limits import (
    check_filter_call,
    check_method_call,
    check_percent_format,
    session_deadline,
)
from kernel.expressions.state import (
    DEFAULT_TIMEOUT,
    MAX_OUTPUT,
    MAX_SEQUENCE,
    ExpressionError,
    LimitExceeded,
    RenderState,
    current_state,
    kstr,
    reset_state,
    set_state,
    tick,
    to_json,
)

__all__ = [
    "ExpressionError",
    "LimitExceeded",
    "check_syntax",
    "evaluate",
    "is_truthy",
    "render",
    "render_value",
]

IO_KEY = "_trellis"
_ITER_FN = "kx_iter"
_SIZED_FN = "kx_sized"
#: Largest integer a template may build (bits; about 19,700 decimal digits).
MAX_INT_BITS = 64 * 1024
#: Largest weight (nodes plus characters, shared parts counted each time they appear) of a
#: value a template builds: twice the output limit, so anything printable fits.
MAX_WEIGHT = 2 * MAX_OUTPUT
_CONTAINERS = (Mapping, list, tuple, set, frozenset)
_SINGLE = re.compile(r"\A\s*\{\{(?![-+]?\s*\}\})")


class _UndefinedName(UndefinedError):
    def __init__(self, message: str, name: str | None) -> None:
        super().__init__(message)
        self.name = name


class KestraUndefined(ChainableUndefined, StrictUndefined):
    """Strict when used (printed, compared, iterated), chainable on attribute access so that
    `a.b.c ?? 'x'` and `a.b is defined` work when `a` is missing."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        if self._undefined_exception is not UndefinedError:
            raise self._undefined_exception(self._undefined_message)
        raise _UndefinedName(self._undefined_message, self._undefined_name)

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = __contains__ = (
        _fail_with_undefined_error
    )


def _size_of(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


def _concat(left: Any, right: Any) -> str:
    """Pebble's `~`: stringify like Kestra (true/false, JSON maps), bounded size."""
    known = _marks()
    a = taint.printed(left, kstr(left), to_json, known)
    b = taint.printed(right, kstr(right), to_json, known)
    if len(a) + len(b) > MAX_OUTPUT:
        raise LimitExceeded("string concatenation exceeds the output size limit")
    return taint.join_pieces(a, b)


def _checked_iter(value: Any) -> Iterator[Any]:
    """Wraps every `{% for %}` iterable so long loops honour the time budget."""
    if isinstance(value, KestraUndefined):
        value._fail_with_undefined_error()
    for i, item in enumerate(value):
        if i % 256 == 0:
            tick()
        yield item


def _leaf_weight(value: Any) -> int:
    if isinstance(value, str | bytes):
        return 1 + len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return 1 + value.bit_length() // 3
    return 1


def weight(value: Any) -> int:
    """How big ``value`` is once printed or compared: one per node plus string lengths, a
    part that appears twice counted twice. Raises LimitExceeded past :data:`MAX_WEIGHT`.

    Templates cannot mutate anything, so a container's weight never changes: it is computed
    once per render (kept, with the container, in the render state) and a new container built
    from weighed parts costs only its own items.
    """
    if not isinstance(value, _CONTAINERS):
        return _leaf_weight(value)
    state = current_state()
    cache: dict[int, tuple[Any, int]] = (
        state.extra.setdefault("kx_weights", {}) if state is not None else {}
    )
    seen = cache.get(id(value))
    if seen is not None and seen[0] is value:
        return seen[1]
    # Iterative post-order walk: deep nesting must not hit Python's recursion limit.
    stack: list[tuple[Any, bool]] = [(value, False)]
    active: set[int] = set()
    visited = 0
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            active.discard(key)
            items = _items(node)
            total = 1
            for item in items:
                if isinstance(item, _CONTAINERS):
                    total += cache[id(item)][1]
                else:
                    total += _leaf_weight(item)
                if total > MAX_WEIGHT:
                    raise LimitExceeded(
                        f"a value of more than {MAX_WEIGHT} nodes and characters was built"
                    )
            cache[key] = (node, total)
            continue
        hit = cache.get(key)
        if hit is not None and hit[0] is node:
            continue
        if key in active:
            raise LimitExceeded("a value that contains itself cannot be used")
        active.add(key)
        visited += 1
        if visited % 4096 == 0:
            tick()
        stack.append((node, True))
        stack.extend((item, False) for item in _items(node) if isinstance(item, _CONTAINERS))
    return cache[id(value)][1]


def _items(node: Any) -> list[Any]:
    if isinstance(node, Mapping):
        return [part for pair in node.items() for part in pair]
    return list(node)


def _sized(value: Any) -> Any:
    """Wraps every list, tuple and dict literal: the value built must be within limits."""
    weight(value)
    return value


def _remember_weight(value: Any, total: int) -> None:
    """Record a weight computed arithmetically (``a + b``, ``a * n``) without walking."""
    if total > MAX_WEIGHT:
        raise LimitExceeded(f"a value of more than {MAX_WEIGHT} nodes and characters was built")
    state = current_state()
    if state is not None and isinstance(value, _CONTAINERS):
        state.extra.setdefault("kx_weights", {})[id(value)] = (value, total)


def _check_int(value: Any) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise LimitExceeded(f"an integer larger than {MAX_INT_BITS} bits")


def _guard(func: Callable[..., Any], risky: bool = False, name: str = "") -> Callable[..., Any]:
    """Wrap a filter: time check first, size checks before (:func:`check_filter_call`) and
    after (and on risky arguments).

    The wrapper takes the render context, which Jinja never has at compile time, so its
    optimiser cannot run a filter with constant arguments while parsing (issue 21:
    ``{{ 1 | jq('def f: f; f') }}`` spun at parse time, outside any budget)."""
    passes = _PassArg.from_obj(func)

    @pass_context
    @functools.wraps(func)
    def wrapper(context: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        check_filter_call(name, args, kwargs)
        if passes is _PassArg.context:
            args = (context, *args)
        elif passes is _PassArg.eval_context:
            args = (context.eval_ctx, *args)
        elif passes is _PassArg.environment:
            args = (context.environment, *args)
        if risky:
            for arg in (*args[1:], *kwargs.values()):
                if isinstance(arg, int) and abs(arg) > 10_000:
                    raise LimitExceeded(f"argument {arg} is too large for '{func.__name__}'")
                if isinstance(arg, str) and re.search(r"\d{6,}", arg):
                    raise LimitExceeded(f"format width too large for '{func.__name__}'")
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            _scrub(exc, (*args, *kwargs.values()))
            raise
        if _size_of(result) > MAX_OUTPUT:
            raise LimitExceeded(f"'{func.__name__}' produced more than the output size limit")
        weight(result)
        _check_int(result)
        if taint.any_marked((*args, *kwargs.values()), _marks()):
            # Issue 21: what a filter makes of a secret is secret (`| json` hides only it).
            if func is json_encode and args:
                result = taint.printed(args[0], result, to_json)
            result = taint.mark(result)
        return result

    return wrapper


def _marks() -> dict[int, tuple[Any, bool]] | None:
    """The render's memory of which containers hold a secret (see taint.is_marked)."""
    state = current_state()
    return state.extra.setdefault("kx_marks", {}) if state is not None else None


def _scrub(exc: Exception, values: tuple[Any, ...]) -> None:
    """Raise ``exc`` again with the secrets among ``values`` masked in its message, when
    there are any (issue 21); return (the caller re-raises ``exc`` as it is) otherwise."""
    if not taint.any_marked(values):
        return
    message = taint.scrub(str(exc), values)
    if message == str(exc):
        return
    kind = type(exc) if isinstance(exc, ExpressionError) else ExpressionError
    raise kind(message) from None


class KestraEnvironment(ImmutableSandboxedEnvironment):
    """Sandbox with Kestra's attribute rules, growth limits and a time budget."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])

    @staticmethod
    def concat(parts: Any) -> str:
        """Joins the output of `{% set %}…{% endset %}`, `{% filter %}` blocks and macros:
        a secret printed inside stays marked (issue 21)."""
        return taint.join_pieces(*parts)

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        if isinstance(obj, Mapping) and isinstance(argument, int) and argument not in obj:
            key = str(argument)
            if key in obj:
                return obj[key]
        return super().getitem(obj, argument)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        check_method_call(__obj, args, kwargs)
        try:
            result = super().call(__context, __obj, *args, **kwargs)
        except Exception as exc:
            _scrub(exc, (getattr(__obj, "__self__", None), *args, *kwargs.values()))
            raise
        if _size_of(result) > MAX_OUTPUT:
            raise LimitExceeded("a call produced more than the output size limit")
        if __obj is not _sized and __obj is not _checked_iter:
            weight(result)
            _check_int(result)
            if taint.any_marked(
                (getattr(__obj, "__self__", None), *args, *kwargs.values()), _marks()
            ):
                result = taint.mark(result)  # issue 21: `' '.join(secret|list)`, `'{}'.format`
        return result

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        tick()
        both_ints = isinstance(left, int) and isinstance(right, int)
        if operator_ == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    limit = MAX_OUTPUT if isinstance(seq, str) else MAX_SEQUENCE
                    if len(seq) * times > limit:
                        raise LimitExceeded("repetition exceeds the size limit")
            if both_ints and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                raise LimitExceeded(f"a product larger than {MAX_INT_BITS} bits")
        elif operator_ == "**":
            if isinstance(right, int | float) and abs(right) > 1000:
                raise LimitExceeded("exponent too large")
            if both_ints and right > 0 and max(left.bit_length() - 1, 0) * right > MAX_INT_BITS:
                raise LimitExceeded(f"a power larger than {MAX_INT_BITS} bits")
        elif operator_ == "%" and isinstance(left, str):
            check_percent_format(left)
        result = super().call_binop(context, operator_, left, right)
        if operator_ == "+" and _size_of(result) > MAX_OUTPUT:
            raise LimitExceeded("concatenation exceeds the size limit")
        if isinstance(result, list | tuple) and operator_ in ("+", "*"):
            if operator_ == "+":
                _remember_weight(result, weight(left) + weight(right) - 1)
            else:
                seq, times = (left, right) if isinstance(left, list | tuple) else (right, left)
                _remember_weight(result, 1 + (weight(seq) - 1) * max(int(times), 0))
        _check_int(result)
        if isinstance(result, str) and (taint.is_marked(left) or taint.is_marked(right)):
            result = taint.mark(result)  # `'%s' % secret`, `[secret] * 2 + ...` keep their marks
        return result

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Route every for-loop's iterable through `kx_iter` (time-budget checks) and every
        list, tuple and dict literal through `kx_sized` (weight limit)."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = _call(_ITER_FN, loop.iter, loop.lineno)
        return _SizeLiterals().visit(tree)


def _call(function: str, argument: nodes.Expr, lineno: int) -> nodes.Call:
    return nodes.Call(
        nodes.Name(function, "load", lineno=lineno), [argument], [], None, None, lineno=lineno
    )


class _SizeLiterals(NodeTransformer):
    """Wraps container literals (`[a, a]`, `{'k': a}`, `(a, a)`) in a weight check."""

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return _call(_SIZED_FN, node, node.lineno)

    visit_Dict = visit_List

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        if node.ctx != "load":  # an assignment target: `{% for k, v in ... %}`
            return node
        return _call(_SIZED_FN, node, node.lineno)


def _finalize(value: Any) -> str:
    return taint.printed(value, kstr(value), to_json, _marks())


@functools.lru_cache(maxsize=1)
def environment() -> KestraEnvironment:
    env = KestraEnvironment(
        undefined=KestraUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
        cache_size=0,
        optimized=False,  # nothing a user wrote runs at parse time (issue 21)
    )
    for unsafe in ("lipsum", "cycler", "joiner"):
        env.globals.pop(unsafe, None)
    env.globals.update(FUNCTIONS)
    env.globals[_ITER_FN] = _checked_iter
    env.globals[_SIZED_FN] = _sized
    env.globals[pebble.CONCAT_FN] = _concat
    for name, func in FILTERS.items():
        env.filters[name] = func
    env.filters = {
        name: _guard(func, name in RISKY_BUILTINS, name) for name, func in env.filters.items()
    }
    env.tests.update(TESTS)
    return env


@functools.lru_cache(maxsize=4096)
def _compile(template: str) -> Any:
    return environment().from_string(pebble.translate(template))


@functools.lru_cache(maxsize=4096)
def _compile_expression(expression: str) -> Any:
    return environment().compile_expression(pebble.translate_expression(expression), False)


def _excerpt(template: str) -> str:
    return template if len(template) <= 200 else template[:197] + "..."


def _template_line(exc: BaseException) -> int | None:
    line = getattr(exc, "lineno", None)
    if line:
        return line
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == "<template>":
            return frame.lineno
    return None


#: How Kestra's logs name an error raised inside a function or filter; kept so the messages
#: users (and their log alerts) know from Kestra read the same here.
PEBBLE_EXCEPTION = "io.pebbletemplates.pebble.error.PebbleException"
#: ... and an expression it cannot parse (issue 22).
PEBBLE_PARSER_EXCEPTION = "io.pebbletemplates.pebble.error.ParserException"


def _wrap(exc: BaseException, template: str) -> ExpressionError:
    if getattr(exc, "wrapped", False):
        return exc  # type: ignore[return-value] - already says where it happened
    shown = _excerpt(template)
    line = _template_line(exc)
    at = f" at line {line}" if line else ""
    if isinstance(exc, LimitExceeded):
        wrapped: ExpressionError = LimitExceeded(f"{exc} (in `{shown}`{at})", template)
    elif isinstance(exc, ExpressionError):
        # Kestra's wording: "<exception class>: <message> (<template>:<line>)"
        message = f"{PEBBLE_EXCEPTION}: {exc} ({shown}:{line or 1})"
        wrapped = type(exc)(message, template)
    elif isinstance(exc, _UndefinedName) and exc.name:
        wrapped = ExpressionError(
            f"Unable to find `{exc.name}` used in the expression `{shown}`{at}", template
        )
    elif isinstance(exc, SecurityError):
        wrapped = ExpressionError(f"Unsafe expression `{shown}`: {exc}", template)
    elif isinstance(exc, TemplateSyntaxError):
        # Kestra's parse errors read "...ParserException: <message> (<template>:<line>)"
        message = f"{PEBBLE_PARSER_EXCEPTION}: {exc.message} ({shown}:{line or 1})"
        wrapped = ExpressionError(message, template)
    elif isinstance(exc, RecursionError):
        wrapped = LimitExceeded(f"Expression `{shown}` nests too deeply", template)
    else:
        reason = str(exc) or type(exc).__name__
        wrapped = ExpressionError(f"Unable to render `{shown}`{at}: {reason}", template)
    wrapped.wrapped = True  # type: ignore[attr-defined]
    return wrapped


def _needs_rendering(text: str) -> bool:
    return "{{" in text or "{%" in text


class _Session:
    """Sets up the render state for a top-level call; nested calls reuse the outer one."""

    def __init__(self, context: Mapping[str, Any], timeout: float | None) -> None:
        self.variables = {k: v for k, v in context.items() if k != IO_KEY}
        self.io = context.get(IO_KEY)
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.token: Any = None

    def __enter__(self) -> dict[str, Any]:
        if current_state() is None:
            deadline, message = session_deadline(self.timeout)
            state = RenderState(
                deadline=deadline,
                io=self.io,
                render_string=_render_string,
                timeout_message=message,
            )
            self.token = set_state(state)
        return self.variables

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            reset_state(self.token)

    def seen(self, result: Any) -> Any:
        """Hand the hidden parts of ``result`` to the I/O's ``on_secret`` (the log masker),
        so a task logging a value derived from a secret logs it masked (issue 21)."""
        hook = getattr(self.io, "on_secret", None)
        if callable(hook):
            state = current_state()
            reported = state.extra.setdefault("kx_reported", set()) if state else set()
            for fragment in taint.fragments(result) - reported:
                reported.add(fragment)
                hook(fragment)
        return result


def _render_string(template: str, variables: Mapping[str, Any]) -> str:
    if not _needs_rendering(template):
        return template
    compiled = _compile(template)
    parts: list[str] = []
    size = 0
    for chunk in compiled.generate(variables):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise LimitExceeded(f"rendered output exceeds {MAX_OUTPUT} characters")
        parts.append(chunk)
        tick()
    return taint.join_pieces(*parts)


def render(template: str, context: Mapping[str, Any], *, timeout: float | None = None) -> str:
    """Render a string; strings without `{{`/`{%` come back untouched."""
    if not isinstance(template, str) or not _needs_rendering(template):
        return template
    try:
        session = _Session(context, timeout)
        with session as variables:
            return session.seen(_render_string(template, variables))
    except Exception as exc:  # noqa: BLE001 - any failure of a user's expression is reported
        raise _wrap(exc, template) from exc


def render_value(value: Any, context: Mapping[str, Any], *, timeout: float | None = None) -> Any:
    """Render every string in a structure (dict keys too); other values are kept."""
    with _Session(context, timeout) as variables:
        return _render_deep(value, variables)


def _render_deep(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, Mapping):
        return {_render_deep(k, variables): _render_deep(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_deep(v, variables) for v in value]
    if isinstance(value, tuple):
        return tuple(_render_deep(v, variables) for v in value)
    return value


def _single_expression(template: str) -> str | None:
    """The expression text if `template` is exactly one `{{ expr }}`, else None."""
    if not _SINGLE.match(template):
        return None
    start = template.index("{{") + 2
    if template[start : start + 1] in ("-", "+"):
        start += 1
    scanned = pebble.scan_tag(template, start, "}}")
    if scanned is None:
        return None
    _, close_at, end = scanned
    if template[end:].strip():
        return None
    return template[start:close_at].strip()


def evaluate(template: str, context: Mapping[str, Any], *, timeout: float | None = None) -> Any:
    """Native value of a lone `{{ expr }}` (lists stay lists); otherwise `render()`."""
    if not isinstance(template, str):
        return template
    expression = _single_expression(template)
    if expression is None:
        return render(template, context, timeout=timeout)
    try:
        session = _Session(context, timeout)
        with session as variables:
            try:
                compiled = _compile_expression(expression)
            except pebble.PebbleSyntaxError:
                return render(template, context, timeout=timeout)
            result = compiled(**variables)
            if isinstance(result, KestraUndefined):
                result._fail_with_undefined_error()
            return session.seen(result)
    except Exception as exc:  # noqa: BLE001 - any failure of a user's expression is reported
        raise _wrap(exc, template) from exc


_FALSY = {"", "false", "0", "-0"}


def is_truthy(value: Any) -> bool:
    """Kestra's truthiness for rendered conditions (TruthUtils): "false", "0", "-0" and ""
    (trimmed, any case) are false, as are None, False, 0 and empty collections."""
    if value is None or isinstance(value, KestraUndefined):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in _FALSY
    if isinstance(value, Mapping | Sequence | set | frozenset):
        return len(value) > 0
    return True


def check_syntax(template: str) -> str | None:
    """Parse only: the error message, or None when the template is valid."""
    if not isinstance(template, str) or not _needs_rendering(template):
        return None
    try:
        _compile(template)
    except (TemplateError, RecursionError) as exc:
        return str(_wrap(exc, template))
    return None
