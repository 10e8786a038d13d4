"""pytest-benchmark suite: every backend of every book kernel on the kernel's own cases, checked while timed.

The cases are the kernels' declared ones (``kernel_case``: the same sizes,
steps and seeds that ``pytest-particles bench`` and the asv suite time), so a
number here means what it means there; a backend's ``max_work`` skips the
cases it would take too long on.  Not part of the test suite (``pytest`` runs
tests/ only); run it on its own::

    pytest bench --benchmark-autosave                             # time and save a run
    pytest bench --benchmark-compare --benchmark-group-by=group   # compare with the last saved run
    pytest bench -k targets -v                                    # only the speed targets (ratio gates)

The ``targets`` tests are the performance targets of the project as ratio
gates (``@pytest.mark.speedup``): both backends timed in this session,
interleaved, so the ratio holds on a noisy machine where absolute times drift.
"""

import pytest


@pytest.mark.kernel("evolve")
def test_evolve(backend, kernel_case, benchmark):
    kernel_case.check(benchmark(backend, *kernel_case.args))


@pytest.mark.kernel("distance_matrix")
def test_distance_matrix(backend, kernel_case, benchmark):
    kernel_case.check(benchmark(backend, *kernel_case.args))


@pytest.mark.kernel("pi")
def test_pi(backend, kernel_case, benchmark):
    kernel_case.check(benchmark(backend, *kernel_case.args))


# --- the targets: ratios measured side by side in this session ------------------------------


@pytest.mark.kernel("evolve", backends=["analytic"], sizes=[1000])
@pytest.mark.speedup(over="cython", at_least=100)
def test_targets_analytic_over_cython(backend, kernel_case, benchmark):
    kernel_case.check(benchmark(backend, *kernel_case.args))


@pytest.mark.kernel("evolve", backends=["openmp"], sizes=[10000])
@pytest.mark.speedup(over="cython", at_least=1.8)
def test_targets_openmp_over_cython(backend, kernel_case, benchmark):
    benchmark.pedantic(backend, kernel_case.args, rounds=3)


@pytest.mark.kernel("distance_matrix", backends=["blocked"], sizes=[10000])
@pytest.mark.speedup(over="scipy", at_least=2)
def test_targets_blocked_over_cdist(backend, kernel_case, benchmark):
    benchmark.pedantic(backend, kernel_case.args, rounds=3)


@pytest.mark.kernel("pi", backends=["splitmix"], sizes=[10**8])
@pytest.mark.speedup(over="numpy", at_least=10)
def test_targets_splitmix_over_numpy(backend, kernel_case, benchmark):
    kernel_case.check(benchmark(backend, *kernel_case.args))
