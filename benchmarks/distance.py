"""The distance matrix: time and peak memory over backend x points."""

from .common import backend_names, particles, require

SIZES = [100, 1_000, 3_000]


class TimeDistanceMatrix:
    params = (backend_names("distance_matrix"), SIZES)
    param_names = ["backend", "points"]
    timeout = 120

    def setup(self, backend, n):
        self.backend = require("distance_matrix", backend, work=n * n, largest=n == SIZES[-1])
        self.r = particles(n)[0]
        self.backend(self.r[:2])

    def time_distance_matrix(self, backend, n):
        self.backend(self.r)


class PeakmemDistanceMatrix:
    params = (backend_names("distance_matrix"), [1_000, 3_000])
    param_names = ["backend", "points"]
    timeout = 120

    def setup(self, backend, n):
        self.backend = require("distance_matrix", backend, work=n * n, largest=n == SIZES[-1])
        self.r = particles(n)[0]

    def peakmem_distance_matrix(self, backend, n):
        self.backend(self.r)
