"""The book's small examples as micro-benchmarks (pytest_particles.examples and the compiled ones)."""

import numpy as np

try:
    from pytest_particles import examples
except ImportError:  # discovery outside an environment with the project, or a commit without examples
    examples = None


def _require(compiled=None):
    """Raise NotImplementedError (asv: skipped) when the examples (or a compiled one) are missing here."""
    if examples is None:
        raise NotImplementedError("pytest_particles.examples does not exist at this commit")
    if compiled is not None:
        try:
            return examples.compiled(compiled)
        except ImportError as exc:
            raise NotImplementedError(str(exc)) from None
    return None


class TimeTaylor:
    """taylor.py, the book's profiling example, at n = 500."""

    params = [500]
    param_names = ["n"]

    def setup(self, n):
        _require()

    def time_taylor_exp(self, n):
        examples.taylor_exp(n)

    def time_taylor_sin(self, n):
        examples.taylor_sin(n)


class TimeCounting:
    """purepy.py: Counter against a dict loop, 10,000 ints in [0, 10]."""

    params = ["dict", "Counter"]
    param_names = ["method"]

    def setup(self, method):
        _require()
        self.items = examples.random_items(10_000)
        self.count = examples.count_with_counter if method == "Counter" else examples.count_with_dict

    def time_count(self, method):
        self.count(self.items)


class TimeSumSquares:
    """purepy.py: sum of squares of range(100000) by loop, list comprehension or generator."""

    params = ["loop", "comprehension", "generator"]
    param_names = ["method"]

    def setup(self, method):
        _require()
        self.sum_squares = getattr(examples, f"sum_squares_{method}")

    def time_sum_squares(self, method):
        self.sum_squares(100_000)


class TimeChebyshev:
    """chebyshev over 100 x 100 pairs: called from Python per pair, or one compiled loop."""

    params = ["python_calls", "compiled_loop"]
    param_names = ["method"]

    def setup(self, method):
        self.module = _require("chebyshev")
        self.a, self.b = examples.chebyshev_points(100)

    def time_chebyshev(self, method):
        if method == "python_calls":
            examples.chebyshev_benchmark(self.a, self.b)
        else:
            self.module.chebyshev_pairs(self.a, self.b)


class TimeSquare:
    """hello_parallel.pyx: square_serial against square_parallel (OpenMP prange)."""

    params = (["serial", "parallel"], [10_000, 1_000_000])
    param_names = ["method", "elements"]

    def setup(self, method, n):
        module = _require("hello_parallel")
        self.square = getattr(module, f"square_{method}")
        self.x = np.random.default_rng(2013).random(n)

    def time_square(self, method, n):
        self.square(self.x)


class SharedCounter:
    """4 processes x 1000 increments of one multiprocessing.Value, with and without a Lock.

    Only the count is tracked: the time is process start-up, not the lesson.
    """

    params = [True, False]
    param_names = ["lock"]
    timeout = 120

    def setup(self, lock):
        _require()

    def track_shared_counter(self, lock):
        """The final count: 4000 with the lock; up to 4000 without it (updates lost to the race)."""
        return examples.shared_counter(lock)

    track_shared_counter.unit = "increments"
