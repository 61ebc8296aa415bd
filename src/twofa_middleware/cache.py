"""A small bounded cache with a time to live: what keeps the hot path off the database."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Entries live ``ttl`` seconds (or less, when given an earlier ``expires``).

    Bounded by ``maxsize``: when full, the oldest entry goes, and each insertion
    first drops a few expired entries from the old end, so a burst of junk keys
    does not hold memory until it is pushed out. Reads take no lock:
    a dict lookup is atomic in CPython, and a stale read only costs a refill.
    An OrderedDict, because evicting the oldest entry of a plain dict
    (``next(iter(d))``) scans past every slot deleted before it: a full cache
    would make each insertion cost time in proportion to its size.
    """

    def __init__(self, ttl: float, maxsize: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self._clock = clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        # Grows at every invalidation: a value read from the store before one
        # must not be cached after it (see ``set(..., since=)``).
        self.generation = 0

    def get(self, key: K, now: float | None = None) -> V | None:
        """The live value, else None; ``now`` is this cache's clock read already by the caller
        (one read per request on the hot path, not one per cache)."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= (self._clock() if now is None else now):
            self._data.pop(key, None)
            return None
        return entry[1]

    def set(self, key: K, value: V, ttl: float | None = None, *, since: int | None = None) -> None:
        """Keep ``value``; with ``since`` (a :attr:`generation` read before the value
        was fetched), only if nothing was invalidated in between."""
        if self.ttl <= 0:
            return
        now = self._clock()
        expires = now + (self.ttl if ttl is None else min(ttl, self.ttl))
        with self._lock:
            if since is not None and since != self.generation:
                return
            for _ in range(4):
                oldest = next(iter(self._data.values()), None)
                if oldest is None or oldest[0] > now:
                    break
                self._data.popitem(last=False)
            self._data.pop(key, None)
            while len(self._data) >= self.maxsize:
                self._data.popitem(last=False)
            self._data[key] = (expires, value)

    def pop(self, key: K) -> None:
        with self._lock:
            self.generation += 1
            self._data.pop(key, None)

    def discard_where(self, predicate: Callable[[V], bool]) -> None:
        with self._lock:
            self.generation += 1
            for key in [k for k, (_, v) in list(self._data.items()) if predicate(v)]:
                del self._data[key]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._data.clear()

    def entries(self) -> Mapping[K, tuple[float, V]]:
        """``key -> (expires, value)``, to weigh or inspect the cache: typed read-only, write through :meth:`set`."""
        return self._data

    def __len__(self) -> int:
        return len(self._data)
