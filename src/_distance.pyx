"""Compiled distance matrix, serial and OpenMP; D[i, j] = sqrt(dx**2 + dy**2)."""
from cython.parallel cimport prange
from libc.math cimport sqrt

from _openmp cimport PP_OPENMP

OPENMP = bool(PP_OPENMP)


cdef inline void _row(const double[:, ::1] r, double[:, ::1] d, Py_ssize_t i) noexcept nogil:
    cdef Py_ssize_t j
    cdef double dx, dy, xi = r[i, 0], yi = r[i, 1]
    for j in range(r.shape[0]):
        dx = r[j, 0] - xi
        dy = r[j, 1] - yi
        d[i, j] = sqrt(dx * dx + dy * dy)


def c_distance_matrix(const double[:, ::1] r, double[:, ::1] out):
    """Fill ``out`` (N, N) with the distances between the points ``r`` (N, 2)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(r.shape[0]):
            _row(r, out, i)


def omp_distance_matrix(const double[:, ::1] r, double[:, ::1] out, int workers):
    """Same as :func:`c_distance_matrix`, rows shared among ``workers`` OpenMP threads."""
    cdef Py_ssize_t i
    for i in prange(r.shape[0], nogil=True, num_threads=workers, schedule="static"):
        _row(r, out, i)
