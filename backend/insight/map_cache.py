"""A small, thread-safe, in-process LRU of built process maps (backend/insight/process_map.py).

The key carries everything the map depends on (see `process_map.build`): the database, the viewer
(user id and roles) and a digest of the exact order ids they may see under the filters, the
filters, the published flow versions used as the drawing, and a data version read in one query
(newest event id, number of orders). A new event or order changes the data version, so a stale map
is never served; entries are aggregated maps (nodes and edges, no per-order data), so 32 of them are
small. Per process: several workers each keep their own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        value = compute()  # outside the lock: two simultaneous misses both compute, neither blocks the other
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0
