"""The per-process hub: which browser tabs (websockets) listen for which user.

`publish` may be called from any thread (a worker thread, a request's thread pool, the
PostgreSQL listener thread); it hands the message to each subscriber's event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class LiveMessage:
    seq: int
    kind: str  # inbox / notification


class Hub:
    def __init__(self) -> None:
        self._subs: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = defaultdict(set)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def subscribe(self, user_id: int) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)
        with self._lock:
            self._subs[user_id].add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, user_id: int, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subs[user_id] = {s for s in self._subs[user_id] if s[1] is not queue}
            if not self._subs[user_id]:
                del self._subs[user_id]

    def subscriber_count(self, user_id: int) -> int:
        with self._lock:
            return len(self._subs.get(user_id, ()))

    def publish(self, user_ids, kind: str = "inbox") -> int:
        """Queue a message for every open tab of these users; returns how many tabs were told."""
        told = 0
        with self._lock:
            targets = [(loop, q) for uid in set(user_ids) for (loop, q) in self._subs.get(uid, ())]
        for loop, queue in targets:
            message = LiveMessage(next(self._seq), kind)
            try:
                loop.call_soon_threadsafe(_offer, queue, message)
                told += 1
            except RuntimeError:  # that tab's loop is closed; its socket is going away
                pass
        return told


def _offer(queue: asyncio.Queue, message: LiveMessage) -> None:
    if queue.full():  # a tab that stopped reading only needs to know "something changed"
        return
    queue.put_nowait(message)


hub = Hub()
