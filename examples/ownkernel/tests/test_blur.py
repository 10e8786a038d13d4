"""Every backend of ``blur`` checked against the reference, and benchmarked side by side."""

import numpy as np
import pytest

import pytest_particles as pp


@pytest.mark.kernel("blur")
def test_every_backend_matches_the_reference(backend, kernel_case, benchmark):
    result = benchmark(backend, *kernel_case.args)
    kernel_case.check(result)


@pytest.mark.kernel("blur", sizes=[3, 7])
def test_smallest_images(backend, kernel_case):
    kernel_case.check(backend(*kernel_case.args))


def test_the_door_refuses_bad_images():
    with pytest.raises(ValueError, match=r"image must have shape \(n, m\) with n, m >= 3; got shape \(2, 5\)"):
        pp.kernel("blur")(np.zeros((2, 5)))
    with pytest.raises(TypeError, match="image must hold real numbers"):
        pp.kernel("blur")(np.array([["a"] * 3] * 3))


def test_default_backend_is_the_fastest_declared():
    assert pp.registry.lookup("blur", None).name == "scipy"
    assert [b.name for b in pp.backends("blur")] == ["scipy", "numpy", "python"]
