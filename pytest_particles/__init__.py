"""pytest-particles: the kernels of *Python High Performance Programming*, every backend,
checked by reference physics and benchmarked through pytest.

Public API::

    evolve(r, ang_speed, dt, *, timestep=1e-5, backend=None, workers=None) -> ndarray (N, 2)
    distance_matrix(r, *, backend=None, workers=None, out=None) -> ndarray (N, N)
    distance_matrix_blocks(r, *, rows=None, workers=None) -> iterator of (start, stop, block)
    nearest_neighbor_distances(r, *, workers=None) -> ndarray (N,)
    monte_carlo_pi(samples, *, seed=None, backend=None, workers=None) -> float
    backends(kernel) -> list[Backend]
    register_backend(kernel, name, func=None)
    Particle, ParticleSimulator, visualize
"""

from . import cluster  # registers the ipyparallel backends; ipyparallel is imported only when a cluster is used
from . import physics
from .distance import distance_matrix, distance_matrix_blocks, nearest_neighbor_distances
from .evolution import evolve
from .parallel import WorkerError
from .pi import monte_carlo_pi
from .registry import KERNELS, Backend, backends, register_backend, unregister_backend
from .simulator import Particle, ParticleSimulator, visualize

__version__ = "0.1.0"

__all__ = [
    "KERNELS",
    "Backend",
    "Particle",
    "ParticleSimulator",
    "WorkerError",
    "backends",
    "distance_matrix",
    "distance_matrix_blocks",
    "evolve",
    "monte_carlo_pi",
    "nearest_neighbor_distances",
    "physics",
    "register_backend",
    "unregister_backend",
    "visualize",
]
