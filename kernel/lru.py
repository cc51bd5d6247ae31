"""A small bounded, thread-safe LRU map for the per-process caches of the executor and the
worker (flow specs, snapshots): Celery's prefork children are single-threaded, but the web
process and the worker's heartbeat thread share a process with them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``maxsize`` entries and at most ``max_weight`` total weight (``weight(value)``,
    1 per entry by default); the least recently used entries go first."""

    def __init__(
        self,
        maxsize: int,
        *,
        max_weight: int | None = None,
        weight: Callable[[V], int] | None = None,
    ) -> None:
        self.maxsize, self.max_weight = maxsize, max_weight
        self._weight = weight or (lambda value: 1)
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return entry[0]

    def pop(self, key: K) -> V | None:
        with self._lock:
            entry = self._data.pop(key, None)
            if entry is None:
                self.misses += 1
                return None
            self._total -= entry[1]
            self.hits += 1
            return entry[0]

    def put(self, key: K, value: V) -> None:
        weight = self._weight(value)
        if self.max_weight is not None and weight > self.max_weight:
            return  # bigger than the whole cache: not worth evicting everything else
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._total -= old[1]
            self._data[key] = (value, weight)
            self._total += weight
            while len(self._data) > self.maxsize or (
                self.max_weight is not None and self._total > self.max_weight
            ):
                _, (_, dropped) = self._data.popitem(last=False)
                self._total -= dropped

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._total = 0

    def __len__(self) -> int:
        return len(self._data)
