"""The in-process rate-limit store behind ``memory://`` (the default ``PC_RATELIMIT_STORAGE_URI``).

limits' ``MemoryStorage`` drops expired counters from a ``threading.Timer`` that it starts
10 ms after a hit whenever none is running: under steady traffic that is a new thread for
nearly every request (measured: ~280 µs of CPU per request of two hits, against ~0 here).
This subclass sweeps expired counters in the calling thread instead, at most once a second
and one sweep at a time; the counter being read is still checked for expiry on every access,
as upstream does, so limits are enforced exactly as before.  It registers itself for the
``memory`` scheme (importing this module is enough; ``app.core.extensions`` does).  Counts stay
per process, as upstream's: use Redis to share them between gunicorn workers.

Upstream starts its timer from a private (name-mangled) hook; ``limits`` is pinned in
``pyproject.toml`` and, should a release rename the hook, upstream's store is left as it is
(``OVERRIDDEN`` is then false and ``tests/app/test_ratelimit.py`` fails)."""

from __future__ import annotations

import bisect
import threading
import time
from typing import Any

from flask import g
from limits.storage import MemoryStorage

SWEEP_EVERY = 1.0  # seconds between sweeps of expired counters
_HOOK = "_MemoryStorage__schedule_expiry"  # what upstream calls on every hit
OVERRIDDEN = callable(getattr(MemoryStorage, _HOOK, None))


def _sweep_due(self: SweepingMemoryStorage) -> None:
    now = time.monotonic()
    if now < self._next_sweep or not self._sweeping.acquire(blocking=False):
        return
    try:
        self._next_sweep = now + SWEEP_EVERY
        self.sweep()
    finally:
        self._sweeping.release()


class SweepingMemoryStorage(MemoryStorage):
    # Upstream changed: register under a name nothing uses, keep upstream's store for memory://.
    STORAGE_SCHEME = ["memory"] if OVERRIDDEN else ["pc-sweeping-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._init_sweeping()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._init_sweeping()

    def _init_sweeping(self) -> None:
        if OVERRIDDEN:
            self.timer.cancel()  # the one upstream starts on construction
        self._next_sweep = 0.0
        self._sweeping = threading.Lock()

    def sweep(self) -> None:
        """Drop expired counters and moving-window entries (what upstream's timer does),
        tolerating keys that other threads remove meanwhile."""
        now = time.time()
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)
        for key in list(self.events):
            with self.locks[key]:
                events = self.events.get(key)
                if events:
                    self.events[key] = events[:bisect.bisect_left(events, -now, key=lambda e: -e.expiry)]
                if not self.events.get(key):
                    self.events.pop(key, None)
                    self.locks.pop(key, None)


if OVERRIDDEN:
    setattr(SweepingMemoryStorage, _HOOK, _sweep_due)


def retry_after_only_on_refusals(response: Any) -> Any:
    """Flask-Limiter sets ``Retry-After`` (its window's reset) on every response it counts;
    the header means "try again after" (RFC 9110 §10.2.3): it belongs to a rate-limit 429,
    a busy 503 and the refusals that set their own (a pull frequency or a self-report
    allowance spent: ``problem_response`` notes the value), not to a 200, a 201 or a 422
    that will fail again however long the caller waits, which keep ``X-RateLimit-Reset``.
    Run after Flask-Limiter's own hook (register it before ``limiter.init_app``)."""
    own = g.get("pc_retry_after")
    if own is not None:
        response.headers["Retry-After"] = own
    elif response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response
