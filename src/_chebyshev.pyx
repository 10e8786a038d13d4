"""The book's Chebyshev distance: ``max``/``min`` shared through a definition file (_mathlib.pxd).

``chebyshev`` is profiled when a profiler runs (the book's ``# cython: profile=True``
lesson, here per function): called from Python 100 x 100 times, it shows up in
cProfile like a Python function.  ``chebyshev_pairs`` does the same work in one
compiled loop, free of Python.
"""
cimport cython
from libc.math cimport fabs

import numpy as np

from _mathlib cimport max, min


cdef inline double _chebyshev(double x1, double y1, double x2, double y2) noexcept nogil:
    return max(fabs(x1 - x2), fabs(y1 - y2))


@cython.profile(True)
def chebyshev(double x1, double y1, double x2, double y2):
    """Chebyshev distance ``max(|x1 - x2|, |y1 - y2|)`` between (x1, y1) and (x2, y2)."""
    return _chebyshev(x1, y1, x2, y2)


def chebyshev_pairs(const double[:, ::1] a, const double[:, ::1] b):
    """Chebyshev distances between every point of ``a`` (N, 2) and of ``b`` (M, 2): an (N, M) array."""
    out = np.empty((a.shape[0], b.shape[0]))
    cdef double[:, ::1] d = out
    cdef Py_ssize_t i, j
    with nogil:
        for i in range(a.shape[0]):
            for j in range(b.shape[0]):
                d[i, j] = _chebyshev(a[i, 0], a[i, 1], b[j, 0], b[j, 1])
    return out


def nearest_chebyshev(const double[:, ::1] a, const double[:, ::1] b):
    """For each point of ``a`` (N, 2), its smallest Chebyshev distance to the points of ``b`` (M >= 1, 2)."""
    if b.shape[0] == 0:
        raise ValueError("b must hold at least one point; got shape (0, 2)")
    out = np.empty(a.shape[0])
    cdef double[::1] d = out
    cdef double best
    cdef Py_ssize_t i, j
    with nogil:
        for i in range(a.shape[0]):
            best = _chebyshev(a[i, 0], a[i, 1], b[0, 0], b[0, 1])
            for j in range(1, b.shape[0]):
                best = min(best, _chebyshev(a[i, 0], a[i, 1], b[j, 0], b[j, 1]))
            d[i] = best
    return out
