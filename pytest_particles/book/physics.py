"""Reference physics: what tells a right backend from a wrong one.

Nothing here imports pytest; the ``check_*`` functions raise AssertionError
with a message that says which particle or entry, expected versus got, and
the bound that was broken, so they read well in any test runner.

The scheme (the book's explicit Euler step, h = timestep, s = ang_speed,
d = s * h) moves a particle at radius r_k perpendicular to its radius by d.
Two exact laws follow, whatever the rounding:

* r_{k+1}**2 = r_k**2 + d**2, so r_n**2 = r_0**2 + n * d**2 (r never shrinks);
* the step turns the particle by atan(d / r_k), so after n steps its angle
  has grown by sum_{k<n} atan(d / r_k).

The exact circular motion keeps r_0 and turns by s * t / r_0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class ReferenceCase:
    """The book's golden case for evolve: three particles, evolve(0.1)."""

    r: np.ndarray
    ang_speed: np.ndarray
    dt: float
    expected: np.ndarray
    tolerance: float
    timestep: float = 1e-5


def golden_case() -> ReferenceCase:
    """A fresh copy of the book's golden case (the values are the Euler scheme's, tolerance 1e-5)."""
    return ReferenceCase(
        r=np.array([[0.3, 0.5], [0.0, -0.5], [-0.1, -0.4]]),
        ang_speed=np.array([1.0, -1.0, 3.0]),
        dt=0.1,
        expected=np.array(
            [
                [0.2102698450356825, 0.5438635787296997],
                [-0.0993347660567358, -0.4900342888538049],
                [0.1913585038252641, -0.3652272210744360],
            ]
        ),
        tolerance=1e-5,
    )


def particle_system(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The book's benchmark system: ``r`` (n, 2) and ``ang_speed`` (n,), all uniform in (-1, 1).

    Reproducible by ``seed``; a particle drawn at the exact origin (which has
    no direction of motion) is drawn again.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int >= 0; got {type(n).__name__} {n!r}")
    if n < 0:
        raise ValueError(f"n must be an int >= 0; got {n}")
    rng = np.random.default_rng(seed)
    r = rng.uniform(-1.0, 1.0, (int(n), 2))
    ang_speed = rng.uniform(-1.0, 1.0, int(n))
    while True:
        at_origin = (r == 0).all(axis=1)
        if not at_origin.any():
            return r, ang_speed
        r[at_origin] = rng.uniform(-1.0, 1.0, (int(at_origin.sum()), 2))


# --- the scheme's laws and the exact motion --------------------------------------------------


def euler_radius(r: npt.ArrayLike, ang_speed: npt.ArrayLike, timestep: float, nsteps: int) -> np.ndarray:
    """Radii (N,) after ``nsteps`` scheme steps: sqrt(r_0**2 + n * (ang_speed * timestep)**2)."""
    r = np.asarray(r, dtype=np.float64)
    d = np.asarray(ang_speed, dtype=np.float64) * timestep
    return np.sqrt(np.einsum("ij,ij->i", r, r) + nsteps * d * d)


def euler_turn(r: npt.ArrayLike, ang_speed: npt.ArrayLike, timestep: float, nsteps: int) -> np.ndarray:
    """Angles (N,) the scheme turns each particle by in ``nsteps``: sum_k atan(d / r_k).

    Summed directly (pairwise, in blocks of about 2**21 terms), O(N * nsteps):
    a reference for checks, not a fast path.
    """
    r = np.asarray(r, dtype=np.float64)
    d = np.asarray(ang_speed, dtype=np.float64) * timestep
    r0_squared = np.einsum("ij,ij->i", r, r)[:, np.newaxis]
    d = d[:, np.newaxis]
    total = np.zeros(r.shape[0])
    block = max(64, 2**21 // max(r.shape[0], 1))
    for start in range(0, nsteps, block):
        k = np.arange(start, min(start + block, nsteps), dtype=np.float64)
        total += np.arctan(d / np.sqrt(r0_squared + k * (d * d))).sum(axis=1)
    return total


def euler_positions(r: npt.ArrayLike, ang_speed: npt.ArrayLike, timestep: float, nsteps: int) -> np.ndarray:
    """Positions (N, 2) the scheme reaches after ``nsteps``, from its two exact laws."""
    r = np.asarray(r, dtype=np.float64)
    angle = np.arctan2(r[:, 1], r[:, 0]) + euler_turn(r, ang_speed, timestep, nsteps)
    radius = euler_radius(r, ang_speed, timestep, nsteps)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def exact_positions(r: npt.ArrayLike, ang_speed: npt.ArrayLike, t: float) -> np.ndarray:
    """Positions (N, 2) of the exact circular motion after time ``t``: radius kept, angle + s t / r."""
    r = np.asarray(r, dtype=np.float64)
    radius = np.hypot(r[:, 0], r[:, 1])
    angle = np.arctan2(r[:, 1], r[:, 0]) + np.asarray(ang_speed, dtype=np.float64) * t / radius
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def euler_error(r: npt.ArrayLike, ang_speed: npt.ArrayLike, timestep: float, nsteps: int) -> np.ndarray:
    """Distance (N,) between the scheme and the exact motion after ``nsteps`` steps.

    The scheme's known deviation: its radius grows by sqrt(1 + (d / r_k)**2)
    per step and it turns by atan(d / r_k) instead of d / r_0.
    """
    scheme = euler_positions(r, ang_speed, timestep, nsteps)
    exact = exact_positions(r, ang_speed, nsteps * timestep)
    return np.hypot(*(scheme - exact).T)


def rounding_tolerance(r: npt.ArrayLike, ang_speed: npt.ArrayLike, timestep: float, nsteps: int) -> float:
    """How far float64 rounding may carry an iterated result from the scheme's laws.

    Each step rounds a few times, relative to the radius; allow 16 ulps per
    step of the largest radius reached, plus a floor for tiny runs.
    """
    radius = euler_radius(r, ang_speed, timestep, nsteps)
    scale = float(radius.max()) if radius.size else 1.0
    return scale * (1e-13 + 16 * EPS * nsteps)


def steps(dt: float, timestep: float) -> int:
    """The number of steps the public evolve takes for ``dt`` (see validation.step_count)."""
    from ..validation import step_count

    return step_count(dt, timestep)


# --- checks ----------------------------------------------------------------------------------


def _report(title: str, rows: list[str], total: int, bound: str) -> str:
    shown = "\n".join(f"  {row}" for row in rows[:5])
    more = f"\n  ... and {total - 5} more" if total > 5 else ""
    return f"{title} ({total} of them; {bound}):\n{shown}{more}"


def _pair(v: np.ndarray) -> str:
    return f"({v[0]:.16g}, {v[1]:.16g})"


def _compare_positions(got: np.ndarray, expected: np.ndarray, tolerance: float | np.ndarray, title: str,
                       bound: str) -> None:
    distance = np.hypot(*(got - expected).T)
    bad = np.flatnonzero(~(distance <= tolerance))  # NaN counts as bad
    if bad.size:
        worst = bad[np.argsort(-np.nan_to_num(distance[bad], nan=np.inf))]
        rows = [
            f"particle {i}: expected {_pair(expected[i])}, got {_pair(got[i])}, "
            f"off by {distance[i]:.3g} > {tolerance:.3g}"
            for i in worst
        ]
        raise AssertionError(_report(title, rows, bad.size, bound))


def _result_array(result: npt.ArrayLike, shape: tuple, name: str) -> np.ndarray:
    got = np.asarray(result, dtype=np.float64)
    if got.shape != shape:
        raise AssertionError(f"{name} has shape {got.shape}; expected {shape}")
    return got


def check_golden(result: npt.ArrayLike, case: ReferenceCase | None = None) -> None:
    """The book's golden values, within its tolerance of 1e-5."""
    case = case or golden_case()
    got = _result_array(result, case.expected.shape, "evolve result")
    _compare_positions(got, case.expected, case.tolerance, "evolve differs from the book's golden values",
                       f"tolerance {case.tolerance:g}")


def check_evolve(result: npt.ArrayLike, r: npt.ArrayLike, ang_speed: npt.ArrayLike, dt: float,
                 timestep: float = 1e-5) -> None:
    """Check an evolve result against physics, not against another backend.

    1. the radius law r_n**2 = r_0**2 + n (ang_speed timestep)**2;
    2. the turn law: angle grown by sum_k atan(ang_speed timestep / r_k);
    3. the distance to the exact circular motion within the scheme's known error.
    Laws 1 and 2 hold up to float64 rounding (:func:`rounding_tolerance`).
    """
    r = np.asarray(r, dtype=np.float64)
    ang_speed = np.asarray(ang_speed, dtype=np.float64)
    got = _result_array(result, r.shape, "evolve result")
    nsteps = steps(dt, timestep)
    tol = rounding_tolerance(r, ang_speed, timestep, nsteps)

    radius = euler_radius(r, ang_speed, timestep, nsteps)
    got_radius = np.hypot(got[:, 0], got[:, 1])
    off = np.abs(got_radius - radius)
    bad = np.flatnonzero(~(off <= tol))
    if bad.size:
        rows = [f"particle {i}: expected radius {radius[i]:.16g}, got {got_radius[i]:.16g}, "
                f"off by {off[i]:.3g} > {tol:.3g}"
                for i in bad[np.argsort(-np.nan_to_num(off[bad], nan=np.inf))]]
        raise AssertionError(_report(
            "evolve breaks the radius law", rows, bad.size,
            f"r_n**2 = r_0**2 + n*(ang_speed*timestep)**2 with n = {nsteps}"))

    _compare_positions(got, euler_positions(r, ang_speed, timestep, nsteps), tol,
                       "evolve breaks the turn law",
                       f"each step turns by atan(ang_speed*timestep/r_k), n = {nsteps}")

    exact = exact_positions(r, ang_speed, nsteps * timestep)
    _compare_positions(got, exact, euler_error(r, ang_speed, timestep, nsteps) + tol,
                       "evolve is farther from the exact circular motion than the Euler scheme's error",
                       f"the scheme's known deviation after n = {nsteps} steps")


def check_radius_never_shrinks(before: npt.ArrayLike, after: npt.ArrayLike, nsteps: int) -> None:
    """Under the scheme no radius shrinks (up to rounding over ``nsteps`` steps)."""
    radius_before: np.ndarray = np.hypot(*np.asarray(before, dtype=np.float64).T)
    radius_after: np.ndarray = np.hypot(*np.asarray(after, dtype=np.float64).T)
    floor = radius_before * (1 - 16 * EPS * max(nsteps, 1))
    bad = np.flatnonzero(~(radius_after >= floor))
    if bad.size:
        rows = [f"particle {i}: radius {radius_before[i]:.16g} -> {radius_after[i]:.16g}" for i in bad]
        raise AssertionError(_report("a radius shrank", rows, bad.size, "Euler steps only grow r"))


def check_permutation(evolve: Callable[..., Any], r: npt.ArrayLike, ang_speed: npt.ArrayLike, dt: float, *,
                      timestep: float = 1e-5, seed: int = 0) -> None:
    """Particles are independent: permuting the input permutes the output."""
    r = np.asarray(r, dtype=np.float64)
    ang_speed = np.asarray(ang_speed, dtype=np.float64)
    perm = np.random.default_rng(seed).permutation(r.shape[0])
    whole = np.asarray(evolve(r, ang_speed, dt, timestep=timestep))
    permuted = np.asarray(evolve(r[perm], ang_speed[perm], dt, timestep=timestep))
    tol = rounding_tolerance(r, ang_speed, timestep, steps(dt, timestep))
    _compare_positions(permuted, whole[perm], tol, "permuting the particles changed their results",
                       "particles are independent")


def check_composition(evolve: Callable[..., Any], r: npt.ArrayLike, ang_speed: npt.ArrayLike, dt_a: float,
                      dt_b: float, *, timestep: float = 1e-5) -> None:
    """evolve(a) then evolve(b) equals evolve(a + b) when the step counts add up."""
    n_a, n_b = steps(dt_a, timestep), steps(dt_b, timestep)
    r = np.asarray(r, dtype=np.float64)
    ang_speed = np.asarray(ang_speed, dtype=np.float64)
    half = np.asarray(evolve(r, ang_speed, dt_a, timestep=timestep))
    two = np.asarray(evolve(half, ang_speed, dt_b, timestep=timestep))
    one = np.asarray(evolve(r, ang_speed, (n_a + n_b) * timestep, timestep=timestep))
    tol = rounding_tolerance(r, ang_speed, timestep, n_a + n_b)
    _compare_positions(two, one, tol, "evolve(a) then evolve(b) differs from evolve(a + b)",
                       f"{n_a} + {n_b} steps")


def check_distance_matrix(d: npt.ArrayLike, r: npt.ArrayLike, *, samples: int = 256, seed: int = 0,
                          rtol: float = 1e-12) -> None:
    """Symmetric, zero diagonal, and equal to a plain reference on sampled entries."""
    r = np.asarray(r, dtype=np.float64)
    n = r.shape[0]
    d = _result_array(d, (n, n), "distance matrix")
    if n == 0:
        return
    atol = rtol * max(1.0, float(np.abs(r).max()))  # dx cancels: its error is absolute, scaled by |r|
    diagonal = np.abs(np.diag(d))
    bad = np.flatnonzero(~(diagonal <= atol))
    if bad.size:
        raise AssertionError(_report("distance matrix diagonal is not zero",
                                     [f"D[{i}, {i}] = {float(d[i, i])!r}" for i in bad], bad.size,
                                     f"|D[i, i]| <= {atol:.3g}"))
    asym = np.abs(d - d.T)
    asymmetric = np.argwhere(~(asym <= atol + rtol * np.abs(d)))
    asymmetric = asymmetric[asymmetric[:, 0] < asymmetric[:, 1]]
    if asymmetric.size:
        raise AssertionError(_report("distance matrix is not symmetric",
                                     [f"D[{i}, {j}] = {float(d[i, j])!r} but D[{j}, {i}] = {float(d[j, i])!r}"
                                      for i, j in asymmetric], len(asymmetric), f"rtol {rtol:g}"))
    if n * n <= samples:
        pairs = [(i, j) for i in range(n) for j in range(n)]
    else:
        rng = np.random.default_rng(seed)
        pairs = list(zip(rng.integers(0, n, samples).tolist(), rng.integers(0, n, samples).tolist()))
        pairs += [(0, n - 1), (n - 1, 0), (n - 1, n - 2)]
    rows = []
    for i, j in pairs:
        expected = math.sqrt((r[j, 0] - r[i, 0]) ** 2 + (r[j, 1] - r[i, 1]) ** 2)
        if not abs(d[i, j] - expected) <= atol + rtol * expected:
            rows.append(f"D[{i}, {j}]: expected {expected!r}, got {float(d[i, j])!r}")
    if rows:
        raise AssertionError(_report("distance matrix entries differ from sqrt(dx**2 + dy**2)", rows, len(rows),
                                     f"rtol {rtol:g}, atol {atol:.3g}"))


def pi_standard_error(samples: int) -> float:
    """Standard error of the Monte Carlo estimate: 4 sqrt(p (1 - p) / samples), p = pi / 4."""
    p = math.pi / 4
    return 4 * math.sqrt(p * (1 - p) / samples)


def check_pi(estimate: float, samples: int, sigmas: float = 5) -> None:
    """The estimate lies within ``sigmas`` standard errors of pi."""
    se = pi_standard_error(samples)
    off = abs(float(estimate) - math.pi)
    if not off <= sigmas * se:
        raise AssertionError(
            f"pi estimate {estimate!r} from {samples} samples is {off / se:.2f} standard errors from pi "
            f"(off by {off:.3g}); bound: {sigmas:g} standard errors = {sigmas * se:.3g}"
        )
