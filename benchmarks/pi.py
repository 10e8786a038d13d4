"""Monte Carlo pi: time and peak memory over backend x samples, and the estimate's error in standard errors."""

import math

import pytest_particles.asv

from .common import SEED, require

try:
    from pytest_particles.physics import pi_standard_error
except ImportError:
    pi_standard_error = None

SIZES = [1_000, 100_000, 10_000_000]

suite = pytest_particles.asv.suite("pi", sizes=SIZES)
globals().update(suite)


class TrackPiError:
    """(estimate - pi) / standard error at a fixed seed: pi has no reference backend, so its error is physics."""

    params = (suite["TimePi"].params[0], [1_000, 1_000_000])
    param_names = ["backend", "samples"]
    unit = "standard errors"
    timeout = 120

    def setup(self, backend, samples):
        self.backend = require("pi", backend, work=samples)

    def track_pi_error(self, backend, samples):
        return (self.backend(samples, seed=SEED) - math.pi) / pi_standard_error(samples)
