"""The particle simulator's evolve: time, peak memory and error against the reference over backend x particles.

The kernel's own case (the book's system, evolve(0.1): 10,000 steps), as tests and ``bench`` run it.
"""

import pytest_particles.asv

globals().update(pytest_particles.asv.suite("evolve"))
