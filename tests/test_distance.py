"""Every distance_matrix backend against the reference."""

import numpy as np
import pytest
from conftest import system

import pytest_particles as pp
from pytest_particles.book import physics


@pytest.mark.kernel("distance_matrix")
@pytest.mark.parametrize("n", [1, 2, 7, 130, 301])
def test_matches_reference(backend, n):
    r, _ = system(n, seed=n)
    d = backend(r)
    assert d.shape == (n, n) and d.dtype == np.float64
    physics.check_distance_matrix(d, r)


@pytest.mark.kernel("distance_matrix")
def test_known_distances(backend):
    r = [[0, 0], [3, 4], [-3, -4]]  # integers are fine, and the origin is no problem here
    np.testing.assert_allclose(backend(r), [[0, 5, 5], [5, 0, 10], [5, 10, 0]], rtol=1e-15)


@pytest.mark.kernel("distance_matrix")
def test_backends_agree(backend):
    r, _ = system(211, seed=2)
    np.testing.assert_allclose(backend(r), pp.distance_matrix(r, backend="numpy"), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_openmp_does_not_depend_on_workers(workers):
    r, _ = system(333, seed=3)
    np.testing.assert_array_equal(
        pp.distance_matrix(r, backend="openmp", workers=workers), pp.distance_matrix(r, backend="cython")
    )


def test_reference_catches_a_wrong_matrix():
    r, _ = system(20, seed=4)
    d = pp.distance_matrix(r)
    d[3, 5] *= 1.001
    with pytest.raises(AssertionError, match=r"not symmetric"):
        physics.check_distance_matrix(d, r)
    d[5, 3] = d[3, 5]
    with pytest.raises(AssertionError, match=r"D\[3, 5\]: expected"):
        physics.check_distance_matrix(d, r, samples=10_000)
