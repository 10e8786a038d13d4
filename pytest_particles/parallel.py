"""Worker processes that never hang.

``multiprocessing.Pool`` waits forever when a worker dies; a
``concurrent.futures.ProcessPoolExecutor`` notices and breaks.  Every task
also has a deadline: a worker that is stuck past it is killed and the call
raises :class:`WorkerError`.  The timeout is ``TIMEOUT`` seconds, from the
environment variable ``PYTEST_PARTICLES_TIMEOUT`` (default 600).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

import numpy as np

from .validation import available_cores


def _timeout_from_environment() -> float:
    text = os.environ.get("PYTEST_PARTICLES_TIMEOUT", "600")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"PYTEST_PARTICLES_TIMEOUT must be a number of seconds; got {text!r}") from None
    if not value > 0:
        raise ValueError(f"PYTEST_PARTICLES_TIMEOUT must be > 0 seconds; got {text!r}")
    return value


TIMEOUT = _timeout_from_environment()

# Workers only run serial compiled code and NumPy, so forking is safe and fast on Linux.
_CONTEXT = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
_pools: dict[int, ProcessPoolExecutor] = {}


class WorkerError(RuntimeError):
    """A worker process died or did not finish within the timeout."""


def _pool(workers: int) -> ProcessPoolExecutor:
    pool = _pools.get(workers)
    if pool is None:
        pool = _pools[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=_CONTEXT)
    return pool


def _discard(workers: int) -> None:
    """Kill and forget the pool of ``workers`` processes, so the next call starts afresh."""
    pool = _pools.pop(workers, None)
    if pool is None:
        return
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def worker_pids(workers: int) -> list[int]:
    """Process ids of the live pool of ``workers`` processes (empty when none)."""
    pool = _pools.get(workers)
    return [] if pool is None else [p.pid for p in getattr(pool, "_processes", {}).values()]


def run_tasks(func: Callable[..., Any], tasks: list[tuple], workers: int, timeout: float | None = None) -> list:
    """Run ``func(*task)`` for every task on ``workers`` processes; results in task order.

    Raises WorkerError when a worker dies (killed, crashed, out of memory) or
    the tasks are not all done within ``timeout`` seconds (default TIMEOUT).
    An exception raised by ``func`` itself propagates unchanged.
    """
    timeout = TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    pool = _pool(workers)
    try:
        futures = [pool.submit(func, *task) for task in tasks]
        return [future.result(timeout=max(0.0, deadline - time.monotonic())) for future in futures]
    except BrokenProcessPool as exc:
        _discard(workers)
        raise WorkerError(
            f"a worker process died while running {func.__name__} (killed, crashed or out of memory); "
            "its results are lost"
        ) from exc
    except FuturesTimeout:
        _discard(workers)
        raise WorkerError(
            f"worker processes running {func.__name__} did not finish within {timeout:g} s and were killed "
            "(raise PYTEST_PARTICLES_TIMEOUT for longer runs)"
        ) from None
    except BaseException:  # KeyboardInterrupt and friends: leave no worker running
        _discard(workers)
        raise


def shutdown() -> None:
    """Stop every worker pool (they are reused between calls otherwise)."""
    for workers in list(_pools):
        pool = _pools.pop(workers)
        pool.shutdown(wait=True, cancel_futures=True)


def chunk_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """Split range(n) into at most ``parts`` contiguous non-empty (start, stop) pairs."""
    edges = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


@contextlib.contextmanager
def numexpr_threads(workers):
    """Run numexpr with ``workers`` threads, restoring its setting afterwards."""
    import numexpr as ne

    previous = ne.set_num_threads(workers or available_cores())
    try:
        yield
    finally:
        ne.set_num_threads(previous)


@contextlib.contextmanager
def numba_threads(workers):
    """Run numba's parallel loops on ``workers`` threads (at most its pool), restoring its setting afterwards."""
    import numba

    previous = numba.get_num_threads()
    threads = min(workers or available_cores(), numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(threads)
    try:
        yield threads
    finally:
        numba.set_num_threads(previous)
