"""Monte Carlo pi: time over backend x samples, and the estimate's error in standard errors."""

import math

from .common import SEED, backend_names, require

try:
    from pytest_particles.physics import pi_standard_error
except ImportError:
    pi_standard_error = None

SIZES = [1_000, 100_000, 10_000_000]


class TimeMonteCarloPi:
    params = (backend_names("pi"), SIZES)
    param_names = ["backend", "samples"]
    timeout = 120

    def setup(self, backend, samples):
        self.backend = require("pi", backend, work=samples, largest=samples == SIZES[-1])
        self.backend(10, seed=SEED)

    def time_monte_carlo_pi(self, backend, samples):
        self.backend(samples, seed=SEED)


class TrackPiError:
    params = (backend_names("pi"), [1_000, 1_000_000])
    param_names = ["backend", "samples"]
    unit = "standard errors"
    timeout = 120

    def setup(self, backend, samples):
        self.backend = require("pi", backend, work=samples)

    def track_pi_error(self, backend, samples):
        """(estimate - pi) / standard error at a fixed seed: stays within a few units if the backend is right."""
        return (self.backend(samples, seed=SEED) - math.pi) / pi_standard_error(samples)
