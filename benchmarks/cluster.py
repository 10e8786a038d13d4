"""The ipyparallel backends on a local cluster of 2 engines (127.0.0.1): time per call, and the overhead's parts.

The cluster is started in ``setup`` and stopped in ``teardown`` (asv runs both
in the benchmark's own process, untimed; it also runs them between samples,
hence few samples here).  Skipped (NotImplementedError) when ipyparallel is
not installed or the backends do not exist at the commit measured.

Run as a script for the side-by-side measurement of scatter/gather against
the best single-process backends, with the overhead broken down::

    python -m benchmarks.cluster --particles 10000 --steps 10000 --repeat 5
"""

import argparse
import json
import statistics
import time

from .common import SEED, SKIP_SLOW, TIMESTEP, particles, require

try:
    import pytest_particles as pp
except ImportError:
    pp = None

ENGINES = 2
STEPS = 1_000  # as benchmarks/evolve.py


def start_cluster(kernel):
    """Start a local cluster for ``kernel``'s ipyparallel backend; NotImplementedError (skip) when impossible here."""
    if pp is None:
        raise NotImplementedError("pytest_particles is not installed")
    try:
        from pytest_particles import cluster
    except ImportError:
        raise NotImplementedError("no pytest_particles.cluster at this commit") from None
    if "ipyparallel" not in {b.name for b in pp.backends(kernel)}:
        raise NotImplementedError(f"no {kernel} backend 'ipyparallel' at this commit")
    missing = cluster.ipyparallel_missing()
    if missing:
        raise NotImplementedError(missing)
    context = cluster.local_cluster(ENGINES)
    connection = context.__enter__()
    return context, connection


class _OnCluster:
    """Starts the cluster in setup, stops it in teardown; subclasses set KERNEL and build their inputs."""

    KERNEL = None
    SLOW_LAST = True  # the last size is the slow one (skipped with ASV_SKIP_SLOW)
    timeout = 600
    rounds = 1
    repeat = (1, 3, 30.0)
    number = 1
    warmup_time = 0

    def setup(self, *params):
        if SKIP_SLOW and self.SLOW_LAST and params[-1] == self.params[-1]:
            raise NotImplementedError("ASV_SKIP_SLOW is set")
        self._context, self.connection = start_cluster(self.KERNEL)
        try:
            self.backend = require(self.KERNEL, "ipyparallel")
            self.prepare(*params)
        except BaseException:
            self.teardown(*params)
            raise

    def teardown(self, *params):
        context, self._context = getattr(self, "_context", None), None
        if context is not None:
            context.__exit__(None, None, None)


class TimeClusterEvolve(_OnCluster):
    KERNEL = "evolve"
    params = [1_000, 10_000]
    param_names = ["particles"]

    def prepare(self, n):
        self.r, self.ang_speed = particles(n)
        self.backend(self.r[:2], self.ang_speed[:2], TIMESTEP)  # warm up: imports on the engines

    def time_evolve(self, n):
        self.backend(self.r, self.ang_speed, STEPS * TIMESTEP)


class TimeClusterDistanceMatrix(_OnCluster):
    KERNEL = "distance_matrix"
    params = [1_000, 3_000]
    param_names = ["points"]

    def prepare(self, n):
        self.r = particles(n)[0]
        self.backend(self.r[:2])

    def time_distance_matrix(self, n):
        self.backend(self.r)


class TimeClusterPi(_OnCluster):
    KERNEL = "pi"
    params = [1_000_000, 10_000_000]
    param_names = ["samples"]

    def prepare(self, samples):
        self.backend(10, seed=SEED)

    def time_monte_carlo_pi(self, samples):
        self.backend(samples, seed=SEED)


class TimeClusterOverhead(_OnCluster):
    """What a call pays besides the work: a no-op round trip, and moving the particles alone."""

    KERNEL = "evolve"
    SLOW_LAST = False
    params = [10_000]
    param_names = ["particles"]

    def prepare(self, n):
        import numpy as np

        r, ang_speed = particles(n)
        self.view = self.connection.client.direct_view(targets=self.connection.engine_ids())
        self.packed = np.column_stack([r, ang_speed])
        self.view.scatter("_bench_particles", self.packed, block=False).get(timeout=60)

    def time_noop_round_trip(self, n):
        self.view.apply_async(_noop).get(timeout=60)

    def time_scatter_particles(self, n):
        self.view.scatter("_bench_particles", self.packed, block=False).get(timeout=60)

    def time_gather_particles(self, n):
        self.view.gather("_bench_particles", block=False).get(timeout=60)


def _noop():
    return None


_noop.__module__ = "__main__"  # shipped by code: the engines need not import this module


# --- the side-by-side measurement ------------------------------------------------------------


def measure(n=10_000, steps=10_000, repeat=5, engines=ENGINES):
    """Interleaved rounds of openmp, cython and ipyparallel evolve, and the parts of ipyparallel's overhead."""
    import numpy as np

    from pytest_particles import cluster

    r, ang_speed = particles(n)
    dt = steps * TIMESTEP
    single = []
    for name in ("openmp", "cython"):
        try:
            require("evolve", name)
            single.append(name)
        except NotImplementedError as exc:
            print(f"{name} not measured: {exc}")
    times = {name: [] for name in single + ["ipyparallel"]}
    phases = []
    with cluster.local_cluster(engines) as connection:
        for name in times:  # warm up: imports, threads, the engines' first call
            pp.evolve(r[:10], ang_speed[:10], TIMESTEP, backend=name)
        for _ in range(repeat):
            for name in single:
                start = time.perf_counter()
                pp.evolve(r, ang_speed, dt, backend=name)
                times[name].append(time.perf_counter() - start)
            positions, part = np.array(r), {}
            start = time.perf_counter()
            cluster.scatter_evolve_gather(connection, positions, np.array(ang_speed), TIMESTEP, steps, part)
            times["ipyparallel"].append(time.perf_counter() - start)
            phases.append(part)
        bench = TimeClusterOverhead()
        bench.connection = connection
        bench.prepare(n)
        parts = {
            "noop_round_trip": _median_of(lambda: bench.time_noop_round_trip(n), 50),
            "scatter_alone": _median_of(lambda: bench.time_scatter_particles(n), 20),
            "gather_alone": _median_of(lambda: bench.time_gather_particles(n), 20),
        }
    best = {name: min(values) for name, values in times.items()}
    medians = {name: statistics.median(values) for name, values in times.items()}
    fastest = min(range(repeat), key=lambda i: times["ipyparallel"][i])
    return {
        "particles": n, "steps": steps, "engines": engines, "repeat": repeat,
        "best_s": best, "median_s": medians, "all_s": times,
        "ipyparallel_phases_of_best_s": phases[fastest],
        "ipyparallel_phases_median_s": {key: statistics.median(p[key] for p in phases)
                                        for key in ("scatter", "compute", "gather", "cleanup", "remote")},
        "overhead_parts_s": parts,
    }


def _median_of(call, count):
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    result = measure(args.particles, args.steps, args.repeat)
    print(f"evolve, {result['particles']} particles x {result['steps']} steps, "
          f"{result['repeat']} interleaved rounds, ipyparallel on {result['engines']} local engines")
    for name, best in result["best_s"].items():
        print(f"  {name:12s} best {best * 1e3:8.1f} ms   median {result['median_s'][name] * 1e3:8.1f} ms")
    p = result["ipyparallel_phases_median_s"]
    print("ipyparallel phases (median over rounds, seen from the client):")
    print(f"  scatter {p['scatter'] * 1e3:.1f} ms, compute {p['compute'] * 1e3:.1f} ms "
          f"(of which on the slowest engine {p['remote'] * 1e3:.1f} ms), gather {p['gather'] * 1e3:.1f} ms, "
          f"clean-up {p['cleanup'] * 1e3:.1f} ms")
    overhead = result["median_s"]["ipyparallel"] - p["remote"]
    print(f"  overhead (median call minus the slowest engine's compute): {overhead * 1e3:.1f} ms")
    o = result["overhead_parts_s"]
    print(f"  no-op apply round trip {o['noop_round_trip'] * 1e3:.2f} ms, scatter of the data alone "
          f"{o['scatter_alone'] * 1e3:.2f} ms, gather alone {o['gather_alone'] * 1e3:.2f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
