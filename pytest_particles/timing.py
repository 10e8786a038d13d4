"""Timing helpers shared by bench, the plugin's speedup marker and the profiler (no pytest, no registry)."""

from __future__ import annotations

import math
import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass


def time_once(call: Callable[[], object]) -> float:
    """Seconds of one call, by :mod:`timeit` (garbage collector off, the result freed at once).

    Never keeping a result matters: a 10,000-point distance matrix is 800 MB.
    """
    return timeit.Timer(call).timeit(number=1)


@dataclass(frozen=True)
class Ratio:
    """How many times faster ``fast`` ran than ``slow``, over interleaved rounds."""

    median: float
    low: float
    high: float
    rounds: int


def _per_call(call: Callable[[], object], loops: int) -> float:
    return timeit.Timer(call).timeit(number=loops) / loops


def interleaved_ratio(fast: Callable[[], object], slow: Callable[[], object], *, min_rounds: int = 5,
                      max_rounds: int = 25, budget: float = 5.0, sample: float = 0.005) -> Ratio:
    """Time ``fast`` and ``slow`` alternately, round after round, and return slow / fast per round.

    Alternating puts both under the same machine load at nearly the same
    moment, so the ratio holds on a noisy machine where absolute times drift.
    Each timing repeats the call until it lasts ``sample`` seconds; rounds go
    on until ``budget`` seconds are spent (at least ``min_rounds``).
    """
    fast_loops, slow_loops = (max(1, math.ceil(sample / max(time_once(call), 1e-9))) for call in (fast, slow))
    ratios: list[float] = []
    started = time.perf_counter()
    while len(ratios) < min_rounds or (len(ratios) < max_rounds and time.perf_counter() - started < budget):
        ratios.append(_per_call(slow, slow_loops) / max(_per_call(fast, fast_loops), 1e-12))
    return Ratio(statistics.median(ratios), min(ratios), max(ratios), len(ratios))
