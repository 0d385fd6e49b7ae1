"""Worker processes for CPU-bound batch work (validating imports, evaluating firms).

Pure functions run in a ``ProcessPoolExecutor`` while the calling process does the database
work.  Workers die with their parent (a killed command must not leave them behind), start by
fork when that is safe (single-threaded parent) and by spawn otherwise.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any


def default_workers() -> int:
    """One worker per core for large batches (0 — work in-process — on a single core)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores if cores > 1 else 0


def _die_with_parent(parent: int, then: Callable[..., None] | None, args: tuple[Any, ...]) -> None:
    """Worker initializer: orphaned workers would wait on the task queue for ever (siblings
    hold its other end), so they follow their parent out."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0:  # PR_SET_PDEATHSIG (Linux)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)
        else:
            raise OSError("prctl failed")
    except (OSError, AttributeError):

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()
    if then is not None:
        then(*args)


def _context() -> Any:
    # fork starts a worker in milliseconds; it is only safe while this process has a single
    # thread (a forked child inherits other threads' locks).  Otherwise spawn.
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def make_pool(workers: int, initializer: Callable[..., None] | None = None,
              initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_die_with_parent,
                               initargs=(os.getpid(), initializer, initargs))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a batch loop.  Such loops allocate millions of
    short-lived, acyclic objects (freed by reference counting anyway); the collector's repeated
    passes over a growing heap cost about a third of the loop's time.  Restored on exit."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
