"""A 3x3 box blur with three implementations: a pure-Python reference, NumPy slices, SciPy's convolve2d."""

from .kernels import blur_numpy, blur_python, blur_scipy

__all__ = ["blur_numpy", "blur_python", "blur_scipy"]
