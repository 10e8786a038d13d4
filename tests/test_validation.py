"""Bad input gets a clear error at the door, on every backend; odd but valid input works."""

import numpy as np
import pytest
from conftest import system

import pytest_particles as pp

R, SPEED = system(4, seed=0)

BAD_EVOLVE = [
    # (r, ang_speed, dt, keywords, error, message)
    (R[:, 0], SPEED, 0.1, {}, ValueError, r"r must have shape \(N, 2\); got shape \(4,\)"),
    (np.zeros((4, 3)) + 1, SPEED, 0.1, {}, ValueError, r"r must have shape \(N, 2\)"),
    (R, SPEED[:3], 0.1, {}, ValueError, r"ang_speed must have one entry per particle"),
    (R, SPEED[:, None], 0.1, {}, ValueError, r"ang_speed must have shape \(N,\)"),
    (R + 1j, SPEED, 0.1, {}, TypeError, r"r must hold real numbers.*complex"),
    (R.astype(object), SPEED, 0.1, {}, TypeError, r"r must hold real numbers.*object"),
    ([["a", "b"]], [1.0], 0.1, {}, TypeError, r"r must hold real numbers"),
    (R, SPEED.astype(str), 0.1, {}, TypeError, r"ang_speed must hold real numbers"),
    ([[1.0, 2.0], [3.0]], [1.0, 1.0], 0.1, {}, ValueError, r"r must be a rectangular array"),
    (np.where(np.eye(4, 2) == 1, np.nan, R), SPEED, 0.1, {}, ValueError, r"r must be finite; r\[0, 0\] is nan"),
    (R, np.array([1, np.inf, 1, 1]), 0.1, {}, ValueError, r"ang_speed must be finite; ang_speed\[1\] is inf"),
    ([[0.5, 0.5], [0.0, 0.0]], [1, 1], 0.1, {}, ValueError, r"r\[1\] = \(0.0, 0.0\) is at the origin"),
    # (1e-200, 0) and (1e200, 0.5) are representable radii, evolved right (tests/test_kernels_edges.py)
    ([[1.7e308, 1.7e308]], [1], 0.1, {}, ValueError, r"r\[0\] .* hypot\(x, y\), overflows float64"),
    (R, SPEED, -0.1, {}, ValueError, r"dt must be finite and >= 0; got -0.1"),
    (R, SPEED, float("nan"), {}, ValueError, r"dt must be finite and >= 0; got nan"),
    (R, SPEED, float("inf"), {}, ValueError, r"dt must be finite"),
    (R, SPEED, "0.1", {}, TypeError, r"dt must be a real number; got str"),
    (R, SPEED, True, {}, TypeError, r"dt must be a real number; got bool"),
    (R, SPEED, 0.1, {"timestep": 0}, ValueError, r"timestep must be finite and > 0; got 0"),
    (R, SPEED, 0.1, {"timestep": -1e-5}, ValueError, r"timestep must be finite and > 0"),
    (R, SPEED, 1e300, {"timestep": 1e-300}, ValueError, r"dt / timestep must be below"),
    (R, SPEED, 0.1, {"workers": 0}, ValueError, r"workers must be None or an int >= 1; got 0"),
    (R, SPEED, 0.1, {"workers": 1.5}, TypeError, r"workers must be None or an int >= 1; got float"),
    (R, SPEED, 0.1, {"workers": True}, TypeError, r"workers must be None or an int"),
    (np.ma.masked_array(R, mask=np.eye(4, 2)), SPEED, 0.1, {}, TypeError, r"r must not be a numpy masked array"),
    (R, np.ma.masked_less(SPEED, 0), 0.1, {}, TypeError, r"ang_speed must not be a numpy masked array"),
]


@pytest.mark.kernel("evolve")
@pytest.mark.parametrize("r, ang_speed, dt, keywords, error, message", BAD_EVOLVE)
def test_evolve_rejects_bad_input(backend, r, ang_speed, dt, keywords, error, message):
    with pytest.raises(error, match=message):
        backend(r, ang_speed, dt, **keywords)


@pytest.mark.kernel("evolve")
def test_evolve_accepts_odd_layouts_and_leaves_inputs_alone(backend):
    r, ang_speed = system(9, seed=1)
    expected = pp.evolve(r, ang_speed, 0.001, backend="python_fast")
    fortran = np.asfortranarray(r)
    strided = np.repeat(r, 2, axis=0)[::2]
    readonly = r.copy()
    readonly.flags.writeable = False
    speed_strided = np.repeat(ang_speed, 3)[::3]
    for layout in (fortran, strided, readonly, r.tolist()):
        before = np.array(layout, copy=True)
        got = backend(layout, speed_strided, 0.001)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(np.asarray(layout), before)  # untouched
    got32 = backend(r.astype(np.float32), ang_speed.astype(np.float32), 0.001)
    assert got32.dtype == np.float64
    physics_ok = pp.evolve(r.astype(np.float32), ang_speed.astype(np.float32), 0.001, backend="python_fast")
    np.testing.assert_allclose(got32, physics_ok, rtol=0, atol=1e-12)
    ints = backend(np.array([[1, 2], [-3, 4]]), np.array([1, -2]), 0.001)
    assert ints.dtype == np.float64 and ints.shape == (2, 2)


@pytest.mark.kernel("evolve")
def test_evolve_empty_and_zero_time(backend):
    empty = backend(np.empty((0, 2)), np.empty(0), 0.1)
    assert empty.shape == (0, 2) and empty.dtype == np.float64
    listed = backend([], [], 0.1)  # how people write no particles: N = 0, as the README says
    assert listed.shape == (0, 2) and listed.dtype == np.float64
    r, ang_speed = system(3)
    unchanged = backend(r, ang_speed, 0.0)
    np.testing.assert_array_equal(unchanged, r)
    assert unchanged is not r


_READ_ONLY_OUT = np.zeros((4, 4))
_READ_ONLY_OUT.flags.writeable = False
_SHARED_OUT = np.zeros((4, 4))  # r = _SHARED_OUT[:, :2] lives inside out

BAD_DISTANCE = [
    (np.zeros(4), {}, ValueError, r"r must have shape \(N, 2\)"),
    (np.ones((3, 2)) * 1j, {}, TypeError, r"r must hold real numbers"),
    ([[1.0, np.inf]], {}, ValueError, r"r must be finite"),
    ([["x", "y"]], {}, TypeError, r"r must hold real numbers"),
    (np.ma.masked_array(R, mask=np.eye(4, 2)), {}, TypeError, r"r must not be a numpy masked array"),
    (R, {"workers": -1}, ValueError, r"workers must be None or an int >= 1"),
    (R, {"out": np.zeros((4, 4)).tolist()}, TypeError, r"out must be None or a numpy.ndarray of float64"),
    (R, {"out": np.zeros((4, 4), dtype=np.float32)}, TypeError, r"out must have dtype float64"),
    (R, {"out": np.zeros((4, 3))}, ValueError, r"out must have shape \(4, 4\) for 4 points"),
    (R, {"out": np.zeros((4, 8))[:, ::2]}, ValueError, r"out must be C-contiguous"),
    (R, {"out": _READ_ONLY_OUT}, ValueError, r"out must be writable"),
    (_SHARED_OUT[:, :2], {"out": _SHARED_OUT}, ValueError, r"out must not share memory with r"),
]


@pytest.mark.kernel("distance_matrix")
@pytest.mark.parametrize("r, keywords, error, message", BAD_DISTANCE)
def test_distance_rejects_bad_input(backend, r, keywords, error, message):
    with pytest.raises(error, match=message):
        backend(r, **keywords)


@pytest.mark.kernel("distance_matrix")
def test_distance_empty_and_layouts(backend):
    assert backend(np.empty((0, 2))).shape == (0, 0)
    assert backend([]).shape == (0, 0)
    r, _ = system(6, seed=2)
    expected = pp.distance_matrix(r, backend="numpy")
    readonly = np.asfortranarray(r)
    readonly.flags.writeable = False
    np.testing.assert_allclose(backend(readonly), expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(backend(r.astype(np.float32)), pp.distance_matrix(r.astype(np.float32)), rtol=1e-14)


@pytest.mark.kernel("distance_matrix")
def test_distance_too_large_for_memory_fails_before_any_work(backend):
    r = np.ones((2_000_000, 2))  # the result would need 29 TiB
    with pytest.raises(MemoryError, match=r"2000000 x 2000000 float64 distance matrix.* needs \d+.\d GiB"):
        backend(r)


@pytest.mark.parametrize("name, copies", [("numpy", 3), ("python", 5.5)])
def test_the_memory_guard_counts_what_the_backend_really_holds(name, copies):
    """An N whose result fits but whose backend's temporaries (3 matrices for NumPy) do not: refused before work."""
    free = pp.validation.available_memory()
    if free is None:
        pytest.skip("this platform does not say how much memory is available")
    n = int((free / 8 / 2) ** 0.5)  # the result alone takes half the memory available
    with pytest.raises(MemoryError, match=rf"computed by the '{name}' backend \({copies:g} x .* GiB at its peak\)"):
        pp.distance_matrix(np.ones((n, 2)), backend=name)


BAD_PI = [
    (0, {}, ValueError, r"samples must be between 1 and 2\*\*53"),
    (-5, {}, ValueError, r"samples must be between 1"),
    (2**53 + 1, {}, ValueError, r"samples must be between 1"),
    (1e6, {}, TypeError, r"samples must be an int; got float"),
    ("100", {}, TypeError, r"samples must be an int; got str"),
    (True, {}, TypeError, r"samples must be an int; got bool"),
    (100, {"seed": -1}, ValueError, r"seed must be >= 0; got -1"),
    (100, {"seed": 1.5}, TypeError, r"seed must be None, an int >= 0 or a numpy SeedSequence"),
    (100, {"workers": 0}, ValueError, r"workers must be None or an int >= 1"),
]


@pytest.mark.kernel("pi")
@pytest.mark.parametrize("samples, keywords, error, message", BAD_PI)
def test_pi_rejects_bad_input(backend, samples, keywords, error, message):
    with pytest.raises(error, match=message):
        backend(samples, **keywords)


def test_pi_accepts_numpy_integers_and_seed_sequences():
    a = pp.monte_carlo_pi(np.int64(1000), seed=np.uint32(5), backend="numpy")
    b = pp.monte_carlo_pi(1000, seed=np.random.SeedSequence(5), backend="numpy")
    assert a == b


@pytest.mark.parametrize(
    "call",
    [
        lambda b: pp.evolve(R, SPEED, 0.1, backend=b),
        lambda b: pp.distance_matrix(R, backend=b),
        lambda b: pp.monte_carlo_pi(10, backend=b),
    ],
    ids=["evolve", "distance_matrix", "pi"],
)
def test_unknown_backend_lists_the_available_ones(call):
    with pytest.raises(ValueError, match=r"unknown \w+ backend 'fortran'.\navailable: .*cython"):
        call("fortran")
    with pytest.raises(TypeError, match=r"backend must be None, a backend name or a Backend; got int"):
        call(3)


def test_backend_of_another_kernel_is_refused():
    cython_pi = next(b for b in pp.backends("pi") if b.name == "cython")
    with pytest.raises(ValueError, match=r"'cython' is a pi backend, not a evolve one"):
        pp.evolve(R, SPEED, 0.1, backend=cython_pi)
