"""The pytest plugin: wiring over the registry and the reference physics.

Registered through the ``pytest11`` entry point as ``particles`` (disable it
with ``-p no:particles``).  ``@pytest.mark.kernel(name, backends=None,
sizes=None)`` runs a test once per backend (and size); the fixtures
``backend``, ``size``, ``particle_system``, ``reference_case`` and
``assert_physics`` give it what it needs; tests that also use
pytest-benchmark's ``benchmark`` get a group and extra_info.
"""

from __future__ import annotations

import argparse
import numbers
import os

import pytest

from . import cluster, physics, registry
from .bench import interleaved_ratio, work_done

KERNEL_MARKER = "kernel(name, backends=None, sizes=None): run the test once per backend of kernel `name` " \
    "(evolve, distance_matrix or pi), or of the listed backends, and once per size when sizes are given"
MARKER_KEYWORDS = ("backends", "sizes")
SPEEDUP_MARKER = "speedup(over, at_least): on a kernel-marked test, fail when its backend is not at least " \
    "`at_least` times faster than backend `over` on the test's own call, both timed in this session, interleaved"


# --- options ---------------------------------------------------------------------------------


def parse_names(text: str) -> list[str]:
    """A comma-separated list of backend names."""
    names = [name.strip() for name in str(text).replace(" ", ",").split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated backend names, got {text!r}")
    return names


def parse_sizes(text: str) -> list[int]:
    """A comma-separated list of sizes, each an int >= 1."""
    sizes = []
    for part in str(text).replace(" ", ",").split(","):
        if not part.strip():
            continue
        try:
            size = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"sizes must be whole numbers >= 1, got {part.strip()!r} in {text!r}") from None
        if size < 1:
            raise argparse.ArgumentTypeError(f"sizes must be whole numbers >= 1, got {size} in {text!r}")
        sizes.append(size)
    if not sizes:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes, got {text!r}")
    return sizes


def parse_cluster(text: str) -> tuple[str, int | str]:
    """``local[:N]`` (N engines started here, default 2), a connection file (.json) or a profile name or directory.

    Returns ("local", N), ("connection_file", path) or ("profile", name).
    """
    text = str(text).strip()
    name, colon, count = text.partition(":")
    if name == "local":
        n = int(count) if count.isdigit() else 0
        if colon and n < 1:
            raise argparse.ArgumentTypeError(f"expected local:N with N engines, a whole number >= 1; got {text!r}")
        return ("local", n if colon else 2)
    if text.endswith(".json") or os.path.isfile(text):
        if not os.path.isfile(text):
            raise argparse.ArgumentTypeError(f"connection file {text!r} does not exist")
        return ("connection_file", text)
    if not text:
        raise argparse.ArgumentTypeError("expected local[:N], a profile name or a connection file; got ''")
    return ("profile", text)


def add_options(addoption, prefix: str = "particles-") -> None:
    """The plugin's command-line options, reusable by other front ends."""
    addoption(
        f"--{prefix}backends", metavar="NAMES", type=parse_names, default=None,
        help="Run kernel-marked tests only for these backends (comma-separated). Ini: particles_backends.",
    )
    addoption(
        f"--{prefix}sizes", metavar="SIZES", type=parse_sizes, default=None,
        help="Override the sizes of kernel-marked tests (comma-separated ints). Ini: particles_sizes.",
    )
    addoption(
        f"--{prefix}cluster", metavar="local[:N]|PROFILE|CONNECTION_FILE", type=parse_cluster, default=None,
        help="Run the ipyparallel backends in kernel-marked tests: start a controller and N engines on 127.0.0.1 "
        "for the session (local, local:N; default N=2), or connect to a running cluster by profile name or "
        "connection file. Ini: particles_cluster.",
    )
    addoption(
        f"--{prefix}profile", metavar="DIR", default=None,
        help="Profile each kernel-marked test's last backend call into DIR: cProfile .prof, KCachegrind "
        ".calltree, line_profiler report for pure-Python backends, memory peak (summary.json/.csv).",
    )


def pytest_addoption(parser):
    group = parser.getgroup("particles", "pytest-particles: check and benchmark every backend of a kernel")
    add_options(group.addoption)
    parser.addini("particles_backends", "Backends to run in kernel-marked tests (comma-separated)", default="")
    parser.addini("particles_sizes", "Sizes for kernel-marked tests (comma-separated ints)", default="")
    parser.addini("particles_cluster", "ipyparallel cluster for the session: local[:N], a profile or a connection file",
                  default="")


def _setting(config, name: str, parse):
    """The command-line value of a setting, else its ini value, else None."""
    value = config.getoption(name)
    if value is not None:
        return value
    text = config.getini(name).strip()
    if not text:
        return None
    try:
        return parse(text)
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"ini option {name}: {exc}") from None


def pytest_configure(config):
    config.addinivalue_line("markers", KERNEL_MARKER)
    config.addinivalue_line("markers", SPEEDUP_MARKER)
    if config.pluginmanager.hasplugin("benchmark"):
        config.pluginmanager.register(BenchmarkHooks(), "particles-benchmark")
    if config.getoption("particles_profile", None) is not None:
        from .profiling import ProfileHooks

        config.pluginmanager.register(ProfileHooks.from_option(config, config.getoption("particles_profile")),
                                      "particles-profile")
    config._particles_backends = _setting(config, "particles_backends", parse_names)
    config._particles_sizes = _setting(config, "particles_sizes", parse_sizes)
    config._particles_cluster = _setting(config, "particles_cluster", parse_cluster)
    if config._particles_backends:
        known = {b.name for kernel in registry.KERNELS for b in registry.backends(kernel)}
        unknown = [name for name in config._particles_backends if name not in known]
        if unknown:
            raise pytest.UsageError(
                f"--particles-backends: unknown backend {', '.join(map(repr, unknown))}; "
                f"registered: {', '.join(sorted(known))}"
            )


def pytest_report_header(config):
    lines = []
    for kernel in registry.KERNELS:
        records = registry.backends(kernel)
        lines.append(f"particles {kernel}: {', '.join(b.name for b in records if b.available) or 'none'}")
        lines += [f"  unavailable {b.name}: {b.reason}" for b in records if not b.available]
    if config._particles_cluster is not None:
        lines.append(f"particles cluster: {config.getoption('particles_cluster') or config.getini('particles_cluster')}"
                     " (ipyparallel backends run on it; started or connected on first use)")
    return lines


# --- parametrization -------------------------------------------------------------------------


def _marker_arguments(marker):
    """The kernel, backend records and sizes of a kernel marker, or a readable collection error."""
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        pytest.fail(f"@pytest.mark.kernel takes one kernel name, one of {', '.join(registry.KERNELS)}; "
                    f"got arguments {marker.args!r}", pytrace=False)
    kernel = marker.args[0]
    if kernel not in registry.KERNELS:
        pytest.fail(f"@pytest.mark.kernel: unknown kernel {kernel!r}; use one of {', '.join(registry.KERNELS)}",
                    pytrace=False)
    unknown = sorted(set(marker.kwargs) - set(MARKER_KEYWORDS))
    if unknown:
        pytest.fail(f"@pytest.mark.kernel: unknown argument {', '.join(unknown)}; it takes backends= and sizes=",
                    pytrace=False)
    records = registry.backends(kernel)
    names = marker.kwargs.get("backends")
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        by_name = {b.name: b for b in records}
        missing = [name for name in names if name not in by_name]
        if missing:
            pytest.fail(f"@pytest.mark.kernel({kernel!r}): backend {', '.join(map(repr, missing))} is not registered; "
                        f"registered {kernel} backends: {', '.join(by_name)}", pytrace=False)
        records = [by_name[name] for name in names]
    sizes = marker.kwargs.get("sizes")
    if sizes is not None:
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if not sizes or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
            pytest.fail(f"@pytest.mark.kernel({kernel!r}): sizes must be ints >= 1; got {marker.kwargs['sizes']!r}",
                        pytrace=False)
    return kernel, records, sizes


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("kernel")
    if marker is None:
        return
    kernel, records, sizes = _marker_arguments(marker)
    if "backend" not in metafunc.fixturenames:  # a test that only benchmarks still runs once per backend
        metafunc.fixturenames.append("backend")
    # with --particles-cluster, the ipyparallel backend becomes available when its test starts the cluster
    on_cluster = metafunc.config._particles_cluster is not None and not cluster.ipyparallel_missing()
    metafunc.parametrize(
        "backend",
        [
            pytest.param(b.name, marks=() if b.available or (on_cluster and b.name == cluster.BACKEND) else
                         pytest.mark.skip(reason=f"{kernel} backend {b.name!r} is not available: {b.reason}"))
            for b in records
        ],
        ids=[b.name for b in records],
        indirect=True,
    )
    override = metafunc.config._particles_sizes
    if sizes is not None or (override and "size" in metafunc.fixturenames):
        if "size" not in metafunc.fixturenames:
            metafunc.fixturenames.append("size")
        sizes = override or sizes
        metafunc.parametrize("size", sizes, ids=[str(s) for s in sizes], indirect=True)


def pytest_collection_modifyitems(config, items):
    wanted = config._particles_backends
    if not wanted:
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        marked = item.get_closest_marker("kernel") is not None and callspec is not None
        (drop if marked and callspec.params.get("backend") not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- pytest-benchmark ------------------------------------------------------------------------


def _speedup_arguments(item, kernel: str):
    """``over`` and ``at_least`` of a speedup marker, or a readable error."""
    marker = item.get_closest_marker("speedup")
    if marker is None:
        return None
    if kernel is None:
        pytest.fail("@pytest.mark.speedup needs @pytest.mark.kernel(...) on the same test", pytrace=False)
    unknown = sorted(set(marker.kwargs) - {"over", "at_least"})
    if marker.args or unknown:
        pytest.fail(f"@pytest.mark.speedup takes keywords over= and at_least=; got {marker.args!r} {unknown}",
                    pytrace=False)
    over, at_least = marker.kwargs.get("over"), marker.kwargs.get("at_least")
    names = [b.name for b in registry.backends(kernel)]
    if over not in names:
        pytest.fail(f"@pytest.mark.speedup: over={over!r} is not a registered {kernel} backend; "
                    f"registered: {', '.join(names)}", pytrace=False)
    if isinstance(at_least, bool) or not isinstance(at_least, numbers.Real) or not at_least > 0:
        pytest.fail(f"@pytest.mark.speedup: at_least must be a number > 0; got {at_least!r}", pytrace=False)
    return over, float(at_least)


def _check_speedup(record, over: str, at_least: float, bench) -> None:
    """Time the test's last call on its backend and on ``over``, interleaved; fail if too slow."""
    if record is None or record.last_call is None:
        pytest.fail("@pytest.mark.speedup: the test never called its backend fixture, so there is nothing to "
                    "time (call backend(...), or benchmark(backend, ...))", pytrace=False)
    other = next(b for b in registry.backends(record.kernel) if b.name == over)
    if not other.available:
        pytest.skip(f"speedup over {over!r} not checked: {over!r} is not available: {other.reason}")
    args, kwargs = record.last_call
    ratio = interleaved_ratio(lambda: record.run_public(*args, **kwargs), lambda: other(*args, **kwargs))
    if bench is not None:
        bench.extra_info[f"speedup_over_{over}"] = round(ratio.median, 3)
    if not ratio.median >= at_least:
        pytest.fail(
            f"{record.kernel} backend {record.name!r} is {ratio.median:.3g}x faster than {over!r} "
            f"(rounds {ratio.low:.3g}x to {ratio.high:.3g}x, {ratio.rounds} rounds interleaved); "
            f"expected at least {at_least:g}x",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("kernel")
    kernel = marker.args[0] if marker is not None and marker.args else None
    speedup = _speedup_arguments(item, kernel)
    bench = getattr(item, "funcargs", {}).get("benchmark")
    if not hasattr(bench, "extra_info"):
        bench = None
    if marker is None:
        return (yield)
    params = item.callspec.params
    size = params.get("size")
    if bench is not None:
        if getattr(bench, "group", None) is None:
            bench.group = f"{kernel}[{size}]" if size is not None else kernel
        bench.extra_info.update(kernel=kernel, backend=params["backend"], size=size)
    result = yield
    record = item.funcargs.get("backend")
    if bench is not None and getattr(record, "last_work", None) is not None:
        bench.extra_info.update(work=record.last_work[0], work_unit=record.last_work[1])
    if speedup is not None and params["backend"] != speedup[0] and not getattr(bench, "disabled", False):
        _check_speedup(record, *speedup, bench)
    return result


class BenchmarkHooks:
    """Hooks of pytest-benchmark, registered only when it is active (its hook specs exist then)."""

    @staticmethod
    @pytest.hookimpl(wrapper=True)
    def pytest_benchmark_group_stats(config, benchmarks, group_by):
        """Let ``--benchmark-group-by=param:NAME`` group benchmarks that lack that parameter.

        pytest-benchmark raises on a benchmark without the parameter (a plain
        test, or a kernel test without sizes grouped by param:size).  Such
        benchmarks get NAME=None, on copies of their params only.
        """
        names = [part[len("param:"):] for part in group_by.split(",") if part.startswith("param:")]
        for bench in benchmarks:
            params = bench.get("params") or {}
            missing = [name for name in names if name not in params]
            if missing or bench.get("params") is None:
                bench["params"] = {**params, **dict.fromkeys(missing)}
        return (yield)


# --- fixtures --------------------------------------------------------------------------------


class _RecordingBackend(registry.Backend):
    """The test's Backend, remembering its last call: the work for extra_info, the arguments for speedup."""

    __slots__ = ("last_work", "last_call")

    def __init__(self, record: registry.Backend):
        for name in registry.Backend.__slots__:
            setattr(self, name, getattr(record, name))
        self.last_work = self.last_call = None

    def run_public(self, *args, **kwargs):
        """Call the kernel's public function with this backend, without recording."""
        return super().__call__(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        result = super().__call__(*args, **kwargs)
        self.last_work = work_done(self.kernel, *args, **kwargs)
        self.last_call = (args, kwargs)
        return result


@pytest.fixture
def backend(request):
    """The Backend of the current parameter; call it like the kernel's public function without backend=."""
    if not hasattr(request, "param"):
        pytest.fail("the backend fixture needs a kernel marker, e.g. @pytest.mark.kernel('evolve')", pytrace=False)
    kernel = request.node.get_closest_marker("kernel").args[0]
    if request.param == cluster.BACKEND and request.config._particles_cluster is not None:
        request.getfixturevalue("ipcluster")  # starts or connects the session's cluster, once
    record = next(b for b in registry.backends(kernel) if b.name == request.param)
    return _RecordingBackend(record)


@pytest.fixture(scope="session")
def ipcluster(request):
    """The session's ipyparallel cluster, a ``pytest_particles.cluster.Connection``.

    From ``--particles-cluster``: ``local[:N]`` starts a controller and N
    engines on 127.0.0.1 once and stops them at the end of the session; a
    profile or a connection file connects to a running cluster and leaves it
    running.  Without the option: the cluster this process is connected to,
    else the test is skipped.
    """
    missing = cluster.ipyparallel_missing()
    if missing:
        pytest.skip(missing)
    spec = request.config._particles_cluster
    if spec is None:
        if cluster.current() is None:
            pytest.skip(cluster.NOT_CONNECTED)
        yield cluster.current()
    elif spec[0] == "local":
        with cluster.local_cluster(spec[1]) as connection:
            yield connection
    else:
        connection = cluster.connect(**{spec[0]: spec[1]})
        try:
            yield connection
        finally:
            cluster.disconnect(connection)


@pytest.fixture
def size(request):
    """The current size of a kernel-marked test with sizes."""
    if not hasattr(request, "param"):
        pytest.fail("the size fixture needs sizes: @pytest.mark.kernel(..., sizes=[...]) or --particles-sizes",
                    pytrace=False)
    return request.param


@pytest.fixture
def particle_system():
    """Factory ``particle_system(n, seed=0) -> (r, ang_speed)``: the book's x, y, ang_speed uniform in (-1, 1)."""
    return physics.particle_system


@pytest.fixture
def reference_case():
    """The book's golden case for evolve: ``.r``, ``.ang_speed``, ``.dt``, ``.expected``, ``.tolerance``."""
    return physics.golden_case()


class AssertPhysics:
    """Reference-physics assertions; each raises an AssertionError saying what broke and by how much."""

    evolve = staticmethod(physics.check_evolve)
    golden = staticmethod(physics.check_golden)
    distance_matrix = staticmethod(physics.check_distance_matrix)
    pi = staticmethod(physics.check_pi)


@pytest.fixture
def assert_physics():
    """``.evolve(result, r, ang_speed, dt, timestep=1e-5)``, ``.distance_matrix(D, r)``, ``.pi(estimate, samples, sigmas=5)``."""
    return AssertPhysics()
