"""The pytest plugin: options, hooks and fixtures, wiring over the registry and the cases (it names no kernel).

Registered through the ``pytest11`` entry point as ``particles`` (disable it
with ``-p no:particles``).  ``@pytest.mark.kernel(name, backends=None,
sizes=None)`` runs a test once per backend (and size) of any declared kernel;
the fixtures ``backend``, ``size`` and ``kernel_case`` give it what it needs;
tests that also use pytest-benchmark's ``benchmark`` get a group and
extra_info.  Installed in other people's suites, it costs nothing until used:
numpy, the registry, the kernels and the cluster are imported only when a test
uses the marker or a fixture, or an option asks for them.  The markers are read
in :mod:`.markers`, pytest-benchmark's hooks sit in :mod:`.benchmark_hooks`,
and the book's fixtures (``particle_system``, ``reference_case``,
``assert_physics``) in :mod:`.book.fixtures`, registered here.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Generator, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import pytest

from . import arguments, markers

if TYPE_CHECKING:  # imported where used: the plugin costs nothing until a test uses it
    from .cases import Case, RecordingBackend
    from .cluster import Connection


def _registry() -> ModuleType:
    from . import registry

    registry.load_entry_points()
    return registry


# --- options ---------------------------------------------------------------------------------


# The list parsers are shared with the command line (one syntax for --particles-sizes and --size).
parse_names, parse_size, parse_sizes = arguments.names, arguments.size, arguments.sizes
parse_cluster = arguments.cluster


def add_options(addoption: Callable[..., Any], prefix: str = "particles-") -> None:
    """The plugin's command-line options, reusable by other front ends."""
    addoption(
        f"--{prefix}backends", metavar="NAMES", type=parse_names, default=None,
        help="Run kernel-marked tests only for these backends (comma-separated). Ini: particles_backends.",
    )
    addoption(
        f"--{prefix}sizes", metavar="SIZES", type=parse_sizes, default=None,
        help="Override the sizes of kernel-marked tests (comma-separated, e.g. 100,1e4). Ini: particles_sizes.",
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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("particles", "pytest-particles: check and benchmark every backend of a kernel")
    add_options(group.addoption)
    parser.addini("particles_backends", "Backends to run in kernel-marked tests (comma-separated)", default="")
    parser.addini("particles_sizes", "Sizes for kernel-marked tests (comma-separated ints)", default="")
    parser.addini("particles_cluster", "ipyparallel cluster for the session: local[:N], a profile or a connection file",
                  default="")


def _setting(config: pytest.Config, name: str, parse: Callable[[str], Any]) -> tuple[Any, str]:
    """(value, text as the user wrote it) from the command line, else the ini file, else (None, '')."""
    value = config.getoption(name)
    if value is not None:
        flag = "--" + name.replace("_", "-")
        args = [str(arg) for arg in config.invocation_params.args]
        written = [arg.split("=", 1)[1] if arg.startswith(flag + "=") else after
                   for arg, after in zip(args, args[1:] + [""]) if arg == flag or arg.startswith(flag + "=")]
        return value, written[-1] if written else str(value)
    text = config.getini(name).strip()
    if not text:
        return None, ""
    try:
        return parse(text), text
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"ini option {name}: {exc}") from None


@dataclasses.dataclass
class _Settings:
    """The session's options, parsed once in pytest_configure, and its cases (in ``config.stash``)."""

    backends: list[str] | None
    sizes: list[int] | None
    cluster: tuple[str, Any] | None  # arguments.cluster: ("local", N) or ("profile" | "connection_file", str)
    cluster_text: str
    cases: dict[tuple[str, int], Case] = dataclasses.field(default_factory=dict)


_SETTINGS = pytest.StashKey[_Settings]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", markers.KERNEL)
    config.addinivalue_line("markers", markers.SPEEDUP)
    from .book import fixtures  # the book's own fixtures (its physics), a plugin of their own

    config.pluginmanager.register(fixtures, "particles-book")
    if config.pluginmanager.hasplugin("benchmark"):
        from .benchmark_hooks import BenchmarkHooks

        config.pluginmanager.register(BenchmarkHooks(), "particles-benchmark")
    if config.getoption("particles_profile", None) is not None:
        from .profiling import ProfileHooks

        config.pluginmanager.register(ProfileHooks.from_option(config, config.getoption("particles_profile")),
                                      "particles-profile")
    backends, _ = _setting(config, "particles_backends", parse_names)
    sizes, _ = _setting(config, "particles_sizes", parse_sizes)
    settings = _Settings(backends, sizes, *_setting(config, "particles_cluster", parse_cluster))
    config.stash[_SETTINGS] = settings
    if settings.backends:
        try:
            _registry().check_backend_names(settings.backends)
        except ValueError as exc:
            raise pytest.UsageError(f"--particles-backends: {exc}") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The kernels and their backends, when this session uses them (a conftest imported them, or an option)."""
    settings = config.stash[_SETTINGS]
    asked = settings.backends or settings.sizes or settings.cluster is not None
    if not asked and "pytest_particles.registry" not in sys.modules:
        return []
    lines = []
    for kernel in _registry().kernels():
        records = kernel.backends()
        lines.append(f"particles {kernel.name}: {', '.join(b.name for b in records if b.available) or 'none'}")
        lines += [f"  unavailable {b.name}: {b.reason}" for b in records if not b.available]
    if settings.cluster is not None:
        lines.append(f"particles cluster: {settings.cluster_text} "
                     "(ipyparallel backends run on it; started or connected on first use)")
    return lines


# --- parametrization -------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("kernel")
    if marker is None:
        return
    kernel, records, sizes = markers.kernel_arguments(marker)
    if "backend" not in metafunc.fixturenames:  # a test that only benchmarks still runs once per backend
        metafunc.fixturenames.append("backend")
    # with --particles-cluster, the ipyparallel backend becomes available when its test starts the cluster
    settings = metafunc.config.stash[_SETTINGS]
    on_cluster = settings.cluster is not None
    from .cases import reference_reason

    no_reference = reference_reason(kernel)
    params = []
    for b in records:
        reason = markers.skip_reason(kernel, b, on_cluster, no_reference)
        params.append(pytest.param(b.name, marks=pytest.mark.skip(reason=reason) if reason else ()))
    metafunc.parametrize("backend", params, ids=[b.name for b in records], indirect=True)
    override = settings.sizes
    wants_size = "size" in metafunc.fixturenames or "kernel_case" in metafunc.fixturenames
    if sizes is not None or wants_size:
        if "size" not in metafunc.fixturenames:
            metafunc.fixturenames.append("size")
        sizes = override or sizes or list(kernel.sizes)
        metafunc.parametrize("size", sizes, ids=[str(s) for s in sizes], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = config.stash[_SETTINGS].backends
    if not wanted:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec: Any = getattr(item, "callspec", None)
        marked = item.get_closest_marker("kernel") is not None and callspec is not None
        (drop if marked and callspec.params.get("backend") not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- the test call: benchmark group and extra_info, speedup ------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    marker = item.get_closest_marker("kernel")
    if marker is None:
        if item.get_closest_marker("speedup") is not None:
            markers.speedup_arguments(item, None)
        return (yield)
    kernel_name = marker.args[0]
    speedup = markers.speedup_arguments(item, kernel_name)
    bench = getattr(item, "funcargs", {}).get("benchmark")
    if not hasattr(bench, "extra_info"):
        bench = None
    function = cast(pytest.Function, item)  # kernel-marked: parametrized by pytest_generate_tests
    params = function.callspec.params
    size = params.get("size")
    if bench is not None:
        if getattr(bench, "group", None) is None:
            bench.group = f"{kernel_name}[{size}]" if size is not None else kernel_name
        bench.extra_info.update(kernel=kernel_name, backend=params["backend"], size=size)
    result = yield
    record: Any = function.funcargs.get("backend")  # the RecordingBackend, unless the test overrode the fixture
    if bench is not None and getattr(record, "last_call", None) is not None:
        kernel = _registry().kernel(kernel_name)
        work = record.last_work
        if work is None and size is not None:
            work = kernel.work(size)
        if work is not None:
            bench.extra_info.update(work=work, work_unit=kernel.work_unit)
    if speedup is not None and params["backend"] != speedup[0] and not getattr(bench, "disabled", False):
        markers.check_speedup(record, *speedup, bench)
    return result


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> RecordingBackend:
    """The Backend of the current parameter; call it like the kernel's public function without backend=."""
    if not hasattr(request, "param"):
        pytest.fail("the backend fixture needs a kernel marker, e.g. @pytest.mark.kernel('evolve')", pytrace=False)
    kernel_name = request.node.get_closest_marker("kernel").args[0]
    record = _registry().lookup(kernel_name, request.param, available=False)
    if record.kind == "distributed" and request.config.stash[_SETTINGS].cluster is not None:
        request.getfixturevalue("ipcluster")  # starts or connects the session's cluster, once
    from .cases import RecordingBackend

    return RecordingBackend(record)


@pytest.fixture
def size(request: pytest.FixtureRequest) -> int:
    """The current size of a kernel-marked test (the marker's sizes, --particles-sizes, else the kernel's own)."""
    if not hasattr(request, "param"):
        pytest.fail("the size fixture needs sizes: @pytest.mark.kernel(..., sizes=[...]) or --particles-sizes",
                    pytrace=False)
    return request.param


class KernelCase:
    """The case of this test's kernel and size, for this test's backend.

    ``args`` (fresh copies on every access), ``size``, ``work``,
    ``expected`` (the reference backend's result, computed once per session)
    and ``check(result)``: the reference comparison plus the kernel's ``check``.
    """

    def __init__(self, case: Case, backend_name: str) -> None:
        self._case = case
        self.kernel = case.kernel.name
        self.backend = backend_name
        self.size = case.size
        self.work = case.work

    @property
    def args(self) -> tuple:
        return self._case.args

    @property
    def expected(self) -> Any:
        return self._case.expected

    def check(self, result: object) -> None:
        __tracebackhide__ = True
        try:
            self._case.check(result, self.backend)
        except AssertionError as exc:
            pytest.fail(str(exc), pytrace=False)

    def __repr__(self) -> str:
        return f"<kernel_case {self.kernel}[{self.size}] for {self.backend!r}>"


@pytest.fixture
def kernel_case(request: pytest.FixtureRequest, backend: RecordingBackend, size: int) -> KernelCase:
    """The case of this kernel-marked test's kernel at its size: ``.args``, ``.size``, ``.expected``,
    ``.check(result)``."""
    from .cases import Case

    kernel = _registry().kernel(backend.kernel)
    cache = request.config.stash[_SETTINGS].cases
    key = (kernel.name, size)
    if key not in cache:
        cache[key] = Case(kernel, size)
    case = cache[key]
    costly = backend.too_costly(case.work)
    if costly:
        pytest.skip(costly)
    return KernelCase(case, backend.name)


@pytest.fixture(scope="session")
def ipcluster(request: pytest.FixtureRequest) -> Iterator[Connection]:
    """The session's ipyparallel cluster, a ``pytest_particles.cluster.Connection``.

    From ``--particles-cluster``: ``local[:N]`` starts a controller and N
    engines on 127.0.0.1 once and stops them at the end of the session; a
    profile or a connection file connects to a running cluster and leaves it
    running.  Without the option: the cluster this process is connected to,
    else the test is skipped.
    """
    from . import cluster

    missing = cluster.ipyparallel_missing()
    if missing:
        pytest.skip(missing)
    spec = request.config.stash[_SETTINGS].cluster
    if spec is None:
        current = cluster.current()
        if current is None:
            pytest.skip(cluster.NOT_CONNECTED)
        yield current
    elif spec[0] == "local":
        with cluster.local_cluster(spec[1]) as connection:
            yield connection
    else:
        connection = cluster.connect(**{spec[0]: spec[1]})
        try:
            yield connection
        finally:
            cluster.disconnect(connection)
