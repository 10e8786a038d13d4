"""The subcommands: each resolves its arguments through the library's own doors and calls one library function.

Names resolve through the registry (``registry.kernel``, ``registry.lookup``,
``registry.check_backend_names``), so a wrong one gets the registry's message,
as one usage line naming the option (exit 2).  A backend that cannot run here,
a missing optional package or a failed run is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .. import bench as _bench
from .. import gate as _gate
from .. import registry
from . import tables


def _one_line(exc: BaseException) -> str:
    """The registry's message (a first line, then the available backends) on one line."""
    return str(exc).strip().replace(".\n", "; ").replace("\n", "; ")


def _usage(parser: argparse.ArgumentParser, option: str, exc: BaseException | str) -> NoReturn:
    parser.error(f"argument {option}: {_one_line(exc) if isinstance(exc, BaseException) else exc}")


def _resolve(parser: argparse.ArgumentParser, option: str, function: Callable, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``; its ValueError or TypeError becomes a usage error naming ``option``."""
    try:
        return function(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        _usage(parser, option, exc)


def _fail(parser: argparse.ArgumentParser, message: object) -> int:
    print(f"{parser.prog}: {_one_line(message) if isinstance(message, BaseException) else message}",
          file=sys.stderr)
    return 1


def _import_modules(parser: argparse.ArgumentParser, modules: list[str] | None) -> None:
    """``--import MODULE``: modules that declare kernels or backends, imported before anything else."""
    try:
        registry.import_modules(modules or [])
    except Exception as exc:  # ImportError, or an error raised by the module's own declarations
        _usage(parser, "--import", str(exc))


def _kernels(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """``--import`` first, then ``--kernel``: declared kernels (all when not given), in order, without repeats."""
    _import_modules(parser, args.import_)
    if args.kernel is None:
        return registry.kernel_names()
    return [_resolve(parser, "--kernel", registry.kernel, name).name for name in dict.fromkeys(args.kernel)]


def _available(parser: argparse.ArgumentParser, kernel: str, name: str) -> registry.Backend | int:
    """The backend called ``name`` (unknown: usage error); exit code 1 with the registry's reason if it cannot
    run here."""
    record = _resolve(parser, "--backend", registry.lookup, kernel, name, available=False)
    try:
        return registry.lookup(kernel, record)
    except ValueError as exc:
        return _fail(parser, exc)


def _out_folder(parser: argparse.ArgumentParser, value: str, create: bool = True) -> Path:
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        _usage(parser, "--out", f"{value!r} exists and is not a folder")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _usage(parser, "--out", f"cannot create folder {value!r}: {exc}")
    return path


def _needs(parser: argparse.ArgumentParser, *modules: str) -> bool:
    """Print which optional packages (the tools extra) are missing; True when all are there."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        _fail(parser, f"needs {', '.join(missing)}: pip install 'pytest-particles[tools]'")
    return not missing


# --------------------------------------------------------------------------- backends, bench, gate


def backends(args: argparse.Namespace) -> int:
    tables.print_backends(_kernels(args.subparser, args))
    return 0


def bench(args: argparse.Namespace) -> int:
    parser = args.subparser
    kernels = _kernels(parser, args)
    names = None if args.backend is None else list(dict.fromkeys(args.backend))
    if names is not None:
        _resolve(parser, "--backend", registry.check_backend_names, names, kernels)
    sizes = None if args.size is None else list(dict.fromkeys(args.size))
    if args.json is not None:
        folder = Path(args.json).expanduser().resolve().parent
        if not folder.is_dir():
            _usage(parser, "--json", f"folder {str(folder)!r} does not exist")

    cells = _bench.plan(kernels, names, sizes)
    stderr = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=stderr, transient=True,
                  disable=not stderr.is_terminal) as progress:  # no live display in a pipe or a file
        task = progress.add_task("bench", total=len(cells))
        records = _bench.run(
            cells, budget=args.budget, repeat=args.repeat, workers=args.workers, seed=args.seed,
            on_start=lambda cell: progress.update(task, description=f"{cell.kernel} {cell.backend.name} "
                                                  f"{cell.size:,}"),
            on_done=lambda cell, record: progress.advance(task),
        )
    machine = _bench.machine_info()
    tables.print_bench(records, machine, workers=args.workers, repeat=args.repeat, budget=args.budget)

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
                json.dump(_bench.report(records, settings, machine), f, indent=2)
                f.write("\n")
        except OSError as exc:
            return _fail(parser, f"cannot write {args.json}: {exc}")
    return 1 if any(r.error for r in records) else 0


def gate(args: argparse.Namespace) -> int:
    stderr = Console(stderr=True, highlight=False)
    outcome = _gate.run(args.base, args.head, config=args.config, bench=args.bench, rounds=args.rounds,
                        instructions=args.instructions, imports=args.import_,
                        log=lambda line: stderr.print(line, markup=False))
    tables.print_gate(outcome, args.base, args.head, instructions=args.instructions)
    return outcome.code


# --------------------------------------------------------------------------- profile, annotate, plot, animate


def profile(args: argparse.Namespace) -> int:
    from .. import profiling

    parser = args.subparser
    _import_modules(parser, args.import_)
    kernel = _resolve(parser, "KERNEL", registry.kernel, args.kernel).name
    record = _available(parser, kernel, args.backend)
    if isinstance(record, int):
        return record
    try:
        profiling.require_tools()
    except ImportError as exc:
        return _fail(parser, exc)
    out = _out_folder(parser, args.out)
    result = profiling.profile_workload(kernel, record.name, args.size, out_dir=out, seed=args.seed)
    tables.print_profile(result, top=args.top)
    return 0


def annotate(args: argparse.Namespace) -> int:
    from .. import annotate as _annotate

    parser = args.subparser
    if importlib.util.find_spec("Cython") is None:
        return _fail(parser, "needs Cython: pip install Cython")
    try:
        src = _annotate.find_sources(args.src)
    except FileNotFoundError as exc:
        return _fail(parser, exc)
    except ValueError as exc:
        _usage(parser, "--src", exc)
    out = _out_folder(parser, args.out, create=False)  # annotate_sources creates it once the names are checked
    try:
        results = _annotate.annotate_sources(out, src, args.names or None)
    except ValueError as exc:
        _usage(parser, "FILE", exc)
    except RuntimeError as exc:  # cython failed: its own lines follow
        return _fail(parser, str(exc))
    tables.print_annotate(results, out)
    return 1 if args.check and not all(a.hot_pure_c for a in results) else 0


def plot(args: argparse.Namespace) -> int:
    from .. import plots

    parser = args.subparser
    for value in args.results:
        if not Path(value).exists():
            _usage(parser, "RESULTS", f"{value!r} does not exist")
    if not _needs(parser, "matplotlib"):
        return 1
    out = _out_folder(parser, args.out)
    try:
        paths = plots.plot_results(args.results, out)
    except ValueError as exc:
        _usage(parser, "RESULTS", str(exc).removeprefix("results: "))
    for path in paths:
        print(path)
    return 0


def animate(args: argparse.Namespace) -> int:
    parser = args.subparser
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".gif":
        _usage(parser, "--out", f"{args.out!r} must end in .gif (written with matplotlib's PillowWriter)")
    if not out.parent.is_dir():
        _usage(parser, "--out", f"folder {str(out.parent)!r} does not exist")
    if args.backend is not None and isinstance(_available(parser, "evolve", args.backend), int):
        return 1
    if not _needs(parser, "matplotlib", "PIL"):
        return 1
    from ..book.simulator import save_animation

    try:
        save_animation(out, particles=args.particles, frames=args.frames, backend=args.backend, fps=args.fps,
                       seed=args.seed)
    except OSError as exc:
        return _fail(parser, f"cannot write {args.out}: {exc}")
    print(f"{out}: {args.frames} frames of {args.particles} particles, evolve(0.01) per frame")
    return 0


# --------------------------------------------------------------------------- publish, report


def publish(args: argparse.Namespace) -> int:
    from .. import publish as _publish

    parser = args.subparser
    if not Path(args.config).is_file():
        return _fail(parser, f"no asv configuration at {args.config}")
    try:
        html = _publish.publish(args.config, args.html_dir, run_asv=args.run_asv, log=print)
    except ImportError as exc:  # asv is not installed
        return _fail(parser, exc)
    except (ValueError, RuntimeError, OSError) as exc:
        return _fail(parser, str(exc).removeprefix("results: ").removeprefix("html_dir: "))
    print(f"{html / 'index.html'}: self-contained (scripts and stylesheet in {html / _publish.VENDOR_FOLDER}); "
          f"serve it with: python -m http.server -d {html}")
    return 0


def report(args: argparse.Namespace) -> int:
    from .. import report as _report

    parser = args.subparser
    for value in args.results:
        if not Path(value).exists():
            _usage(parser, "RESULTS", f"{value!r} does not exist")
    out = Path(args.out).expanduser()
    if not out.parent.is_dir():
        _usage(parser, "--out", f"folder {str(out.parent)!r} does not exist")
    if out.is_dir():
        _usage(parser, "--out", f"{args.out!r} is a folder; give the .html file to write")
    if not _needs(parser, "matplotlib"):
        return 1
    try:
        text = _report.build_report(args.results)
    except ValueError as exc:
        _usage(parser, "RESULTS", str(exc).removeprefix("results: "))
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail(parser, f"cannot write {args.out}: {exc}")
    print(out)
    return 0
