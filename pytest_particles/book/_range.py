"""Distances and radii without spurious overflow or underflow, shared by the distance and evolve backends."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def scaled_hypot(x: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
    """sqrt(x*x + y*y) elementwise as with an unbounded exponent range (x, y scaled by a power of two, exact).

    The same bits as the plain formula wherever that one loses nothing to underflow or
    overflow, and as the compiled kernels' fix-up (pp_hypot in src/_simd_kernels.h).
    """
    with np.errstate(over="ignore", under="ignore"):
        _, e = np.frexp(np.maximum(np.abs(x), np.abs(y)))
        x, y = np.ldexp(x, -e), np.ldexp(y, -e)
        return np.ldexp(np.sqrt(x * x + y * y), e)
