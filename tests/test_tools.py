"""Finding the slow part: profiling (plugin and command), Cython annotation, plots, the animation.

Real runs only: every file written is opened and its content checked.
"""

import csv
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless, whatever the machine running the tests

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.animation import FuncAnimation  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image, ImageSequence  # noqa: E402

import pytest_particles as pp  # noqa: E402
from pytest_particles import annotate, plots, profiling  # noqa: E402
from pytest_particles.book.simulator import visualize  # noqa: E402
from pytest_particles.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(pp.__file__).resolve().parent
TAB10_BLUE = (31, 119, 180)  # matplotlib's first line color: the python backend's


@pytest.fixture(autouse=True)
def wide_output(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")


def available(kernel, name):
    return {b.name: b for b in pp.backends(kernel)}[name].available


def functions(prof_path):
    """Names of the functions in a cProfile file."""
    return {name for _, _, name in pstats.Stats(str(prof_path)).stats}


def check_calltree(path, function):
    """A callgrind-format file (KCachegrind) that names ``function``; read by valgrind's callgrind_annotate too."""
    text = Path(path).read_text()
    assert text.startswith("event: ns") and "\nevents: ns\n" in text
    assert f"\nfn={function}\n" in text
    if shutil.which("callgrind_annotate"):
        done = subprocess.run(["callgrind_annotate", str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "PROGRAM TOTALS" in done.stdout and f":{function}" in done.stdout


def line_hits(report, source_line):
    """Hits of the line profiler report's line whose source is ``source_line``."""
    for line in Path(report).read_text().splitlines():
        if line.rstrip().endswith(source_line):
            return int(line.split()[1])
    raise AssertionError(f"{source_line!r} not in {report}")


def check_png(path, size=(plots.DPI * 12, plots.DPI * 5)):
    """A real figure: the right size, mostly white, with lines of matplotlib's colors drawn on it."""
    image = Image.open(path)
    assert image.format == "PNG" and image.size == size
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    white = np.all(pixels > 245, axis=1).mean()
    assert 0.5 < white < 0.99, white  # neither blank nor a filled block
    assert len(np.unique(pixels, axis=0)) > 50  # text, lines, antialiasing
    return pixels


# --------------------------------------------------------------------------- --particles-profile


PROFILED_TESTS = """
import pytest

@pytest.mark.kernel("evolve", backends=["python", "python_fast", "numpy", "cython"], sizes=[10])
def test_evolve(backend, size, particle_system):
    r, ang_speed = particle_system(size)
    backend(r, ang_speed, 0.001)  # 100 steps

@pytest.mark.kernel("distance_matrix", backends=["python"], sizes=[30])
def test_distance(backend, size, particle_system, benchmark):
    r, _ = particle_system(size)
    benchmark(backend, r)

@pytest.mark.kernel("pi", backends=["numpy"])
def test_not_called(backend):
    pass

def test_plain():
    pass
"""


def test_plugin_profiles_every_kernel_test(pytester):
    pytester.makepyfile(test_prof=PROFILED_TESTS)
    result = pytester.runpytest("--particles-profile=prof", "--benchmark-max-time=0.001")
    cython = available("evolve", "cython")
    result.assert_outcomes(passed=7 if cython else 6, skipped=0 if cython else 1)
    profiled = 6 if cython else 5
    result.stdout.fnmatch_lines([
        f"*particles profile: {profiled} tests -> *prof*",
        "*memory peak*cProfile time*test*",
        "*KiB* s  test_prof.py::test_evolve[[]python-10[]]  [[]evolve_python (evolution.py:*) *%[]]",
        "*test_prof.py::test_not_called[[]numpy[]]: the test never called its backend fixture*",
    ])
    out = pytester.path / "prof"

    summary = json.loads((out / "summary.json").read_text())["profiles"]
    assert [row["test"] for row in summary][:2] == ["test_prof.py::test_evolve[python-10]",
                                                     "test_prof.py::test_evolve[python_fast-10]"]
    with open(out / "summary.csv", newline="") as f:
        assert [row["test"] for row in csv.DictReader(f)] == [row["test"] for row in summary]
    by_test = {row["test"]: row for row in summary}
    assert by_test["test_prof.py::test_not_called[numpy]"]["prof"] is None
    assert "never called" in by_test["test_prof.py::test_not_called[numpy]"]["error"]

    expected = {"python": "evolve_python", "python_fast": "evolve_python_fast", "numpy": "evolve_numpy"}
    if cython:
        expected["cython"] = "evolve_cython"
    for name, function in expected.items():
        row = by_test[f"test_prof.py::test_evolve[{name}-10]"]
        stem = f"test_prof.py_test_evolve_{name}-10"
        assert row["prof"] == f"{stem}.prof" and row["calltree"] == f"{stem}.calltree"
        assert (row["kernel"], row["backend"], row["size"], row["work"]) == ("evolve", name, 10, 1000)
        assert isinstance(row["peak_bytes"], int) and row["peak_bytes"] >= 10 * 2 * 8  # at least the result
        assert row["error"] == ""
        assert {function, "evolve"} <= functions(out / row["prof"])
        check_calltree(out / row["calltree"], function)
        if name in ("python", "python_fast", "numpy"):  # line_profiler for serial backends written in Python
            assert row["lines"] == f"{stem}.lines.txt" and (out / row["lprof"]).is_file()
            report = (out / row["lines"]).read_text()
            assert f"Function: {function} at line" in report
            if name != "numpy":
                source = "norm = math.sqrt(p.x**2 + p.y**2)" if name == "python" else "norm = math.sqrt(x**2 + y**2)"
                assert line_hits(out / row["lines"], source) == 10 * 100  # particles x steps
        else:
            assert row["lines"] is None and not (out / f"{stem}.lines.txt").exists()

    row = by_test["test_prof.py::test_distance[python-30]"]
    assert row["work"] == 900 and row["work_unit"] == "pairs"
    assert row["peak_bytes"] >= 30 * 30 * 8  # the matrix
    assert "distance_matrix_python" in functions(out / row["prof"])
    assert "Function: distance_matrix_python" in (out / row["lines"]).read_text()


@pytest.mark.parametrize("value, message", [
    ("", "*--particles-profile: expected a folder for the profiles, got ''*"),
    ("afile", "*--particles-profile: cannot create folder *afile*"),
])
def test_plugin_profile_bad_folder(pytester, value, message):
    pytester.makepyfile("def test_nothing(): pass")
    (pytester.path / "afile").write_text("not a folder")
    result = pytester.runpytest(f"--particles-profile={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_safe_name():
    assert profiling.safe_name("tests/test_x.py::test_evolve[python-10]") == "tests_test_x.py_test_evolve_python-10"
    long = profiling.safe_name("t.py::test[" + "a" * 300 + "]")
    assert len(long) == 120 and re.fullmatch(r"[A-Za-z0-9._-]+-[0-9a-f]{10}", long)
    assert profiling.safe_name("x" * 300) != profiling.safe_name("x" * 301)
    with pytest.raises(TypeError, match="text must be a str"):
        profiling.safe_name(3)


# --------------------------------------------------------------------------- pytest-particles profile


def test_profile_command_pure_python(tmp_path, capsys):
    out = tmp_path / "prof"
    assert main(["profile", "evolve", "--backend", "python", "--size", "5", "--out", str(out), "--top", "5"]) == 0
    text = capsys.readouterr().out
    assert "Ordered by: internal time" in text and "evolve_python" in text  # pstats' own table
    assert "memory peak" in text and "evolve-python-5.calltree" in text
    assert {p.name for p in out.iterdir()} == {f"evolve-python-5.{ext}" for ext in ("prof", "calltree", "lines.txt",
                                                                                     "lprof")}
    assert "evolve_python" in functions(out / "evolve-python-5.prof")
    check_calltree(out / "evolve-python-5.calltree", "evolve_python")
    assert line_hits(out / "evolve-python-5.lines.txt", "norm = math.sqrt(p.x**2 + p.y**2)") == 5 * 10_000


def test_profile_command_compiled_backend(tmp_path, capsys):
    if not available("pi", "cython"):
        pytest.skip("the cython pi backend is not built")
    out = tmp_path / "prof"
    assert main(["profile", "pi", "--backend", "cython", "--size", "1e4", "--out", str(out)]) == 0
    assert "only for serial backends written in Python" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["pi-cython-10000.calltree", "pi-cython-10000.prof"]
    assert {"pi_cython", "monte_carlo_pi"} <= functions(out / "pi-cython-10000.prof")


def test_profile_workload_api(tmp_path):
    result = profiling.profile_workload("distance_matrix", "numpy", 50, out_dir=tmp_path)
    assert (result.kernel, result.backend, result.size, result.work) == ("distance_matrix", "numpy", 50, 2500)
    assert result.peak_bytes >= 50 * 50 * 8 and result.lines is not None  # numpy's function is Python code
    assert result.prof.is_file() and result.calltree.is_file()
    with pytest.raises(ValueError, match="unknown evolve backend"):
        profiling.profile_workload("evolve", "fortran", out_dir=tmp_path)
    with pytest.raises(ValueError, match="size must be a whole number >= 1; got 0"):
        profiling.profile_workload("evolve", "numpy", 0, out_dir=tmp_path)
    with pytest.raises(ValueError, match="kernel must be one of"):
        profiling.profile_workload("evolv", "numpy", out_dir=tmp_path)
    with pytest.raises(ValueError, match="out_dir must be an existing folder"):
        profiling.profile_workload("evolve", "numpy", 2, out_dir=tmp_path / "missing")


@pytest.mark.parametrize("args, message", [
    (["evolv", "--backend", "python"], "argument KERNEL: kernel must be one of evolve, distance_matrix, pi; "
                                       "got 'evolv'"),
    (["evolve", "--backend", "fortran"], "argument --backend: unknown evolve backend 'fortran'; available: "),
    (["evolve"], "the following arguments are required: --backend"),
    (["pi", "--backend", "numpy", "--size", "0"],
     "argument --size: sizes must be whole numbers >= 1 (e.g. 1000 or 1e6); got '0'"),
    (["evolve", "--backend", "python", "--out", "{file}"], "argument --out: '{file}' exists and is not a folder"),
])
def test_profile_command_bad_arguments(tmp_path, capsys, args, message):
    file = tmp_path / "file"
    file.write_text("")
    args = [a.format(file=file) for a in args]
    assert main(["profile", *args]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # the usage, then one line naming the option
    assert last.startswith("pytest-particles profile: error: ") and message.format(file=file) in last


# --------------------------------------------------------------------------- pytest-particles annotate


def test_annotate_every_pyx(tmp_path, capsys):
    out = tmp_path / "ann"
    assert main(["annotate", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    sources = sorted(p.name for p in (ROOT / "src").glob("*.pyx"))
    index = (out / "index.html").read_text()
    for name in sources:
        html = (out / name).with_suffix(".html")
        assert "score-0" in html.read_text() and f'href="{html.name}"' in index
        assert name in text
    # our kernels' hot loops are pure C, and the table says so
    for name in ("_evolve.pyx", "_chebyshev.pyx", "_hello_parallel.pyx"):
        row = next(line for line in text.splitlines() if line.strip().startswith(name))
        assert " yes" in row, row
    # the serial loop over blocks of particles in _evolve.pyx is white (score-0) in Cython's own HTML
    scores = annotate.annotation_scores(out / "_evolve.html")
    lines = (ROOT / "src" / "_evolve.pyx").read_text().splitlines()
    loop = next(i for i, line in enumerate(lines, 1) if "for block in range(nblocks):" in line)
    assert scores[loop] == 0 and max(scores.values()) > 0  # the def lines do call Python
    assert "<td>yes</td>" in index and "for block in range(nblocks):" in index


PURE_PYX = """
def total(double[::1] x):
    cdef double s = 0
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return s
"""

HEADER = "# cython: boundscheck=False, wraparound=False"

PYTHON_PYX = """
def total(x):
    s = 0
    for i in range(len(x)):
        s += x[i] * x[i]
    return s
"""


def test_annotate_tells_a_python_loop_from_a_c_loop(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "pure.pyx").write_text(PURE_PYX)
    (src / "slow.pyx").write_text(PYTHON_PYX)
    out = tmp_path / "ann"
    # without the project's directives x[i] is bounds-checked (it may raise IndexError: a Python interaction),
    # and the untyped loop goes through Python objects on every line
    assert main(["annotate", "--src", str(src), "--out", str(out), "--check"]) == 1
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if ".pyx " in line}
    assert " no " in rows["pure.pyx"] and "loop at line 5: Python at line 6 (score" in rows["pure.pyx"]
    assert " no " in rows["slow.pyx"]
    assert re.search(r"loop at line 4: Python at line 4 \(score \d+\), line 5", rows["slow.pyx"]), rows["slow.pyx"]
    # with them in the file's '# cython:' header (Cython reads it, as in the build) the typed loop is pure C
    (src / "pure.pyx").write_text(HEADER + PURE_PYX)  # on the first line, which PURE_PYX leaves empty
    assert main(["annotate", "pure", "--src", str(src), "--out", str(out), "--check"]) == 0
    pure = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("pure.pyx"))
    assert " yes" in pure
    assert "boundscheck=False, wraparound=False" in (out / "index.html").read_text()
    (loop,) = annotate.find_loops(src / "pure.pyx", annotate.annotation_scores(out / "pure.html"))
    assert (loop.start, loop.end, loop.innermost, loop.nogil, loop.pure_c) == (5, 6, True, False, True)
    assert annotate.header_directives(src / "pure.pyx") == {"boundscheck": False, "wraparound": False}
    assert annotate.header_directives(PYTHON_PYX) == {}


LOOPS_PYX = """# cython: boundscheck=False
from cython.parallel cimport prange

cdef double first(double[::1] x) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        x[i] += 1
    return x[0]

def second(double[:, ::1] a):
    cdef Py_ssize_t i, j
    for i in prange(a.shape[0], nogil=True,
                    schedule="static"):
        for j in range(a.shape[1]):
            a[i, j] = 0
    with nogil:
        while a[0, 0] > 1:
            a[0, 0] -= 1
    for i in range(3):
        a[i, 0] = i
    else:
        print("once")
"""


def test_find_loops_reads_cython_s_parse_tree():
    """Loops, nesting and the GIL as Cython's parser sees them; a prange header and an else clause run once."""
    scores = {6: 0, 12: 9, 13: 9, 15: 3, 20: 0, 22: 7}
    loops = {loop.start: loop for loop in annotate.find_loops(LOOPS_PYX, scores)}
    facts = {n: (loop.end, loop.nogil, loop.innermost, loop.hot) for n, loop in loops.items()}
    assert facts == {6: (7, True, True, True), 12: (15, True, False, True), 14: (15, True, True, True),
                     17: (18, True, True, True), 19: (20, False, True, True)}
    assert loops[12].python_lines == [(15, 3)]  # not the header's two lines: paid once per prange
    assert loops[14].python_lines == [(15, 3)] and loops[19].pure_c  # line 22, the else clause, runs once
    assert loops[12].header.startswith("for i in prange(")
    assert annotate.header_directives(LOOPS_PYX) == {"boundscheck": False}
    with pytest.raises(ValueError, match="Cython cannot parse"):
        annotate.find_loops("def broken(:\n    pass\n")


def test_annotate_bad_arguments(tmp_path, capsys):
    assert main(["annotate", "--src", str(tmp_path), "--out", str(tmp_path / "a")]) == 2
    assert f"argument --src: src must be a folder holding .pyx files; got '{tmp_path}'" in capsys.readouterr().err
    assert main(["annotate", "_nope", "--out", str(tmp_path / "a")]) == 2
    assert "argument FILE: no '_nope' in" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_annotate_without_the_sources_says_so(tmp_path):
    """An installed copy of the package with no src/ anywhere: a clear message and exit 1."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "pytest_particles", ignore=shutil.ignore_patterns("__pycache__"))
    code = "import sys, pytest_particles.cli as c; print(c.__file__); sys.exit(c.main(['annotate']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(site)})
    assert done.stdout.startswith(str(site))
    assert done.returncode == 1, done.stderr
    assert "the Cython sources (src/*.pyx) are not available" in done.stderr and "--src" in done.stderr


# --------------------------------------------------------------------------- plots


def test_fit_exponent():
    sizes = np.array([10, 100, 1000, 10_000])
    assert plots.fit_exponent(sizes, 3e-6 * sizes**1.5) == pytest.approx(1.5)
    assert plots.fit_exponent(sizes, 2e-3 * sizes**2) == pytest.approx(2.0)
    assert plots.fit_exponent([10, 10], [1.0, 2.0]) is None
    with pytest.raises(ValueError, match="must be > 0"):
        plots.fit_exponent([0, 10], [1.0, 2.0])


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory):
    """A real, quick ``pytest-particles bench --json`` run of evolve at three small sizes."""
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    code = main(["bench", "--kernel", "evolve", "--backend", "python,numpy,cython", "--size", "10,30,100",
                 "--budget", "0.02", "--repeat", "1", "--json", str(path)])
    assert code == 0
    return path


def test_plot_bench_json(bench_json, tmp_path, capsys):
    out = tmp_path / "plots"
    assert main(["plot", str(bench_json), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "evolve.png")]
    pixels = check_png(out / "evolve.png")
    assert np.any(np.all(np.abs(pixels.astype(int) - TAB10_BLUE) < 8, axis=1))  # the python line

    measurements = plots.load_results([bench_json])
    names = {m.backend for m in measurements}
    assert names <= {"python", "numpy", "cython"} and {"python", "numpy"} <= names
    assert {m.size for m in measurements} == {10, 30, 100}
    figure = plots.make_figure("evolve", measurements)
    runtime, speedup = figure.axes
    assert runtime.get_xscale() == runtime.get_yscale() == "log"
    labels = [t.get_text() for t in runtime.get_legend().get_texts()]
    assert any(re.fullmatch(r"python \(k=-?\d+\.\d\d\)", label) for label in labels), labels
    assert any(label.startswith("numpy (k=") for label in labels)
    speed_labels = [t.get_text() for t in speedup.get_legend().get_texts()]
    assert "python (= 1)" in speed_labels and any(label.startswith("numpy (k=") for label in speed_labels)
    python = {m.size: m.time_s for m in measurements if m.backend == "python"}
    numpy_line = next(line for line in speedup.get_lines() if line.get_label().startswith("numpy"))
    numpy_times = {m.size: m.time_s for m in measurements if m.backend == "numpy"}
    assert list(numpy_line.get_ydata()) == pytest.approx([python[s] / numpy_times[s] for s in (10, 30, 100)])


def test_plot_pytest_benchmark_json_and_autosave(pytester, tmp_path, capsys):
    pytester.makepyfile(test_plotme="""
        import pytest

        @pytest.mark.kernel("evolve", backends=["python", "numpy"], sizes=[5, 10, 20])
        def test_evolve(backend, size, particle_system, benchmark):
            r, ang_speed = particle_system(size)
            benchmark(backend, r, ang_speed, 1e-4)
        """)
    result = pytester.runpytest("--benchmark-json=bench.json", "--benchmark-autosave", "--benchmark-max-time=0.001",
                                "--benchmark-min-rounds=1")
    result.assert_outcomes(passed=6)
    for results in (pytester.path / "bench.json", pytester.path / ".benchmarks"):
        out = tmp_path / results.name
        assert main(["plot", str(results), "--out", str(out)]) == 0
        check_png(out / "evolve.png")
        measurements = plots.load_results(results)
        assert {(m.backend, m.size) for m in measurements} == {(b, s) for b in ("python", "numpy") for s in (5, 10, 20)}
    capsys.readouterr()


# asv results plotted: tests/test_plots.py


def test_plot_bad_arguments(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "missing.json")]) == 2
    assert "argument RESULTS: " in capsys.readouterr().err
    (tmp_path / "other.json").write_text('{"hello": 1}')
    assert main(["plot", str(tmp_path / "other.json"), "--out", str(tmp_path / "p")]) == 2
    assert "is neither pytest-benchmark JSON" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["plot", str(tmp_path / "empty"), "--out", str(tmp_path / "p")]) == 2
    assert "argument RESULTS: no kernel timings" in capsys.readouterr().err


# --------------------------------------------------------------------------- visualize and animate


def golden_simulator():
    c = pp.physics.golden_case()
    return pp.ParticleSimulator([pp.Particle(x, y, s) for (x, y), s in zip(c.r.tolist(), c.ang_speed.tolist())])


def test_visualize_is_the_books_animation(tmp_path):
    simulator = golden_simulator()
    start = np.array([(p.x, p.y) for p in simulator.particles])
    speeds = np.array([p.ang_speed for p in simulator.particles])
    animation = visualize(simulator, frames=3, backend="numpy", figure=Figure())
    assert isinstance(animation, FuncAnimation)
    assert animation.event_source.interval == 10 and animation._blit  # the book's interval=10, blit=True
    (ax,) = animation._fig.axes
    assert ax.get_xlim() == (-1, 1) and ax.get_ylim() == (-1, 1) and ax.get_aspect() == 1.0
    (line,) = ax.get_lines()
    assert to_rgb(line.get_color()) == (1.0, 0.0, 0.0) and line.get_marker() == "o" and line.get_linestyle() == "None"

    animation.save(tmp_path / "three.gif", writer=matplotlib.animation.PillowWriter(fps=10))
    expected = start
    for _ in range(3):  # one evolve(0.01) per frame
        expected = pp.evolve(expected, speeds, 0.01, backend="numpy")
    assert np.array([(p.x, p.y) for p in simulator.particles]) == pytest.approx(expected, abs=1e-12)
    assert np.array(line.get_data()).T == pytest.approx(expected, abs=1e-12)


def test_visualize_on_a_pyplot_figure():
    import matplotlib.pyplot as plt

    animation = visualize(golden_simulator())
    try:
        assert animation._fig is plt.gcf()
    finally:
        plt.close(animation._fig)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"simulator": "particles"}, TypeError, "simulator must be a ParticleSimulator"),
    ({"frames": 0}, ValueError, "frames must be None or a whole number >= 1; got 0"),
    ({"interval": 0}, ValueError, "interval must be a whole number of milliseconds >= 1; got 0"),
])
def test_visualize_bad_arguments(kwargs, error, message):
    simulator = kwargs.pop("simulator", golden_simulator())
    with pytest.raises(error, match=re.escape(message)):
        visualize(simulator, figure=Figure(), **kwargs)


def test_animate_writes_a_gif(tmp_path, capsys):
    gif = tmp_path / "particles.gif"
    assert main(["animate", "--out", str(gif), "--particles", "30", "--frames", "6", "--backend", "numpy"]) == 0
    assert "6 frames of 30 particles" in capsys.readouterr().out
    image = Image.open(gif)
    assert image.format == "GIF" and image.size == (640, 480) and image.n_frames == 6
    frames = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]
    assert len({frame.tobytes() for frame in frames}) == 6  # the particles move every frame
    red = (frames[0][..., 0] > 200) & (frames[0][..., 1] < 80) & (frames[0][..., 2] < 80)
    assert red.sum() > 30  # red dots


@pytest.mark.parametrize("args, message", [
    (["--out", "movie.mp4"], "argument --out: 'movie.mp4' must end in .gif"),
    (["--out", "/nonexistent/folder/p.gif"], "argument --out: folder '/nonexistent/folder' does not exist"),
    (["--backend", "fortran"], "argument --backend: unknown evolve backend 'fortran'"),
    (["--frames", "0"], "argument --frames: must be a whole number >= 1; got '0'"),
    (["--particles", "x"], "argument --particles: must be a whole number >= 1; got 'x'"),
])
def test_animate_bad_arguments(capsys, args, message):
    assert main(["animate", *args]) == 2
    assert message in capsys.readouterr().err
