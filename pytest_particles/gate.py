"""The pre-merge gate: is HEAD slower than BASE?

Timed mode (the default) runs the asv suite on both commits with rounds
interleaved (``asv run --interleave-rounds``) and compares each benchmark
cell round by round: a cell is flagged when its median round ratio passes
the threshold of its kind and most rounds agree, so a burst of load that
hits one commit's turn does not decide alone.  Flagged cells alone are run
again, and only a cell flagged twice is a regression.

Instruction mode (``instructions=True``) builds both commits and counts the
instructions that single-thread kernels execute under valgrind's cachegrind:
a count does not drift with the machine's load.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .validation import available_cores

OK, REGRESSION, BROKEN, CANNOT_RUN = 0, 1, 2, 3

# The one place that says how much slower counts as a regression (HEAD / BASE - 1).
# Parallel backends share 2 cores with everything else on the machine: a wider band.
THRESHOLDS = {"serial": 0.05, "parallel": 0.15}
INSTRUCTION_THRESHOLD = 0.01  # instruction counts repeat to far better than 1 %
PARALLEL_BACKENDS = frozenset({
    "openmp", "multiprocessing", "multiprocessing_per_sample", "numexpr", "ipyparallel", "analytic", "numba",
})

DEFAULT_BENCH = r"^(evolve|distance|pi)\.Time"  # the kernels' timings (not the book's micro-examples)
DEFAULT_ROUNDS = 4
SAMPLES_PER_ROUND = 5  # asv's repeat: samples of each benchmark in each round
ROUNDS_AGREEING = 0.75  # share of the rounds that must show the slowdown

# Single-thread cells counted in instruction mode: (kernel, backend, size, call arguments).
INSTRUCTION_CELLS = [
    ("evolve", "cython", "1000 particles x 1000 steps", "r, s = physics.particle_system(1000); args = (r, s, 0.01)"),
    ("evolve", "numpy", "1000 particles x 100 steps", "r, s = physics.particle_system(1000); args = (r, s, 0.001)"),
    ("evolve", "python_fast", "100 particles x 100 steps", "r, s = physics.particle_system(100); args = (r, s, 0.001)"),
    ("distance_matrix", "cython", "500 points", "args = (physics.particle_system(500)[0],)"),
    ("distance_matrix", "numpy", "500 points", "args = (physics.particle_system(500)[0],)"),
    ("pi", "cython", "100000 samples", "args = (100_000,); kwargs = {'seed': 1}"),
    ("pi", "numpy", "100000 samples", "args = (100_000,); kwargs = {'seed': 1}"),
]


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


def threshold_for(backend: str) -> float:
    return THRESHOLDS["parallel" if backend in PARALLEL_BACKENDS else "serial"]


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
        threshold = threshold_for(backend)
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


# --- instruction counts ----------------------------------------------------------------------

DRIVER = """
import sys
import pytest_particles as pp
from pytest_particles import physics
kernel, name, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
records = {{b.name: b for b in pp.backends(kernel)}}
if name not in records or not records[name].available:
    print("MISSING"); sys.exit(0)
backend = records[name]
kwargs = {{}}
{setup}
for _ in range(calls):
    backend(*args, **kwargs)
print("OK")
"""


def build_site(commit: str, repo: Path, cache: Path, log: Callable[[str], None]) -> Path:
    """A directory holding ``commit``'s package for PYTHONPATH, built once per source tree.

    Cached by the commit's tree hash: commits with the same files (an empty
    commit, a rebase, a message edit) share one build.
    """
    site = cache / f"tree-{resolve(commit, repo, 'tree')}" / "site"
    if (site / "pytest_particles").is_dir():
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
    return site


def _run_or_fail(command: list[str], commit: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise GateError(f"building {commit[:8]} failed:\n{done.stderr[-2000:]}")


def count_instructions(site: Path, kernel: str, backend: str, setup: str, calls: int) -> int | None:
    """Instructions executed by one process making ``calls`` calls (None if the backend is missing)."""
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONHASHSEED="0", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", NUMEXPR_NUM_THREADS="1")
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, "-c", DRIVER.format(setup=setup), kernel, backend, str(calls)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=site)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    if "MISSING" in done.stdout:
        return None
    match = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if not match:
        raise GateError(f"could not read cachegrind's instruction count:\n{done.stderr[-1000:]}")
    return int(match.group(1).replace(",", ""))


def instruction_label(cell: tuple[str, str, str, str]) -> str:
    """``kernel.backend(size)``: how an instruction-count cell is named, and matched by ``--bench``."""
    kernel, backend, size, _ = cell
    return f"{kernel}.{backend}({size})"


def instruction_cells(bench: str | None = None) -> list[tuple[str, str, str, str]]:
    """The instruction-count cells whose label matches ``bench`` (all when None)."""
    if bench is None:
        return list(INSTRUCTION_CELLS)
    try:
        pattern = re.compile(bench)
    except re.error as exc:
        raise GateError(f"--bench {bench!r} is not a regular expression: {exc}") from None
    cells = [cell for cell in INSTRUCTION_CELLS if pattern.search(instruction_label(cell))]
    if not cells:
        labels = ", ".join(map(instruction_label, INSTRUCTION_CELLS))
        raise GateError(f"--bench {bench!r} matches no instruction-count cell; the cells are: {labels}")
    return cells


def instruction_gate(base: str, head: str, *, repo: Path, cache: Path, bench: str | None = None,
                     log: Callable[[str], None] = print) -> Outcome:
    """Compare instruction counts of the single-thread kernels at BASE and HEAD.

    One call's count is (three calls - one call) / 2, so interpreter start-up
    and imports cancel out; the valgrind processes run side by side.
    ``bench`` narrows the cells to those whose ``kernel.backend(size)`` label it matches.
    """
    if shutil.which("valgrind") is None:
        raise GateError("valgrind is not installed (Debian: apt-get install valgrind); instruction mode cannot run")
    selected = instruction_cells(bench)
    commits = [resolve(base, repo), resolve(head, repo)]
    sites = [build_site(c, repo, cache, log) for c in commits]
    log(f"counting instructions of {len(selected)} kernels under cachegrind")
    jobs = {(side, cell[:2], calls): (sites[side], *cell[:2], cell[3], calls)
            for side in (0, 1) for cell in selected for calls in (1, 3)}
    with ThreadPoolExecutor(max_workers=available_cores()) as pool:
        futures = {key: pool.submit(count_instructions, *job) for key, job in jobs.items()}
    cells, broken = [], []
    for cell in selected:
        kernel, backend, size, _ = cell
        label = instruction_label(cell)
        counts = {}
        for side in (0, 1):
            try:
                one, three = (futures[(side, (kernel, backend), calls)].result() for calls in (1, 3))
                counts[side] = None if one is None else (three - one) // 2
            except RuntimeError as exc:
                counts[side] = exc
        if isinstance(counts[1], RuntimeError):
            lines = str(counts[1]).strip().splitlines()
            broken.append(f"{label}: {lines[-1] if lines else 'crashed'}")
            continue
        if counts[0] is None or isinstance(counts[0], RuntimeError) or counts[1] is None:
            if isinstance(counts[0], int):
                broken.append(f"{label}: backend missing at HEAD")
            continue  # new at HEAD, or broken at BASE already: nothing to compare
        ratio = counts[1] / counts[0]
        cells.append(Cell(name=f"{kernel}.{backend}", params=(size,), backend=backend, base=counts[0],
                          head=counts[1], ratio=ratio, threshold=INSTRUCTION_THRESHOLD,
                          flagged=ratio > 1 + INSTRUCTION_THRESHOLD, detail="instructions"))
    if broken:
        return Outcome(BROKEN, f"{len(broken)} kernel(s) fail at HEAD", cells, broken)
    regressions = [c for c in cells if c.flagged]
    if regressions:
        return Outcome(REGRESSION, f"{len(regressions)} kernel(s) execute more instructions", cells, [])
    return Outcome(OK, f"no instruction-count regression in {len(cells)} kernels", cells, [])


def run(base: str, head: str = "HEAD", *, config: str | Path = "asv.conf.json", bench: str | None = None,
        rounds: int = DEFAULT_ROUNDS, instructions: bool = False, log: Callable[[str], None] = print) -> Outcome:
    """Run the gate; a GateError becomes an Outcome with exit code 3.

    ``bench`` is a regular expression: asv benchmark names in timed mode
    (default DEFAULT_BENCH), ``kernel.backend(size)`` labels in instruction
    mode (default every cell).
    """
    config = Path(config).resolve()
    repo = config.parent
    try:
        if instructions:
            return instruction_gate(base, head, repo=repo, cache=repo / ".asv" / "gate", bench=bench, log=log)
        return timed_gate(base, head, repo=repo, config=config, bench=bench or DEFAULT_BENCH, rounds=rounds, log=log)
    except GateError as exc:
        return Outcome(CANNOT_RUN, str(exc), [], [])
