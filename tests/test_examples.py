"""The book's small examples: their results, and the asv micro-benchmarks that time them."""

import importlib.util
import math
import pstats
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pytest_particles import profiling
from pytest_particles.book import examples

ROOT = Path(__file__).resolve().parent.parent


def compiled(name):
    try:
        return examples.compiled(name)
    except ImportError as exc:
        pytest.skip(str(exc))


# --------------------------------------------------------------------------- taylor.py


def test_factorial():
    assert [examples.factorial(n) for n in range(6)] == [1.0, 1.0, 2.0, 6.0, 24.0, 120.0]
    assert examples.factorial(20) == float(math.factorial(20))
    assert examples.factorial(170) == pytest.approx(float(math.factorial(170)))
    assert examples.factorial(171) == math.inf  # a float, as in the book: no OverflowError
    with pytest.raises(ValueError, match="n must be a whole number >= 0; got -1"):
        examples.factorial(-1)
    with pytest.raises(ValueError, match=r"n must be a whole number >= 0; got 2\.5"):
        examples.factorial(2.5)


def test_taylor_series_give_exp_and_sin():
    exp = examples.taylor_exp(500)
    sin = examples.taylor_sin(500)
    assert len(exp) == len(sin) == 500
    assert exp[:4] == [1.0, 1.0, 0.5, pytest.approx(1 / 6)] and exp[-1] == 0.0  # 1/inf beyond 170!
    assert sin[:6] == [0.0, 1.0, 0.0, pytest.approx(-1 / 6), 0.0, pytest.approx(1 / 120)]
    for x in (-2.0, 0.5, 1.0, 3.0):
        assert sum(c * x**i for i, c in enumerate(exp[:60])) == pytest.approx(math.exp(x), rel=1e-12)
        assert sum(c * x**i for i, c in enumerate(sin[:60])) == pytest.approx(math.sin(x), abs=1e-12)
    assert examples.taylor_exp(0) == examples.taylor_sin(0) == []
    with pytest.raises(ValueError, match="n must be >= 0; got -3"):
        examples.taylor_exp(-3)
    with pytest.raises(TypeError, match="n must be an int; got str"):
        examples.taylor_sin("500")


def test_profiling_taylor_shows_the_recursion(tmp_path):
    """The book's lesson: cProfile of taylor_exp(500) is all factorial, 500 primitive calls, 125,250 in all."""
    result = profiling.profile_call(examples.taylor_exp, (500,), out_dir=tmp_path, name="taylor",
                                    line_functions=[examples.taylor_exp])
    stats = pstats.Stats(str(result.prof))
    (key,) = [k for k in stats.stats if k[2] == "factorial"]
    primitive, total = stats.stats[key][:2]
    assert (primitive, total) == (500, 500 * 501 // 2)
    assert "fn=factorial" in result.calltree.read_text()
    assert "Function: taylor_exp" in result.lines.read_text()
    assert result.peak_bytes > 500 * 8  # the list of 500 floats


# --------------------------------------------------------------------------- purepy.py


def test_counting_with_a_dict_and_with_counter_agree():
    items = examples.random_items(10_000)
    assert len(items) == 10_000 and min(items) == 0 and max(items) == 10
    assert items == examples.random_items(10_000)  # seeded
    by_dict = examples.count_with_dict(items)
    by_counter = examples.count_with_counter(items)
    assert isinstance(by_counter, Counter)
    assert by_dict == dict(by_counter) and sum(by_dict.values()) == 10_000
    assert examples.count_with_dict("abracadabra") == {"a": 5, "b": 2, "r": 2, "c": 1, "d": 1}


@pytest.mark.parametrize("n", [0, 1, 7, 100_000])
def test_sum_of_squares_three_ways(n):
    expected = (n - 1) * n * (2 * n - 1) // 6
    assert examples.sum_squares_loop(n) == examples.sum_squares_comprehension(n) == examples.sum_squares_generator(n) \
        == expected


# --------------------------------------------------------------------------- chebyshev (.pxd sharing)


def test_chebyshev_uses_the_shared_max():
    module = compiled("chebyshev")
    assert module.chebyshev(1, 2, 4, 0) == 3.0
    assert module.chebyshev(0.0, 0.0, -0.5, 0.25) == 0.5
    assert module.chebyshev(1.5, -2.0, 1.5, -2.0) == 0.0
    a, b = examples.chebyshev_points(100)
    expected = np.maximum(np.abs(a[:, None, 0] - b[None, :, 0]), np.abs(a[:, None, 1] - b[None, :, 1]))
    pairs = module.chebyshev_pairs(a, b)
    assert pairs.shape == (100, 100) and np.array_equal(pairs, expected)
    assert np.array_equal(module.nearest_chebyshev(a, b), expected.min(axis=1))  # the shared min
    assert examples.chebyshev_benchmark(a, b) == expected.max()
    with pytest.raises(ValueError, match="b must hold at least one point"):
        module.nearest_chebyshev(a, b[:0])
    with pytest.raises(ValueError, match="name must be 'chebyshev' or 'hello_parallel'"):
        examples.compiled("mathlib")
    # the definition file is shared by cimport: declared in the .pxd, no module of its own
    pxd = (ROOT / "src" / "_mathlib.pxd").read_text()
    assert "cdef inline double max(" in pxd and "cdef inline double min(" in pxd
    assert "from _mathlib cimport max, min" in (ROOT / "src" / "_chebyshev.pyx").read_text()
    assert importlib.util.find_spec("pytest_particles._mathlib") is None


def test_chebyshev_is_profiled_like_a_python_function(tmp_path):
    """The book's profile=True lesson: 100 x 100 calls from Python show up in cProfile."""
    compiled("chebyshev")
    a, b = examples.chebyshev_points(100)
    result = profiling.profile_call(examples.chebyshev_benchmark, (a, b), out_dir=tmp_path, name="cheb")
    stats = pstats.Stats(str(result.prof))
    (key,) = [k for k in stats.stats if k[2] == "chebyshev"]
    assert key[0].endswith("_chebyshev.pyx") and stats.stats[key][1] == 100 * 100


# --------------------------------------------------------------------------- hello_parallel.pyx


@pytest.mark.parametrize("n", [0, 1, 1001, 100_000])
def test_square_serial_and_parallel_agree(n):
    module = compiled("hello_parallel")
    x = np.random.default_rng(n).uniform(-10, 10, n)
    serial, parallel = module.square_serial(x), module.square_parallel(x)
    assert serial.dtype == parallel.dtype == np.float64
    assert np.array_equal(serial, x * x) and np.array_equal(parallel, serial)


def test_square_rejects_bad_input():
    module = compiled("hello_parallel")
    with pytest.raises(ValueError):  # a memoryview of float64 needs float64 data
        module.square_serial(np.arange(4, dtype=np.int64))
    with pytest.raises(ValueError):
        module.square_parallel(np.ones((2, 2))[:, 0])  # not contiguous


# --------------------------------------------------------------------------- the shared counter


def test_shared_counter_with_a_lock_counts_every_increment():
    assert examples.shared_counter(True) == 4000
    assert examples.shared_counter(True, processes=2, increments=10) == 20


def test_shared_counter_without_a_lock_never_counts_more():
    # an update may be lost (the book saw 2000-2500) or not, depending on scheduling: never assert it is
    assert 1 <= examples.shared_counter(False) <= 4000


@pytest.mark.parametrize("kwargs, error, message", [
    ({"lock": 1}, TypeError, "lock must be True or False; got 1"),
    ({"lock": True, "processes": 0}, ValueError, "processes must be a whole number >= 1; got 0"),
    ({"lock": True, "increments": 2.5}, ValueError, "increments must be a whole number >= 1; got 2.5"),
])
def test_shared_counter_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        examples.shared_counter(**kwargs)


# --------------------------------------------------------------------------- the asv micro-benchmarks


def benchmark_cases():
    """Every (class, method, params) of benchmarks/examples.py, with the smallest parameters."""
    spec = importlib.util.spec_from_file_location("asv_examples", ROOT / "benchmarks" / "examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = []
    for cls in vars(module).values():
        if not isinstance(cls, type) or cls.__module__ != module.__name__:
            continue
        params = cls.params if isinstance(cls.params, tuple) else (cls.params,)
        for combo in zip(*params):  # the first value of each, then the second...: every value once, few runs
            for name in dir(cls):
                if name.startswith(("time_", "track_")):
                    cases.append(pytest.param(cls, name, combo, id=f"{cls.__name__}.{name}{list(combo)}"))
    return cases


@pytest.mark.parametrize("cls, method, combo", benchmark_cases())
def test_asv_benchmark_runs(cls, method, combo):
    bench = cls()
    bench.setup(*combo)
    value = getattr(bench, method)(*combo)
    if method == "track_shared_counter":
        assert value == 4000 if combo[0] else 1 <= value <= 4000
    else:
        assert value is None
