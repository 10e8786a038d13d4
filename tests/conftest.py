import numpy as np
import pytest

import pytest_particles as pp


def system(n, seed=0, low=-1.0, high=1.0):
    """The book's distribution: x, y, ang_speed uniform in (low, high)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, (n, 2)), rng.uniform(low, high, n)


def backend_params(kernel):
    """One pytest param per registered backend, skipped with its reason when unavailable."""
    return [
        pytest.param(b, id=b.name, marks=() if b.available else pytest.mark.skip(reason=b.reason))
        for b in pp.backends(kernel)
    ]
