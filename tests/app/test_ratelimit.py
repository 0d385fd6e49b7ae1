"""``memory://`` rate limits: enforced as limits' own store does, without a thread per hit."""

from __future__ import annotations

import threading
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.core.ratelimit import SweepingMemoryStorage


def test_memory_scheme_is_the_sweeping_store_and_limits_are_enforced() -> None:
    storage = storage_from_string("memory://")
    assert isinstance(storage, SweepingMemoryStorage)
    limiter = FixedWindowRateLimiter(storage)
    two = parse("2/minute")
    assert [limiter.hit(two, "bank", "client-pk:1") for _ in range(3)] == [True, True, False]
    assert limiter.hit(two, "bank", "client-pk:2")  # another client has its own allowance
    assert limiter.get_window_stats(two, "bank", "client-pk:1").remaining == 0


def test_hits_start_no_thread_and_expired_counters_are_swept(monkeypatch) -> None:
    started: list[threading.Thread] = []
    original = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self)
        original(self)

    storage = SweepingMemoryStorage()  # (upstream's constructor starts a timer, cancelled at once)
    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for i in range(500):
        storage.incr(f"ip:10.0.0.{i}", expiry=0.01)
    assert started == []
    assert len(storage.storage) == 500
    time.sleep(0.02)
    storage._next_sweep = 0.0  # the next hit is due to sweep (at most once a second)
    storage.incr("ip:10.0.1.1", expiry=60)
    assert set(storage.storage) == {"ip:10.0.1.1"} and set(storage.expirations) == {"ip:10.0.1.1"}
    assert started == []


def test_the_upstream_hook_is_still_there() -> None:
    """limits is pinned; a release that renames the hook would bring its timer thread back."""
    from app.core import ratelimit

    assert ratelimit.OVERRIDDEN


def test_concurrent_hits_and_sweeps_raise_nothing(monkeypatch) -> None:
    """Under a threaded server every hit may sweep (interval forced to 0 here) while other
    threads read, expire and clear the same keys."""
    from app.core import ratelimit

    monkeypatch.setattr(ratelimit, "SWEEP_EVERY", 0.0)
    storage = SweepingMemoryStorage()
    errors: list[BaseException] = []
    stop = time.monotonic() + 1.0

    def hammer(n: int) -> None:
        try:
            i = 0
            while time.monotonic() < stop:
                key = f"k{(i + n) % 50}"
                storage.incr(key, expiry=0.001)
                storage.acquire_entry(f"m{i % 20}", limit=5, expiry=0.001)
                storage._next_sweep = 0.0
                storage.get(key)
                if i % 7 == 0:
                    storage.clear(key)
                i += 1
        except BaseException as error:  # noqa: BLE001 — reported below
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    time.sleep(0.01)
    storage._next_sweep = 0.0
    storage.incr("last", expiry=60)
    assert set(storage.storage) == {"last"} and not storage.events
