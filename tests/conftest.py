import numpy as np
import pytest

import pytest_particles as pp


def system(n, seed=0, low=-1.0, high=1.0):
    """The book's distribution: x, y, ang_speed uniform in (low, high)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, (n, 2)), rng.uniform(low, high, n)


pytest_plugins = ["pytester"]

# Import every kernel module and optional package now, and compile the numba backends once: pytester's
# in-process runs forget the modules first imported inside them, and numba's cannot be imported twice.
for _record in (b for k in pp.kernels() for b in k.backends()):
    _record.refresh()
    assert isinstance(_record.reason, str)  # asking runs the availability check, which imports
if next(b for b in pp.backends("evolve") if b.name == "numba").available:
    pp.evolve([[1.0, 0.0]], [1.0], 1e-5, backend="numba")
    pp.distance_matrix([[0.0, 0.0], [1.0, 1.0]], backend="numba")
    pp.monte_carlo_pi(10, seed=0, backend="numba")


@pytest.fixture
def isolated_registry():
    """Undo backends registered during the test (pytester runs share this process's registry)."""
    saved = {kernel: dict(records) for kernel, records in pp.registry._backends.items()}
    yield
    for kernel, records in saved.items():
        pp.registry._backends[kernel].clear()
        pp.registry._backends[kernel].update(records)
