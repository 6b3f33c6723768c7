"""Thread-safe bounded caches: rendered tiles (LRU by count and bytes) and a
pool of open readers (a GDAL dataset handle serves one thread at a time, so each
handle is lent out to one render and returned after it)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

__all__ = ["SizedLRU", "HandlePool"]

V = TypeVar("V")


class SizedLRU(Generic[V]):
    """Least-recently-used map, bounded by entry count and by the total of the sizes
    given to ``put``.

    ``max_items=0`` (or ``max_bytes=0``) disables it: ``put`` keeps nothing.
    """

    def __init__(self, max_items: int, max_bytes: int) -> None:
        if max_items < 0 or max_bytes < 0:
            raise ValueError(f"cache bounds must be >= 0, got max_items={max_items}, max_bytes={max_bytes}")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, value: V, nbytes: int) -> None:
        if self.max_items == 0 or nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._data[key] = (value, nbytes)
            self._size += nbytes
            while len(self._data) > self.max_items or self._size > self.max_bytes:
                _, (_, dropped) = self._data.popitem(last=False)
                self._size -= dropped

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        return self._size


class _Closable(Protocol):
    def close(self) -> None: ...


H = TypeVar("H", bound=_Closable)


class HandlePool(Generic[H]):
    """Idle handles by key, at most ``max_idle`` of them in all (least recently used closed first).

    ``with pool.lend(key, open_fn) as h:`` takes an idle handle of ``key`` or opens a new
    one; it goes back to the pool afterwards, or is closed if the block raised. Handles
    in use are not counted: their number is bounded by the number of rendering threads.
    """

    def __init__(self, max_idle: int) -> None:
        if max_idle < 0:
            raise ValueError(f"max_idle must be >= 0, got {max_idle}")
        self.max_idle = max_idle
        self._idle: OrderedDict[Hashable, list[H]] = OrderedDict()
        self._n_idle = 0
        self._lock = threading.Lock()
        self.opened = 0

    @contextmanager
    def lend(self, key: Hashable, open_fn: Callable[[], H]) -> Iterator[H]:
        handle: H | None = None
        with self._lock:
            free = self._idle.get(key)
            if free:
                handle = free.pop()
                self._n_idle -= 1
                if not free:
                    del self._idle[key]
        if handle is None:
            handle = open_fn()
            with self._lock:
                self.opened += 1
        try:
            yield handle
        except BaseException:
            handle.close()
            raise
        self._give_back(key, handle)

    def _give_back(self, key: Hashable, handle: H) -> None:
        to_close: list[H] = []
        with self._lock:
            self._idle.setdefault(key, []).append(handle)
            self._idle.move_to_end(key)
            self._n_idle += 1
            while self._n_idle > self.max_idle:
                oldest_key, free = next(iter(self._idle.items()))
                to_close.append(free.pop(0))
                self._n_idle -= 1
                if not free:
                    del self._idle[oldest_key]
        for h in to_close:
            h.close()

    def close_where(self, stale: Callable[[Hashable], bool]) -> int:
        """Close the idle handles whose key is stale; return how many."""
        with self._lock:
            keys = [k for k in self._idle if stale(k)]
            handles = [h for k in keys for h in self._idle.pop(k)]
            self._n_idle -= len(handles)
        for h in handles:
            h.close()
        return len(handles)

    def close(self) -> None:
        with self._lock:
            handles = [h for free in self._idle.values() for h in free]
            self._idle.clear()
            self._n_idle = 0
        for h in handles:
            h.close()

    def __len__(self) -> int:
        return self._n_idle
