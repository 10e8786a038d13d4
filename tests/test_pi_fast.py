"""The counter-based SplitMix64 pi backend: the generator against its reference, reproducibility, statistics."""

import math

import numpy as np
import pytest

import pytest_particles as pp
from pytest_particles import registry
from pytest_particles.book import physics, pi

GOLDEN_GAMMA = 0x9E3779B97F4A7C15
# Vigna's splitmix64.c from state 0 (the SplitMix64 paper's generator with the golden gamma)
SEED0_OUTPUTS = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]


def require(name):
    record = {b.name: b for b in pp.backends("pi")}[name]
    if not record.available:
        pytest.skip(record.reason)


@pytest.fixture
def compiled():
    require("splitmix")
    return pi._compiled.module


def reference_outputs(seed, gamma, start, count):
    """SplitMix64 outputs start .. start + count - 1 of the stream (seed, gamma), in NumPy uint64 arithmetic."""
    z = np.uint64(seed) + (np.arange(start, start + count, dtype=np.uint64) + np.uint64(1)) * np.uint64(gamma)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def reference_uniforms(seed, gamma, start, count):
    return (reference_outputs(seed, gamma, start, count) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def uniforms(compiled, seed, gamma, start, count):
    out = np.empty(count)
    compiled.splitmix_uniforms(seed, gamma, start, out)
    return out


def reference_hits(seed, gamma, samples):
    u = reference_uniforms(seed, gamma, 0, 2 * samples)
    x, y = 2.0 * u[0::2] - 1.0, 2.0 * u[1::2] - 1.0
    return int(np.count_nonzero(x * x + y * y <= 1.0))


def test_reference_matches_the_published_outputs():
    assert reference_outputs(0, GOLDEN_GAMMA, 0, 4).tolist() == SEED0_OUTPUTS


def test_compiled_uniforms_are_the_top_53_bits_of_splitmix64(compiled):
    expected = [(z >> 11) * 2.0**-53 for z in SEED0_OUTPUTS]
    assert uniforms(compiled, 0, GOLDEN_GAMMA, 0, 4).tolist() == expected
    for seed, gamma, start in [(12345, 0xAAAAAAAAAAAAAAAB, 0), (2**64 - 1, 2**63 + 1, 10**12), (7, 3, 2**40)]:
        np.testing.assert_array_equal(uniforms(compiled, seed, gamma, start, 1000),
                                      reference_uniforms(seed, gamma, start, 1000))


def test_compiled_hits_match_the_reference_exactly(compiled):
    for seed, gamma, samples in [(0, GOLDEN_GAMMA, 1), (1, 3, 2), (2**63, 0xAAAAAAAAAAAAAAAB, 999), (99, GOLDEN_GAMMA, 100_003)]:
        counts = np.array([samples], dtype=np.int64)
        keys = np.array([seed], dtype=np.uint64), np.array([gamma], dtype=np.uint64)
        assert compiled.splitmix_count_hits(*keys, counts, 2) == reference_hits(seed, gamma, samples)


def test_backend_is_the_sum_of_its_streams(compiled):
    samples, seed = 1_000_003, np.random.SeedSequence(42)
    counts, children = pi.streams(samples, seed)
    seeds, gammas = pi.splitmix_keys(children)
    expected = sum(reference_hits(s, g, c) for s, g, c in zip(seeds.tolist(), gammas.tolist(), counts.tolist()))
    assert pp.monte_carlo_pi(samples, seed=42, backend="splitmix") == 4.0 * expected / samples


def test_keys_come_from_the_children_and_gammas_are_odd_and_dense():
    seed = np.random.SeedSequence(2013)
    _counts, children = pi.streams(10**6, seed)
    seeds, gammas = pi.splitmix_keys(children)
    assert seed.n_children_spawned == 0  # the caller's SeedSequence is left alone
    assert seeds.dtype == gammas.dtype == np.uint64 and len(seeds) == len(gammas) == pi.STREAMS
    assert seeds.tolist() == [int(c.generate_state(2, np.uint64)[0]) for c in children]
    assert len(set(seeds.tolist())) == len(set(gammas.tolist())) == pi.STREAMS
    for g in gammas.tolist():
        assert g % 2 == 1 and (g ^ (g >> 1)).bit_count() >= 24
    assert pi.splitmix_gamma(0) == 0xAAAAAAAAAAAAAAAB  # too sparse: fixed as SplittableRandom does
    assert pi.splitmix_gamma(GOLDEN_GAMMA) == GOLDEN_GAMMA
    assert pi.splitmix_gamma(GOLDEN_GAMMA - 1) == GOLDEN_GAMMA


def test_backend_none_picks_splitmix():
    require("splitmix")
    assert registry.lookup("pi", None).name == "splitmix"


@pytest.mark.parametrize("name", ["splitmix", "numba"])
def test_same_seed_same_answer_whatever_the_workers(name):
    require(name)
    for samples in (1, 63, 65, 1_000_003):
        answers = {pp.monte_carlo_pi(samples, seed=7, backend=name, workers=w) for w in (1, 2, 3)}
        assert len(answers) == 1, (samples, answers)
    same_seed = np.random.SeedSequence(7)
    assert pp.monte_carlo_pi(1_000_003, seed=same_seed, backend=name) == answers.pop()


def test_different_seeds_differ(compiled):
    estimates = [pp.monte_carlo_pi(1_000_000, seed=s, backend="splitmix") for s in range(10)]
    assert len(set(estimates)) == 10


def test_numba_counts_the_same_hits_as_splitmix():
    require("splitmix")
    require("numba")
    for seed in (0, 5, 2**40):
        assert pp.monte_carlo_pi(300_007, seed=seed, backend="numba", workers=2) == pp.monte_carlo_pi(
            300_007, seed=seed, backend="splitmix"
        )


def test_five_sigma_at_a_billion_samples(compiled):
    samples = 10**9
    physics.check_pi(pp.monte_carlo_pi(samples, seed=2013, backend="splitmix"), samples)


@pytest.mark.parametrize("seed", range(8))
def test_hits_within_five_sigma_at_several_seeds(compiled, seed):
    samples = 10**7
    physics.check_pi(pp.monte_carlo_pi(samples, seed=seed, backend="splitmix"), samples)


def test_hits_across_seeds_are_distributed_as_binomial(compiled):
    samples, p = 10**6, math.pi / 4
    z = [(pp.monte_carlo_pi(samples, seed=1000 + s, backend="splitmix") / 4 * samples - samples * p)
         / math.sqrt(samples * p * (1 - p)) for s in range(40)]
    assert abs(np.mean(z)) < 5 / math.sqrt(len(z))  # the mean of 40 standard normals
    chi2, dof = float(np.sum(np.square(z))), len(z)  # sum of squares: chi-squared with 40 degrees of freedom
    assert abs(chi2 - dof) < 5 * math.sqrt(2 * dof)


@pytest.mark.parametrize("stream", [(0, GOLDEN_GAMMA), (2**63 + 17, 0xAAAAAAAAAAAAAAAB), "child"])
def test_uniforms_are_uniform_and_uncorrelated(compiled, stream):
    if stream == "child":
        _counts, children = pi.streams(10**6, np.random.SeedSequence(11))
        seeds, gammas = pi.splitmix_keys(children)
        stream = int(seeds[3]), int(gammas[3])
    n = 4_000_000
    u = uniforms(compiled, *stream, 0, n)
    assert u.min() >= 0.0 and u.max() < 1.0
    # mean 1/2 (sd sqrt(1/12 / n)); variance 1/12 (sd of (u - 1/2)**2 is sqrt(1/180))
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(np.mean((u - 0.5) ** 2) - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    # consecutive outputs (the x and y of a sample) are uncorrelated: sd of the correlation ~ 1/sqrt(n)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / math.sqrt(n)
    assert abs(np.corrcoef(u[0::2], u[1::2])[0, 1]) < 5 / math.sqrt(n / 2)
    # equal-width bins fill evenly: chi-squared with 255 degrees of freedom
    counts = np.bincount((u * 256).astype(np.int64), minlength=256)
    chi2 = float(np.sum((counts - n / 256) ** 2 / (n / 256)))
    assert abs(chi2 - 255) < 5 * math.sqrt(2 * 255)
    # the low bits kept by the 53-bit conversion are as random as the high ones
    low = (u * 2.0**53).astype(np.int64) & 0xFF
    chi2 = float(np.sum((np.bincount(low, minlength=256) - n / 256) ** 2 / (n / 256)))
    assert abs(chi2 - 255) < 5 * math.sqrt(2 * 255)


def test_streams_do_not_repeat_each_other(compiled):
    a = uniforms(compiled, 1, GOLDEN_GAMMA, 0, 100_000)
    b = uniforms(compiled, 1 + GOLDEN_GAMMA, GOLDEN_GAMMA, 0, 100_000)  # same gamma: b is a shifted by one
    np.testing.assert_array_equal(a[1:], b[:-1])  # why every stream gets its own gamma
    _counts, children = pi.streams(10**6, np.random.SeedSequence(1))
    seeds, gammas = pi.splitmix_keys(children[:2])
    first, second = (set(uniforms(compiled, int(s), int(g), 0, 100_000).tolist()) for s, g in zip(seeds, gammas))
    assert len(first & second) == 0
