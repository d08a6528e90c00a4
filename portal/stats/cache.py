"""A small in-process cache with a time to live, for computed statistics (settings.stats_cache_seconds).

Each process keeps its own answers: a figure may lag the database by up to the TTL, which the page says.
Entries are kept per key (the query's filters and the local day); the oldest go first past `max_entries`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class TTLCache(Generic[T]):
    """Answers kept `seconds` (0: never kept), computed once per key at a time per process."""

    def __init__(self, *, max_entries: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self._clock = clock

    def get_or_compute(self, key: Hashable, seconds: float, compute: Callable[[], T]) -> T:
        """The fresh answer for `key`, or `compute()`'s (kept when `seconds` > 0). Errors are not kept."""
        if seconds <= 0:
            return compute()
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                self._entries.move_to_end(key)
                return hit[1]
        value = compute()  # outside the lock: one slow query does not hold up other keys
        with self._lock:
            self._entries[key] = (self._clock() + seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
