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

asv's files are read by asv's own loaders (:mod:`pytest_particles.asvresults`),
and only the results of the gate's own run count: a failed ``asv run`` is
exit 3 with asv's output shown, never an older result file read instead.

Exit codes: 0 no confirmed regression, 1 confirmed regression, 2 a benchmark
is broken at HEAD, 3 the gate could not run (bad ref, a missing or broken asv
configuration, no asv or valgrind, a failed asv run or build, a ``--bench``
that is no regular expression or matches nothing).
"""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
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

OUTPUT_TAIL = 40  # lines of asv's output shown when it fails


class GateError(Exception):
    """The gate could not run (exit code 3)."""


class BenchError(GateError, ValueError):
    """``bench`` is no regular expression or matches nothing (exit code 3 from :func:`run`)."""


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
    """asv.conf.json through asv's own loader (``//`` comments anywhere), asv's defaults filled in."""
    from . import asvresults

    try:
        return dict(vars(asvresults.load_config(path)))
    except (ValueError, ImportError) as exc:
        raise GateError(str(exc)) from None


def check_bench(bench: str | None, instructions: bool = False) -> None:
    """Reject a ``bench`` that is no regular expression (or, with ``instructions``, matches no cell)."""
    if bench is not None and not isinstance(bench, str):
        raise TypeError(f"bench must be a regular expression (str) or None; got {bench!r}")
    if instructions:
        from .instructions import cells

        cells(bench or None)
    elif bench:
        try:
            re.compile(bench)
        except re.error as exc:
            raise BenchError(f"--bench {bench!r} is not a regular expression: {exc}") from None


def machine_name() -> str:
    """The machine asv records this one as (its host name): the gate names it, so it reads that folder only."""
    from asv.machine import Machine

    return Machine.get_unique_machine_name()


def run_asv(commits: list[str], bench: str, rounds: int, config: Path, log: Callable[[str], None]) -> str:
    """``asv run`` on ``commits`` with rounds interleaved; returns asv's output.

    asv exits 0, or 2 when a benchmark failed (its failure is in the results);
    anything else is a GateError, with the tail of asv's output logged.
    """
    if not _module_exists("asv"):
        raise GateError("asv is not installed: pip install 'pytest-particles[asv]'")
    machine = machine_name()
    asv = [sys.executable, "-m", "asv"]
    _check(subprocess.run([*asv, "machine", "--yes", "--machine", machine, "--config", str(config)],
                          cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
           "asv machine", log)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as hashes:
        hashes.write("\n".join(commits) + "\n")
    try:
        command = [*asv, "run", f"HASHFILE:{hashes.name}", "--config", str(config), "--machine", machine,
                   "--bench", bench, "--interleave-rounds", "-a", f"rounds={rounds}",
                   "-a", f"repeat={SAMPLES_PER_ROUND}", "--record-samples", "--show-stderr"]
        log("$ " + " ".join(command[2:]))
        done = subprocess.run(command, cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finally:
        os.unlink(hashes.name)
    if done.returncode == 1 and "No benchmarks selected" in done.stdout:
        raise BenchError(f"--bench {bench!r} matches no benchmark of the asv suite "
                         "(asv matches it against name(param, ...), e.g. time_evolve('numpy', 100))")
    if done.returncode not in (0, 2):
        _check(done, "asv run", log)
    return done.stdout


def _check(done: subprocess.CompletedProcess, what: str, log: Callable[[str], None]) -> None:
    """A GateError naming asv's last line, with the tail of its output logged, when ``done`` failed."""
    if done.returncode == 0:
        return
    lines = [line for line in (done.stdout or "").splitlines() if line.strip()]
    log(f"--- the last lines of {what}'s output ---")
    for line in lines[-OUTPUT_TAIL:]:
        log(line)
    last = lines[-1].strip(" ·") if lines else "no output"
    raise GateError(f"{what} failed (exit {done.returncode}): {last}")


def _module_exists(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _now_ms() -> int:
    """The time asv's ``started_at`` is in (ms since the epoch): results older than a run are not its own."""
    return time.time_ns() // 1_000_000


def load_results(results_dir: Path, commit: str, *, machine: str | None = None,
                 since: int | None = None) -> dict[tuple[str, tuple], tuple[object, list | None]]:
    """{(benchmark, params): (value, samples)} of ``commit`` in asv's results (asv's reader).

    A value of None is a failure, NaN a skip (asv's convention).  With
    ``since`` (ms since the epoch) only benchmarks asv ran from then on.
    """
    from . import asvresults

    try:
        found = asvresults.commit_cells(results_dir, commit, machine, since)
    except (ValueError, ImportError) as exc:
        raise GateError(str(exc)) from None
    if not found:
        raise GateError(f"asv stored no results of this run for {commit[:8]} (did the build fail? see asv's output)")
    return {(c.benchmark, c.params): (c.value, list(c.samples) if c.samples else None) for c in found}


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


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def timed_gate(base: str, head: str, *, repo: Path, config: Path, bench: str = DEFAULT_BENCH,
               rounds: int = DEFAULT_ROUNDS, log: Callable[[str], None] = print) -> Outcome:
    """Run asv on both commits, interleaved; re-run what was flagged; report."""
    results_dir = (config.parent / load_config(config)["results_dir"]).resolve()
    commits = [resolve(base, repo), resolve(head, repo)]

    def measure(regex: str) -> tuple[list[Cell], list[str]]:
        since = _now_ms()  # this run's results only, never what an earlier run left in the same files
        run_asv(commits, regex, rounds, config, log)
        machine = machine_name()
        at_base, at_head = (load_results(results_dir, c, machine=machine, since=since) for c in commits)
        return compare(at_base, at_head, rounds)

    cells, broken = measure(bench)
    if broken:
        return Outcome(BROKEN, f"{len(broken)} benchmark(s) fail at HEAD", cells, broken)
    flagged = [c for c in cells if c.flagged]
    if not flagged:
        return Outcome(OK, f"no regression in {len(cells)} benchmark cells", cells, [])
    log(f"{len(flagged)} cell(s) flagged; running them again to confirm")
    # asv matches --bench against "name(param, ...)", so exactly the flagged cells run again
    again, broken = measure("|".join(f"^{re.escape(c.label)}$" for c in flagged))
    if broken:
        return Outcome(BROKEN, f"{len(broken)} benchmark(s) fail at HEAD", again, broken)
    second = {(c.name, c.params): c for c in again}
    for c in cells:
        retry = second.get((c.name, c.params))
        c.flagged = c.flagged and retry is not None and retry.flagged
        if c.flagged and retry is not None:
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
    mode (default every cell).  One that is no regular expression or matches
    nothing is a :class:`BenchError` (a ValueError), reported as exit code 3
    like every input the gate cannot run with (a bad ref, a broken config).
    """
    config = Path(config).resolve()
    repo = config.parent
    try:
        from . import registry

        registry.import_modules(imports or [])  # the user's kernels: thresholds come from their declarations
        check_bench(bench, instructions)
        if instructions:
            from .instructions import instruction_gate

            return instruction_gate(base, head, repo=repo, cache=repo / ".asv" / "gate", bench=bench,
                                    imports=imports or [], log=log)
        return timed_gate(base, head, repo=repo, config=config, bench=bench or DEFAULT_BENCH, rounds=rounds, log=log)
    except (GateError, ImportError) as exc:
        return Outcome(CANNOT_RUN, str(exc), [], [])
