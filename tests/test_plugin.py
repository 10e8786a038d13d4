"""The pytest plugin, tested as users run it: through pytester, the real entry point and pytest-benchmark."""

import importlib.util
import json
import os
import platform

import pytest

import pytest_particles as pp

pytestmark = pytest.mark.usefixtures("isolated_registry")

THIRD_PARTY_CONFTEST = """
import numpy as np
import pytest_particles as pp

@pp.register_backend("evolve", "mine")
def evolve_mine(r, ang_speed, timestep, nsteps):
    t = (timestep * ang_speed)[:, None]
    for _ in range(nsteps):
        norm = np.hypot(r[:, 0], r[:, 1])[:, None]
        r += t * np.column_stack([-r[:, 1], r[:, 0]]) / norm

@pp.register_backend("evolve", "wrong")
def evolve_wrong(r, ang_speed, timestep, nsteps):
    # a classic bug: y is updated from the new x
    for _ in range(nsteps):
        norm = np.hypot(r[:, 0], r[:, 1])
        r[:, 0] -= timestep * ang_speed * r[:, 1] / norm
        r[:, 1] += timestep * ang_speed * r[:, 0] / norm
"""

PHYSICS_TEST = """
import pytest

@pytest.mark.kernel("evolve", backends=["mine", "wrong", "cython"], sizes=[10, 50])
def test_evolve(backend, size, particle_system, assert_physics, benchmark):
    r, ang_speed = particle_system(size, seed=1)
    result = benchmark(backend, r, ang_speed, 0.001)
    assert_physics.evolve(result, r, ang_speed, 0.001)
"""


def test_registered_through_pytest11_and_help_group(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["*pytest-particles: check and benchmark every backend of a kernel*", "*--particles-backends=NAMES*",
         "*--particles-sizes=SIZES*", "*particles_backends*", "*particles_sizes*"]
    )
    markers = pytester.runpytest("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.kernel(name, backends=None, sizes=None):*"])


def test_parametrizes_every_backend_with_readable_ids(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.kernel("distance_matrix", sizes=[3, 20])
        def test_distances(backend, size, particle_system, assert_physics):
            r, _ = particle_system(size)
            assert_physics.distance_matrix(backend(r), r)
        """
    )
    result = pytester.runpytest("-v", "--strict-markers", "-p", "no:cacheprovider")
    records = pp.backends("distance_matrix")
    lines = [f"*test_distances[[]{b.name}-3[]] {'PASSED' if b.available else 'SKIPPED'}*" for b in records]
    result.stdout.fnmatch_lines(lines, consecutive=False)
    available = sum(b.available for b in records)
    result.assert_outcomes(passed=2 * available, skipped=2 * (len(records) - available))


def test_without_sizes_ids_are_backend_names(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.kernel("pi", backends=["numpy", "cython"])
        def test_pi(backend, assert_physics):
            assert_physics.pi(backend(100_000, seed=1), 100_000)
        """
    )
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["*test_pi[[]numpy[]] PASSED*", "*test_pi[[]cython[]] PASSED*"])


def test_unavailable_backend_is_skipped_with_its_reason(pytester):
    pytester.makeconftest(
        """
        import pytest_particles as pp
        pp.register_backend("pi", "gpu", lambda samples, seed_sequence: 0, check=lambda: "no GPU on this machine")
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.kernel("pi", backends=["gpu", "numpy"])
        def test_pi(backend):
            assert backend(10, seed=1) >= 0
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*pi backend 'gpu' is not available: no GPU on this machine*"])
    header = pytester.runpytest("--co", "-q", "-p", "no:randomly")
    assert header.ret == 0


def test_report_header_says_what_is_available(pytester):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["particles evolve: *cython*", "particles distance_matrix: *", "particles pi: *"])


@pytest.mark.parametrize(
    "marker, message",
    [
        ('"evolve", backends=["numpy", "fortran"]',
         "*@pytest.mark.kernel('evolve'): unknown evolve backend 'fortran'.*"),
        ('"simul"', "*@pytest.mark.kernel: unknown kernel 'simul'; use one of evolve, distance_matrix, pi*"),
        ('"evolve", bakends=["numpy"]', "*@pytest.mark.kernel: unknown argument bakends; it takes backends= and sizes=*"),
        ('"evolve", sizes=[0]', "*sizes must be ints >= 1; got [[]0[]]*"),
        ("", "*@pytest.mark.kernel takes one kernel name*"),
    ],
)
def test_bad_markers_are_collection_errors(pytester, marker, message):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.kernel({marker})
        def test_x(backend):
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting*", message])


def test_backend_and_size_options_and_ini(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.kernel("evolve", sizes=[5, 7])
        def test_evolve(backend, size, particle_system, assert_physics):
            r, ang_speed = particle_system(size)
            assert_physics.evolve(backend(r, ang_speed, 1e-4), r, ang_speed, 1e-4)

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-v", "--particles-backends=numpy,cython", "--particles-sizes=3")
    result.stdout.fnmatch_lines(["*test_evolve[[]cython-3[]] PASSED*", "*test_evolve[[]numpy-3[]] PASSED*"])
    result.assert_outcomes(passed=3, deselected=len(pp.backends("evolve")) - 2)

    pytester.makeini("[pytest]\nparticles_backends = python_fast\nparticles_sizes = 4, 6\n")
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["*test_evolve[[]python_fast-4[]] PASSED*", "*test_evolve[[]python_fast-6[]] PASSED*"])
    result.assert_outcomes(passed=3, deselected=2 * (len(pp.backends("evolve")) - 1))
    # the command line wins over the ini file
    result = pytester.runpytest("-v", "--particles-backends=cython")
    result.stdout.fnmatch_lines(["*test_evolve[[]cython-4[]] PASSED*"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--particles-backends=numpy,fortan"], "*--particles-backends: unknown backend 'fortan'; registered: *"),
        (["--particles-sizes=10,ten"], "*sizes must be whole numbers >= 1 (e.g. 1000 or 1e6); got 'ten'*"),
        (["--particles-sizes=0"], "*sizes must be whole numbers >= 1 (e.g. 1000 or 1e6); got '0'*"),
    ],
)
def test_bad_options_are_usage_errors(pytester, args, message):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_ini_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nparticles_sizes = big\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option particles_sizes: sizes must be whole numbers*"])


def test_third_party_backend_checked_and_benchmarked(pytester):
    pytester.makeconftest(THIRD_PARTY_CONFTEST)
    pytester.makepyfile(PHYSICS_TEST)
    result = pytester.runpytest("-v", "--benchmark-json=bench.json", "--benchmark-max-time=0.01")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        ["*test_evolve[[]mine-10[]] PASSED*", "*test_evolve[[]wrong-10[]] FAILED*", "*test_evolve[[]cython-50[]] PASSED*"]
    )
    # the wrong backend fails with a message that says what broke
    result.stdout.fnmatch_lines(["*AssertionError: evolve breaks the radius law*", "*particle * expected radius *, got *"])
    data = json.loads((pytester.path / "bench.json").read_text())
    by_name = {b["name"]: b for b in data["benchmarks"]}
    mine = by_name["test_evolve[mine-50]"]
    assert mine["group"] == "evolve[50]"
    assert mine["params"] == {"backend": "mine", "size": 50}
    assert mine["extra_info"] == {"kernel": "evolve", "backend": "mine", "size": 50, "work": 50 * 100,
                                  "work_unit": "particle-steps"}
    # the build's facts beside pytest-benchmark's own machine record
    facts = data["machine_info"]["pytest_particles"]
    assert facts["openmp"] is pp.registry.lookup("evolve", "openmp", available=False).available
    assert facts["cpu_path"] in ("x86-64", "x86-64-v3", "x86-64-v4", "portable (built without target_clones)") \
        or facts["cpu_path"] == platform.machine()
    assert facts["cpu_affinity"] == len(os.sched_getaffinity(0)) and facts["version"] == pp.__version__


def test_benchmark_group_by_param_with_plain_benchmarks_in_the_session(pytester):
    pytester.makepyfile(
        """
        import pytest

        def test_plain(benchmark):
            benchmark(sum, range(10))

        @pytest.mark.kernel("pi", backends=["numpy", "cython"])
        def test_pi(backend, benchmark):
            benchmark(backend, 1000, seed=1)
        """
    )
    for group_by in ("param:backend", "param:size", "param:backend,param:size"):
        result = pytester.runpytest(f"--benchmark-group-by={group_by}", "--benchmark-max-time=0.01")
        result.assert_outcomes(passed=3)
        assert "Traceback" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*benchmark 'backend=numpy size=None': 1 tests*"])


def test_autosave_compare_and_compare_fail(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.kernel("evolve", backends=["cython", "numpy"], sizes=[20])
        def test_evolve(backend, size, particle_system, benchmark):
            r, ang_speed = particle_system(size)
            benchmark(backend, r, ang_speed, 1e-3)
        """
    )
    first = pytester.runpytest("--benchmark-autosave", "--benchmark-max-time=0.02")
    first.assert_outcomes(passed=2)
    saved = list((pytester.path / ".benchmarks").rglob("0001_*.json"))
    assert len(saved) == 1
    recorded = json.loads(saved[0].read_text())

    def scale_baseline(factor):
        """The saved run with every time multiplied by ``factor``: verdicts no machine's load can turn."""
        baseline = json.loads(json.dumps(recorded))
        for bench in baseline["benchmarks"]:
            bench["stats"] = {k: v * factor if isinstance(v, float) else v for k, v in bench["stats"].items()}
        saved[0].write_text(json.dumps(baseline))

    # a baseline 1000 times slower: nothing has regressed against it
    scale_baseline(1000)
    second = pytester.runpytest("--benchmark-compare", "--benchmark-max-time=0.02", "--benchmark-compare-fail=min:5%")
    second.assert_outcomes(passed=2)
    table = second.stdout.str()
    assert "test_evolve[cython-20] (NOW)" in table and "test_evolve[cython-20] (0001_" in table
    # a baseline 1000 times faster: compare-fail must now stop the run, naming our tests
    scale_baseline(1 / 1000)
    failing = pytester.runpytest("--benchmark-compare", "--benchmark-max-time=0.02", "--benchmark-compare-fail=min:5%")
    assert failing.ret != 0
    output = failing.stdout.str() + failing.stderr.str()
    assert "Performance has regressed" in output and "test_evolve[cython-20] (0001_" in output, output
    compare = pytester.run("pytest-benchmark", "compare", "--group-by=param:backend", *map(str, saved))
    assert compare.ret == 0, compare.stderr.str()
    compare.stdout.fnmatch_lines(["*backend=cython*", "*test_evolve[[]cython-20[]]*"])


def test_histogram(pytester):
    # pygal is not imported here: its imports upset importlib.metadata for later in-process runs
    if importlib.util.find_spec("pygal") is None:
        pytest.skip("pygal (pytest-benchmark[histogram]) is not installed")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.kernel("pi", backends=["numpy"])
        def test_pi(backend, benchmark):
            benchmark(backend, 1000, seed=1)
        """
    )
    result = pytester.runpytest_subprocess("--benchmark-histogram=hist", "--benchmark-max-time=0.01")
    result.assert_outcomes(passed=1)
    assert list(pytester.path.glob("hist*.svg"))


def test_disabled_with_p_no_particles(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.kernel("evolve")
        def test_x(backend):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:particles", "--strict-markers")
    result.stdout.fnmatch_lines(["*'kernel' not found in `markers` configuration option*"])
    assert "--particles-backends" not in pytester.runpytest("-p", "no:particles", "--help").stdout.str()


def test_fixtures_outside_a_kernel_test_say_what_is_missing(pytester):
    pytester.makepyfile(
        """
        def test_backend(backend):
            pass

        def test_size(size):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*the backend fixture needs a kernel marker*", "*the size fixture needs sizes*"])


def test_particle_system_and_reference_case_fixtures(pytester):
    pytester.makepyfile(
        """
        import numpy as np

        def test_fixtures(particle_system, reference_case):
            r, ang_speed = particle_system(100, seed=3)
            again, _ = particle_system(100, seed=3)
            assert r.shape == (100, 2) and ang_speed.shape == (100,)
            assert (np.abs(r) < 1).all() and (np.abs(ang_speed) < 1).all()
            assert np.array_equal(r, again)
            assert reference_case.dt == 0.1 and reference_case.tolerance == 1e-5
            assert reference_case.expected.shape == (3, 2)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


SPEEDUP_TEST = """
import pytest

@pytest.mark.kernel("evolve", backends=["sleepy", "cython", "sleepier"], sizes=[50])
@pytest.mark.speedup(over="sleepy", at_least={at_least})
def test_fast(backend, size, particle_system, benchmark):
    r, ang_speed = particle_system(size)
    benchmark(backend, r, ang_speed, 0.002)
"""

# Sleeps set the ratios: a sleep lasts at least its time and a busy machine cannot shorten it, so the verdicts
# do not rest on how fast anything computes (cython: microseconds against the reference's 10 ms at least).
SLEEPY_CONFTEST = """
import time
import pytest_particles as pp
from pytest_particles.book.evolution import evolve_numpy

@pp.register_backend("evolve", "sleepy")
def evolve_sleepy(r, ang_speed, timestep, nsteps):
    evolve_numpy(r, ang_speed, timestep, nsteps)
    time.sleep(0.01)

@pp.register_backend("evolve", "sleepier")
def evolve_sleepier(r, ang_speed, timestep, nsteps):
    evolve_numpy(r, ang_speed, timestep, nsteps)
    time.sleep(0.05)  # five times the reference's sleep: never 2x faster than it
"""


def test_speedup_marker_passes_a_fast_backend_and_fails_a_slow_one(pytester):
    pytester.makeconftest(SLEEPY_CONFTEST)
    pytester.makepyfile(SPEEDUP_TEST.format(at_least=2))
    result = pytester.runpytest("-v", "--benchmark-max-time=0.01", "--benchmark-json=bench.json")
    # the reference is not checked against itself; cython is far more than 2x faster; sleepier is slower
    result.stdout.fnmatch_lines(["*test_fast[[]sleepy-50[]] PASSED*", "*test_fast[[]cython-50[]] PASSED*",
                                 "*test_fast[[]sleepier-50[]] FAILED*"])
    result.stdout.fnmatch_lines([
        "*evolve backend 'sleepier' is *x faster than 'sleepy' (rounds *x to *x, * rounds interleaved); "
        "expected at least 2x*"
    ])
    data = json.loads((pytester.path / "bench.json").read_text())
    cython = next(b for b in data["benchmarks"] if b["name"] == "test_fast[cython-50]")
    assert cython["extra_info"]["speedup_over_sleepy"] > 2


@pytest.mark.parametrize(
    "marker, message",
    [
        ('over="fortran", at_least=2', "*@pytest.mark.speedup(over='fortran'): unknown evolve backend 'fortran'.*"),
        ('over="python", at_least=0', "*at_least must be a number > 0; got 0*"),
        ('over="python", at_least=2, within=3', "*takes keywords over= and at_least=*"),
    ],
)
def test_bad_speedup_markers(pytester, marker, message):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.kernel("evolve", backends=["cython"])
        @pytest.mark.speedup({marker})
        def test_x(backend):
            backend([[1.0, 0.0]], [1.0], 1e-4)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])


def test_speedup_without_kernel_marker(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.speedup(over="python", at_least=2)
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.speedup needs @pytest.mark.kernel(...)*"])


@pytest.mark.parametrize("args", [["--particles-cluster=local:3"], ["--particles-cluster", "local:3"]])
def test_report_header_shows_the_cluster_setting_as_written(pytester, args):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--co", *args)
    result.stdout.fnmatch_lines(["particles cluster: local:3 (ipyparallel backends run on it;*"])
    assert "('local', 3)" not in result.stdout.str()
