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
import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__version__ = "0.1.0"

# The book's three kernels, in the order they are declared.
KERNELS = ("evolve", "distance_matrix", "pi")

_NAMES = {
    "Backend": "registry", "Kernel": "registry", "backends": "registry", "kernel": "registry",
    "kernels": "registry", "register_backend": "registry", "register_kernel": "registry",
    "unregister_backend": "registry", "unregister_kernel": "registry",
    "evolve": "book.evolution", "distance_matrix": "book.distance", "distance_matrix_blocks": "book.distance",
    "nearest_neighbor_distances": "book.distance", "monte_carlo_pi": "book.pi", "WorkerError": "parallel",
    "Particle": "book.simulator", "ParticleSimulator": "book.simulator", "visualize": "book.simulator",
}

# Modules that moved into the book's subpackage keep importing from their old path:
# ``import pytest_particles.physics`` gives the module object of ``pytest_particles.book.physics``.
_MOVED = {f"{__name__}.{name}": f"{__name__}.book.{name}"
          for name in ("evolution", "distance", "pi", "physics", "simulator", "examples")}

__all__ = ["KERNELS", "physics", *_NAMES]


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path and answers with the module at its new one (the same object)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in _MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(_MOVED[spec.name])
        spec.loader_state = (module.__spec__, module.__loader__)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # Already executed under its new name: give back the spec the import system just replaced.
        spec = module.__spec__
        assert spec is not None  # create_module's spec, which the import system set
        module.__spec__, module.__loader__ = spec.loader_state


sys.meta_path.append(_MovedModules())


def __getattr__(name: str) -> Any:
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
