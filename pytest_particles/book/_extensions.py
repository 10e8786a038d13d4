"""The compiled modules built from src/, and why a backend may not be able to use them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType


class Extension:
    """A private compiled module of pytest_particles, or the reason it is missing."""

    def __init__(self, name: str) -> None:
        self.name = f"pytest_particles.{name}"
        self.module: ModuleType | None
        try:
            self.module = importlib.import_module(self.name)
            self.reason = ""
        except ImportError as exc:
            self.module = None
            self.reason = f"compiled extension {self.name} is not built ({exc}); reinstall with pip install ."

    def check(self) -> bool | str:
        """Availability check for serial compiled backends."""
        return self.reason or True

    def openmp_check(self) -> bool | str:
        """Availability check for OpenMP backends."""
        if self.module is None:
            return self.reason
        if not self.module.OPENMP:
            return (
                f"{self.name} was built without OpenMP (the compiler did not accept -fopenmp at build time, "
                "or PYTEST_PARTICLES_NO_OPENMP was set)"
            )
        return True


def module_check(name: str) -> Callable[[], bool | str]:
    """Availability check for a backend that needs the Python package ``name``."""

    def check() -> bool | str:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"{name} is not installed ({exc})"
        return True

    return check


def openmp_built() -> bool:
    """True when the compiled kernels were built with OpenMP (False when not, or not built)."""
    return bool(getattr(Extension("_evolve").module, "OPENMP", False))


def clones_built() -> bool:
    """True when the compiled kernels' loops were built as target_clones (one per CPU level, picked at load)."""
    return bool(getattr(Extension("_evolve").module, "CPU_CLONES", False))
