"""The book's code that runs on the ipyparallel engines: it calls the book's own kernels there.

ipyparallel ships these functions by code and runs them in the engine's
namespace (what ``ipyparallel.interactive`` does, without importing
ipyparallel here), so each imports what it uses and touches no global of this
module.  The engines need pytest-particles installed: they import the book's
backends (compiled ones when the engine's copy is built, the NumPy ones
otherwise); an engine that cannot import them is a ClusterError naming the
missing module (:func:`pytest_particles.cluster.wait`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # the functions below import what they use: they run in an engine's namespace
    import numpy as np
    import numpy.typing as npt

_F = TypeVar("_F", bound=Callable[..., Any])


def _on_engine(func: _F) -> _F:
    func.__module__ = "__main__"  # shipped by code, run in the engine's namespace
    return func


@_on_engine
def evolve_scattered(key: str, timestep: float, nsteps: int) -> tuple[str, float]:
    """Evolve the chunk ``key`` (rows x, y, ang_speed) scattered to this engine; keep the positions under ``key``.

    Returns the backend that ran (``cython``, else ``numpy``) and the seconds it took here.
    """
    import time

    import numpy as np

    from pytest_particles.book import evolution

    start = time.perf_counter()
    chunk = globals()[key]
    r = np.array(chunk[:, :2], dtype=np.float64, order="C")  # a fresh writable copy: received buffers are read-only
    ang_speed = np.ascontiguousarray(chunk[:, 2], dtype=np.float64)
    kernel = "cython" if evolution._compiled.module is not None else "numpy"
    if r.shape[0]:
        {"cython": evolution.evolve_cython, "numpy": evolution.evolve_numpy}[kernel](r, ang_speed, timestep, nsteps)
    globals()[key] = r
    return kernel, time.perf_counter() - start


@_on_engine
def discard_names(*keys: str) -> None:
    """Forget what was scattered to this engine under ``keys``."""
    for key in keys:
        globals().pop(key, None)


@_on_engine
def distance_rows(r: npt.ArrayLike, start: int, stop: int) -> np.ndarray:
    """Rows start:stop of the distance matrix of the points r (N, 2), by the book's row-block kernel."""
    import numpy as np

    from pytest_particles.book.distance import distance_matrix_blocks

    # D[start:stop] is the first block of the points rotated to begin at ``start``, its columns rotated back
    # (the same pairs, so the same bits as the cython backend).
    rotated = np.roll(np.asarray(r, dtype=np.float64), -start, axis=0)
    blocks = distance_matrix_blocks(rotated, rows=stop - start, workers=1)  # one thread: one engine per core
    _, _, block = next(blocks)
    blocks.close()
    return np.roll(block, start, axis=1)


@_on_engine
def count_hits(counts: Sequence[int] | np.ndarray, children: Sequence[np.random.SeedSequence]) -> int:
    """Hits of the given streams, by the book's serial compiled kernel (as its multiprocessing backend's tasks)."""
    from pytest_particles.book import pi

    if pi._compiled.module is None:
        raise ImportError(pi._compiled.reason)
    return int(pi._count_hits(counts, children))
