"""One reader of asv's files, on asv's own API: its configuration (``asv.config.Config.load``) and its
results (``asv.results.Results``), for the gate and the plots.

A result is one :class:`AsvCell` per benchmark and parameter combination:
asv's value (None a failure, NaN a skip), the samples it recorded (with
``--record-samples``, round after round) and when asv ran the benchmark.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # asv is imported where used: an optional dependency
    from asv.config import Config
    from asv.results import Results


@dataclass(frozen=True)
class AsvCell:
    """One benchmark at one parameter combination of one asv result file."""

    benchmark: str
    params: tuple[str, ...]  # asv's repr of each parameter: ("'cython'", "100")
    value: float | None  # asv's statistic (the median for time); None a failure, NaN a skip
    samples: tuple[float, ...] | None  # every sample recorded, or None
    started_at: int | None  # when asv ran the benchmark, ms since the epoch
    commit: str
    date: float  # the commit's date, seconds since the epoch (0 when unknown)

    @property
    def label(self) -> str:
        """How asv names the cell, and matches ``--bench`` against it: ``name(param, ...)``."""
        return f"{self.benchmark}({', '.join(self.params)})" if self.params else self.benchmark

    @property
    def measured(self) -> bool:
        """A number: neither failed nor skipped."""
        return isinstance(self.value, int | float) and not math.isnan(self.value)


def _asv() -> ModuleType:
    try:
        import asv.benchmarks
        import asv.config
        import asv.results
        import asv.util
    except ImportError as exc:
        raise ImportError(f"asv is not installed ({exc}): pip install 'pytest-particles[asv]'") from None
    return asv


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_config(path: str | Path) -> Config:
    """asv's configuration through asv's own loader (``//`` comments anywhere, asv's defaults filled in).

    Raises ValueError, one line naming the file, when it is missing or broken.
    """
    asv = _asv()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no asv configuration at {path}")
    try:
        return asv.config.Config.load(str(path))
    except (asv.util.UserError, ValueError) as exc:  # json5 raises ValueError, asv UserError
        reason = re.sub(r"^<string>:(\d+) ", r"line \1: ", _one_line(exc))  # json5 names no file
        raise ValueError(f"cannot read the asv configuration {path}: {reason}") from None


def cells(result: Results, keys: Iterable[str] | None = None) -> list[AsvCell]:
    """The cells of a loaded ``asv.results.Results`` (of ``keys``, default every benchmark in it)."""
    found = []
    date = result.date / 1000 if isinstance(result.date, int | float) else 0.0
    for key in sorted(result.get_all_result_keys() if keys is None else keys):
        params = result.get_result_params(key) or []
        combos = list(itertools.product(*params))
        values = result.get_result_value(key, params)
        samples = result.get_result_samples(key, params)
        for combo, value, sample in zip(combos, values, samples):
            found.append(AsvCell(key, tuple(combo), value, tuple(sample) if sample else None,
                                 result.started_at.get(key), result.commit_hash, date))
    return found


def read_file(path: str | Path) -> list[AsvCell]:
    """Every cell of one asv result file; ValueError naming the file when asv cannot load it."""
    asv = _asv()
    try:
        return cells(asv.results.Results.load(str(path)))
    except (asv.util.UserError, ValueError, TypeError) as exc:
        raise ValueError(f"results: cannot read {str(path)!r} as an asv result file ({_one_line(exc)})") from None


def commit_cells(results_dir: str | Path, commit: str, machine: str | None = None,
                 since: int | None = None) -> list[AsvCell]:
    """The cells asv stored for ``commit`` (every environment) on ``machine`` (default every machine folder).

    With ``since`` (ms since the epoch) only benchmarks asv ran from then on:
    what an earlier run left in the same file is not taken for this run's.
    """
    asv = _asv()
    results_dir = Path(results_dir)
    machines = [machine] if machine else sorted(p.parent.name for p in results_dir.glob("*/machine.json"))
    found = []
    try:
        for name in machines:
            if not (results_dir / name).is_dir():
                continue
            for result in asv.results.iter_results_for_machine_and_hash(str(results_dir), name, commit):
                if result.commit_hash == commit:
                    found += [c for c in cells(result) if since is None or (c.started_at or 0) >= since]
    except asv.util.UserError as exc:  # e.g. two commits of the results share the 8-character prefix
        raise ValueError(f"results: cannot read asv's results of {commit[:8]} ({_one_line(exc)})") from None
    return found


def descriptions(results_dir: str | Path) -> dict:
    """asv's benchmarks.json in ``results_dir`` (name -> type, param_names, version, ...), or {}."""
    asv = _asv()
    path = Path(results_dir) / "benchmarks.json"
    if not path.is_file():
        return {}
    try:
        loaded = asv.util.load_json(str(path), api_version=asv.benchmarks.Benchmarks.api_version)
    except (asv.util.UserError, ValueError, OSError):
        return {}
    return {name: info for name, info in loaded.items() if isinstance(info, dict)}
