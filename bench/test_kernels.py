"""pytest-benchmark suite: every backend of every kernel, checked by reference physics while it is timed.

Not part of the test suite (``pytest`` runs tests/ only); run it on its own::

    pytest bench --benchmark-autosave                             # time and save a run
    pytest bench --benchmark-compare --benchmark-group-by=group   # compare with the last saved run
    pytest bench -k targets -v                                    # only the speed targets (ratio gates)

The ``targets`` tests are the performance targets of the project as ratio
gates (``@pytest.mark.speedup``): both backends timed in this session,
interleaved, so the ratio holds on a noisy machine where absolute times drift.
"""

import pytest

EVOLVE_DT = 0.01  # 1,000 steps of 1e-5
# Work (particle-steps, pairs, samples) above which a backend is not timed: seconds per call.
SLOW = {"python": 3e6, "python_fast": 3e6, "multiprocessing_per_sample": 2e3}


def skip_slow(backend, work):
    if work > SLOW.get(backend.name, float("inf")):
        pytest.skip(f"{backend.name} would take seconds per call at this size")


@pytest.mark.kernel("evolve", sizes=[100, 1000, 10000])
def test_evolve(backend, size, particle_system, assert_physics, benchmark):
    skip_slow(backend, size * EVOLVE_DT / 1e-5)
    r, ang_speed = particle_system(size)
    result = benchmark(backend, r, ang_speed, EVOLVE_DT)
    assert_physics.evolve(result, r, ang_speed, EVOLVE_DT)


@pytest.mark.kernel("distance_matrix", sizes=[1000, 5000])
def test_distance_matrix(backend, size, particle_system, assert_physics, benchmark):
    skip_slow(backend, size * size)
    r, _ = particle_system(size)
    assert_physics.distance_matrix(benchmark(backend, r), r)


@pytest.mark.kernel("pi", sizes=[10**6, 10**7])
def test_pi(backend, size, assert_physics, benchmark):
    skip_slow(backend, size)
    assert_physics.pi(benchmark(backend, size, seed=2013), size)


# --- the targets: ratios measured side by side in this session ------------------------------


@pytest.mark.kernel("evolve", backends=["analytic"], sizes=[1000])
@pytest.mark.speedup(over="cython", at_least=100)
def test_targets_analytic_over_cython(backend, size, particle_system, assert_physics, benchmark):
    r, ang_speed = particle_system(size)
    assert_physics.evolve(benchmark(backend, r, ang_speed, 0.1), r, ang_speed, 0.1)  # 10,000 steps


@pytest.mark.kernel("evolve", backends=["openmp"], sizes=[10000])
@pytest.mark.speedup(over="cython", at_least=1.8)
def test_targets_openmp_over_cython(backend, size, particle_system, benchmark):
    r, ang_speed = particle_system(size)
    benchmark.pedantic(backend, (r, ang_speed, 0.1), rounds=3)


@pytest.mark.kernel("distance_matrix", backends=["blocked"], sizes=[10000])
@pytest.mark.speedup(over="scipy", at_least=2)
def test_targets_blocked_over_cdist(backend, size, particle_system, benchmark):
    r, _ = particle_system(size)
    benchmark.pedantic(backend, (r,), rounds=3)


@pytest.mark.kernel("pi", backends=["splitmix"], sizes=[10**8])
@pytest.mark.speedup(over="numpy", at_least=10)
def test_targets_splitmix_over_numpy(backend, size, assert_physics, benchmark):
    assert_physics.pi(benchmark(backend, size, seed=2013), size)
