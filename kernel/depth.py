"""How deep a document may nest: one limit for every structured thing a user sends.

Why: Python's parsers and every function that walks their result recurse, so a document
nested a few thousand levels deep (a 900-level YAML flow, a 100k-deep JSON input or webhook
body) ends in ``RecursionError`` — an HTTP 500 and a traceback — wherever it is first walked.
Issue 21 asks for a documented limit instead, refused at the edge with the path where it was
crossed. Kestra flows rarely nest beyond about 20 levels (each flowable adds two: its
``tasks`` key and the list), so :data:`MAX_DEPTH` leaves room for any real document while
staying far below the interpreter's recursion limit (1000 frames).

A level is one list or mapping: ``{"a": [1]}`` is two levels deep, a bare scalar none.
JSON text is measured *before* it is parsed (:func:`json_loads`), because ``json.loads``
itself recurses; values that are already Python data are measured by :func:`check_depth`
without recursion. Pure: no Django.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

#: The deepest nesting of lists and mappings accepted in any document (docs/reliability.md).
MAX_DEPTH = 100

Segment = str | int

# A JSON string token (with escapes) or one structural character. Unrolled-loop form so a
# long string is one fast match.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]')
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
#: Paths longer than this many segments are shown with their middle elided.
_SHOWN_HEAD, _SHOWN_TAIL = 8, 3


class TooDeep(Exception):
    """A document nests deeper than ``limit``; ``path`` leads to the first list or mapping
    past the limit. Deliberately not a ValueError: code that falls back to "take it as
    text" on invalid JSON must not do so for a document that is refused."""

    def __init__(self, path: Sequence[Segment], limit: int = MAX_DEPTH) -> None:
        self.path = tuple(path)
        self.limit = limit
        self.where = format_path(self.path)
        #: The message without the path, for reports that show the path beside it.
        self.reason = f"nested deeper than the limit of {limit} levels"
        super().__init__(f"{self.reason} at {self.where}")


def format_path(path: Sequence[Segment], root: str = "") -> str:
    """``tasks[0].message`` style; a very long path keeps its head and tail around ``…``."""
    if not path:
        return root or "the top level"
    parts = [_segment(s) for s in path]
    if len(parts) > _SHOWN_HEAD + _SHOWN_TAIL + 1:
        hidden = len(parts) - _SHOWN_HEAD - _SHOWN_TAIL
        parts = [*parts[:_SHOWN_HEAD], f"…({hidden} more)…", *parts[-_SHOWN_TAIL:]]
    text = "".join(parts)
    if root:
        return root + text if text.startswith("[") else f"{root}{text}"
    return text.removeprefix(".")


def _segment(segment: Segment) -> str:
    if isinstance(segment, int):
        return f"[{segment}]"
    if _IDENTIFIER.fullmatch(segment):
        return f".{segment}"
    return f"[{json.dumps(segment, ensure_ascii=False)}]"


def check_depth(value: Any, *, limit: int = MAX_DEPTH, path: Sequence[Segment] = ()) -> None:
    """Raise TooDeep when ``value`` (plain dicts and lists) nests deeper than ``limit``.
    Iterative, so it is safe on any value, however it was built."""
    if not isinstance(value, dict | list | tuple):
        return
    stack: list[tuple[Any, tuple[Segment, ...], int]] = [(value, tuple(path), 1)]
    while stack:
        current, where, depth = stack.pop()
        if depth > limit:
            raise TooDeep(where, limit)
        items = current.items() if isinstance(current, dict) else enumerate(current)
        for key, child in items:
            if isinstance(child, dict | list | tuple):
                stack.append(
                    (child, (*where, key if isinstance(key, int) else str(key)), depth + 1)
                )


def check_json_depth(text: str, *, limit: int = MAX_DEPTH) -> None:
    """Raise TooDeep when the JSON ``text`` nests deeper than ``limit``, without parsing it.

    Text that cannot be that deep (fewer brackets than the limit) is passed at the cost of
    two ``str.count``; otherwise one pass over its tokens tracks the key or index of every
    open container, so the error names the path. Malformed JSON is left to the parser."""
    if text.count("[") + text.count("{") <= limit:
        return
    # Each open container: [is_object, current key or index, expecting a key].
    stack: list[list[Any]] = []
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        char = token[0]
        if char in "[{":
            if len(stack) >= limit:
                raise TooDeep([frame[1] for frame in stack], limit)
            stack.append([True, "", True] if char == "{" else [False, 0, False])
        elif char in "]}":
            if stack:
                stack.pop()
        elif not stack:
            continue
        elif char == ",":
            top = stack[-1]
            if top[0]:
                top[2] = True
            else:
                top[1] += 1
        elif char == ":":
            stack[-1][2] = False
        elif stack[-1][0] and stack[-1][2]:  # a string in key position
            try:
                stack[-1][1] = str(json.loads(token))
            except ValueError:
                stack[-1][1] = token[1:-1]


def json_loads(text: str | bytes, *, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses documents nested deeper than ``limit`` (TooDeep) before
    parsing them; invalid JSON raises ValueError as ``json.loads`` does."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8")
    check_json_depth(text, limit=limit)
    return json.loads(text)
