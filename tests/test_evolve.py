"""Every evolve backend against reference physics, not only against each other."""

import numpy as np
import pytest
from conftest import system

import pytest_particles as pp
from pytest_particles.book import physics

ITERATIVE = ("python", "python_fast", "numpy", "numexpr", "cython", "openmp", "multiprocessing", "numba")


@pytest.mark.kernel("evolve")
def test_golden_case(backend):
    case = physics.golden_case()
    result = backend(case.r, case.ang_speed, case.dt)
    physics.check_golden(result, case)
    physics.check_evolve(result, case.r, case.ang_speed, case.dt)


@pytest.mark.kernel("evolve")
@pytest.mark.parametrize(
    "n, dt",
    [
        (1, 0.01),  # one particle
        (13, 1e-5),  # one step; 13 is no multiple of any SIMD width
        (37, 0.02),
        (300, 0.005),  # more than one block of the compiled kernels
    ],
)
def test_random_systems_obey_the_scheme(backend, n, dt):
    r, ang_speed = system(n, seed=n)
    result = backend(r, ang_speed, dt)
    physics.check_evolve(result, r, ang_speed, dt)
    physics.check_radius_never_shrinks(r, result, physics.steps(dt, 1e-5))


@pytest.mark.kernel("evolve")
def test_many_steps_both_signs_of_speed(backend):
    r = np.array([[0.3, 0.5], [-0.2, 0.1], [0.7, -0.7], [0.05, 0.0]])
    ang_speed = np.array([1.0, -1.0, 2.5, -0.5])
    result = backend(r, ang_speed, 1.0)  # 100,000 steps
    physics.check_evolve(result, r, ang_speed, 1.0)
    # positive speed turns counterclockwise, negative clockwise
    first = backend(r, ang_speed, 1e-5)
    cross = r[:, 0] * first[:, 1] - r[:, 1] * first[:, 0]
    assert np.all(np.sign(cross) == np.sign(ang_speed))


@pytest.mark.kernel("evolve")
def test_particles_are_independent(backend):
    r, ang_speed = system(29, seed=3)
    physics.check_permutation(backend, r, ang_speed, 0.01)


@pytest.mark.kernel("evolve")
def test_steps_compose(backend):
    r, ang_speed = system(17, seed=4)
    physics.check_composition(backend, r, ang_speed, 0.003, 0.004)


@pytest.mark.kernel("evolve")
def test_iterative_backends_agree_with_cython(backend):
    if backend.name not in ITERATIVE:
        pytest.skip("not an iterative backend")
    r, ang_speed = system(261, seed=5)
    expected = pp.evolve(r, ang_speed, 0.02, backend="cython")
    np.testing.assert_allclose(backend(r, ang_speed, 0.02), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("name", ["openmp", "multiprocessing", "numexpr"])
def test_parallel_results_do_not_depend_on_workers(name, workers):
    r, ang_speed = system(517, seed=6)
    expected = pp.evolve(r, ang_speed, 0.01, backend="cython")
    result = pp.evolve(r, ang_speed, 0.01, backend=name, workers=workers)
    if name == "numexpr":
        np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12)
    else:
        np.testing.assert_array_equal(result, expected)


def test_no_step_lost_to_rounding():
    # int(0.3 / 1e-5) == 29999 in floating point; the scheme must take 30000 steps
    r, ang_speed = system(5, seed=7)
    expected = r.copy()
    pp.evolution.evolve_python_fast(expected, ang_speed, 1e-5, 30000)
    np.testing.assert_array_equal(pp.evolve(r, ang_speed, 0.3, backend="python_fast"), expected)


def test_default_backend_is_the_fastest_available():
    chosen = [b for b in pp.backends("evolve") if b.available][0]
    assert chosen.name == "analytic"
    case = physics.golden_case()
    physics.check_golden(pp.evolve(case.r, case.ang_speed, case.dt))


def test_exact_motion_is_close_to_the_scheme_for_small_steps():
    # the scheme converges to the exact circle: its error shrinks with the step
    case = physics.golden_case()
    coarse = physics.euler_error(case.r, case.ang_speed, 1e-4, 1000).max()
    fine = physics.euler_error(case.r, case.ang_speed, 1e-5, 10000).max()
    assert fine < coarse / 5
    # the book's note: the golden values are up to about 1.2e-5 from the exact motion
    assert 1e-5 < fine < 1.5e-5


def test_reference_physics_catches_a_wrong_scheme():
    """A backend that updates y from the new x (a classic bug) fails check_evolve."""

    def wrong(r, ang_speed, timestep, nsteps):
        for _ in range(nsteps):
            norm = np.hypot(r[:, 0], r[:, 1])
            r[:, 0] -= timestep * ang_speed * r[:, 1] / norm
            r[:, 1] += timestep * ang_speed * r[:, 0] / norm

    r, ang_speed = system(8, seed=8)
    result = r.copy()
    wrong(result, ang_speed, 1e-5, 1000)
    with pytest.raises(AssertionError, match=r"particle \d+: expected"):
        physics.check_evolve(result, r, ang_speed, 0.01)


def test_particle_simulator_follows_the_book():
    case = physics.golden_case()
    particles = [pp.Particle(x, y, s) for (x, y), s in zip(case.r.tolist(), case.ang_speed.tolist())]
    simulator = pp.ParticleSimulator(particles)
    simulator.evolve(case.dt, backend="python")
    got = np.array([(p.x, p.y) for p in simulator.particles])
    physics.check_golden(got, case)
    assert simulator.particles[0] is particles[0]  # updated in place, as in the book
    assert not hasattr(particles[0], "__dict__")
    with pytest.raises(AttributeError):
        particles[0].mass = 1.0


def test_particle_simulator_with_no_particles():
    simulator = pp.ParticleSimulator([])
    simulator.evolve(0.1)
    assert simulator.particles == []
