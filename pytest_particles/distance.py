"""The distance matrix kernel (the book's numexpr chapter): every backend side by side.

Raw backends follow one contract: ``(r) -> D`` with ``r`` (N, 2) points and
``D`` (N, N), ``D[i, j] = sqrt((x_j - x_i)**2 + (y_j - y_i)**2)``; parallel
ones also take ``workers``.  The public :func:`distance_matrix` validates once.
"""

from __future__ import annotations

import math

import numpy as np

from . import parallel, registry, validation
from ._extensions import Extension, module_check

_compiled = Extension("_distance")


def distance_matrix_python(r):
    """Two nested loops over the points, one sqrt per pair."""
    points = r.tolist()
    return np.array([[math.sqrt((xj - xi) ** 2 + (yj - yi) ** 2) for xj, yj in points] for xi, yi in points])


def distance_matrix_numpy(r):
    """The book's broadcast: (N, 1, 2) against (1, N, 2), summed over the last axis."""
    r_i = r[:, np.newaxis]
    r_j = r[np.newaxis, :]
    return np.sqrt(((r_j - r_i) ** 2).sum(axis=2))


def distance_matrix_numexpr(r, workers=None):
    """The book's numexpr version: the reduction in one expression, the sqrt in the next."""
    import numexpr as ne

    r_i = r[:, np.newaxis]
    r_j = r[np.newaxis, :]
    with parallel.numexpr_threads(workers):
        d_ij = ne.evaluate("sum((r_j - r_i)**2, 2)")  # numexpr reductions must come last
        return ne.evaluate("sqrt(d_ij)", out=d_ij)


def distance_matrix_cython(r):
    """A typed loop over rows, no Python inside (src/_distance.pyx)."""
    out = np.empty((r.shape[0], r.shape[0]))
    _compiled.module.c_distance_matrix(r, out)
    return out


def distance_matrix_openmp(r, workers=None):
    """The Cython loop with rows shared among OpenMP threads."""
    out = np.empty((r.shape[0], r.shape[0]))
    _compiled.module.omp_distance_matrix(r, out, workers or validation.available_cores())
    return out


def distance_matrix(r, *, backend=None, workers=None) -> np.ndarray:
    """Distances between every pair of points.

    Parameters
    ----------
    r : array_like, shape (N, 2)
        Points (x, y).
    backend : str or Backend, optional
        Which implementation; None picks the fastest available one.
    workers : int, optional
        Threads for parallel backends; None means every core this process may use.

    Returns
    -------
    ndarray, shape (N, N)
        ``D[i, j]``, the Euclidean distance between points i and j.

    Raises
    ------
    MemoryError
        Before any work, when the N x N result would not fit in the memory available.
    """
    record = registry.lookup("distance_matrix", backend)
    r = validation.positions(r)
    workers = validation.workers(workers)
    n = r.shape[0]
    if n == 0:
        return np.empty((0, 0))
    validation.matrix_memory(n)
    d = np.asarray(record.run(r, workers=workers), dtype=np.float64)
    if d.shape != (n, n):
        raise TypeError(f"distance_matrix backend {record.name!r} returned shape {d.shape}; expected {(n, n)}")
    return d


registry.define_kernel("distance_matrix", distance_matrix)
registry.add_builtin("distance_matrix", "python", distance_matrix_python, priority=0)
registry.add_builtin("distance_matrix", "numpy", distance_matrix_numpy, priority=10)
registry.add_builtin(
    "distance_matrix", "numexpr", distance_matrix_numexpr, priority=20, check=module_check("numexpr"), takes_workers=True
)
registry.add_builtin("distance_matrix", "cython", distance_matrix_cython, priority=30, check=_compiled.check)
registry.add_builtin(
    "distance_matrix", "openmp", distance_matrix_openmp, priority=40, check=_compiled.openmp_check, takes_workers=True
)
