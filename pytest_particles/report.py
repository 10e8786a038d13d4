"""One self-contained HTML report of saved results: figures inline, a sortable table, the failed backends.

Reads what :func:`pytest_particles.plots.load_results` reads (``bench --json``,
pytest-benchmark JSON, asv results).  Per kernel: time against size on
log-log axes with each backend's growth exponent k (time ~ size**k,
:func:`plots.fit_exponent`) and the speedup over the kernel's reference
backend (its declared ``reference``, else its first own backend), drawn by
:func:`plots.make_figure` and embedded as PNG ``data:`` URIs.  The file loads
nothing: the styles and the few lines of table sorting are inline.

Failures: ``bench --json`` records with an ``error``; asv cells whose value
is null (asv's "failed"), unless a newer result measured the cell.
pytest-benchmark leaves a benchmark that raised out of its JSON, so those
cannot be listed.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import plots, registry


@dataclass(frozen=True)
class Failure:
    """``backend`` of ``kernel`` at ``size`` failed (raised, or its result failed the kernel's check)."""

    kernel: str
    backend: str
    size: int | None
    message: str
    source: str
    date: float = 0.0


def _files(paths: plots.ResultPaths) -> list[Path]:
    roots = [Path(p) for p in ([paths] if isinstance(paths, str | Path) else paths)]
    return [f for p in roots for f in (sorted(p.rglob("*.json")) if p.is_dir() else [p] if p.is_file() else [])]


def _asv_failures(path: Path) -> list[Failure]:
    """asv's failed cells (value null) of one result file, named as :func:`plots.load_results` names them."""
    from . import asvresults

    descriptions = next((d for d in map(asvresults.descriptions, (path.parent, path.parent.parent)) if d), {})
    found = []
    for cell in asvresults.read_file(path):
        names = (descriptions.get(cell.benchmark) or {}).get("param_names") or []
        if cell.value is not None or len(cell.params) != 2 or "backend" not in names:
            continue
        b = names.index("backend")
        backend, size = plots._literal(cell.params[b]), plots._size(plots._literal(cell.params[1 - b]))
        if isinstance(backend, str):
            found.append(Failure(plots._asv_kernel(cell.benchmark), backend, size,
                                 f"asv: {cell.benchmark} failed", path.name, cell.date))
    return found


def load_failures(paths: plots.ResultPaths) -> list[Failure]:
    """The failed backends recorded in ``paths`` (files or folders, as for :func:`plots.load_results`)."""
    found: list[Failure] = []
    for path in _files(paths):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # load_results has already said which file is unreadable
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("records"), list):
            date = plots._timestamp((doc.get("machine") or {}).get("date"))
            found += [Failure(r["kernel"], r["backend"], plots._size(r.get("size")), str(r["error"]), path.name, date)
                      for r in doc["records"] if isinstance(r, dict) and r.get("error")
                      and isinstance(r.get("kernel"), str) and isinstance(r.get("backend"), str)]
        elif isinstance(doc.get("results"), dict) and "commit_hash" in doc:
            try:
                found += _asv_failures(path)
            except (ValueError, ImportError):
                continue
    return found


def reference_backend(kernel: str, measured: Iterable[str]) -> str | None:
    """The backend speedups are over: the kernel's declared reference, else its first own backend, when
    measured; for an undeclared kernel ``python``, else the first measured one in table order."""
    measured = set(measured)
    candidates = []
    if kernel in registry.kernel_names():
        from .bench import baseline

        declared = registry.kernel(kernel)
        candidates = [declared.reference, baseline(declared)]
    candidates += ["python", *plots._backend_order(measured, kernel)]
    return next((c for c in candidates if c and c in measured), None)


def _figure_png(kernel: str, rows: list[plots.Measurement], base: str | None) -> bytes:
    """make_figure's PNG, its speedup panel redrawn over ``base`` (make_figure's is over the first own backend)."""
    fig = plots.make_figure(kernel, rows)
    runtime, speedup = fig.axes[:2]
    lines = [line for line in runtime.get_lines() if not str(line.get_label()).startswith("_")]  # one a backend
    labels = {str(line.get_label()).split(" (k=")[0]: str(line.get_label()) for line in lines}
    colors = {str(line.get_label()).split(" (k=")[0]: line.get_color() for line in lines}
    reference = {m.size: m.time_s for m in rows if m.backend == base}
    speedup.clear()
    speedup.set_axis_on()
    if base is not None and reference:
        for name in labels:
            points = sorted((m.size, reference[m.size] / m.time_s) for m in rows
                            if m.backend == name and m.size in reference)
            if points and name != base:
                speedup.plot(*zip(*points), "o-", color=colors[name], label=labels[name])
        speedup.axhline(1.0, color=colors.get(base, "0.3"), linewidth=1, linestyle="--", label=f"{base} (= 1)")
        speedup.set(xscale="log", yscale="log", xlabel="size", ylabel=f"speedup over {base} (x)",
                    title=f"{kernel}: speedup over the {base} backend")
        speedup.grid(True, which="both", alpha=0.3)
        speedup.legend(fontsize="small")
    else:
        speedup.set_axis_off()
        speedup.text(0.5, 0.5, "no reference backend measured:\nno speedup to show", ha="center", va="center",
                     transform=speedup.transAxes)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=plots.DPI)
    return buffer.getvalue()


def _kernels(measurements: list[plots.Measurement]) -> list[str]:
    declared = registry.kernel_names()
    return sorted({m.kernel for m in measurements},
                  key=lambda k: (k not in declared, declared.index(k) if k in declared else 0, k))


def _cell(text: str, sort: object = None) -> str:
    attr = "" if sort is None else f' data-sort="{html.escape(str(sort))}"'
    return f"<td{attr}>{html.escape(text)}</td>"


_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1240px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}img{max-width:100%;height:auto}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .7em;border-bottom:1px solid #eee;text-align:right}
td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}th{cursor:pointer;background:#f4f4f4;user-select:none}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
tr.failed td,p.failures,.failures li{color:#a00}.note{color:#555;font-size:.9em}
"""

# click a header: sort the rows by that column (numbers by data-sort, empty cells last), again: reverse
_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var dir = th.dataset.dir === "asc" ? "desc" : "asc", body = table.tBodies[0];
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir;
      var key = function (row) {
        var c = row.cells[col];
        return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent;
      };
      var rows = Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") return (x === "") - (y === "");
        var nx = Number(x), ny = Number(y);
        var c = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
        return dir === "asc" ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def build_report(results: plots.ResultPaths) -> str:
    """The HTML text of the report of ``results`` (see :func:`plots.load_results`; its ValueError too)."""
    from .cli.tables import format_speedup, format_time  # the command line's own formats

    plots._require_matplotlib()
    measurements = plots.load_results(results)
    newest: dict[tuple, float] = {(m.kernel, m.backend, m.size): m.date for m in measurements}
    latest: dict[tuple, Failure] = {}  # the newest failure of a cell, unless a newer result measured it
    for f in sorted(load_failures(results), key=lambda f: f.date):
        if newest.get((f.kernel, f.backend, f.size), -1.0) < f.date:
            latest[(f.kernel, f.backend, f.size)] = f
    failures = list(latest.values())
    sources = sorted({m.source for m in measurements} | {f.source for f in failures})
    body, rows = [], []
    for kernel in _kernels(measurements):
        mine = [m for m in measurements if m.kernel == kernel]
        backends = plots._backend_order({m.backend for m in mine}, kernel)
        base = reference_backend(kernel, backends)
        ref_times = {m.size: m.time_s for m in mine if m.backend == base}
        exponents = {b: plots.fit_exponent(*zip(*[(m.size, m.time_s) for m in mine if m.backend == b]))
                     for b in backends}
        png = base64.b64encode(_figure_png(kernel, mine, base)).decode("ascii")
        growth = ", ".join(f"{b} {k:.2f}" if k is not None else f"{b} (one size)" for b, k in exponents.items())
        body.append(f'<h2 id="{html.escape(kernel)}">{html.escape(kernel)}</h2>')
        body.append(f'<p>Reference backend: <b>{html.escape(str(base))}</b>. Growth exponent k (time ~ size<sup>k'
                    f'</sup>): {html.escape(growth)}.</p>')
        body.append(f'<img alt="{html.escape(kernel)}: runtime and speedup against size" width="1200" height="500" '
                    f'src="data:image/png;base64,{png}">')
        mine_failed = [f for f in failures if f.kernel == kernel]
        if mine_failed:
            body.append('<ul class="failures">' + "".join(
                f"<li>{html.escape(f.backend)} at {f.size if f.size else '?'}: {html.escape(f.message)} "
                f"({html.escape(f.source)})</li>" for f in mine_failed) + "</ul>")
        for m in sorted(mine, key=lambda m: (backends.index(m.backend), m.size)):
            speed = ref_times[m.size] / m.time_s if m.size in ref_times else None
            k = exponents[m.backend]
            rows.append("<tr>" + _cell(kernel) + _cell(m.backend) + _cell(f"{m.size:,}", m.size)
                        + _cell(format_time(m.time_s), repr(m.time_s))
                        + _cell(format_speedup(speed), "" if speed is None else repr(speed))
                        + _cell("" if k is None else f"{k:.2f}", "" if k is None else repr(k))
                        + _cell("extrapolated" if m.extrapolated else "ok") + _cell(m.source) + "</tr>")
    rows += ['<tr class="failed">' + _cell(f.kernel) + _cell(f.backend)
             + _cell("" if f.size is None else f"{f.size:,}", "" if f.size is None else f.size)
             + _cell("", "") + _cell("", "") + _cell("", "") + _cell(f"failed: {f.message}") + _cell(f.source)
             + "</tr>" for f in failures]
    summary = (f"{len(failures)} backend run{'s' if len(failures) != 1 else ''} failed: "
               + "; ".join(f"{f.kernel} {f.backend} ({f.size or '?'})" for f in failures)
               if failures else "No backend failed in these results.")
    head = ["kernel", "backend", "size", "time per call", "speedup over reference", "k", "status", "from"]
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>pytest-particles report</title>", f"<style>{_STYLE}</style></head><body>",
        "<h1>pytest-particles report</h1>",
        f'<p class="note">From {html.escape(", ".join(sources))}; written {when}. '
        "pytest-benchmark saves no benchmark that raised, so its failures are not listed.</p>",
        f'<p class="{"failures" if failures else "note"}" id="summary">{html.escape(summary)}</p>',
        *body,
        "<h2>All results</h2><p class=\"note\">Click a column to sort by it.</p>",
        '<table class="sortable" id="results"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>", *rows, "</tbody></table>",
        f"<script>{_SCRIPT}</script>", "</body></html>", ""])


def write_report(results: plots.ResultPaths, out: str | Path) -> Path:
    """Write :func:`build_report` of ``results`` to ``out``; returns its path."""
    out = Path(out)
    out.write_text(build_report(results), encoding="utf-8")
    return out
