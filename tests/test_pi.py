"""Every Monte Carlo pi backend: within standard errors, reproducible by seed."""

import math

import numpy as np
import pytest

import pytest_particles as pp
from pytest_particles.book import physics

# numpy, cython, openmp and multiprocessing draw the same PCG64 streams in the same order
SAME_STREAMS = ("numpy", "cython", "openmp", "multiprocessing")


def samples_for(backend):
    return 2_000 if backend.name == "multiprocessing_per_sample" else 200_000


@pytest.mark.kernel("pi")
def test_within_five_standard_errors(backend):
    samples = samples_for(backend)
    physics.check_pi(backend(samples, seed=2013), samples)


@pytest.mark.kernel("pi")
def test_same_seed_same_answer_whatever_the_workers(backend):
    samples = samples_for(backend) // 10 + 3  # not a multiple of the stream count
    answers = {backend(samples, seed=7, workers=w) for w in (1, 2, 3)}
    assert len(answers) == 1
    assert backend(samples, seed=8) != answers.pop()  # fixed seeds: deterministic


@pytest.mark.kernel("pi")
@pytest.mark.parametrize("samples", [1, 2, 63, 65])
def test_tiny_sample_counts(backend, samples):
    estimate = backend(samples, seed=1)
    hits = estimate * samples / 4
    assert hits == round(hits) and 0 <= hits <= samples


def test_stream_backends_count_the_same_hits():
    answers = {name: pp.monte_carlo_pi(100_003, seed=11, backend=name) for name in SAME_STREAMS}
    assert len(set(answers.values())) == 1, answers


def test_seed_sequence_is_not_mutated():
    seed = np.random.SeedSequence(1234)
    first = pp.monte_carlo_pi(10_000, seed=seed, backend="numpy")
    assert seed.n_children_spawned == 0
    assert pp.monte_carlo_pi(10_000, seed=seed, backend="numpy") == first


def test_large_run_passes_five_sigma():
    samples = 50_000_000
    physics.check_pi(pp.monte_carlo_pi(samples, seed=3), samples)


def test_standard_error_formula():
    p = math.pi / 4
    assert physics.pi_standard_error(10**6) == pytest.approx(4 * math.sqrt(p * (1 - p) / 10**6))
    with pytest.raises(AssertionError, match="standard errors"):
        physics.check_pi(3.2, 10**6)
