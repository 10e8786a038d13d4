"""The distance matrix: time, peak memory and error against the reference over backend x points."""

import pytest_particles.asv

# smaller than bench's book sizes (1000, 10000): a 10,000-point matrix is 800 MB per sample
globals().update(pytest_particles.asv.suite("distance_matrix", sizes=[100, 1_000, 3_000]))
