"""The plugin's markers: ``@pytest.mark.kernel`` and ``@pytest.mark.speedup`` read, checked and acted on.

A bad marker fails its test with one line that names the argument (never a
traceback); backend names resolve through :func:`registry.lookup`, the one
resolver with the one message every front end shows.
"""

from __future__ import annotations

import numbers
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported on first use
    from .cases import RecordingBackend
    from .records import Backend, Kernel


def _registry() -> ModuleType:
    from . import registry  # on first use: the plugin costs nothing in suites that never use a marker

    registry.load_entry_points()
    return registry


def _backend(kernel_name: str, name: object, where: str) -> Backend:
    """The Backend called ``name``, through the registry's one resolver and its one message."""
    try:
        return _registry().lookup(kernel_name, name, available=False)
    except (TypeError, ValueError) as exc:
        pytest.fail(f"{where}: {exc}", pytrace=False)


KERNEL = "kernel(name, backends=None, sizes=None): run the test once per backend of the declared kernel " \
    "`name` (e.g. evolve, distance_matrix, pi or your own), or of the listed backends, and once per size"
KERNEL_KEYWORDS = ("backends", "sizes")
SPEEDUP = "speedup(over, at_least): on a kernel-marked test, fail when its backend is not at least " \
    "`at_least` times faster than backend `over` on the test's own call, both timed in this session, interleaved"


def kernel_arguments(marker: pytest.Mark) -> tuple[Kernel, list[Backend], list[int] | None]:
    """The kernel record, backend records and sizes of a kernel marker, or a readable collection error."""
    registry = _registry()
    names = ", ".join(registry.kernel_names())
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        pytest.fail(f"@pytest.mark.kernel takes one kernel name, one of {names}; got arguments {marker.args!r}",
                    pytrace=False)
    try:
        kernel = registry.kernel(marker.args[0])
    except ValueError:
        pytest.fail(f"@pytest.mark.kernel: unknown kernel {marker.args[0]!r}; use one of {names}", pytrace=False)
    unknown = sorted(set(marker.kwargs) - set(KERNEL_KEYWORDS))
    if unknown:
        pytest.fail(f"@pytest.mark.kernel: unknown argument {', '.join(unknown)}; it takes backends= and sizes=",
                    pytrace=False)
    records = kernel.backends()
    wanted = marker.kwargs.get("backends")
    if wanted is not None:
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        records = [_backend(kernel.name, name, f"@pytest.mark.kernel({kernel.name!r})") for name in wanted]
    sizes = marker.kwargs.get("sizes")
    if sizes is not None:
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if not sizes or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and int(s) >= 1
                                for s in sizes):
            pytest.fail(f"@pytest.mark.kernel({kernel.name!r}): sizes must be ints >= 1; "
                        f"got {marker.kwargs['sizes']!r}", pytrace=False)
    return kernel, records, sizes


def skip_reason(kernel: Kernel, record: Backend, on_cluster: bool, no_reference: str) -> str:
    """Why this backend's test is skipped ('' when it runs)."""
    if no_reference:
        return no_reference
    # with --particles-cluster, a distributed backend becomes available when its test starts the cluster
    if record.available or (on_cluster and record.kind == "distributed"):
        return ""
    return f"{kernel.name} backend {record.name!r} is not available: {record.reason}"


def speedup_arguments(item: pytest.Item, kernel_name: str | None) -> tuple[str | None, float] | None:
    """``over`` and ``at_least`` of a speedup marker, or a readable error."""
    marker = item.get_closest_marker("speedup")
    if marker is None:
        return None
    if kernel_name is None:
        pytest.fail("@pytest.mark.speedup needs @pytest.mark.kernel(...) on the same test", pytrace=False)
    unknown = sorted(set(marker.kwargs) - {"over", "at_least"})
    if marker.args or unknown:
        pytest.fail(f"@pytest.mark.speedup takes keywords over= and at_least=; got {marker.args!r} {unknown}",
                    pytrace=False)
    over, at_least = marker.kwargs.get("over"), marker.kwargs.get("at_least")
    _backend(kernel_name, over, f"@pytest.mark.speedup(over={over!r})")
    if isinstance(at_least, bool) or not isinstance(at_least, numbers.Real) or not at_least > 0:  # type: ignore[operator]  # typeshed: Real lacks >
        pytest.fail(f"@pytest.mark.speedup: at_least must be a number > 0; got {at_least!r}", pytrace=False)
    return over, float(at_least)


def check_speedup(record: RecordingBackend | None, over: str | None, at_least: float, bench: Any) -> None:
    """Time the test's last call on its backend and on ``over``, interleaved; fail if too slow."""
    from .timing import interleaved_ratio

    if record is None or record.last_call is None:
        pytest.fail("@pytest.mark.speedup: the test never called its backend fixture, so there is nothing to "
                    "time (call backend(...), or benchmark(backend, ...))", pytrace=False)
    other = _backend(record.kernel, over, f"@pytest.mark.speedup(over={over!r})")
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
