"""The ``pytest-particles`` command.

    pytest-particles backends [--kernel K]
    pytest-particles bench [--kernel K ...] [--backend B ...] [--size N ...] [--workers W]
                           [--repeat R] [--budget SECONDS] [--seed S] [--json FILE]
    pytest-particles gate BASE [HEAD] [--bench REGEX] [--rounds N] [--instructions] [--config PATH]
    pytest-particles profile KERNEL --backend B [--size N] [--out DIR] [--seed S] [--top N]
    pytest-particles annotate [FILE ...] [--src DIR] [--out DIR] [--check]
    pytest-particles plot RESULTS ... [--out DIR]
    pytest-particles animate [--out FILE.gif] [--particles N] [--frames F] [--backend B] [--fps FPS] [--seed S]
    pytest-particles publish [--config PATH] [--html-dir DIR] [--no-asv]
    pytest-particles report RESULTS ... [-o FILE.html]
    pytest-particles --version

``main(argv)`` returns the exit code instead of exiting, so tests can call it.
This module is the parser; each subcommand (:mod:`.commands`) is a thin
function over the library (bench, gate, profiling, annotate, plots, the
book's simulator) and prints with :mod:`.tables`.  List options go through
:mod:`pytest_particles.arguments`, the plugin's parser.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__, arguments, bench, cases, gate
from . import commands
from .tables import format_rate, format_speedup, format_time

__all__ = ["PROG", "build_parser", "format_rate", "format_speedup", "format_time", "main"]

PROG = "pytest-particles"
KERNEL_HELP = "only this kernel (any declared one: the book's evolve, distance_matrix, pi, or yours); " \
    "repeatable or comma-separated"


def _whole_number(minimum: int) -> Callable[[str], int]:
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
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0; got {text!r}")
    return value


def _add_kernel(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", action="extend", type=arguments.names, metavar="K", help=KERNEL_HELP)


def _add_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("--import", dest="import_", action="append", metavar="MODULE",
                   help="import MODULE first: it declares kernels or backends (repeatable; e.g. mylib.kernels)")


def _add_command(sub: argparse._SubParsersAction, name: str, handler: Callable,
                 **kwargs: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(name, **kwargs)
    p.set_defaults(handler=handler, subparser=p)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each sets ``handler`` (its function in :mod:`.commands`) and ``subparser``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The kernels of Python High Performance Programming (Lanaro, 2013): list their backends "
        "and benchmark them at the book's sizes.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _add_command(sub, "backends", commands.backends,
                     help="list every backend of every kernel and whether it can run here",
                     description="List every backend of every kernel, whether it can run here and, if not, why.")
    _add_kernel(p)
    _add_import(p)

    p = _add_command(sub, "bench", commands.bench,
                     help="time every available backend of every kernel at its declared sizes",
                     description=(
                         "Time every available backend of every declared kernel on the kernel's own cases at its "
                         "declared sizes (the book's: evolve 100, 1000, 10000 particles for dt = 0.1, i.e. 10,000 "
                         "steps; distance_matrix 1000 and 10000 points; pi 1e6 and 1e7 samples). "
                         "A run expected to take longer than --budget is timed on a smaller size and extrapolated "
                         "linearly in the kernel's work (marked *)."))
    _add_kernel(p)
    _add_import(p)
    p.add_argument("--backend", action="extend", type=arguments.names, metavar="B",
                   help="only this backend (e.g. python, numpy, cython); repeatable or comma-separated")
    p.add_argument("--size", action="extend", type=arguments.sizes, metavar="N",
                   help="instead of each kernel's declared sizes (the book's evolve: particles, distance_matrix: "
                   "points, pi: samples), used for every selected kernel; repeatable or comma-separated (1000, 1e6)")
    p.add_argument("--workers", type=_positive_int, metavar="W",
                   help="threads or processes for parallel backends (default: every core this process may use)")
    p.add_argument("--repeat", type=_positive_int, default=bench.DEFAULT_REPEAT, metavar="R",
                   help="report the best of R runs (default %(default)s)")
    p.add_argument("--budget", type=_positive_float, default=bench.DEFAULT_BUDGET, metavar="SECONDS",
                   help="longest single run; longer ones are scaled down and extrapolated (default %(default)s)")
    p.add_argument("--seed", type=_non_negative_int, default=cases.DEFAULT_SEED, metavar="S",
                   help="seed of every case (default %(default)s)")
    p.add_argument("--json", metavar="FILE", help="also write the records and machine info to FILE as JSON")

    p = _add_command(sub, "gate", commands.gate,
                     help="pre-merge gate: is HEAD slower than BASE? (asv, rounds interleaved, flagged cells "
                     "confirmed)",
                     description=(
                         "Run the asv suite on BASE and HEAD with rounds interleaved, re-run what was flagged and "
                         "report confirmed regressions. Thresholds: single-thread backends "
                         f"{gate.THRESHOLDS['serial']:.0%}, parallel ones {gate.THRESHOLDS['parallel']:.0%}. "
                         "Exit codes: 0 no confirmed regression, 1 confirmed regression, 2 a benchmark is broken "
                         "at HEAD, 3 the gate could not run."))
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
    p.add_argument("--config", default="asv.conf.json", metavar="PATH",
                   help="asv configuration (default %(default)s)")
    _add_import(p)
    _add_tools(sub)
    _add_pages(sub)
    return parser


def _add_tools(sub: argparse._SubParsersAction) -> None:
    """Finding the slow part: profile, annotate, plot, animate."""
    p = _add_command(sub, "profile", commands.profile,
                     help="profile one backend on the benchmark workload: cProfile, KCachegrind, line_profiler, "
                     "memory peak",
                     description=(
                         "Run one kernel backend on pytest-particles bench's workload at a small size and write, in "
                         "--out: NAME.prof (cProfile; python -m pstats), NAME.calltree (pyprof2calltree, for "
                         "KCachegrind), and for pure-Python backends NAME.lines.txt (line_profiler) and NAME.lprof; "
                         "print the functions with the most own time (the book's cProfile -s tottime) and the peak "
                         "memory of the call (tracemalloc). Default size: the largest one with at most 100,000 units "
                         "of the kernel's work."))
    p.add_argument("kernel", metavar="KERNEL", help="the kernel (any declared one)")
    _add_import(p)
    p.add_argument("--backend", required=True, metavar="B", help="the backend to profile (e.g. python, numpy, cython)")
    p.add_argument("--size", type=arguments.size, metavar="N",
                   help="particles (evolve), points (distance_matrix) or samples (pi); e.g. 1000 or 1e4")
    p.add_argument("--out", default="particles-profile", metavar="DIR",
                   help="folder for the files (default %(default)s; created if missing)")
    p.add_argument("--seed", type=_non_negative_int, default=cases.DEFAULT_SEED, metavar="S",
                   help="seed of the case (default %(default)s)")
    p.add_argument("--top", type=_positive_int, default=15, metavar="N",
                   help="functions listed by own time (default %(default)s)")

    p = _add_command(sub, "annotate", commands.annotate,
                     help="Cython's annotated HTML (cython -a) of every .pyx, and whether the hot loops are free of "
                     "Python",
                     description=(
                         "Run cython -a on every src/*.pyx (or those named), each with the directives of its own "
                         "'# cython:' header, into --out, print per file whether its hot loops (innermost loops and "
                         "loops without the GIL) are pure C according to Cython's annotation (score-0 lines), and "
                         "write --out/index.html. Needs the sources: a clone of the repository, or --src."))
    p.add_argument("names", nargs="*", metavar="FILE", help="only these .pyx files (e.g. _evolve or _evolve.pyx)")
    p.add_argument("--src", metavar="DIR", help="the folder of the .pyx files (default: the project's src/)")
    p.add_argument("--out", default="particles-annotate", metavar="DIR",
                   help="folder for the .c and .html files (default %(default)s)")
    p.add_argument("--check", action="store_true", help="exit 1 when a hot loop touches Python")

    p = _add_command(sub, "plot", commands.plot,
                     help="PNG figures of saved results: runtime and speedup over python vs size, per kernel",
                     description=(
                         "Read pytest-benchmark JSON (--benchmark-json, --benchmark-autosave), pytest-particles "
                         "bench --json output and asv results (a results folder or result files) and write one PNG "
                         "per kernel in --out: runtime vs size (log-log) per backend and speedup over the python "
                         "backend, each backend labelled with its fitted growth exponent k (time ~ size^k). The "
                         "newest result wins for a repeated cell."))
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results files or folders (searched for *.json)")
    p.add_argument("--out", default="particles-plots", metavar="DIR",
                   help="folder for the PNG files (default %(default)s)")

    p = _add_command(sub, "animate", commands.animate,
                     help="save the book's particle animation to a GIF (headless)",
                     description=(
                         "The book's visualize(): particles as red dots on axes (-1, 1), evolve(0.01) per frame; "
                         "saved with matplotlib's PillowWriter, no window needed."))
    p.add_argument("--out", default="particles.gif", metavar="FILE", help="the .gif to write (default %(default)s)")
    p.add_argument("--particles", type=_positive_int, default=100, metavar="N",
                   help="number of particles, x, y and ang_speed uniform in (-1, 1) (default %(default)s)")
    p.add_argument("--frames", type=_positive_int, default=60, metavar="F", help="frames (default %(default)s)")
    p.add_argument("--backend", metavar="B", help="evolve backend of each step (default: the fastest available)")
    p.add_argument("--fps", type=_positive_int, default=25, metavar="FPS",
                   help="frames per second of the file (default %(default)s)")
    p.add_argument("--seed", type=_non_negative_int, default=0, metavar="S", help="seed (default %(default)s)")


def _add_pages(sub: argparse._SubParsersAction) -> None:
    """Pages people look at, with no network: asv's HTML made self-contained, and one report file."""
    p = _add_command(sub, "publish", commands.publish,
                     help="asv publish, then make the pages self-contained (no CDN: they render offline)",
                     description=(
                         "Run asv publish, then copy the scripts and stylesheet asv's pages load from public CDNs "
                         "(jQuery, flot and its plugins, stupidtable, blueimp-md5, Bootstrap; vendored in "
                         "pytest-particles from their npm packages) into the html folder and point the pages at "
                         "them, so they render without a network. Serve the folder (asv preview, or python -m "
                         "http.server -d DIR): the pages read their data with XHR, which browsers refuse on file://."))
    p.add_argument("--config", default="asv.conf.json", metavar="PATH",
                   help="asv configuration (default %(default)s)")
    p.add_argument("--html-dir", metavar="DIR",
                   help="the html folder (default: the configuration's html_dir); asv publish writes it")
    p.add_argument("--no-asv", dest="run_asv", action="store_false",
                   help="do not run asv publish: only make the pages already in the html folder self-contained")

    p = _add_command(sub, "report", commands.report,
                     help="one self-contained HTML report of saved results: figures, speedups, sortable table, "
                     "failures",
                     description=(
                         "Read pytest-benchmark JSON, pytest-particles bench --json output and asv results (as "
                         "plot does) and write one HTML file that loads nothing: per kernel the time against size "
                         "(log-log) with each backend's growth exponent k and the speedup over the kernel's "
                         "reference backend (figures inline), a sortable table of every result, and the backends "
                         "that failed."))
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results files or folders (searched for *.json)")
    p.add_argument("-o", "--out", default="particles-report.html", metavar="FILE",
                   help="the .html file to write (default %(default)s)")


def main(argv: Sequence[str] | None = None) -> int:
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
