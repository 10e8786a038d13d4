"""pytest-particles: the kernels of *Python High Performance Programming*, every backend,
checked by reference physics and benchmarked through pytest.

Public API::

    evolve(r, ang_speed, dt, *, timestep=1e-5, backend=None, workers=None) -> ndarray (N, 2)
    distance_matrix(r, *, backend=None, workers=None) -> ndarray (N, N)
    monte_carlo_pi(samples, *, seed=None, backend=None, workers=None) -> float
    backends(kernel) -> list[Backend]
    register_backend(kernel, name, func=None)
    Particle, ParticleSimulator
"""

from . import physics
from .distance import distance_matrix
from .evolution import evolve
from .parallel import WorkerError
from .pi import monte_carlo_pi
from .registry import KERNELS, Backend, backends, register_backend, unregister_backend
from .simulator import Particle, ParticleSimulator

__version__ = "0.1.0"

__all__ = [
    "KERNELS",
    "Backend",
    "Particle",
    "ParticleSimulator",
    "WorkerError",
    "backends",
    "distance_matrix",
    "evolve",
    "monte_carlo_pi",
    "physics",
    "register_backend",
    "unregister_backend",
]
