"""The kernels at their edges: Ctrl-C in long compiled runs, and distances and radii near the float64 range.

Ctrl-C: each long call runs in a child process that prints "started" and calls; once the
child has spent CPU time in the call, it gets SIGINT and must end with KeyboardInterrupt
(the deadline is a liveness check, not a timing).  For compiled kernels the traceback must
also show the kernel's own frame: the interrupt was raised inside it, not after it returned.
"""

from __future__ import annotations

import math
import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pytest_particles as pp
from pytest_particles import registry

START = 120.0  # seconds for the child to import and warm up
DEADLINE = 20.0  # seconds for it to stop after SIGINT: a liveness check, not a timing
BUSY_TICKS = 20  # CPU clock ticks (usually 10 ms each) the child spends in the call before SIGINT


def _available(kernel: str, backend: str) -> None:
    record = registry.lookup(kernel, backend, available=False)
    if not record.available:
        pytest.skip(f"{kernel} backend {backend!r} is not available here: {record.reason}")


def _cpu_ticks(pid: int) -> int:
    """utime + stime of process ``pid``, in clock ticks (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _interrupted(setup: str, call: str) -> str:
    """Run ``setup`` then ``call`` in a child, SIGINT it once busy in ``call``; its stderr."""
    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        pytest.skip("needs Linux /proc to see that the child is busy")
    code = textwrap.dedent(setup) + f"\nprint('started', flush=True)\n{call}\nprint('returned', flush=True)\n"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], START)
        assert ready and child.stdout.readline().strip() == "started", f"the child did not start: {call}"
        ticks = _cpu_ticks(child.pid)
        deadline = time.monotonic() + START
        while _cpu_ticks(child.pid) < ticks + BUSY_TICKS and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail(f"still running {DEADLINE:.0f} s after SIGINT: {call}")
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert "returned" not in out, f"the call finished before SIGINT came: {call}"
    assert "KeyboardInterrupt" in err, err[-2000:]
    return err


SETUP = """
import numpy as np
import pytest_particles as pp
r = np.array([[1.0, 0.5], [0.3, -0.7], [-0.2, 0.9]])
s = np.array([0.5, -1.0, 0.25])
many_r, many_s = np.tile(r, (10**5, 1)), np.tile(s, 10**5)
big = np.random.default_rng(0).uniform(-1.0, 1.0, (12000, 2))
many = np.tile(big, (100, 1))
"""

# (kernel, backend, call in the child, the compiled module whose frame raised; None for numba)
LONG_CALLS = [
    ("evolve", "cython", "pp.evolve(r, s, 1e4, backend='cython')", "_evolve.pyx"),  # 10**9 steps
    ("evolve", "openmp", "pp.evolve(r, s, 1e4, backend='openmp', workers=2)", "_evolve.pyx"),
    ("evolve", "openmp", "pp.evolve(many_r, many_s, 1e4, backend='openmp')",
     "_evolve.pyx"),
    ("evolve", "numba", "pp.evolve(r, s, 1e5, backend='numba')", None),  # 10**10 steps: minutes
    ("pi", "splitmix", "pp.monte_carlo_pi(2**53, seed=1, backend='splitmix')", "_pi.pyx"),
    ("pi", "splitmix", "pp.monte_carlo_pi(2**53, seed=1, backend='splitmix', workers=1)", "_pi.pyx"),
    ("pi", "cython", "pp.monte_carlo_pi(2**53, seed=1, backend='cython')", "_pi.pyx"),
    ("pi", "openmp", "pp.monte_carlo_pi(2**53, seed=1, backend='openmp')", "_pi.pyx"),
    ("pi", "numba", "pp.monte_carlo_pi(2**53, seed=1, backend='numba')", None),
    # the distance matrix of N = 12000 (1.1 GB) takes some 0.3 s: long enough to be interrupted inside
    ("distance_matrix", "cython", "pp.distance_matrix(big, backend='cython')", "_distance.pyx"),
    ("distance_matrix", "openmp", "pp.distance_matrix(big, backend='openmp', workers=1)", "_distance.pyx"),
    ("distance_matrix", "blocked", "pp.distance_matrix(big, backend='blocked', workers=1)", "_distance.pyx"),
    ("distance_matrix", "blocked", "list(pp.distance_matrix_blocks(big, rows=12000, workers=1))", "_distance.pyx"),
    ("distance_matrix", "blocked", "pp.nearest_neighbor_distances(many)", "_distance.pyx"),
]


@pytest.mark.parametrize("kernel, backend, call, module", LONG_CALLS, ids=[case[2] for case in LONG_CALLS])
def test_ctrl_c_stops_a_long_run(kernel, backend, call, module):
    _available(kernel, backend)
    setup = SETUP
    if module is None:  # compile numba's loop before "started"
        setup += {"evolve": "pp.evolve(r, s, 1e-4, backend='numba')\n",
                  "pi": "pp.monte_carlo_pi(1000, backend='numba')\n"}[kernel]
    err = _interrupted(setup, call)
    if module is not None:
        assert module in err, f"KeyboardInterrupt was not raised inside the kernel:\n{err[-2000:]}"


# --------------------------------------------------------------------------- the float64 range

def _backends(kernel):
    return [b.name for b in registry.backends(kernel) if b.available and b.builtin
            and b.name != "multiprocessing_per_sample"]


FAR_AND_NEAR = np.array([[0.0, 0.0], [2e300, 0.0], [1.4e-200, 0.0], [0.0, 5e-324], [1e-310, 1e-310], [3.0, 4.0]])


@pytest.mark.parametrize("backend", _backends("distance_matrix"))
def test_distances_do_not_overflow_or_underflow_where_representable(backend):
    d = pp.distance_matrix(FAR_AND_NEAR, backend=backend)
    expected = [[math.hypot(xj - xi, yj - yi) for xj, yj in FAR_AND_NEAR] for xi, yi in FAR_AND_NEAR]
    np.testing.assert_allclose(d, expected, rtol=1e-15, atol=0)
    assert d[0, 2] == 1.4e-200 and d[0, 3] == 5e-324 and d[0, 1] == 2e300 and d[0, 5] == 5.0
    assert (d[np.arange(6), np.arange(6)] == 0).all()


@pytest.mark.parametrize("backend", _backends("distance_matrix"))
def test_a_distance_beyond_dbl_max_is_an_overflow_error(backend):
    with pytest.raises(OverflowError, match="distance between r\\[0\\] and r\\[1\\] exceeds the largest float64"):
        pp.distance_matrix([[-1e308, 0.0], [1e308, 0.0]], backend=backend)


def test_blocks_and_nearest_neighbours_keep_the_range():
    (_, _, block), = pp.distance_matrix_blocks(FAR_AND_NEAR)
    np.testing.assert_array_equal(block, pp.distance_matrix(FAR_AND_NEAR, backend="numpy"))
    nearest = pp.nearest_neighbor_distances([[0.0, 0.0], [1.4e-200, 0.0], [1e300, 1e300], [1e300, 2e300]])
    assert nearest.tolist() == [1.4e-200, 1.4e-200, 1e300, 1e300]


def _scheme(x, y, speed, timestep, nsteps):
    """The Euler scheme exactly as the kernels compute it, with a radius that never over- or underflows."""
    x, y, t = float(x), float(y), float(timestep * speed)
    for _ in range(nsteps):
        s = x * x + y * y
        norm = math.sqrt(s) if 2.0**-960 <= s <= 2.0**960 else float(math.hypot(x, y))
        x, y = x - t * (y / norm), y + t * (x / norm)
    return x, y


@pytest.mark.parametrize("backend", _backends("evolve"))
def test_radii_past_1e154_and_below_1e_154_follow_the_scheme(backend):
    r = np.array([[1.0, 0.0], [1e-160, 0.0], [1.0, 2.0]])
    speeds = np.array([1e300, 1.0, 1.0])
    got = pp.evolve(r, speeds, 1e-3, backend=backend)  # 100 steps: the first radius grows to about 3e296
    assert got[0, 0] > 1e295
    rtol = 1e-12 if backend == "analytic" else 1e-15  # the closed form: a few ulps from the iteration
    for i in range(3):
        np.testing.assert_allclose(got[i], _scheme(*r[i], speeds[i], 1e-5, 100), rtol=rtol, atol=0)


@pytest.mark.parametrize("backend", _backends("evolve"))
def test_a_radius_that_overflows_is_an_overflow_error(backend):
    with pytest.raises(OverflowError, match="particle 0's position overflowed float64"):
        pp.evolve([[1e308, 0.0]], [1e308], 10.0, timestep=1.0, backend=backend)  # radius sqrt(11) * 1e308


def test_the_door_takes_representable_radii_and_refuses_the_origin():
    assert pp.evolve([[1e200, 1e200], [1e-200, 0.0]], [1.0, 1.0], 0.0).tolist() == [[1e200, 1e200], [1e-200, 0.0]]
    with pytest.raises(ValueError, match="at the origin"):
        pp.evolve([[0.0, 0.0]], [1.0], 0.1)
    with pytest.raises(ValueError, match="hypot\\(x, y\\), overflows float64"):
        pp.evolve([[1.7e308, 1.7e308]], [1.0], 0.1)
