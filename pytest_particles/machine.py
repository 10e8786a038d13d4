"""The facts of this machine and build that a timing needs to be read later, recorded one way everywhere.

pytest-benchmark's own machine record (``pytest_benchmark_generate_machine_info``:
node, CPU, Python, system) plus what it cannot know: the CPU path the compiled
kernels run (the ``target_clones`` clone the loader picks), whether OpenMP is
on, and the cores this process may use.  The plugin adds :func:`facts` to
pytest-benchmark's record through ``pytest_benchmark_update_machine_info``;
``pytest-particles bench --json`` writes :func:`machine_info`.
"""

from __future__ import annotations

import datetime
import os
import platform

from . import __version__

# x86-64 micro-architecture levels, as GCC's target_clones resolver tests them (highest first).
LEVELS = (
    ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
    ("x86-64-v3", {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}),
)


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def cpu_path(clones: bool = True) -> str:
    """The ISA level the compiled kernels run at on this CPU: the clone the loader picks ("x86-64-v3", ...),
    "portable" for a build without target_clones, the machine's name off x86-64."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return platform.machine()
    if not clones:
        return "portable (built without target_clones)"
    flags = cpu_flags()
    return next((name for name, needed in LEVELS if needed <= flags), "x86-64")


def facts() -> dict:
    """pytest-particles' facts of this machine and build (the part pytest-benchmark's record lacks)."""
    import numpy as np

    from . import validation
    from .book import _extensions

    return {
        "version": __version__,
        "numpy_version": np.__version__,
        "cpu_path": cpu_path(_extensions.clones_built()),
        "openmp": _extensions.openmp_built(),
        "cpu_affinity": validation.available_cores(),
    }


def machine_info() -> dict:
    """pytest-benchmark's machine record, with :func:`facts`, the core count and the date beside its keys."""
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info

    info = pytest_benchmark_generate_machine_info()
    info.update(facts(), cpu_count=os.cpu_count(),
                date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    return info
