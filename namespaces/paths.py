"""Namespace file paths: one spelling for every path a user gives (pure).

Kestra writes namespace file paths with a leading slash (``/scripts/etl.py``) and accepts
them without. Here a path is normalised once, at the edge, to ``/a/b.txt``: no empty, ``.``
or ``..`` segment, no backslash, no control character, segments of at most 255 characters.
Anything else is refused with :class:`PathRefused`, so a path can never climb out of its
namespace's folder in internal storage, whatever the storage backend does with ``..``.
"""

from __future__ import annotations

import fnmatch
import re
from urllib.parse import quote, unquote

ROOT = "/"
MAX_SEGMENT = 255
MAX_PATH = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NSFILE_SCHEME = "nsfile://"


class PathRefused(ValueError):
    """A namespace file path that is empty, climbs out (``..``) or holds odd characters."""


def normalize(path: str, *, allow_root: bool = False) -> str:
    """``a/b.txt``, ``/a//b.txt`` -> ``/a/b.txt``; the root is ``/`` (only if allowed)."""
    if not isinstance(path, str):
        raise PathRefused(f"a namespace file path must be text, not {type(path).__name__}")
    text = path.strip()
    if "\\" in text:
        raise PathRefused(f"invalid path {path!r}: use '/' between folders, not '\\'")
    if _CONTROL.search(text):
        raise PathRefused(f"invalid path {path!r}: control characters are not allowed")
    segments = [s for s in text.split("/") if s != ""]
    for segment in segments:
        if segment in (".", ".."):
            raise PathRefused(f"invalid path {path!r}: '.' and '..' are not allowed")
        if len(segment) > MAX_SEGMENT:
            raise PathRefused(f"invalid path {path!r}: a name is longer than {MAX_SEGMENT}")
    if not segments:
        if allow_root:
            return ROOT
        raise PathRefused("a namespace file path is required (like /scripts/etl.py)")
    normal = "/" + "/".join(segments)
    if len(normal) > MAX_PATH:
        raise PathRefused(f"invalid path: longer than {MAX_PATH} characters")
    return normal


def parent_of(path: str) -> str:
    """``/a/b.txt`` -> ``/a``; ``/b.txt`` -> ``/``."""
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def ancestors(path: str) -> list[str]:
    """Folders above ``path``, outermost first, the root excluded: ``/a/b/c`` -> [/a, /a/b]."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def name_of(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it."""
    return folder == ROOT or path == folder or path.startswith(folder + "/")


def storage_suffix(path: str) -> str:
    """The part of a storage URI after the namespace prefix (each name percent-encoded, so
    a file named ``100%.txt`` survives the URI round trip)."""
    return "/".join(quote(segment, safe="") for segment in path.strip("/").split("/"))


def matches(path: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Kestra's include/exclude globs (``**/*.py``, ``scripts/*``), with or without a
    leading slash; ``**/`` also matches the top folder."""
    relative = path.lstrip("/")
    for pattern in patterns:
        pat = str(pattern).lstrip("/")
        if fnmatch.fnmatchcase(relative, pat):
            return True
        if pat.startswith("**/") and fnmatch.fnmatchcase(relative, pat[3:]):
            return True
    return False


def parse_nsfile_uri(uri: str, default_namespace: str) -> tuple[str, str]:
    """``nsfile:///data.csv`` (the flow's namespace) or ``nsfile://other.ns/data.csv`` ->
    (namespace, normalised path)."""
    if not isinstance(uri, str) or not uri.startswith(NSFILE_SCHEME):
        raise PathRefused(f"not a namespace file URI: {uri!r}")
    rest = uri[len(NSFILE_SCHEME) :]
    namespace, _, path = rest.partition("/")
    return namespace or default_namespace, normalize(unquote(path))
