"""Figures of saved benchmark results: runtime and speedup against size, per kernel (matplotlib).

Reads three kinds of results:

- pytest-benchmark JSON (``--benchmark-json FILE`` or ``--benchmark-autosave``,
  under ``.benchmarks/``): the plugin stores kernel, backend and size in each
  benchmark's ``extra_info``; the time is the best run (``stats.min``);
- ``pytest-particles bench --json FILE``: each record's ``full_size_time_s``
  (best of repeat; extrapolated ones are drawn with open markers);
- asv results (the results folder, a machine folder or result files), read
  by asv's own reader (:mod:`pytest_particles.asvresults`): time benchmarks
  with the parameters backend x size; the time is asv's (median).

For each kernel one PNG with two panels: time per call against size on
log-log axes, one line per backend, and the speedup over the ``python``
backend at each size.  Each backend's legend label carries its growth
exponent k, time ~ size**k fitted by least squares on log-log axes over the
sizes measured (``cython (k=1.02)``).  Every runner times a kernel's own
cases (:mod:`pytest_particles.cases`), so results of several runners are
drawn together; when several give the same (kernel, backend, size), the
newest one (by the date each file records) wins.
"""

from __future__ import annotations

import ast
import datetime
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from . import registry

if TYPE_CHECKING:  # matplotlib is imported where used: an optional dependency
    from matplotlib.figure import Figure

# What load_results reads: one file or folder, or several.
ResultPaths = str | Path | Iterable[str | Path]

FIGSIZE = (12.0, 5.0)  # inches
DPI = 100  # so a figure is 1200 x 500 pixels


@dataclass(frozen=True)
class Measurement:
    """One time: ``kernel`` on ``backend`` at ``size`` took ``time_s`` seconds per call."""

    kernel: str
    backend: str
    size: int
    time_s: float
    source: str  # the file it came from
    extrapolated: bool = False
    date: float = 0.0  # seconds since the epoch, from the results file (0 when unknown)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"plots need matplotlib ({exc}): pip install 'pytest-particles[tools]'") from None


# --------------------------------------------------------------------------- reading results


def _timestamp(text: object) -> float:
    """An ISO date (naive means UTC) as seconds since the epoch; 0 when missing or unreadable."""
    if not isinstance(text, str):
        return 0.0
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        return 0.0
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.timestamp()


def _size(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value >= 1 and float(value).is_integer():
        return int(value)
    return None


def _time(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def _from_pytest_benchmark(doc: dict, source: str) -> list[Measurement]:
    date = _timestamp(doc.get("datetime"))
    found = []
    for bench in doc.get("benchmarks") or []:
        info = bench.get("extra_info") or {}
        params = bench.get("params") or {}
        kernel, backend = info.get("kernel"), info.get("backend", params.get("backend"))
        size = _size(info.get("size", params.get("size")))
        time_s = _time((bench.get("stats") or {}).get("min"))
        if isinstance(kernel, str) and isinstance(backend, str) and size and time_s:
            found.append(Measurement(kernel, backend, size, time_s, source, False, date))
    return found


def _from_bench(doc: dict, source: str) -> list[Measurement]:
    date = _timestamp((doc.get("machine") or {}).get("date"))
    found = []
    for r in doc.get("records") or []:
        size, time_s = _size(r.get("size")), _time(r.get("full_size_time_s"))
        if isinstance(r.get("kernel"), str) and isinstance(r.get("backend"), str) and size and time_s:
            found.append(Measurement(r["kernel"], r["backend"], size, time_s, source, bool(r.get("scaled")), date))
    return found


def _asv_kernel(benchmark: str) -> str:
    """The kernel of an asv benchmark: the declared kernel it is named after (``time_<kernel>``), else the
    declared kernel its module is named after (``distance.*`` -> distance_matrix), else its module's name."""
    from .asv import kernel_of

    module = benchmark.split(".")[0]
    return kernel_of(benchmark) or next(
        (k for k in registry.kernel_names() if k == module or k.startswith(module + "_")), module)


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _from_asv(path: Path, source: str) -> list[Measurement]:
    """Time benchmarks over backend x size of one asv result file, read by asv's own reader; the time is
    asv's (the median). Parameter names and types come from asv's benchmarks.json beside the results."""
    from . import asvresults

    descriptions = next((d for d in map(asvresults.descriptions, (path.parent, path.parent.parent)) if d), {})
    found = []
    for cell in asvresults.read_file(path):
        info = descriptions.get(cell.benchmark) or {}
        kind = info.get("type", "time" if ".time_" in cell.benchmark else "")
        names = info.get("param_names") or (["backend", "size"] if len(cell.params) == 2 else [])
        if kind != "time" or len(cell.params) != 2 or len(names) != 2 or "backend" not in names:
            continue
        b = names.index("backend")
        backend, size = _literal(cell.params[b]), _size(_literal(cell.params[1 - b]))
        time_s = _time(cell.value)
        if isinstance(backend, str) and size and time_s:
            found.append(Measurement(_asv_kernel(cell.benchmark), backend, size, time_s, source, False, cell.date))
    return found


def _read(path: Path, *, strict: bool) -> list[Measurement] | None:
    """Measurements of one results file; None when it is not one (an error when ``strict``)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if strict:
            raise ValueError(f"results: cannot read {str(path)!r} as JSON ({exc})") from None
        return None
    source = path.name
    if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
        return _from_pytest_benchmark(doc, source)
    if isinstance(doc, dict) and isinstance(doc.get("records"), list):
        return _from_bench(doc, source)
    if isinstance(doc, dict) and isinstance(doc.get("results"), dict) and "commit_hash" in doc:
        try:
            return _from_asv(path, source)
        except ValueError:
            if strict:
                raise
            return None
    if strict:
        raise ValueError(
            f"results: {str(path)!r} is neither pytest-benchmark JSON, pytest-particles bench --json output "
            "nor an asv result file"
        )
    return None


def load_results(paths: ResultPaths) -> list[Measurement]:
    """Every measurement in ``paths`` (files or folders, searched recursively), the newest per
    (kernel, backend, size): every runner times a kernel's own cases (:mod:`pytest_particles.cases`),
    so the same (kernel, backend, size) is the same workload whichever runner timed it.

    Raises ValueError naming the path when a path does not exist, a file is
    not a results file, or nothing plottable was found.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    given = [Path(p) for p in paths]
    if not given:
        raise ValueError("results: give at least one results file or folder")
    found: list[Measurement] = []
    for path in given:
        if path.is_dir():
            for file in sorted(path.rglob("*.json")):
                found += _read(file, strict=False) or []
        elif path.is_file():
            found += _read(path, strict=True) or []
        else:
            raise ValueError(f"results: {str(path)!r} does not exist")
    newest: dict[tuple, Measurement] = {}
    for m in sorted(found, key=lambda m: m.date):  # stable: among equal dates, the later path wins
        newest[(m.kernel, m.backend, m.size)] = m
    if not newest:
        raise ValueError(
            f"results: no kernel timings (kernel, backend, size) found in {', '.join(map(str, given))}"
        )
    return list(newest.values())


# --------------------------------------------------------------------------- fitting and drawing


def fit_exponent(sizes: npt.ArrayLike, times: npt.ArrayLike) -> float | None:
    """k of time ~ size**k, least squares on log-log axes; None with fewer than two distinct sizes."""
    sizes, times = np.asarray(sizes, dtype=float), np.asarray(times, dtype=float)
    if sizes.shape != times.shape:
        raise ValueError(f"sizes and times must have the same shape; got {sizes.shape} and {times.shape}")
    if np.any(sizes <= 0) or np.any(times <= 0):
        raise ValueError("sizes and times must be > 0 to fit on log-log axes")
    if len(np.unique(sizes)) < 2:
        return None
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def _backend_order(names: Iterable[str], kernel: str) -> list[str]:
    """The registry's table order (lowest priority first), unknown names last."""
    from .bench import ordered_backends

    known = ordered_backends(kernel) if kernel in registry.kernel_names() else []
    rank = {b.name: i for i, b in enumerate(known)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def make_figure(kernel: str, measurements: list[Measurement]) -> Figure:
    """The matplotlib Figure (Agg canvas, no window) of ``kernel``'s runtime and speedup panels."""
    _require_matplotlib()
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [m for m in measurements if m.kernel == kernel]
    if not rows:
        raise ValueError(f"kernel {kernel!r} has no measurements")
    unit = "size"
    names = _backend_order({m.backend for m in rows}, kernel)
    colors = colormaps["tab10"]
    by_backend = {name: sorted((m for m in rows if m.backend == name), key=lambda m: m.size) for name in names}
    from .bench import baseline

    base = baseline(registry.kernel(kernel)) if kernel in registry.kernel_names() else "python"
    python = {m.size: m.time_s for m in by_backend.get(base, [])}

    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    runtime, speedup = fig.subplots(1, 2)
    any_extrapolated = False
    for i, name in enumerate(names):
        points = by_backend[name]
        sizes = [m.size for m in points]
        times = [m.time_s for m in points]
        k = fit_exponent(sizes, times)
        label = name if k is None else f"{name} (k={k:.2f})"
        color = colors(i % colors.N)
        runtime.plot(sizes, times, "o-", color=color, label=label)
        open_points = [(m.size, m.time_s) for m in points if m.extrapolated]
        if open_points:
            any_extrapolated = True
            runtime.plot(*zip(*open_points), "o", color=color, markerfacecolor="white")
        shared = [(m.size, python[m.size] / m.time_s) for m in points if m.size in python]
        if shared and name != base:  # the baseline itself is the dashed line at 1
            speedup.plot(*zip(*shared), "o-", color=color, label=label)

    runtime.set(xscale="log", yscale="log", xlabel=unit, ylabel="time per call [s]",
                title=f"{kernel}: runtime vs {unit}")
    runtime.grid(True, which="both", alpha=0.3)
    runtime.legend(fontsize="small", title="backend (time ~ size^k)", title_fontsize="small")
    if any_extrapolated:
        runtime.annotate("open markers: extrapolated from a smaller run", (0.01, 0.01),
                         xycoords="axes fraction", fontsize="x-small", color="0.3")
    if python:
        speedup.axhline(1.0, color=colors(names.index(base) % colors.N), linewidth=1, linestyle="--",
                        label=f"{base} (= 1)")
        speedup.set(xscale="log", yscale="log", xlabel=unit, ylabel=f"speedup over {base} (x)",
                    title=f"{kernel}: speedup over the {base} backend")
        speedup.grid(True, which="both", alpha=0.3)
        speedup.legend(fontsize="small")
    else:
        speedup.set_axis_off()
        speedup.text(0.5, 0.5, f"no {base} backend measured:\nno speedup to show", ha="center", va="center",
                     transform=speedup.transAxes)
    sources = sorted({m.source for m in rows})
    fig.suptitle(f"{kernel} — from {', '.join(sources[:3])}{' ...' if len(sources) > 3 else ''}",
                 fontsize="small")
    return fig


def plot_kernel(kernel: str, measurements: list[Measurement], path: str | os.PathLike[str]) -> Path:
    """Write :func:`make_figure` of ``kernel`` to the PNG ``path`` (1200 x 500 pixels); returns it."""
    path = Path(path)
    make_figure(kernel, measurements).savefig(path, dpi=DPI)
    return path


def plot_results(results: ResultPaths, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Read ``results`` (see :func:`load_results`) and write ``KERNEL.png`` for each kernel in ``out_dir``.

    Returns the paths written, in the registry's kernel order (undeclared kernels last).
    """
    _require_matplotlib()
    measurements = load_results(results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    declared = registry.kernel_names()
    kernels = sorted({m.kernel for m in measurements},
                     key=lambda k: (k not in declared, declared.index(k) if k in declared else 0, k))
    return [plot_kernel(kernel, measurements, out_dir / f"{_file_part(kernel)}.png") for kernel in kernels]


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:100] or "kernel"
