"""Judge a scenario: evaluate its ``expected`` block on execution documents, then classify.

Pure: documents and logs are plain data (``document.py``), special values come in a token
map, so everything here is tested without a database. An expectation the runner cannot
evaluate is *unsupported*: it never counts as a pass, and a scenario whose checks all pass
but one is unsupported is reported as not applicable, with the reason.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from compat.assertions import _MISSING, Unsupported, check, check_logs, resolve

PASS, FAIL, ERROR, NOT_APPLICABLE, REFUSED = "pass", "fail", "error", "not applicable", "refused"
CATEGORIES = (PASS, FAIL, ERROR, NOT_APPLICABLE, REFUSED)
#: Keys of an ``expected`` block that document the test, not assert anything.
IGNORED = frozenset({"hint", "note", "within_seconds"})


@dataclass
class Finding:
    """One failed expectation: what was checked, what Kestra expects, what Trellis did."""

    what: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.what}: expected {_show(self.expected)}, got {_show(self.actual)}"


def _show(value: Any, limit: int = 160) -> str:
    if value is _MISSING:
        return "<missing>"
    plain = isinstance(value, str) and value.strip() == value and value != ""
    text = value if plain else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Verdict:
    """What the checks of one scenario found, in order."""

    failures: list[Finding] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    checked: int = 0

    def expect(self, ok: bool, what: str, expected: Any, actual: Any) -> bool:
        self.checked += 1
        if not ok:
            self.failures.append(Finding(what, expected, actual))
        return ok

    def cannot(self, reason: str) -> None:
        self.unsupported.append(reason)


@dataclass
class Context:
    """The document under test, its logs and the values special tokens stand for."""

    doc: Mapping[str, Any]
    logs: list[Mapping[str, Any]] = field(default_factory=list)
    tokens: Mapping[str, Any] = field(default_factory=dict)
    original: Mapping[str, Any] | None = None
    #: Reads a ``kestra://`` file's text, for ``content(...)`` paths (None: unsupported).
    read: Callable[[str], str] | None = None


# ------------------------------------------------------------------------- values, paths


def substitute(value: Any, ctx: Context) -> Any:
    """Replace the corpus's special values (``<EXECUTION_ID>``, ``<TASKRUN_ID:t>``...)."""
    if isinstance(value, list):
        return [substitute(v, ctx) for v in value]
    if isinstance(value, Mapping):
        return {k: substitute(v, ctx) for k, v in value.items()}
    if not isinstance(value, str) or "<" not in value:
        return value
    if value.startswith("<") and value.endswith(">") and value.count("<") == 1:
        name = value[1:-1]
        if name in ctx.tokens:
            return ctx.tokens[name]
        if name.startswith("TASKRUN_ID:"):
            run = resolve(ctx.doc, f"taskrun({name.split(':', 1)[1]})")
            return run["id"] if isinstance(run, Mapping) else f"<no task run {name[11:]}>"
        if name.startswith("original ") and ctx.original is not None:
            return resolve(ctx.original, name[len("original ") :])
        raise Unsupported(f"value given in words: {value}")
    for name, token in ctx.tokens.items():
        value = value.replace(f"<{name}>", str(token))
    return value


def _split_plus(expr: str) -> list[str]:
    """``'get ' + taskrun(a, [x, 'y']).outputs.value`` -> its operands (quotes and brackets
    protect a ``+``)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(expr):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "+" and depth == 0:
            parts.append(expr[start:i].strip())
            start = i + 1
    parts.append(expr[start:].strip())
    return parts


def value_from(doc: Mapping[str, Any], expr: str) -> Any:
    """An expected value computed from the same execution (``value_from``)."""
    parts = _split_plus(expr)
    values = []
    for part in parts:
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
            values.append(part[1:-1])
        else:
            values.append(resolve(doc, part))
    if len(values) == 1:
        return values[0]
    if any(v is _MISSING for v in values):
        return _MISSING
    return "".join(str(v) for v in values)


_COUNT = re.compile(r"^count\((?P<path>.+?\[\*\].*?) == (?P<value>\w+)\)$")


def _star(doc: Mapping[str, Any], path: str) -> list[Any]:
    """Every value of ``list[*].rest``."""
    head, _, tail = path.partition("[*]")
    items = resolve(doc, head)
    if not isinstance(items, list):
        return []
    values = [resolve(doc, f"{head}[{i}]{tail}") for i in range(len(items))]
    return [v["current"] if isinstance(v, Mapping) and "current" in v else v for v in values]


def evaluate_assert(a: Mapping[str, Any], ctx: Context) -> tuple[bool, Any, Any]:
    """One ``{path, op, value | value_from}``: (passed, actual, expected). Raises Unsupported."""
    path, op = str(a["path"]).strip(), str(a["op"])
    if "value_from" in a:
        expected = value_from(ctx.doc, str(a["value_from"]))
        if expected is _MISSING:
            return False, _MISSING, f"<{a['value_from']}>"
    else:
        expected = substitute(a.get("value"), ctx)
    if path.startswith("all ") and "[*]" in path:
        values = _star(ctx.doc, path[4:])
        return bool(values) and all(check(v, op, expected) for v in values), values, expected
    if m := _COUNT.match(path):
        values = _star(ctx.doc, m.group("path"))
        count = sum(1 for v in values if check(v, "eq", m.group("value")))
        return check(count, op, expected), count, expected
    if path.startswith("content(") and path.endswith(")"):
        uri = resolve(ctx.doc, path[len("content(") : -1])
        if ctx.read is None:
            raise Unsupported(f"file content assertion {path}")
        actual = ctx.read(uri) if isinstance(uri, str) else _MISSING
        return check(actual, op, expected), actual, expected
    actual = resolve(ctx.doc, path)
    shown = actual["current"] if isinstance(actual, Mapping) and "histories" in actual else actual
    return check(actual, op, expected), shown, expected


# ------------------------------------------------------------------------ expected blocks


def _histories(doc: Mapping[str, Any]) -> list[str]:
    return [h.get("state") for h in (doc.get("state") or {}).get("histories") or []]


def _in_order(seq: list[Any], wanted: list[Any]) -> bool:
    it = iter(seq)
    return all(any(x == w for x in it) for w in wanted)


_ENCRYPTED = re.compile(r'^<encrypted, != "(.*)">$')


def _check_typed_inputs(want: Mapping[str, Any], ctx: Context, verdict: Verdict) -> None:
    inputs = ctx.doc.get("inputs") or {}
    for key, value in want.items():
        actual = inputs.get(key, _MISSING) if isinstance(inputs, Mapping) else _MISSING
        if isinstance(value, str) and (m := _ENCRYPTED.match(value)):
            ok = actual not in (_MISSING, None) and str(actual) != m.group(1)
            verdict.expect(ok, f"typed input {key} (encrypted)", value, actual)
            continue
        try:
            expected = substitute(value, ctx)
        except Unsupported as exc:
            verdict.cannot(f"typed input {key}: {exc}")
            continue
        ok = (actual is None) if expected is None else check(actual, "eq", expected)
        verdict.expect(ok, f"typed input {key}", expected, actual)


def check_expected(
    expected: Mapping[str, Any],
    ctx: Context,
    verdict: Verdict,
    *,
    handled: Iterable[str] = (),
) -> None:
    """Evaluate an ``expected`` block on ``ctx.doc``; keys in ``handled`` are the caller's."""
    skip = IGNORED | set(handled)
    for key, want in expected.items():
        if key in skip:
            continue
        if key == "state":
            if want == "unknown":
                continue
            actual = (ctx.doc.get("state") or {}).get("current")
            if isinstance(want, str) and want.startswith("not "):
                verdict.expect(actual != want[4:], "state", want, actual)
            else:
                verdict.expect(actual == want, "state", want, actual)
        elif key == "taskrun_count":
            actual = len(ctx.doc.get("taskRunList") or [])
            if isinstance(want, Mapping) and "gte" in want:
                verdict.expect(actual >= int(want["gte"]), "taskrun_count", want, actual)
            elif isinstance(want, int):
                verdict.expect(actual == want, "taskrun_count", want, actual)
        elif key in ("asserts", "asserts_extra"):
            for a in want or ():
                try:
                    ok, actual, value = evaluate_assert(a, ctx)
                except Unsupported as exc:
                    verdict.cannot(f"assert {a.get('path')}: {exc}")
                    continue
                verdict.expect(ok, f"{a['path']} {a['op']}", value, actual)
        elif key == "logs":
            for spec in want or ():
                try:
                    spec = {**spec, "value": substitute(spec.get("value"), ctx)}
                    ok = check_logs(ctx.doc, ctx.logs, spec)
                except Unsupported as exc:
                    verdict.cannot(f"logs: {exc}")
                    continue
                what = f"logs {spec.get('taskrun') or ''} {spec['op']}".replace("  ", " ")
                shown = [x.get("message") for x in ctx.logs][-5:]
                verdict.expect(ok, what, spec.get("value"), shown)
        elif key == "typed_inputs":
            _check_typed_inputs(want, ctx, verdict)
        elif key == "typed_inputs_contains_key":
            inputs = ctx.doc.get("inputs") or {}
            verdict.expect(want in inputs, "inputs has key", want, sorted(inputs))
        elif key == "state_sequence_contains":
            verdict.expect(
                _in_order(_histories(ctx.doc), list(want)), key, want, _histories(ctx.doc)
            )
        elif key == "killed_event_emitted":
            # Kestra emits a kill message on a queue; Trellis's equivalent is reaching KILLED.
            verdict.expect("KILLED" in _histories(ctx.doc), key, want, _histories(ctx.doc))
        elif key == "then" and isinstance(want, str) and want.startswith("execution no longer "):
            actual = (ctx.doc.get("state") or {}).get("current")
            verdict.expect(actual != want.rsplit(" ", 1)[-1], "state", f"not {want}", actual)
        else:
            verdict.cannot(f"expectation {key!r} ({_show(want, 60)})")


# ------------------------------------------------------------------------------- results


@dataclass
class Result:
    """The outcome of one scenario, as printed and written to JSON."""

    key: str
    category: str
    reason: str = ""
    actual: Any = None
    seconds: float = 0.0
    execution_id: str | None = None
    notes: list[str] = field(default_factory=list)
    #: Every failed check, not only the first (JSON details).
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["actual"] = json.loads(json.dumps(self.actual, default=str))
        return data


def classify(key: str, verdict: Verdict) -> Result:
    """Any failed check fails the scenario (first one reported); otherwise an unsupported
    check makes it not applicable; otherwise it passes."""
    if verdict.failures:
        first = verdict.failures[0]
        more = f" (+{len(verdict.failures) - 1} more)" if len(verdict.failures) > 1 else ""
        failures = [str(f) for f in verdict.failures]
        return Result(key, FAIL, f"{first}{more}", first.actual, failures=failures)
    if verdict.unsupported:
        return Result(key, NOT_APPLICABLE, verdict.unsupported[0])
    if not verdict.checked:
        return Result(key, NOT_APPLICABLE, "nothing Kestra's tests assert could be checked")
    return Result(key, PASS)


_BLANKS = [
    (re.compile(r" \(\+\d+ more\)$"), ""),
    (re.compile(r"^[\w.-]+\.ya?ml:\d+:\d+: "), ""),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z?"), "<date>"),
    (re.compile(r"\[\d+\]"), "[N]"),
    (re.compile(r"\b\d+(\.\d+)?s\b"), "Ns"),
]


def reason_group(result: Result) -> str:
    """A reason with ids, dates, indexes and timings blanked, so one cause groups together."""
    reason = result.reason
    for pattern, blank in _BLANKS:
        reason = pattern.sub(blank, reason)
    return reason[:200]


def top_reasons(
    results: Iterable[Result], limit: int = 10, categories: Iterable[str] = (FAIL, ERROR, REFUSED)
) -> list[tuple[str, int]]:
    """The most frequent reasons among failures, errors and refusals (what to build next)."""
    wanted = set(categories)
    counts = Counter(f"{r.category}: {reason_group(r)}" for r in results if r.category in wanted)
    return counts.most_common(limit)


def summary(results: list[Result]) -> dict[str, Any]:
    counts = Counter(r.category for r in results)
    total = len(results)
    passed = counts.get(PASS, 0)
    return {
        "total": total,
        "passed": passed,
        "percent": round(100.0 * passed / total, 1) if total else 0.0,
        "by_category": {c: counts.get(c, 0) for c in CATEGORIES},
    }
