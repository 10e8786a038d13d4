# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled particle simulator: the book's explicit Euler step, serial and OpenMP.

Particles are taken in blocks of BLOCK; each block is copied into local x and
y arrays and advanced step by step, so the inner loop runs over independent
particles (the compiler vectorizes it and the sqrt/divide latencies overlap)
while the block stays in L1 cache for all steps.  The serial and OpenMP
kernels share the block code, so their results are identical.  The block code
is C (_simd_kernels.h), built for AVX-512, AVX2 and baseline x86-64 with the
best chosen for the CPU at load time; all three round alike (no FMA).
Every entry point checks its arguments first (_checks.pxd, O(1)); the loops run unchecked.

Range: a particle's radius is the plain sqrt(x*x + y*y) unless its square left
[2**-960, 2**960], and then it is recomputed scaled by a power of two (pp_hypot in
_simd_kernels.h): the same bits on ordinary inputs, the scheme's answer for radii
beyond 1e154 or below 1e-154 (each step checks, a compare per vector).

Ctrl-C: the work is cut into parallel regions of about WORK particle-steps a thread
(some 50 ms), and between regions the GIL is taken back to let Python run its signal
handlers (PyErr_CheckSignals): KeyboardInterrupt within a tenth of a second however
long the run.  (Regions much shorter than that cost measurably on a loaded machine: a
thread that is descheduled holds the others at the region's closing barrier.)  A particle's arithmetic does not
depend on how its steps are cut (its position is stored and reloaded exactly), so the
bits are the same.
"""
from cython.parallel cimport prange

from cpython.exc cimport PyErr_CheckSignals
from cpython.pyport cimport PY_SSIZE_T_MAX

cimport _checks as check
from _openmp cimport PP_OPENMP

OPENMP = bool(PP_OPENMP)

cdef extern from "_simd_kernels.h" nogil:
    # particles per block: x, y and speed fill 6 KiB of L1
    enum: BLOCK "PP_EVOLVE_BLOCK"
    # The block kernel, in C so that it is built for AVX-512, AVX2 and baseline x86-64
    # and chosen for the CPU at load time (one dispatch per block); same bits in each.
    void pp_evolve_block(double *r, Py_ssize_t stride, const double *ang_speed, double timestep,
                         Py_ssize_t nsteps, Py_ssize_t start, Py_ssize_t size) noexcept
    const int PP_MULTIVERSIONED

cdef extern from "Python.h":
    # PyErr_CheckSignals without Cython's error check: the exception stays set for _reraise
    int _run_signal_handlers "PyErr_CheckSignals" ()


cdef inline bint _interrupted() noexcept nogil:
    """Whether a signal handler raised (Ctrl-C: KeyboardInterrupt), run with the GIL taken back briefly."""
    with gil:
        return _run_signal_handlers() != 0


cdef inline int _reraise() except -1:
    return -1  # the exception a signal handler left set (see _interrupted)


cdef enum:
    WORK = 1 << 25  # particle-steps a thread does between two checks for Ctrl-C

# True when the hot loops of _simd_kernels.h were built as GCC target_clones (AVX-512, AVX2 and
# baseline, one picked by the loader); False for the one plain path (see the header's guard).
CPU_CLONES = bool(PP_MULTIVERSIONED)


cdef inline void _evolve_block(double[:, ::1] r, const double[::1] ang_speed, double timestep,
                               Py_ssize_t nsteps, Py_ssize_t start, Py_ssize_t size) noexcept nogil:
    """Advance particles [start, start + size) of ``r``, size <= BLOCK, by ``nsteps`` steps."""
    pp_evolve_block(&r[0, 0], r.shape[1], &ang_speed[0], timestep, nsteps, start,
                    min(size, r.shape[0] - start))


cdef inline double[:, ::1] _positions(object r):
    """``r`` as writable (N, 2) positions, checked."""
    cdef double[:, ::1] view = check.doubles2_out(r, "r")
    check.shape2("r", view.shape[0], view.shape[1], -1, 2, "(N, 2)")
    return view


cdef inline const double[::1] _speeds(object ang_speed, Py_ssize_t n):
    """``ang_speed`` as (N,) speeds, one per particle of ``r``, checked."""
    cdef const double[::1] view = check.doubles1(ang_speed, "ang_speed")
    check.shape1("ang_speed", view.shape[0], n, "(N,)", ", one per row of r")
    return view


def c_evolve(r, ang_speed, timestep, nsteps):
    """Advance positions ``r`` (N, 2) in place by ``nsteps`` Euler steps of ``timestep``."""
    cdef double[:, ::1] positions = _positions(r)
    cdef const double[::1] speeds = _speeds(ang_speed, positions.shape[0])
    cdef double step = check.real(timestep, "timestep")
    cdef Py_ssize_t steps = check.whole(nsteps, "nsteps", 0, PY_SSIZE_T_MAX, ">= 0")
    cdef Py_ssize_t block, done, now, nblocks = (positions.shape[0] + BLOCK - 1) // BLOCK
    cdef bint stopped = False
    with nogil:
        for block in range(nblocks):
            done = 0
            while done < steps and not stopped:
                now = min(<Py_ssize_t> (WORK // BLOCK), steps - done)
                _evolve_block(positions, speeds, step, now, block * BLOCK, BLOCK)
                done += now
                stopped = _interrupted()
            if stopped:
                break
    if stopped:
        _reraise()


def omp_evolve(r, ang_speed, timestep, nsteps, workers):
    """Same as :func:`c_evolve`, blocks of particles shared among ``workers`` OpenMP threads."""
    cdef double[:, ::1] positions = _positions(r)
    cdef const double[::1] speeds = _speeds(ang_speed, positions.shape[0])
    cdef double step = check.real(timestep, "timestep")
    cdef Py_ssize_t steps = check.whole(nsteps, "nsteps", 0, PY_SSIZE_T_MAX, ">= 0")
    cdef int threads = check.workers_count(workers)
    cdef Py_ssize_t n = positions.shape[0], block, first, last, done = 0, now
    # blocks small enough that every thread gets work, never larger than BLOCK
    cdef Py_ssize_t size = max(1, min(<Py_ssize_t> BLOCK, (n + threads - 1) // threads))
    cdef Py_ssize_t nblocks = (n + size - 1) // size
    cdef Py_ssize_t group
    if n == 0:
        return
    while done < steps:  # one parallel region: blocks for WORK particle-steps a thread
        now = min(max(1, WORK // size), steps - done)
        group = max(1, WORK // (size * now)) * threads
        first = 0
        while first < nblocks:
            last = min(first + group, nblocks)
            for block in prange(first, last, nogil=True, num_threads=threads,
                                schedule="dynamic"):
                _evolve_block(positions, speeds, step, now, block * size, size)
            first += group
            PyErr_CheckSignals()
        done += now
