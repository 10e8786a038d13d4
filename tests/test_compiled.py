"""The compiled layer cannot be misused: every def of src/*.pyx refuses a bad argument by name, never crashes.

The kernels run without bounds checks, so a bad call could read or write out of bounds.  Each
call is first made in a child process (a crash there is a failed test, not a dead pytest), and
only when it raised there is it repeated here under ``pytest.raises``.
"""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("pytest_particles._distance", reason="the compiled extensions are not built")

PRELUDE = """
import numpy as np
from pytest_particles import _analytic as A, _chebyshev as C, _distance as D, _evolve as E, _pi as P
from pytest_particles import _hello_parallel as H
r = np.random.default_rng(0).uniform(-1, 1, (5, 2))
xy = np.ascontiguousarray(r.T)
speeds = np.ones(5)
square = np.empty((5, 5))
generators = [np.random.PCG64(1), np.random.PCG64(2)]
counts = np.array([10, 20], dtype=np.int64)
keys = np.array([1, 3], dtype=np.uint64)


def readonly(a):
    a.setflags(write=False)
    return a


def unaligned(*shape):
    # a float64 view of a byte buffer at offset 1: Cython accepts it, the vector loops must not see it
    n = int(np.prod(shape))
    return np.frombuffer(bytearray(8 * n + 1), dtype=np.float64, count=n, offset=1).reshape(shape)
"""


MODULES = {"A": "_analytic", "C": "_chebyshev", "D": "_distance", "E": "_evolve", "H": "_hello_parallel", "P": "_pi"}


class Case(NamedTuple):
    argument: str  # the argument the message must name
    call: str  # Python code, run after PRELUDE: MODULE.function(...)
    error: type
    match: str  # regular expression the message must match

    @property
    def entry(self) -> str:
        """The entry point called, as module.function."""
        return f"{MODULES[self.call[0]]}.{self.call[2 : self.call.index('(')]}"


def bad(argument, call, match=None, error=ValueError):
    """A call that must raise ``error`` matching ``match`` (by default: naming ``argument``)."""
    return Case(argument, call, error, match or rf"\b{re.escape(argument)}\b")


def bad_type(argument, call, match=None):
    return bad(argument, call, match, TypeError)


CASES = [
    # _distance
    bad(
        "r",
        "D.c_distance_matrix(np.zeros(5), square)",
        r"r must be a C-contiguous float64 array with 2 dimensions; got float64 array of shape \(5,\)",
    ),
    bad("r", "D.c_distance_matrix(np.zeros((5, 3)), square)", r"r must have shape \(N, 2\); got shape \(5, 3\)"),
    bad("r", "D.c_distance_matrix(np.zeros((5, 1)), square)", r"r must have shape \(N, 2\)"),
    bad_type("r", "D.c_distance_matrix(None, square)", r"r must be .*; got NoneType"),
    bad_type("r", "D.c_distance_matrix('points', square)", r"r must be a C-contiguous float64 array"),
    bad("r", "D.c_distance_matrix(r.astype(np.int64), square)", r"r must be .*; got int64 array"),
    bad("r", "D.c_distance_matrix(np.zeros((10, 2))[::2], square)", r"r must be a C-contiguous"),
    bad("r", "D.c_distance_matrix(unaligned(5, 2), square)", r"r must be .* aligned to 8 bytes"),
    bad(
        "out",
        "D.c_distance_matrix(r, np.empty((5, 4)))",
        r"out must have shape \(N, N\) with N = 5 for the N points of r; got shape \(5, 4\)",
    ),
    bad("out", "D.c_distance_matrix(r, np.empty((4, 4)))", r"out must have shape \(N, N\) with N = 5"),
    bad(
        "out",
        "D.c_distance_matrix(r, np.empty(25))",
        r"out must be a writable C-contiguous float64 array with 2 dimensions",
    ),
    bad_type("out", "D.c_distance_matrix(r, None)"),
    bad("out", "D.c_distance_matrix(r, readonly(np.empty((5, 5))))", r"out must be a writable .*read-only"),
    bad("out", "D.c_distance_matrix(r, np.empty((5, 5), order='F'))", r"out must be a writable C-contiguous"),
    bad("out", "D.c_distance_matrix(r, np.empty((5, 5), dtype=np.float32))", r"out must be .*; got float32 array"),
    bad("out", "D.c_distance_matrix(r, unaligned(5, 5))", r"out must be .* aligned to 8 bytes"),
    bad("r", "D.omp_distance_matrix(np.zeros((5, 3)), square, 2)", r"r must have shape \(N, 2\)"),
    bad("out", "D.omp_distance_matrix(r, np.empty((6, 6)), 2)", r"out must have shape \(N, N\) with N = 5"),
    bad("workers", "D.omp_distance_matrix(r, square, 0)", r"workers must be an int from 1 to 2\*\*31 - 1; got 0"),
    bad("workers", "D.omp_distance_matrix(r, square, -4)", r"workers must be an int .*; got -4"),
    bad("workers", "D.omp_distance_matrix(r, square, 2**40)", r"workers must be an int .*; got 1099511627776"),
    bad_type("workers", "D.omp_distance_matrix(r, square, 1.5)", r"workers must be an int .*; got float 1.5"),
    bad_type("workers", "D.omp_distance_matrix(r, square, None)"),
    bad("xy", "D.blocked_distance_matrix(r, square, 2)", r"xy must have shape \(2, N\); got shape \(5, 2\)"),
    bad(
        "xy", "D.blocked_distance_matrix(xy[:1].copy(), square, 2)", r"xy must have shape \(2, N\); got shape \(1, 5\)"
    ),
    bad(
        "xy",
        "D.blocked_distance_matrix(xy[0].copy(), square, 2)",
        r"xy must be a C-contiguous float64 array with 2 dimensions",
    ),
    bad(
        "out",
        "D.blocked_distance_matrix(xy, np.empty((5, 6)), 2)",
        r"out must have shape \(N, N\) with N = 5 for the N points of xy",
    ),
    bad("workers", "D.blocked_distance_matrix(xy, square, 0)"),
    bad(
        "start",
        "D.distance_rows(xy, 4, np.empty((2, 5)), 1)",
        r"start must be an int from 0 to N - M = 3 \(out holds M = 2 of the N = 5 rows\); got 4",
    ),
    bad("start", "D.distance_rows(xy, -1, np.empty((2, 5)), 1)", r"start must be an int >= 0; got -1"),
    bad(
        "start",
        "D.distance_rows(xy, 2**70, np.empty((2, 5)), 1)",
        r"start must be an int >= 0; got 1180591620717411303424",
    ),
    bad_type("start", "D.distance_rows(xy, 1.0, np.empty((2, 5)), 1)", r"start must be an int >= 0; got float"),
    bad("out", "D.distance_rows(xy, 0, np.empty((6, 5)), 1)", r"out must have shape \(M, N\) with M <= N = 5"),
    bad("out", "D.distance_rows(xy, 0, np.empty((2, 4)), 1)", r"out must have shape \(M, N\) with N = 5"),
    bad(
        "out",
        "D.distance_rows(xy, 0, np.empty(5), 1)",
        r"out must be a writable C-contiguous float64 array with 2 dimensions",
    ),
    bad("xy", "D.distance_rows(r, 0, np.empty((1, 2)), 1)", r"xy must have shape \(2, N\)"),
    bad("workers", "D.distance_rows(xy, 0, np.empty((2, 5)), 0)"),
    bad(
        "out",
        "D.nearest_neighbor_distances(xy, np.empty(4), 1)",
        r"out must have shape \(N,\) with N = 5 for the N points of xy; got shape \(4,\)",
    ),
    bad(
        "out",
        "D.nearest_neighbor_distances(xy, np.empty((5, 1)), 1)",
        r"out must be a writable contiguous float64 array with 1 dimension",
    ),
    bad("out", "D.nearest_neighbor_distances(xy, readonly(np.empty(5)), 1)", r"out must be a writable"),
    bad("xy", "D.nearest_neighbor_distances(np.zeros((3, 5)), np.empty(5), 1)", r"xy must have shape \(2, N\)"),
    bad("workers", "D.nearest_neighbor_distances(xy, np.empty(5), 0)"),
    # _evolve (omp_evolve divides by workers)
    bad("r", "E.c_evolve(np.zeros((5, 3)), speeds, 0.1, 1)", r"r must have shape \(N, 2\); got shape \(5, 3\)"),
    bad("r", "E.c_evolve(readonly(r.copy()), speeds, 0.1, 1)", r"r must be a writable .*read-only"),
    bad("r", "E.c_evolve(r.T, speeds, 0.1, 1)", r"r must be a writable C-contiguous"),
    bad_type("r", "E.c_evolve(None, speeds, 0.1, 1)"),
    bad(
        "ang_speed",
        "E.c_evolve(r.copy(), np.ones(4), 0.1, 1)",
        r"ang_speed must have shape \(N,\) with N = 5, one per row of r; got shape \(4,\)",
    ),
    bad(
        "ang_speed",
        "E.c_evolve(r.copy(), np.ones((5, 1)), 0.1, 1)",
        r"ang_speed must be a contiguous float64 array with 1 dimension",
    ),
    bad_type("ang_speed", "E.c_evolve(r.copy(), None, 0.1, 1)"),
    bad("ang_speed", "E.c_evolve(r.copy(), np.ones(10)[::2], 0.1, 1)", r"ang_speed must be a contiguous"),
    bad_type("timestep", "E.c_evolve(r.copy(), speeds, '0.1', 1)", r"timestep must be a real number; got str"),
    bad("nsteps", "E.c_evolve(r.copy(), speeds, 0.1, -1)", r"nsteps must be an int >= 0; got -1"),
    bad_type("nsteps", "E.c_evolve(r.copy(), speeds, 0.1, 2.0)", r"nsteps must be an int >= 0; got float"),
    bad("nsteps", "E.c_evolve(r.copy(), speeds, 0.1, 2**64)", r"nsteps must be an int >= 0"),
    bad("workers", "E.omp_evolve(r.copy(), speeds, 0.1, 1, 0)", r"workers must be an int from 1 to 2\*\*31 - 1; got 0"),
    bad("workers", "E.omp_evolve(r.copy(), speeds, 0.1, 1, -1)"),
    bad("ang_speed", "E.omp_evolve(r.copy(), np.ones(6), 0.1, 1, 2)", r"ang_speed must have shape \(N,\) with N = 5"),
    bad(
        "r",
        "E.omp_evolve(np.zeros(10), speeds, 0.1, 1, 2)",
        r"r must be a writable C-contiguous float64 array with 2 dimensions",
    ),
    bad("nsteps", "E.omp_evolve(r.copy(), speeds, 0.1, -5, 2)", r"nsteps must be an int >= 0; got -5"),
    bad_type("timestep", "E.omp_evolve(r.copy(), speeds, None, 1, 2)", r"timestep must be a real number"),
    # _analytic
    bad("r", "A.c_analytic(np.zeros((5, 4)), speeds, 0.1, 1)", r"r must have shape \(N, 2\)"),
    bad("ang_speed", "A.c_analytic(r.copy(), np.ones(2), 0.1, 1)", r"ang_speed must have shape \(N,\) with N = 5"),
    bad_type("timestep", "A.c_analytic(r.copy(), speeds, 'x', 1)"),
    bad("nsteps", "A.c_analytic(r.copy(), speeds, 0.1, -1)", r"nsteps must be an int from 0 to 2\*\*62; got -1"),
    bad("nsteps", "A.c_analytic(r.copy(), speeds, 0.1, 2**62 + 1)", r"nsteps must be an int from 0 to 2\*\*62"),
    bad("workers", "A.c_analytic(r.copy(), speeds, 0.1, 1, 0)", r"workers must be an int .*; got 0"),
    bad("a", "A.turn(-1.0, 3)", r"a must be a number >= 0; got -1.0"),
    bad_type("a", "A.turn('1', 3)", r"a must be a real number; got str"),
    bad("n", "A.turn(1.0, -3)", r"n must be an int from 0 to 2\*\*62; got -3"),
    bad_type("n", "A.turn(1.0, 3.0)", r"n must be an int from 0 to 2\*\*62; got float"),
    # _pi
    bad(
        "counts",
        "P.c_count_hits(generators, counts[:1].copy())",
        r"counts must have shape \(S,\) with S = 2, one per bit generator; got shape \(1,\)",
    ),
    bad("counts", "P.c_count_hits(generators[:1], counts)", r"counts must have shape \(S,\) with S = 1"),
    bad(
        "counts",
        "P.c_count_hits(generators, counts.astype(np.int32))",
        r"counts must be a contiguous int64 array with 1 dimension; got int32",
    ),
    bad_type("counts", "P.c_count_hits(generators, None)"),
    bad_type(
        "bit_generators",
        "P.c_count_hits(tuple(generators), counts)",
        r"'bit_generators' has incorrect type \(expected list, got tuple\)",
    ),
    bad_type("bit_generators", "P.c_count_hits(None, counts)", r"'bit_generators' has incorrect type"),
    bad_type(
        "bit_generators",
        "P.c_count_hits([generators[0], 'pcg'], counts)",
        r"bit_generators\[1\] must be a numpy BitGenerator such as numpy.random.PCG64; got str",
    ),
    bad_type(
        "bit_generators",
        "P.c_count_hits([np.random.default_rng(1), generators[1]], counts)",
        r"bit_generators\[0\] must be a numpy BitGenerator",
    ),
    bad("workers", "P.omp_count_hits(generators, counts, 0)", r"workers must be an int .*; got 0"),
    bad(
        "counts",
        "P.omp_count_hits(generators, np.ones(3, dtype=np.int64), 2)",
        r"counts must have shape \(S,\) with S = 2",
    ),
    bad_type(
        "bit_generators", "P.omp_count_hits([1, 2], counts, 2)", r"bit_generators\[0\] must be a numpy BitGenerator"
    ),
    bad(
        "gammas",
        "P.splitmix_count_hits(keys, keys[:1].copy(), counts, 1)",
        r"gammas must have shape \(S,\) with S = 2, one per seed; got shape \(1,\)",
    ),
    bad(
        "counts",
        "P.splitmix_count_hits(keys, keys, np.ones(3, dtype=np.int64), 1)",
        r"counts must have shape \(S,\) with S = 2, one per seed; got shape \(3,\)",
    ),
    bad(
        "seeds",
        "P.splitmix_count_hits(keys.astype(np.int64), keys, counts, 1)",
        r"seeds must be a contiguous uint64 array with 1 dimension; got int64",
    ),
    bad_type("gammas", "P.splitmix_count_hits(keys, None, counts, 1)"),
    bad("workers", "P.splitmix_count_hits(keys, keys, counts, 0)", r"workers must be an int .*; got 0"),
    bad("seed", "P.splitmix_uniforms(-1, 3, 0, np.empty(4))", r"seed must be an int from 0 to 2\*\*64 - 1; got -1"),
    bad(
        "gamma",
        "P.splitmix_uniforms(1, 2**64, 0, np.empty(4))",
        r"gamma must be an int from 0 to 2\*\*64 - 1; got 18446744073709551616",
    ),
    bad_type(
        "start",
        "P.splitmix_uniforms(1, 3, 'zero', np.empty(4))",
        r"start must be an int from 0 to 2\*\*64 - 1; got str",
    ),
    bad_type("out", "P.splitmix_uniforms(1, 3, 0, None)", r"out must be a writable contiguous float64 array"),
    bad(
        "out",
        "P.splitmix_uniforms(1, 3, 0, np.empty((2, 2)))",
        r"out must be a writable contiguous float64 array with 1 dimension",
    ),
    bad("out", "P.splitmix_uniforms(1, 3, 0, readonly(np.empty(4)))", r"out must be a writable .*read-only"),
    # _chebyshev: the two loops check their points; the scalar chebyshev takes C doubles (the book's
    # per-call lesson: it has nothing to index, and Cython's own TypeError refuses a non-number)
    bad("a", "C.chebyshev_pairs(np.zeros((3, 1)), r)", r"a must have shape \(N, 2\); got shape \(3, 1\)"),
    bad("b", "C.chebyshev_pairs(r, np.zeros((3, 3)))", r"b must have shape \(N, 2\); got shape \(3, 3\)"),
    bad_type("a", "C.chebyshev_pairs(None, r)"),
    bad("b", "C.chebyshev_pairs(r, r.ravel())", r"b must be a C-contiguous float64 array with 2 dimensions"),
    bad("b", "C.nearest_chebyshev(r, r[:0])", r"b must hold at least one point; got shape \(0, 2\)"),
    bad("a", "C.nearest_chebyshev(np.zeros(4), r)", r"a must be a C-contiguous float64 array with 2 dimensions"),
    bad("b", "C.nearest_chebyshev(r, np.zeros((4, 1)))", r"b must have shape \(N, 2\)"),
    bad_type("x1", "C.chebyshev('x', 0.0, 0.0, 0.0)", r"must be real number, not str"),
    # _hello_parallel
    bad("inp", "H.square_serial(np.arange(4))", r"inp must be a contiguous float64 array with 1 dimension; got int64"),
    bad_type("inp", "H.square_serial(None)"),
    bad("inp", "H.square_parallel(np.ones((2, 2))[:, 0])", r"inp must be a contiguous"),
    bad("inp", "H.square_parallel(unaligned(4))", r"inp must be .* aligned to 8 bytes"),
]


# What the Python backends pass, and the edges (no points, no rows left, more threads than cores): accepted.
ACCEPTED = [
    # a million threads asked of a direct call: clamped to the processors (it killed the interpreter before)
    "D.omp_distance_matrix(r, square, 10**6)",
    "D.blocked_distance_matrix(xy, square, 10**6)",
    "D.distance_rows(xy, 0, np.empty((2, 5)), 10**6)",
    "D.nearest_neighbor_distances(xy, np.empty(5), 10**6)",
    "E.omp_evolve(r.copy(), speeds, 0.1, 10, 10**6)",
    "A.c_analytic(r.copy(), speeds, 0.1, 10, 10**6)",
    "P.omp_count_hits(generators, counts, 10**6)",
    "P.splitmix_count_hits(keys, keys, counts, 10**6)",
    "D.c_distance_matrix(np.empty((0, 2)), np.empty((0, 0)))",
    "D.omp_distance_matrix(np.empty((0, 2)), np.empty((0, 0)), 3)",
    "D.blocked_distance_matrix(np.empty((2, 0)), np.empty((0, 0)), 3)",
    "D.distance_rows(np.empty((2, 0)), 0, np.empty((0, 0)), 3)",
    "D.distance_rows(xy, 5, np.empty((0, 5)), 3)",
    "D.distance_rows(xy, 3, np.empty((2, 5)), 3)",
    "D.nearest_neighbor_distances(np.empty((2, 0)), np.empty(0), 3)",
    "D.omp_distance_matrix(r, square, True)",
    "E.c_evolve(np.empty((0, 2)), np.empty(0), 0.1, 3)",
    "E.omp_evolve(np.empty((0, 2)), np.empty(0), 0.1, 3, 7)",
    "E.omp_evolve(r.copy(), speeds, np.float32(0.1), np.int64(0), np.int32(7))",
    "A.c_analytic(np.empty((0, 2)), np.empty(0), 0.1, 3, 7)",
    "A.c_analytic(r.copy(), speeds, 0.1, 2**62)",
    "P.c_count_hits([], np.empty(0, dtype=np.int64))",
    "P.omp_count_hits([], np.empty(0, dtype=np.int64), 3)",
    "P.splitmix_count_hits(np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64), 3)",
    "P.splitmix_uniforms(2**64 - 1, 2**64 - 1, 2**64 - 1, np.empty(0))",
    "C.chebyshev_pairs(np.empty((0, 2)), np.empty((0, 2)))",
    "C.nearest_chebyshev(np.empty((0, 2)), r)",
    "H.square_serial(np.empty(0))",
    "H.square_parallel(readonly(np.ones(3)))",
]

RUNNER = """
import json, sys
job = json.loads(sys.stdin.read())
namespace = {}
exec(job["prelude"], namespace)
for i in range(job["start"], len(job["calls"])):
    print("START", i, flush=True)
    try:
        exec(job["calls"][i], dict(namespace))
        result = {"i": i, "error": None, "message": ""}
    except Exception as exc:
        result = {"i": i, "error": type(exc).__name__, "message": str(exc)}
    print("RESULT", json.dumps(result), flush=True)
"""


def _in_children(calls: list[str]) -> dict[int, dict]:
    """Each call's outcome in a child process; one that kills its child is recorded and the rest run in a new one."""
    outcomes, start = {}, 0
    while start < len(calls):
        job = json.dumps({"prelude": PRELUDE, "calls": calls, "start": start})
        done = subprocess.run([sys.executable, "-c", RUNNER], input=job, capture_output=True, text=True, timeout=600)
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
                outcomes[result["i"]] = result
        start = max(outcomes, default=start - 1) + 1
        if done.returncode != 0 and start < len(calls):  # the call after the last result killed the child
            outcomes[start] = {"i": start, "crash": done.returncode, "stderr": done.stderr[-2000:]}
            start += 1
        elif done.returncode != 0:
            raise AssertionError(f"the child failed after its last call: {done.stderr[-2000:]}")
    return outcomes


@pytest.fixture(scope="module")
def outcomes() -> dict[int, dict]:
    return _in_children([case.call for case in CASES] + ACCEPTED)


def _case_id(case: Case) -> str:
    return f"{case.entry}-{case.argument}-{case.call.split('(', 1)[1][:40]}"


@pytest.mark.parametrize("index", range(len(CASES)), ids=[_case_id(case) for case in CASES])
def test_bad_argument_is_refused_by_name(outcomes, index):
    case = CASES[index]
    got = outcomes[index]
    assert "crash" not in got, f"{case.call} killed the process (exit {got['crash']}): {got['stderr']}"
    assert got["error"] == case.error.__name__, f"{case.call} gave {got['error']}: {got['message']}"
    assert re.search(case.match, got["message"]), got["message"]
    if case.entry != "_chebyshev.chebyshev":
        assert case.argument in got["message"]
    # it raised in the child, so it is safe here: the same refusal in this process
    namespace: dict = {}
    exec(PRELUDE, namespace)
    with pytest.raises(case.error, match=case.match):
        exec(case.call, namespace)


@pytest.mark.parametrize("index", range(len(ACCEPTED)), ids=ACCEPTED)
def test_edge_arguments_are_accepted(outcomes, index):
    got = outcomes[len(CASES) + index]
    assert "crash" not in got, f"{ACCEPTED[index]} killed the process (exit {got['crash']}): {got['stderr']}"
    assert got["error"] is None, f"{ACCEPTED[index]}: {got['error']}: {got['message']}"


def _entry_points() -> list[str]:
    """Every def (Python-visible function) of src/*.pyx, as module.function."""
    found = []
    for source in sorted((ROOT / "src").glob("*.pyx")):
        found += [f"{source.stem}.{name}" for name in re.findall(r"^def (\w+)\(", source.read_text(), re.MULTILINE)]
    return found


def test_every_entry_point_has_bad_argument_cases():
    tested = {case.entry for case in CASES}
    assert len(_entry_points()) >= 18
    assert [entry for entry in _entry_points() if entry not in tested] == []


def test_every_argument_of_an_array_or_count_entry_point_is_checked():
    """Each argument of each def (but the scalar chebyshev's doubles) has at least one refusal above."""
    checked = {(case.entry, case.argument) for case in CASES}
    for source in sorted((ROOT / "src").glob("*.pyx")):
        for name, params in re.findall(r"^def (\w+)\(([^)]*)\)", source.read_text(), re.MULTILINE):
            if name == "chebyshev":
                continue
            for param in params.split(","):
                argument = param.replace(" not None", "").split("=")[0].split()[-1]
                assert (f"{source.stem}.{name}", argument) in checked, f"{source.stem}.{name}({argument})"


def test_directives_live_in_each_pyx_header():
    """The loops run unchecked: each .pyx says so in its own first line; setup.py holds no directives."""
    for source in sorted((ROOT / "src").glob("*.pyx")):
        first = source.read_text().splitlines()[0]
        assert first.startswith("# cython: "), source.name
        directives = dict(item.strip().split("=") for item in first[len("# cython: ") :].split(","))
        assert directives == {
            "language_level": "3",
            "boundscheck": "False",
            "wraparound": "False",
            "cdivision": "True",
            "initializedcheck": "False",
        }, source.name
    assert "DIRECTIVES" not in (ROOT / "setup.py").read_text()
