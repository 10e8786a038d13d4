"""Monte Carlo pi (the book's multiprocessing chapter): every backend side by side.

Raw backends follow one contract: ``(samples, seed_sequence, workers) -> hits``,
the number of points (x, y) uniform in (-1, 1)**2 with x**2 + y**2 <= 1.

Randomness: the samples are split over a fixed set of at most ``STREAMS``
streams, each seeded by its own child of the SeedSequence, whatever the
number of workers; so the same seed gives the same answer on a backend
whatever ``workers`` is.  The numpy, cython, openmp and multiprocessing
backends draw the same PCG64 numbers in the same order, so they also agree
with each other exactly.  The splitmix and numba backends draw counter-based
SplitMix64 numbers instead, keyed by the same children, and agree with each
other exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import parallel, registry, validation
from . import physics
from ._extensions import Extension, module_check

if TYPE_CHECKING:
    from ..records import Backend

_compiled = Extension("_pi")

STREAMS = 64
BLOCK = 1 << 16  # samples drawn at once by the NumPy backend


def streams(samples: int, seed_sequence: np.random.SeedSequence) -> tuple[np.ndarray, list[np.random.SeedSequence]]:
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


def pi_python(samples: int, seed_sequence: np.random.SeedSequence, workers: int | None = None) -> int:
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


def pi_numpy(samples: int, seed_sequence: np.random.SeedSequence, workers: int | None = None) -> int:
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


def pi_cython(samples: int, seed_sequence: np.random.SeedSequence, workers: int | None = None) -> int:
    """A compiled loop over the same PCG64 streams as the NumPy backend (src/_pi.pyx)."""
    counts, children = streams(samples, seed_sequence)
    return _count_hits(counts, children)


def pi_openmp(samples: int, seed_sequence: np.random.SeedSequence, workers: int | None = None) -> int:
    """The compiled loop with streams shared among OpenMP threads."""
    counts, children = streams(samples, seed_sequence)
    generators = [np.random.PCG64(child) for child in children]
    assert _compiled.module is not None  # registered with _compiled.openmp_check
    return _compiled.module.omp_count_hits(generators, counts, workers or validation.available_cores())


def splitmix_keys(children: Sequence[np.random.SeedSequence]) -> tuple[np.ndarray, np.ndarray]:
    """Each stream's SplitMix64 key (seed, gamma), two uint64 arrays, from its child SeedSequence."""
    keys = np.array([child.generate_state(2, np.uint64) for child in children], dtype=np.uint64).reshape(-1, 2)
    gammas = [splitmix_gamma(raw) for raw in keys[:, 1].tolist()]
    return np.ascontiguousarray(keys[:, 0]), np.array(gammas, dtype=np.uint64)


def splitmix_gamma(raw: int) -> int:
    """A SplitMix64 increment from 64 random bits: odd, with at least 24 bit transitions.

    Java's ``SplittableRandom`` makes its gammas so: a sparse gamma gives
    correlated outputs.  Distinct gammas also keep two streams from being
    shifted copies of one sequence.
    """
    gamma = raw | 1
    if (gamma ^ (gamma >> 1)).bit_count() < 24:
        gamma ^= 0xAAAAAAAAAAAAAAAA
    return gamma


def pi_splitmix(samples: int, seed_sequence: np.random.SeedSequence, workers: int | None = None) -> int:
    """Counter-based SplitMix64 streams, inline in a compiled loop, streams shared among OpenMP threads.

    Sample k of a stream is (x, y) from outputs 2k and 2k + 1; output n is
    ``mix64(seed + (n + 1) * gamma)``, so nothing but a counter is carried
    from one sample to the next (src/_pi.pyx).
    """
    counts, children = streams(samples, seed_sequence)
    seeds, gammas = splitmix_keys(children)
    assert _compiled.module is not None  # registered with _compiled.check
    return _compiled.module.splitmix_count_hits(seeds, gammas, counts, workers or validation.available_cores())


def pi_numba(samples: int, seed_sequence: np.random.SeedSequence, workers: int | None = None) -> int:
    """The splitmix backend's streams, compiled by numba (``@njit(parallel=True)``, streams over ``prange``).

    Counts the same hits as ``splitmix``.  numba is imported, and the loop
    compiled (about a second), on the first call only.
    """
    counts, children = streams(samples, seed_sequence)
    seeds, gammas = splitmix_keys(children)
    kernel = _numba_kernel()
    hits = 0
    with parallel.numba_threads(workers):
        # numba's loop cannot see Ctrl-C; Python does, between calls of NUMBA_CHUNK samples a
        # stream.  The part of a stream from sample k on is the stream keyed (seed + 2 k gamma,
        # gamma) (modulo 2**64, as the counter wraps), so the hits do not depend on the cut.
        for done in range(0, int(counts.max()), NUMBA_CHUNK):
            part = np.clip(counts - done, 0, NUMBA_CHUNK)
            hits += int(kernel(seeds + np.uint64(2 * done) * gammas, gammas, part).sum())
    return hits


NUMBA_CHUNK = 1 << 21  # samples of each stream per call of the numba kernel (some 50 ms on 2 cores)


_numba_hits: Callable[..., Any] | None = None


def _numba_kernel() -> Callable[..., Any]:
    """The numba kernel, compiled on first use (``import pytest_particles`` does not import numba)."""
    global _numba_hits
    if _numba_hits is None:
        import numba

        mix1, mix2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
        s11, s27, s30, s31, two = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(2)
        two_pow_m53 = 2.0**-53

        @numba.njit
        def unit(z):
            """SplitMix64's output function of the counter z, as a double in [0, 1) from its top 53 bits."""
            z = (z ^ (z >> s30)) * mix1
            z = (z ^ (z >> s27)) * mix2
            return np.int64((z ^ (z >> s31)) >> s11) * two_pow_m53

        @numba.njit(parallel=True, fastmath=False)
        def hits_per_stream(seeds, gammas, counts):
            hits = np.zeros(counts.shape[0], dtype=np.int64)
            for s in numba.prange(counts.shape[0]):
                gamma, found = gammas[s], 0
                counter = seeds[s] + gamma  # output 2k of the stream is unit(seed + (2k + 1) * gamma)
                for _ in range(counts[s]):
                    x = 2.0 * unit(counter) - 1.0
                    y = 2.0 * unit(counter + gamma) - 1.0
                    if x * x + y * y <= 1.0:
                        found += 1
                    counter += two * gamma
                hits[s] = found
            return hits

        _numba_hits = hits_per_stream
    return _numba_hits


def pi_multiprocessing(samples: int, seed_sequence: np.random.SeedSequence, workers: int | None = None) -> int:
    """The book's chunked ``apply_async``: one task per group of streams, in worker processes."""
    workers = workers or validation.available_cores()
    counts, children = streams(samples, seed_sequence)
    tasks = [(counts[a:b], children[a:b]) for a, b in parallel.chunk_bounds(len(counts), workers)]
    return sum(parallel.run_tasks(_count_hits, tasks, workers))


def pi_multiprocessing_per_sample(samples: int, seed_sequence: np.random.SeedSequence,
                                  workers: int | None = None) -> int:
    """The book's overhead lesson: one task per sample, each with its own stream."""
    workers = workers or validation.available_cores()
    tasks = [(child_seed(seed_sequence, i),) for i in range(samples)]
    return sum(parallel.run_tasks(_one_sample, tasks, workers))


def _count_hits(counts: Sequence[int] | np.ndarray, children: Sequence[np.random.SeedSequence]) -> int:
    """Hits of the given streams with the serial compiled kernel."""
    generators = [np.random.PCG64(child) for child in children]
    assert _compiled.module is not None  # its backends (cython, multiprocessing) are registered with _compiled.check
    return _compiled.module.c_count_hits(generators, np.ascontiguousarray(counts, dtype=np.int64))


def _one_sample(seed_sequence: np.random.SeedSequence) -> int:
    x, y = np.random.default_rng(seed_sequence).random(2) * 2.0 - 1.0
    return int(x * x + y * y <= 1.0)


def monte_carlo_pi(samples: int, *, seed: int | np.random.SeedSequence | None = None,
                   backend: str | Backend | None = None, workers: int | None = None) -> float:
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
    samples, seed_sequence = door(samples, seed)
    workers = validation.workers(workers)
    hits = record.run(samples, seed_sequence, workers=workers)
    if isinstance(hits, (bool, np.bool_)) or not isinstance(hits, (int, np.integer)) or not 0 <= hits <= samples:
        raise TypeError(f"pi backend {record.name!r} returned {hits!r}; expected an int of hits in [0, {samples}]")
    return 4.0 * int(hits) / samples


def seeded_call(samples: int, seed: int | np.random.SeedSequence | None = None, *, backend: str | Backend | None = None,
                workers: int | None = None) -> float:
    """The pi kernel's call: :func:`monte_carlo_pi` with the seed also positional, so a case is reproducible."""
    return monte_carlo_pi(samples, seed=seed, backend=backend, workers=workers)


def door(samples: int, seed: int | np.random.SeedSequence | None = None,
         **_: Any) -> tuple[int, np.random.SeedSequence]:
    return validation.samples(samples), validation.seed_sequence(seed)


registry.register_kernel(
    "pi", inputs=lambda size, rng: (size, int(rng.integers(2**32))), reference=None,
    check=lambda estimate, samples, seed=None: physics.check_pi(estimate, samples), work=lambda size: size,
    work_unit="samples", sizes=(1_000_000, 10_000_000), validate=door, call=seeded_call,
    call_work=lambda samples, *_, **__: int(samples),
    published={("python", 1_000_000): 0.734, ("multiprocessing", 1_000_000): 0.325,  # the book's, 2013 hardware
               ("multiprocessing_per_sample", 1_000_000): 97.0},
)
registry.register_backend("pi", "python", pi_python, priority=0, max_work=3e6)
registry.register_backend("pi", "numpy", pi_numpy, priority=30)
registry.register_backend("pi", "cython", pi_cython, priority=40, check=_compiled.check, kind="compiled")
registry.register_backend("pi", "openmp", pi_openmp, priority=50, check=_compiled.openmp_check, parallel=True)
registry.register_backend("pi", "splitmix", pi_splitmix, priority=60, check=_compiled.check, parallel=True)
registry.register_backend("pi", "numba", pi_numba, priority=55, check=module_check("numba"), parallel=True)
registry.register_backend("pi", "multiprocessing", pi_multiprocessing, priority=20, check=_compiled.check,
                          parallel=True)
# the book's overhead lesson: one process task per sample
registry.register_backend("pi", "multiprocessing_per_sample", pi_multiprocessing_per_sample, priority=3,
                          parallel=True, max_work=3e3)
