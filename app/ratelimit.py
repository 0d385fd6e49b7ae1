"""The in-process rate-limit store behind ``memory://`` (the default ``PC_RATELIMIT_STORAGE_URI``).

limits' ``MemoryStorage`` drops expired counters from a ``threading.Timer`` that it starts
10 ms after a hit whenever none is running: under steady traffic that is a new thread for
nearly every request (a thread start, a GIL hand-over and a sweep of every key, per bank
pull).  This subclass does the same sweep in the calling thread instead, at most once a
second; the counter being read is still checked for expiry on every access, as upstream does,
so limits are enforced exactly as before.  It registers itself for the ``memory`` scheme
(importing this module is enough; ``app.extensions`` does).  Counts stay per process, as
upstream's: use Redis to share them between gunicorn workers."""

from __future__ import annotations

import time
from typing import Any

from limits.storage import MemoryStorage

SWEEP_EVERY = 1.0  # seconds between sweeps of expired counters


class SweepingMemoryStorage(MemoryStorage):
    STORAGE_SCHEME = ["memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the one upstream starts here
        self._next_sweep = 0.0

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.timer.cancel()
        self._next_sweep = 0.0

    # Upstream calls this (name-mangled) hook on every hit to start its timer thread.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
