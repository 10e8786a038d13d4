"""Cases of a declared kernel and the comparison of a backend's result with the reference's.

One definition of a kernel's workload, used by the plugin's ``kernel_case``,
``pytest-particles bench``, the profiler and :mod:`pytest_particles.asv`:
``kernel.inputs(size, rng)`` with ``rng`` seeded from (kernel, size, seed).
No pytest import here.
"""

from __future__ import annotations

import copy
import zlib
from typing import Any

import numpy as np

from . import registry

DEFAULT_SEED = 2013


def rng_for(kernel_name: str, size: int, seed: int = DEFAULT_SEED) -> np.random.Generator:
    """The generator of one case: the same (kernel, size, seed) gives the same numbers in every run and process."""
    return np.random.default_rng(np.random.SeedSequence([zlib.crc32(kernel_name.encode()), int(size), int(seed)]))


class Case:
    """One case of a kernel at one size.

    ``args`` are fresh copies on every access, so a backend that writes into
    its inputs cannot change what the next one sees; ``expected`` is the
    reference backend's result, computed once; ``check(result, backend)``
    compares a result with it and runs the kernel's own ``check``.
    """

    def __init__(self, kernel: registry.Kernel | str, size: int, seed: int = DEFAULT_SEED) -> None:
        self.kernel = registry.kernel(kernel)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"size must be an int >= 1; got {size!r}")
        self.size = int(size)
        self.seed = seed
        made = self.kernel.inputs(self.size, rng_for(self.kernel.name, self.size, seed))
        self._args = tuple(made) if isinstance(made, (tuple, list)) else (made,)
        self.work = self.kernel.work(self.size)
        self._expected: Any = _UNSET

    @property
    def args(self) -> tuple:
        return copy.deepcopy(self._args)

    @property
    def expected(self) -> Any:
        """The reference backend's result on this case (None for a kernel declared without a reference)."""
        if self._expected is _UNSET:
            if self.kernel.reference is None:
                self._expected = None
            else:
                reason = reference_reason(self.kernel)
                if reason:
                    raise LookupError(reason)
                self._expected = self.kernel(*self.args, backend=self.kernel.reference)
        return self._expected

    def check(self, result: object, backend: str | None = None) -> None:
        """AssertionError unless ``result`` matches the reference (when declared) and passes the kernel's check."""
        where = f"{self.kernel.name} backend {backend!r} at size {self.size}" if backend else \
            f"{self.kernel.name} at size {self.size}"
        if result is None:
            raise AssertionError(f"{where} returned None; expected a result")
        if self.kernel.reference is not None and backend != self.kernel.reference:
            compare(result, self.expected, rtol=self.kernel.rtol, atol=self.kernel.atol, where=where,
                    reference=self.kernel.reference)
        if self.kernel.check is not None:
            try:
                self.kernel.check(result, *self.args)
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}") from None

    def __repr__(self) -> str:
        return f"<Case {self.kernel.name}[{self.size}]>"


_UNSET = object()


def reference_reason(kernel: registry.Kernel) -> str:
    """Why a kernel's reference cannot give expected results here ('' when it can, or it has none)."""
    name = kernel.reference
    if name is None:
        return ""
    by_name = {b.name: b for b in kernel.backends()}
    if name not in by_name:
        return f"the reference backend {name!r} of kernel {kernel.name!r} is not registered"
    if not by_name[name].available:
        return f"the reference backend {name!r} of kernel {kernel.name!r} is not available: {by_name[name].reason}"
    return ""


class RecordingBackend(registry.Backend):
    """A test's Backend that remembers its last call: its work for extra_info, its arguments for speedup."""

    __slots__ = ("last_work", "last_call")

    def __init__(self, record: registry.Backend) -> None:
        for name in registry.Backend.__slots__:
            setattr(self, name, getattr(record, name))
        self.last_work: int | None = None
        self.last_call: tuple[tuple, dict[str, Any]] | None = None

    def run_public(self, *args: Any, **kwargs: Any) -> Any:
        """Call the kernel with this backend, without recording."""
        return super().__call__(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = super().__call__(*args, **kwargs)
        except Exception as exc:
            exc.add_note(f"(raised while running {self.kernel} backend {self.name!r})")
            raise
        self.last_work = registry.kernel(self.kernel).call_work(*args, **kwargs)
        self.last_call = (args, kwargs)
        return result


_KINDS = {"b": "bool", "i": "integer", "u": "integer", "f": "real", "c": "complex", "U": "string", "S": "bytes",
          "O": "object", "M": "datetime", "m": "timedelta", "V": "void"}


def compare(result: object, expected: object, *, rtol: float, atol: float, where: str,
            reference: str = "reference") -> None:
    """``numpy.testing.assert_allclose`` semantics (NaN equals NaN) with same shape and dtype kind.

    The AssertionError names ``where``, the worst entry's index, expected
    against got, and the tolerance.
    """
    try:
        got = np.asarray(result)
    except Exception as exc:  # an object numpy cannot even hold
        raise AssertionError(f"{where} returned {type(result).__name__}, not an array: {exc}") from None
    want = np.asarray(expected)
    if got.shape != want.shape:
        raise AssertionError(f"{where} returned shape {got.shape}; the reference {reference!r} gives {want.shape}")
    if _KINDS.get(got.dtype.kind) != _KINDS.get(want.dtype.kind):
        raise AssertionError(f"{where} returned {_KINDS.get(got.dtype.kind, got.dtype.kind)} data (dtype {got.dtype}); "
                             f"the reference {reference!r} gives {_KINDS.get(want.dtype.kind)} (dtype {want.dtype})")
    if want.dtype.kind not in "biufc":
        wrong = got != want
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            error = np.abs(got - want).astype(np.float64)
            allowed = atol + rtol * np.abs(want)
            both_nan = np.isnan(got) & np.isnan(want)
            same_inf = np.isinf(want) & (got == want)
            wrong = ~((error <= allowed) | both_nan | same_inf)
    wrong = np.asarray(wrong)
    count = int(wrong.sum())
    if not count:
        return
    if want.dtype.kind in "biufc":
        excess = np.where(wrong, np.nan_to_num(error - allowed, nan=np.inf), -np.inf)
        worst = np.unravel_index(int(np.argmax(excess)), want.shape) if want.shape else ()
    else:
        worst = np.unravel_index(int(np.argmax(wrong)), want.shape) if want.shape else ()
    index = "[" + ", ".join(map(str, worst)) + "]" if want.shape else ""
    e, g = want[worst].item() if want.shape else want.item(), got[worst].item() if want.shape else got.item()
    raise AssertionError(
        f"{where}: {count} of {want.size} entries differ from the reference {reference!r} beyond "
        f"rtol={rtol:g}, atol={atol:g}; worst at index {index or '()'}: expected {e!r}, got {g!r}"
    )
