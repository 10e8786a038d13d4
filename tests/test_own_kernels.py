"""A user's own kernel, first class: declared in a conftest.py or by an installed package, then checked,
benchmarked, tracked by asv and seen by every front end, through the same API the book's kernels use."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pytest_particles as pp
from pytest_particles import registry

CONFTEST = """
import numpy as np
import pytest_particles as pp

def inputs(size, rng):
    return (rng.random(size),)

def check(result, x):
    assert (result >= 0).all(), f"entry {int(np.argmin(result))} is negative: {result.min()}"

pp.register_kernel("{name}", inputs=inputs, reference="loop", check=check, rtol=1e-12, work_unit="values",
                   sizes=(5, 50), validate=lambda x: None if np.ndim(x) == 1 else (_ for _ in ()).throw(
                       ValueError(f"x must have shape (N,); got {np.shape(x)}")))

@pp.register_backend("{name}", "loop")
def loop(x):
    return np.array([v * v for v in x.tolist()])

pp.register_backend("{name}", "numpy", lambda x: np.square(x), priority=10)
{extra}
"""


@pytest.fixture
def declared():
    """Forget the kernels a test declared (pytester runs share this process's registry)."""
    registry.load_entry_points()
    before = set(registry._kernels)
    yield
    for name in set(registry._kernels) - before:
        registry.unregister_kernel(name)


def make(pytester, name, extra="", test=None):
    pytester.makeconftest(CONFTEST.replace("{name}", name).replace("{extra}", textwrap.dedent(extra)))
    pytester.makepyfile(test or f"""
        import pytest

        @pytest.mark.kernel("{name}")
        def test_square(backend, kernel_case):
            kernel_case.check(backend(*kernel_case.args))
    """)


def test_a_kernel_declared_in_a_conftest_runs_every_backend_at_its_sizes(pytester, declared):
    make(pytester, "square_a")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_square[[]numpy-5[]] PASSED*", "*test_square[[]loop-50[]] PASSED*"],
                                consecutive=False)


def test_a_wrong_backend_is_caught_naming_kernel_backend_size_entry_and_tolerance(pytester, declared):
    make(pytester, "square_b", extra="""
        def off_by_one(x):
            y = np.square(x)
            y[3] += 1e-6
            return y
        pp.register_backend("square_b", "wrong", off_by_one)
    """)
    result = pytester.runpytest("-ra")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines([
        "*square_b backend 'wrong' at size 5: 1 of 5 entries differ from the reference 'loop' beyond "
        "rtol=1e-12, atol=0; worst at index [[]3[]]: expected *, got *",
    ])


def test_none_wrong_shape_wrong_kind_and_raising_backends_fail_their_own_test(pytester, declared):
    make(pytester, "square_c", extra="""
        pp.register_backend("square_c", "none", lambda x: None)
        pp.register_backend("square_c", "short", lambda x: np.square(x)[:-1])
        pp.register_backend("square_c", "complex", lambda x: np.square(x) + 0j)
        pp.register_backend("square_c", "text", lambda x: np.array([str(v) for v in x]))
        def boom(x):
            raise RuntimeError("boom")
        pp.register_backend("square_c", "raises", boom)
    """)
    result = pytester.runpytest("-ra", "--particles-sizes=5")
    result.assert_outcomes(passed=2, failed=5)
    result.stdout.fnmatch_lines([
        "*square_c backend 'none' at size 5 returned None; expected a result*",
        "*square_c backend 'short' at size 5 returned shape (4,); the reference 'loop' gives (5,)*",
        "*square_c backend 'complex' at size 5 returned complex data (dtype complex128); the reference 'loop' "
        "gives real*",
        "*square_c backend 'text' at size 5 returned string data*",
        "*RuntimeError: boom*",
    ], consecutive=False)


def test_a_backend_that_writes_into_its_inputs_does_not_poison_the_next(pytester, declared):
    make(pytester, "square_d", extra="""
        def scribbles(x):
            y = np.square(x)
            x[:] = -1.0  # the user's own backend, writing into its input
            return y
        pp.register_backend("square_d", "scribbles", scribbles, priority=-1)
    """, test="""
        import pytest

        @pytest.mark.kernel("square_d", backends=["scribbles", "numpy", "loop"], sizes=[5])
        def test_square(backend, kernel_case):
            kernel_case.check(backend(*kernel_case.args))
    """)
    pytester.runpytest().assert_outcomes(passed=3)


def test_the_kernels_check_runs_too(pytester, declared):
    make(pytester, "square_e", extra="""
        pp.register_backend("square_e", "negative", lambda x: -np.square(x))
    """)
    result = pytester.runpytest("--particles-sizes=5", "--particles-backends=negative")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*square_e backend 'negative' at size 5*"])


def test_an_unavailable_reference_skips_every_test_of_the_kernel_with_the_reason(pytester, declared):
    pytester.makeconftest("""
        import numpy as np
        import pytest_particles as pp

        pp.register_kernel("gpu_square", inputs=lambda size, rng: (rng.random(size),), reference="cuda")
        pp.register_backend("gpu_square", "cuda", lambda x: x * x, check=lambda: "no GPU on this machine")
        pp.register_backend("gpu_square", "numpy", np.square)
    """)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.kernel("gpu_square")
        def test_square(backend, kernel_case):
            kernel_case.check(backend(*kernel_case.args))
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=4)
    result.stdout.fnmatch_lines(["*the reference backend 'cuda' of kernel 'gpu_square' is not available: "
                                 "no GPU on this machine*"])


def test_benchmark_group_and_extra_info_for_any_kernel(pytester, declared):
    make(pytester, "square_f", test="""
        import pytest

        @pytest.mark.kernel("square_f", sizes=[50])
        def test_square(backend, kernel_case, benchmark):
            kernel_case.check(benchmark(backend, *kernel_case.args))
    """)
    result = pytester.runpytest("--benchmark-json=out.json")
    result.assert_outcomes(passed=2)
    import json

    benches = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    assert {b["group"] for b in benches} == {"square_f[50]"}
    assert {(b["extra_info"]["backend"], b["extra_info"]["work"], b["extra_info"]["work_unit"]) for b in benches} \
        == {("loop", 50, "values"), ("numpy", 50, "values")}


def test_declaring_twice(declared):
    def inputs(size, rng):
        return (rng.random(size),)

    first = pp.register_kernel("twice", inputs=inputs, sizes=(3,))
    assert pp.register_kernel("twice", inputs=inputs, sizes=(3,)) is first  # identical: the same record
    with pytest.raises(ValueError, match="a kernel named 'twice' is already declared, differently"):
        pp.register_kernel("twice", inputs=inputs, sizes=(4,))
    assert pp.kernel("twice") is first and first in pp.kernels()
    with pytest.raises(ValueError, match="kernel must be one of .*twice.*; got 'thrice'"):
        pp.kernel("thrice")


@pytest.mark.parametrize("arguments, error", [
    ({"inputs": 3}, "inputs must be a callable"),
    ({"inputs": lambda s, r: (), "sizes": [0]}, "sizes must be a non-empty sequence of ints >= 1"),
    ({"inputs": lambda s, r: (), "rtol": -1}, "rtol must be a number >= 0"),
    ({"inputs": lambda s, r: (), "check": "no"}, "check must be None or a callable"),
])
def test_bad_declarations_name_the_argument(arguments, error, declared):
    with pytest.raises((TypeError, ValueError), match=error):
        pp.register_kernel("bad", **arguments)


def test_calling_a_kernel_validates_then_runs_the_backend(declared):
    kernel = pp.register_kernel("doubled", inputs=lambda size, rng: (rng.random(size),),
                                validate=lambda x: None if np.ndim(x) == 1 else (_ for _ in ()).throw(
                                    ValueError("x must be 1-D")))
    seen = []
    pp.register_backend("doubled", "twice", lambda x, workers: seen.append(workers) or 2 * np.asarray(x),
                        parallel=True)
    assert list(kernel([1.0, 2.0], backend="twice", workers=2)) == [2.0, 4.0] and seen == [2]
    assert list(kernel([1.0])) == [2.0]  # the kernel's own backend of highest priority
    with pytest.raises(ValueError, match="x must be 1-D"):
        kernel([[1.0]])
    assert pp.backends("doubled")[0].parallel


def test_one_declaration_is_seen_by_every_front_end(declared, capsys):
    """Adding a backend is one declaration: backends, bench, the asv suite and the gate's thresholds know it."""
    from pytest_particles import asv, bench, cli, gate

    pp.register_kernel("seen", inputs=lambda size, rng: (rng.random(size),), reference="ref", sizes=(8,),
                       work_unit="values")
    pp.register_backend("seen", "ref", lambda x: x + 1.0)
    pp.register_backend("seen", "threads", lambda x: x + 1.0, parallel=True)
    assert cli.main(["backends", "--kernel", "seen"]) == 0
    out = capsys.readouterr().out
    assert "threads" in out and "ref" in out
    assert {(c.kernel, c.backend.name, c.size) for c in bench.plan(["seen"])} == {("seen", "ref", 8),
                                                                                    ("seen", "threads", 8)}
    classes = asv.suite("seen")
    assert set(classes) == {"TimeSeen", "PeakmemSeen", "TrackSeenError"}
    assert classes["TimeSeen"].params == (["ref", "threads"], [8])
    track = classes["TrackSeenError"]()
    track.setup("threads", 8)
    assert track.track_seen_error("threads", 8) == 0.0
    assert gate.threshold_for("bench_seen.TimeSeen.time_seen", "threads") == gate.THRESHOLDS["parallel"]
    assert gate.threshold_for("bench_seen.TimeSeen.time_seen", "ref") == gate.THRESHOLDS["serial"]
    assert gate.threshold_for("bench_x.TimeX.time_x", "") == gate.THRESHOLDS["serial"]  # no backend: serial


def test_bench_and_import_option_measure_a_module_that_is_not_installed(tmp_path):
    (tmp_path / "mykernels.py").write_text(textwrap.dedent("""
        import numpy as np
        import pytest_particles as pp

        pp.register_kernel("cumsum", inputs=lambda size, rng: (rng.random(size),), reference="numpy",
                           sizes=(1000,), work_unit="values")
        pp.register_backend("cumsum", "numpy", np.cumsum)
        pp.register_backend("cumsum", "loop", lambda x: np.array(list(__import__("itertools").accumulate(x))))
    """))
    done = subprocess.run([sys.executable, "-m", "pytest_particles.cli", "bench", "--import", "mykernels",
                           "--kernel", "cumsum", "--repeat", "1"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(tmp_path), "COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "cumsum" in done.stdout and "values/s" in done.stdout and "loop" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "pytest_particles.cli", "bench", "--import", "no_such_module"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "argument --import: cannot import 'no_such_module'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_kernels_declared_by_an_installed_distribution(tmp_path):
    """A real dist-info on sys.path: its pytest_particles.kernels entry point declares a kernel for pytest."""
    (tmp_path / "squarepkg.py").write_text(textwrap.dedent("""
        import numpy as np
        import pytest_particles as pp

        def declare():
            pp.register_kernel("installed_square", inputs=lambda size, rng: (rng.random(size),),
                               reference="loop", sizes=(4,))
            pp.register_backend("installed_square", "loop", lambda x: np.array([v * v for v in x]))
            pp.register_backend("installed_square", "numpy", np.square, priority=1)

        def broken():
            raise SystemExit(3)
    """))
    info = tmp_path / "squarepkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: squarepkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pytest_particles.kernels]\nsquare = squarepkg:declare\n"
                                           "broken = squarepkg:broken\n")
    (tmp_path / "test_it.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.kernel("installed_square")
        def test_square(backend, kernel_case):
            kernel_case.check(backend(*kernel_case.args))
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "test_it.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_square[loop-4] PASSED" in done.stdout and "test_square[numpy-4] PASSED" in done.stdout
    assert "could not load kernel entry point 'broken'" in done.stdout + done.stderr  # a warning, not an exit


def test_the_book_kernels_are_declared_through_the_public_entry_point():
    from importlib.metadata import entry_points

    assert "pytest_particles.book:declare" in {ep.value for ep in entry_points(group="pytest_particles.kernels")}
    names = [k.name for k in pp.kernels()]
    assert [name for name in names if name in pp.KERNELS] == list(pp.KERNELS)
    assert all(b.builtin for k in pp.KERNELS for b in pp.backends(k))
    parallel = {(k, b.name) for k in pp.KERNELS for b in pp.backends(k) if b.parallel}
    assert ("distance_matrix", "blocked") in parallel and ("pi", "splitmix") in parallel
    assert ("evolve", "cython") not in parallel and ("evolve", "numpy") not in parallel


EXTRA_BACKEND = """
import pytest_particles as pp
from pytest_particles.book.evolution import evolve_numpy

# the one declaration: a backend of the book's evolve (the raw contract: steps r in place)
pp.register_backend("evolve", "numpy_again", lambda r, ang_speed, timestep, nsteps: evolve_numpy(
    r, ang_speed, timestep, nsteps))
"""


def _cli(args, cwd, timeout=600):
    done = subprocess.run([sys.executable, "-m", "pytest_particles.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**__import__("os").environ, "PYTHONPATH": str(cwd),
                                                           "COLUMNS": "200"})
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_adding_a_backend_is_one_declaration_every_front_end_sees(tmp_path):
    """One register_backend in a module nobody else edits: the CLI's backends, bench, plot and profile, the plugin,
    the asv suite and both gate modes know the new backend."""
    (tmp_path / "extra_backend.py").write_text(EXTRA_BACKEND)
    imports = ["--import", "extra_backend"]
    assert "numpy_again" in _cli(["backends", "--kernel", "evolve", *imports], tmp_path)
    _cli(["bench", "--kernel", "evolve", "--backend", "numpy,numpy_again", "--size", "100", "--repeat", "1",
          "--json", "bench.json", *imports], tmp_path)
    records = __import__("json").loads((tmp_path / "bench.json").read_text())["records"]
    assert {r["backend"] for r in records if r["time_s"]} == {"numpy", "numpy_again"}
    _cli(["plot", "bench.json", "--out", "figures"], tmp_path)
    assert (tmp_path / "figures" / "evolve.png").stat().st_size > 0
    from pytest_particles import plots

    assert {m.backend for m in plots.load_results([tmp_path / "bench.json"])} == {"numpy", "numpy_again"}
    _cli(["profile", "evolve", "--backend", "numpy_again", "--size", "100", "--out", "profiles", *imports], tmp_path)
    assert any((tmp_path / "profiles").glob("*.prof"))
    # the plugin, the asv suite, the gate's thresholds and its instruction cells, in a process that imports it
    (tmp_path / "test_extra.py").write_text(textwrap.dedent("""
        import pytest
        import extra_backend

        @pytest.mark.kernel("evolve", sizes=[10])
        def test_it(backend, kernel_case):
            kernel_case.check(backend(*kernel_case.args))
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-k", "numpy_again",
                           "test_extra.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert "test_it[numpy_again-10] PASSED" in done.stdout, done.stdout + done.stderr
    probe = textwrap.dedent("""
        import pytest_particles.asv as asv
        from pytest_particles import gate, instructions
        suite = asv.suite("evolve", imports=["extra_backend"])
        assert "numpy_again" in suite["TimeEvolve"].params[0], suite["TimeEvolve"].params
        assert gate.threshold_for("bench.TimeEvolve.time_evolve", "numpy_again") == gate.THRESHOLDS["serial"]
        assert ("evolve", "numpy_again", 100) in instructions.candidates(), instructions.candidates()
        print("seen")
    """)
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert done.stdout.strip() == "seen", done.stderr
