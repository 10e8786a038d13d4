"""Compiled Monte Carlo pi over NumPy bit generators, serial and OpenMP.

Each stream is a NumPy BitGenerator; a sample draws x then y with
``next_double`` exactly as ``Generator.random((n, 2))`` does, so these
kernels count the same hits as the NumPy backend for the same streams.
"""
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython.parallel cimport prange
from libc.stdint cimport int64_t
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

