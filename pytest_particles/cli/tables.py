"""What the command prints: numbers with their units, and rich tables on stdout."""

from __future__ import annotations

import os
import pstats
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import registry

if TYPE_CHECKING:  # imported where used: each subcommand loads only its own tool
    from ..bench import Record
    from ..gate import Outcome
    from ..profiling import ProfileResult


def stdout_console() -> Console:
    """Rich console on stdout; wide enough for the tables when stdout is a file or a pipe."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=200)
    return console


def _three_figures(value: float) -> float:
    return float(f"{value:.3g}")


def format_time(seconds: float | None) -> str:
    """3 significant figures in s, ms, µs or ns: 6.13 s, 614 ms, 13.4 µs."""
    if seconds is None:
        return ""
    seconds = _three_figures(seconds)
    if seconds >= 100:
        return f"{seconds:,.0f} s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{_three_figures(seconds / scale):g} {unit}"
    return f"{_three_figures(seconds / 1e-9):g} ns"


def format_rate(value: float | None, unit: str) -> str:
    """Work per second with an SI prefix: 385 M particle-steps/s."""
    if value is None:
        return ""
    value = _three_figures(value)
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{_three_figures(value / scale):g} {prefix} {unit}"
    return f"{value:g} {unit}"


def format_speedup(value: float | None) -> str:
    """52.3x, or 1,234x from 100 up."""
    if value is None:
        return ""
    return f"{value:,.0f}x" if value >= 100 else f"{_three_figures(value):g}x"


# --------------------------------------------------------------------------- backends and bench


def print_backends(kernels: list[str]) -> None:
    table = Table(title="pytest-particles backends", box=box.SIMPLE_HEAVY)
    table.add_column("kernel", no_wrap=True)
    table.add_column("backend", no_wrap=True)
    table.add_column("available", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for i, kernel in enumerate(kernels):
        if i:
            table.add_section()
        for b in registry.backends(kernel):
            table.add_row(kernel, b.name, "[green]yes[/]" if b.available else "[red]no[/]", Text(b.reason))
    stdout_console().print(table)


def _bench_table(rows: list[tuple], caption: str, with_note: bool) -> Table:
    table = Table(title="pytest-particles bench", caption=caption, box=box.SIMPLE_HEAVY)
    table.add_column("kernel", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("backend", overflow="fold")
    for column in ("time", "throughput", "speedup", "published"):
        table.add_column(column, justify="right", no_wrap=True)
    if with_note:
        table.add_column("note", overflow="fold")
    previous = None
    for group, cells, note in rows:
        if previous is not None and group != previous:
            table.add_section()
        previous = group
        table.add_row(*cells, *([note] if with_note else []))
    return table


def _bench_row(r: Record) -> tuple[list, Text]:
    """A record's cells (kernel, size, backend, time, throughput, speedup, published) and its note."""
    cells: list = [r.kernel, f"{r.size:,}", Text(r.backend)]
    book = format_time(r.published_s)
    if not r.available:
        return cells + [Text("skipped", style="dim"), "", "", book], Text(r.reason, style="dim")
    if r.error:
        return cells + [Text("failed", style="red"), "", "", book], Text(r.error, style="red")
    time_text = format_time(r.full_size_time_s)
    note = Text("")
    if r.scaled:
        time_text += "*"
        note = Text(f"* extrapolated from {r.measured_case} ({format_time(r.time_s)})")
    return cells + [time_text, format_rate(r.throughput, r.throughput_unit), format_speedup(r.speedup), book], note


def print_bench(records: list, machine: dict, *, workers: int | None, repeat: int, budget: float) -> None:
    """The bench table (notes beside the rows, or under the table when it is too narrow) and what it means."""
    console = stdout_console()
    shown_workers = workers if workers is not None else f"all ({machine['cpu_affinity']})"
    caption = (
        f"Python {machine['python_version']}, NumPy {machine['numpy_version']}, "
        f"{machine['cpu_affinity']} of {machine['cpu_count']} CPUs, workers {shown_workers}, "
        f"best of {repeat}, budget {budget:g} s per run"
    )
    rows = [((r.kernel, r.size), *_bench_row(r)) for r in records]
    table = _bench_table(rows, caption, with_note=True)
    footnotes = []
    if console.measure(table, options=console.options.update_width(10_000)).maximum > console.width:
        table = _bench_table(rows, caption, with_note=False)
        footnotes = [f"{cells[0]} {cells[2]} {cells[1]}: {note.plain}" for _, cells, note in rows if note.plain]
    console.print(table)
    baselines = ", ".join(sorted({f"{r.kernel}: {r.baseline}" for r in records if r.baseline}))
    notes = [
        "time: best of the runs of the kernel's own case at full size (the book's evolve: dt = 0.1, 10,000 steps).",
        f"speedup: the baseline backend's full-size time over this one's, same kernel and size, this run "
        f"(baseline {baselines}).",
        "published: the timing the kernel's declaration cites (the book's kernels: its 2013 hardware).",
    ]
    if any(r.scaled for r in records if r.available and not r.error):
        notes.insert(
            1,
            f"*: a full-size run would take longer than the budget ({budget:g} s), so the smaller case in "
            "the note was timed and extended to the full work (the kernel's shrunk case linearly; smaller sizes "
            "by time = a + b * work fitted through two of them).",
        )
    for line in notes + footnotes:
        console.print(line, highlight=False, markup=False)


# --------------------------------------------------------------------------- gate


def print_gate(outcome: Outcome, base: str, head: str, *, instructions: bool) -> None:
    """The compared cells (only the flagged ones when the gate passed), broken benchmarks, the verdict."""
    from .. import gate

    console = stdout_console()
    if outcome.cells:
        unit = "instructions" if instructions else "median time"
        table = Table(title=f"pytest-particles gate {base} {head}", box=box.SIMPLE_HEAVY)
        for column in ("benchmark", f"BASE {unit}", f"HEAD {unit}", "HEAD / BASE", "threshold", "verdict"):
            # a benchmark's name is folded onto more lines in a narrow terminal, never cut short
            table.add_column(column, justify="left" if column in ("benchmark", "verdict") else "right",
                             overflow="fold" if column == "benchmark" else "ellipsis")
        shown = [c for c in outcome.cells if c.flagged] if outcome.code == gate.OK else outcome.cells
        for c in sorted(shown, key=lambda c: -c.ratio)[:40]:
            old, new = (f"{c.base:,.0f}", f"{c.head:,.0f}") if instructions else (
                format_time(c.base), format_time(c.head))
            verdict = Text("REGRESSION", style="bold red") if c.flagged else Text("ok")
            table.add_row(c.label, old, new, f"{c.ratio:.3f}", f"+{c.threshold:.0%}", verdict)
        if shown:
            console.print(table)
    for label in outcome.broken:
        console.print(Text(f"broken at HEAD: {label}", style="red"))
    style = {gate.OK: "green", gate.REGRESSION: "bold red", gate.BROKEN: "red", gate.CANNOT_RUN: "yellow"}
    console.print(Text(f"gate: {outcome.message} (exit {outcome.code})", style=style[outcome.code]))


# --------------------------------------------------------------------------- profile and annotate


def print_profile(result: ProfileResult, *, top: int) -> None:
    """pstats' own table of the most own time, then where each tool's file is."""
    from ..profiling import format_bytes

    print(f"{result.kernel} {result.backend}, size {result.size:,}: "
          f"{result.work:,} {result.work_unit}; cProfile ({result.function_calls:,} calls, its overhead included):")
    pstats.Stats(str(result.prof), stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(top)
    table = Table(title=f"pytest-particles profile {result.kernel} {result.backend}", box=box.SIMPLE_HEAVY)
    table.add_column("what", no_wrap=True)
    table.add_column("result", overflow="fold")
    table.add_row("memory peak (tracemalloc)", format_bytes(result.peak_bytes))
    table.add_row("cProfile statistics", f"{result.prof}  (python -m pstats)")
    table.add_row("KCachegrind", f"{result.calltree}  (kcachegrind / qcachegrind)")
    if result.lines is not None:
        table.add_row("line_profiler", f"{result.lines}  ({result.lprof}: python -m line_profiler)")
    else:
        table.add_row("line_profiler", Text("only for serial backends written in Python", style="dim"))
    stdout_console().print(table)


def print_annotate(results: list, out: Path) -> None:
    """Per file: lines touching Python, hot loops, how many are pure C, and where the others touch Python."""
    from ..annotate import loop_verdict

    table = Table(title="pytest-particles annotate (cython -a)", box=box.SIMPLE_HEAVY)
    for column in ("file", "lines touching Python", "hot loops", "pure C", "hot loops free of Python", "details"):
        table.add_column(column, justify="right" if column in ("hot loops", "pure C") else "left",
                         overflow="fold", no_wrap=column == "file")
    for a in results:
        bad = [loop for loop in a.hot_loops if not loop.pure_c]
        table.add_row(
            a.source.name,
            f"{a.python_lines} of {a.code_lines}",
            str(len(a.hot_loops)),
            str(len(a.hot_loops) - len(bad)),
            Text("yes", style="green") if a.hot_pure_c else Text("no", style="red"),
            "; ".join(f"loop at line {loop.start}: {loop_verdict(loop)}" for loop in bad),
        )
    console = stdout_console()
    console.print(table)
    console.print(f"annotated HTML: {out}/NAME.html; index: {out / 'index.html'}", highlight=False, markup=False)
