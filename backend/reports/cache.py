"""Report results kept in memory, keyed by definition version and data version.

A key holds: the database, the definition (key and version when stored, else a digest of the
unsaved JSON), the reader (user id and roles: row-level access differs per person), the data
version (newest event id, order count and newest order change: any write invalidates) and the
minute (derived facts such as hours in stage move with the clock). An LRU of 64 results per worker
process; results are small (at most 1,000 rows).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlmodel import Session

from backend.auth.actor import Actor

MAX_ENTRIES = 64


class ResultCache:
    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: Any) -> Any:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = ResultCache()


def key_for(session: Session, actor: Actor, report: Any, version: tuple[str, int] | None,
            data_version: tuple[Any, ...], now: datetime) -> tuple[Any, ...]:
    from backend import i18n

    definition = version or hashlib.sha256(
        json.dumps(report.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    return (_database(session), definition, actor.user_id, tuple(sorted(actor.roles)),
            tuple(str(v) for v in data_version), now.replace(second=0, microsecond=0).isoformat(),
            i18n.get_locale())


def _database(session: Session) -> str:
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    return str(engine.url)
