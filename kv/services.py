"""Read and write the KV store. Keys follow Kestra's rule (letters, digits, `.`, `-`, `_`);
values are typed (inferred when not given) and may expire."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from access.policy import within
from kernel.depth import TooDeep, check_depth
from kernel.durations import DurationError, parse_duration
from kv.models import KV_TYPES, KVEntry

KEY = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]*")


class KVError(ValueError):
    """A bad key, type or TTL, or a key that exists when overwriting is refused."""


def _live(namespace: str) -> Any:
    now = timezone.now()
    return KVEntry.objects.filter(namespace=namespace).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER"
    if isinstance(value, datetime):
        return "DATETIME"
    if isinstance(value, date):
        return "DATE"
    if isinstance(value, timedelta):
        return "DURATION"
    if isinstance(value, dict | list):
        return "JSON"
    return "STRING"


def kv_set(
    namespace: str,
    key: str,
    value: Any,
    *,
    value_type: str | None = None,
    ttl: str | None = None,
    overwrite: bool = True,
    description: str = "",
) -> KVEntry:
    if not KEY.fullmatch(str(key)):
        raise KVError(f"invalid KV key {key!r}: letters, digits, '.', '-' and '_' only")
    kind = (value_type or infer_type(value)).upper()
    if kind not in KV_TYPES:
        raise KVError(f"unknown KV type {kind!r}: one of {', '.join(KV_TYPES)}")
    expires = None
    if ttl:
        try:
            expires = timezone.now() + parse_duration(ttl)
        except DurationError as exc:
            raise KVError(f"invalid ttl: {exc}") from None
    if isinstance(value, datetime | date):
        value = value.isoformat()
    try:  # stored as JSON and walked when read back: bounded like every document (issue 21)
        check_depth(value)
    except TooDeep as exc:
        raise KVError(f"invalid KV value for {key!r}: {exc}") from None
    with transaction.atomic():
        existing = _live(namespace).select_for_update().filter(key=key).first()
        if existing is not None and not overwrite:
            raise KVError(f"key {key!r} already exists in namespace {namespace!r}")
        entry, _ = KVEntry.objects.update_or_create(
            namespace=namespace, key=key,
            defaults={"value": value, "value_type": kind, "expires_at": expires,
                      "description": description},
        )  # fmt: skip
    return entry


def kv_get(namespace: str, key: str) -> Any:
    """The value, or LookupError when the key is missing or expired."""
    entry = _live(namespace).filter(key=key).first()
    if entry is None:
        raise LookupError(f"The key '{key}' does not exist in the namespace '{namespace}'.")
    return entry.value


def kv_keys(namespace: str, prefix: str = "") -> list[str]:
    rows = _live(namespace)
    if prefix:
        rows = rows.filter(key__startswith=prefix)
    return list(rows.order_by("key").values_list("key", flat=True))


def kv_delete(namespace: str, key: str) -> bool:
    deleted, _ = KVEntry.objects.filter(namespace=namespace, key=key).delete()
    return bool(deleted)


def kv_purge(
    namespaces: list[str], *, children: bool, key_pattern: str | None, expired_only: bool
) -> int:
    """Delete the entries of ``namespaces`` (and the namespaces inside them with
    ``children``) whose key matches the glob ``key_pattern``; only expired ones with
    ``expired_only``. Returns how many were deleted."""
    import fnmatch

    from django.utils import timezone

    rows = KVEntry.objects.none()
    for namespace in namespaces:
        every = KVEntry.objects.all()
        rows |= within(every, namespace) if children else every.filter(namespace=namespace)
    if expired_only:
        rows = rows.filter(expires_at__lte=timezone.now())
    ids = [
        pk for pk, key in rows.values_list("pk", "key")
        if not key_pattern or fnmatch.fnmatchcase(key, key_pattern)
    ]  # fmt: skip
    return KVEntry.objects.filter(pk__in=ids).delete()[0]
