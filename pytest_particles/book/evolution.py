"""The particle simulator's ``evolve`` kernel: every backend side by side, in the book's order.

Raw backends follow one contract: ``(r, ang_speed, timestep, nsteps) -> None``
advancing the positions ``r`` (N, 2) in place by ``nsteps`` explicit Euler
steps; parallel ones also take ``workers``.  They trust their inputs: the
public :func:`evolve` validates once, at the door.

(The module is not called ``evolve`` so that it does not shadow the function.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sized
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .. import parallel, registry, validation
from . import physics
from ._extensions import Extension, module_check
from ._range import scaled_hypot
from .simulator import Particle

if TYPE_CHECKING:
    from ..records import Backend

_compiled = Extension("_evolve")
_analytic = Extension("_analytic")


def _radii_in_range(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int) -> np.ndarray:
    """Per particle, whether its squared radius stays in [2**-960, 2**960] for all ``nsteps``: O(N).

    A step moves a particle by |d| = |timestep * ang_speed| and the scheme's radius only
    grows, so r_n <= r_0 + n |d|; a factor 2 covers the rounding of up to 2**50 steps.
    Inside that range sqrt(x*x + y*y) loses nothing, and the plain loops are exact.
    """
    with np.errstate(over="ignore"):
        r0 = np.hypot(r[:, 0], r[:, 1])
        reach = r0 + float(nsteps) * np.abs(timestep * ang_speed)
    return (r0 >= 2.0**-479) & (reach <= 2.0**479) & (nsteps <= 2**50)


def _radius(x: float, y: float) -> float:
    """One particle's sqrt(x*x + y*y) as with an unbounded exponent range (pp_hypot's scaling, same bits)."""
    s = x * x + y * y
    if 2.0**-960 <= s <= 2.0**960:
        return math.sqrt(s)
    m = max(abs(x), abs(y))
    e = math.frexp(m)[1]
    try:
        x, y = math.ldexp(x, -e), math.ldexp(y, -e)
        return math.ldexp(math.sqrt(x * x + y * y), e)
    except OverflowError:  # beyond DBL_MAX: _finite names the particle
        return math.inf


def _finite(r: np.ndarray) -> np.ndarray:
    """``r``, or OverflowError naming the first particle whose position overflowed float64."""
    if not np.isfinite(r).all():
        i = int(np.flatnonzero(~np.isfinite(r).all(axis=1))[0])
        raise OverflowError(f"particle {i}'s position overflowed float64 during the run (it reached "
                            f"{tuple(r[i].tolist())}): its radius exceeds the largest float64")
    return r


def _evolve_numpy_range(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int) -> None:
    """The NumPy loop for particles whose squared radius may leave the safe range: norms fixed up by scaled_hypot."""
    t_x_ang = (timestep * ang_speed)[:, np.newaxis]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for _ in range(nsteps):
            s = (r**2).sum(axis=1)
            norm = np.sqrt(s)
            lost = ~((s >= 2.0**-960) & (s <= 2.0**960))
            norm[lost] = scaled_hypot(r[lost, 0], r[lost, 1])
            v = r[:, [1, 0]] / norm[:, np.newaxis]
            v[:, 0] *= -1
            r += t_x_ang * v
    _finite(r)


def evolve_python(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int) -> None:
    """The book's first version: Particle objects, steps outer, particles inner."""
    particles = [Particle(x, y, s) for (x, y), s in zip(r.tolist(), ang_speed.tolist())]
    safe = bool(_radii_in_range(r, ang_speed, timestep, nsteps).all())
    for _ in range(nsteps):
        for p in particles:
            if safe:
                norm = math.sqrt(p.x**2 + p.y**2)
            else:  # a radius that may leave the range where x**2 + y**2 is exact
                norm = _radius(p.x, p.y)
            v_x = -p.y / norm
            v_y = p.x / norm
            d_x = timestep * p.ang_speed * v_x
            d_y = timestep * p.ang_speed * v_y
            p.x += d_x
            p.y += d_y
    r[:] = [(p.x, p.y) for p in particles]
    _finite(r)


def evolve_python_fast(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int) -> None:
    """The book's tuned loop: particles outer, ``timestep * ang_speed`` hoisted, one tuple assignment."""
    rows = r.tolist()
    safe = _radii_in_range(r, ang_speed, timestep, nsteps).tolist()
    for i, s in enumerate(ang_speed.tolist()):
        x, y = rows[i]
        t_x_ang = timestep * s
        if safe[i]:
            for _ in range(nsteps):
                norm = math.sqrt(x**2 + y**2)
                x, y = x - t_x_ang * (y / norm), y + t_x_ang * (x / norm)
        else:  # the radius may leave the range where x**2 + y**2 is exact
            for _ in range(nsteps):
                norm = _radius(x, y)
                x, y = x - t_x_ang * (y / norm), y + t_x_ang * (x / norm)
        rows[i] = (x, y)
    r[:] = rows
    _finite(r)


def evolve_numpy(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int) -> None:
    """The book's NumPy version: every particle at once, one broadcast expression per step."""
    if not _radii_in_range(r, ang_speed, timestep, nsteps).all():
        return _evolve_numpy_range(r, ang_speed, timestep, nsteps)
    t_x_ang = (timestep * ang_speed)[:, np.newaxis]
    for _ in range(nsteps):
        norm = np.sqrt((r**2).sum(axis=1))[:, np.newaxis]
        v = r[:, [1, 0]] / norm
        v[:, 0] *= -1
        r += t_x_ang * v


def evolve_numexpr(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int,
                   workers: int | None = None) -> None:
    """NumPy's algorithm with each step's expressions compiled by numexpr (threads = workers)."""
    import numexpr as ne

    if not _radii_in_range(r, ang_speed, timestep, nsteps).all():  # rare: NumPy's loop with the norms fixed up
        return _evolve_numpy_range(r, ang_speed, timestep, nsteps)
    x, y = r[:, 0].copy(), r[:, 1].copy()
    new_x, new_y, norm = np.empty_like(x), np.empty_like(y), np.empty_like(x)
    t_x_ang = timestep * ang_speed  # noqa: F841  (numexpr's expressions below read it by name)
    with parallel.numexpr_threads(workers):
        for _ in range(nsteps):
            ne.evaluate("sqrt(x * x + y * y)", out=norm)
            ne.evaluate("x - t_x_ang * (y / norm)", out=new_x)
            ne.evaluate("y + t_x_ang * (x / norm)", out=new_y)
            x, new_x, y, new_y = new_x, x, new_y, y
    r[:, 0], r[:, 1] = x, y


def evolve_cython(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int) -> None:
    """Typed memoryviews and libc sqrt, no Python in the loop (src/_evolve.pyx)."""
    assert _compiled.module is not None  # registered with _compiled.check
    _compiled.module.c_evolve(r, ang_speed, timestep, nsteps)
    _finite(r)


def evolve_openmp(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int,
                  workers: int | None = None) -> None:
    """The Cython loop with particles shared among OpenMP threads, GIL released."""
    assert _compiled.module is not None  # registered with _compiled.openmp_check
    _compiled.module.omp_evolve(r, ang_speed, timestep, nsteps, workers or validation.available_cores())
    _finite(r)


def evolve_multiprocessing(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int,
                           workers: int | None = None) -> None:
    """Chunks of particles evolved by the Cython kernel in worker processes."""
    workers = workers or validation.available_cores()
    bounds = parallel.chunk_bounds(r.shape[0], workers)
    tasks = [(r[a:b], ang_speed[a:b], timestep, nsteps) for a, b in bounds]
    for (a, b), chunk in zip(bounds, parallel.run_tasks(_evolve_chunk, tasks, workers)):
        r[a:b] = chunk
    _finite(r)


def _evolve_chunk(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int) -> np.ndarray:
    r = np.ascontiguousarray(r)  # a pickled slice arrives as a fresh array; make sure it is writable C order
    assert _compiled.module is not None  # the multiprocessing backend is registered with _compiled.check
    _compiled.module.c_evolve(r, ang_speed, timestep, nsteps)
    return r


def evolve_numba(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int,
                 workers: int | None = None) -> None:
    """The Cython kernel's loop compiled by numba (``@njit(parallel=True)``, ``prange`` over blocks of particles).

    Blocks of particles (at most 256, fewer when that keeps every thread
    busy) are shared among threads; each block is advanced step by step with
    the inner loop over its particles, which LLVM vectorizes.  Strict IEEE
    arithmetic (fastmath off): it iterates exactly the scheme the Cython
    kernel does, bit for bit.  numba is imported, and the loop compiled
    (about a second), on the first call only.
    """
    if not _radii_in_range(r, ang_speed, timestep, nsteps).all():  # rare: NumPy's loop with the norms fixed up
        return _evolve_numpy_range(r, ang_speed, timestep, nsteps)
    kernel = _numba_kernel()
    n = r.shape[0]
    with parallel.numba_threads(workers) as threads:
        size = max(1, min(_NUMBA_BLOCK, -(-n // threads)))
        # numba's loop cannot see Ctrl-C; Python does, between calls of about _NUMBA_CHUNK
        # particle-steps a thread (a particle's steps may be cut anywhere: the same bits)
        steps = max(_NUMBA_BLOCK, _NUMBA_CHUNK * threads // n)
        groups = -(-n // max(1, _NUMBA_CHUNK * threads // steps))  # of particles, about equal
        group = -(-n // groups)
        for start in range(0, n, group):
            for done in range(0, nsteps, steps):
                kernel(r[start : start + group], ang_speed[start : start + group], timestep,
                       min(steps, nsteps - done), size)


_NUMBA_CHUNK = 1 << 25  # particle-steps a thread between two returns to Python (some 50 ms)
_NUMBA_BLOCK = 256  # particles per block, as in src/_evolve.pyx: x, y and speed stay in L1
_numba_compiled: Callable[..., Any] | None = None


def _numba_kernel() -> Callable[..., Any]:
    """The numba-compiled loop, built on first use (so importing pytest_particles never imports numba)."""
    global _numba_compiled
    if _numba_compiled is None:
        import numba

        @numba.njit(parallel=True, fastmath=False, cache=False)
        def kernel(r, ang_speed, timestep, nsteps, size):
            n = r.shape[0]
            for block in numba.prange((n + size - 1) // size):
                start = block * size
                stop = min(start + size, n)
                x = r[start:stop, 0].copy()
                y = r[start:stop, 1].copy()
                t_x_ang = timestep * ang_speed[start:stop]
                for _ in range(nsteps):
                    for i in range(stop - start):
                        norm = math.sqrt(x[i] * x[i] + y[i] * y[i])
                        # both displacements from the old position (the book's tuple assignment)
                        new_x = x[i] - t_x_ang[i] * (y[i] / norm)
                        y[i] = y[i] + t_x_ang[i] * (x[i] / norm)
                        x[i] = new_x
                r[start:stop, 0] = x
                r[start:stop, 1] = y

        _numba_compiled = kernel
    return _numba_compiled


def evolve_analytic(r: np.ndarray, ang_speed: np.ndarray, timestep: float, nsteps: int,
                    workers: int | None = None) -> None:
    """The scheme's closed form: all ``nsteps`` Euler steps at once, O(1) per particle (src/_analytic.pyx).

    Not an iteration.  The explicit Euler step obeys two exact laws: r_n**2 =
    r_0**2 + n d**2, and step k turns the particle by atan(d / r_k) (d =
    ang_speed * timestep; its sign sets the direction).  Each particle is its
    initial vector scaled by r_n / r_0 and rotated by the sum of the turns,
    sum_{k<n} atan(1 / sqrt(a + k)) with a = r_0**2 / d**2, evaluated by the
    Euler-Maclaurin formula (its first terms summed directly for a particle
    that starts within sqrt(20) |d| of the origin).  Speed 0 leaves a particle
    where it is.

    Accuracy: the scheme's exact positions to a few ulps of r_n for any
    ``nsteps`` up to 2**62 (the turn, carried in double-double and reduced
    modulo 2 pi, to a few 1e-16 rad however large it grows).  That is closer to
    the scheme than the iterated float64 backends, whose rounding error grows
    with the step count (about 1e-13 to 1e-12 after 10**6 steps, 1e-11 for
    speeds so small that a step is below an ulp of the position); it agrees
    with them to 1e-12 on the book's systems up to 10**5 steps.

    Cost: O(1) per particle, never growing with ``nsteps``: 30-60 ns for a
    particle that turns less than 1 rad (plain doubles suffice), about 3 times
    that for larger turns (double-double); particles are shared among
    ``workers`` threads when there are at least 4096 per thread.
    """
    assert _analytic.module is not None  # registered with _analytic.check
    _analytic.module.c_analytic(r, ang_speed, timestep, nsteps, workers or validation.available_cores())
    _finite(r)


DT = 0.1  # the book's benchmark: evolve(0.1), 10,000 steps of 1e-5
TIMESTEP = 1e-5


def door(r: npt.ArrayLike, ang_speed: npt.ArrayLike, dt: float, *,
         timestep: float = TIMESTEP) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Validation at the door: clean (r, ang_speed, timestep, nsteps) for the backends, or ValueError/TypeError."""
    r, ang_speed = validation.particles(r, ang_speed)
    nsteps = validation.step_count(dt, timestep)  # checks dt and timestep
    return r, ang_speed, float(timestep), nsteps


def evolve(r: npt.ArrayLike, ang_speed: npt.ArrayLike, dt: float, *, timestep: float = TIMESTEP,
           backend: str | Backend | None = None, workers: int | None = None) -> np.ndarray:
    """Positions of particles turning around the origin after time ``dt``.

    Parameters
    ----------
    r : array_like, shape (N, 2)
        Initial positions (x, y). No particle may sit at the origin.
    ang_speed : array_like, shape (N,)
        The book's ``ang_speed``: the linear speed of each particle (its
        angular velocity is ``ang_speed / radius``); the sign sets the turn.
    dt : float
        Time to simulate, >= 0; evolved as ``dt / timestep`` explicit Euler
        steps, counted without losing one to rounding (0.3 / 1e-5 is 30000).
    timestep : float, keyword-only
        Step length, > 0 (the book's 1e-5).
    backend : str or Backend, optional
        Which implementation; None picks the fastest available one.
    workers : int, optional
        Threads or processes for parallel backends; None means every core
        this process may use.  Serial backends ignore it.

    Returns
    -------
    ndarray, shape (N, 2)
        New positions; the inputs are not modified.
    """
    record = registry.lookup("evolve", backend)
    r, ang_speed, timestep, nsteps = door(r, ang_speed, dt, timestep=timestep)
    workers = validation.workers(workers)
    if r.shape[0] == 0 or nsteps == 0:
        return r
    returned = record.run(r, ang_speed, timestep, nsteps, workers=workers)
    if returned is not None:  # a third-party backend that returns new positions instead
        returned = np.asarray(returned, dtype=np.float64)
        if returned.shape != r.shape:
            raise TypeError(
                f"evolve backend {record.name!r} returned shape {returned.shape}; expected None "
                f"(updating r in place) or an array of shape {r.shape}"
            )
        r = returned
    return r


def book_system(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """The book's benchmark case: ``size`` particles, x, y and ang_speed uniform in (-1, 1), evolved for dt = 0.1."""
    return rng.uniform(-1.0, 1.0, (size, 2)), rng.uniform(-1.0, 1.0, size), DT


def work_of_call(r: Sized, ang_speed: npt.ArrayLike, dt: float, *, timestep: float = TIMESTEP, **_: Any) -> int:
    return len(r) * validation.step_count(dt, timestep)


def fewer_steps(args: tuple, fraction: float) -> tuple[tuple, int]:
    """The same particles for a ``fraction`` of the steps: every backend's cost is linear in the steps."""
    r, ang_speed, dt = args[:3]
    steps = max(1, int(validation.step_count(dt, TIMESTEP) * fraction))
    return (r, ang_speed, steps * TIMESTEP), len(r) * steps


NSTEPS = validation.step_count(DT, TIMESTEP)

registry.register_kernel(
    "evolve", inputs=book_system, reference="numpy", check=physics.check_evolve, rtol=1e-9, atol=1e-12,
    work=lambda size: size * NSTEPS, work_unit="particle-steps", sizes=(100, 1_000, 10_000), validate=door,
    call=evolve, call_work=work_of_call, shrink=fewer_steps,
    # the book's timings on its 2013 hardware, seconds at dt = 0.1
    published={("python", 100): 0.614, ("python", 1_000): 6.13, ("python_fast", 1_000): 0.756, ("numpy", 100): 0.415,
               ("numpy", 1_000): 0.852, ("cython", 100): 0.0134, ("cython", 1_000): 0.134,
               ("cython", 10_000): 1.35, ("openmp", 10_000): 0.599},
)
# A pure-Python loop is not run by tests and asv past max_work particle-steps (seconds per call).
registry.register_backend("evolve", "python", evolve_python, priority=0, max_work=3e6)
registry.register_backend("evolve", "python_fast", evolve_python_fast, priority=10, max_work=3e6)
registry.register_backend("evolve", "numpy", evolve_numpy, priority=20)
registry.register_backend("evolve", "numexpr", evolve_numexpr, priority=30, check=module_check("numexpr"),
                          parallel=True)
registry.register_backend("evolve", "cython", evolve_cython, priority=50, check=_compiled.check, kind="compiled")
registry.register_backend("evolve", "openmp", evolve_openmp, priority=60, check=_compiled.openmp_check,
                          parallel=True)
registry.register_backend("evolve", "analytic", evolve_analytic, priority=70, check=_analytic.check, parallel=True)
registry.register_backend("evolve", "numba", evolve_numba, priority=45, check=module_check("numba"), parallel=True)
registry.register_backend("evolve", "multiprocessing", evolve_multiprocessing, priority=40, check=_compiled.check,
                          parallel=True)
