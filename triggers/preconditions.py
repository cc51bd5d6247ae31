"""Flow-trigger ``preconditions``: fire once several upstream executions have ended within a
time window (Kestra's replacement for MultipleCondition). Pure: the caller stores the state.

A precondition block is a set of named conditions: each ``flows[i]`` entry (an upstream flow
with optional ``states`` and ``labels``, named ``flows[i]``) and each ``where`` item (named by
its ``id``: filters on NAMESPACE, FLOW_ID, STATE, EXPRESSION, combined by ``operand``). An
ending execution marks every condition it satisfies as met, with its date; once all are met
inside the window the trigger fires and, with ``resetOnSuccess`` (the default), starts over.

Windows (``timeWindow.type``), in UTC:
* DURATION_WINDOW (default, ``window`` PT24H): fixed windows of ``window`` starting at
  ``windowAdvance`` past the epoch; a match from an earlier window no longer counts;
* SLIDING_WINDOW: a match counts for ``window`` after it happened;
* DAILY_TIME_DEADLINE: matches of today count until ``deadline`` (a time of day);
* DAILY_TIME_WINDOW: only matches between ``startTime`` and ``endTime`` of today count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time
from typing import Any

from kernel.durations import parse_duration
from kernel.expressions.limits import regex_fullmatch

#: CPU seconds a REGEX precondition may take on one value (issue 21: it runs under the
#: trigger's lock).
REGEX_SECONDS = 1.0

#: Evaluates an EXPRESSION filter's value in the upstream execution's context.
Render = Callable[[str], Any]


def condition_ids(pre: Mapping[str, Any]) -> list[str]:
    ids = [f"flows[{i}]" for i, _ in enumerate(pre.get("flows") or ())]
    ids += [str(w.get("id") or f"where[{i}]") for i, w in enumerate(pre.get("where") or ())]
    return ids


def _flow_matches(entry: Mapping[str, Any], upstream: Mapping[str, Any]) -> bool:
    if entry.get("namespace") and entry["namespace"] != upstream.get("namespace"):
        return False
    if entry.get("flowId") and entry["flowId"] != upstream.get("flowId"):
        return False
    states = entry.get("states")
    if states and upstream.get("state") not in states:
        return False
    labels = upstream.get("labels") or {}
    wanted = entry.get("labels") or {}
    return all(str(labels.get(k)) == str(v) for k, v in dict(wanted).items())


def _compare(kind: str, actual: Any, value: Any, values: Any) -> bool:
    text = "" if actual is None else str(actual)
    many = [str(v) for v in (values if values is not None else [value])]
    tests: dict[str, Callable[[], bool]] = {
        "EQUAL_TO": lambda: text == str(value),
        "NOT_EQUAL_TO": lambda: text != str(value),
        "IN": lambda: text in many,
        "NOT_IN": lambda: text not in many,
        "STARTS_WITH": lambda: text.startswith(str(value)),
        "ENDS_WITH": lambda: text.endswith(str(value)),
        "CONTAINS": lambda: str(value) in text,
        "REGEX": lambda: regex_fullmatch(str(value), text, timeout=REGEX_SECONDS),
        "IS_NULL": lambda: actual is None,
        "IS_NOT_NULL": lambda: actual is not None,
        "IS_TRUE": lambda: text.strip().lower() == "true",
        "IS_FALSE": lambda: text.strip().lower() == "false",
    }
    test = tests.get(kind.upper())
    return bool(test and test())


def _filter_matches(flt: Mapping[str, Any], upstream: Mapping[str, Any], render: Render) -> bool:
    fields = {"NAMESPACE": "namespace", "FLOW_ID": "flowId", "STATE": "state"}
    field = str(flt.get("field", "")).upper()
    kind = str(flt.get("type") or "EQUAL_TO")
    if field != "EXPRESSION":
        actual = upstream.get(fields.get(field, ""))
        return _compare(kind, actual, flt.get("value"), flt.get("values"))
    try:
        actual = render(str(flt.get("value", "")))
    except Exception:  # e.g. a label this execution lacks: the filter does not match it
        return False
    if kind.upper() in ("IS_TRUE", "IS_FALSE", "IS_NULL", "IS_NOT_NULL"):
        return _compare(kind, actual, None, None)
    return _compare(kind, actual, flt.get("value"), flt.get("values"))


def _where_matches(item: Mapping[str, Any], upstream: Mapping[str, Any], render: Render) -> bool:
    """The item's filters combined by its operand. Field filters are judged before
    expressions and the combination stops at the first decisive one, so an expression written
    for one upstream flow (``labels.some``) is not evaluated for the others."""
    filters = sorted(
        item.get("filters") or (), key=lambda f: str(f.get("field", "")).upper() == "EXPRESSION"
    )
    if not filters:
        return True
    results = (_filter_matches(flt, upstream, render) for flt in filters)
    return any(results) if str(item.get("operand", "AND")).upper() == "OR" else all(results)


def matched(pre: Mapping[str, Any], upstream: Mapping[str, Any], render: Render) -> list[str]:
    """Ids of the conditions that ``upstream`` (namespace, flowId, state, labels) satisfies."""
    ids = condition_ids(pre)
    flows = list(pre.get("flows") or ())
    out = [ids[i] for i, entry in enumerate(flows) if _flow_matches(entry, upstream)]
    for j, item in enumerate(pre.get("where") or ()):
        if _where_matches(item, upstream, render):
            out.append(ids[len(flows) + j])
    return out


def _time(value: Any, default: time) -> time:
    return time.fromisoformat(str(value)) if value else default


def window_start(pre: Mapping[str, Any], now: datetime) -> datetime | None:
    """The oldest match date that still counts at ``now``; None when no match counts at all
    (outside a daily window, past a daily deadline)."""
    spec = pre.get("timeWindow") or {}
    kind = str(spec.get("type") or "DURATION_WINDOW").upper()
    window = parse_duration(spec.get("window") or "PT24H")
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "SLIDING_WINDOW":
        return now - window
    if kind == "DAILY_TIME_DEADLINE":
        deadline = _time(spec.get("deadline"), time(23, 59, 59))
        return midnight if now.astimezone(UTC).time() <= deadline else None
    if kind == "DAILY_TIME_WINDOW":
        start = _time(spec.get("startTime"), time(0, 0))
        end = _time(spec.get("endTime"), time(23, 59, 59))
        if not start <= now.astimezone(UTC).time() <= end:
            return None
        return midnight.replace(hour=start.hour, minute=start.minute, second=start.second)
    advance = parse_duration(spec.get("windowAdvance") or "PT0S")
    epoch = datetime(1970, 1, 1, tzinfo=UTC) + advance
    periods = (now - epoch) // window
    return epoch + periods * window


def step(
    pre: Mapping[str, Any],
    state: Mapping[str, Any],
    upstream: Mapping[str, Any],
    *,
    now: datetime,
    render: Render,
) -> tuple[dict[str, Any], bool]:
    """The new stored state and whether the trigger fires, after ``upstream`` ended at ``now``.

    ``state`` is ``{"met": {condition id: {"date": iso, "executionId": id}}}``.
    """
    start = window_start(pre, now)
    met: dict[str, Any] = {}
    if start is not None:
        for cid, info in dict(state.get("met") or {}).items():
            if datetime.fromisoformat(info["date"]) >= start:
                met[cid] = info
        for cid in matched(pre, upstream, render):
            met[cid] = {"date": now.isoformat(), "executionId": upstream.get("executionId")}
    ids = condition_ids(pre)
    fire = bool(ids) and all(cid in met for cid in ids)
    if fire and pre.get("resetOnSuccess", True) is not False:
        met = {}
    return {"met": met}, fire
