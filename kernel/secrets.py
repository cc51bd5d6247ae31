"""Secrets and `envs` from the process environment, as Kestra's open-source edition does.

`SECRET_<NAME>` holds the base64 of the secret (line breaks allowed, as `base64 -w 76` writes
them); a value that is not valid base64 text is used as it is. `Masker` hides every known
secret, and its base64 and URL-encoded forms, in text such as logs. SECRET-typed execution
inputs are stored sealed (`seal_secret`) and opened only to render (`open_secret`); values a
template derived from a secret are stored sealed too (`seal_value`, see kernel.taint), and
`shown`/`shown_inputs` show both as :data:`MASK`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kernel import config

SECRET_PREFIX = "SECRET_"
#: What a hidden value shows as (Kestra prints eight asterisks).
MASK = "********"
#: How a value sealed by :func:`seal_value` starts (recognised wherever it is shown).
SEAL_PREFIX = "trellis:sealed:v1:"


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
    (`KESTRA_TEST1` -> `test1`). Trellis's own configuration variables that hold keys,
    passwords, connection URLs or storage credentials (`TRELLIS_ENCRYPTION_KEY`,
    `TRELLIS_ADMIN_PASSWORD`, `TRELLIS_STORAGE_OPTIONS`...) are never exposed."""
    if environ is None:
        return dict(_from_environ(f"envs{prefixes}", lambda env: env_vars(env, prefixes)))
    out: dict[str, str] = {}
    for key, value in environ.items():
        for prefix in prefixes:
            if key.startswith(prefix) and len(key) > len(prefix):
                if prefix == "TRELLIS_" and _CONFIDENTIAL_CONFIG.search(key[len(prefix) :]):
                    break
                out[key[len(prefix) :].lower()] = value
                break
    return out


#: Names of TRELLIS_ variables that are configuration, not flow data, and may be confidential.
_CONFIDENTIAL_CONFIG = re.compile(
    r"KEY|SECRET|PASSW|TOKEN|CREDENTIAL|AUTH|PRIVATE|OPTIONS|_DB$|_URL$|^ADMIN_|^BENCH_|"
    r"^STORAGE_|^TEST_DB$",
    re.IGNORECASE,
)


#: A line of a multi-line secret is masked on its own (scripts log line by line) when it has
#: at least this many characters: shorter ones ("}", "-----") say nothing and are everywhere.
MIN_LINE_FORM = 6


def secret_forms(value: str) -> set[str]:
    """The texts under which a secret commonly shows up in a log or an output.

    The value itself and reversed (`| reverse`); base64 (standard and URL-safe, with and
    without padding: `| base64encode`, HTTP basic auth of the bare value); URL-encoded
    (`| urlencode`, query strings); JSON-escaped (the value inside a JSON document); and each
    line of a multi-line value (a script echoing a PEM key logs it line by line). Changes of
    case (`| upper`, `| title`) are caught by matching case-insensitively. A value that is
    empty or only whitespace has no forms: it would mask every blank.
    """
    if not value or not value.strip():
        return set()
    raw = value.encode("utf-8")
    forms = {
        value,
        value[::-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    forms |= {f.rstrip("=") for f in forms if f.endswith("=")}
    if "\n" in value:
        forms |= {line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_LINE_FORM}
    return {form for form in forms if form.strip()}


class Masker:
    """Replace known secret values, in every form :func:`secret_forms` lists, with :data:`MASK`.

    Matching ignores case, so a secret passed through `upper` or `lower` is hidden too (at the
    price of also hiding a different-case word that happens to spell the secret)."""

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
        new = secret_forms(str(value) if value is not None else "") - self._forms
        if new:
            self._forms |= new
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(form) for form in ordered), re.IGNORECASE)

    def copy(self) -> Masker:
        twin = Masker()
        twin._forms, twin._pattern = set(self._forms), self._pattern
        return twin

    def mask(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def mask_value(self, value: Any) -> Any:
        """``value`` with every string in it masked (dict keys too): for task outputs and
        other JSON documents about to be stored or shown."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {self.mask_value(k): self.mask_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.mask_value(v) for v in value)
        return value


@functools.lru_cache(maxsize=4)
def _masker_of(raw: tuple[tuple[str, str], ...]) -> Masker:
    """One Masker per set of ``SECRET_*`` variables (decoded once, not per value shown)."""
    return Masker.from_environ(dict(raw))


def environ_masker(environ: Mapping[str, str] | None = None) -> Masker:
    """A Masker of the environment's secrets that the caller may teach more (``add``):
    a copy of the cached one, so a hop of the executor does not decode every secret again."""
    if environ is None:
        return _from_environ("masker", environ_masker).copy()
    raw = tuple(sorted((k, v) for k, v in environ.items() if k.startswith(SECRET_PREFIX)))
    return _masker_of(raw).copy()


_derived: dict[str, tuple[Any, Any]] = {}


def _from_environ(name: str, derive: Callable[[Mapping[str, str]], Any]) -> Any:
    """``derive(os.environ)``, computed again only when the environment changed. Workers
    ask for the masker and ``envs`` on every task run: decoding every variable each time
    was a twentieth of a task worker's time. The environment's raw bytes (CPython keeps
    them in ``os.environ._data``) are compared as they are, without decoding."""
    data = getattr(os.environ, "_data", None)
    if data is None:  # not CPython's mapping: no cheap way to tell a change
        return derive(os.environ)
    key = tuple(data.items())
    kept = _derived.get(name)
    if kept is not None and kept[0] == key:
        return kept[1]
    value = derive(os.environ)
    _derived[name] = (key, value)
    return value


def shown(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """``value`` (task or flow outputs) as it may be shown: every secret of the environment
    masked.

    A value a template derived from a secret is stored sealed (kernel.taint) and shown
    here as the mask. Other outputs are stored as the task returned them (a script may print
    a secret a later task needs), so environment secrets are also masked by text where
    outputs leave Trellis — the API's documents, the admin's pages, the CLI, webhook
    responses. The serving process therefore needs the same `SECRET_*` variables as the
    workers, as it already does for webhook keys written `{{ secret('...') }}`."""
    env = os.environ if environ is None else environ
    raw = tuple(sorted((k, v) for k, v in env.items() if k.startswith(SECRET_PREFIX)))
    return _masker_of(raw).mask_value(_hide_sealed(value))


def _hide_sealed(value: Any) -> Any:
    """``value`` with every sealed string (:func:`seal_value`) shown as the mask."""
    if isinstance(value, str):
        return MASK if value.startswith(SEAL_PREFIX) else value
    if isinstance(value, Mapping):
        return {_hide_sealed(k): _hide_sealed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_hide_sealed(v) for v in value)
    return value


def shown_inputs(inputs: Any, environ: Mapping[str, str] | None = None) -> Any:
    """An execution's inputs as they may be shown, to any user: what :func:`shown` hides,
    and SECRET inputs (stored sealed by :func:`seal_secret`) as the mask, never their
    ciphertext. A sealed SECRET input is recognised by opening it: only a value this
    installation sealed opens (AES-GCM authenticates it); a base64 text that does not open
    (a STRING input holding a token, or a value sealed before the key changed) is shown as
    it is, which tells nothing of a secret."""
    if not isinstance(inputs, Mapping):
        return shown(inputs, environ)
    return shown({k: MASK if _is_sealed_input(v) else v for k, v in inputs.items()}, environ)


def _is_sealed_input(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 40 or value.startswith(SEAL_PREFIX):
        return False
    try:
        return open_secret(value) is not value
    except SecretUnreadable:
        return False


# ------------------------------------------------------------------- SECRET inputs at rest

#: AES-GCM nonce and tag sizes (Kestra's layout: base64 of nonce + ciphertext + tag).
_NONCE_BYTES, _TAG_BYTES = 12, 16


def encryption_key(configured: str | None = None, secret_key: str | None = None) -> bytes:
    """The 256-bit key SECRET inputs are sealed with.

    ``TRELLIS_ENCRYPTION_KEY`` when set: used as is when it is 32 bytes long (so the value of
    Kestra's ``kestra.encryption.secret-key`` opens Kestra's values and vice versa), hashed
    otherwise; without it, a key derived from Django's ``SECRET_KEY`` (changing SECRET_KEY
    then makes stored SECRET inputs unreadable, as it does sessions).
    """
    if configured is None or secret_key is None:
        configured = config.setting("TRELLIS_ENCRYPTION_KEY", "") or ""
        secret_key = config.setting("SECRET_KEY", "")
        if not configured and not secret_key:
            raise RuntimeError("no TRELLIS_ENCRYPTION_KEY nor SECRET_KEY to derive a key from")
    if configured:
        raw = configured.encode()
        return raw if len(raw) == 32 else hashlib.sha256(raw).digest()
    return hmac.new(secret_key.encode(), b"trellis.secret-inputs", hashlib.sha256).digest()


def seal_secret(value: str, key: bytes | None = None) -> str:
    """``value`` encrypted (AES-256-GCM, random nonce) as base64 text, for storing."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key or encryption_key()).encrypt(nonce, str(value).encode(), None)
    return base64.b64encode(nonce + sealed).decode()


class SecretUnreadable(ValueError):
    """A sealed value that the current key cannot open (the key changed)."""


def open_secret(token: Any, key: bytes | None = None) -> Any:
    """The clear text of a value :func:`seal_secret` made.

    A value that is not a sealed one (an execution stored before sealing existed, or inputs
    a trusted caller stored unvalidated) comes back unchanged; a sealed-looking value the key
    cannot open raises SecretUnreadable rather than passing ciphertext off as the secret.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not isinstance(token, str):
        return token
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return token
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        return token
    try:
        clear = AESGCM(key or encryption_key()).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None
        )
    except InvalidTag:
        raise SecretUnreadable(
            "a SECRET input cannot be decrypted: TRELLIS_ENCRYPTION_KEY (or SECRET_KEY) "
            "changed since the execution was created"
        ) from None
    return clear.decode("utf-8", errors="replace")


# ------------------------------------------------------------- values derived from secrets


def _value_nonce(key: bytes, clear: bytes) -> bytes:
    return hmac.new(key, b"trellis.sealed-nonce:" + clear, hashlib.sha256).digest()[:_NONCE_BYTES]


def seal_value(value: str, key: bytes | None = None) -> str:
    """``value`` (a secret or a value derived from one, see kernel.taint) sealed for
    storing: :data:`SEAL_PREFIX` + base64 of AES-256-GCM.

    Unlike :func:`seal_secret` the nonce is derived from the value (HMAC), so the same value
    always seals to the same text: a ForEach over secrets stores its values sealed, and
    planning again must find its children by those values (at the price of showing which
    sealed values are equal)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = key or encryption_key()
    clear = str.__str__(value).encode()
    nonce = _value_nonce(key, clear)
    sealed = AESGCM(key).encrypt(nonce, clear, SEAL_PREFIX.encode())
    return SEAL_PREFIX + base64.b64encode(nonce + sealed).decode()


def open_value(token: str, key: bytes | None = None) -> str:
    """The clear text of a value :func:`seal_value` made; anything else comes back as it is,
    and so does a value the key cannot open (shown as the mask, never used in clear)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not isinstance(token, str) or not token.startswith(SEAL_PREFIX):
        return token
    try:
        raw = base64.b64decode(token[len(SEAL_PREFIX) :], validate=True)
        clear = AESGCM(key or encryption_key()).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], SEAL_PREFIX.encode()
        )
    except (binascii.Error, ValueError, InvalidTag):
        return token
    return clear.decode("utf-8", errors="replace")
