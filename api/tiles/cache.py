"""A thread-safe bounded cache of rendered tiles (LRU by count and bytes). The pool
of open readers is the renderer's own (``geo.tiles.HandlePool``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["SizedLRU"]

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
