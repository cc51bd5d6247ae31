"""The KV store as the run context and expression functions see it (a thin adapter)."""

from __future__ import annotations

from typing import Any

from kv import services


class KVStore:
    def set(self, namespace: str, key: str, value: Any, **options: Any) -> None:
        services.kv_set(namespace, key, value, **options)

    def get(self, namespace: str, key: str) -> Any:
        return services.kv_get(namespace, key)

    def keys(self, namespace: str, prefix: str = "") -> list[str]:
        return services.kv_keys(namespace, prefix)

    def delete(self, namespace: str, key: str) -> bool:
        return services.kv_delete(namespace, key)
