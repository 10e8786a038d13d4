# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The book's hello_parallel.pyx: square every element, serially and with an OpenMP ``prange``.

Built with -fopenmp when the compiler supports it (setup.py); without it the
``prange`` loop runs serially and gives the same result.
"""
from cython.parallel cimport prange

import numpy as np

cimport _checks as check
from _openmp cimport PP_OPENMP

OPENMP = bool(PP_OPENMP)


def square_serial(inp):
    """``inp ** 2`` in a typed loop: a new 1-D float64 array."""
    cdef const double[::1] values = check.doubles1(inp, "inp")
    cdef Py_ssize_t i, size = values.shape[0]
    out_np = np.empty(size)
    cdef double[::1] out = out_np
    for i in range(size):
        out[i] = values[i] * values[i]
    return out_np


def square_parallel(inp):
    """``inp ** 2`` with the loop shared among OpenMP threads, GIL released."""
    cdef const double[::1] values = check.doubles1(inp, "inp")
    cdef Py_ssize_t i, size = values.shape[0]
    out_np = np.empty(size)
    cdef double[::1] out = out_np
    for i in prange(size, nogil=True):
        out[i] = values[i] * values[i]
    return out_np
