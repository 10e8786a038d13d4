"""The book's IPython parallel chapter: backends that run on an ipyparallel cluster.

Three backends, each registered as ``ipyparallel`` (kind "distributed") over
the connection lifecycle of :mod:`pytest_particles.cluster`:

- evolve: the book's ``scatter_gather``: the particles are scattered over the
  engines of a DirectView, each engine evolves its chunk with the book's
  compiled kernel (``evolve_cython``, or ``evolve_numpy`` when the engine's
  pytest_particles is not built), and the chunks are gathered;
- pi: a LoadBalancedView map over the fixed set of streams of
  :func:`pytest_particles.book.pi.streams`, with retries: a task lost with a dead
  engine is resubmitted to another one, and the hits are those of the numpy
  and cython backends for the same seed;
- distance_matrix: one block of rows per engine, assembled here.

They are available while a cluster is connected.  What runs on the engines is
in :mod:`pytest_particles.book.engine`.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import numpy as np

from .. import cluster, parallel, registry
from ..cluster import ClusterError, Connection, Deadline, submit, wait
from . import distance, engine, evolution  # noqa: F401  (the kernels this module adds backends to)
from .pi import streams

BACKEND = "ipyparallel"
RETRIES = 3  # resubmissions of a lost pi task (to another engine)
TASKS_PER_ENGINE = 4  # pi tasks per engine: load balancing, and little work lost with an engine


def scatter_evolve_gather(connection: Connection, r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int,
                          phases: dict[str, Any] | None = None) -> None:
    """The book's scatter_gather on ``connection``: r (N, 2) is updated in place.

    ``phases``, when given, receives the seconds spent in each phase as seen
    from here (``scatter``, ``compute``, ``gather``, ``cleanup``), the longest compute time
    measured on an engine (``remote``), the engine count and the kernel the
    engines ran.
    """
    deadline = Deadline()
    ids = connection.ready_engines("evolving particles")[: r.shape[0]]
    view = connection.client.direct_view(targets=ids)
    key = f"_pytest_particles_{uuid.uuid4().hex}"
    packed = np.column_stack([r, ang_speed])  # (N, 3): one message per engine
    clock = time.perf_counter
    try:
        t0 = clock()
        wait(submit("scatter", lambda: view.scatter(key, packed, block=False)), deadline, "take its particles")
        t1 = clock()
        done = wait(submit("evolve", lambda: view.apply_async(engine.evolve_scattered, key, timestep, nsteps)),
                    deadline, "evolve its particles")
        t2 = clock()
        gathered = wait(submit("gather", lambda: view.gather(key, block=False)), deadline, "send back its particles")
        t3 = clock()
        wait(submit("clean up", lambda: view.apply_async(engine.discard_names, key)), deadline,
             "forget the particles")
        t4 = clock()
    except BaseException:
        with contextlib.suppress(Exception):  # best effort, not waited for: the engines may be gone
            view.apply_async(engine.discard_names, key)
        raise
    gathered = np.asarray(gathered, dtype=np.float64)
    if gathered.shape != r.shape:
        raise ClusterError(f"the engines sent back positions of shape {gathered.shape}; expected {r.shape}")
    r[:] = gathered
    if phases is not None:
        phases.update(engines=len(ids), scatter=t1 - t0, compute=t2 - t1, gather=t3 - t2, cleanup=t4 - t3,
                      remote=max(seconds for _, seconds in done), kernel=sorted({kernel for kernel, _ in done}))


def evolve_ipyparallel(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int) -> None:
    """The book's scatter_gather: particles scattered over the engines, evolved by the compiled kernel, gathered."""
    scatter_evolve_gather(cluster.connected(), r, ang_speed, timestep, nsteps)


def distance_matrix_ipyparallel(r: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """One block of rows per engine, computed there and assembled here (into ``out`` when given)."""
    deadline = Deadline()
    connection = cluster.connected()
    n = r.shape[0]
    ids = connection.ready_engines("computing a distance matrix")[:n]
    bounds = parallel.chunk_bounds(n, len(ids))
    client = connection.client
    results = submit("compute distances", lambda: [client.direct_view(targets=[target]).apply_async(
        engine.distance_rows, r, a, b) for target, (a, b) in zip(ids, bounds)])
    blocks = wait(results, deadline, "compute its rows of the distance matrix")
    out = np.empty((n, n)) if out is None else out
    for (a, b), block in zip(bounds, blocks):
        out[a:b] = block
    return out


def pi_ipyparallel(samples: int, seed_sequence: np.random.SeedSequence, workers: int | None = None) -> int:
    """A load-balanced map over the streams, each task a group of streams, lost tasks retried on other engines."""
    deadline = Deadline()
    connection = cluster.connected()
    counts, children = streams(samples, seed_sequence)
    engines = len(connection.ready_engines("estimating pi"))
    bounds = parallel.chunk_bounds(len(counts), TASKS_PER_ENGINE * engines)
    view = connection.client.load_balanced_view()
    view.set_flags(retries=RETRIES)
    result = submit("count hits", lambda: view.map(
        engine.count_hits, [counts[a:b] for a, b in bounds], [children[a:b] for a, b in bounds], block=False))
    return int(sum(wait(result, deadline, "count the hits of its streams")))


# the engines' cores: parallel (kind "distributed"), and available only while a cluster is connected
for _kernel, _func in (("evolve", evolve_ipyparallel), ("distance_matrix", distance_matrix_ipyparallel),
                       ("pi", pi_ipyparallel)):
    registry.register_backend(_kernel, BACKEND, _func, priority=5, check=cluster.check, parallel=True,
                              kind="distributed")
