"""The closed-form evolve backend (``analytic``) and the numba peer, against the iterated scheme and high precision.

References used here, from the cheapest to the most exact:

* ``cython``: the iterated float64 scheme (the book's ``c_evolve``);
* :func:`iterate_fixed`: the same iteration in exact integer fixed-point arithmetic with
  at least 170 fractional bits (over 50 digits), truncating 2**-P per operation.  It is
  a high-precision iteration like mpmath's at 50 digits but about 20 times faster (10**6
  steps in about 2 s), and it is checked against mpmath's 50-digit iteration below;
* :func:`turn_reference`: the sum of the turns, sum_k atan(1 / sqrt(a + k)), in mpmath:
  the first 300 terms summed directly, the rest by ``mpmath.sumem`` (Euler-Maclaurin with
  derivatives by mpmath's numerical differentiation, independent of the backend's
  hard-coded ones), checked against a direct sum below.
"""

import math
import subprocess
import sys
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from conftest import system

import pytest_particles as pp
from pytest_particles.book import evolution, physics

H = 1e-5  # the book's timestep
analytic_module = pytest.importorskip("pytest_particles._analytic")


# --- references --------------------------------------------------------------------------------


def iterate_fixed(x0, y0, d, nsteps, extra_bits=120):
    """The scheme iterated in exact integer fixed-point arithmetic: (x, y) after nsteps steps of d.

    The inputs are float64, hence dyadic rationals; the scale 2**P holds them exactly,
    with ``extra_bits`` below the smallest bit of any of them (at least 170 bits in all).
    Each step truncates by at most 2**-P per operation.
    """
    P = max(170, max(Fraction(v).denominator.bit_length() for v in (x0, y0, d)) + extra_bits)
    x, y, t = (int(Fraction(v) * (1 << P)) for v in (x0, y0, d))
    for _ in range(nsteps):
        norm = math.isqrt(x * x + y * y)
        x, y = x - t * y // norm, y + t * x // norm
    return x / (1 << P), y / (1 << P)  # int / int rounds correctly to float64


def iterate_mpmath(x0, y0, d, nsteps, dps=50):
    """The scheme iterated by mpmath at ``dps`` digits (slow: for a few hundred steps)."""
    with mpmath.workdps(dps):
        x, y, t = mpmath.mpf(x0), mpmath.mpf(y0), mpmath.mpf(d)
        for _ in range(nsteps):
            norm = mpmath.sqrt(x * x + y * y)
            x, y = x - t * (y / norm), y + t * (x / norm)
        return float(x), float(y)


def turn_reference(a, nsteps, dps=50):
    """sum_{k<nsteps} atan(1 / sqrt(a + k)) in mpmath (``a`` an mpf or float), as an mpf."""
    with mpmath.workdps(dps):
        a = mpmath.mpf(a)

        def f(k):
            return mpmath.atan2(1, mpmath.sqrt(a + k))

        head = mpmath.fsum(f(k) for k in range(min(300, nsteps)))
        if nsteps <= 300:
            return head
        return head + mpmath.sumem(f, [300, nsteps - 1])


def scheme_reference(x0, y0, d, nsteps, dps=60):
    """(x, y) of the scheme after nsteps from its two exact laws, in mpmath at ``dps`` digits."""
    with mpmath.workdps(dps):
        x0, y0, d = mpmath.mpf(x0), mpmath.mpf(y0), mpmath.mpf(d)
        r0 = mpmath.sqrt(x0 * x0 + y0 * y0)
        theta = mpmath.sign(d) * turn_reference((r0 / d) ** 2, nsteps, dps) if d else mpmath.mpf(0)
        radius = mpmath.sqrt(r0 * r0 + nsteps * d * d)
        angle = mpmath.atan2(y0, x0) + theta
        return float(radius * mpmath.cos(angle)), float(radius * mpmath.sin(angle)), theta, radius


def analytic(r, ang_speed, nsteps, workers=1):
    """The raw backend on a copy (any step count up to 2**62, beyond what the door allows for dt)."""
    out = np.array(r, dtype=np.float64, order="C")
    evolution.evolve_analytic(out, np.ascontiguousarray(ang_speed, dtype=np.float64), H, nsteps, workers)
    return out


def cython(r, ang_speed, nsteps):
    out = np.array(r, dtype=np.float64, order="C")
    evolution.evolve_cython(out, np.ascontiguousarray(ang_speed, dtype=np.float64), H, nsteps)
    return out


def on_circle(radii, seed=0):
    """Particles at the given distances from the origin, at random angles: r (N, 2)."""
    radii = np.asarray(radii, dtype=np.float64)
    angle = np.random.default_rng(seed).uniform(0, 2 * np.pi, radii.size)
    return np.column_stack([radii * np.cos(angle), radii * np.sin(angle)])


# --- the references themselves -----------------------------------------------------------------


def test_fixed_point_iteration_agrees_with_mpmath_at_50_digits():
    for x0, y0, s in [(0.3, 0.5, 1.0), (3e-7, -5e-7, -0.7), (-0.1, -0.4, 3.0)]:
        fixed = iterate_fixed(x0, y0, s * H, 400)
        assert fixed == pytest.approx(iterate_mpmath(x0, y0, s * H, 400), abs=1e-30, rel=0)


def test_turn_reference_agrees_with_a_direct_sum():
    for a in (0.0, 3.7, 2.5e9):
        with mpmath.workdps(50):
            direct = mpmath.fsum(mpmath.atan2(1, mpmath.sqrt(mpmath.mpf(a) + k)) for k in range(3000))
        assert abs(turn_reference(a, 3000) - direct) < 1e-40


# --- the sum of the turns ----------------------------------------------------------------------


@pytest.mark.parametrize("a", [0.0, 1e-300, 1e-12, 0.3, 5.5, 19.5, 20.0, 20.5, 37.0, 9999.0, 1e4, 1e7, 2.5e9, 1e30])
def test_turn_sum_to_a_few_ulps(a):
    """S(a, n) = sum_k atan(1/sqrt(a+k)) across the direct/Euler-Maclaurin switch (a + k = 20) and the term cut-offs."""
    for n in (1, 2, 3, 19, 20, 21, 22, 500, 10**4, 10**6, 10**8, 10**12, 2**62):
        expected = turn_reference(a, n, dps=40 + int(math.log10(max(a, 1.0))))
        got = analytic_module.turn(a, n)
        assert abs(got - expected) <= 4 * physics.EPS * expected, (a, n, got, expected)
    assert analytic_module.turn(a, 0) == 0.0


def test_turn_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"a must be a number >= 0; got -1.0"):
        analytic_module.turn(-1.0, 3)
    with pytest.raises(ValueError, match=r"a must be a number >= 0; got nan"):
        analytic_module.turn(float("nan"), 3)
    with pytest.raises(ValueError, match=r"n must be an int from 0 to 2\*\*62; got -3"):
        analytic_module.turn(1.0, -3)
    with pytest.raises(ValueError, match=r"n must be an int from 0 to 2\*\*62; got 4611686018427387905"):
        analytic_module.turn(1.0, 2**62 + 1)


# --- against the iterated scheme (cython), up to 10**5 steps -----------------------------------


def test_golden_case_within_1e12_of_the_iteration():
    case = physics.golden_case()
    result = pp.evolve(case.r, case.ang_speed, case.dt, backend="analytic")
    physics.check_golden(result, case)
    expected = pp.evolve(case.r, case.ang_speed, case.dt, backend="cython")
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n, nsteps", [(1, 1), (13, 2), (13, 21), (101, 1000), (257, 10**4), (1000, 10**5)])
def test_random_systems_within_1e12_of_the_iteration(n, nsteps):
    r, ang_speed = physics.particle_system(n, seed=n)
    result = pp.evolve(r, ang_speed, nsteps * H, backend="analytic")
    np.testing.assert_allclose(result, cython(r, ang_speed, nsteps), rtol=0, atol=1e-12)
    physics.check_evolve(result, r, ang_speed, nsteps * H)


@pytest.mark.parametrize("nsteps", [1, 2, 5, 19, 20, 21, 300, 10**4, 10**5])
def test_near_origin_both_signs_within_1e12_of_the_iteration(nsteps):
    # within 1e-6 of the origin: a = r0**2 / d**2 from 1e-2 down to 4e-290, the first terms summed directly
    radii = np.array([1e-6, 4e-7, 1e-8, 1e-9, 1e-12, 1e-100, 2e-150, 0.5, 1.0])
    r = np.vstack([on_circle(radii, seed=1), on_circle(radii, seed=2)])
    ang_speed = np.concatenate([np.full(radii.size, 1.0), np.full(radii.size, -0.7)])
    result = analytic(r, ang_speed, nsteps)
    np.testing.assert_allclose(result, cython(r, ang_speed, nsteps), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "speed, nsteps",
    [
        (1e-300, 10**5),  # |d| / r0 < 1e-60: each step turns by exactly |d| / r0
        (1e-13, 10**5),  # the whole path is 1e-13 long
        (-1e-10, 10**4),
        (1e3, 10**4),  # d = 1e-2: r grows from <= 1 to about 1.4
        (-1e3, 1000),
        (1e5, 1),  # d = 1: one step of the length of the radius
        (-1e5, 1),
    ],
)
def test_tiny_and_huge_speeds_within_1e12_of_the_iteration(speed, nsteps):
    r, _ = system(31, seed=9)
    r = np.vstack([r, on_circle([1e-6, 1e-3], seed=3)])
    ang_speed = np.full(r.shape[0], speed)
    result = analytic(r, ang_speed, nsteps)
    np.testing.assert_allclose(result, cython(r, ang_speed, nsteps), rtol=0, atol=1e-12)
    radius = physics.euler_radius(r, ang_speed, H, nsteps)
    np.testing.assert_allclose(np.hypot(*result.T), radius, rtol=4 * physics.EPS, atol=0)


def test_where_the_iteration_loses_bits_the_closed_form_does_not():
    """Tiny speeds (a step far below an ulp of x), subnormal radii: the iteration drifts, the closed form does not."""
    r = np.array([[0.3, 0.4], [1e-160, -2e-160]])
    ang_speed = np.array([-3e-9, 1.0])
    for i, nsteps in [(0, 10**5), (1, 50)]:
        exact = iterate_fixed(*r[i], ang_speed[i] * H, nsteps)
        closed = math.dist(analytic(r, ang_speed, nsteps)[i], exact)
        iterated = math.dist(cython(r, ang_speed, nsteps)[i], exact)
        scale = math.hypot(*exact)
        assert closed <= 4 * physics.EPS * scale
        if i == 0:
            assert iterated > 100 * closed + 1e-3 * physics.EPS * scale  # the float64 iteration itself is the one off
        else:  # the iterated kernels rescale a radius whose square would underflow (issue 13): no drift either
            assert iterated <= 16 * physics.EPS * scale


# --- long runs: against a high-precision iteration ---------------------------------------------


@pytest.mark.parametrize(
    "x0, y0, speed",
    [
        (0.3, 0.5, 1.0),  # the golden case's first particle
        (0.7, -0.7, -2.5),
        (3e-7, -5e-7, 0.7),  # starts within 1e-6 of the origin
    ],
)
def test_long_runs_closer_to_high_precision_than_the_float64_iteration(x0, y0, speed):
    nsteps = 10**6
    exact = iterate_fixed(x0, y0, speed * H, nsteps)  # about 2 s
    r, ang_speed = np.array([[x0, y0]]), np.array([speed])
    closed = math.dist(analytic(r, ang_speed, nsteps)[0], exact)
    iterated = math.dist(cython(r, ang_speed, nsteps)[0], exact)
    assert closed <= 2 * physics.EPS * math.hypot(*exact), closed  # a few ulps, although the turn is 17 to 2000 rad
    assert closed < iterated / 10, (closed, iterated)


# --- the step count costs nothing: 10**8 steps and more, checked against the laws --------------


@pytest.mark.parametrize("nsteps", [10**4, 10**8, 10**12, 2**61 + 1])
def test_any_step_count_obeys_the_laws_at_high_precision(nsteps):
    r = np.array([[0.3, 0.5], [-0.1, -0.4], [2e-7, 1e-7], [0.9, 0.0]])
    ang_speed = np.array([1.0, -3.0, 0.5, -1e-4])
    if nsteps <= 10**8:
        result = pp.evolve(r, ang_speed, nsteps * H, backend="analytic")  # through the door: dt = 1000 is 10**8 steps
    else:
        result = analytic(r, ang_speed, nsteps)
    for i in range(r.shape[0]):
        x, y, theta, radius = scheme_reference(*r[i], ang_speed[i] * H, nsteps)
        got_radius = math.hypot(*result[i])
        # law 1, the radius, to rounding
        assert abs(got_radius - float(radius)) <= 4 * physics.EPS * float(radius), (i, got_radius, radius)
        # law 2, the angle turned (up to 3e9 rad here), kept modulo 2 pi to a few ulps of the position
        assert math.dist(result[i], (x, y)) <= 4 * physics.EPS * float(radius), (i, result[i], (x, y), theta)


@pytest.mark.parametrize("nsteps", [1, 30, 10**4, 10**8, 10**15])
def test_scale_free_from_2_to_the_minus_500_to_2_to_the_500(nsteps):
    """The scheme is homogeneous: positions and speeds scaled by 2**k give positions scaled by 2**k."""
    r = np.array([[0.3, 0.5], [-0.1, -0.4], [2e-7, 1e-7], [0.9, 0.0], [1e-3, 2e-3]])
    ang_speed = np.array([1.0, -3.0, 0.5, -1e-4, 7.0])
    base = analytic(r, ang_speed, nsteps)
    for k in (-500, -300, -150, 150, 300, 500):
        scaled = analytic(r * 2.0**k, ang_speed * 2.0**k, nsteps) / 2.0**k
        assert np.all(np.hypot(*(scaled - base).T) <= 4 * physics.EPS * np.hypot(*base.T)), k


def test_evolve_in_parts_equals_evolve_at_once():
    r, ang_speed = system(57, seed=11)
    once = pp.evolve(r, ang_speed, 1000.0, backend="analytic")
    middle = pp.evolve(r, ang_speed, 400.0, backend="analytic")
    parts = pp.evolve(middle, ang_speed, 600.0, backend="analytic")
    # 4 * 10**7 + 6 * 10**7 steps.  The middle positions are rounded to float64 (relative 1e-16), which
    # moves a = r**2 / d**2 and so the second turn by about 1e-16 of itself: the only difference allowed.
    d = ang_speed * H
    second_turn = np.array([analytic_module.turn(a, 6 * 10**7) for a in (middle**2).sum(axis=1) / d**2])
    tolerance = 4 * physics.EPS * np.hypot(*once.T) * (1 + second_turn)
    assert np.all(np.hypot(*(parts - once).T) <= tolerance)


# --- special cases -----------------------------------------------------------------------------


def test_speed_zero_does_not_move():
    r, ang_speed = system(19, seed=12)
    ang_speed[::3] = 0.0
    ang_speed[1] = -0.0
    result = pp.evolve(r, ang_speed, 0.5, backend="analytic")
    still = ang_speed == 0
    np.testing.assert_array_equal(result[still], r[still])
    assert np.all(result[~still] != r[~still])
    np.testing.assert_allclose(result, cython(r, ang_speed, 50_000), rtol=0, atol=1e-12)


def test_zero_steps_do_not_move():
    r, ang_speed = system(7, seed=13)
    np.testing.assert_array_equal(analytic(r, ang_speed, 0), r)
    np.testing.assert_array_equal(pp.evolve(r, ang_speed, 0.0, backend="analytic"), r)


def test_direction_of_the_turn_follows_the_sign_of_the_speed():
    r = on_circle([0.5, 0.5, 1e-7, 1e-7], seed=4)
    ang_speed = np.array([1.0, -1.0, 1.0, -1.0])
    result = analytic(r, ang_speed, 1)
    cross = r[:, 0] * result[:, 1] - r[:, 1] * result[:, 0]
    assert np.all(np.sign(cross) == np.sign(ang_speed))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_workers_give_identical_results(threads):
    # enough particles (and a few more: no multiple of anything) for that many threads, MIN_PER_THREAD each
    n = 13 if threads == 1 else threads * analytic_module.MIN_PER_THREAD + 7
    r, ang_speed = system(n, seed=n)
    r[::5] *= 1e-7  # some particles near the origin take the longer (direct) path
    one = analytic(r, ang_speed, 123_457, workers=1)
    for workers in (2, 3):
        np.testing.assert_array_equal(analytic(r, ang_speed, 123_457, workers=workers), one)
    np.testing.assert_array_equal(pp.evolve(r, ang_speed, 123_457 * H, backend="analytic", workers=3), one)


def test_inputs_untouched_and_bad_input_rejected_at_the_door():
    r, ang_speed = system(5, seed=14)
    r_before, s_before = r.copy(), ang_speed.copy()
    pp.evolve(r, ang_speed, 0.1, backend="analytic")
    np.testing.assert_array_equal(r, r_before)
    np.testing.assert_array_equal(ang_speed, s_before)
    with pytest.raises(ValueError, match=r"at the origin"):
        pp.evolve([[0.0, 0.0]], [1.0], 0.1, backend="analytic")
    with pytest.raises(ValueError, match=r"dt must be"):
        pp.evolve(r, ang_speed, -1.0, backend="analytic")
    with pytest.raises(TypeError, match=r"workers must be"):
        pp.evolve(r, ang_speed, 0.1, backend="analytic", workers=1.5)
    assert pp.evolve(np.empty((0, 2)), np.empty(0), 0.1, backend="analytic").shape == (0, 2)


def test_registered_with_its_accuracy_documented():
    record = {b.name: b for b in pp.backends("evolve")}["analytic"]
    assert record.available, record.reason
    assert record.takes_workers
    assert "Accuracy" in record.func.__doc__ and "closed form" in record.func.__doc__


# --- numba: the peer, iterating the same scheme ------------------------------------------------


def test_importing_the_package_does_not_import_numba():
    code = "import sys, pytest_particles as pp; pp.backends('evolve'); assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_numba_iterates_exactly_the_cython_scheme(workers):
    pytest.importorskip("numba")
    r, ang_speed = system(261, seed=15)
    result = pp.evolve(r, ang_speed, 0.02, backend="numba", workers=workers)
    np.testing.assert_array_equal(result, pp.evolve(r, ang_speed, 0.02, backend="cython"))  # fastmath off: bit for bit
