"""The KV store as the run context and expression functions see it (a thin adapter).

Bound to the running flow's :class:`~namespaces.boundaries.Boundary`, every call first asks
whether the flow may reach the namespace named (issue 21: ``kv('k', 'other.ns')`` and the
kv tasks' ``namespace:`` must not cross into a namespace that does not allow it). Without a
boundary (trusted callers) nothing is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kv import services

if TYPE_CHECKING:
    from namespaces.boundaries import Boundary


class KVStore:
    def __init__(self, boundary: Boundary | None = None) -> None:
        self.boundary = boundary

    def _reach(self, namespace: str, what: str) -> None:
        if self.boundary is not None:
            self.boundary.check(namespace, what)

    def set(self, namespace: str, key: str, value: Any, **options: Any) -> None:
        self._reach(namespace, "write its KV store")
        services.kv_set(namespace, key, value, **options)

    def get(self, namespace: str, key: str) -> Any:
        self._reach(namespace, "read its KV store")
        return services.kv_get(namespace, key)

    def keys(self, namespace: str, prefix: str = "") -> list[str]:
        self._reach(namespace, "read its KV store")
        return services.kv_keys(namespace, prefix)

    def delete(self, namespace: str, key: str) -> bool:
        self._reach(namespace, "write its KV store")
        return services.kv_delete(namespace, key)
