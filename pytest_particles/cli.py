"""The ``pytest-particles`` command.

    pytest-particles backends [--kernel K]
    pytest-particles bench [--kernel K ...] [--backend B ...] [--size N ...] [--workers W]
                           [--repeat R] [--budget SECONDS] [--seed S] [--json FILE]
    pytest-particles profile KERNEL --backend B [--size N] [--out DIR] [--seed S] [--top N]
    pytest-particles annotate [FILE ...] [--src DIR] [--out DIR] [--check]
    pytest-particles plot RESULTS ... [--out DIR]
    pytest-particles animate [--out FILE.gif] [--particles N] [--frames F] [--backend B] [--fps FPS] [--seed S]
    pytest-particles --version

``main(argv)`` returns the exit code instead of exiting, so tests can call it.
The measuring is in :mod:`pytest_particles.bench`; this module parses, shows
progress (on stderr, only on a terminal) and prints tables (on stdout).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from . import __version__, bench, cases, gate, registry
from .registry import backends

PROG = "pytest-particles"


# --------------------------------------------------------------------------- argument parsing


def _whole_number(minimum: int):
    """An argparse type: a whole number >= ``minimum``, else an error naming the bad value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}; got {text!r}")
        return value

    return parse


_positive_int = _whole_number(1)
_non_negative_int = _whole_number(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0; got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0; got {text!r}")
    return value


def _items(values: list[str] | None) -> list[str] | None:
    """Repeatable, comma-separated option values as one flat list (None when the option was not given)."""
    if values is None:
        return None
    return [item.strip() for value in values for item in value.split(",")]


def _parse_size(parser: argparse.ArgumentParser, text: str) -> int:
    """A size such as 1000, 1_000 or 1e6: a whole number >= 1."""
    value = None
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and number.is_integer():
            value = int(number)
    if value is None or value < 1:
        parser.error(f"argument --size: invalid size {text!r}; a size must be a whole number >= 1 (e.g. 1000, 1e6)")
    return value


def _import_modules(parser: argparse.ArgumentParser, modules: list[str] | None) -> None:
    """``--import MODULE``: modules that declare kernels or backends, imported before anything else."""
    try:
        registry.import_modules(modules or [])
    except Exception as exc:  # ImportError, or an error raised by the module's own declarations
        parser.error(f"argument --import: {exc}")


def _parse_kernels(parser: argparse.ArgumentParser, args) -> list[str]:
    """``--import`` first, then ``--kernel``: any declared kernel (all when not given)."""
    _import_modules(parser, args.import_)
    values = args.kernel
    names = registry.kernel_names()
    items = _items(values)
    if items is None:
        return names
    for item in items:
        if item not in names:
            parser.error(f"argument --kernel: unknown kernel {item!r}; choose from {', '.join(names)}")
    return list(dict.fromkeys(items))


def _add_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("--import", dest="import_", action="append", metavar="MODULE",
                   help="import MODULE first: it declares kernels or backends (repeatable; e.g. mylib.kernels)")


KERNEL_HELP = "only this kernel (any declared one: the book's evolve, distance_matrix, pi, or yours); " \
    "repeatable or comma-separated"


def _parse_backends(parser: argparse.ArgumentParser, values: list[str] | None, kernels: list[str]) -> list[str] | None:
    items = _items(values)
    if items is None:
        return None
    valid = bench.backend_names(kernels)
    for item in items:
        if item not in valid:
            parser.error(
                f"argument --backend: unknown backend {item!r} for kernel {', '.join(kernels)}; "
                f"choose from {', '.join(valid)}"
            )
    return list(dict.fromkeys(items))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The kernels of Python High Performance Programming (Lanaro, 2013): list their backends "
        "and benchmark them at the book's sizes.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser(
        "backends",
        help="list every backend of every kernel and whether it can run here",
        description="List every backend of every kernel, whether it can run here and, if not, why.",
    )
    p.add_argument("--kernel", action="append", metavar="K", help=KERNEL_HELP)
    _add_import(p)
    p.set_defaults(handler=_cmd_backends, subparser=p)

    p = commands.add_parser(
        "bench",
        help="time every available backend of every kernel at its declared sizes",
        description=(
            "Time every available backend of every declared kernel on the kernel's own cases at its declared "
            "sizes (the book's: evolve 100, 1000, 10000 particles for dt = 0.1, i.e. 10,000 steps; "
            "distance_matrix 1000 and 10000 points; pi 1e6 and 1e7 samples). "
            "A run expected to take longer than --budget is timed on a smaller size and extrapolated "
            "linearly in the kernel's work (marked *)."
        ),
    )
    p.add_argument("--kernel", action="append", metavar="K", help=KERNEL_HELP)
    _add_import(p)
    p.add_argument(
        "--backend", action="append", metavar="B",
        help="only this backend (e.g. python, numpy, cython); repeatable or comma-separated",
    )
    p.add_argument(
        "--size", action="append", metavar="N",
        help="instead of each kernel's declared sizes (the book's evolve: particles, distance_matrix: points, "
        "pi: samples), used for every selected kernel; repeatable or comma-separated",
    )
    p.add_argument("--workers", type=_positive_int, metavar="W",
                   help="threads or processes for parallel backends (default: every core this process may use)")
    p.add_argument("--repeat", type=_positive_int, default=bench.DEFAULT_REPEAT, metavar="R",
                   help="report the best of R runs (default %(default)s)")
    p.add_argument("--budget", type=_positive_float, default=bench.DEFAULT_BUDGET, metavar="SECONDS",
                   help="longest single run; longer ones are scaled down and extrapolated (default %(default)s)")
    p.add_argument("--seed", type=_non_negative_int, default=cases.DEFAULT_SEED, metavar="S",
                   help="seed of every case (default %(default)s)")
    p.add_argument("--json", metavar="FILE", help="also write the records and machine info to FILE as JSON")
    p.set_defaults(handler=_cmd_bench, subparser=p)

    p = commands.add_parser(
        "gate",
        help="pre-merge gate: is HEAD slower than BASE? (asv, rounds interleaved, flagged cells confirmed)",
        description=(
            "Run the asv suite on BASE and HEAD with rounds interleaved, re-run what was flagged and report "
            "confirmed regressions. Thresholds: single-thread backends "
            f"{gate.THRESHOLDS['serial']:.0%}, parallel ones {gate.THRESHOLDS['parallel']:.0%}. "
            "Exit codes: 0 no confirmed regression, 1 confirmed regression, 2 a benchmark is broken at HEAD, "
            "3 the gate could not run."
        ),
    )
    p.add_argument("base", metavar="BASE", help="the commit to compare against (e.g. main)")
    p.add_argument("head", metavar="HEAD", nargs="?", default="HEAD", help="the commit to check (default HEAD)")
    p.add_argument("--bench", default=None, metavar="REGEX",
                   help=f"benchmarks to compare, a regular expression: asv benchmark names (default "
                   f"'{gate.DEFAULT_BENCH}': every time_ benchmark of the suite), or with --instructions the "
                   "cells' kernel.backend(size) labels (default: every serial backend of every declared kernel "
                   "at its smallest size; exact labels such as blur.numpy(64) choose any size)")
    p.add_argument("--rounds", type=_positive_int, default=gate.DEFAULT_ROUNDS, metavar="N",
                   help="interleaved rounds per commit (default %(default)s)")
    p.add_argument("--instructions", action="store_true",
                   help="compare instruction counts of the serial backends under valgrind instead of times "
                   f"(threshold {gate.INSTRUCTION_THRESHOLD:.0%}%)")  # %% for argparse
    p.add_argument("--config", default="asv.conf.json", metavar="PATH", help="asv configuration (default %(default)s)")
    _add_import(p)
    p.set_defaults(handler=_cmd_gate, subparser=p)
    _add_tool_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return args.handler(args)
    except SystemExit as exc:  # argparse's --help, --version and errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------- output helpers


def _stdout_console() -> Console:
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
    if value is None:
        return ""
    return f"{value:,.0f}x" if value >= 100 else f"{_three_figures(value):g}x"


# --------------------------------------------------------------------------- commands


def _cmd_backends(args) -> int:
    kernels = _parse_kernels(args.subparser, args)
    table = Table(title="pytest-particles backends", box=box.SIMPLE_HEAVY)
    table.add_column("kernel", no_wrap=True)
    table.add_column("backend", no_wrap=True)
    table.add_column("available", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for i, kernel in enumerate(kernels):
        if i:
            table.add_section()
        for b in backends(kernel):
            table.add_row(kernel, b.name, "[green]yes[/]" if b.available else "[red]no[/]", Text(b.reason))
    _stdout_console().print(table)
    return 0


def _cmd_bench(args) -> int:
    parser = args.subparser
    kernels = _parse_kernels(parser, args)
    names = _parse_backends(parser, args.backend, kernels)
    sizes = None if args.size is None else list(dict.fromkeys(_parse_size(parser, s) for s in _items(args.size)))
    if args.json is not None:
        folder = Path(args.json).expanduser().resolve().parent
        if not folder.is_dir():
            parser.error(f"argument --json: folder {str(folder)!r} does not exist")

    cells = bench.plan(kernels, names, sizes)
    if not cells:
        parser.error(
            f"argument --backend: none of {', '.join(names or [])} is a backend of kernel {', '.join(kernels)}"
        )

    stderr = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,  # no live display in a pipe or a file
    ) as progress:
        task = progress.add_task("bench", total=len(cells))

        def on_start(cell: bench.Cell) -> None:
            progress.update(task, description=f"{cell.kernel} {cell.backend.name} {cell.size:,}")

        def on_done(cell: bench.Cell, record: bench.Record) -> None:
            progress.advance(task)

        records = bench.run(
            cells,
            budget=args.budget,
            repeat=args.repeat,
            workers=args.workers,
            seed=args.seed,
            on_start=on_start,
            on_done=on_done,
        )

    machine = bench.machine_info()
    _print_bench(records, machine, args)

    if args.json is not None:
        settings = {
            "kernels": kernels,
            "backends": names,
            "sizes": sizes,
            "workers": args.workers,
            "workers_effective": args.workers or machine["cpu_affinity"],
            "repeat": args.repeat,
            "budget_s": args.budget,
            "seed": args.seed,
            "timing": "best of repeat, time.perf_counter, the kernel's call with each backend (validation included)",
        }
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(bench.report(records, settings, machine), f, indent=2)
                f.write("\n")
        except OSError as exc:
            print(f"{PROG} bench: cannot write {args.json}: {exc}", file=sys.stderr)
            return 1
    return 1 if any(r.error for r in records) else 0


def _cmd_gate(args) -> int:
    stderr = Console(stderr=True, highlight=False)
    outcome = gate.run(args.base, args.head, config=args.config, bench=args.bench, rounds=args.rounds,
                       instructions=args.instructions, imports=args.import_,
                       log=lambda line: stderr.print(line, markup=False))
    console = _stdout_console()
    if outcome.cells:
        unit = "instructions" if args.instructions else "median time"
        table = Table(title=f"pytest-particles gate {args.base} {args.head}", box=box.SIMPLE_HEAVY)
        for column in ("benchmark", f"BASE {unit}", f"HEAD {unit}", "HEAD / BASE", "threshold", "verdict"):
            # a benchmark's name is folded onto more lines in a narrow terminal, never cut short
            table.add_column(column, justify="left" if column in ("benchmark", "verdict") else "right",
                             overflow="fold" if column == "benchmark" else "ellipsis")
        shown = [c for c in outcome.cells if c.flagged] if outcome.code == gate.OK else outcome.cells
        for c in sorted(shown, key=lambda c: -c.ratio)[:40]:
            base, head = (f"{c.base:,.0f}", f"{c.head:,.0f}") if args.instructions else (
                format_time(c.base), format_time(c.head))
            verdict = Text("REGRESSION", style="bold red") if c.flagged else Text("ok")
            table.add_row(c.label, base, head, f"{c.ratio:.3f}", f"+{c.threshold:.0%}", verdict)
        if shown:
            console.print(table)
    for label in outcome.broken:
        console.print(Text(f"broken at HEAD: {label}", style="red"))
    style = {gate.OK: "green", gate.REGRESSION: "bold red", gate.BROKEN: "red", gate.CANNOT_RUN: "yellow"}
    console.print(Text(f"gate: {outcome.message} (exit {outcome.code})", style=style[outcome.code]))
    return outcome.code


def _bench_table(rows: list[tuple], caption: str, with_note: bool) -> Table:
    table = Table(title="pytest-particles bench", caption=caption, box=box.SIMPLE_HEAVY)
    table.add_column("kernel", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("backend", overflow="fold")
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("throughput", justify="right", no_wrap=True)
    table.add_column("speedup", justify="right", no_wrap=True)
    table.add_column("published", justify="right", no_wrap=True)
    if with_note:
        table.add_column("note", overflow="fold")
    previous = None
    for group, cells, note in rows:
        if previous is not None and group != previous:
            table.add_section()
        previous = group
        table.add_row(*cells, *([note] if with_note else []))
    return table


def _print_bench(records: list[bench.Record], machine: dict, args) -> None:
    console = _stdout_console()
    workers = args.workers if args.workers is not None else f"all ({machine['cpu_affinity']})"
    caption = (
        f"Python {machine['python_version']}, NumPy {machine['numpy_version']}, "
        f"{machine['cpu_affinity']} of {machine['cpu_count']} CPUs, workers {workers}, "
        f"best of {args.repeat}, budget {args.budget:g} s per run"
    )
    rows = []
    any_scaled = False
    for r in records:
        cells: list = [r.kernel, f"{r.size:,}", Text(r.backend)]
        book = format_time(r.published_s)
        if not r.available:
            cells += [Text("skipped", style="dim"), "", "", book]
            note = Text(r.reason, style="dim")
        elif r.error:
            cells += [Text("failed", style="red"), "", "", book]
            note = Text(r.error, style="red")
        else:
            time_text = format_time(r.full_size_time_s)
            note = Text("")
            if r.scaled:
                any_scaled = True
                time_text += "*"
                note = Text(f"* extrapolated from {r.measured_case} ({format_time(r.time_s)})")
            cells += [
                time_text,
                format_rate(r.throughput, r.throughput_unit),
                format_speedup(r.speedup),
                book,
            ]
        rows.append(((r.kernel, r.size), cells, note))

    table = _bench_table(rows, caption, with_note=True)
    footnotes = []
    natural_width = console.measure(table, options=console.options.update_width(10_000)).maximum
    if natural_width > console.width:
        # Too narrow for the note column: the notes go under the table instead.
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
    if any_scaled:
        notes.insert(
            1,
            f"*: a full-size run would take longer than the budget ({args.budget:g} s), so the smaller case in "
            "the note was timed and extended to the full work (the kernel's shrunk case linearly; smaller sizes "
            "by time = a + b * work fitted through two of them).",
        )
    for line in notes + footnotes:
        console.print(line, highlight=False, markup=False)



# --------------------------------------------------------------------------- finding the slow part: profile,
# annotate, plot, animate (the work is in profiling.py, plots.py and simulator.visualize)


def _add_tool_commands(commands) -> None:
    p = commands.add_parser(
        "profile",
        help="profile one backend on the benchmark workload: cProfile, KCachegrind, line_profiler, memory peak",
        description=(
            "Run one kernel backend on pytest-particles bench's workload at a small size and write, in --out: "
            "NAME.prof (cProfile; python -m pstats), NAME.calltree (pyprof2calltree, for KCachegrind), and for "
            "pure-Python backends NAME.lines.txt (line_profiler) and NAME.lprof; print the functions with the most "
            "own time (the book's cProfile -s tottime) and the peak memory of the call (tracemalloc). "
            "Default size: the largest one with at most 100,000 units of the kernel's work."
        ),
    )
    p.add_argument("kernel", metavar="KERNEL", help="the kernel (any declared one)")
    _add_import(p)
    p.add_argument("--backend", required=True, metavar="B", help="the backend to profile (e.g. python, numpy, cython)")
    p.add_argument("--size", metavar="N", help="particles (evolve), points (distance_matrix) or samples (pi)")
    p.add_argument("--out", default="particles-profile", metavar="DIR",
                   help="folder for the files (default %(default)s; created if missing)")
    p.add_argument("--seed", type=_non_negative_int, default=cases.DEFAULT_SEED, metavar="S",
                   help="seed of the case (default %(default)s)")
    p.add_argument("--top", type=_positive_int, default=15, metavar="N",
                   help="functions listed by own time (default %(default)s)")
    p.set_defaults(handler=_cmd_profile, subparser=p)

    p = commands.add_parser(
        "annotate",
        help="Cython's annotated HTML (cython -a) of every .pyx, and whether the hot loops are free of Python",
        description=(
            "Run cython -a with the project's directives on every src/*.pyx (or those named) into --out, print per "
            "file whether its hot loops (innermost loops and loops without the GIL) are pure C according to "
            "Cython's annotation (score-0 lines), and write --out/index.html. Needs the sources: a clone of the "
            "repository, or --src."
        ),
    )
    p.add_argument("names", nargs="*", metavar="FILE", help="only these .pyx files (e.g. _evolve or _evolve.pyx)")
    p.add_argument("--src", metavar="DIR", help="the folder of the .pyx files (default: the project's src/)")
    p.add_argument("--out", default="particles-annotate", metavar="DIR",
                   help="folder for the .c and .html files (default %(default)s)")
    p.add_argument("--check", action="store_true", help="exit 1 when a hot loop touches Python")
    p.set_defaults(handler=_cmd_annotate, subparser=p)

    p = commands.add_parser(
        "plot",
        help="PNG figures of saved results: runtime and speedup over python vs size, per kernel",
        description=(
            "Read pytest-benchmark JSON (--benchmark-json, --benchmark-autosave), pytest-particles bench --json "
            "output and asv results (a results folder or result files) and write one PNG per kernel in --out: "
            "runtime vs size (log-log) per backend and speedup over the python backend, each backend labelled "
            "with its fitted growth exponent k (time ~ size^k). The newest result wins for a repeated cell."
        ),
    )
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results files or folders (searched for *.json)")
    p.add_argument("--out", default="particles-plots", metavar="DIR",
                   help="folder for the PNG files (default %(default)s)")
    p.set_defaults(handler=_cmd_plot, subparser=p)

    p = commands.add_parser(
        "animate",
        help="save the book's particle animation to a GIF (headless)",
        description=(
            "The book's visualize(): particles as red dots on axes (-1, 1), evolve(0.01) per frame; "
            "saved with matplotlib's PillowWriter, no window needed."
        ),
    )
    p.add_argument("--out", default="particles.gif", metavar="FILE", help="the .gif to write (default %(default)s)")
    p.add_argument("--particles", type=_positive_int, default=100, metavar="N",
                   help="number of particles, x, y and ang_speed uniform in (-1, 1) (default %(default)s)")
    p.add_argument("--frames", type=_positive_int, default=60, metavar="F", help="frames (default %(default)s)")
    p.add_argument("--backend", metavar="B", help="evolve backend of each step (default: the fastest available)")
    p.add_argument("--fps", type=_positive_int, default=25, metavar="FPS",
                   help="frames per second of the file (default %(default)s)")
    p.add_argument("--seed", type=_non_negative_int, default=0, metavar="S", help="seed (default %(default)s)")
    p.set_defaults(handler=_cmd_animate, subparser=p)


def _out_folder(parser: argparse.ArgumentParser, value: str, option: str = "--out", create: bool = True) -> Path:
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        parser.error(f"argument {option}: {value!r} exists and is not a folder")
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"argument {option}: cannot create folder {value!r}: {exc}")
    return path


def _needs(parser: argparse.ArgumentParser, *modules: str) -> bool:
    """Print which optional packages (the tools extra) are missing; True when all are there."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(f"{parser.prog}: needs {', '.join(missing)}: pip install 'pytest-particles[tools]'", file=sys.stderr)
    return not missing


def _cmd_profile(args) -> int:
    import pstats

    from . import profiling

    parser = args.subparser
    _import_modules(parser, args.import_)
    if args.kernel not in registry.kernel_names():
        parser.error(f"argument KERNEL: unknown kernel {args.kernel!r}; choose from {', '.join(registry.kernel_names())}")
    records = {b.name: b for b in backends(args.kernel)}
    if args.backend not in records:
        parser.error(f"argument --backend: unknown {args.kernel} backend {args.backend!r}; "
                     f"choose from {', '.join(records)}")
    size = None if args.size is None else _parse_size(parser, args.size)
    if not records[args.backend].available:
        print(f"{parser.prog}: {args.kernel} backend {args.backend!r} is not available here: "
              f"{records[args.backend].reason}", file=sys.stderr)
        return 1
    if not _needs(parser, "pyprof2calltree", "line_profiler"):
        return 1
    out = _out_folder(parser, args.out)
    result = profiling.profile_workload(args.kernel, args.backend, size, out_dir=out, seed=args.seed)
    print(f"{args.kernel} {args.backend}, size {result.size:,}: "
          f"{result.work:,} {result.work_unit}; cProfile ({result.function_calls:,} calls, its overhead included):")
    pstats.Stats(str(result.prof), stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(args.top)
    table = Table(title=f"pytest-particles profile {args.kernel} {args.backend}", box=box.SIMPLE_HEAVY)
    table.add_column("what", no_wrap=True)
    table.add_column("result", overflow="fold")
    table.add_row("memory peak (tracemalloc)", profiling.format_bytes(result.peak_bytes))
    table.add_row("cProfile statistics", f"{result.prof}  (python -m pstats)")
    table.add_row("KCachegrind", f"{result.calltree}  (kcachegrind / qcachegrind)")
    if result.lines is not None:
        table.add_row("line_profiler", f"{result.lines}  ({result.lprof}: python -m line_profiler)")
    else:
        table.add_row("line_profiler", Text("only for serial backends written in Python", style="dim"))
    _stdout_console().print(table)
    return 0


def _cmd_annotate(args) -> int:
    from . import profiling

    parser = args.subparser
    if importlib.util.find_spec("Cython") is None:
        print(f"{parser.prog}: needs Cython: pip install Cython", file=sys.stderr)
        return 1
    if args.src is not None and not (Path(args.src).is_dir() and list(Path(args.src).glob("*.pyx"))):
        parser.error(f"argument --src: {args.src!r} is not a folder holding .pyx files")
    out = _out_folder(parser, args.out, create=False)  # annotate_sources creates it once the names are checked
    try:
        results = profiling.annotate_sources(out, args.src, args.names or None)
    except FileNotFoundError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        parser.error(f"argument FILE: {exc}")
    except RuntimeError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
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
            "; ".join(f"loop at line {loop.start}: {profiling.loop_verdict(loop)}" for loop in bad),
        )
    console = _stdout_console()
    console.print(table)
    console.print(f"annotated HTML: {out}/NAME.html; index: {out / 'index.html'}", highlight=False, markup=False)
    return 1 if args.check and not all(a.hot_pure_c for a in results) else 0


def _cmd_plot(args) -> int:
    from . import plots

    parser = args.subparser
    for value in args.results:
        if not Path(value).exists():
            parser.error(f"argument RESULTS: {value!r} does not exist")
    if not _needs(parser, "matplotlib"):
        return 1
    out = _out_folder(parser, args.out)
    try:
        paths = plots.plot_results(args.results, out)
    except ValueError as exc:
        parser.error(f"argument RESULTS: {str(exc).removeprefix('results: ')}")
    for path in paths:
        print(path)
    return 0


def _cmd_animate(args) -> int:
    parser = args.subparser
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".gif":
        parser.error(f"argument --out: {args.out!r} must end in .gif (written with matplotlib's PillowWriter)")
    if not out.parent.is_dir():
        parser.error(f"argument --out: folder {str(out.parent)!r} does not exist")
    if args.backend is not None:
        records = {b.name: b for b in backends("evolve")}
        if args.backend not in records:
            parser.error(f"argument --backend: unknown evolve backend {args.backend!r}; "
                         f"choose from {', '.join(records)}")
        if not records[args.backend].available:
            print(f"{parser.prog}: evolve backend {args.backend!r} is not available here: "
                  f"{records[args.backend].reason}", file=sys.stderr)
            return 1
    if not _needs(parser, "matplotlib", "PIL"):
        return 1
    from matplotlib.animation import PillowWriter
    from matplotlib.figure import Figure

    from .book.physics import particle_system
    from .book.simulator import Particle, ParticleSimulator, visualize

    r, ang_speed = particle_system(args.particles, seed=args.seed)
    simulator = ParticleSimulator([Particle(x, y, s) for (x, y), s in zip(r.tolist(), ang_speed.tolist())])
    animation = visualize(simulator, frames=args.frames, backend=args.backend, figure=Figure())
    try:
        animation.save(out, writer=PillowWriter(fps=args.fps))
    except OSError as exc:
        print(f"{parser.prog}: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    print(f"{out}: {args.frames} frames of {args.particles} particles, evolve(0.01) per frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
