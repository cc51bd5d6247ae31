"""Secret values tracked through the expression sandbox (issue 21).

Text matching (:class:`kernel.secrets.Masker`) finds a secret only in the forms it can
guess; ``{{ secret('pw') | join(' ') }}``, a slice, a ``replace`` or a list of its letters
escape it. So a secret is *marked* instead: ``secret()`` and an opened SECRET input return a
:class:`SecretText`, a ``str`` that remembers which of its pieces are hidden. Every string
method on it, and every call, filter, operator and concatenation the sandbox runs on it
(``expressions.KestraEnvironment``'s hooks), returns a marked value again, so whatever a
template derives from a secret is known to be secret.

A marked value is used in clear where it is *used* (a plugin's property, an HTTP header), and
replaced wherever it is *stored* or *shown*:

* :func:`shown_form` (labels, log lines, error texts): hidden pieces become the mask;
* :func:`seal` (task-run values, decisions, outputs, a subflow's inputs): hidden values are
  sealed (:func:`kernel.secrets.seal_value`), and :func:`unseal` marks them again when
  they are read back to render, so a later task can still use them;
* :func:`kernel.secrets.shown` shows a sealed value as the mask.

Numbers and booleans derived from a secret are not marked (``secret('pw') | length``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kernel.secrets import MASK, SEAL_PREFIX, open_value, seal_value

#: Pieces: (text, hidden) pairs whose texts, joined, are the value.
Pieces = tuple[tuple[str, bool], ...]

#: A hidden piece shorter than this is not handed to the log masker (see :func:`fragments`):
#: masking every "a" in every log line would hide everything and protect nothing.
MIN_FRAGMENT = 4

_CONTAINERS = (Mapping, list, tuple, set, frozenset)
#: Types that never hold a marked string (checked by identity first: the walk is hot).
_PLAIN = frozenset({str, int, float, bool, type(None)})


class SecretText(str):
    """A string that is, or was derived from, a secret.

    ``pieces`` says which parts are hidden: ``'Bearer ' ~ secret('t')`` shows as
    ``Bearer ********``; a value transformed as a whole (``upper``, a slice) is one hidden
    piece. ``repr()`` shows the masked form, so an error message built with ``{value!r}``
    never carries the secret.
    """

    pieces: Pieces

    def __new__(cls, value: str, pieces: Pieces | None = None) -> SecretText:
        text = super().__new__(cls, value)
        text.pieces = pieces if pieces is not None else ((str.__str__(text), True),)
        return text

    # -- what may be stored or shown -----------------------------------------------------

    @property
    def shown(self) -> str:
        return "".join(MASK if hidden else text for text, hidden in self.pieces)

    def __repr__(self) -> str:
        return repr(self.shown)

    def __str__(self) -> str:
        return self  # str(x) keeps the mark (Jinja prints values with str())

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretText, (str.__str__(self), self.pieces))

    # -- operations that keep the mark ----------------------------------------------------

    def __add__(self, other: Any) -> Any:
        if not isinstance(other, str):
            return NotImplemented
        return join_pieces(self, other)

    def __radd__(self, other: Any) -> Any:
        if not isinstance(other, str):
            return NotImplemented
        return join_pieces(other, self)

    def __getitem__(self, key: Any) -> SecretText:
        return SecretText(str.__getitem__(self, key))

    def __iter__(self) -> Iterator[str]:
        return (SecretText(char) for char in str.__str__(self))

    def __mul__(self, times: Any) -> Any:
        result = str.__mul__(self, times)
        return result if result is NotImplemented else SecretText(result)

    __rmul__ = __mul__

    def __mod__(self, args: Any) -> Any:
        result = str.__mod__(self, args)
        return result if result is NotImplemented else SecretText(result)

    def __rmod__(self, template: Any) -> Any:
        if not isinstance(template, str):
            return NotImplemented
        return SecretText(template % str.__str__(self))


def _marked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: SecretText, *args: Any, **kwargs: Any) -> Any:
        return mark(method(self, *args, **kwargs))

    return wrapper


for _name in (
    "capitalize", "casefold", "center", "expandtabs", "format", "format_map", "join",
    "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace",
    "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "strip", "swapcase",
    "title", "translate", "upper", "zfill",
):  # fmt: skip
    setattr(SecretText, _name, _marked(getattr(str, _name)))


def join_pieces(*parts: str) -> str:
    """``parts`` concatenated, marked when one of them is."""
    if not any(isinstance(part, SecretText) for part in parts):
        return "".join(parts)
    pieces: list[tuple[str, bool]] = []
    for part in parts:
        for text, hidden in part.pieces if isinstance(part, SecretText) else ((part, False),):
            if pieces and pieces[-1][1] == hidden:  # neighbours alike: one piece
                text = pieces.pop()[0] + text
            if text:
                pieces.append((text, hidden))
    return SecretText("".join(text for text, _ in pieces), tuple(pieces))


# ----------------------------------------------------------------------------- deep helpers


def is_marked(value: Any, known: dict[int, tuple[Any, bool]] | None = None) -> bool:
    """Whether ``value`` is, or holds anywhere, a marked string. Each container is looked at
    once, however often it is shared (a template may build a list holding the same list
    twice, forty levels deep). ``known`` remembers the answer for a container (a render
    passes one: what it reads cannot change while it renders)."""
    kind = type(value)
    if kind is SecretText:
        return True
    if kind in _PLAIN:
        return False
    if known is not None:
        hit = known.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        answer = is_marked(value)
        known[id(value)] = (value, answer)
        return answer
    if isinstance(value, SecretText):
        return True
    if isinstance(value, str) or not isinstance(value, _CONTAINERS):
        return False
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        children = [*item.keys(), *item.values()] if isinstance(item, Mapping) else item
        kinds = set(map(type, children))  # one pass in C: most lists hold only plain values
        if kinds <= _PLAIN:
            continue
        if SecretText in kinds:
            return True
        for child in children:
            if type(child) in _PLAIN:
                continue
            if isinstance(child, SecretText):
                return True
            if not isinstance(child, str) and isinstance(child, _CONTAINERS):
                stack.append(child)
    return False


def any_marked(values: Iterable[Any], known: dict[int, tuple[Any, bool]] | None = None) -> bool:
    return any(is_marked(value, known) for value in values)


def mark(value: Any) -> Any:
    """``value`` with every string in it marked as wholly secret (what a filter or function
    returns when it was handed a secret). A container shared in ``value`` stays shared."""
    memo: dict[int, Any] = {}
    if isinstance(value, Iterator):  # Jinja's map/select/reverse/unique return generators:
        # read now, so the next filter is handed a list it can see the marks in
        return [_rebuild(v, _mark_text, memo) for v in value]
    return _rebuild(value, _mark_text, memo)


def _mark_text(text: str) -> SecretText:
    return text if isinstance(text, SecretText) else SecretText(text)


def _rebuild(value: Any, leaf: Callable[[str], Any], memo: dict[int, Any]) -> Any:
    """``value`` with ``leaf`` applied to each string (dict keys too); each container is
    rebuilt once (``memo``), so a shared part is neither walked again nor duplicated."""
    if isinstance(value, str):
        return leaf(value)
    if not isinstance(value, _CONTAINERS):
        return value
    key = id(value)
    if key in memo:
        return memo[key]
    if isinstance(value, Mapping):
        out: Any = {_rebuild(k, leaf, memo): _rebuild(v, leaf, memo) for k, v in value.items()}
    elif isinstance(value, list):
        out = [_rebuild(v, leaf, memo) for v in value]
    elif isinstance(value, tuple):
        out = tuple(_rebuild(v, leaf, memo) for v in value)
    else:
        out = type(value)(_rebuild(v, leaf, memo) for v in value)
    memo[key] = out
    return out


def _walk(value: Any, leaf: Callable[[SecretText], Any]) -> Any:
    """``value`` with ``leaf`` applied to each marked string."""
    return _rebuild(value, lambda t: leaf(t) if isinstance(t, SecretText) else t, {})


def shown_form(value: Any) -> Any:
    """``value`` as it may be stored for display (labels) or shown: hidden pieces masked."""
    return _walk(value, lambda text: text.shown)


def seal(value: Any) -> Any:
    """``value`` as it may be stored and read back: each marked string sealed."""
    if not is_marked(value):
        return value
    return _walk(value, lambda text: seal_value(str.__str__(text)))


def unseal(value: Any) -> Any:
    """``value`` read back from storage: each sealed string opened and marked again."""
    if isinstance(value, str):
        if value.startswith(SEAL_PREFIX):
            opened = open_value(value)
            return SecretText(opened) if isinstance(opened, str) else opened
        return value
    if isinstance(value, Mapping):
        return {unseal(k): unseal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unseal(v) for v in value]
    return value


def fragments(value: Any) -> set[str]:
    """The hidden texts in ``value`` long enough to mask in free text (log lines); a text
    whose hidden pieces are too short to mask alone (a secret's letters printed as a list)
    is handed over whole."""
    found: set[str] = set()
    if not is_marked(value):
        return found

    def collect(text: SecretText) -> SecretText:
        for piece, hidden in text.pieces:
            if not hidden:
                continue
            if len(piece.strip()) >= MIN_FRAGMENT:
                found.add(piece)
            elif len(str.__str__(text).strip()) >= MIN_FRAGMENT:
                found.add(str.__str__(text))
        return text

    _walk(value, collect)
    return found


def printed(
    value: Any,
    text: str,
    dumps: Callable[[Any], str] | None = None,
    known: dict[int, tuple[Any, bool]] | None = None,
) -> str:
    """``text``, the printed form of ``value``, marked when ``value`` holds a secret.

    With ``dumps`` (the JSON writer that made ``text`` from a list or map) only the secret
    strings inside are hidden: ``{"password":"********"}``. Otherwise the whole text is."""
    if isinstance(text, SecretText) or not is_marked(value, known):
        return text
    if dumps is not None and isinstance(value, _CONTAINERS):
        precise = _printed_json(value, text, dumps)
        if precise is not None:
            return precise
    return SecretText(text)


def _printed_json(value: Any, text: str, dumps: Callable[[Any], str]) -> SecretText | None:
    """``text`` (``dumps(value)``) split into pieces: each marked string is swapped for a
    token, the value written again, and the text between tokens is the plain part. None
    when the two writings do not line up (then the caller hides the whole text)."""
    leaves: list[SecretText] = []

    def token(leaf: SecretText) -> str:
        leaves.append(leaf)
        return f"\ue000{len(leaves) - 1}\ue001"

    try:
        template = dumps(_walk(value, token))
    except (TypeError, ValueError):
        return None
    pieces: list[tuple[str, bool]] = []
    for i, part in enumerate(template.split("\ue000")):
        if i:
            index, _, part = part.partition("\ue001")
            clear = json.dumps(str.__str__(leaves[int(index)]), ensure_ascii=False)[1:-1]
            pieces.append((clear, True))
        if part:
            pieces.append((part, False))
    joined = SecretText("".join(piece for piece, _ in pieces), tuple(pieces))
    return joined if str.__str__(joined) == str.__str__(text) else None


def scrub(message: str, values: Iterable[Any]) -> str:
    """``message`` (an error a filter or function raised while handed ``values``) with every
    hidden text of the marked values in it replaced by the mask: a parse error quoting the
    value it could not parse must not carry the secret into a log line (issue 21)."""
    hidden: set[str] = set()

    def collect(text: SecretText) -> SecretText:
        hidden.add(str.__str__(text))
        hidden.update(piece for piece, secret in text.pieces if secret)
        return text

    for value in values:
        _walk(value, collect)
    for text in sorted((h for h in hidden if h.strip()), key=len, reverse=True):
        message = message.replace(text, MASK)
    return message


def reveal(value: Any) -> Any:
    """``value`` read back from storage with every sealed string opened to plain text: for
    trusted readers inside Trellis that compare values (the Kestra compatibility runner,
    whose corpus reads a secret back from a Return's output), never for a view."""
    return _walk(unseal(value), str.__str__)
