"""The bounded map behind the executor's and the worker's per-process caches: it must stay
within its bounds whatever is put in it, since it lives as long as a worker process."""

from __future__ import annotations

from kernel.lru import LRU


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used

    cache.put("c", 3)

    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)


def test_total_weight_is_bounded_and_an_oversized_value_is_not_kept() -> None:
    cache: LRU[str, list[int]] = LRU(10, max_weight=5, weight=len)
    cache.put("a", [1, 2])
    cache.put("b", [1, 2])
    cache.put("c", [1, 2])  # 6 > 5: "a" goes

    cache.put("huge", list(range(6)))  # heavier than the whole cache: kept nowhere

    assert [cache.get(k) is not None for k in ("a", "b", "c", "huge")] == [
        False, True, True, False,
    ]  # fmt: skip


def test_pop_takes_the_entry_out_and_frees_its_weight() -> None:
    cache: LRU[str, list[int]] = LRU(10, max_weight=4, weight=len)
    cache.put("a", [1, 2, 3])
    assert cache.pop("a") == [1, 2, 3]
    assert cache.pop("a") is None

    cache.put("b", [1, 2, 3, 4])  # fits only because "a" no longer counts

    assert cache.get("b") == [1, 2, 3, 4]
