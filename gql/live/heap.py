"""Keeps CPython's cyclic garbage collector off the state of open connections.

A process with many open WebSockets holds objects by the million that live as
long as their sockets. CPython's full collection scans them all with the whole
process stopped, and a status change waits for it on every dashboard: a pause
that grows with the connections. Objects that are
`gc.freeze()`-d are never scanned again, and freezing is cheap (lists are
spliced, nothing is visited), so once a second, when connections were opened
since the last time, everything alive is frozen.

The cost: cyclic garbage among frozen objects stays until a collection that
includes them (a few objects per closed connection; those freed by reference
counting, nearly all of them, go at once). So when the
frozen heap has doubled since the last reclaim, it is unfrozen and collected
in full once: the pause CPython would have taken several times over on the
way there, taken once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class LongLivedHeap:
    def __init__(self) -> None:
        self._opened_since_freeze = 0
        self._frozen_after_reclaim = 0

    def start(self) -> None:
        """Freeze what the process holds once started (code, schema, pools): it lives as long."""
        gc.collect()
        gc.freeze()
        self._frozen_after_reclaim = gc.get_freeze_count()

    def connection_opened(self) -> None:
        self._opened_since_freeze += 1

    def tick(self) -> None:
        if not self._opened_since_freeze:
            return
        self._opened_since_freeze = 0
        gc.freeze()
        frozen = gc.get_freeze_count()
        if frozen >= 2 * max(self._frozen_after_reclaim, 1):
            self.reclaim()

    def reclaim(self) -> None:
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self._frozen_after_reclaim = gc.get_freeze_count()
        log.info(
            "full garbage collection of %d long-lived objects took %.0f ms (%d were garbage)",
            self._frozen_after_reclaim,
            (time.perf_counter() - started) * 1000,
            found,
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.tick()
