"""The ``pytest-particles`` command: real runs, no mocks, no assertions on speed."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pytest_particles as pp
from pytest_particles import bench
from pytest_particles.cli import format_rate, format_speedup, format_time, main


@pytest.fixture(autouse=True)
def wide_output(monkeypatch):
    """Tables rendered wide enough that no name is cut, whatever the terminal running the tests."""
    monkeypatch.setenv("COLUMNS", "250")


def script(*args):
    """Run the installed console script (falling back to ``python -m``) and return the completed process."""
    exe = Path(sys.executable).with_name("pytest-particles")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "pytest_particles.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"}
    )


def load_records(path):
    document = json.loads(Path(path).read_text())
    assert set(document) >= {"machine", "settings", "records"}
    return document, document["records"]


@pytest.fixture
def third_party():
    """Register test backends for the duration of one test."""
    added = []

    def register(kernel, name, func, **kwargs):
        pp.register_backend(kernel, name, func, **kwargs)
        added.append((kernel, name))

    yield register
    for kernel, name in added:
        pp.unregister_backend(kernel, name)


# --------------------------------------------------------------------------- backends


def test_backends_lists_every_kernel_and_backend(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    for kernel in pp.KERNELS:
        assert kernel in out
        for b in pp.backends(kernel):
            assert b.name in out
            assert b.reason in out
    assert "available" in out and "reason" in out


def test_backends_one_kernel(capsys):
    assert main(["backends", "--kernel", "pi"]) == 0
    out = capsys.readouterr().out
    assert "multiprocessing_per_sample" in out
    assert "distance_matrix" not in out and "evolve" not in out


def test_backends_shows_an_unavailable_third_party_backend_with_its_reason(capsys, third_party):
    third_party("pi", "test_cli_absent", lambda samples, seed_sequence: 0, check=lambda: "needs [a] quantum computer")
    assert main(["backends", "--kernel", "pi"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "test_cli_absent" in line)
    assert "no" in line.split() and "needs [a] quantum computer" in line


def test_backends_console_script():
    done = script("backends")
    assert done.returncode == 0, done.stderr
    for kernel in pp.KERNELS:
        assert kernel in done.stdout


# --------------------------------------------------------------------------- bench


def test_bench_cython_writes_json(tmp_path):
    cython = next(b for b in pp.backends("evolve") if b.name == "cython")
    if not cython.available:
        pytest.skip(cython.reason)
    out = tmp_path / "out.json"
    # a budget 10,000 times what the run takes (about 10 ms): it runs full size however busy the machine is
    done = script("bench", "--kernel", "evolve", "--backend", "cython", "--size", "100", "--budget", "100",
                  "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "cython" in done.stdout and "evolve" in done.stdout

    document, records = load_records(out)
    assert len(records) == 1
    r = records[0]
    assert (r["kernel"], r["backend"], r["size"]) == ("evolve", "cython", 100)
    assert r["available"] is True and r["reason"] == "" and r["error"] == ""
    assert r["work"] == 100 * 10_000 and r["work_unit"] == "particle-steps"
    assert r["measured_work"] == r["work"] and r["scaled"] is False
    assert r["time_s"] > 0 and math.isfinite(r["time_s"])
    assert r["full_size_time_s"] == r["time_s"]
    assert r["throughput"] == pytest.approx(r["work"] / r["time_s"])
    assert r["throughput_unit"] == "particle-steps/s"
    assert r["published_s"] == 0.0134  # the book's figure, cited by the kernel's declaration
    assert r["speedup"] is None and r["baseline"] == "python"  # python was not run
    assert r["repeat"] == 3

    machine = document["machine"]
    assert machine["python_version"].count(".") == 2
    assert machine["numpy_version"] == np.__version__
    assert machine["cpu_count"] >= 1 and machine["cpu_affinity"] >= 1
    assert machine["date"][:2] == "20"
    assert document["settings"]["budget_s"] == 100.0


def test_bench_scaled_python_row_is_marked_and_extrapolated(tmp_path, capsys):
    out = tmp_path / "scaled.json"
    # a budget a thousandth of the full run (about 1 s): scaled on any machine, and load only makes it slower
    args = ["bench", "--kernel", "evolve", "--backend", "python", "--size", "100", "--budget", "0.001", "--repeat", "1"]
    assert main([*args, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if " python " in line and "evolve" in line)
    assert "*" in row and "extrapolated from size 100 with" in row
    assert "extrapolated" in text

    _, (r,) = load_records(out)
    assert r["scaled"] is True
    assert 0 < r["measured_work"] < r["work"] == 1_000_000
    assert r["measured_work"] % 100 == 0  # the same 100 particles, fewer steps
    assert r["full_size_time_s"] == pytest.approx(r["time_s"] * r["work"] / r["measured_work"])
    assert r["throughput"] == pytest.approx(r["measured_work"] / r["time_s"])
    assert r["speedup"] == pytest.approx(1.0)
    assert r["published_s"] == 0.614


def test_bench_scales_distance_matrix_and_pi_too(tmp_path, capsys):
    out = tmp_path / "both.json"
    args = ["bench", "--kernel", "distance_matrix,pi", "--backend", "python,numpy", "--size", "3000"]
    assert main([*args, "--budget", "0.001", "--repeat", "1", "--json", str(out)]) == 0  # python: ~3 s full size
    _, records = load_records(out)
    assert {(r["kernel"], r["backend"]) for r in records} == {
        (k, b) for k in ("distance_matrix", "pi") for b in ("python", "numpy")
    }
    python_distance = next(r for r in records if r["kernel"] == "distance_matrix" and r["backend"] == "python")
    assert python_distance["scaled"] and python_distance["work"] == 3000**2
    points = math.isqrt(python_distance["measured_work"])
    assert points**2 == python_distance["measured_work"] and points < 3000  # fewer points
    for r in records:
        assert r["time_s"] > 0 and r["full_size_time_s"] >= r["time_s"]
        assert r["speedup"] > 0


def test_bench_third_party_backends_are_scaled_skipped_or_reported(tmp_path, capsys, third_party):
    from pytest_particles.book.evolution import evolve_python_fast

    def broken(r, ang_speed, timestep, nsteps):
        raise RuntimeError("this backend is broken on purpose")

    third_party("evolve", "test_cli_slow", evolve_python_fast)
    third_party("evolve", "test_cli_absent", broken, check=lambda: "needs a [quantum] computer")
    third_party("evolve", "test_cli_broken", broken)
    out = tmp_path / "third.json"
    args = ["bench", "--kernel", "evolve", "--backend", "test_cli_slow,test_cli_absent,test_cli_broken"]
    code = main([*args, "--size", "1000", "--budget", "0.001", "--repeat", "1", "--json", str(out)])
    assert code == 1  # a backend failed; the others still ran
    text = capsys.readouterr().out
    assert "skipped" in text and "needs a [quantum] computer" in text
    assert "failed" in text and "broken on purpose" in text

    _, records = load_records(out)
    by_name = {r["backend"]: r for r in records}
    slow = by_name["test_cli_slow"]
    assert slow["scaled"] and slow["measured_work"] < slow["work"] and slow["full_size_time_s"] > slow["time_s"]
    absent = by_name["test_cli_absent"]
    assert absent["available"] is False and absent["reason"] == "needs a [quantum] computer"
    assert absent["time_s"] is None
    broken_record = by_name["test_cli_broken"]
    assert broken_record["available"] is True and "broken on purpose" in broken_record["error"]
    assert broken_record["time_s"] is None


def test_plan_defaults_are_each_kernels_declared_sizes():
    cells = bench.plan()
    sizes = {(c.kernel, c.size) for c in cells}
    assert sizes == {(k.name, n) for k in pp.kernels() for n in k.sizes}
    assert {k: pp.kernel(k).sizes for k in pp.KERNELS} == {
        "evolve": (100, 1000, 10000),
        "distance_matrix": (1000, 10000),
        "pi": (1_000_000, 10_000_000),
    }
    assert {c.backend.name for c in cells if c.kernel == "pi"} == {b.name for b in pp.backends("pi")}


def test_cases_and_their_smaller_versions():
    from pytest_particles.cases import Case

    evolve = pp.kernel("evolve")
    case = Case(evolve, 1000)
    assert case.work == evolve.work(1000) == 1000 * 10_000
    r, ang_speed, dt = case.args
    assert r.shape == (1000, 2) and ang_speed.shape == (1000,) and dt == 0.1
    assert (np.abs(r) < 1).all() and (np.abs(ang_speed) < 1).all() and ((r**2).sum(axis=1) > 0).all()
    (r2, _, dt2), work = evolve.shrink(case.args, 0.0123)
    assert np.array_equal(r2, r) and work == 1000 * 123 and dt2 == pytest.approx(123e-5)  # the same particles
    assert np.array_equal(Case(evolve, 1000).args[0], r)  # the same case in every run
    assert not np.array_equal(Case(evolve, 1000, seed=1).args[0], r)
    distance = pp.kernel("distance_matrix")
    assert bench.size_for_work(distance, 1e6, 10_000) == 1000
    assert bench.size_for_work(distance, 1e6 - 1, 10_000) == 999
    assert bench.size_for_work(pp.kernel("pi"), 1e9, 10**6) == 10**6


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "args, bad, listed",
    [
        (["bench", "--kernel", "bogus"], "'bogus'", "distance_matrix"),
        (["bench", "--kernel", "evolve,nope"], "'nope'", "evolve"),
        (["bench", "--backend", "fortran"], "'fortran'", "cython"),
        (["bench", "--kernel", "pi", "--backend", "python_fast"], "'python_fast'", "multiprocessing_per_sample"),
        (["bench", "--size", "0"], "'0'", ">= 1"),
        (["bench", "--size", "100,-5"], "'-5'", ">= 1"),
        (["bench", "--size", "many"], "'many'", ">= 1"),
        (["bench", "--repeat", "0"], "'0'", ">= 1"),
        (["bench", "--budget", "-1"], "'-1'", "> 0"),
        (["bench", "--size", "1.5"], "'1.5'", "sizes must be whole numbers >= 1 (e.g. 1000 or 1e6)"),
        (["bench", "--size", ","], "','", "expected comma-separated sizes"),
        (["bench", "--backend", "numpy,fortran", "--kernel", "pi"], "'fortran'", "registered: "),
        (["backends", "--kernel", "bogus"], "'bogus'", "evolve"),
    ],
)
def test_bad_arguments_are_usage_errors(capsys, args, bad, listed):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and bad in err and listed in err
    # one line naming the option: the shared parser's or the registry's message
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"pytest-particles {args[0]}: error: argument --") and bad in last and listed in last


def test_list_options_are_the_plugins_syntax(tmp_path):
    """--size 1e3, comma lists and repeated options, through pytest_particles.arguments like --particles-sizes."""
    out = tmp_path / "lists.json"
    args = ["bench", "--kernel", "pi,pi", "--kernel", "pi", "--backend", "numpy", "--backend", "numpy",
            "--size", "1e3,2_000", "--size", "1000", "--repeat", "1", "--json", str(out)]
    assert main(args) == 0
    document, records = load_records(out)
    assert [(r["kernel"], r["backend"], r["size"]) for r in records] == [("pi", "numpy", 1000), ("pi", "numpy", 2000)]
    settings = document["settings"]
    assert (settings["kernels"], settings["backends"], settings["sizes"]) == (["pi"], ["numpy"], [1000, 2000])


def test_a_backend_that_cannot_run_here_is_one_line_and_exit_1(capsys, third_party):
    third_party("evolve", "test_cli_absent", lambda r, ang_speed, timestep, nsteps: None,
                check=lambda: "needs a [quantum] computer")
    for command in (["profile", "evolve"], ["animate"]):
        assert main([*command, "--backend", "test_cli_absent"]) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"pytest-particles {command[0]}: evolve backend 'test_cli_absent' is not available "
                               "here: needs a [quantum] computer; available: ")


def test_bad_kernel_through_the_console_script():
    done = script("bench", "--kernel", "bogus")
    assert done.returncode == 2
    assert "'bogus'" in done.stderr and "evolve, distance_matrix, pi" in done.stderr


def test_no_subcommand_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert "usage:" in captured.err and "bench" in captured.err and "backends" in captured.err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pytest-particles {pp.__version__}"
    done = script("--version")
    assert done.returncode == 0 and pp.__version__ in done.stdout


def test_module_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "pytest_particles.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and pp.__version__ in done.stdout


# --------------------------------------------------------------------------- formatting


def test_formatting():
    assert format_time(0.614) == "614 ms"
    assert format_time(6.13) == "6.13 s"
    assert format_time(0.0134) == "13.4 ms"
    assert format_time(0.9996) == "1 s"
    assert format_time(1290.4) == "1,290 s"
    assert format_time(2.5e-6) == "2.5 µs"
    assert format_time(None) == ""
    assert format_rate(385e6, "particle-steps/s") == "385 M particle-steps/s"
    assert format_rate(999.96e6, "pairs/s") == "1 G pairs/s"
    assert format_rate(12.0, "samples/s") == "12 samples/s"
    assert format_speedup(52.34) == "52.3x"
    assert format_speedup(1234.4) == "1,234x"
    assert format_speedup(None) == ""
