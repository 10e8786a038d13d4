"""The book's small examples, each with the lesson it teaches.

- ``taylor.py`` (chapter 1, profiling): :func:`factorial`, :func:`taylor_exp`,
  :func:`taylor_sin`; profiled at n = 500 the recursion dominates.
- ``purepy.py`` (chapter 1, pure-Python tips): counting with a dict loop or
  :class:`collections.Counter`; a sum of squares by loop, list comprehension
  or generator.
- ``chebyshev`` (chapter 3, Cython): compiled in ``src/_chebyshev.pyx`` with
  ``max``/``min`` shared through ``src/_mathlib.pxd``; :func:`chebyshev_benchmark`
  is the book's 100 x 100 pairs loop that calls it from Python.
- ``hello_parallel.pyx`` (chapter 4, OpenMP): ``square_serial`` and
  ``square_parallel`` in ``src/_hello_parallel.pyx``.
- The shared counter (chapter 4, multiprocessing): :func:`shared_counter`,
  4 processes x 1000 increments of one ``multiprocessing.Value``, with and
  without a ``Lock``.

The compiled examples are reached through :func:`compiled` (an ImportError
that says how to build them when they are missing).
"""

from __future__ import annotations

import importlib
import multiprocessing
import operator
import random
from collections import Counter
from collections.abc import Hashable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only (numpy is imported where used)
    from multiprocessing.sharedctypes import Synchronized
    from multiprocessing.synchronize import Event, Lock

    import numpy as np

# --------------------------------------------------------------------------- taylor.py (profiling)

TAYLOR_N = 500  # the book's benchmark size


def factorial(n: int) -> float:
    """n! by recursion, as a float (the book's version: ``inf`` from n = 171 on).

    The book profiles :func:`taylor_exp` and :func:`taylor_sin` with cProfile:
    nearly all the time goes to this recursion, called once per term and
    recursing n deep, which is what the profile (and KCachegrind) shows.
    """
    if n == 0:
        return 1.0
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a whole number >= 0; got {n!r}")
    return n * factorial(n - 1)


def _terms(n: int) -> int:
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an int; got {type(n).__name__}") from None
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    return n


def taylor_exp(n: int = TAYLOR_N) -> list[float]:
    """The first ``n`` Taylor coefficients of exp(x) at 0: 1 / i! (the book's profiling target)."""
    return [1.0 / factorial(i) for i in range(_terms(n))]


def taylor_sin(n: int = TAYLOR_N) -> list[float]:
    """The first ``n`` Taylor coefficients of sin(x) at 0: (-1)**((i-1)/2) / i! for odd i, else 0."""
    res = []
    for i in range(_terms(n)):
        if i % 2 == 1:
            res.append((-1) ** ((i - 1) // 2) / factorial(i))
        else:
            res.append(0.0)
    return res


# --------------------------------------------------------------------------- purepy.py (pure-Python tips)

SQUARES_N = 100_000  # the book's range(100000)


def random_items(n: int = 10_000, high: int = 10, seed: int = 0) -> list[int]:
    """``n`` random ints in [0, high], the book's input for counting."""
    rng = random.Random(seed)
    return [rng.randint(0, high) for _ in range(n)]


def count_with_dict(items: Iterable[Hashable]) -> dict:
    """Count occurrences with a dict and an explicit loop (the book: 10.1 ms)."""
    counts: dict = {}
    for item in items:
        if item not in counts:
            counts[item] = 0
        counts[item] += 1
    return counts


def count_with_counter(items: Iterable[Hashable]) -> Counter:
    """Count occurrences with :class:`collections.Counter`, the loop in C (the book: 9.11 ms)."""
    return Counter(items)


def sum_squares_loop(n: int = SQUARES_N) -> int:
    """Sum of i*i for i < n with a for loop appending to a list (the book: 8.26 ms)."""
    res = []
    for i in range(n):
        res.append(i * i)
    return sum(res)


def sum_squares_comprehension(n: int = SQUARES_N) -> int:
    """The same sum over a list comprehension (the book: 5.39 ms)."""
    return sum([i * i for i in range(n)])


def sum_squares_generator(n: int = SQUARES_N) -> int:
    """The same sum over a generator expression: no list in memory (the book: 5.07 ms)."""
    return sum(i * i for i in range(n))


# --------------------------------------------------------------------------- compiled examples


def compiled(name: str) -> ModuleType:
    """The compiled example module ``chebyshev`` or ``hello_parallel`` (built from src/_NAME.pyx)."""
    if name not in ("chebyshev", "hello_parallel"):
        raise ValueError(f"name must be 'chebyshev' or 'hello_parallel'; got {name!r}")
    try:
        return importlib.import_module(f"pytest_particles._{name}")
    except ImportError as exc:
        raise ImportError(
            f"compiled example pytest_particles._{name} is not built ({exc}); reinstall with pip install ."
        ) from exc


def chebyshev_points(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two sets of ``n`` points (n, 2), uniform in [0, 1), for the Chebyshev examples."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.random((n, 2)), rng.random((n, 2))


def chebyshev_benchmark(a: np.ndarray, b: np.ndarray) -> float:
    """The book's profiling example: call the compiled ``chebyshev`` from Python for every pair.

    With 100 x 100 points this is 10,000 calls; because ``chebyshev`` is
    compiled with profiling on, cProfile lists it like a Python function.
    Returns the largest distance.
    """
    chebyshev = compiled("chebyshev").chebyshev
    largest = 0.0
    for x1, y1 in a.tolist():
        for x2, y2 in b.tolist():
            largest = max(largest, chebyshev(x1, y1, x2, y2))
    return largest


# --------------------------------------------------------------------------- shared counter (multiprocessing)

COUNTER_PROCESSES = 4
COUNTER_INCREMENTS = 1000
COUNTER_TIMEOUT = 60.0  # seconds a process may take before it is killed


def _increment(counter: Synchronized[int], lock: Lock | None, increments: int, start: Event) -> None:
    start.wait(COUNTER_TIMEOUT)  # all processes start together, so their increments overlap
    for _ in range(increments):
        if lock is None:
            counter.value += 1  # read, add, write: another process may write in between
        else:
            with lock:
                counter.value += 1


def shared_counter(lock: bool, processes: int = COUNTER_PROCESSES, increments: int = COUNTER_INCREMENTS) -> int:
    """Increment one shared ``multiprocessing.Value`` from several processes; return its final value.

    The book's race: ``counter.value += 1`` reads, adds and writes, so without
    a ``Lock`` two processes can read the same value and one increment is
    lost (the book counted 2000-2500 of 4000).  With the lock held around
    each increment the result is exactly ``processes * increments``.
    Without it the result is at most that; whether an update is lost on a
    given run depends on scheduling.
    """
    if not isinstance(lock, bool):
        raise TypeError(f"lock must be True or False; got {lock!r}")
    for name, value in (("processes", processes), ("increments", increments)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1; got {value!r}")
    counter = multiprocessing.Value("i", 0)
    guard = multiprocessing.Lock() if lock else None
    start = multiprocessing.Event()
    workers = [multiprocessing.Process(target=_increment, args=(counter, guard, increments, start))
               for _ in range(processes)]
    for p in workers:
        p.start()
    start.set()
    try:
        for p in workers:
            p.join(COUNTER_TIMEOUT)
            if p.is_alive():
                raise RuntimeError(f"a counter process did not finish within {COUNTER_TIMEOUT:g} s")
            if p.exitcode != 0:
                raise RuntimeError(f"a counter process failed with exit code {p.exitcode}")
    finally:
        for p in workers:
            if p.is_alive():
                p.kill()
                p.join()
    return counter.value
