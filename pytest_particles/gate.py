"""The pre-merge gate: is HEAD slower than BASE?

Timed mode (the default) runs the asv suite on both commits with rounds
interleaved (``asv run --interleave-rounds``) and compares each benchmark
cell round by round: a cell is flagged when its median round ratio passes
the threshold of its kind and most rounds agree, so a burst of load that
hits one commit's turn does not decide alone.  Flagged cells alone are run
again, and only a cell flagged twice is a regression.

Instruction mode (``instructions=True``, :mod:`pytest_particles.instructions`)
builds both commits and counts the instructions that the serial backends of
the declared kernels execute under valgrind's cachegrind: a count does not
drift with the machine's load.

Exit codes: 0 no confirmed regression, 1 confirmed regression, 2 a benchmark
is broken at HEAD, 3 the gate could not run (bad ref, no asv or valgrind,
a build that failed).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


OK, REGRESSION, BROKEN, CANNOT_RUN = 0, 1, 2, 3

# The one place that says how much slower counts as a regression (HEAD / BASE - 1).
# Parallel backends (declared parallel=True) share the cores with everything else: a wider band.
THRESHOLDS = {"serial": 0.05, "parallel": 0.15}
INSTRUCTION_THRESHOLD = 0.01  # instruction counts repeat to far better than 1 %

DEFAULT_BENCH = r"(^|\.)time_"  # every time_ benchmark of the suite
DEFAULT_ROUNDS = 4
SAMPLES_PER_ROUND = 5  # asv's repeat: samples of each benchmark in each round
ROUNDS_AGREEING = 0.75  # share of the rounds that must show the slowdown

class GateError(Exception):
    """The gate could not run (exit code 3)."""


@dataclass
class Cell:
    """One benchmark at one parameter combination, measured at BASE and HEAD."""

    name: str
    params: tuple
    backend: str
    base: float
    head: float
    ratio: float  # HEAD / BASE of the statistic that decides
    threshold: float
    flagged: bool
    detail: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}({', '.join(self.params)})" if self.params else self.name


@dataclass
class Outcome:
    code: int
    message: str
    cells: list[Cell]
    broken: list[str]


def is_parallel(benchmark: str, backend: str) -> bool:
    """Whether a cell's backend is declared parallel.

    The kernel is the one a ``pytest_particles.asv`` benchmark is named after
    (``time_<kernel>``); a benchmark of another shape is matched on its backend
    name across the declared kernels.  A cell with no backend is serial.
    """
    if not backend:
        return False
    from . import registry
    from .asv import kernel_of

    named = kernel_of(benchmark)
    for kernel in [registry.kernel(named)] if named else registry.kernels():
        record = {b.name: b for b in kernel.backends()}.get(backend)
        if record is not None and record.parallel:
            return True
    return False


def threshold_for(benchmark: str, backend: str) -> float:
    return THRESHOLDS["parallel" if is_parallel(benchmark, backend) else "serial"]


# --- git and asv -----------------------------------------------------------------------------


def resolve(ref: str, repo: Path, kind: str = "commit") -> str:
    """The full hash of ``ref``'s ``kind`` (its commit, or its tree), or GateError."""
    out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{{kind}}}"], cwd=repo,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise GateError(f"{ref!r} is not a {kind} in {repo}")
    return out.stdout.strip()


def load_config(path: Path) -> dict:
    """asv.conf.json (asv allows // comments in it)."""
    if not path.is_file():
        raise GateError(f"no asv configuration at {path}")
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("//"))
    return json.loads(text)


def run_asv(commits: list[str], bench: str, rounds: int, config: Path, log: Callable[[str], None]) -> int:
    """``asv run`` on ``commits`` with rounds interleaved; returns asv's exit code."""
    if shutil.which("asv") is None and not _module_exists("asv"):
        raise GateError("asv is not installed: pip install 'pytest-particles[asv]'")
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes", "--config", str(config)],
                   cwd=config.parent, capture_output=True, text=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as hashes:
        hashes.write("\n".join(commits) + "\n")
    try:
        command = [sys.executable, "-m", "asv", "run", f"HASHFILE:{hashes.name}", "--config", str(config),
                   "--bench", bench, "--interleave-rounds", "-a", f"rounds={rounds}",
                   "-a", f"repeat={SAMPLES_PER_ROUND}", "--record-samples",
                   "--show-stderr"]
        log("$ " + " ".join(command[2:]))
        return subprocess.run(command, cwd=config.parent, capture_output=True, text=True).returncode
    finally:
        os.unlink(hashes.name)


def _module_exists(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def load_results(results_dir: Path, commit: str) -> dict[tuple[str, tuple], tuple[object, list | None]]:
    """{(benchmark, params): (value, samples)} from the newest asv result file of ``commit``.

    A value of None is a failure, NaN a skip (asv's convention).
    """
    files = sorted(results_dir.glob(f"*/{commit[:8]}-*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise GateError(f"asv produced no results for {commit[:8]} (did the build fail? see asv's output)")
    data = json.loads(files[-1].read_text())
    columns = data["result_columns"]
    cells = {}
    for name, row in data["results"].items():
        entry = dict(zip(columns, row))
        combos = list(itertools.product(*entry["params"])) if entry.get("params") else [()]
        values = entry["result"] if entry.get("params") else [entry["result"]]
        samples = entry.get("samples") or [None] * len(combos)
        for combo, value, sample in zip(combos, values or [None] * len(combos), samples):
            cells[(name, tuple(combo))] = (value, sample)
    return cells


def _backend_of(params: tuple) -> str:
    """The suite's benchmarks take the backend as their first parameter (asv stores its repr)."""
    return params[0].strip("'\"") if params else ""


def compare(base: dict, head: dict, rounds: int = 1) -> tuple[list[Cell], list[str]]:
    """Cells measured at both commits, and the labels of cells broken at HEAD.

    asv records the samples round after round, SAMPLES_PER_ROUND each.  Load on
    a shared machine comes in bursts that hit one commit's turn and not the
    other's, so each round is compared on its own (best sample against best
    sample): a cell is flagged when the median round ratio passes the
    threshold and at least ROUNDS_AGREEING of the rounds agree.
    """
    cells, broken = [], []
    for key, (head_value, head_samples) in sorted(head.items()):
        name, params = key
        if head_value is None:
            broken.append(f"{name}({', '.join(params)})" if params else name)
            continue
        base_value, base_samples = base.get(key, (None, None))
        if not _number(head_value) or not _number(base_value):
            continue  # skipped at one commit, or new at HEAD
        ratios = [h / b for h, b in zip(_round_bests(head_samples or [head_value], rounds),
                                         _round_bests(base_samples or [base_value], rounds))]
        backend = _backend_of(params)
        threshold = threshold_for(name, backend)
        slower = sum(r > 1 + threshold for r in ratios)
        ratio = statistics.median(ratios)
        cells.append(Cell(
            name=name, params=params, backend=backend, base=statistics.median(base_samples or [base_value]),
            head=statistics.median(head_samples or [head_value]), ratio=ratio, threshold=threshold,
            flagged=ratio > 1 + threshold and slower >= math.ceil(ROUNDS_AGREEING * len(ratios)),
            detail=f"{slower} of {len(ratios)} rounds slower",
        ))
    return cells, broken


def _round_bests(samples: list, rounds: int) -> list[float]:
    """The best sample of each round (one value for the whole set when rounds cannot be told apart)."""
    if rounds > 1 and len(samples) == rounds * SAMPLES_PER_ROUND:
        return [min(samples[i:i + SAMPLES_PER_ROUND]) for i in range(0, len(samples), SAMPLES_PER_ROUND)]
    return [min(samples)]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def timed_gate(base: str, head: str, *, repo: Path, config: Path, bench: str = DEFAULT_BENCH,
               rounds: int = DEFAULT_ROUNDS, log: Callable[[str], None] = print) -> Outcome:
    """Run asv on both commits, interleaved; re-run what was flagged; report."""
    results_dir = (config.parent / load_config(config).get("results_dir", "results")).resolve()
    commits = [resolve(base, repo), resolve(head, repo)]
    run_asv(commits, bench, rounds, config, log)
    cells, broken = compare(load_results(results_dir, commits[0]), load_results(results_dir, commits[1]), rounds)
    if broken:
        return Outcome(BROKEN, f"{len(broken)} benchmark(s) fail at HEAD", cells, broken)
    flagged = [c for c in cells if c.flagged]
    if not flagged:
        return Outcome(OK, f"no regression in {len(cells)} benchmark cells", cells, [])
    log(f"{len(flagged)} cell(s) flagged; running them again to confirm")
    # asv matches --bench against "name(param, ...)", so exactly the flagged cells run again
    run_asv(commits, "|".join(f"^{re.escape(c.label)}$" for c in flagged), rounds, config, log)
    again, broken = compare(load_results(results_dir, commits[0]), load_results(results_dir, commits[1]), rounds)
    if broken:
        return Outcome(BROKEN, f"{len(broken)} benchmark(s) fail at HEAD", again, broken)
    second = {(c.name, c.params): c for c in again}
    for c in cells:
        retry = second.get((c.name, c.params))
        c.flagged = c.flagged and retry is not None and retry.flagged
        if c.flagged:
            c.detail += f"; confirmed at {retry.ratio:.3f}"
    confirmed = [c for c in cells if c.flagged]
    if confirmed:
        return Outcome(REGRESSION, f"{len(confirmed)} confirmed regression(s)", cells, [])
    return Outcome(OK, f"{len(flagged)} flagged cell(s) not confirmed on a second run: no regression", cells, [])


def run(base: str, head: str = "HEAD", *, config: str | Path = "asv.conf.json", bench: str | None = None,
        rounds: int = DEFAULT_ROUNDS, instructions: bool = False, imports: list[str] | None = None,
        log: Callable[[str], None] = print) -> Outcome:
    """Run the gate; a GateError becomes an Outcome with exit code 3.

    ``bench`` is a regular expression: asv benchmark names in timed mode
    (default DEFAULT_BENCH), ``kernel.backend(size)`` labels in instruction
    mode (default every cell).
    """
    config = Path(config).resolve()
    repo = config.parent
    try:
        from . import registry

        registry.import_modules(imports or [])  # the user's kernels: thresholds come from their declarations
        if instructions:
            from .instructions import instruction_gate

            return instruction_gate(base, head, repo=repo, cache=repo / ".asv" / "gate", bench=bench,
                                    imports=imports or [], log=log)
        return timed_gate(base, head, repo=repo, config=config, bench=bench or DEFAULT_BENCH, rounds=rounds, log=log)
    except (GateError, ImportError) as exc:
        return Outcome(CANNOT_RUN, str(exc), [], [])
