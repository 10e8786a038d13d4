"""Worker processes that never hang, never multiply and never outlive their parent.

``multiprocessing.Pool`` waits forever when a worker dies; a
``concurrent.futures.ProcessPoolExecutor`` notices and breaks.  Every task
also has a deadline: a worker that is stuck past it is killed and the call
raises :class:`WorkerError`.  The timeout is ``TIMEOUT`` seconds, from the
environment variable ``PYTEST_PARTICLES_TIMEOUT`` (default 600; anything but
a finite number > 0 is a ValueError at import).

One pool serves every call, from every thread.  It has as many processes as
the largest call so far wanted (never more than that call's tasks); a call
that wants more replaces it by a larger one, and a call that wants fewer
runs at most ``workers`` of its tasks at once on it.  Workers die with their
parent: on Linux the kernel sends them SIGKILL when it dies (``prctl``'s
``PR_SET_PDEATHSIG``), however it dies; elsewhere a thread in each worker
watches for the parent to go.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from .validation import available_cores


def _timeout_from_environment() -> float:
    text = os.environ.get("PYTEST_PARTICLES_TIMEOUT", "600")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):  # inf or nan would disable the deadline "never hangs" rests on
        raise ValueError(f"PYTEST_PARTICLES_TIMEOUT must be a finite number of seconds > 0; got {text!r}")
    return value


TIMEOUT = _timeout_from_environment()

# Workers only run serial compiled code and NumPy, so forking is safe and fast on Linux.
_CONTEXT = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class WorkerError(RuntimeError):
    """A worker process died or did not finish within the timeout."""


class _Deadline(Exception):
    """The tasks of one call were not all done by its deadline (not TimeoutError: func may raise that)."""


# ------------------------------------------------------------------------------------------- in the worker

def _die_with_parent(parent: int) -> None:
    """Worker initializer: end this process when ``parent`` ends, busy or idle."""
    if not (sys.platform.startswith("linux") and _arm_death_signal()):
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed: nobody will send it
        os._exit(1)


def _arm_death_signal() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:  # an orphan is adopted by another process
        time.sleep(0.5)
    os._exit(1)


# ------------------------------------------------------------------------------------------- the pool

class _Pool:
    """One ProcessPoolExecutor, its size, and how many calls are using it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.users = 0
        self.executor = ProcessPoolExecutor(max_workers=size, mp_context=_CONTEXT, initializer=_die_with_parent,
                                            initargs=(os.getpid(),))
        # The death signal follows the *thread* that forked a worker, not its process: fork from a thread
        # that lives as long as the process, never from the caller's (maybe short-lived) thread.  With fork,
        # the executor starts all its processes at its first submit.
        _keeper().submit(self.executor.submit, int).result()

    def pids(self) -> list[int]:
        return [p.pid for p in list((getattr(self.executor, "_processes", None) or {}).values())]

    @property
    def broken(self) -> bool:
        return bool(getattr(self.executor, "_broken", False))

    def kill(self) -> None:
        for process in list((getattr(self.executor, "_processes", None) or {}).values()):
            process.kill()
        self.executor.shutdown(wait=False, cancel_futures=True)


_lock = threading.Lock()
_current: _Pool | None = None
_keeper_thread: ThreadPoolExecutor | None = None


def _keeper() -> ThreadPoolExecutor:
    global _keeper_thread
    if _keeper_thread is None:
        _keeper_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pytest-particles-pool")
    return _keeper_thread


def _acquire(processes: int) -> _Pool:
    """The pool, with at least ``processes`` processes (a larger one replaces it if needed), counted as used."""
    global _current
    with _lock:
        pool = _current
        if pool is None or pool.broken or pool.size < processes:
            _current = _Pool(max(processes, pool.size if pool is not None and not pool.broken else 0))
            if pool is not None and pool.users == 0:
                pool.executor.shutdown(wait=False, cancel_futures=True)  # idle processes exit on their own
            pool = _current
        pool.users += 1
        return pool


def _release(pool: _Pool) -> None:
    with _lock:
        pool.users -= 1
        if pool is not _current and pool.users == 0:  # replaced while this call used it
            pool.executor.shutdown(wait=False, cancel_futures=True)


def _discard(pool: _Pool) -> None:
    """Kill ``pool``'s processes and forget it, so the next call starts afresh."""
    global _current
    with _lock:
        if _current is pool:
            _current = None
    pool.kill()


def worker_pids(workers: int | None = None) -> list[int]:
    """Process ids of the live pool's workers (empty when none).  ``workers`` is ignored: there is one pool."""
    pool = _current
    return [] if pool is None else pool.pids()


def run_tasks(func: Callable[..., Any], tasks: list[tuple], workers: int, timeout: float | None = None) -> list:
    """Run ``func(*task)`` for every task, at most ``workers`` at once; results in task order.

    The pool grows to ``min(workers, len(tasks))`` processes if it is smaller
    (``workers`` is not clamped here: the kernels' doors clamp it to the cores).
    Raises WorkerError when a worker dies (killed, crashed, out of memory) or
    the tasks are not all done within ``timeout`` seconds (default TIMEOUT);
    the pool is then killed, and the next call starts a fresh one.  An
    exception raised by ``func`` itself propagates unchanged (this call's
    tasks not yet started are cancelled).
    """
    timeout = TIMEOUT if timeout is None else timeout
    if not tasks:
        return []
    width = max(1, min(workers, len(tasks)))
    deadline = time.monotonic() + timeout
    pool = _acquire(width)
    running: dict[Future, int] = {}
    try:
        return _run_window(pool, func, tasks, width, deadline, running)
    except BrokenProcessPool as exc:
        _discard(pool)
        raise WorkerError(
            f"a worker process died while running {func.__name__} (killed, crashed or out of memory); "
            "its results are lost"
        ) from exc
    except _Deadline:
        _discard(pool)
        raise WorkerError(
            f"worker processes running {func.__name__} did not finish within {timeout:g} s and were killed "
            "(raise PYTEST_PARTICLES_TIMEOUT for longer runs)"
        ) from None
    except Exception:  # func's own: the pool is sound, other calls may be using it
        for future in running:
            future.cancel()
        raise
    except BaseException:  # KeyboardInterrupt and friends: leave no worker running
        _discard(pool)
        raise
    finally:
        _release(pool)


def _run_window(pool: _Pool, func: Callable[..., Any], tasks: list[tuple], width: int, deadline: float,
                running: dict[Future, int]) -> list:
    """Keep ``width`` tasks in flight until all are done."""
    results: list = [None] * len(tasks)
    pending: Iterator = iter(enumerate(tasks))

    def submit_next() -> None:
        for i, task in pending:
            try:
                running[pool.executor.submit(func, *task)] = i
            except RuntimeError as exc:  # shut down under us by shutdown() or another call's failure
                raise BrokenProcessPool(str(exc)) from exc
            return

    for _ in range(width):
        submit_next()
    while running:
        done, _ = wait(running, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
        if not done:
            raise _Deadline
        for future in done:
            results[running.pop(future)] = future.result()
            submit_next()
    return results


def shutdown() -> None:
    """Stop the worker pool (it is reused between calls otherwise); the next call starts a new one."""
    global _current
    with _lock:
        pool, _current = _current, None
    if pool is not None:
        pool.executor.shutdown(wait=True, cancel_futures=True)


def chunk_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """Split range(n) into at most ``parts`` contiguous non-empty (start, stop) pairs."""
    edges = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


# numexpr's thread count is one setting for the whole process, and changing it while another thread
# evaluates can hang both: calls that set it hold this lock until they have restored it.
_numexpr_lock = threading.RLock()


def _forget_after_fork() -> None:
    """In a forked child: the parent's pool, keeper thread and locks are not this process's to use."""
    global _current, _keeper_thread, _lock, _numexpr_lock
    _current, _keeper_thread = None, None
    _lock, _numexpr_lock = threading.Lock(), threading.RLock()


os.register_at_fork(after_in_child=_forget_after_fork)


@contextlib.contextmanager
def numexpr_threads(workers: int | None) -> Iterator[int]:
    """Run numexpr with ``workers`` threads (at most its MAX_THREADS), restoring its setting afterwards.

    Holds a lock throughout: numexpr evaluations inside it, from any thread,
    run one block at a time (numexpr runs one parallel evaluation at a time
    anyway).  Code that calls ``numexpr.set_num_threads`` outside this
    context is not covered.
    """
    import numexpr as ne

    threads = max(1, min(workers or available_cores(), ne.MAX_THREADS))
    with _numexpr_lock:
        previous = ne.set_num_threads(threads)
        try:
            yield threads
        finally:
            ne.set_num_threads(previous)


@contextlib.contextmanager
def numba_threads(workers: int | None) -> Iterator[int]:
    """Run numba's parallel loops on ``workers`` threads (at most its pool), restoring its setting afterwards."""
    import numba

    previous = numba.get_num_threads()
    # numba.config sets its attributes at import, from the environment: mypy cannot see them
    threads = min(workers or available_cores(), numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    numba.set_num_threads(threads)
    try:
        yield threads
    finally:
        numba.set_num_threads(previous)
