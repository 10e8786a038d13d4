# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled Monte Carlo pi over NumPy bit generators, serial and OpenMP, and over
inline counter-based SplitMix64 streams (the ``splitmix`` backend, below).

Each stream is a NumPy BitGenerator; a sample draws x then y with
``next_double`` exactly as ``Generator.random((n, 2))`` does, so these
kernels count the same hits as the NumPy backend for the same streams.
Every entry point checks its arguments first (_checks.pxd, O(1) but for the list of
generators, read once anyway); the loops run unchecked.

Ctrl-C: every stream is drawn a chunk at a time (a millisecond or so of work each),
and between chunks the GIL is taken back to let Python run its signal handlers
(PyErr_CheckSignals), so KeyboardInterrupt comes within milliseconds even at 2**53
samples.  A stream's draws and count do not depend on how it is cut, so neither does
the result.
"""
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint64_t
from numpy.random cimport bitgen_t

cimport _checks as check
from _openmp cimport PP_OPENMP

OPENMP = bool(PP_OPENMP)

cdef enum:
    # samples a thread draws between two checks for Ctrl-C (some 50 ms; shorter parallel regions
    # cost measurably on a loaded machine, where a descheduled thread holds the others at the barrier)
    CHUNK = 1 << 23  # PCG64, through its function pointers
    SPLITMIX_CHUNK = 1 << 26  # SplitMix64 inline, some ten times faster a sample
    LEAST = 1 << 16  # samples of a stream per chunk at least


cdef inline int64_t _chunk(int64_t per_thread, int threads, Py_ssize_t streams) noexcept nogil:
    """Samples of each of ``streams`` streams per parallel region: ``per_thread`` for each of ``threads``."""
    return max(<int64_t> LEAST, per_thread * threads // max(streams, 1))


cdef inline int64_t _part(int64_t count, int64_t done, int64_t chunk) noexcept nogil:
    """Samples of a stream of ``count`` in the chunk that starts after ``done``: 0 to ``chunk``."""
    return 0 if count <= done else min(count - done, chunk)


cdef inline int64_t _longest(const int64_t[::1] samples) noexcept nogil:
    cdef int64_t most = 0
    cdef Py_ssize_t s
    for s in range(samples.shape[0]):
        most = max(most, samples[s])
    return most


cdef inline int64_t _count(bitgen_t *rng, int64_t n) noexcept nogil:
    cdef int64_t k, hits = 0
    cdef double x, y
    for k in range(n):
        x = 2.0 * rng.next_double(rng.state) - 1.0
        y = 2.0 * rng.next_double(rng.state) - 1.0
        if x * x + y * y <= 1.0:
            hits += 1
    return hits


cdef int64_t _count_streams(list bit_generators, object counts, bint parallel, int workers) except -1:
    cdef const int64_t[::1] samples = check.int64s(counts, "counts")
    cdef tuple generators = tuple(bit_generators)  # holds them while their states are in use, whatever the list does
    cdef Py_ssize_t s, n = len(generators)
    cdef int64_t hits = 0, done = 0, now, each
    cdef bitgen_t **rngs
    check.shape1("counts", samples.shape[0], n, "(S,)", ", one per bit generator")
    cdef int64_t longest = _longest(samples)
    # keep the pointers in a buffer the threads can read without the GIL
    rngs = <bitgen_t **> PyMem_Malloc(max(n, 1) * sizeof(bitgen_t *))
    if rngs == NULL:
        raise MemoryError()
    try:
        for s in range(n):
            generator = generators[s]
            try:
                rngs[s] = <bitgen_t *> PyCapsule_GetPointer(generator.capsule, "BitGenerator")
            except (AttributeError, TypeError, ValueError):
                raise TypeError(f"bit_generators[{s}] must be a numpy BitGenerator such as numpy.random.PCG64; "
                                f"got {type(generator).__name__}") from None
        if parallel:  # a chunk of every stream per parallel region
            each = _chunk(CHUNK, workers, n)
            while done < longest:
                for s in prange(n, nogil=True, num_threads=workers, schedule="dynamic"):
                    hits += _count(rngs[s], _part(samples[s], done, each))
                done += min(each, longest - done)
                PyErr_CheckSignals()
        else:
            for s in range(n):
                done = 0
                while done < samples[s]:
                    now = _part(samples[s], done, CHUNK)
                    with nogil:
                        hits += _count(rngs[s], now)
                    done += now
                    PyErr_CheckSignals()
    finally:
        PyMem_Free(rngs)
    return hits


def c_count_hits(list bit_generators not None, counts):
    """Hits in the unit circle: ``counts[s]`` samples from ``bit_generators[s]``."""
    return _count_streams(bit_generators, counts, False, 1)


def omp_count_hits(list bit_generators not None, counts, workers):
    """Same as :func:`c_count_hits`, streams shared among ``workers`` OpenMP threads."""
    cdef int threads = check.workers_count(workers)
    return _count_streams(bit_generators, counts, True, threads)


# ---------------------------------------------------------------------------
# Counter-based SplitMix64 streams (the ``splitmix`` backend).
#
# Stream s is SplitMix64 with its own (seed, gamma): output n is
# mix64(seed + (n + 1) * gamma), a pure function of the counter n, so there is
# no state to carry and no call through a pointer per sample.  Sample k uses
# outputs 2k (x) and 2k + 1 (y).  A 64-bit output z becomes a double in [0, 1)
# the standard way, (z >> 11) * 2**-53.  With 64-bit vector multiplies
# (AVX-512DQ) the compiler vectorizes the sample loop; with SSE2 it stays
# scalar.  So the counting loop lives in _simd_kernels.h, built for AVX-512,
# AVX2 and baseline x86-64 and chosen for the CPU at load time; the call per
# stream dispatches once per stream.  Each stream's count depends only on its
# keys and its sample count, so the total does not depend on how streams are
# shared among threads.
cdef extern from "_simd_kernels.h" nogil:
    const double PP_TWO_POW_M53
    uint64_t pp_mix64(uint64_t z) noexcept
    double pp_unit(uint64_t z) noexcept
    # Hits of the first n samples of the stream (seed, gamma)
    int64_t pp_splitmix_hits(uint64_t seed, uint64_t gamma, int64_t n) noexcept
    const int PP_MULTIVERSIONED

# True when the hot loops of _simd_kernels.h were built as GCC target_clones (AVX-512, AVX2 and
# baseline, one picked by the loader); False for the one plain path (see the header's guard).
CPU_CLONES = bool(PP_MULTIVERSIONED)


cdef inline uint64_t _mix64(uint64_t z) noexcept nogil:
    """SplitMix64's output function (Stafford's Mix13), a bijection of the 64-bit integers."""
    return pp_mix64(z)


cdef inline double _unit(uint64_t z) noexcept nogil:
    """The top 53 bits of ``z`` as a double in [0, 1): (z >> 11) * 2**-53, exact."""
    return pp_unit(z)


def splitmix_count_hits(seeds, gammas, counts, workers):
    """Hits in the unit circle: ``counts[s]`` samples of the SplitMix64 stream (seeds[s], gammas[s]).

    Streams are shared among ``workers`` OpenMP threads.
    """
    cdef const uint64_t[::1] seed = check.uint64s(seeds, "seeds")
    cdef const uint64_t[::1] gamma = check.uint64s(gammas, "gammas")
    cdef const int64_t[::1] samples = check.int64s(counts, "counts")
    check.shape1("gammas", gamma.shape[0], seed.shape[0], "(S,)", ", one per seed")
    check.shape1("counts", samples.shape[0], seed.shape[0], "(S,)", ", one per seed")
    cdef int threads = check.workers_count(workers)
    cdef Py_ssize_t s
    cdef int64_t hits = 0, done = 0, longest = _longest(samples)
    cdef int64_t each = _chunk(SPLITMIX_CHUNK, threads, samples.shape[0])
    # a chunk of every stream per parallel region; the chunk from sample k on is the stream
    # keyed (seed + 2 k gamma, gamma), as the counter then is (modulo 2**64, as it wraps)
    while done < longest:
        for s in prange(samples.shape[0], nogil=True, num_threads=threads, schedule="dynamic"):
            hits += pp_splitmix_hits(seed[s] + 2 * <uint64_t> done * gamma[s], gamma[s],
                                     _part(samples[s], done, each))
        done += min(each, longest - done)
        PyErr_CheckSignals()
    return hits


def splitmix_uniforms(seed, gamma, start, out):
    """Fill ``out`` with the uniforms in [0, 1) of outputs ``start, start + 1, ...`` of one stream."""
    cdef uint64_t key = check.uint64(seed, "seed")
    cdef uint64_t step = check.uint64(gamma, "gamma")
    cdef uint64_t first = check.uint64(start, "start")
    cdef double[::1] values = check.doubles1_out(out, "out")
    cdef Py_ssize_t k
    with nogil:
        for k in range(values.shape[0]):
            values[k] = _unit(_mix64(key + (first + <uint64_t> k + 1) * step))
