"""The pre-merge gate, run for real: asv builds and runs commits of a scratch clone.

Nothing here rests on how fast the machine is: the timed gate runs end to end only on a slowdown
(SLOWER times the work) that no load beside it can hide, identical code is asserted to pass only where
nothing can flip (instruction counts, and the statistics on recorded samples), and the scratch clone's
commits are built once per session (by asv, and once per source tree in instruction mode).
"""

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pytest_particles import gate

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "pytest_particles.cli"]
SLOWER = 30  # the changed commit's cython evolve does 30 times its work
CYTHON_BENCH = r"time_evolve\('cython', 100\)"
BROKEN_BENCH = r"time_pi\('numpy', 100000\)"
# the compiled module the gate's cells need: the scratch clone builds it alone, in seconds instead of a minute
KEPT_EXTENSIONS = {"_evolve.pyx"}
HEAVY_REQUIREMENTS = ("ipyparallel", "numba", "scipy")  # not needed by the cells timed here


def git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


CYTHON_CALL = "    _compiled.module.c_evolve(r, ang_speed, timestep, nsteps)\n"
CHANGES = {  # file -> (pattern, replacement): the changed commit's edits, each of the first match
    "evolution.py": (re.escape(CYTHON_CALL), f"    for _ in range({SLOWER - 1}):  # injected: {SLOWER} times the work\n"
                     + CYTHON_CALL.replace("(r,", "(r.copy(),").replace("    _", "        _") + CYTHON_CALL),
    "pi.py": (r"def pi_numpy\(.*\n", '\\g<0>    raise RuntimeError("broken")  # injected\n'),
}


@pytest.fixture(scope="session")
def scratch(tmp_path_factory):
    """A clone of this repository and commits on it: identical code, and one where cython's evolve does
    SLOWER times its work and numpy's pi is broken; returns (repo, {name: hash})."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("gate") / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    # the working tree's gate and benchmarks, so the test checks what is being changed
    for part in ("benchmarks", "pytest_particles", "src", "asv.conf.json", "setup.py", "pyproject.toml"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, repo / part, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
        else:
            shutil.copy(source, repo / part)
    for pyx in (repo / "src").glob("*.pyx"):
        if pyx.name not in KEPT_EXTENSIONS:
            pyx.unlink()  # their backends report "not built" and their benchmarks skip, as asv's suite allows
    config = repo / "asv.conf.json"
    text = config.read_text()
    for name in HEAVY_REQUIREMENTS:
        text, found = re.subn(rf'\n\s*"{name}": \[""\],?', "", text)
        assert found == 1, name
    text = re.sub(r',(\s*\})', r"\1", text)  # the matrix's last entry may have lost its successor
    # asv's own loader reads the configuration: a comment after a value is fine
    config.write_text(text.replace('"version": 1,', '"version": 1,  // asv.conf.json allows this', 1))
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "base", cwd=repo)
    base = git("rev-parse", "HEAD", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "identical", cwd=repo)
    commits = {"base": base, "identical": git("rev-parse", "HEAD", cwd=repo)}
    git("checkout", "-q", "--detach", base, cwd=repo)
    for name, (pattern, new) in CHANGES.items():
        source = repo / "pytest_particles" / "book" / name
        text, found = re.subn(pattern, lambda match, new=new: match.expand(new), source.read_text(), count=1)
        assert found == 1, (name, pattern)
        source.write_text(text)
    git("commit", "-q", "-am", "cython's evolve is slower, numpy's pi is broken", cwd=repo)
    commits["changed"] = git("rev-parse", "HEAD", cwd=repo)
    git("checkout", "-q", "--detach", base, cwd=repo)
    # asv falls back to the branch's tip when the suite fails to import: the base, which it has built already
    git("branch", "-q", "-f", "main", base, cwd=repo)
    return repo, commits


@pytest.fixture(scope="session")
def instruction_builds(scratch):
    """Instruction mode's builds of the two source trees, by its own build_site, started beside asv's.

    Each build keeps one core busy; made in a thread while the timed tests' asv builds its own, they are
    ready (cached by tree, as the gate caches them) when the instruction tests run the gate.
    """
    from pytest_particles import instructions

    repo, commits = scratch

    def build():
        for name in ("base", "changed"):
            try:
                instructions.build_site(commits[name], repo, repo / ".asv" / "gate", log=lambda line: None)
            except gate.GateError:
                pass  # not cached: the gate builds it again in the test, and reports the failure there

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    yield thread
    thread.join()


@pytest.fixture
def built(instruction_builds):
    instruction_builds.join()


def test_bad_ref_is_exit_3():
    done = subprocess.run([*CLI, "gate", "no-such-ref", "--config", str(ROOT / "asv.conf.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert "'no-such-ref' is not a commit" in done.stdout


def test_missing_configuration_is_exit_3(tmp_path):
    done = subprocess.run([*CLI, "gate", "HEAD", "--config", str(tmp_path / "asv.conf.json")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 3
    assert "no asv configuration at" in done.stdout


def test_configuration_with_trailing_comments_is_read_by_asvs_loader(tmp_path):
    path = tmp_path / "asv.conf.json"
    path.write_text('{"version": 1, "repo": ".",  // the repository\n'
                    ' "results_dir": "res" /* asv\'s folder */, "branches": ["main"],\n}\n')
    config = gate.load_config(path)
    assert config["results_dir"] == "res" and config["benchmark_dir"] == "benchmarks"  # asv's defaults too


@pytest.mark.parametrize("text, message", [
    ('{"version": 1, "repo": ".",, }', "cannot read the asv configuration .*: line 1: Unexpected"),
    ('{"version": 1}', "cannot read the asv configuration .*: No repo specified"),
])
def test_broken_configuration_is_one_line_and_exit_3(tmp_path, text, message):
    (tmp_path / "asv.conf.json").write_text(text)
    with pytest.raises(gate.GateError, match=message):
        gate.load_config(tmp_path / "asv.conf.json")
    done = subprocess.run([*CLI, "gate", "HEAD", "--config", str(tmp_path / "asv.conf.json")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "250"})
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert len(done.stdout.strip().splitlines()) == 1 and "cannot read the asv configuration" in done.stdout


@pytest.mark.parametrize("mode", [[], ["--instructions"]])
def test_bench_that_is_no_regular_expression_is_exit_3_in_both_modes(mode):
    done = subprocess.run([*CLI, "gate", "HEAD", "HEAD", "--bench", "time_(", *mode,
                           "--config", str(ROOT / "asv.conf.json")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "250"})
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.strip().splitlines() == [
        "gate: --bench 'time_(' is not a regular expression: missing ), unterminated subpattern at position 5 "
        "(exit 3)"]
    with pytest.raises(ValueError, match="is not a regular expression"):  # a BenchError is a ValueError
        gate.check_bench("time_(", instructions=bool(mode))
    with pytest.raises(TypeError, match="bench must be a regular expression"):
        gate.check_bench(3)


def test_instructions_bench_that_matches_nothing_is_exit_3_even_without_valgrind():
    done = subprocess.run([*CLI, "gate", "HEAD", "HEAD", "--instructions", "--bench", "fortran",
                           "--config", str(ROOT / "asv.conf.json")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "250"})
    assert done.returncode == 3
    assert "--bench 'fortran' matches no instruction-count cell" in done.stdout


def test_instructions_without_valgrind_is_exit_3(tmp_path):
    # a PATH with python and git but no valgrind
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git",):
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = dict(os.environ, PATH=str(bin_dir))
    done = subprocess.run([*CLI, "gate", "HEAD", "HEAD", "--instructions", "--config", str(ROOT / "asv.conf.json")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 3
    assert "valgrind is not installed" in done.stdout


def test_instruction_cells_are_every_serial_backend_of_every_declared_kernel():
    from pytest_particles import instructions

    cells = instructions.cells()
    assert ("evolve", "cython", 100) in cells and ("pi", "numpy", 1_000_000) in cells
    assert not {("evolve", "openmp", 100), ("pi", "splitmix", 1_000_000)} & set(cells)  # declared parallel
    # in the registry's order of kernels, which is the order their modules were first imported in
    assert sorted(c[:2] for c in instructions.cells(r"\.cython\(")) == [
        ("distance_matrix", "cython"), ("evolve", "cython"), ("pi", "cython")]
    assert instructions.cells("evolve.cython(20)|pi.numpy(1000)") == [("evolve", "cython", 20), ("pi", "numpy", 1000)]
    with pytest.raises(gate.BenchError, match=r"matches no instruction-count cell; the cells are: .*evolve\.cython\(100\)"):
        instructions.cells("fortran")
    with pytest.raises(gate.GateError, match=r"--bench '\(' is not a regular expression"):
        instructions.cells("(")
    with pytest.raises(gate.GateError, match=r"no serial backend for evolve.openmp\(20\) is available"):
        instructions.cells("evolve.openmp(20)")


def rounds_of(*bests, per_round=gate.SAMPLES_PER_ROUND):
    """asv samples for rounds whose best samples are ``bests`` (the others a little slower)."""
    return [best * (1 + 0.01 * i) for best in bests for i in range(per_round)]


def test_compare_flags_only_slowdowns_past_the_threshold():
    key = "b.time_x"
    base = {(key, ("'cython'", "100")): (1.0, rounds_of(1.0, 1.0, 1.0, 1.0)),
            (key, ("'openmp'", "100")): (1.0, rounds_of(1.0, 1.0, 1.0, 1.0)),
            (key, ("'numpy'", "100")): (1.0, rounds_of(1.0, 1.0, 1.0, 1.0)),
            (key, ("'numexpr'", "100")): (1.0, rounds_of(1.0, 1.0, 1.0, 1.0)),
            (key, ("'python_fast'", "100")): (1.0, rounds_of(1.0, 1.0, 1.0, 1.0)),
            (key, ("'python'", "100")): (float("nan"), None)}
    head = {(key, ("'cython'", "100")): (1.1, rounds_of(1.1, 1.1, 1.1, 1.1)),  # +10 % single-thread: flagged
            (key, ("'openmp'", "100")): (1.1, rounds_of(1.1, 1.1, 1.1, 1.1)),  # +10 % parallel: within 15 %
            (key, ("'numpy'", "100")): (None, None),  # fails at HEAD
            (key, ("'numexpr'", "100")): (1.0, rounds_of(1.0, 3.0, 1.0, 1.0)),  # one round under load
            (key, ("'python_fast'", "100")): (1.1, rounds_of(1.1, 1.1, 1.0, 1.1)),  # 3 of 4 rounds: flagged
            (key, ("'python'", "100")): (1.0, [1.0])}  # skipped at BASE: not compared
    cells, broken = gate.compare(base, head, rounds=4)
    assert broken == ["b.time_x('numpy', 100)"]
    verdicts = {c.label: c.flagged for c in cells}
    assert verdicts == {"b.time_x('cython', 100)": True, "b.time_x('openmp', 100)": False,
                        "b.time_x('numexpr', 100)": False, "b.time_x('python_fast', 100)": True}


def test_round_bests_split_samples_into_rounds():
    samples = rounds_of(3.0, 1.0, 2.0)
    assert gate._round_bests(samples, 3) == [3.0, 1.0, 2.0]
    assert gate._round_bests(samples, 1) == [1.0]  # one round: the best of all
    assert gate._round_bests(samples[:-1], 3) == [1.0]  # rounds cannot be told apart: one value


# --- the timed gate on real commits: asv builds, runs and records them once per session ------------------


def run_gate(repo, base, head, *extra):
    # a wide table, one benchmark per line, whatever terminal size the test process passes on
    return subprocess.run([*CLI, "gate", base, head, "--config", str(repo / "asv.conf.json"), *extra],
                          capture_output=True, text=True, timeout=1200, env={**os.environ, "COLUMNS": "250"})


def result_files(repo: Path, commit: str) -> list[Path]:
    return sorted((repo / ".asv" / "results").glob(f"*/{commit[:8]}-*.json"))


@pytest.fixture(scope="session")
def timed_slowdown(scratch, instruction_builds):
    """The timed gate on the changed commit's cython evolve (2 rounds), and the samples asv recorded."""
    repo, commits = scratch
    done = run_gate(repo, commits["base"], commits["changed"], "--bench", CYTHON_BENCH, "--rounds", "2")
    results = repo / ".asv" / "results"
    recorded = {name: gate.load_results(results, commits[name], machine=gate.machine_name())
                for name in ("base", "changed")}
    return done, recorded


@pytest.mark.timeout(1200)
def test_timed_gate_confirms_a_slowdown_no_load_can_hide(timed_slowdown):
    done, _ = timed_slowdown
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if "time_evolve('cython', 100)" in line)
    assert "REGRESSION" in line and float(line.split()[-3]) > SLOWER / 3, line  # HEAD / BASE
    assert "confirmed regression" in done.stdout
    assert "1 cell(s) flagged; running them again to confirm" in done.stderr  # and asv ran it again


KEY = ("evolve.TimeEvolve.time_evolve", ("'cython'", "100"))


@pytest.mark.timeout(1200)
def test_recorded_rounds_decide_as_the_statistics_say(timed_slowdown):
    """asv's own records of both commits through compare(): identical samples never flag, and a burst of load in one
    round of two does not decide alone; the recorded slowdown does."""
    _, recorded = timed_slowdown
    base_value, base_samples = recorded["base"][KEY]
    assert len(base_samples) == 2 * gate.SAMPLES_PER_ROUND  # asv kept every sample of both rounds, in order
    assert len(gate._round_bests(base_samples, 2)) == 2
    at_base = {KEY: (base_value, base_samples)}
    (same,), broken = gate.compare(at_base, at_base, rounds=2)
    assert not same.flagged and same.ratio == 1.0 and not broken
    burst = base_samples[:gate.SAMPLES_PER_ROUND] + [3 * t for t in base_samples[gate.SAMPLES_PER_ROUND:]]
    (loaded,), _ = gate.compare(at_base, {KEY: (base_value, burst)}, rounds=2)
    assert not loaded.flagged and loaded.detail == "1 of 2 rounds slower"
    (slow,), _ = gate.compare(at_base, {KEY: recorded["changed"][KEY]}, rounds=2)
    assert slow.flagged and slow.detail == "2 of 2 rounds slower"


@pytest.mark.timeout(1200)
def test_timed_gate_on_a_broken_benchmark_is_exit_2(scratch):
    repo, commits = scratch
    broken = run_gate(repo, commits["base"], commits["changed"], "--bench", BROKEN_BENCH, "--rounds", "1")
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert "broken at HEAD: pi.TimePi.time_pi('numpy', 100000)" in broken.stdout


@pytest.mark.timeout(1200)
def test_timed_bench_that_matches_no_benchmark_is_exit_3(scratch):
    repo, commits = scratch
    done = run_gate(repo, commits["base"], commits["changed"], "--bench", "time_fortran", "--rounds", "1")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "gate: --bench 'time_fortran' matches no benchmark of the asv suite" in done.stdout


@pytest.mark.timeout(1200)
def test_failed_asv_run_is_exit_3_with_asvs_output_and_no_older_result(scratch, timed_slowdown):
    repo, commits = scratch
    assert result_files(repo, commits["base"]) and result_files(repo, commits["changed"])  # the session's run's
    # the suite in the work tree (asv discovers it there) now fails to import: asv run fails
    broken = repo / "benchmarks" / "zz_broken.py"
    broken.write_text('raise RuntimeError("this suite cannot be imported")\n')
    try:
        done = run_gate(repo, commits["base"], commits["changed"], "--bench", CYTHON_BENCH, "--rounds", "1")
    finally:
        broken.unlink()
    assert done.returncode == 3, done.stdout + done.stderr
    assert "gate: asv run failed (exit 1)" in done.stdout and "benchmark cells" not in done.stdout
    assert "the last lines of asv run's output" in done.stderr
    assert "this suite cannot be imported" in done.stderr  # asv's own output, shown
    # the results of the earlier run are still there, and were not taken for this run's
    assert result_files(repo, commits["base"]) and result_files(repo, commits["changed"])


# --- instruction mode on real commits: counts do not drift with load, so identical code is asserted to pass ----


needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")


@needs_valgrind
@pytest.mark.timeout(1200)
def test_instruction_gate_passes_identical_code(scratch, built):
    repo, commits = scratch
    identical = run_gate(repo, commits["base"], commits["identical"], "--instructions", "--bench", "evolve.cython(100)")
    assert identical.returncode == 0, identical.stdout + identical.stderr
    assert "no instruction-count regression in 1 kernel cells" in identical.stdout
    # the identical commit has the base's files: the base's build serves both
    assert f"building {commits['identical'][:8]}" not in identical.stderr, identical.stderr


@needs_valgrind
@pytest.mark.timeout(1200)
def test_instruction_gate_counts_the_injected_work(scratch, built):
    repo, commits = scratch
    slow = run_gate(repo, commits["base"], commits["changed"], "--instructions", "--bench", "evolve.cython(10)")
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "evolve.numpy" not in slow.stdout  # --bench narrows the cells counted
    line = next(line for line in slow.stdout.splitlines() if "evolve.cython" in line)
    # SLOWER times the kernel's work: about SLOWER times the instructions (the door's checks are paid once)
    ratio = float(line.split()[-3])
    assert "REGRESSION" in line and SLOWER / 2 < ratio <= SLOWER + 0.01, line


@needs_valgrind
@pytest.mark.timeout(1200)
def test_instruction_gate_on_a_broken_kernel_is_exit_2(scratch, built):
    repo, commits = scratch
    broken = run_gate(repo, commits["base"], commits["changed"], "--instructions", "--bench", "pi.numpy(1000)")
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert "broken at HEAD: pi.numpy(1000): RuntimeError: broken" in broken.stdout
