"""Benchmarks of every backend of every kernel at the book's sizes (``pytest-particles bench``).

Plain functions returning plain records; the command line (``cli.py``) parses
the arguments, draws the progress bar and prints the table.

How a cell (kernel, backend, size) is measured
----------------------------------------------
1. Warm-up: one untimed call of the smallest case (imports, compiled modules,
   worker pools, caches).
2. Probe: a case of 1/1000 of the full work, capped at a tiny case (10,000
   units of work, or the smallest case if larger), grown tenfold until it
   takes long enough (50 ms, or budget / 10) to give a rate, or is full size.
3. If the full-size run is expected to fit in ``budget`` seconds it is timed;
   otherwise a smaller case that fits is timed and its time extrapolated to
   the full work, linearly in work, and the record is marked ``scaled``.
   Work is particle-steps for evolve (shrunk by running fewer steps on the
   same particles), pairs for distance_matrix (fewer points: the cost grows
   as N**2) and samples for pi (fewer samples).  The workload depends only on
   the kernel, so third-party backends added with ``register_backend`` are
   scaled the same way.
4. The time is the best of ``repeat`` runs (``time.perf_counter``, garbage
   collector off during the call, as ``timeit`` does).

Every timed call goes through the public API, via the Backend object
(``backend(r, ang_speed, dt, workers=...)``, ``backend(r, workers=...)``,
``backend(samples, seed=..., workers=...)``): the validation at the door is
included, the same way for every backend, as a user calling the library
would pay it.  It is O(N) against O(N * steps), O(N**2) or O(samples) work.
"""

from __future__ import annotations

import datetime
import gc
import inspect
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

from . import __version__, parallel, registry, validation
from .physics import particle_system
from .registry import KERNELS, Backend, backends

# The book's benchmark settings.
DT = 0.1
TIMESTEP = 1e-5
NSTEPS = validation.step_count(DT, TIMESTEP)  # 10,000

DEFAULT_SIZES = {
    "evolve": (100, 1_000, 10_000),
    "distance_matrix": (1_000, 10_000),
    "pi": (1_000_000, 10_000_000),
}
SIZE_UNITS = {"evolve": "particles", "distance_matrix": "points", "pi": "samples"}
WORK_UNITS = {"evolve": "particle-steps", "distance_matrix": "pairs", "pi": "samples"}

# The book's timings on its 2013 hardware, in seconds: (kernel, backend, size) -> time.
# evolve at dt = 0.1 (10,000 steps), size in particles; distance_matrix size in points; pi in samples.
BOOK_2013 = {
    ("evolve", "python", 100): 0.614,
    ("evolve", "python", 1_000): 6.13,
    ("evolve", "python_fast", 1_000): 0.756,
    ("evolve", "numpy", 100): 0.415,
    ("evolve", "numpy", 1_000): 0.852,
    ("evolve", "cython", 100): 0.0134,
    ("evolve", "cython", 1_000): 0.134,
    ("evolve", "cython", 10_000): 1.35,
    ("evolve", "openmp", 10_000): 0.599,
    ("distance_matrix", "numpy", 10_000): 3.56,
    ("distance_matrix", "numexpr", 10_000): 0.858,
    ("pi", "python", 1_000_000): 0.734,
    ("pi", "multiprocessing", 1_000_000): 0.325,
    ("pi", "multiprocessing_per_sample", 1_000_000): 97.0,
}

DEFAULT_BUDGET = 1.0  # seconds a single full-size run may take before it is scaled down
DEFAULT_REPEAT = 3
DEFAULT_SEED = 2013
PROBE_FRACTION = 1e-3  # the first probe does this fraction of the full work
PROBE_START = 10_000  # ... but at most this much work (plus the smallest case) to begin with
PROBE_TIME = 0.05  # a probe this long (or budget / 10, if less) gives the rate
SAFETY = 0.8  # a scaled case aims at this fraction of the budget


# --------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Case:
    """One concrete call of a kernel: its work and the arguments of the public function."""

    work: int
    description: str
    args: tuple
    kwargs: dict

    def run(self, backend: Backend, workers: int | None):
        return backend(*self.args, workers=workers, **self.kwargs)


class Workload:
    """The full-size problem of one kernel at one size, and smaller cases of it."""

    kernel: str

    def __init__(self, size: int, seed: int):
        if size < 1:
            raise ValueError(f"size must be >= 1; got {size}")
        self.size = size
        self.seed = seed
        self.unit = WORK_UNITS[self.kernel]
        self.work = self.work_at(size)

    def work_at(self, size: int) -> int:
        raise NotImplementedError

    def case(self, target_work: float) -> Case:
        """The largest case doing at most ``target_work`` (never less than the smallest, never more than full)."""
        raise NotImplementedError


def _round_down(value: float, digits: int = 2) -> int:
    """``value`` rounded down to ``digits`` significant figures (so a scaled case reads 1,600 steps, not 1,634)."""
    value = int(value)
    if value < 10**digits:
        return value
    scale = 10 ** (len(str(value)) - digits)
    return value // scale * scale


class EvolveWorkload(Workload):
    """``size`` particles, x, y and ang_speed uniform in (-1, 1), evolved for the book's dt = 0.1."""

    kernel = "evolve"

    def __init__(self, size: int, seed: int):
        super().__init__(size, seed)
        self.r, self.ang_speed = particle_system(size, seed)

    def work_at(self, size: int) -> int:
        return size * NSTEPS

    def case(self, target_work: float) -> Case:
        # Fewer steps, the same particles.
        steps = NSTEPS if target_work >= self.work else max(1, min(NSTEPS, _round_down(target_work / self.size)))
        return Case(
            work=self.size * steps,
            description=f"{self.size:,} particles x {steps:,} steps",
            args=(self.r, self.ang_speed, steps * TIMESTEP),
            kwargs={"timestep": TIMESTEP},
        )


class DistanceWorkload(Workload):
    """``size`` points uniform in (-1, 1)**2."""

    kernel = "distance_matrix"

    def __init__(self, size: int, seed: int):
        super().__init__(size, seed)
        self.r = np.random.default_rng(seed).uniform(-1.0, 1.0, (size, 2))

    def work_at(self, size: int) -> int:
        return size * size

    def case(self, target_work: float) -> Case:
        # Fewer points: the work (and the cost) grows as N**2.
        n = self.size if target_work >= self.work else max(1, min(self.size, _round_down(math.isqrt(int(target_work)))))
        return Case(work=n * n, description=f"{n:,} points", args=(self.r[:n],), kwargs={})


class PiWorkload(Workload):
    """``size`` samples with a fixed seed."""

    kernel = "pi"

    def work_at(self, size: int) -> int:
        return size

    def case(self, target_work: float) -> Case:
        samples = self.size if target_work >= self.work else max(1, min(self.size, _round_down(target_work)))
        return Case(work=samples, description=f"{samples:,} samples", args=(samples,), kwargs={"seed": self.seed})


def work_done(kernel: str, *args, **kwargs) -> tuple[int, str]:
    """The work of one call of a kernel's public function, given its arguments: (amount, unit)."""
    call = inspect.signature(registry.front(kernel)).bind(*args, **kwargs)
    call.apply_defaults()
    given = call.arguments
    if kernel == "evolve":
        amount = len(given["r"]) * validation.step_count(given["dt"], given["timestep"])
    elif kernel == "distance_matrix":
        amount = len(given["r"]) ** 2
    else:
        amount = int(given["samples"])
    return amount, WORK_UNITS[kernel]


WORKLOADS: dict[str, type[Workload]] = {"evolve": EvolveWorkload, "distance_matrix": DistanceWorkload, "pi": PiWorkload}


def workload(kernel: str, size: int, seed: int = DEFAULT_SEED) -> Workload:
    return WORKLOADS[kernel](size, seed)


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Cell:
    """One row of the benchmark: a backend of a kernel at one size."""

    kernel: str
    size: int
    backend: Backend


@dataclass
class Record:
    """The result of one cell (times in seconds; None where not measured)."""

    kernel: str
    backend: str
    size: int
    size_unit: str
    work: int
    work_unit: str
    available: bool
    reason: str = ""
    error: str = ""
    measured_work: int | None = None
    measured_case: str = ""
    time_s: float | None = None  # best time of the case actually run (measured_work)
    full_size_time_s: float | None = None  # equal to time_s, or extrapolated from it when scaled
    scaled: bool = False
    throughput: float | None = None  # work per second
    throughput_unit: str = ""
    speedup_vs_python: float | None = None
    book_2013_s: float | None = None
    repeat: int = 0
    workers: int | None = None

    @property
    def ok(self) -> bool:
        return self.time_s is not None

    def as_dict(self) -> dict:
        return asdict(self)


def _time_once(case: Case, backend: Backend, workers: int | None) -> float:
    """Seconds of one call, the garbage collector off; the result is freed before returning."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        result = case.run(backend, workers)
        elapsed = time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    del result  # a 10,000-point distance matrix is 800 MB: never keep one alive into the next call
    return elapsed


def choose_case(backend: Backend, load: Workload, *, budget: float, workers: int | None) -> Case:
    """Warm up, probe the rate, and return the full case if it fits in ``budget``, else a smaller one that does."""
    smallest = load.case(0)
    _time_once(smallest, backend, workers)  # warm-up: imports, worker pools, caches
    probe_time = min(PROBE_TIME, budget / 10)
    # Start at 1/1000 of the work, but never above a tiny case: a huge size on a slow
    # backend must not make the probe itself blow the budget.
    target = max(smallest.work, min(load.work * PROBE_FRACTION, PROBE_START))
    previous_work = None
    while True:
        probe = load.case(target)
        target *= 10
        if probe.work == previous_work:  # the case could not grow yet (evolve: still one step)
            continue
        previous_work = probe.work
        elapsed = _time_once(probe, backend, workers)
        if probe.work >= load.work or elapsed >= probe_time:
            break
    rate = probe.work / max(elapsed, 1e-9)
    if load.work / rate <= budget:
        return load.case(load.work)
    return load.case(rate * budget * SAFETY)


def measure_cell(
    cell: Cell,
    *,
    budget: float = DEFAULT_BUDGET,
    repeat: int = DEFAULT_REPEAT,
    workers: int | None = None,
    seed: int = DEFAULT_SEED,
) -> Record:
    """Measure one cell; an unavailable backend or a failing run gives a record, never an exception."""
    load = workload(cell.kernel, cell.size, seed)
    backend = cell.backend
    record = Record(
        kernel=cell.kernel,
        backend=backend.name,
        size=cell.size,
        size_unit=SIZE_UNITS[cell.kernel],
        work=load.work,
        work_unit=load.unit,
        available=backend.available,
        reason=backend.reason,
        book_2013_s=BOOK_2013.get((cell.kernel, backend.name, cell.size)),
        repeat=repeat,
        workers=workers,
    )
    if not record.available:
        return record
    try:
        case = choose_case(backend, load, budget=budget, workers=workers)
        best = min(_time_once(case, backend, workers) for _ in range(repeat))
    except Exception as exc:  # MemoryError, WorkerError, a broken third-party backend...
        record.error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        return record
    best = max(best, 1e-9)
    record.measured_work = case.work
    record.measured_case = case.description
    record.time_s = best
    record.scaled = case.work < load.work
    record.full_size_time_s = best * load.work / case.work
    record.throughput = case.work / best
    record.throughput_unit = f"{load.unit}/s"
    return record


def add_speedups(records: list[Record]) -> list[Record]:
    """Fill ``speedup_vs_python``: the python backend's full-size time over each one's, same kernel and size."""
    python = {(r.kernel, r.size): r.full_size_time_s for r in records if r.backend == "python" and r.ok}
    for r in records:
        reference = python.get((r.kernel, r.size))
        r.speedup_vs_python = reference / r.full_size_time_s if reference and r.ok else None
    return records


# --------------------------------------------------------------------------- planning and running


def ordered_backends(kernel: str) -> list[Backend]:
    """Built-in backends from the slowest kind (python) to the fastest, then third-party ones."""
    return sorted(backends(kernel), key=lambda b: (not b.builtin, b.priority if b.builtin else 0))


def backend_names(kernels: Iterable[str] = KERNELS) -> list[str]:
    """Every backend name registered for any of ``kernels``, in table order, without repeats."""
    names: list[str] = []
    for kernel in kernels:
        names += [b.name for b in ordered_backends(kernel) if b.name not in names]
    return names


def plan(
    kernels: Iterable[str] | None = None,
    backend_filter: Iterable[str] | None = None,
    sizes: Iterable[int] | None = None,
) -> list[Cell]:
    """The cells to run: every selected backend of every selected kernel at each size.

    ``sizes`` None means each kernel's book sizes (DEFAULT_SIZES); otherwise
    the same sizes are used for every selected kernel.
    """
    kernels = list(KERNELS if kernels is None else kernels)
    wanted = None if backend_filter is None else set(backend_filter)
    cells = []
    for kernel in kernels:
        chosen = [b for b in ordered_backends(kernel) if wanted is None or b.name in wanted]
        for size in DEFAULT_SIZES[kernel] if sizes is None else sizes:
            cells += [Cell(kernel, int(size), b) for b in chosen]
    return cells


def run(
    cells: list[Cell],
    *,
    budget: float = DEFAULT_BUDGET,
    repeat: int = DEFAULT_REPEAT,
    workers: int | None = None,
    seed: int = DEFAULT_SEED,
    on_start: Callable[[Cell], None] | None = None,
    on_done: Callable[[Cell, Record], None] | None = None,
) -> list[Record]:
    """Measure every cell in order; ``on_start`` / ``on_done`` report progress. Returns the records."""
    records = []
    try:
        for cell in cells:
            if on_start is not None:
                on_start(cell)
            record = measure_cell(cell, budget=budget, repeat=repeat, workers=workers, seed=seed)
            records.append(record)
            if on_done is not None:
                on_done(cell, record)
    finally:
        parallel.shutdown()  # the worker pools of the multiprocessing backends
    return add_speedups(records)


# --------------------------------------------------------------------------- reporting


def machine_info() -> dict:
    """What a benchmark result needs to be read later."""
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "pytest_particles_version": __version__,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy_version": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": validation.available_cores(),
    }
    try:
        import numexpr

        info["numexpr_version"] = numexpr.__version__
    except ImportError:
        info["numexpr_version"] = None
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def report(records: list[Record], settings: dict | None = None, machine: dict | None = None) -> dict:
    """The JSON document of a run: machine info, settings and one dict per record."""
    return {
        "machine": machine_info() if machine is None else machine,
        "settings": dict(settings or {}),
        "records": [r.as_dict() for r in records],
    }


# --------------------------------------------------------------------------- ratios in one run


@dataclass(frozen=True)
class Ratio:
    """How many times faster ``fast`` ran than ``slow``, over interleaved rounds."""

    median: float
    low: float
    high: float
    rounds: int


def _loops_for(call: Callable[[], object], target: float) -> int:
    """How many back-to-back calls take at least ``target`` seconds (at least one)."""
    start = time.perf_counter()
    call()
    once = time.perf_counter() - start
    return max(1, math.ceil(target / max(once, 1e-9)))


def _time_loops(call: Callable[[], object], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        call()
    return (time.perf_counter() - start) / loops


def interleaved_ratio(fast: Callable[[], object], slow: Callable[[], object], *, min_rounds: int = 5,
                      max_rounds: int = 25, budget: float = 5.0, sample: float = 0.005) -> Ratio:
    """Time ``fast`` and ``slow`` alternately, round after round, and return slow / fast per round.

    Alternating puts both under the same machine load at nearly the same
    moment, so the ratio holds on a noisy machine where absolute times drift.
    Each timing repeats the call until it lasts ``sample`` seconds; rounds go
    on until ``budget`` seconds are spent (at least ``min_rounds``).
    """
    fast_loops, slow_loops = _loops_for(fast, sample), _loops_for(slow, sample)
    ratios = []
    started = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while len(ratios) < min_rounds or (len(ratios) < max_rounds and time.perf_counter() - started < budget):
            ratios.append(_time_loops(slow, slow_loops) / max(_time_loops(fast, fast_loops), 1e-12))
    finally:
        if gc_was_enabled:
            gc.enable()
    return Ratio(statistics.median(ratios), min(ratios), max(ratios), len(ratios))
