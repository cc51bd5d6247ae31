"""Secrets and `envs` from the process environment, as Kestra's open-source edition does.

`SECRET_<NAME>` holds the base64 of the secret (line breaks allowed, as `base64 -w 76` writes
them); a value that is not valid base64 text is used as it is. `Masker` hides every known
secret, and its base64 and URL-encoded forms, in text such as logs.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "SECRET_"
MASK = "******"


class SecretNotFound(LookupError):
    """No secret with that name; the message is Kestra's."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Cannot find secret for key '{name}'.")
        self.name = name


def _decode(raw: str) -> str:
    compact = re.sub(r"[\r\n]", "", raw).strip()
    if not compact:
        return raw
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return raw


def find_secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret's value, or None when no `SECRET_<NAME>` variable exists."""
    env = os.environ if environ is None else environ
    raw = env.get(SECRET_PREFIX + str(name).upper())
    return None if raw is None else _decode(raw)


def get_secret(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The secret's value; raises SecretNotFound."""
    value = find_secret(name, environ)
    if value is None:
        raise SecretNotFound(name)
    return value


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value defined in the environment (decoded)."""
    env = os.environ if environ is None else environ
    return [_decode(raw) for key, raw in env.items() if key.startswith(SECRET_PREFIX)]


def env_vars(
    environ: Mapping[str, str] | None = None, prefixes: tuple[str, ...] = ("TRELLIS_", "KESTRA_")
) -> dict[str, str]:
    """`envs` for expressions: prefixed variables, prefix stripped, lower-cased
    (`KESTRA_TEST1` -> `test1`)."""
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for key, value in env.items():
        for prefix in prefixes:
            if key.startswith(prefix) and len(key) > len(prefix):
                out[key[len(prefix) :].lower()] = value
                break
    return out


class Masker:
    """Replace known secret values (plain, base64, URL-encoded) with `******`."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in values:
            self.add(value)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Masker:
        return cls(secret_values(environ))

    def add(self, value: str) -> None:
        """Remember one more secret (e.g. one a task read with `secret()`)."""
        if not value:
            return
        forms = {
            value,
            base64.b64encode(value.encode()).decode(),
            urllib.parse.quote(value, safe=""),
            urllib.parse.quote_plus(value),
        }
        new = {form for form in forms if form} - self._forms
        if new:
            self._forms |= new
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(form) for form in ordered))

    def mask(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)
