"""Timing helpers shared by bench, the plugin's speedup marker and the profiler (no pytest, no registry)."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


def time_once(call: Callable[[], object]) -> float:
    """Seconds of one call, the garbage collector off (as ``timeit`` does); the result is freed first."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    del result  # a 10,000-point distance matrix is 800 MB: never keep one alive into the next call
    return elapsed


@dataclass(frozen=True)
class Ratio:
    """How many times faster ``fast`` ran than ``slow``, over interleaved rounds."""

    median: float
    low: float
    high: float
    rounds: int


def _loops_for(call: Callable[[], object], target: float) -> int:
    """How many back-to-back calls take at least ``target`` seconds (at least one)."""
    start = time.perf_counter()
    call()
    once = time.perf_counter() - start
    return max(1, math.ceil(target / max(once, 1e-9)))


def _time_loops(call: Callable[[], object], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        call()
    return (time.perf_counter() - start) / loops


def interleaved_ratio(fast: Callable[[], object], slow: Callable[[], object], *, min_rounds: int = 5,
                      max_rounds: int = 25, budget: float = 5.0, sample: float = 0.005) -> Ratio:
    """Time ``fast`` and ``slow`` alternately, round after round, and return slow / fast per round.

    Alternating puts both under the same machine load at nearly the same
    moment, so the ratio holds on a noisy machine where absolute times drift.
    Each timing repeats the call until it lasts ``sample`` seconds; rounds go
    on until ``budget`` seconds are spent (at least ``min_rounds``).
    """
    fast_loops, slow_loops = _loops_for(fast, sample), _loops_for(slow, sample)
    ratios = []
    started = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while len(ratios) < min_rounds or (len(ratios) < max_rounds and time.perf_counter() - started < budget):
            ratios.append(_time_loops(slow, slow_loops) / max(_time_loops(fast, fast_loops), 1e-12))
    finally:
        if gc_was_enabled:
            gc.enable()
    return Ratio(statistics.median(ratios), min(ratios), max(ratios), len(ratios))
