"""pytest-particles: declare a numerical kernel once, then check, benchmark, track and gate every backend of it.

The book's kernels (*Python High Performance Programming*) are declared through the same API.

Public API::

    register_kernel(name, *, inputs, reference=None, check=None, rtol=1e-7, atol=0.0, work=None,
                    work_unit=None, sizes=None, validate=None) -> Kernel
    kernels() -> list[Kernel]; kernel(name) -> Kernel (calling it runs the kernel)
    register_backend(kernel, name, func=None, *, parallel=False, check=None) -> Backend
    backends(kernel) -> list[Backend]
    evolve(r, ang_speed, dt, *, timestep=1e-5, backend=None, workers=None) -> ndarray (N, 2)
    distance_matrix(r, *, backend=None, workers=None, out=None) -> ndarray (N, N)
    distance_matrix_blocks(r, *, rows=None, workers=None) -> iterator of (start, stop, block)
    nearest_neighbor_distances(r, *, workers=None) -> ndarray (N,)
    monte_carlo_pi(samples, *, seed=None, backend=None, workers=None) -> float
    Particle, ParticleSimulator, visualize

Names are imported on first use, so that the pytest plugin costs nothing in a
test suite that does not use it.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# The book's three kernels, in the order they are declared.
KERNELS = ("evolve", "distance_matrix", "pi")

_NAMES = {
    "Backend": "registry", "Kernel": "registry", "backends": "registry", "kernel": "registry",
    "kernels": "registry", "register_backend": "registry", "register_kernel": "registry",
    "unregister_backend": "registry", "unregister_kernel": "registry",
    "evolve": "evolution", "distance_matrix": "distance", "distance_matrix_blocks": "distance",
    "nearest_neighbor_distances": "distance", "monte_carlo_pi": "pi", "WorkerError": "parallel",
    "Particle": "simulator", "ParticleSimulator": "simulator", "visualize": "simulator",
}

__all__ = ["KERNELS", "physics", *_NAMES]


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif not name.startswith("__"):
        try:
            value = importlib.import_module(f".{name}", __name__)  # a submodule: pp.physics, pp.registry
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
