"""Shared pieces of the hand-written asv benchmarks (the kernels' own come from pytest_particles.asv).

Benchmarks are discovered once (at the newest commit) and run at every
commit asked for; a backend that a commit does not have, or cannot run on
this machine, is skipped by raising NotImplementedError in ``setup``.
Set ASV_SKIP_SLOW=1 to skip the largest size of each kernel.
"""

import functools
import os

import numpy as np

try:
    import pytest_particles as pp
except ImportError:  # discovery outside an environment with the project
    pp = None

SEED = 2013
TIMESTEP = 1e-5
SKIP_SLOW = os.environ.get("ASV_SKIP_SLOW", "") not in ("", "0")

def require(kernel, name, work=0, largest=False):
    """Raise NotImplementedError (asv: skipped) when this cell cannot or should not run here."""
    if pp is None:
        raise NotImplementedError("pytest_particles is not installed")
    record = {b.name: b for b in pp.backends(kernel)}.get(name)
    if record is None:
        raise NotImplementedError(f"no {kernel} backend {name!r} at this commit")
    if not record.available:
        raise NotImplementedError(record.reason)
    if getattr(record, "too_costly", None) and record.too_costly(work):  # the backend's declared max_work
        raise NotImplementedError(record.too_costly(work))
    if largest and SKIP_SLOW:
        raise NotImplementedError("ASV_SKIP_SLOW is set")
    return record


@functools.cache
def particles(n):
    """The book's system: n particles, x, y and ang_speed uniform in (-1, 1), fixed seed (read-only)."""
    rng = np.random.default_rng(SEED)
    r = rng.uniform(-1.0, 1.0, (n, 2))
    ang_speed = rng.uniform(-1.0, 1.0, n)
    r.flags.writeable = ang_speed.flags.writeable = False
    return r, ang_speed
