"""Profile one call of a kernel backend with the book's tools, never reimplemented.

For one call this writes, under a name of your choice:

- ``NAME.prof``: cProfile's statistics (``pstats``; ``python -m pstats NAME.prof``,
  the book's ``cProfile -o prof.out``);
- ``NAME.calltree``: the same converted by pyprof2calltree for KCachegrind /
  QCachegrind (the book's ``pyprof2calltree -i prof.out -o prof.calltree``);
- for pure-Python backends, ``NAME.lines.txt``: line_profiler's report of the
  backend function (the book's ``kernprof -l -v`` / ``%lprun``), and its raw
  ``NAME.lprof`` (``python -m line_profiler NAME.lprof``);

and measures the peak of Python-traced memory during the call (tracemalloc;
NumPy reports its array buffers to tracemalloc, so arrays count).  Each tool
runs the call once on its own, so none distorts another's numbers.

Used by ``pytest --particles-profile=DIR`` (:class:`ProfileHooks`: every
kernel-marked test's last call of its backend, replayed after the test) and by
``pytest-particles profile`` (:func:`profile_workload`).  Cython's annotation
is :mod:`pytest_particles.annotate`'s.
"""

from __future__ import annotations

import cProfile
import csv
import functools
import hashlib
import inspect
import io
import json
import pstats
import re
import tracemalloc
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pluggy import HookimplMarker

from . import registry
from .cases import DEFAULT_SEED, Case

if TYPE_CHECKING:  # the command line never imports pytest
    import pytest

hookimpl = HookimplMarker("pytest")  # pytest.hookimpl, without importing pytest for the command line

# ``pytest-particles profile`` runs the largest size with at most this much work (a pure-Python loop in ~0.1 s).
DEFAULT_WORK = 100_000
SUMMARY_FIELDS = ("test", "kernel", "backend", "size", "work", "work_unit", "peak_bytes", "total_time_s",
                  "function_calls", "prof", "calltree", "lines", "lprof", "error")


def require_tools() -> None:
    """Raise ImportError naming the missing profiling packages (the ``tools`` extra)."""
    missing = []
    for module, package in (("pyprof2calltree", "pyprof2calltree"), ("line_profiler", "line_profiler")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise ImportError(
            f"profiling needs {' and '.join(missing)}: pip install 'pytest-particles[tools]'"
        )


def safe_name(text: str, max_length: int = 120) -> str:
    """A file-name stem from a test node id or label: letters, digits, '.', '-', '_' only.

    ``tests/test_x.py::test_evolve[python-10]`` becomes
    ``tests_test_x.py_test_evolve_python-10``; a longer result is cut and
    ends with a hash of the full text, so different ids stay different.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-") or "call"
    if len(stem) > max_length:
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        stem = f"{stem[: max_length - 11]}-{digest}"
    return stem


def is_pure_python(backend: registry.Backend) -> bool:
    """True for the backends a line profile is written for: declared of kind "python" (its Python lines do the
    work), with a Python function for line_profiler to follow."""
    return backend.kind == "python" and inspect.isfunction(backend.func)


@dataclass
class ProfileResult:
    """What profiling one call wrote and measured (paths are None when not written)."""

    test: str
    kernel: str | None = None
    backend: str | None = None
    size: int | None = None
    work: int | None = None
    work_unit: str | None = None
    peak_bytes: int | None = None  # peak traced memory during the call, above what was allocated before it
    total_time_s: float | None = None  # cProfile's total time (with its overhead)
    function_calls: int | None = None
    prof: Path | None = None
    calltree: Path | None = None
    lines: Path | None = None
    lprof: Path | None = None
    error: str = ""
    top: list = field(default_factory=list)  # [(function, own time s)], the five biggest, biggest first

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("top")
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


def _memory_peak(func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> int:
    """Peak traced memory (bytes) of one call, above what was allocated when it started."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = func(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - before)


def profile_call(func: Callable, args: Sequence = (), kwargs: dict | None = None, *, out_dir: str | Path, name: str,
                 line_functions: Sequence[Callable] = (), result: ProfileResult | None = None) -> ProfileResult:
    """Profile ``func(*args, **kwargs)``: cProfile, pyprof2calltree, line_profiler, tracemalloc.

    Parameters
    ----------
    func : callable
        What to call; it is called once under cProfile, once under
        line_profiler (only if ``line_functions`` is not empty) and once
        under tracemalloc.
    out_dir : path
        Existing folder for the files.
    name : str
        File-name stem (made safe with :func:`safe_name`).
    line_functions : sequence of functions
        The functions line_profiler reports line by line.
    result : ProfileResult, optional
        Filled in and returned (to carry kernel, backend and size).
    """
    import line_profiler
    import pyprof2calltree

    kwargs = {} if kwargs is None else kwargs
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ValueError(f"out_dir must be an existing folder; got {str(out_dir)!r}")
    stem = safe_name(name)
    result = ProfileResult(test=name) if result is None else result

    profiler = cProfile.Profile()
    profiler.runcall(func, *args, **kwargs)
    result.prof = out_dir / f"{stem}.prof"
    profiler.dump_stats(result.prof)
    stats: Any = pstats.Stats(str(result.prof))  # total_tt, stats, fcn_list: pstats' undocumented fields
    result.total_time_s = stats.total_tt
    result.function_calls = stats.total_calls
    result.calltree = out_dir / f"{stem}.calltree"
    pyprof2calltree.convert(stats, str(result.calltree))
    stats.sort_stats("tottime")
    result.top = [(f"{f[2]} ({Path(f[0]).name}:{f[1]})" if f[0] != "~" else f[2], stats.stats[f][2])
                  for f in stats.fcn_list[:5]]

    if line_functions:
        lines = line_profiler.LineProfiler(*line_functions)
        lines.runcall(func, *args, **kwargs)
        result.lprof = out_dir / f"{stem}.lprof"
        lines.dump_stats(str(result.lprof))
        text = io.StringIO()
        lines.print_stats(stream=text)
        result.lines = out_dir / f"{stem}.lines.txt"
        result.lines.write_text(text.getvalue(), encoding="utf-8")

    result.peak_bytes = _memory_peak(func, args, kwargs)
    return result


def profile_backend(backend: registry.Backend, args: Sequence = (), kwargs: dict | None = None, *,
                    out_dir: str | Path, name: str, size: int | None = None) -> ProfileResult:
    """Profile one call of a kernel's public function with ``backend`` (validation included).

    Pure-Python backends (:func:`is_pure_python`) also get a line profile of
    their raw function ``backend.func``.
    """
    if not isinstance(backend, registry.Backend):
        raise TypeError(f"backend must be a Backend (pytest_particles.backends(kernel)); got {type(backend).__name__}")
    kwargs = {} if kwargs is None else dict(kwargs)
    kernel = registry.kernel(backend.kernel)
    work = kernel.call_work(*args, **kwargs)
    if work is None and size is not None:
        work = kernel.work(size)
    result = ProfileResult(test=name, kernel=backend.kernel, backend=backend.name, size=size, work=work,
                           work_unit=kernel.work_unit)

    call = functools.partial(kernel, backend=backend)  # C-level: adds no frame to the profile
    line_functions = (backend.func,) if is_pure_python(backend) else ()
    return profile_call(call, args, kwargs, out_dir=out_dir, name=name, line_functions=line_functions, result=result)


def default_size(kernel_name: str) -> int:
    """The largest size whose work is at most DEFAULT_WORK (at least 1)."""
    from .bench import size_for_work

    kernel = registry.kernel(kernel_name)
    return size_for_work(kernel, DEFAULT_WORK, max(kernel.sizes))


def profile_workload(kernel: str, backend: str, size: int | None = None, *, out_dir: str | Path,
                     seed: int = DEFAULT_SEED, name: str | None = None) -> ProfileResult:
    """Profile the kernel's own case (``kernel.inputs``, as bench and asv run it) at ``size`` on ``backend``.

    ``size`` defaults to :func:`default_size` (small: pure Python in about a tenth of a second).
    """
    record = registry.lookup(kernel, backend)
    size = default_size(record.kernel) if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a whole number >= 1; got {size!r}")
    case = Case(record.kernel, size, seed)
    return profile_backend(record, case.args, out_dir=out_dir, size=size,
                           name=name or f"{record.kernel}-{record.name}-{size}")


def write_summary(results: list[ProfileResult], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``summary.csv`` (one row per profiled call, file names relative) in ``out_dir``."""
    out_dir = Path(out_dir)
    rows = []
    for r in results:  # file names relative to out_dir, so the folder can be moved
        row = r.as_dict()
        row.update({key: Path(row[key]).name for key in ("prof", "calltree", "lines", "lprof") if row[key]})
        rows.append(row)
    json_path, csv_path = out_dir / "summary.json", out_dir / "summary.csv"
    json_path.write_text(json.dumps({"profiles": rows}, indent=2) + "\n", encoding="utf-8")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


def format_bytes(value: int | None) -> str:
    """Bytes in B, KiB, MiB or GiB with 3 significant figures."""
    if value is None:
        return ""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value} B"


# --------------------------------------------------------------------------- the pytest hooks


class ProfileHooks:
    """pytest hooks of ``--particles-profile=DIR``: profile each kernel-marked test's last backend call.

    After a kernel-marked test passes, its backend fixture's last call
    (``last_call``) is replayed under each tool; the files are named from the
    test's node id.  ``DIR/summary.json`` and ``DIR/summary.csv`` list every
    profiled test (rewritten after each one), and the terminal summary shows
    the memory peaks.  A test that never called its backend is listed with a
    note; a failure of a tool is a warning, never a test failure.
    """

    def __init__(self, out_dir: str | Path) -> None:
        require_tools()
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.results: list[ProfileResult] = []
        self._stems: set[str] = set()

    @classmethod
    def from_option(cls, config: pytest.Config, value: str) -> ProfileHooks:
        """Hooks for the option's value (relative to the invocation folder), or a UsageError naming the option."""
        import pytest

        if not str(value).strip():
            raise pytest.UsageError("--particles-profile: expected a folder for the profiles, got ''")
        path = Path(config.invocation_params.dir, value).resolve()
        try:
            return cls(path)
        except ImportError as exc:
            raise pytest.UsageError(f"--particles-profile: {exc}") from None
        except OSError as exc:
            raise pytest.UsageError(f"--particles-profile: cannot create folder {str(path)!r}: {exc}") from None

    def _stem(self, nodeid: str) -> str:
        stem = safe_name(nodeid)
        if stem in self._stems:  # two ids that differ only in unsafe characters
            stem = f"{stem[:100]}-{hashlib.sha1(nodeid.encode()).hexdigest()[:10]}"
        self._stems.add(stem)
        return stem

    @hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        result = yield  # raises when the test failed: nothing to profile then
        marker = item.get_closest_marker("kernel")
        record = getattr(item, "funcargs", {}).get("backend")
        if marker is None or not isinstance(record, registry.Backend):
            return result
        size = item.callspec.params.get("size") if hasattr(item, "callspec") else None
        last_call = getattr(record, "last_call", None)
        if last_call is None:
            entry = ProfileResult(test=item.nodeid, kernel=record.kernel, backend=record.name, size=size,
                                  error="the test never called its backend fixture: nothing to profile")
        else:
            args, kwargs = last_call
            try:
                entry = profile_backend(record, args, kwargs, out_dir=self.out_dir, size=size,
                                        name=self._stem(item.nodeid))
                entry.test = item.nodeid
            except Exception as exc:  # a profiler clash, a full disk...: report it, do not fail the test
                entry = ProfileResult(test=item.nodeid, kernel=record.kernel, backend=record.name, size=size,
                                      error=f"{type(exc).__name__}: {exc}")
                warnings.warn(f"--particles-profile: could not profile {item.nodeid}: {entry.error}", stacklevel=1)
        self.results.append(entry)
        write_summary(self.results, self.out_dir)
        return result

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        tr = terminalreporter
        tr.write_sep("-", f"particles profile: {len(self.results)} tests -> {self.out_dir}")
        if not self.results:
            tr.write_line("no kernel-marked test called its backend")
            return
        tr.write_line(f"{'memory peak':>12}  {'cProfile time':>13}  test  [function with the most own time]")
        for r in self.results:
            if r.error:
                tr.write_line(f"{'':>12}  {'':>13}  {r.test}: {r.error}")
                continue
            hottest = ""
            if r.top and r.total_time_s:
                function, own = r.top[0]
                hottest = f"  [{function} {own / r.total_time_s:.0%}]"
            tr.write_line(f"{format_bytes(r.peak_bytes):>12}  {r.total_time_s:>11.3g} s  {r.test}{hottest}")
        tr.write_line(
            "summary.json and summary.csv list every test with its .prof (pstats), .calltree (KCachegrind) "
            "and, for pure-Python backends, .lines.txt (line_profiler)"
        )
