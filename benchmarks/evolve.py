"""The particle simulator's evolve: time per call over backend x particles (1,000 steps each)."""

from .common import TIMESTEP, backend_names, particles, require

SIZES = [100, 1_000, 10_000]
STEPS = 1_000


class TimeEvolve:
    params = (backend_names("evolve"), SIZES)
    param_names = ["backend", "particles"]
    timeout = 120

    def setup(self, backend, n):
        self.backend = require("evolve", backend, work=n * STEPS, largest=n == SIZES[-1])
        self.r, self.ang_speed = particles(n)
        self.backend(self.r[:1], self.ang_speed[:1], TIMESTEP)  # warm up: imports, pools

    def time_evolve(self, backend, n):
        self.backend(self.r, self.ang_speed, STEPS * TIMESTEP)
