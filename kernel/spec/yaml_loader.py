"""Safe YAML loading that keeps the line and column of every value.

Why not ``yaml.safe_load``: a user needs ``file:line:col`` for every problem, and the plain
loader forgets where values came from. We compose the node graph with PyYAML's SafeLoader and
build our own :class:`Node` tree from it. Anchors and aliases are refused outright (an alias
bomb is never expanded), as are duplicate keys, non-scalar keys, custom tags, oversized or
non-UTF-8 documents, multi-document streams and documents nested deeper than
``kernel.depth.MAX_DEPTH`` (refused while composing, before any recursion could run out of
stack). Timestamps stay strings, as Kestra reads them. Pure: no Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from kernel.depth import MAX_DEPTH, Segment, TooDeep

MAX_DOCUMENT_BYTES = 1024 * 1024

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}
_SCALARS = SafeConstructor()


class YamlProblem(Exception):
    """A document that cannot be loaded at all; ``line``/``col`` are 1-based."""

    def __init__(self, message: str, line: int = 1, col: int = 1, path: str = "") -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.path = message, line, col, path


@dataclass(slots=True)
class Node:
    """One YAML value with its position. ``value`` holds ``dict[str, Node]`` for a mapping,
    ``list[Node]`` for a sequence and a plain Python scalar otherwise."""

    value: Any
    line: int
    col: int
    #: Position of each mapping key (1-based line, col), for "unknown property" errors.
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_seq(self) -> bool:
        return isinstance(self.value, list)

    def get(self, key: str) -> Node | None:
        return self.value.get(key) if isinstance(self.value, dict) else None

    def key_pos(self, key: str) -> tuple[int, int]:
        return self.keys.get(key, (self.line, self.col))

    def plain(self) -> Any:
        """The value as plain Python data (dicts, lists, scalars)."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


def plain_node(value: Any, line: int, col: int) -> Node:
    """Wrap plain data (e.g. a default from code) as a Node placed at ``line:col``."""
    if isinstance(value, dict):
        return Node({str(k): plain_node(v, line, col) for k, v in value.items()}, line, col)
    if isinstance(value, list):
        return Node([plain_node(v, line, col) for v in value], line, col)
    return Node(value, line, col)


def decode(source: str | bytes) -> str:
    """UTF-8 text of a document within the size limit, else YamlProblem."""
    if isinstance(source, str):
        size = len(source.encode("utf-8", "surrogatepass"))
        text = source
    else:
        size = len(source)
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = source[: exc.start]
            line = before.count(b"\n") + 1
            col = exc.start - (before.rfind(b"\n") + 1) + 1
            raise YamlProblem(
                f"the document is not valid UTF-8 (byte 0x{source[exc.start]:02x})", line, col
            ) from None
    if size > MAX_DOCUMENT_BYTES:
        raise YamlProblem(f"the document is {size} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    return text.removeprefix("\ufeff")


def _base_loader() -> type:
    """libyaml's event parser under PyYAML's Python composer when available (about ten times
    faster than the pure-Python scanner), else the pure-Python SafeLoader. Either way the
    composer is Python, so the anchor/alias hook below always runs."""
    try:
        from yaml._yaml import CParser
    except ImportError:
        return yaml.SafeLoader

    class _CLoader(Composer, CParser, SafeConstructor, Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)

    return _CLoader


class _Composer(_base_loader()):  # type: ignore[misc]
    """Loader that refuses anchors and aliases before the composer resolves them, and
    collections nested deeper than MAX_DEPTH before the (recursive) composer descends."""

    #: Key or index by which each open collection was reached (None for the root).
    _open: list[Segment | None]

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise _mark_problem("YAML aliases (*name) are not allowed", event.start_mark)
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor:
            raise _mark_problem("YAML anchors (&name) are not allowed", event.start_mark)
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        opened = self._open
        segment = _segment(parent, index)
        if len(opened) >= MAX_DEPTH:
            path = [s for s in (*opened, segment) if s is not None]
            exc = TooDeep(path)
            problem = _mark_problem(exc.reason, event.start_mark)
            problem.path = exc.where
            raise problem
        opened.append(segment)
        try:
            return super().compose_node(parent, index)
        finally:
            opened.pop()


def _segment(parent: Any, index: Any) -> Segment | None:
    """How the composer reached a node: a list index, a mapping key, or None (the root)."""
    if parent is None:
        return None
    if isinstance(index, int):
        return index
    if isinstance(index, ScalarNode):
        return str(index.value)
    return "?"  # a collection used as a mapping key (refused later anyway)


# YAML 1.2 booleans, as Kestra's parser reads them: `yes`, `no`, `on`, `off` stay strings
# (a task called `yes` or a label `on: true` must mean what it says).
_Composer.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}
_Composer.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _mark_problem(message: str, mark: Any) -> YamlProblem:
    if mark is None:
        return YamlProblem(message)
    return YamlProblem(message, mark.line + 1, mark.column + 1)


def load(source: str | bytes) -> tuple[Node | None, list[YamlProblem]]:
    """Parse one YAML document. Returns the tree (None for an empty document) and the
    non-fatal problems (duplicate keys, odd keys, custom tags); raises YamlProblem when the
    document cannot be read at all."""
    text = decode(source)
    loader = _Composer(text)
    try:
        root = loader.get_single_node()
    except YamlProblem:
        raise
    except yaml.composer.ComposerError as exc:
        if "single document" in f"{exc.context} {exc.problem}":
            raise _mark_problem(
                "several YAML documents in one flow; write one flow per document",
                exc.problem_mark,
            ) from None
        raise _yaml_error(exc) from None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc) from None
    except yaml.YAMLError as exc:  # reader errors (control characters)
        raise YamlProblem(str(exc).splitlines()[0]) from None
    finally:
        loader.dispose()
    if root is None:
        return None, []
    problems: list[YamlProblem] = []
    return _build(root, problems), problems


def _yaml_error(exc: yaml.MarkedYAMLError) -> YamlProblem:
    message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
    return _mark_problem(f"invalid YAML: {message}", exc.problem_mark or exc.context_mark)


def _build(node: Any, problems: list[YamlProblem]) -> Node:
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    if node.tag not in _PLAIN_TAGS:
        problems.append(YamlProblem(f"YAML tag {node.tag!r} is not allowed", line, col))
    if isinstance(node, MappingNode):
        out: dict[str, Node] = {}
        keys: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            kline, kcol = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if not isinstance(key_node, ScalarNode):
                problems.append(YamlProblem("mapping keys must be plain values", kline, kcol))
                continue
            key = key_node.value
            if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(YamlProblem("YAML merge keys (<<) are not allowed", kline, kcol))
                continue
            if key in out:
                first = keys[key][0]
                problems.append(
                    YamlProblem(
                        f"duplicate key {key!r} (first defined on line {first})", kline, kcol
                    )
                )
                continue
            keys[key] = (kline, kcol)
            out[key] = _build(value_node, problems)
        return Node(out, line, col, keys)
    if isinstance(node, SequenceNode):
        return Node([_build(item, problems) for item in node.value], line, col)
    if node.tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"):
        return Node(node.value, line, col)
    if node.tag not in _PLAIN_TAGS:
        return Node(node.value, line, col)
    try:
        return Node(_SCALARS.construct_object(node), line, col)
    except (yaml.YAMLError, ValueError):
        return Node(node.value, line, col)


_DOC_START = re.compile(r"^---(?:\s|$)")
_DOC_END = re.compile(r"^\.\.\.\s*$")


@dataclass(frozen=True)
class Document:
    #: The document's text (without its ``---`` line).
    text: str
    #: 1-based line of the document's first line in the whole source.
    start_line: int


def split_documents(source: str | bytes) -> list[Document]:
    """Split a multi-document YAML file on ``---``/``...`` lines, keeping where each starts.

    Documents with nothing but blanks and comments are dropped. Line numbers reported by
    ``parse_flow`` for a document plus ``start_line - 1`` are lines of the whole file.
    """
    text = source.decode("utf-8") if isinstance(source, bytes) else source
    return list(_documents(text.removeprefix("\ufeff")))


def _documents(text: str) -> Iterator[Document]:
    current: list[str] = []
    start = 1
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        bare = line.rstrip("\r\n")
        if _DOC_START.match(bare) or _DOC_END.match(bare):
            doc = _document(current, start)
            if doc is not None:
                yield doc
            current, start = [], number + 1
            rest = bare[3:].strip() if _DOC_START.match(bare) else ""
            if rest and not rest.startswith("#"):  # "--- id: x" starts the document inline
                current, start = [rest + "\n"], number
            continue
        current.append(line)
    doc = _document(current, start)
    if doc is not None:
        yield doc


def _document(lines: list[str], start: int) -> Document | None:
    meaningful = any(ln.strip() and not ln.lstrip().startswith("#") for ln in lines)
    return Document("".join(lines), start) if meaningful else None
