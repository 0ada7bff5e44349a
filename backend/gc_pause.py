"""Python's cyclic garbage collector paused while a set-based batch runs.

Why this exists: a batch of 5,000 orders allocates about a million container objects (parsed rows,
snapshots, change copies, ORM states, COPY rows) that all live until the batch ends, and CPython's
collector runs a young-generation pass every 700 net allocations, tracing the survivors again and
again: 1.8 of 4.3 CPU seconds for 20,000 imported rows went to it (docs/benchmarks.md, "Set-based
path, fourth pass"). Reference counting still frees everything acyclic at once; cyclic garbage made
during the batch is collected by the first pass after it. Nested and concurrent batches (threads of
one process) share one count: the collector is back on when the last of them ends, and only if it
was on when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (usable as a decorator)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def freeze_after_start() -> None:
    """Move every object alive now (imported modules, mappers, compiled rules, the app) to the
    collector's permanent generation, once start-up is done: a full collection then walks only what
    the process made since, not the hundreds of thousands of start-up objects it would trace again
    each time (the tail of an order change, docs/benchmarks.md "burst2"). A collection first, so
    start-up's own garbage is not kept forever."""
    gc.collect()
    gc.freeze()
