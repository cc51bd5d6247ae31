"""Translate Kestra's Pebble expression syntax into Jinja2 source.

Kestra flows are written for Pebble; Trellis evaluates them with a Jinja2 sandbox. Rather than
rewriting the template text with regular expressions (which breaks on strings, nested maps and
task ids such as ``1-2-1_return``), this module scans the template, tokenises the inside of each
``{{ }}`` / ``{% %}`` tag and re-emits it as fully parenthesised Jinja2. Pebble's binary-operator
precedences are used (so ``'a' ~ x | upper`` filters the concatenation, as in Kestra), with one
deliberate difference: ``not`` binds like Jinja's (``not a == b`` is ``not (a == b)``).

Text outside tags, comments and ``{% raw %}``/``{% verbatim %}`` blocks are copied unchanged.
When a tag cannot be parsed it is copied unchanged too, so Jinja reports the syntax error.
"""

from __future__ import annotations

import keyword
import re
from functools import lru_cache

from kernel.expressions.tokens import PebbleSyntaxError, Token, scan_tag, tokenize

__all__ = ["PebbleSyntaxError", "translate", "translate_expression", "tokenize"]

# Helper names the translation emits; expressions.py registers them.
PRESENT_TEST = "kx_present"  # defined and not None (Kestra's ??)
DEFINED_TEST = "kx_defined"  # defined, None allowed (Kestra's ???)
CONCAT_FN = "kx_concat"  # Kestra string concatenation (true/false, JSON for maps)

# --------------------------------------------------------------------------------------------
# Expression parser: tokens -> parenthesised Jinja2 source
# --------------------------------------------------------------------------------------------

_BINARY = {
    "or": 10,
    "and": 15,
    "is": 20,
    "contains": 20,
    "in": 30,
    "not in": 30,
    "==": 30,
    "equals": 30,
    "!=": 30,
    "<": 30,
    ">": 30,
    "<=": 30,
    ">=": 30,
    "+": 40,
    "-": 40,
    "*": 60,
    "/": 60,
    "//": 60,
    "%": 60,
    "**": 70,
    "|": 100,
    "~": 110,
    "..": 120,
    "??": 120,
    "???": 120,
}
_NOT_OPERAND_PREC = 20  # `not x` takes comparisons/tests, like Jinja
_UNARY_PREC = 500
_TEST_ARG_STARTS = {"name", "string", "number"}


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    # -- token helpers
    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def at(self, text: str, kind: str | None = None, offset: int = 0) -> bool:
        tok = self.peek(offset)
        if tok is None or tok.text != text:
            return False
        if kind is not None:
            return tok.kind == kind
        return tok.kind in ("op", "name")

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise PebbleSyntaxError("unexpected end of expression")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.next()
        if tok.text != text:
            raise PebbleSyntaxError(f"expected {text!r}, found {tok.text!r}")

    def done(self) -> bool:
        return self.i >= len(self.toks)

    # -- grammar
    def expression(self, allow_cond: bool = True) -> str:
        cond = self.binary(0)
        if self.at("?", "op"):
            self.next()
            then = self.expression()
            self.expect(":")
            other = self.expression()
            return f"({then} if {cond} else {other})"
        if allow_cond and self.at("if", "name"):
            self.next()
            test = self.binary(0)
            if self.at("else", "name"):
                self.next()
                return f"({cond} if {test} else {self.expression()})"
            return f"({cond} if {test})"
        return cond

    def _binary_op(self) -> str | None:
        tok = self.peek()
        if tok is None or tok.kind not in ("op", "name"):
            return None
        if tok.kind == "name" and tok.text == "not" and self.at("in", "name", 1):
            return "not in"
        return tok.text if tok.text in _BINARY else None

    def binary(self, min_prec: int) -> str:
        left = self.unary()
        while True:
            op = self._binary_op()
            if op is None or _BINARY[op] < min_prec:
                return left
            prec = _BINARY[op]
            self.next()
            if op == "not in":
                self.next()
            if op == "|":
                left = self._filter(left)
            elif op == "is":
                left = self._test(left)
            elif op in ("??", "???"):
                left = self._coalesce(left, op, prec)
            else:
                right = self.binary(prec if op == "**" else prec + 1)
                left = self._combine(op, left, right)

    @staticmethod
    def _combine(op: str, left: str, right: str) -> str:
        if op == "contains":
            return f"({right} in {left})"
        if op == "equals":
            return f"({left} == {right})"
        if op == "~":
            return f"{CONCAT_FN}({left}, {right})"
        if op == "..":
            return f"range({left}, {right})"
        return f"({left} {op} {right})"

    def _coalesce(self, left: str, op: str, prec: int) -> str:
        operands = [(op, left)]
        right = self.binary(prec + 1)
        while self._binary_op() in ("??", "???"):
            operands.append((self.next().text, right))
            right = self.binary(prec + 1)
        out = right
        for this_op, operand in reversed(operands):
            test = PRESENT_TEST if this_op == "??" else DEFINED_TEST
            out = f"({operand} if {operand} is {test} else {out})"
        return out

    def _filter(self, left: str) -> str:
        name = self._dotted_name()
        args = self._call_args() if self.at("(", "op") else ""
        return f"({left} | {name}{args})"

    def _test(self, left: str) -> str:
        negate = ""
        if self.at("not", "name"):
            self.next()
            negate = "not "
        name = self._dotted_name()
        if self.at("(", "op"):
            args = self._call_args()
        else:
            tok = self.peek()
            starts_arg = tok is not None and (
                tok.kind in _TEST_ARG_STARTS or (tok.kind == "op" and tok.text in "([{")
            )
            if starts_arg and tok.text not in ("else", "or", "and", "if", "is", "contains"):
                args = f"({self.postfix(self.primary())})"
            else:
                args = ""
        return f"({left} is {negate}{name}{args})"

    def _dotted_name(self) -> str:
        tok = self.next()
        if tok.kind != "name":
            raise PebbleSyntaxError(f"expected a name, found {tok.text!r}")
        parts = [tok.text]
        while self.at(".", "op") and (nxt := self.peek(1)) is not None and nxt.kind == "attr":
            self.next()
            parts.append(self.next().text)
        return ".".join(parts)

    def unary(self) -> str:
        if self.at("not", "name") and not self.at("in", "name", 1):
            self.next()
            return f"(not {self.binary(_NOT_OPERAND_PREC)})"
        if self.at("-", "op") or self.at("+", "op"):
            op = self.next().text
            return f"({op}{self.binary(_UNARY_PREC)})"
        return self.postfix(self.primary())

    def primary(self) -> str:
        tok = self.next()
        if tok.kind == "name":
            if tok.text in ("null", "none", "None"):
                return "none"
            return tok.text
        if tok.kind == "number":
            return tok.text
        if tok.kind == "string":
            parts = [tok.text]
            while (nxt := self.peek()) is not None and nxt.kind == "string":
                parts.append(self.next().text)
            return " ".join(parts)
        if tok.text == "(":
            if self.at(")", "op"):
                self.next()
                return "()"
            items, trailing = self._sequence(")")
            if len(items) == 1 and not trailing:
                return f"({items[0]})"
            return "(" + ", ".join(items) + ",)"
        if tok.text == "[":
            items, _ = self._sequence("]")
            return "[" + ", ".join(items) + "]"
        if tok.text == "{":
            return self._map()
        raise PebbleSyntaxError(f"unexpected {tok.text!r}")

    def _sequence(self, closer: str) -> tuple[list[str], bool]:
        items: list[str] = []
        trailing = False
        while not self.at(closer, "op"):
            items.append(self.expression())
            trailing = False
            if self.at(",", "op"):
                self.next()
                trailing = True
            elif not self.at(closer, "op"):
                raise PebbleSyntaxError(f"expected ',' or {closer!r}")
        self.next()
        return items, trailing

    def _map(self) -> str:
        pairs: list[str] = []
        while not self.at("}", "op"):
            key = self.expression()
            self.expect(":")
            pairs.append(f"{key}: {self.expression()}")
            if self.at(",", "op"):
                self.next()
            elif not self.at("}", "op"):
                raise PebbleSyntaxError("expected ',' or '}' in map literal")
        self.next()
        return "{" + ", ".join(pairs) + "}"

    def postfix(self, node: str) -> str:
        while True:
            if self.at(".", "op"):
                self.next()
                tok = self.next()
                node = node + _attribute(tok)
            elif self.at("[", "op"):
                self.next()
                node = node + "[" + self._subscript() + "]"
            elif self.at("(", "op"):
                node = node + self._call_args()
            else:
                return node

    def _subscript(self) -> str:
        parts: list[str] = []
        current = ""
        while not self.at("]", "op"):
            if self.at(":", "op"):
                self.next()
                parts.append(current)
                current = ""
            else:
                current = self.expression()
        self.next()
        parts.append(current)
        return ":".join(parts)

    def _call_args(self) -> str:
        self.expect("(")
        args: list[str] = []
        while not self.at(")", "op"):
            if self.at("*", "op") or self.at("**", "op"):
                star = self.next().text
                args.append(star + self.expression())
            elif (tok := self.peek()) and tok.kind == "name" and self.at("=", "op", 1):
                self.next()
                self.next()
                args.append(f"{tok.text}={self.expression()}")
            else:
                args.append(self.expression())
            if self.at(",", "op"):
                self.next()
            elif not self.at(")", "op"):
                raise PebbleSyntaxError("expected ',' or ')' in arguments")
        self.next()
        return "(" + ", ".join(args) + ")"


def _attribute(tok: Token) -> str:
    """`.name` for identifiers, subscripts for Kestra ids (`1-2-1_return`, `0`, `1_each`)."""
    text = tok.text
    if tok.kind not in ("attr", "name"):
        raise PebbleSyntaxError(f"expected an attribute name after '.', found {text!r}")
    if text.isdigit():
        return f"[{text}]"
    if text.isidentifier() and not keyword.iskeyword(text):
        return "." + text
    return "[" + repr(text) + "]"


def translate_expression(tokens: list[Token] | str, *, allow_cond: bool = True) -> str:
    """Translate one full expression; raise PebbleSyntaxError if tokens are left over."""
    if isinstance(tokens, str):
        tokens = tokenize(tokens)
    parser = _Parser(tokens)
    out = parser.expression(allow_cond=allow_cond)
    if not parser.done():
        raise PebbleSyntaxError(f"unexpected {parser.peek().text!r}")  # type: ignore[union-attr]
    return out


def _raw_tokens(tokens: list[Token]) -> str:
    out: list[str] = []
    for tok in tokens:
        if tok.kind == "attr" and out and out[-1] == ".":
            out[-1] = _attribute(tok)
        else:
            out.append(tok.text)
    return " ".join(out)


def _translate_block(tokens: list[Token]) -> str:
    """Translate a `{% %}` tag body; unknown tags keep their tokens."""
    if not tokens:
        return ""
    head = tokens[0].text
    if head in ("if", "elif"):
        return f"{head} {translate_expression(tokens[1:])}"
    if head == "set":
        eq = next((k for k, t in enumerate(tokens) if t.kind == "op" and t.text == "="), None)
        if eq is not None:
            target = _raw_tokens(tokens[1:eq])
            return f"set {target} = {translate_expression(tokens[eq + 1 :])}"
    if head == "for":
        inx = next((k for k, t in enumerate(tokens) if t.kind == "name" and t.text == "in"), None)
        if inx is not None:
            parser = _Parser(tokens[inx + 1 :])
            iterable = parser.expression(allow_cond=False)
            rest = ""
            if parser.at("if", "name"):
                parser.next()
                rest += f" if {parser.expression(allow_cond=False)}"
            if parser.at("recursive", "name"):
                parser.next()
                rest += " recursive"
            if not parser.done():
                raise PebbleSyntaxError("unexpected tokens in for tag")
            return f"for {_raw_tokens(tokens[1:inx])} in {iterable}{rest}"
    return _raw_tokens(tokens)


_RAW_TAG = re.compile(r"\{%([-+]?)\s*(raw|verbatim)\s*([-+]?)%\}")
_END_RAW = re.compile(r"\{%([-+]?)\s*(endraw|endverbatim)\s*([-+]?)%\}")


@lru_cache(maxsize=2048)
def translate(template: str) -> str:
    """Translate a whole Pebble/Jinja template into Jinja2 source."""
    if "{{" not in template and "{%" not in template:
        return template
    out: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        starts = [p for p in (template.find(d, i) for d in ("{{", "{%", "{#")) if p >= 0]
        if not starts:
            out.append(template[i:])
            break
        start = min(starts)
        out.append(template[i:start])
        opener = template[start : start + 2]
        if opener == "{#":
            end = template.find("#}", start + 2)
            end = n if end < 0 else end + 2
            out.append(template[start:end])
            i = end
            continue
        raw = _RAW_TAG.match(template, start)
        if raw:
            close = _END_RAW.search(template, raw.end())
            stop = close.end() if close else n
            body = template[raw.end() : close.start()] if close else template[raw.end() :]
            out.append("{%" + raw.group(1) + " raw " + raw.group(3) + "%}" + body)
            if close:
                out.append("{%" + close.group(1) + " endraw " + close.group(3) + "%}")
            i = stop
            continue
        body_start = start + 2
        lstrip = ""
        if body_start < n and template[body_start] in "-+":
            lstrip = template[body_start]
            body_start += 1
        closer = "}}" if opener == "{{" else "%}"
        scanned = scan_tag(template, body_start, closer)
        if scanned is None:
            out.append(template[start:])
            break
        tokens, close_at, end = scanned
        original = template[start:end]
        try:
            body = translate_expression(tokens) if opener == "{{" else _translate_block(tokens)
        except PebbleSyntaxError:
            out.append(original)
        else:
            out.append(f"{opener}{lstrip} {body} {template[close_at:end]}")
        i = end
    return "".join(out)
