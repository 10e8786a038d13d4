"""The ipyparallel backends on a local cluster of 2 engines (127.0.0.1), on the kernels' own cases.

Each kernel's ``ipyparallel`` backend over the kernel's declared sizes, on
the case tests, ``bench`` and the other asv benchmarks use
(``pytest_particles.cases.Case``): the same (kernel, backend, size) cell means
the same workload everywhere.  ``TimeClusterOverhead`` times what a call pays
besides the work: a no-op round trip, and moving the evolve case's particles
alone.  Run with ``asv run --python=same --bench cluster``.

The cluster is started in ``setup`` and stopped in ``teardown`` (asv runs both
in the benchmark's own process, untimed; it also runs them between samples,
hence few samples here).  Skipped (NotImplementedError) when ipyparallel is
not installed, or the backends or the kernels' cases do not exist at the
commit measured.
"""

from .common import SKIP_SLOW, require

try:
    import pytest_particles as pp
except ImportError:
    pp = None

ENGINES = 2
BACKEND = "ipyparallel"


def declared_sizes(kernel):
    """The kernel's own sizes, at discovery (a placeholder when it is not declared here)."""
    try:
        return list(pp.kernel(kernel).sizes)
    except Exception:  # pytest_particles missing, or a commit before declared kernels
        return [1]


def case_args(kernel, size):
    """The arguments of the kernel's own case of ``size``; NotImplementedError before kernels had cases."""
    try:
        from pytest_particles.cases import Case
    except ImportError:
        raise NotImplementedError("no kernel cases (pytest_particles.cases) at this commit") from None
    return Case(kernel, size).args


def start_cluster(kernel):
    """Start a local cluster for ``kernel``'s ipyparallel backend; NotImplementedError (skip) when impossible here."""
    if pp is None:
        raise NotImplementedError("pytest_particles is not installed")
    try:
        from pytest_particles import cluster
    except ImportError:
        raise NotImplementedError("no pytest_particles.cluster at this commit") from None
    if BACKEND not in {b.name for b in pp.backends(kernel)}:
        raise NotImplementedError(f"no {kernel} backend {BACKEND!r} at this commit")
    missing = cluster.ipyparallel_missing()
    if missing:
        raise NotImplementedError(missing)
    context = cluster.local_cluster(ENGINES)
    connection = context.__enter__()
    return context, connection


class _OnCluster:
    """Starts the cluster in setup, stops it in teardown; subclasses set KERNEL, and may override prepare."""

    KERNEL = None
    SLOW_LAST = True  # the last size is the slow one (skipped with ASV_SKIP_SLOW)
    timeout = 600
    rounds = 1
    repeat = (1, 3, 30.0)
    number = 1
    warmup_time = 0
    param_names = ["backend", "size"]

    def setup(self, *params):
        if SKIP_SLOW and self.SLOW_LAST and len(self.params[-1]) > 1 and params[-1] == self.params[-1][-1]:
            raise NotImplementedError("ASV_SKIP_SLOW is set")
        self._context, self.connection = start_cluster(self.KERNEL)
        try:
            self.backend = require(self.KERNEL, BACKEND)
            self.prepare(*params)
        except BaseException:
            self.teardown(*params)
            raise

    def prepare(self, backend, size):
        self.args = case_args(self.KERNEL, size)
        self.backend(*case_args(self.KERNEL, 1))  # warm up: imports on the engines

    def run(self, backend, size):  # the timed call of each subclass, named after its kernel below
        self.backend(*self.args)

    def teardown(self, *params):
        context, self._context = getattr(self, "_context", None), None
        if context is not None:
            context.__exit__(None, None, None)


class TimeClusterEvolve(_OnCluster):
    KERNEL = "evolve"
    params = [[BACKEND], declared_sizes(KERNEL)]
    time_evolve = _OnCluster.run


class TimeClusterDistanceMatrix(_OnCluster):
    KERNEL = "distance_matrix"
    params = [[BACKEND], declared_sizes(KERNEL)]
    time_distance_matrix = _OnCluster.run


class TimeClusterPi(_OnCluster):
    KERNEL = "pi"
    params = [[BACKEND], declared_sizes(KERNEL)]
    time_pi = _OnCluster.run


class TimeClusterOverhead(_OnCluster):
    """What a call pays besides the work: a no-op round trip, and moving the evolve case's particles alone."""

    KERNEL = "evolve"
    SLOW_LAST = False
    params = [max(declared_sizes(KERNEL))]
    param_names = ["particles"]

    def prepare(self, n):
        import numpy as np

        from pytest_particles import cluster

        if not hasattr(cluster, "round_trip"):
            raise NotImplementedError("no pytest_particles.cluster.round_trip at this commit")
        r, ang_speed = case_args(self.KERNEL, n)[:2]
        self.round_trip = cluster.round_trip
        self.view = self.connection.client.direct_view(targets=self.connection.engine_ids())
        self.packed = np.column_stack([r, ang_speed])
        self.view.scatter("_bench_particles", self.packed, block=False).get(timeout=60)

    def time_noop_round_trip(self, n):
        self.round_trip(self.connection)

    def time_scatter_particles(self, n):
        self.view.scatter("_bench_particles", self.packed, block=False).get(timeout=60)

    def time_gather_particles(self, n):
        self.view.gather("_bench_particles", block=False).get(timeout=60)
