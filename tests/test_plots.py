"""asv results, read by asv's own reader (pytest_particles.asvresults) for the plots and the gate: a real asv run."""

import json
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # headless, whatever the machine running the tests

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from pytest_particles import asvresults, gate, plots  # noqa: E402
from pytest_particles.cli import main  # noqa: E402

asv_results = pytest.importorskip("asv.results")

SUITE = """
import pytest_particles.asv

globals().update(pytest_particles.asv.suite("evolve", sizes=[10, 20], backends=["python", "numpy"]))
"""
OLD = "2001-02-03T04:05:06+00:00"  # the commit's date: older than any bench run, so which result wins is fixed


@pytest.fixture(scope="module")
def asv_project(tmp_path_factory):
    """A tiny project whose suite is the one-line asv suite of evolve, run once by asv in this environment."""
    home = tmp_path_factory.mktemp("asv")
    project = home / "project"
    (project / "benchmarks").mkdir(parents=True)
    (project / "benchmarks" / "__init__.py").write_text("")
    (project / "benchmarks" / "evolve.py").write_text(SUITE)
    (project / "asv.conf.json").write_text(json.dumps({
        "version": 1, "project": "tiny", "repo": ".", "branches": ["HEAD"], "environment_type": "existing",
        "benchmark_dir": "benchmarks", "results_dir": "results", "html_dir": "html", "env_dir": "env"}))
    # asv keeps its machine file in HOME
    env = {**os.environ, "HOME": str(home), "GIT_AUTHOR_DATE": OLD, "GIT_COMMITTER_DATE": OLD}
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for command in (["git", "init", "-q", "."], [*git, "add", "-A"], [*git, "commit", "-qm", "tiny"],
                    [sys.executable, "-m", "asv", "machine", "--yes", "--machine", "box"]):
        subprocess.run(command, cwd=project, env=env, check=True, capture_output=True, timeout=120)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    run = subprocess.run([sys.executable, "-m", "asv", "run", "--quick", "--machine", "box", "--bench", "time_",
                          "--record-samples", "--environment", f"existing:{sys.executable}",
                          "--set-commit-hash", commit], cwd=project, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return project, commit


def result_file(project):
    (path,) = [p for p in (project / "results" / "box").glob("*.json") if p.name != "machine.json"]
    return path


def test_one_reader_gives_asvs_own_values(asv_project):
    project, commit = asv_project
    path = result_file(project)
    cells = asvresults.read_file(path)
    assert {c.label for c in cells} == {f"evolve.TimeEvolve.time_evolve('{b}', {s})"
                                        for b in ("python", "numpy") for s in (10, 20)}
    loaded = asv_results.Results.load(str(path))
    params = loaded.get_result_params("evolve.TimeEvolve.time_evolve")
    assert [c.value for c in cells] == loaded.get_result_value("evolve.TimeEvolve.time_evolve", params)
    assert all(c.measured and c.samples and c.commit == commit and c.started_at for c in cells)
    assert {c.date for c in cells} == {981173106.0}  # the commit's date

    # the gate reads the same cells, with their samples for the round-by-round comparison
    at_commit = gate.load_results(project / "results", commit, machine="box")
    assert at_commit == {(c.benchmark, c.params): (c.value, list(c.samples)) for c in cells}
    # results asv ran before a run are not that run's
    newest = max(c.started_at for c in cells)
    assert asvresults.commit_cells(project / "results", commit, "box", since=newest + 1) == []
    with pytest.raises(gate.GateError, match="asv stored no results of this run for"):
        gate.load_results(project / "results", commit, machine="box", since=newest + 1)


def test_plot_asv_results_with_bench_results_is_one_figure(asv_project, tmp_path, capsys):
    project, _ = asv_project
    for given in (project / "results", project / "results" / "box", result_file(project)):
        measurements = plots.load_results(given)
        assert {(m.kernel, m.backend, m.size) for m in measurements} == {
            ("evolve", b, s) for b in ("python", "numpy") for s in (10, 20)}
    out = tmp_path / "plots"
    assert main(["plot", str(project / "results"), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "evolve.png")]
    assert Image.open(out / "evolve.png").size == (plots.DPI * 12, plots.DPI * 5)

    # bench times the same cases: one figure of both, the newer result for a cell measured by both
    bench = tmp_path / "bench.json"
    assert main(["bench", "--kernel", "evolve", "--backend", "python,numpy", "--size", "10,30",
                 "--budget", "0.02", "--repeat", "1", "--json", str(bench)]) == 0
    both = plots.load_results([project / "results", bench])
    assert sorted((m.backend, m.size, m.source) for m in both) == [
        ("numpy", 10, "bench.json"), ("numpy", 20, result_file(project).name), ("numpy", 30, "bench.json"),
        ("python", 10, "bench.json"), ("python", 20, result_file(project).name), ("python", 30, "bench.json")]
    capsys.readouterr()
    assert main(["plot", str(project / "results"), str(bench), "--out", str(tmp_path / "both")]) == 0
    assert sorted(p.name for p in (tmp_path / "both").iterdir()) == ["evolve.png"]
    capsys.readouterr()


def test_asv_file_that_asv_cannot_load(asv_project, tmp_path, capsys):
    project, _ = asv_project
    doc = json.loads(result_file(project).read_text())
    del doc["params"]
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "broken.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"cannot read '.*broken.json' as an asv result file \(.*missing key"):
        plots.load_results(folder / "broken.json")
    assert main(["plot", str(folder / "broken.json"), "--out", str(tmp_path / "p")]) == 2
    assert "as an asv result file" in capsys.readouterr().err
    # in a folder it is passed over like any other JSON that is not results
    with pytest.raises(ValueError, match="no kernel timings"):
        plots.load_results(folder)
