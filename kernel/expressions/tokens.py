"""Tokeniser for expressions inside `{{ }}` / `{% %}` tags (used by kernel/expressions/pebble.py).

It knows strings, numbers, names and operators, tracks bracket depth so a map literal's `}}`
does not end a tag, and reads Kestra task ids after a dot (`outputs.1-2-1_return`) as one
attribute token when their hyphens are not surrounded by spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PebbleSyntaxError", "Token", "scan_tag", "tokenize"]


class PebbleSyntaxError(ValueError):
    """The expression inside a tag is not something the translator understands."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # name | attr | string | number | op
    text: str


_OPS = sorted(
    [
        "???", "??", "**", "//", "==", "!=", "<=", ">=", "..",
        "?", ":", "+", "-", "*", "/", "%", "~", "|", "<", ">", "=",
        "(", ")", "[", "]", "{", "}", ",", ".",
    ],
    key=len,
    reverse=True,
)  # fmt: skip
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ATTR = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")
_NUMBER = re.compile(r"\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?")
_SPACE = re.compile(r"\s+")
_OPENERS = {"(": ")", "[": "]", "{": "}"}


def _read_string(text: str, pos: int) -> int:
    """Return the index just past the string literal starting at ``pos`` (or -1)."""
    quote = text[pos]
    i = pos + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return -1


def scan_tag(text: str, pos: int, closer: str) -> tuple[list[Token], int, int] | None:
    """Tokenise from ``pos`` to the tag's closing delimiter at bracket depth 0.

    Returns (tokens, index where the closing delimiter starts, index just past it), or None
    when the tag never closes.
    """
    tokens: list[Token] = []
    depth = 0
    i = pos
    n = len(text)
    while i < n:
        m = _SPACE.match(text, i)
        if m:
            i = m.end()
            continue
        if depth == 0:
            if text.startswith(closer, i):
                return tokens, i, i + len(closer)
            if text[i] in "-+" and text.startswith(closer, i + 1):
                return tokens, i, i + 1 + len(closer)
        ch = text[i]
        if ch in "'\"":
            end = _read_string(text, i)
            if end < 0:
                return None
            tokens.append(Token("string", text[i:end]))
            i = end
            continue
        if tokens and tokens[-1].kind == "op" and tokens[-1].text == ".":
            m = _ATTR.match(text, i)
            if m and len(tokens) > 1 and tokens[-2].text == "loop" and "-" in m.group():
                m = _NAME.match(text, i)  # Jinja's `loop.index-1` is a subtraction
            if m:
                tokens.append(Token("attr", m.group()))
                i = m.end()
                continue
        m = _NAME.match(text, i)
        if m:
            tokens.append(Token("name", m.group()))
            i = m.end()
            continue
        m = _NUMBER.match(text, i)
        if m:
            tokens.append(Token("number", m.group()))
            i = m.end()
            continue
        for op in _OPS:
            if text.startswith(op, i):
                break
        else:
            tokens.append(Token("op", ch))  # unknown character: Jinja will complain
            i += 1
            continue
        if op in _OPENERS:
            depth += 1
        elif op in (")", "]", "}"):
            depth = max(depth - 1, 0)
        tokens.append(Token("op", op))
        i += len(op)
    return None


def tokenize(expression: str) -> list[Token]:
    """Tokenise a bare expression (no delimiters); used by tests and ``translate_expression``."""
    scanned = scan_tag(expression + "\x00", 0, "\x00")
    if scanned is None:
        raise PebbleSyntaxError(f"unterminated string in {expression!r}")
    return scanned[0]
