"""asv: time, peak memory and error against the reference of every blur backend at every size."""

import pytest_particles.asv

globals().update(pytest_particles.asv.suite("blur"))
