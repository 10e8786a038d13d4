"""Compiled Monte Carlo pi over NumPy bit generators, serial and OpenMP, and over
inline counter-based SplitMix64 streams (the ``splitmix`` backend, below).

Each stream is a NumPy BitGenerator; a sample draws x then y with
``next_double`` exactly as ``Generator.random((n, 2))`` does, so these
kernels count the same hits as the NumPy backend for the same streams.
"""
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint64_t
from numpy.random cimport bitgen_t

from _openmp cimport PP_OPENMP

OPENMP = bool(PP_OPENMP)


cdef inline int64_t _count(bitgen_t *rng, int64_t n) noexcept nogil:
    cdef int64_t k, hits = 0
    cdef double x, y
    for k in range(n):
        x = 2.0 * rng.next_double(rng.state) - 1.0
        y = 2.0 * rng.next_double(rng.state) - 1.0
        if x * x + y * y <= 1.0:
            hits += 1
    return hits


cdef int64_t _count_streams(list bit_generators, const int64_t[::1] counts, bint parallel,
                            int workers) except -1:
    cdef Py_ssize_t s, n = len(bit_generators)
    cdef int64_t hits = 0
    # keep the pointers in a buffer the threads can read without the GIL
    cdef bitgen_t **rngs = <bitgen_t **> PyMem_Malloc(max(n, 1) * sizeof(bitgen_t *))
    if rngs == NULL:
        raise MemoryError()
    try:
        for s in range(n):
            rngs[s] = <bitgen_t *> PyCapsule_GetPointer(bit_generators[s].capsule, "BitGenerator")
        if parallel:
            for s in prange(n, nogil=True, num_threads=workers, schedule="dynamic"):
                hits += _count(rngs[s], counts[s])
        else:
            with nogil:
                for s in range(n):
                    hits += _count(rngs[s], counts[s])
    finally:
        PyMem_Free(rngs)
    return hits


def c_count_hits(list bit_generators, const int64_t[::1] counts):
    """Hits in the unit circle: ``counts[s]`` samples from ``bit_generators[s]``."""
    return _count_streams(bit_generators, counts, False, 1)


def omp_count_hits(list bit_generators, const int64_t[::1] counts, int workers):
    """Same as :func:`c_count_hits`, streams shared among ``workers`` OpenMP threads."""
    return _count_streams(bit_generators, counts, True, workers)


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


cdef inline uint64_t _mix64(uint64_t z) noexcept nogil:
    """SplitMix64's output function (Stafford's Mix13), a bijection of the 64-bit integers."""
    return pp_mix64(z)


cdef inline double _unit(uint64_t z) noexcept nogil:
    """The top 53 bits of ``z`` as a double in [0, 1): (z >> 11) * 2**-53, exact."""
    return pp_unit(z)


def splitmix_count_hits(const uint64_t[::1] seeds, const uint64_t[::1] gammas, const int64_t[::1] counts,
                        int workers):
    """Hits in the unit circle: ``counts[s]`` samples of the SplitMix64 stream (seeds[s], gammas[s]).

    Streams are shared among ``workers`` OpenMP threads.
    """
    cdef Py_ssize_t s
    cdef int64_t hits = 0
    for s in prange(counts.shape[0], nogil=True, num_threads=workers, schedule="dynamic"):
        hits += pp_splitmix_hits(seeds[s], gammas[s], counts[s])
    return hits


def splitmix_uniforms(uint64_t seed, uint64_t gamma, uint64_t start, double[::1] out):
    """Fill ``out`` with the uniforms in [0, 1) of outputs ``start, start + 1, ...`` of one stream."""
    cdef Py_ssize_t k
    with nogil:
        for k in range(out.shape[0]):
            out[k] = _unit(_mix64(seed + (start + <uint64_t> k + 1) * gamma))
