"""The KV store: typed values per namespace, TTLs, refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kv.models import KVEntry
from kv.services import KVError, kv_delete, kv_get, kv_keys, kv_set

pytestmark = pytest.mark.django_db


def test_values_are_typed_and_namespaced() -> None:
    kv_set("a", "n", 3)
    kv_set("a", "doc", {"x": [1]})
    kv_set("b", "n", "other")
    assert kv_get("a", "n") == 3
    assert kv_get("a", "doc") == {"x": [1]}
    assert KVEntry.objects.get(namespace="a", key="doc").value_type == "JSON"
    assert kv_get("b", "n") == "other"
    assert kv_keys("a") == ["doc", "n"]
    assert kv_keys("a", prefix="d") == ["doc"]


def test_expired_entries_read_as_missing() -> None:
    kv_set("a", "short", "x", ttl="PT1H")
    KVEntry.objects.filter(key="short").update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(LookupError, match="does not exist"):
        kv_get("a", "short")
    assert kv_keys("a") == []


@pytest.mark.parametrize(
    ("key", "options", "message"),
    [("bad key", {}, "invalid KV key"), ("k", {"value_type": "BLOB"}, "unknown KV type"),
     ("k", {"ttl": "soon"}, "invalid ttl")],
)  # fmt: skip
def test_bad_writes_are_refused(key, options, message) -> None:
    with pytest.raises(KVError, match=message):
        kv_set("a", key, 1, **options)
    assert KVEntry.objects.count() == 0


def test_overwrite_can_be_refused_and_delete_says_what_it_did() -> None:
    kv_set("a", "k", 1)
    with pytest.raises(KVError, match="already exists"):
        kv_set("a", "k", 2, overwrite=False)
    assert kv_get("a", "k") == 1
    assert kv_delete("a", "k") is True
    assert kv_delete("a", "k") is False
