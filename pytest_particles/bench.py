"""Benchmarks of every backend of every declared kernel at its sizes (``pytest-particles bench``).

Plain functions returning plain records; the command line (``cli.py``) parses
the arguments, draws the progress bar and prints the table.

How a cell (kernel, backend, size) is measured
----------------------------------------------
The case is the kernel's own (``kernel.inputs(size, rng)``, the one workload
definition that tests and asv use too), and every call goes through the
kernel's call with that backend, validation included, as a user pays it.

1. Warm-up: one untimed call of the smallest case (imports, compiled modules,
   worker pools, caches).
2. Probe: a case of 1/1000 of the full work (at most 10,000 units of work, at
   least the smallest case), grown tenfold until it takes long enough (50 ms,
   or budget / 10) to give a rate, or is full size.
3. If the full-size run is expected to fit in ``budget`` seconds it is timed;
   otherwise a smaller case that fits is timed and extended to the full work,
   and the record is marked ``scaled``: the kernel's ``shrink`` case (the
   same size, less work: the book's evolve runs fewer steps) extended
   linearly, or else two smaller sizes with ``t = a + b * work`` fitted
   through them (``a`` keeps a per-call cost from being multiplied).
4. The time is the best of ``repeat`` runs (``time.perf_counter``, garbage
   collector off during the call, as ``timeit`` does).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from . import parallel, registry
from .cases import DEFAULT_SEED, Case
from .machine import machine_info
from .registry import Backend, Kernel
from .timing import time_once

DEFAULT_BUDGET = 1.0  # seconds a single full-size run may take before it is scaled down
DEFAULT_REPEAT = 3
PROBE_FRACTION = 1e-3  # the first probe does this fraction of the full work
PROBE_START = 10_000  # ... but at most this much work (plus the smallest case) to begin with
PROBE_TIME = 0.05  # a probe this long (or budget / 10, if less) gives the rate
SAFETY = 0.8  # a scaled case aims at this fraction of the budget


def size_for_work(kernel: Kernel, target: float, largest: int) -> int:
    """The largest size <= ``largest`` whose work is at most ``target`` (at least 1): work grows with size."""
    low, high = 1, largest
    if kernel.work(largest) <= target:
        return largest
    while low < high:
        middle = (low + high + 1) // 2
        if kernel.work(middle) <= target:
            low = middle
        else:
            high = middle - 1
    return low


def _round_down(value: int, digits: int = 2) -> int:
    """``value`` rounded down to ``digits`` significant figures (a scaled case reads 1,600, not 1,634)."""
    if value < 10**digits:
        return value
    scale = 10 ** (len(str(value)) - digits)
    return value // scale * scale


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
    work: int
    work_unit: str
    available: bool
    reason: str = ""
    error: str = ""
    measured_case: str = ""  # what was timed when scaled: a smaller size, or the kernel's shrunk case
    measured_work: int | None = None
    time_s: float | None = None  # best time of the case actually run (measured_work)
    full_size_time_s: float | None = None  # equal to time_s, or extrapolated from it when scaled
    scaled: bool = False
    throughput: float | None = None  # work per second
    throughput_unit: str = ""
    baseline: str = ""  # the backend the speedup is measured against
    speedup: float | None = None
    published_s: float | None = None  # a timing the kernel's declaration cites (the book's 2013 ones)
    repeat: int = 0
    workers: int | None = None

    @property
    def ok(self) -> bool:
        return self.time_s is not None

    def as_dict(self) -> dict:
        return asdict(self)


class _Timer:
    """Times the kernel's call on cases of a cell: by size, or (kernels that declare ``shrink``) by fraction."""

    def __init__(self, kernel: Kernel, backend: Backend, size: int, workers: int | None, seed: int) -> None:
        self.kernel, self.backend, self.size, self.workers, self.seed = kernel, backend, size, workers, seed
        self.cases: dict[int, Case] = {}
        self.full = kernel.work(size)

    def case(self, work: float) -> tuple[tuple, int, str]:
        """(args, work, description) of the largest case doing at most ``work`` (at least the smallest)."""
        if work >= self.full:
            return self._case(self.size).args, self.full, f"size {self.size:,}"
        if self.kernel.shrink is not None:
            args, done = self.kernel.shrink(self._case(self.size).args, max(work, 1) / self.full)
            return args, int(done), f"size {self.size:,} with {done / self.full:.2%} of its work"
        n = max(1, _round_down(size_for_work(self.kernel, work, self.size)))
        return self._case(n).args, self.kernel.work(n), f"size {n:,}"

    def _case(self, n: int) -> Case:
        if n not in self.cases:
            self.cases[n] = Case(self.kernel, n, self.seed)
        return self.cases[n]

    def time(self, args: tuple) -> float:
        args = copy.deepcopy(args)
        return time_once(lambda: self.kernel(*args, backend=self.backend, workers=self.workers))


def choose_work(timer: _Timer, *, budget: float) -> float:
    """Warm up, probe the rate, and return the full work if it fits in ``budget``, else a work that does."""
    timer.time(timer.case(0)[0])  # warm-up: imports, worker pools, caches
    probe_time = min(PROBE_TIME, budget / 10)
    target = max(timer.case(0)[1], min(timer.full * PROBE_FRACTION, PROBE_START))
    previous = None
    while True:
        args, work, _ = timer.case(target)
        target *= 10
        if work == previous:  # the case could not grow yet
            continue
        previous = work
        elapsed = timer.time(args)
        if work >= timer.full or elapsed >= probe_time:
            break
    rate = work / max(elapsed, 1e-9)
    return timer.full if timer.full / rate <= budget else rate * budget * SAFETY


def extrapolate(works: tuple[int, int], times: tuple[float, float], full: int) -> float:
    """The full-size time from two probes, fitted as ``t = a + b * work`` (a, b >= 0).

    The constant term keeps a per-call cost (a step loop's overhead in
    NumPy, a process pool's start) from being multiplied by the work.
    """
    (w1, w2), (t1, t2) = works, times
    if w2 <= w1:
        return t2 * full / w2
    b = max(0.0, (t2 - t1) / (w2 - w1))
    a = max(0.0, t2 - b * w2)
    return a + b * full if b > 0 else t2 * full / w2 if a == 0 else a


def measure_cell(cell: Cell, *, budget: float = DEFAULT_BUDGET, repeat: int = DEFAULT_REPEAT,
                 workers: int | None = None, seed: int = DEFAULT_SEED) -> Record:
    """Measure one cell; an unavailable backend or a failing run gives a record, never an exception."""
    kernel = registry.kernel(cell.kernel)
    backend = cell.backend
    record = Record(kernel=kernel.name, backend=backend.name, size=cell.size, work=kernel.work(cell.size),
                    work_unit=kernel.work_unit, available=backend.available, reason=backend.reason,
                    published_s=kernel.published.get((backend.name, cell.size)), repeat=repeat, workers=workers)
    if not record.available:
        return record
    try:
        timer = _Timer(kernel, backend, cell.size, workers, seed)
        args, work, description = timer.case(choose_work(timer, budget=budget))
        best = max(min(timer.time(args) for _ in range(repeat)), 1e-9)
        record.full_size_time_s = best * record.work / work  # linear in work: exact for a kernel's shrink
        if work < record.work and kernel.shrink is None:  # smaller sizes: fit a second, smaller one too
            small_args, small_work, small = timer.case(work / 4)
            if small_work < work:
                small_best = max(min(timer.time(small_args) for _ in range(repeat)), 1e-9)
                record.full_size_time_s = extrapolate((small_work, work), (small_best, best), record.work)
                description = f"{small} and {description}"
    except Exception as exc:  # MemoryError, WorkerError, a broken third-party backend...
        record.error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        return record
    record.measured_case, record.measured_work, record.time_s = description, work, best
    record.scaled = work < record.work
    record.throughput = work / best
    record.throughput_unit = f"{kernel.work_unit}/s"
    return record



def baseline(kernel: Kernel) -> str:
    """The backend speedups are measured against: the kernel's first own backend in table order."""
    own = [b for b in ordered_backends(kernel.name) if b.builtin]
    return own[0].name if own else ""


def add_speedups(records: list[Record]) -> list[Record]:
    """Fill ``speedup``: the baseline backend's full-size time over each one's, same kernel and size."""
    baselines = {name: baseline(registry.kernel(name)) for name in {r.kernel for r in records}}
    for r in records:
        r.baseline = baselines[r.kernel]
    times = {(r.kernel, r.size): r.full_size_time_s for r in records if r.backend == r.baseline and r.ok}
    for r in records:
        reference = times.get((r.kernel, r.size))
        r.speedup = reference / r.full_size_time_s if reference and r.ok and r.full_size_time_s else None
    return records


# --------------------------------------------------------------------------- planning and running


def ordered_backends(kernel_name: str) -> list[Backend]:
    """The kernel's own backends from the lowest priority (the slowest kind) up, then others'."""
    return sorted(registry.backends(kernel_name), key=lambda b: (not b.builtin, b.priority if b.builtin else 0))


def backend_names(kernels: Iterable[str] | None = None) -> list[str]:
    """Every backend name registered for any of ``kernels`` (default all), in table order, without repeats."""
    names: list[str] = []
    for kernel_name in registry.kernel_names() if kernels is None else kernels:
        names += [b.name for b in ordered_backends(kernel_name) if b.name not in names]
    return names


def plan(kernels: Iterable[str] | None = None, backend_filter: Iterable[str] | None = None,
         sizes: Iterable[int] | None = None) -> list[Cell]:
    """The cells to run: every selected backend of every selected kernel at each size.

    ``sizes`` None means each kernel's declared sizes; otherwise the same sizes for every selected kernel.
    """
    wanted = None if backend_filter is None else set(backend_filter)
    cells = []
    for kernel_name in registry.kernel_names() if kernels is None else kernels:
        kernel = registry.kernel(kernel_name)
        chosen = [b for b in ordered_backends(kernel.name) if wanted is None or b.name in wanted]
        for size in kernel.sizes if sizes is None else sizes:
            cells += [Cell(kernel.name, int(size), b) for b in chosen]
    return cells


def run(cells: list[Cell], *, budget: float = DEFAULT_BUDGET, repeat: int = DEFAULT_REPEAT,
        workers: int | None = None, seed: int = DEFAULT_SEED, on_start: Callable[[Cell], None] | None = None,
        on_done: Callable[[Cell, Record], None] | None = None) -> list[Record]:
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


def report(records: list[Record], settings: dict | None = None, machine: dict | None = None) -> dict:
    """The JSON document of a run: machine info, settings and one dict per record."""
    return {
        "machine": machine_info() if machine is None else machine,
        "settings": dict(settings or {}),
        "records": [r.as_dict() for r in records],
    }
