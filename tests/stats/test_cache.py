"""The per-process TTL cache of computed statistics."""

from __future__ import annotations

import pytest

from portal.stats.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_kept_for_the_ttl_then_computed_again() -> None:
    clock = Clock()
    cache: TTLCache[int] = TTLCache(clock=clock)
    calls: list[str] = []

    def compute() -> int:
        calls.append("x")
        return len(calls)

    assert cache.get_or_compute("k", 60, compute) == 1
    clock.now += 59.9
    assert cache.get_or_compute("k", 60, compute) == 1
    clock.now += 0.2
    assert cache.get_or_compute("k", 60, compute) == 2
    assert cache.get_or_compute("other", 60, compute) == 3  # keys apart
    assert len(calls) == 3


def test_zero_seconds_keeps_nothing() -> None:
    cache: TTLCache[int] = TTLCache()
    values = iter(range(10))
    assert cache.get_or_compute("k", 0, lambda: next(values)) == 0
    assert cache.get_or_compute("k", 0, lambda: next(values)) == 1
    assert len(cache) == 0


def test_oldest_entries_go_first() -> None:
    cache: TTLCache[str] = TTLCache(max_entries=2)
    for key in ("a", "b"):
        cache.get_or_compute(key, 60, lambda key=key: key)  # type: ignore[misc]
    cache.get_or_compute("a", 60, lambda: "again")  # a hit: "a" is now the newest
    cache.get_or_compute("c", 60, lambda: "c")
    assert len(cache) == 2
    assert cache.get_or_compute("a", 60, lambda: "recomputed") == "a"
    assert cache.get_or_compute("b", 60, lambda: "recomputed") == "recomputed"


def test_errors_are_not_kept() -> None:
    cache: TTLCache[int] = TTLCache()

    def fail() -> int:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", 60, fail)
    assert cache.get_or_compute("k", 60, lambda: 7) == 7
