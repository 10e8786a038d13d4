"""Connections to an ipyparallel cluster, for any backend that runs on one.

:func:`local_cluster` starts a controller and engines on this machine
(127.0.0.1 only), :func:`connect` joins a running cluster (a profile or a
connection file, on any number of hosts), :func:`current` is the connected
cluster and :func:`disconnect` forgets it.  ipyparallel and zmq are imported
only when a cluster is started or connected.

A backend over this package declares ``kind="distributed"`` and
``check=pytest_particles.cluster.check``: it is then available exactly while
a cluster is connected, and the plugin's ``--particles-cluster`` starts or
joins the session's cluster for it.  Its function sends work with
:func:`submit` and waits with :func:`wait` before a :class:`Deadline`:

    deadline = cluster.Deadline()
    connection = cluster.connected()
    view = connection.client.direct_view(targets=connection.ready_engines("doing X"))
    result = cluster.wait(cluster.submit("do X", lambda: view.apply_async(f, ...)), deadline, "do X")

Nothing waits forever: every wait ends after ``TIMEOUT`` seconds (default:
the environment variable ``PYTEST_PARTICLES_TIMEOUT``, as for the worker
processes of :mod:`pytest_particles.parallel`; assign
``pytest_particles.cluster.TIMEOUT`` to change it).  An engine that dies, a
controller that does not answer, an engine that cannot import what the work
needs and a run that outlasts the timeout raise :class:`ClusterError`, a
:class:`~pytest_particles.WorkerError`.

The book's ipyparallel backends (evolve, distance_matrix, pi) are in
:mod:`pytest_particles.book.cluster`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .. import parallel

# Settings, read when they are used (so that assigning them here takes effect).
TIMEOUT = parallel.TIMEOUT  # seconds for any wait on the cluster; PYTEST_PARTICLES_TIMEOUT, default 600
STOP_GRACE = 2  # seconds a local engine or controller gets to exit after SIGTERM, before SIGKILL

from .connection import (  # noqa: E402  (they read the settings above)
    NOT_CONNECTED,
    Connection,
    changed,
    check,
    connect,
    connected,
    current,
    disconnect,
    round_trip,
)
from .local import LOOPBACK, local_cluster  # noqa: E402
from .waiting import ClusterError, Deadline, ipyparallel_missing, submit, wait  # noqa: E402

__all__ = [
    "LOOPBACK", "NOT_CONNECTED", "STOP_GRACE", "TIMEOUT", "ClusterError", "Connection", "Deadline", "changed",
    "check", "connect", "connected", "current", "disconnect", "ipyparallel_missing", "local_cluster",
    "round_trip", "submit", "wait",
]

# Names this module had when it also held the book's backends: they live in pytest_particles.book.cluster.
_BOOK = ("BACKEND", "RETRIES", "TASKS_PER_ENGINE", "scatter_evolve_gather", "evolve_ipyparallel",
         "distance_matrix_ipyparallel", "pi_ipyparallel")


def __getattr__(name: str) -> Any:
    if name in _BOOK:
        return getattr(importlib.import_module("pytest_particles.book.cluster"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
