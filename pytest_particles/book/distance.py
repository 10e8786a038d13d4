"""The distance matrix kernel (the book's numexpr chapter): every backend side by side.

Raw backends follow one contract: ``(r) -> D`` with ``r`` (N, 2) points and
``D`` (N, N), ``D[i, j] = sqrt((x_j - x_i)**2 + (y_j - y_i)**2)``; parallel
ones also take ``workers``, and those that can fill a caller's buffer take
``out``.  The public :func:`distance_matrix` validates once.

For point sets whose N x N matrix does not fit in memory,
:func:`distance_matrix_blocks` yields the matrix a block of rows at a time and
:func:`nearest_neighbor_distances` reduces it without ever holding it.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .. import parallel, registry, validation
from . import physics
from ._extensions import Extension, module_check
from ._range import scaled_hypot

if TYPE_CHECKING:
    from ..records import Backend

_compiled = Extension("_distance")

# Distances whose squares stay normal and finite: sqrt(dx*dx + dy*dy) loses nothing there.
_LOW, _HIGH = 2.0**-480, 2.0**480


def _in_range(r: np.ndarray) -> bool:
    """Whether no pair of the points ``r`` can have a squared distance outside [2**-960, 2**960]: O(N).

    Two different coordinates of magnitude >= 2**-420 (or 0) differ by at least 2**-472;
    coordinates of magnitude <= 2**478 by at most 2**479.
    """
    a = np.abs(r)
    if a.size == 0 or a.max() > 2.0**478:
        return a.size == 0
    return a.min() >= 2.0**-420 or a[a > 0].min(initial=1.0) >= 2.0**-420


def _fixed(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``d`` with the entries that lost range recomputed by :func:`scaled_hypot`; OverflowError beyond DBL_MAX."""
    if _in_range(r):
        return d
    i, j = np.nonzero(~((d >= _LOW) & (d <= _HIGH)))
    with np.errstate(over="ignore"):  # a difference beyond DBL_MAX is a distance beyond it: the error below
        d[i, j] = scaled_hypot(r[j, 0] - r[i, 0], r[j, 1] - r[i, 1])
    if np.isinf(d).any():
        i, j = np.argwhere(np.isinf(d))[0]
        raise OverflowError(f"the distance between r[{i}] and r[{j}] exceeds the largest float64 "
                            f"({np.finfo(np.float64).max:.4g}): it is not representable")
    return d


def distance_matrix_python(r: np.ndarray) -> np.ndarray:
    """Two nested loops over the points, one sqrt per pair."""
    points = r.tolist()
    if not _in_range(r):  # x**2 would overflow: the plain products, fixed up where they lost range
        return _fixed(r, np.array([[math.sqrt((xj - xi) * (xj - xi) + (yj - yi) * (yj - yi)) for xj, yj in points]
                                   for xi, yi in points]))
    return np.array([[math.sqrt((xj - xi) ** 2 + (yj - yi) ** 2) for xj, yj in points] for xi, yi in points])


def distance_matrix_numpy(r: np.ndarray) -> np.ndarray:
    """The book's broadcast: (N, 1, 2) against (1, N, 2), summed over the last axis."""
    r_i = r[:, np.newaxis]
    r_j = r[np.newaxis, :]
    with np.errstate(over="ignore", under="ignore"):
        return _fixed(r, np.sqrt(((r_j - r_i) ** 2).sum(axis=2)))


# N x N float64 matrices a backend holds at its peak, where that is more than its result (tracemalloc, N = 2000):
# NumPy's (N, N, 2) differences and their squares; Python's float objects in lists, then the array.
PEAK_MATRICES = {distance_matrix_numpy: 3, distance_matrix_python: 5.5}


def distance_matrix_numexpr(r: np.ndarray, workers: int | None = None) -> np.ndarray:
    """The book's numexpr version: the reduction in one expression, the sqrt in the next."""
    import numexpr as ne

    r_i = r[:, np.newaxis]  # noqa: F841  (numexpr's expression below reads r_i and r_j by name)
    r_j = r[np.newaxis, :]  # noqa: F841  (as r_i)
    with parallel.numexpr_threads(workers):
        d_ij = ne.evaluate("sum((r_j - r_i)**2, 2)")  # numexpr reductions must come last
        return _fixed(r, ne.evaluate("sqrt(d_ij)", out=d_ij))


def distance_matrix_scipy(r: np.ndarray) -> np.ndarray:
    """``scipy.spatial.distance.cdist(r, r)``: the peer a user would pick instead (optional extra ``scipy``)."""
    from scipy.spatial.distance import cdist

    with np.errstate(over="ignore", under="ignore"):
        return _fixed(r, cdist(r, r))


def distance_matrix_cython(r: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A typed loop over rows, no Python inside (src/_distance.pyx)."""
    out = np.empty((r.shape[0], r.shape[0])) if out is None else out
    assert _compiled.module is not None  # registered with _compiled.check
    _compiled.module.c_distance_matrix(r, out)
    return _fixed(r, out)


def distance_matrix_openmp(r: np.ndarray, workers: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """The Cython loop with rows shared among OpenMP threads."""
    out = np.empty((r.shape[0], r.shape[0])) if out is None else out
    assert _compiled.module is not None  # registered with _compiled.openmp_check
    _compiled.module.omp_distance_matrix(r, out, workers or validation.available_cores())
    return _fixed(r, out)


def distance_matrix_blocked(r: np.ndarray, workers: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Every entry written once by a kernel picked for this CPU, rows or tiles shared among OpenMP threads.

    The hot loops are compiled for AVX-512, AVX2 and baseline x86-64 and the
    best one is chosen when the module loads (src/_simd_kernels.h).  With
    vector square roots (AVX2 and up) whole rows are fastest; on baseline
    SSE2 each pair is computed once in cache-sized tiles mirrored across the
    diagonal (half the square roots), except when N is a multiple of 256,
    where mirrored writes would thrash the cache.  The same bits as the
    ``cython`` backend either way.
    """
    out = np.empty((r.shape[0], r.shape[0])) if out is None else out
    assert _compiled.module is not None  # registered with _compiled.check
    _compiled.module.blocked_distance_matrix(_columns(r), out, workers or validation.available_cores())
    return _fixed(r, out)


def distance_matrix_numba(r: np.ndarray, workers: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """The row loop compiled by numba, rows over ``prange`` (``@njit(parallel=True)``).

    The same bits as the ``cython`` backend.  numba is imported, and the loop
    compiled (about a second), on the first call only.
    """
    out = np.empty((r.shape[0], r.shape[0])) if out is None else out
    x, y = _columns(r)  # contiguous x and y: LLVM vectorizes the row (about 3x faster than strided r[j, 0])
    kernel = _numba_kernel()
    n = x.shape[0]
    with parallel.numba_threads(workers) as threads:
        rows = max(1, _NUMBA_CHUNK // max(n, 1)) * threads  # numba cannot see Ctrl-C: Python does, between calls
        for start in range(0, n, rows):
            kernel(x, y, out, start, min(start + rows, n))
    return _fixed(r, out)


_NUMBA_CHUNK = 1 << 25  # entries a thread fills between two returns to Python (some 30 ms)


_numba_rows: Callable[..., Any] | None = None


def _numba_kernel() -> Callable[..., Any]:
    """The numba kernel, compiled on first use (``import pytest_particles`` does not import numba)."""
    global _numba_rows
    if _numba_rows is None:
        import numba

        @numba.njit(parallel=True, fastmath=False)  # no fused multiply-add: the bits of the C kernels
        def rows(x, y, out, start, stop):
            n = x.shape[0]
            for i in numba.prange(start, stop):
                xi, yi, row = x[i], y[i], out[i]
                for j in range(n):
                    dx = x[j] - xi
                    dy = y[j] - yi
                    row[j] = math.sqrt(dx * dx + dy * dy)

        _numba_rows = rows
    return _numba_rows


def _columns(r: np.ndarray) -> np.ndarray:
    """Points (N, 2) as ``xy`` (2, N): x and y each contiguous, as the tiled kernels take them."""
    return np.ascontiguousarray(r.T)


@functools.cache
def _declares_out(func: Callable[..., Any]) -> bool:
    """Whether a raw backend function has a parameter named ``out`` (then it fills the caller's buffer)."""
    try:
        return "out" in inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _run(record: Backend, r: np.ndarray, workers: int, out: np.ndarray | None) -> Any:
    """Call a raw backend, handing it ``out`` by keyword when it declares that parameter."""
    if out is None or not _declares_out(record.func):
        return record.run(r, workers=workers)
    return record.run(r, workers=workers, out=out)


def distance_matrix(r: npt.ArrayLike, *, backend: str | Backend | None = None, workers: int | None = None,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Distances between every pair of points.

    Parameters
    ----------
    r : array_like, shape (N, 2)
        Points (x, y).
    backend : str or Backend, optional
        Which implementation; None picks the fastest available one.
    workers : int, optional
        Threads for parallel backends; None means every core this process may use.
    out : ndarray, shape (N, N), optional
        A buffer to fill and return instead of allocating the result, so that
        repeated calls reuse one N x N matrix: float64, C-contiguous, aligned,
        writable and not sharing memory with ``r``.  Backends that can write
        into it do (``cython``, ``openmp``, ``blocked``, ``numba``); the others'
        results are copied into it.

    Returns
    -------
    ndarray, shape (N, N)
        ``D[i, j]``, the Euclidean distance between points i and j (``out`` when given).

    Raises
    ------
    MemoryError
        Before any work, when the N x N result would not fit in the memory available.
        :func:`distance_matrix_blocks` and :func:`nearest_neighbor_distances` need no N x N memory.
    """
    record = registry.lookup("distance_matrix", backend)
    points = validation.positions(r)
    workers = validation.workers(workers)
    n = points.shape[0]
    if out is not None:
        out = validation.output_matrix(out, n, r)
    if n == 0:
        return np.empty((0, 0)) if out is None else out
    if out is None or not _declares_out(record.func):  # the backend allocates its own result
        validation.matrix_memory(n, PEAK_MATRICES.get(record.func, 1), record.name)
    d = np.asarray(_run(record, points, workers, out), dtype=np.float64)
    if d.shape != (n, n):
        raise TypeError(f"distance_matrix backend {record.name!r} returned shape {d.shape}; expected {(n, n)}")
    if out is None:
        return d
    if d is not out:
        np.copyto(out, d)
    return out


BLOCK_BYTES = 64 * 2**20  # default size of one block of rows of distance_matrix_blocks


def distance_matrix_blocks(r: npt.ArrayLike, *, rows: int | None = None,
                           workers: int | None = None) -> Generator[tuple[int, int, np.ndarray], None, None]:
    """The distance matrix a block of rows at a time, for N too large to hold N x N.

    Parameters
    ----------
    r : array_like, shape (N, 2)
        Points (x, y).
    rows : int, optional
        Rows per block; None gives blocks of about ``BLOCK_BYTES`` (64 MiB).
    workers : int, optional
        OpenMP threads; None means every core this process may use.

    Returns
    -------
    iterator of (start, stop, block)
        ``block`` (stop - start, N) is ``D[start:stop]``, a fresh array each
        time; the blocks cover rows 0 to N in order.  The input is checked
        here, before the first block.

    Notes
    -----
    Computed by the compiled kernel (src/_distance.pyx), with the same bits as
    :func:`distance_matrix`'s ``cython`` backend; by NumPy when the extension
    is not built.  A row block has no symmetry to exploit, so each pair is
    computed twice over the whole matrix.
    """
    points = validation.positions(r)
    workers = validation.workers(workers)
    n = points.shape[0]
    rows = validation.block_rows(rows, n, BLOCK_BYTES)
    return _blocks(_columns(points), rows, workers)


def _blocks(xy: np.ndarray, rows: int, workers: int) -> Generator[tuple[int, int, np.ndarray], None, None]:
    n = xy.shape[1]
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block = np.empty((stop - start, n))
        if _compiled.module is not None:
            _compiled.module.distance_rows(xy, start, block, workers)
        else:
            dx = xy[0] - xy[0, start:stop, np.newaxis]
            dy = xy[1] - xy[1, start:stop, np.newaxis]
            with np.errstate(over="ignore", under="ignore"):
                np.sqrt(dx * dx + dy * dy, out=block)
            if not _in_range(xy.T):
                lost = ~((block >= _LOW) & (block <= _HIGH))
                block[lost] = scaled_hypot(dx[lost], dy[lost])
        yield start, stop, block


def nearest_neighbor_distances(r: npt.ArrayLike, *, workers: int | None = None) -> np.ndarray:
    """Distance from each point to its nearest other point, without the N x N matrix.

    Parameters
    ----------
    r : array_like, shape (N, 2)
        Points (x, y).
    workers : int, optional
        OpenMP threads; None means every core this process may use.

    Returns
    -------
    ndarray, shape (N,)
        ``min over j != i of D[i, j]``, exactly the smallest off-diagonal entry
        of row i of :func:`distance_matrix`; 0 for a repeated point, inf for a
        single point (it has no other).  O(N) memory, O(N**2) time.
    """
    points = validation.positions(r)
    workers = validation.workers(workers)
    n = points.shape[0]
    nearest = np.empty(n)
    if n == 0:
        return nearest
    xy = _columns(points)
    if _compiled.module is not None:
        _compiled.module.nearest_neighbor_distances(xy, nearest, workers)
        return nearest
    for start, stop, block in _blocks(xy, validation.block_rows(None, n, BLOCK_BYTES), workers):
        block[np.arange(stop - start), np.arange(start, stop)] = np.inf  # not its own neighbour
        block.min(axis=1, out=nearest[start:stop])
    return nearest


def book_points(size: int, rng: np.random.Generator) -> tuple[np.ndarray]:
    """``size`` points uniform in (-1, 1)**2."""
    return (rng.uniform(-1.0, 1.0, (size, 2)),)


registry.register_kernel(
    "distance_matrix", inputs=book_points, reference="numpy", check=physics.check_distance_matrix, rtol=1e-12,
    atol=1e-15, work=lambda size: size * size, work_unit="pairs", sizes=(1_000, 10_000),
    validate=lambda r, **_: validation.positions(r), call=distance_matrix, call_work=lambda r, **_: len(r) ** 2,
    published={("numpy", 10_000): 3.56, ("numexpr", 10_000): 0.858},  # the book's, 2013 hardware
)
registry.register_backend("distance_matrix", "python", distance_matrix_python, priority=0, max_work=3e6)
registry.register_backend("distance_matrix", "numpy", distance_matrix_numpy, priority=10)
registry.register_backend("distance_matrix", "numexpr", distance_matrix_numexpr, priority=20,
                          check=module_check("numexpr"), parallel=True)
registry.register_backend("distance_matrix", "scipy", distance_matrix_scipy, priority=25, check=module_check("scipy"),
                          kind="compiled")
registry.register_backend("distance_matrix", "cython", distance_matrix_cython, priority=30, check=_compiled.check,
                          kind="compiled")
registry.register_backend("distance_matrix", "openmp", distance_matrix_openmp, priority=40,
                          check=_compiled.openmp_check, parallel=True)
registry.register_backend("distance_matrix", "blocked", distance_matrix_blocked, priority=50, check=_compiled.check,
                          parallel=True)
registry.register_backend("distance_matrix", "numba", distance_matrix_numba, priority=45,
                          check=module_check("numba"), parallel=True)
