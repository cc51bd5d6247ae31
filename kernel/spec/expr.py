"""Syntax check of every ``{{ }}`` / ``{% %}`` expression in a flow document.

A typo in an expression should fail at deploy time, not in the middle of a run. The real
checker is ``kernel.expressions.render.check_syntax`` (it knows our Pebble compatibility layer);
until that module exists we fall back to Jinja2's sandboxed parser after rewriting the Pebble
spellings the corpus uses (``??``, ``a ? b : c``, ``outputs.1-2_x``) into ones Jinja2 parses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from kernel.spec.common import Ctx, join
from kernel.spec.yaml_loader import Node

#: Keys whose text is documentation, never rendered.
_NOT_RENDERED = frozenset({"description", "displayName"})
_BLOCK = re.compile(r"(\{\{|\{%)(.*?)(\}\}|%\})", re.DOTALL)
_COALESCE = re.compile(r"\?{2,3}")
_TERNARY = re.compile(r"\?(.*?)\s:\s", re.DOTALL)
_DIGIT_ATTR = re.compile(r"(?<=[A-Za-z_\])])\.\d[\w-]*")


def check_expressions(root: Node, ctx: Ctx) -> None:
    """Report the position of every string (or key) whose template does not parse."""
    checker = _checker()
    _walk(root, "", ctx, checker)


def _walk(node: Node, path: str, ctx: Ctx, checker: Callable[[str], str | None]) -> None:
    value = node.value
    if isinstance(value, dict):
        for key, child in value.items():
            if key in _NOT_RENDERED:
                continue
            kpath = join(path, key)
            if "{{" in key or "{%" in key:
                _check(key, Node(key, *node.key_pos(key)), kpath, ctx, checker)
            _walk(child, kpath, ctx, checker)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _walk(child, f"{path}[{i}]", ctx, checker)
    elif isinstance(value, str) and ("{{" in value or "{%" in value):
        _check(value, node, path, ctx, checker)


def _check(
    text: str, node: Node, path: str, ctx: Ctx, checker: Callable[[str], str | None]
) -> None:
    try:
        message = checker(text)
    except Exception as exc:  # a checker bug must not hide the document's other problems
        message = str(exc) or type(exc).__name__
    if message:
        ctx.error(node, path, f"invalid expression: {message}")


def _checker() -> Callable[[str], str | None]:
    try:
        # Looked up at each check, not imported once: tests swap in the Jinja fallback.
        from kernel.expressions.render import check_syntax
    except ImportError:
        return _jinja_check
    return check_syntax


@cache
def _env():  # type: ignore[no-untyped-def]
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment()


def _pebble_to_jinja(match: re.Match[str]) -> str:
    inner = _COALESCE.sub(" or ", match.group(2))
    inner = _TERNARY.sub(r" or \1 or ", inner)
    inner = _DIGIT_ATTR.sub(".x", inner)
    return f"{match.group(1)}{inner}{match.group(3)}"


def _jinja_check(text: str) -> str | None:
    from jinja2 import TemplateSyntaxError

    try:
        _env().parse(_BLOCK.sub(_pebble_to_jinja, text))
    except TemplateSyntaxError as exc:
        where = f" (line {exc.lineno} of the text)" if exc.lineno and exc.lineno > 1 else ""
        return f"{exc.message}{where}"
    return None
