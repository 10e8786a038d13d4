"""Compiled particle simulator: the book's explicit Euler step, serial and OpenMP.

Particles are taken in blocks of BLOCK; each block is copied into local x and
y arrays and advanced step by step, so the inner loop runs over independent
particles (the compiler vectorizes it and the sqrt/divide latencies overlap)
while the block stays in L1 cache for all steps.  The serial and OpenMP
kernels share the block code, so their results are identical.
"""
from cython.parallel cimport prange
from libc.math cimport sqrt

from _openmp cimport PP_OPENMP

OPENMP = bool(PP_OPENMP)

cdef enum:
    BLOCK = 256  # particles per block: x, y and speed fill 6 KiB of L1


cdef void _evolve_block(double[:, ::1] r, const double[::1] ang_speed, double timestep,
                        Py_ssize_t nsteps, Py_ssize_t start, Py_ssize_t size) noexcept nogil:
    cdef double x[BLOCK]
    cdef double y[BLOCK]
    cdef double t_x_ang[BLOCK]
    cdef double norm, new_x
    cdef Py_ssize_t i, step, n = min(size, r.shape[0] - start)
    for i in range(n):
        x[i] = r[start + i, 0]
        y[i] = r[start + i, 1]
        t_x_ang[i] = timestep * ang_speed[start + i]
    for step in range(nsteps):
        for i in range(n):
            norm = sqrt(x[i] * x[i] + y[i] * y[i])
            # both displacements come from the old position (the book's tuple assignment)
            new_x = x[i] - t_x_ang[i] * (y[i] / norm)
            y[i] = y[i] + t_x_ang[i] * (x[i] / norm)
            x[i] = new_x
    for i in range(n):
        r[start + i, 0] = x[i]
        r[start + i, 1] = y[i]


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
