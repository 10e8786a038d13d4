"""The book's fixtures, registered by the plugin beside its own: the book's particle systems and physics.

They know the book's kernels (its golden case, its checks), so they live with
them; the plugin itself names no kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported where used: the plugin costs nothing until a test uses a fixture
    import numpy as np

    from .physics import ReferenceCase


@pytest.fixture
def particle_system() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """Factory ``particle_system(n, seed=0) -> (r, ang_speed)``: the book's x, y, ang_speed uniform in (-1, 1)."""
    from . import physics

    return physics.particle_system


@pytest.fixture
def reference_case() -> ReferenceCase:
    """The book's golden case for evolve: ``.r``, ``.ang_speed``, ``.dt``, ``.expected``, ``.tolerance``."""
    from . import physics

    return physics.golden_case()


@pytest.fixture
def assert_physics() -> Any:  # an AssertPhysics, a class of this function
    """``.evolve(result, r, ang_speed, dt, timestep=1e-5)``, ``.distance_matrix(D, r)``,
    ``.pi(estimate, samples, sigmas=5)``."""
    from . import physics

    class AssertPhysics:
        """Reference-physics assertions; each raises an AssertionError saying what broke and by how much."""

        evolve = staticmethod(physics.check_evolve)
        golden = staticmethod(physics.check_golden)
        distance_matrix = staticmethod(physics.check_distance_matrix)
        pi = staticmethod(physics.check_pi)

    return AssertPhysics()
