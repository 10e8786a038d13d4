"""The book's kernels, declared through the entry-point group ``pytest_particles.kernels`` like any package's.

``pyproject.toml`` names :func:`declare` there; importing the kernel modules
declares evolve, distance_matrix and pi with their backends (and the
ipyparallel ones), exactly as a user's package declares its own.

- :mod:`.evolution`, :mod:`.distance`, :mod:`.pi`: the three kernels, every backend side by side;
- :mod:`.physics`: the reference physics that tells a right backend from a wrong one;
- :mod:`.simulator`: the book's object API (Particle, ParticleSimulator);
- :mod:`.examples`: the book's small examples;
- :mod:`.cluster`: the ipyparallel backends (over :mod:`pytest_particles.cluster`).
"""

import importlib

MODULES = ("evolution", "distance", "pi", "cluster")


def declare() -> None:
    """Declare the book's kernels and their backends (importing a module twice declares nothing twice)."""
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
