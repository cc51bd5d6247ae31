"""Production guards read by settings.py: the ``.env`` file and the refusals to start.

They live outside settings.py so that they can be read (and tested) on their own, and so
that the settings module stays a flat list of values.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

#: SECRET_KEY values that are known to the world: this project's development default and the
#: placeholders its example files used. A server with DEBUG off refuses every one of them.
PLACEHOLDER_SECRET_KEYS = frozenset(
    {
        "",
        "trellis-insecure-local-development-key-change-me",
        "change-me",
        "change-me-in-production",
        "changeme",
    }
)
MIN_SECRET_KEY_LENGTH = 50


def is_placeholder(value: str) -> bool:
    """A value copied from an example file unchanged ("CHANGE-ME", "change-me-in-production")."""
    folded = value.strip().lower().replace("_", "-")
    return folded in PLACEHOLDER_SECRET_KEYS or "change-me" in folded or "changeme" in folded


def load_env_file() -> Path | None:
    """Read ``.env`` into the environment; variables already set win over the file.

    The file is ``TRELLIS_ENV_FILE`` when set (an empty value reads none), else ``.env`` in the
    working directory: where a person runs ``trellis`` or ``manage.py``, as with docker
    compose's own ``.env``. Returns the file read, if any.
    """
    named = os.environ.get("TRELLIS_ENV_FILE")
    if named is not None and not named.strip():
        return None
    path = Path(named) if named else Path.cwd() / ".env"
    if not path.is_file():
        if named:  # a file asked for by name and missing is a mistake, not a default
            raise FileNotFoundError(f"TRELLIS_ENV_FILE names {path}, which does not exist")
        return None
    load_dotenv(path, override=False)
    return path.resolve()  # absolute: roles started in another folder read the same file


def production_refusals(
    *, secret_key: str, allowed_hosts: list[str], allowed_hosts_set: bool, encryption_key: str
) -> list[str]:
    """Why a server with DEBUG off must not start, one sentence per setting (empty: fine).

    Each is a mistake that works in a quick try and hurts later: a public SECRET_KEY lets
    anyone forge sessions; no ALLOWED_HOSTS answers every request with 400; a sealing key
    derived from SECRET_KEY makes every stored SECRET input unreadable once SECRET_KEY is
    rotated.
    """
    problems = []
    if (
        is_placeholder(secret_key)
        or len(secret_key) < MIN_SECRET_KEY_LENGTH
        or len(set(secret_key)) < 5
    ):
        problems.append(
            f"SECRET_KEY must be set to {MIN_SECRET_KEY_LENGTH} or more random characters "
            "(not a placeholder), e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'"
        )
    if not allowed_hosts_set or not allowed_hosts:
        problems.append(
            "ALLOWED_HOSTS must name the host names this server answers to, comma-separated "
            "(e.g. ALLOWED_HOSTS=trellis.example.com)"
        )
    if not encryption_key or is_placeholder(encryption_key):
        problems.append(
            "TRELLIS_ENCRYPTION_KEY must be set to a fixed key (32 random characters) that "
            "seals SECRET inputs at rest; derived from SECRET_KEY, they would be lost when "
            "SECRET_KEY changes"
        )
    return problems
