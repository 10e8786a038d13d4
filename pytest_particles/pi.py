"""Monte Carlo pi (the book's multiprocessing chapter): every backend side by side.

Raw backends follow one contract: ``(samples, seed_sequence, workers) -> hits``,
the number of points (x, y) uniform in (-1, 1)**2 with x**2 + y**2 <= 1.

Randomness: the samples are split over a fixed set of at most ``STREAMS``
streams, each seeded by its own child of the SeedSequence, whatever the
number of workers; so the same seed gives the same answer on a backend
whatever ``workers`` is.  The numpy, cython, openmp and multiprocessing
backends draw the same PCG64 numbers in the same order, so they also agree
with each other exactly.
"""

from __future__ import annotations

import random

import numpy as np

from . import parallel, registry, validation
from ._extensions import Extension

_compiled = Extension("_pi")

STREAMS = 64
BLOCK = 1 << 16  # samples drawn at once by the NumPy backend


def streams(samples: int, seed_sequence: np.random.SeedSequence) -> tuple[np.ndarray, list]:
    """Split ``samples`` over at most STREAMS streams: (counts, child seed sequences).

    The children are those ``seed_sequence.spawn`` would give, built without
    spawning so the caller's SeedSequence is left untouched.
    """
    n = min(STREAMS, samples)
    counts = np.full(n, samples // n, dtype=np.int64)
    counts[: samples % n] += 1
    return counts, [child_seed(seed_sequence, i) for i in range(n)]


def child_seed(seed_sequence: np.random.SeedSequence, i: int) -> np.random.SeedSequence:
    """The i-th child of ``seed_sequence``, as its ``spawn`` makes it."""
    return np.random.SeedSequence(
        seed_sequence.entropy, spawn_key=(*seed_sequence.spawn_key, i), pool_size=seed_sequence.pool_size
    )


def pi_python(samples, seed_sequence, workers=None):
    """The book's serial loop, one ``random.uniform`` pair per sample."""
    hits = 0
    for count, child in zip(*streams(samples, seed_sequence)):
        rng = random.Random(int.from_bytes(child.generate_state(4).tobytes(), "little"))
        for _ in range(count):
            x = rng.uniform(-1.0, 1.0)
            y = rng.uniform(-1.0, 1.0)
            if x * x + y * y <= 1.0:
                hits += 1
    return hits


def pi_numpy(samples, seed_sequence, workers=None):
    """Vectorized: blocks of (x, y) pairs from each stream's PCG64 generator."""
    hits = 0
    for count, child in zip(*streams(samples, seed_sequence)):
        rng = np.random.Generator(np.random.PCG64(child))
        for start in range(0, count, BLOCK):
            xy = rng.random((min(BLOCK, count - start), 2))
            xy *= 2.0
            xy -= 1.0
            xy *= xy
            hits += int(np.count_nonzero(xy[:, 0] + xy[:, 1] <= 1.0))
    return hits


def pi_cython(samples, seed_sequence, workers=None):
    """A compiled loop over the same PCG64 streams as the NumPy backend (src/_pi.pyx)."""
    counts, children = streams(samples, seed_sequence)
    return _count_hits(counts, children)


def pi_openmp(samples, seed_sequence, workers=None):
    """The compiled loop with streams shared among OpenMP threads."""
    counts, children = streams(samples, seed_sequence)
    generators = [np.random.PCG64(child) for child in children]
    return _compiled.module.omp_count_hits(generators, counts, workers or validation.available_cores())


def pi_multiprocessing(samples, seed_sequence, workers=None):
    """The book's chunked ``apply_async``: one task per group of streams, in worker processes."""
    workers = workers or validation.available_cores()
    counts, children = streams(samples, seed_sequence)
    tasks = [(counts[a:b], children[a:b]) for a, b in parallel.chunk_bounds(len(counts), workers)]
    return sum(parallel.run_tasks(_count_hits, tasks, workers))


def pi_multiprocessing_per_sample(samples, seed_sequence, workers=None):
    """The book's overhead lesson: one task per sample, each with its own stream."""
    workers = workers or validation.available_cores()
    tasks = [(child_seed(seed_sequence, i),) for i in range(samples)]
    return sum(parallel.run_tasks(_one_sample, tasks, workers))


def _count_hits(counts, children) -> int:
    """Hits of the given streams with the serial compiled kernel."""
    generators = [np.random.PCG64(child) for child in children]
    return _compiled.module.c_count_hits(generators, np.ascontiguousarray(counts, dtype=np.int64))


def _one_sample(seed_sequence) -> int:
    x, y = np.random.default_rng(seed_sequence).random(2) * 2.0 - 1.0
    return int(x * x + y * y <= 1.0)


def monte_carlo_pi(samples, *, seed=None, backend=None, workers=None) -> float:
    """Estimate pi from ``samples`` random points in the square (-1, 1)**2.

    Parameters
    ----------
    samples : int
        Number of points, from 1 to 2**53.
    seed : int, SeedSequence or None, keyword-only
        Seeds the streams; the same seed gives the same estimate on the same
        backend whatever ``workers`` is.  None draws fresh entropy.
    backend : str or Backend, optional
        Which implementation; None picks the fastest available one.
    workers : int, optional
        Threads or processes for parallel backends; None means every core
        this process may use.

    Returns
    -------
    float
        ``4 * hits / samples``; its standard error is ``4 * sqrt(p * (1 - p) / samples)``, p = pi / 4.
    """
    record = registry.lookup("pi", backend)
    samples = validation.samples(samples)
    seed_sequence = validation.seed_sequence(seed)
    workers = validation.workers(workers)
    hits = record.run(samples, seed_sequence, workers=workers)
    if isinstance(hits, (bool, np.bool_)) or not isinstance(hits, (int, np.integer)) or not 0 <= hits <= samples:
        raise TypeError(f"pi backend {record.name!r} returned {hits!r}; expected an int of hits in [0, {samples}]")
    return 4.0 * int(hits) / samples


registry.define_kernel("pi", monte_carlo_pi)
registry.add_builtin("pi", "python", pi_python, priority=10)
registry.add_builtin("pi", "numpy", pi_numpy, priority=30)
registry.add_builtin("pi", "cython", pi_cython, priority=40, check=_compiled.check)
registry.add_builtin("pi", "openmp", pi_openmp, priority=50, check=_compiled.openmp_check, takes_workers=True)
registry.add_builtin("pi", "multiprocessing", pi_multiprocessing, priority=20, check=_compiled.check, takes_workers=True)
registry.add_builtin(
    "pi", "multiprocessing_per_sample", pi_multiprocessing_per_sample, priority=0, takes_workers=True
)
