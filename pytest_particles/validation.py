"""Validation at the door: every public function checks its inputs here, once.

Backends receive C-contiguous float64 copies of the right shapes, finite,
with no particle at the origin, and may trust them.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np
import numpy.typing as npt

# Counters in the compiled pi kernels are int64; 2**53 also keeps hits / samples exact in float64.
MAX_SAMPLES = 2**53
# Step counters are int64 (Py_ssize_t) in the compiled kernels.
MAX_STEPS = 2**62


def real(value: object, name: str) -> float:
    """A finite or infinite real scalar (bool, str and complex are TypeErrors)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    return float(value)


def float_array(value: npt.ArrayLike, name: str, ndim: int, columns: int | None = None) -> np.ndarray:
    """A fresh C-contiguous float64 copy of ``value`` with ``ndim`` dimensions, all finite.

    Anything that casts safely to float64 is accepted (lists, integers,
    float32, Fortran order, read-only, strided views); complex, object and
    string data are a TypeError.
    """
    if isinstance(value, np.ma.MaskedArray):  # its mask would be dropped silently: masked entries used as data
        raise TypeError(f"{name} must not be a numpy masked array: its mask would be ignored; drop the masked "
                        f"entries first, or pass {name}.filled(value)")
    try:
        array = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from None
    if array.size == 0 and array.ndim == 1 and columns is not None:
        array = array.reshape(0, columns)  # [] is how people write no points at all: N = 0
    if array.dtype.kind not in "biuf" or not np.can_cast(array.dtype, np.float64, "safe"):
        raise TypeError(f"{name} must hold real numbers that convert safely to float64; got dtype {array.dtype}")
    shape = "(N,)" if ndim == 1 else f"(N, {columns})"
    if array.ndim != ndim or (columns is not None and array.shape[1] != columns):
        raise ValueError(f"{name} must have shape {shape}; got shape {array.shape}")
    array = np.array(array, dtype=np.float64, order="C", copy=True)
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} must be finite; {name}[{', '.join(map(str, bad))}] is {array[tuple(bad)]}")
    return array


def positions(r: npt.ArrayLike, name: str = "r") -> np.ndarray:
    """Positions (N, 2) as a fresh float64 array."""
    return float_array(r, name, 2, 2)


def particles(r: npt.ArrayLike, ang_speed: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Positions (N, 2) and speeds (N,) of the same N, no particle at the origin."""
    r = positions(r)
    ang_speed = float_array(ang_speed, "ang_speed", 1)
    if ang_speed.shape[0] != r.shape[0]:
        raise ValueError(
            f"ang_speed must have one entry per particle: r has {r.shape[0]} particles, "
            f"ang_speed has {ang_speed.shape[0]} entries"
        )
    # The scheme divides by the distance to the origin: zero has no direction, and one beyond
    # DBL_MAX is not representable.  (The backends compute it without spurious underflow or
    # overflow of x*x + y*y, so anything else is fine.)
    at_origin = np.flatnonzero((r[:, 0] == 0) & (r[:, 1] == 0))
    if at_origin.size:
        i = at_origin[0]
        raise ValueError(
            f"r[{i}] = ({float(r[i, 0])!r}, {float(r[i, 1])!r}) is at the origin, where the particle has no direction "
            "of motion (the scheme divides by its distance to the origin); move it off the origin"
        )
    with np.errstate(over="ignore"):
        too_far = np.flatnonzero(~np.isfinite(np.hypot(r[:, 0], r[:, 1])))
    if too_far.size:
        i = too_far[0]
        raise ValueError(f"r[{i}] = ({float(r[i, 0])!r}, {float(r[i, 1])!r}) is so far out that its distance to the "
                         "origin, hypot(x, y), overflows float64")
    return r, ang_speed


def step_count(dt: object, timestep: object) -> int:
    """Number of steps of ``timestep`` in ``dt``, not losing one to rounding.

    ``int(0.3 / 1e-5)`` is 29999 in floating point; here it is 30000.
    """
    dt = real(dt, "dt")
    timestep = real(timestep, "timestep")
    if not math.isfinite(dt) or dt < 0:
        raise ValueError(f"dt must be finite and >= 0; got {dt!r}")
    if not math.isfinite(timestep) or timestep <= 0:
        raise ValueError(f"timestep must be finite and > 0; got {timestep!r}")
    ratio = dt / timestep
    if not ratio < MAX_STEPS:
        raise ValueError(f"dt / timestep must be below {MAX_STEPS} steps; got {ratio:.3g}")
    nearest = round(ratio)
    # a ratio within a few ulps of a whole number is that whole number
    if abs(ratio - nearest) <= 8 * math.ulp(max(ratio, 1.0)):
        return nearest
    return math.floor(ratio)


def samples(value: object) -> int:
    """A sample count: an int from 1 to MAX_SAMPLES."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"samples must be an int; got {type(value).__name__} {value!r} (use int(...) for floats)")
    value = int(value)
    if not 1 <= value <= MAX_SAMPLES:
        raise ValueError(f"samples must be between 1 and 2**53 = {MAX_SAMPLES}; got {value}")
    return value


def seed_sequence(seed: object) -> np.random.SeedSequence:
    """None (fresh entropy), an int >= 0, or a SeedSequence."""
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed) if seed is None else seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None, an int >= 0 or a numpy SeedSequence; got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")
    return np.random.SeedSequence(int(seed))


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity
        return os.cpu_count() or 1


def workers(value: object) -> int:
    """Threads or processes for a parallel backend: None or an int >= 1 (numpy integers too).

    None means every core this process may use (:func:`available_cores`).
    Larger values are clamped to that number: more workers than cores only
    add overhead, and a huge one (2**63) must never reach compiled code's C
    int or fork that many processes.
    """
    if value is None:
        return available_cores()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"workers must be None or an int >= 1; got {type(value).__name__} {value!r}")
    value = int(value)  # a Python int: numpy's unsigned and signed integers compare and clamp exactly
    if value < 1:
        raise ValueError(f"workers must be None or an int >= 1; got {value}")
    return min(value, available_cores())


def _fits(needed: int, what: str, advice: str) -> None:
    """MemoryError, before any work, when ``needed`` bytes exceed the memory available."""
    free = available_memory()
    if free is not None and needed > free:
        raise MemoryError(f"{what} needs {needed / 2**30:.1f} GiB, but only {free / 2**30:.1f} GiB of memory is "
                          f"available; {advice}")


def matrix_memory(n: int, copies: float = 1, backend: str = "") -> None:
    """Refuse, before any work, a distance matrix whose computation needs more than the memory available.

    ``copies``: how many N x N float64 matrices the backend holds at its peak
    (its temporaries and the result).
    """
    what = f"a {n} x {n} float64 distance matrix"
    if copies != 1:
        what += f" computed by the {backend!r} backend ({copies:g} x {n * n * 8 / 2**30:.1f} GiB at its peak)"
    _fits(math.ceil(copies * n * n * 8), what, "use fewer points" + (", or another backend" if copies > 1 else ""))


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def output_matrix(out: object, n: int, r: npt.ArrayLike, name: str = "out") -> np.ndarray:
    """A caller's buffer for an (n, n) float64 result: an ndarray, C-contiguous, aligned, writable, apart from ``r``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be None or a numpy.ndarray of float64 with shape ({n}, {n}); "
                        f"got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"{name} must have dtype float64 (native byte order); got dtype {out.dtype.str}")
    if out.shape != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}) for {n} points; got shape {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; got a strided or Fortran-ordered array "
                         "(use numpy.empty((n, n)))")
    if not out.flags.aligned:
        raise ValueError(f"{name} must be aligned to 8 bytes; got an unaligned view of a buffer")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writable; got a read-only array")
    if not isinstance(r, (list, tuple)) and _overlap(out, np.asarray(r)):  # arrays and buffers: no copy
        raise ValueError(f"{name} must not share memory with r: filling {name} would overwrite the points")
    return out


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` share memory (counted as yes when numpy cannot tell quickly)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=10**6))  # type: ignore[arg-type]  # numpy's stub says -1 or 0
    except np.exceptions.TooHardError:
        return True


def block_rows(rows: object, n: int, budget: int) -> int:
    """Rows per block of an (n, n) matrix: ``rows`` (an int >= 1), or None for blocks of about ``budget`` bytes."""
    if rows is None:
        return max(1, min(n, budget // (8 * max(n, 1))))
    if isinstance(rows, (bool, np.bool_)) or not isinstance(rows, numbers.Integral):
        raise TypeError(f"rows must be None or an int >= 1; got {type(rows).__name__} {rows!r}")
    if rows < 1:
        raise ValueError(f"rows must be None or an int >= 1; got {rows}")
    rows = min(int(rows), max(n, 1))
    _fits(rows * n * 8, f"a block of {rows} x {n} float64 distances", "use fewer rows")
    return rows
