# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The book's Chebyshev distance: ``max``/``min`` shared through a definition file (_mathlib.pxd).

``chebyshev`` is profiled when a profiler runs (the book's ``# cython: profile=True``
lesson, here per function): called from Python 100 x 100 times, it shows up in
cProfile like a Python function.  ``chebyshev_pairs`` does the same work in one
compiled loop, free of Python.
"""
cimport cython
from libc.math cimport fabs

import numpy as np

cimport _checks as check
from _mathlib cimport max, min


cdef inline double _chebyshev(double x1, double y1, double x2, double y2) noexcept nogil:
    return max(fabs(x1 - x2), fabs(y1 - y2))


@cython.profile(True)
def chebyshev(double x1, double y1, double x2, double y2):
    """Chebyshev distance ``max(|x1 - x2|, |y1 - y2|)`` between (x1, y1) and (x2, y2)."""
    return _chebyshev(x1, y1, x2, y2)


cdef inline const double[:, ::1] _points(object value, str name):
    """``value`` as (N, 2) points, checked (the loops below run without bounds checks)."""
    cdef const double[:, ::1] view = check.doubles2(value, name)
    check.shape2(name, view.shape[0], view.shape[1], -1, 2, "(N, 2)")
    return view


def chebyshev_pairs(a, b):
    """Chebyshev distances between every point of ``a`` (N, 2) and of ``b`` (M, 2): an (N, M) array."""
    cdef const double[:, ::1] p = _points(a, "a")
    cdef const double[:, ::1] q = _points(b, "b")
    out = np.empty((p.shape[0], q.shape[0]))
    cdef double[:, ::1] d = out
    cdef Py_ssize_t i, j
    with nogil:
        for i in range(p.shape[0]):
            for j in range(q.shape[0]):
                d[i, j] = _chebyshev(p[i, 0], p[i, 1], q[j, 0], q[j, 1])
    return out


def nearest_chebyshev(a, b):
    """For each point of ``a`` (N, 2), its smallest Chebyshev distance to the points of ``b`` (M >= 1, 2)."""
    cdef const double[:, ::1] p = _points(a, "a")
    cdef const double[:, ::1] q = _points(b, "b")
    if q.shape[0] == 0:
        raise ValueError("b must hold at least one point; got shape (0, 2)")
    out = np.empty(p.shape[0])
    cdef double[::1] d = out
    cdef double best
    cdef Py_ssize_t i, j
    with nogil:
        for i in range(p.shape[0]):
            best = _chebyshev(p[i, 0], p[i, 1], q[0, 0], q[0, 1])
            for j in range(1, q.shape[0]):
                best = min(best, _chebyshev(p[i, 0], p[i, 1], q[j, 0], q[j, 1]))
            d[i] = best
    return out
