"""The gate's instruction mode: count what the serial backends of the declared kernels execute, at BASE and HEAD.

Each commit is built once per source tree into a folder put first on
PYTHONPATH; ``_count.py`` makes the kernel's own case at a size and calls
the kernel under valgrind's cachegrind.  One call's count is (three calls -
one call) / 2, so interpreter start-up and imports cancel out.  A count does
not drift with the machine's load, so 1 % is a safe threshold.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import registry
from .gate import BROKEN, INSTRUCTION_THRESHOLD, OK, REGRESSION, BenchError, Cell, GateError, Outcome, resolve
from .validation import available_cores

DRIVER = Path(__file__).with_name("_count.py")
LABEL = re.compile(r"^([\w.-]+)\.([\w.-]+)\((\d+)\)$")


def label(kernel: str, backend: str, size: int) -> str:
    """``kernel.backend(size)``: how a cell is named, and matched by ``--bench``."""
    return f"{kernel}.{backend}({size})"


def candidates() -> list[tuple[str, str, int]]:
    """Every available serial backend of every declared kernel, at the kernel's smallest size."""
    return [(k.name, b.name, min(k.sizes)) for k in registry.kernels() for b in k.backends()
            if not b.parallel and b.available]


def cells(bench: str | None = None) -> list[tuple[str, str, int]]:
    """The cells to count: every one of :func:`candidates` by default; ``bench`` chooses.

    ``bench`` is a regular expression over the ``kernel.backend(size)``
    labels of :func:`candidates`, or an alternation of exact labels at any
    size the user gives (``blur.numpy(64)|blur.python(16)``).  One that is no
    regular expression or chooses no cell is a BenchError (a ValueError).
    """
    if bench is None:
        return candidates()
    exact = [LABEL.match(part.strip()) for part in bench.split("|")]
    if all(exact):
        chosen = [(m[1], m[2], int(m[3])) for m in exact if m]
        known = {(k, b) for k, b, _ in candidates()}
        unknown = [label(*c) for c in chosen if (c[0], c[1]) not in known]
        if unknown:
            raise BenchError(f"--bench {bench!r}: no serial backend for {', '.join(unknown)} is available here")
        return chosen
    try:
        pattern = re.compile(bench)
    except re.error as exc:
        raise BenchError(f"--bench {bench!r} is not a regular expression: {exc}") from None
    chosen = [c for c in candidates() if pattern.search(label(*c))]
    if not chosen:
        raise BenchError(f"--bench {bench!r} matches no instruction-count cell; the cells are: "
                        f"{', '.join(label(*c) for c in candidates())}")
    return chosen


def build_site(commit: str, repo: Path, cache: Path, log: Callable[[str], None]) -> Path:
    """A directory holding ``commit``'s package for PYTHONPATH, built once per source tree.

    Cached by the commit's tree hash: commits with the same files (an empty
    commit, a rebase, a message edit) share one build.
    """
    site = cache / f"tree-{resolve(commit, repo, 'tree')}" / "site"
    if (site / ".built").is_file():
        return site
    with tempfile.TemporaryDirectory() as tmp:
        src, wheels = Path(tmp) / "src", Path(tmp) / "wheels"
        src.mkdir()
        archive = subprocess.run(["git", "archive", commit], cwd=repo, capture_output=True)
        if archive.returncode != 0:
            raise GateError(f"git archive {commit[:8]} failed: {archive.stderr.decode()[-500:]}")
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
        log(f"building {commit[:8]} for instruction counts")
        pip = [sys.executable, "-m", "pip"]
        _run_or_fail(pip + ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)], commit)
        _run_or_fail(pip + ["install", "--no-deps", "-q", "--target", str(site), *map(str, wheels.glob("*.whl"))],
                     commit)
    (site / ".built").write_text(commit + "\n")
    return site


def _run_or_fail(command: list[str], commit: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise GateError(f"building {commit[:8]} failed:\n{done.stderr[-2000:]}")


def count_instructions(site: Path, cell: tuple[str, str, int], calls: int, imports: list[str]) -> int | None:
    """Instructions executed by one process making ``calls`` calls (None if the commit lacks the cell)."""
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, str(DRIVER), cell[0], cell[1], str(cell[2]), str(calls), *imports]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=site)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    if "MISSING" in done.stdout:
        return None
    match = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if not match:
        raise GateError(f"could not read cachegrind's instruction count:\n{done.stderr[-1000:]}")
    return int(match.group(1).replace(",", ""))


def instruction_gate(base: str, head: str, *, repo: Path, cache: Path, bench: str | None = None,
                     imports: list[str] | None = None, log: Callable[[str], None] = print) -> Outcome:
    """Compare instruction counts of the serial backends at BASE and HEAD; the valgrind processes run side by side."""
    selected = cells(bench)  # a bad --bench says so before anything else
    if shutil.which("valgrind") is None:
        raise GateError("valgrind is not installed (Debian: apt-get install valgrind); instruction mode cannot run")
    commits = [resolve(base, repo), resolve(head, repo)]
    sites = [build_site(c, repo, cache, log) for c in commits]
    log(f"counting instructions of {len(selected)} kernel cells under cachegrind")
    with ThreadPoolExecutor(max_workers=available_cores()) as pool:
        futures = {(side, cell, calls): pool.submit(count_instructions, sites[side], cell, calls, imports or [])
                   for side in (0, 1) for cell in selected for calls in (1, 3)}
    found, broken = [], []
    for cell in selected:
        name = label(*cell)
        counts: dict[int, int | RuntimeError | None] = {}
        for side in (0, 1):
            try:
                one, three = (futures[(side, cell, calls)].result() for calls in (1, 3))
                counts[side] = None if one is None or three is None else (three - one) // 2
            except RuntimeError as exc:
                counts[side] = exc
        if isinstance(counts[1], RuntimeError):
            # the kernel's own error, not valgrind's summary lines (==PID==) printed after it
            lines = [line for line in str(counts[1]).strip().splitlines() if not re.match(r"==\d+==", line)]
            broken.append(f"{name}: {lines[-1] if lines else 'crashed'}")
            continue
        at_base, at_head = counts[0], counts[1]
        if not isinstance(at_base, int) or not isinstance(at_head, int):
            if isinstance(at_base, int):
                broken.append(f"{name}: backend missing at HEAD")
            continue  # new at HEAD, or broken at BASE already: nothing to compare
        ratio = at_head / at_base
        found.append(Cell(name=f"{cell[0]}.{cell[1]}", params=(str(cell[2]),), backend=cell[1], base=at_base,
                          head=at_head, ratio=ratio, threshold=INSTRUCTION_THRESHOLD,
                          flagged=ratio > 1 + INSTRUCTION_THRESHOLD, detail="instructions"))
    if broken:
        return Outcome(BROKEN, f"{len(broken)} kernel(s) fail at HEAD", found, broken)
    regressions = [c for c in found if c.flagged]
    if regressions:
        return Outcome(REGRESSION, f"{len(regressions)} kernel(s) execute more instructions", found, [])
    return Outcome(OK, f"no instruction-count regression in {len(found)} kernel cells", found, [])
