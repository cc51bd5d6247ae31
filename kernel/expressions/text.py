"""String filters of Kestra's Pebble (substrings, escaping, hashing, encodings, indent)."""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
import urllib.parse
from collections.abc import Mapping
from typing import Any

from kernel.expressions.state import ExpressionError, LimitExceeded, kstr, require_defined


def _text(value: Any) -> str:
    return kstr(require_defined(value))


def abbreviate(value: Any, length: int) -> str:
    text = _text(value)
    length = int(length)
    if len(text) <= length:
        return text
    return text[: max(length - 3, 0)] + "..."


def capitalize(value: Any) -> str:
    text = _text(value)
    return text[:1].upper() + text[1:]


def title(value: Any) -> str:
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), _text(value))


def trim(value: Any, chars: str | None = None) -> str:
    return _text(value).strip(chars)


def substring_before(value: Any, separator: str) -> str:
    text, sep = _text(value), _text(separator)
    if not sep:
        return ""
    return text.split(sep, 1)[0]


def substring_after(value: Any, separator: str) -> str:
    text, sep = _text(value), _text(separator)
    if not sep:
        return text
    return text.split(sep, 1)[1] if sep in text else ""


def substring_before_last(value: Any, separator: str) -> str:
    text, sep = _text(value), _text(separator)
    if not sep or sep not in text:
        return text
    return text.rsplit(sep, 1)[0]


def substring_after_last(value: Any, separator: str) -> str:
    text, sep = _text(value), _text(separator)
    if not sep or sep not in text:
        return ""
    return text.rsplit(sep, 1)[1]


def _check_width(width: int) -> int:
    width = int(width)
    if width > 10_000:
        raise LimitExceeded(f"indentation of {width} is too large")
    return width


def indent(
    value: Any,
    amount: int = 4,
    prefix: str = " ",
    first: bool = False,
    blank: bool = True,
    width: int | None = None,
) -> str:
    """Kestra's indent: every line but the first gets `amount` × `prefix`."""
    pad = _text(prefix) * _check_width(width if width is not None else amount)
    lines = _text(value).split("\n")
    out = [
        (pad + line if (i > 0 or first) and (blank or line.strip()) else line)
        for i, line in enumerate(lines)
    ]
    return "\n".join(out)


def nindent(value: Any, amount: int = 4, prefix: str = " ") -> str:
    """A new line first, then every line indented (an empty value stays empty, as in
    Kestra)."""
    text = _text(value)
    return "\n" + indent(text, amount, prefix, first=True) if text else ""


def slugify(value: Any) -> str:
    """Kestra's Slugify: blanks become dashes, accents and other signs are dropped
    (``a.b`` -> ``ab``), ``_`` becomes ``-``, runs of dashes collapse, lower case."""
    text = unicodedata.normalize("NFD", re.sub(r"\s", "-", _text(value)))
    text = re.sub(r"[^A-Za-z0-9_-]", "", text).replace("_", "-")
    return re.sub(r"-{2,}", "-", text).strip("-").lower()


def urlencode(value: Any) -> str:
    require_defined(value)
    if isinstance(value, Mapping):
        return urllib.parse.urlencode({k: kstr(v) for k, v in value.items()})
    return urllib.parse.quote_plus(_text(value))


def urldecode(value: Any) -> str:
    return urllib.parse.unquote_plus(_text(value))


def base64encode(value: Any) -> str:
    return base64.b64encode(_text(value).encode()).decode()


def base64decode(value: Any) -> str:
    try:
        return base64.b64decode(_text(value), validate=False).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExpressionError(f"Invalid base64 value: {exc}") from None


def _hasher(name: str):  # noqa: ANN202
    def digest(value: Any) -> str:
        return hashlib.new(name, _text(value).encode()).hexdigest()

    digest.__name__ = name
    return digest


def escape_char(value: Any, type: str = "double") -> str:  # noqa: A002
    text = _text(value)
    kind = _text(type).lower()
    if kind == "single":
        return text.replace("\\", "\\\\").replace("'", "\\'")
    if kind == "double":
        return text.replace("\\", "\\\\").replace('"', '\\"')
    if kind == "shell":
        return text.replace("'", "'\\''")
    raise ExpressionError(f"escapeChar type must be single, double or shell, not '{type}'")


def starts_with(value: Any, prefix: str) -> bool:
    return _text(value).startswith(_text(prefix))


def ends_with(value: Any, suffix: str) -> bool:
    return _text(value).endswith(_text(suffix))


TEXT_FILTERS = {
    "abbreviate": abbreviate,
    "capitalize": capitalize,
    "title": title,
    "trim": trim,
    "upper": lambda value: _text(value).upper(),
    "lower": lambda value: _text(value).lower(),
    "substringBefore": substring_before,
    "substringAfter": substring_after,
    "substringBeforeLast": substring_before_last,
    "substringAfterLast": substring_after_last,
    "indent": indent,
    "nindent": nindent,
    "slugify": slugify,
    "urlencode": urlencode,
    "urldecode": urldecode,
    "base64encode": base64encode,
    "base64decode": base64decode,
    "md5": _hasher("md5"),
    "sha1": _hasher("sha1"),
    "sha256": _hasher("sha256"),
    "sha512": _hasher("sha512"),
    "escapeChar": escape_char,
    "startsWith": starts_with,
    "endsWith": ends_with,
}
