"""PostgreSQL LISTEN/NOTIFY fan-out: every server process listens and feeds its own hub, so a
change committed by any process (a worker, another web process) reaches every open browser tab."""

from __future__ import annotations

import json
import logging
import threading

import psycopg

from backend.live.hub import Hub
from backend.live.orders import OrderHub
from backend.live.orders import decode as decode_orders
from backend.live.orders import order_hub as default_order_hub
from backend.live.publish import PG_CHANNEL

log = logging.getLogger("gendan.live")


class PgListener:
    def __init__(self, dsn: str, hub: Hub, *, channel: str = PG_CHANNEL, order_hub: OrderHub | None = None) -> None:
        self.dsn = dsn.replace("postgresql+psycopg://", "postgresql://", 1)
        self.hub = hub
        self.order_hub = order_hub if order_hub is not None else default_order_hub
        self.channel = channel
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gendan-live-listen", daemon=True)

    def start(self) -> PgListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    self.ready.set()
                    backoff = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._dispatch(note.payload)
            except psycopg.Error:
                log.exception("live listener lost its PostgreSQL connection; reconnecting")
                self.ready.clear()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)

    def _dispatch(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            if "o" in data:  # an order page's parts (backend/live/orders.py)
                self.order_hub.publish(decode_orders(data))
                return
            self.hub.publish([int(u) for u in data["u"]], str(data.get("k", "inbox")))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed live notification %r", payload[:200])
