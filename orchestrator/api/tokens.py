"""API token use cases: create one (the key is returned once) and resolve a presented key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from orchestrator.models import ApiToken, hash_key

KEY_PREFIX = "trl_"


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    #: The clear key: shown to the user now, never stored.
    key: str


def token_create(*, user, name: str = "", expires_at: datetime | None = None) -> CreatedToken:
    """A new token for ``user``. The returned ``key`` cannot be recovered later."""
    key = new_key()
    token = ApiToken(user=user, name=name, expires_at=expires_at)
    store_key(token, key)
    token.save()
    return CreatedToken(token=token, key=key)


def new_key() -> str:
    """A fresh random key (256 bits), recognisable by its ``trl_`` prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def store_key(token: ApiToken, key: str) -> None:
    """Set the hashed form (and the clear prefix) of ``key`` on an unsaved token."""
    token.prefix = key[:12]
    token.key_hash = hash_key(key)


def token_resolve(key: str) -> ApiToken | None:
    """The live token whose key is ``key`` (not revoked, not expired), or None.

    Updates ``last_used_at`` at most once a minute so reads do not turn into a write each.
    """
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_key(key), revoked=False)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None:
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
