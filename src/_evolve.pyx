"""Compiled particle simulator: the book's explicit Euler step, serial and OpenMP.

Particles are taken in blocks of BLOCK; each block is copied into local x and
y arrays and advanced step by step, so the inner loop runs over independent
particles (the compiler vectorizes it and the sqrt/divide latencies overlap)
while the block stays in L1 cache for all steps.  The serial and OpenMP
kernels share the block code, so their results are identical.  The block code
is C (_simd_kernels.h), built for AVX-512, AVX2 and baseline x86-64 with the
best chosen for the CPU at load time; all three round alike (no FMA).
"""
from cython.parallel cimport prange

from _openmp cimport PP_OPENMP

OPENMP = bool(PP_OPENMP)

cdef extern from "_simd_kernels.h" nogil:
    # particles per block: x, y and speed fill 6 KiB of L1
    enum: BLOCK "PP_EVOLVE_BLOCK"
    # The block kernel, in C so that it is built for AVX-512, AVX2 and baseline x86-64
    # and chosen for the CPU at load time (one dispatch per block); same bits in each.
    void pp_evolve_block(double *r, Py_ssize_t stride, const double *ang_speed, double timestep,
                         Py_ssize_t nsteps, Py_ssize_t start, Py_ssize_t size) noexcept


cdef inline void _evolve_block(double[:, ::1] r, const double[::1] ang_speed, double timestep,
                               Py_ssize_t nsteps, Py_ssize_t start, Py_ssize_t size) noexcept nogil:
    """Advance particles [start, start + size) of ``r``, size <= BLOCK, by ``nsteps`` steps."""
    pp_evolve_block(&r[0, 0], r.shape[1], &ang_speed[0], timestep, nsteps, start,
                    min(size, r.shape[0] - start))


def c_evolve(double[:, ::1] r, const double[::1] ang_speed, double timestep, Py_ssize_t nsteps):
    """Advance positions ``r`` (N, 2) in place by ``nsteps`` Euler steps of ``timestep``."""
    cdef Py_ssize_t block, nblocks = (r.shape[0] + BLOCK - 1) // BLOCK
    with nogil:
        for block in range(nblocks):
            _evolve_block(r, ang_speed, timestep, nsteps, block * BLOCK, BLOCK)


def omp_evolve(double[:, ::1] r, const double[::1] ang_speed, double timestep, Py_ssize_t nsteps,
               int workers):
    """Same as :func:`c_evolve`, blocks of particles shared among ``workers`` OpenMP threads."""
    cdef Py_ssize_t n = r.shape[0], block
    # blocks small enough that every thread gets work, never larger than BLOCK
    cdef Py_ssize_t size = max(1, min(<Py_ssize_t> BLOCK, (n + workers - 1) // workers))
    cdef Py_ssize_t nblocks = (n + size - 1) // size
    for block in prange(nblocks, nogil=True, num_threads=workers, schedule="dynamic"):
        _evolve_block(r, ang_speed, timestep, nsteps, block * size, size)
