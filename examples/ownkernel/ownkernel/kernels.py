"""The kernel ``blur``: the mean of each pixel's 3x3 neighbourhood, for the pixels that have one.

``image`` (n, m) float64 with n, m >= 3 gives (n - 2, m - 2).
"""

import numpy as np


def blur_python(image):
    """The reference: two loops over the output, nine additions per pixel."""
    rows = image.tolist()
    n, m = len(rows), len(rows[0])
    out = [[sum(rows[i + di][j + dj] for di in range(3) for dj in range(3)) / 9.0 for j in range(m - 2)]
           for i in range(n - 2)]
    return np.array(out, dtype=np.float64).reshape(n - 2, m - 2)


def blur_numpy(image):
    """Nine shifted views added up: one pass over the image per neighbour."""
    n, m = image.shape
    total = np.zeros((n - 2, m - 2))
    for di in range(3):
        for dj in range(3):
            total += image[di:di + n - 2, dj:dj + m - 2]
    return total / 9.0


def blur_scipy(image):
    """SciPy's own 2-D convolution with a 3x3 box, on the valid region."""
    from scipy.signal import convolve2d

    return convolve2d(image, np.full((3, 3), 1.0 / 9.0), mode="valid")


def validate(image):
    """The door: a 2-D array of real numbers, at least 3 x 3."""
    array = np.asarray(image)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"image must hold real numbers; got dtype {array.dtype}")
    if array.ndim != 2 or min(array.shape) < 3:
        raise ValueError(f"image must have shape (n, m) with n, m >= 3; got shape {array.shape}")


def inputs(size, rng):
    """One case: a size x size image of uniform noise."""
    return (rng.random((size, size)),)


def check(result, image):
    """A mean never leaves the range of what it averages."""
    low, high = float(image.min()), float(image.max())
    outside = np.flatnonzero((result < low - 1e-12) | (result > high + 1e-12))
    assert outside.size == 0, (f"pixel {np.unravel_index(outside[0], result.shape)} = {result.flat[outside[0]]} "
                               f"is outside the image's range [{low}, {high}]")


def declare():
    """Declare the kernel and its backends (the ``pytest_particles.kernels`` entry point calls this)."""
    import pytest_particles as pp

    pp.register_kernel("blur", inputs=inputs, reference="python", check=check, rtol=1e-12, atol=1e-12,
                       work=lambda size: size * size, work_unit="pixels", sizes=(32, 128, 512), validate=validate)
    pp.register_backend("blur", "python", blur_python)
    pp.register_backend("blur", "numpy", blur_numpy, priority=10)
    pp.register_backend("blur", "scipy", blur_scipy, priority=20)
