"""The backend registry: records, third-party registration, entry points."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import system

import pytest_particles as pp
from pytest_particles.book import physics

BOOK_BACKENDS = {
    "evolve": {"python", "python_fast", "numpy", "numexpr", "cython", "openmp", "multiprocessing", "analytic"},
    "distance_matrix": {"python", "numpy", "numexpr", "cython", "openmp", "blocked"},
    "pi": {"python", "multiprocessing", "numpy", "cython", "openmp", "multiprocessing_per_sample", "splitmix"},
}


@pytest.mark.parametrize("kernel", pp.KERNELS)
def test_every_book_backend_is_registered_and_available_here(kernel):
    records = pp.backends(kernel)
    assert BOOK_BACKENDS[kernel] <= {b.name for b in records}
    for b in records:
        assert isinstance(b, pp.Backend)
        assert b.kernel == kernel
        assert callable(b.func)
        if b.name in BOOK_BACKENDS[kernel]:
            assert b.available, b.reason
            assert b.reason == ""


def test_unknown_kernel():
    with pytest.raises(ValueError, match=r"kernel must be one of evolve, distance_matrix, pi; got 'simul'"):
        pp.backends("simul")
    with pytest.raises(TypeError, match=r"kernel must be a str"):
        pp.backends(None)


def available(kernel):
    return [b for b in pp.backends(kernel) if b.available]


def test_raw_functions_follow_the_contract():
    case = physics.golden_case()
    for b in available("evolve"):
        r = case.r.copy()
        assert b.func(r, case.ang_speed.copy(), case.timestep, 10_000) is None
        physics.check_golden(r, case)
    r, _ = system(5)
    for b in available("distance_matrix"):
        physics.check_distance_matrix(b.func(r), r)
    for b in available("pi"):
        hits = b.func(100, np.random.SeedSequence(0), 1)
        assert isinstance(hits, int) and 0 <= hits <= 100


def naive_numpy_evolve(r, ang_speed, timestep, nsteps):
    for _ in range(nsteps):
        norm = np.hypot(r[:, 0], r[:, 1])
        r[:] = r + (timestep * ang_speed / norm)[:, None] * np.column_stack([-r[:, 1], r[:, 0]])


def test_register_a_third_party_backend():
    record = pp.register_backend("evolve", "mine", naive_numpy_evolve)
    try:
        assert record in pp.backends("evolve") and record.available and not record.takes_workers
        case = physics.golden_case()
        physics.check_golden(pp.evolve(case.r, case.ang_speed, case.dt, backend="mine"))
        physics.check_golden(record(case.r, case.ang_speed, case.dt))
        # never chosen by default over the built-in ones
        assert pp.registry.lookup("evolve", None).builtin
        # a different function under the same name is refused
        with pytest.raises(ValueError, match=r"already registered.*replace=True"):
            pp.register_backend("evolve", "mine", lambda r, a, t, n: None)
        pp.register_backend("evolve", "mine", lambda r, a, t, n: None, replace=True)
    finally:
        pp.unregister_backend("evolve", "mine")
    assert "mine" not in {b.name for b in pp.backends("evolve")}


def test_register_as_decorator_with_workers_and_a_check():
    seen = []

    @pp.register_backend("pi", "counting", check=lambda: True)
    def counting(samples, seed_sequence, workers):
        seen.append(workers)
        return samples  # every sample a hit: a wrong backend, but a legal answer

    try:
        assert callable(counting) and counting.__name__ == "counting"
        assert pp.monte_carlo_pi(10, backend="counting", workers=3) == 4.0
        assert seen == [pp.validation.workers(3)]  # 3, or the cores this process may use if fewer
    finally:
        pp.unregister_backend("pi", "counting")


def test_serial_third_party_backends_never_see_workers():
    calls = []

    def serial(samples, seed_sequence):
        calls.append(samples)
        return 0

    pp.register_backend("pi", "serial", serial)
    try:
        assert pp.monte_carlo_pi(5, backend="serial", workers=2) == 0.0 and calls == [5]
    finally:
        pp.unregister_backend("pi", "serial")


def test_unavailable_backend_says_why_everywhere():
    pp.register_backend("distance_matrix", "gpu", lambda r: r, check=lambda: "no GPU on this machine")
    try:
        record = next(b for b in pp.backends("distance_matrix") if b.name == "gpu")
        assert not record.available and record.reason == "no GPU on this machine"
        with pytest.raises(ValueError, match=r"'gpu' is not available here: no GPU on this machine.\navailable: "):
            pp.distance_matrix([[0, 1]], backend="gpu")
        with pytest.raises(ValueError, match=r"(?s)unknown distance_matrix backend 'x'.*\nunavailable: gpu \(no GPU"):
            pp.distance_matrix([[0, 1]], backend="x")
    finally:
        pp.unregister_backend("distance_matrix", "gpu")


def test_bad_registrations():
    with pytest.raises(ValueError, match=r"'numpy' is a built-in evolve backend"):
        pp.register_backend("evolve", "numpy", naive_numpy_evolve)
    with pytest.raises(TypeError, match=r"func must be callable; got int"):
        pp.register_backend("evolve", "x", 3)
    with pytest.raises(TypeError, match=r"name must be a str"):
        pp.register_backend("evolve", 3, naive_numpy_evolve)
    with pytest.raises(ValueError, match=r"name must be a non-empty word"):
        pp.register_backend("evolve", "a b", naive_numpy_evolve)
    with pytest.raises(ValueError, match=r"built-in evolve backend and cannot be removed"):
        pp.unregister_backend("evolve", "cython")


def test_wrong_output_of_a_third_party_backend_is_named():
    pp.register_backend("distance_matrix", "flat", lambda r: np.zeros(len(r)))
    pp.register_backend("pi", "liar", lambda samples, seed_sequence: samples + 1)
    try:
        with pytest.raises(TypeError, match=r"backend 'flat' returned shape \(2,\); expected \(2, 2\)"):
            pp.distance_matrix([[0, 1], [1, 0]], backend="flat")
        with pytest.raises(TypeError, match=r"backend 'liar' returned 11; expected an int of hits in \[0, 10\]"):
            pp.monte_carlo_pi(10, backend="liar")
    finally:
        pp.unregister_backend("distance_matrix", "flat")
        pp.unregister_backend("pi", "liar")


def test_entry_point_discovery(tmp_path):
    """A really installed distribution (a dist-info on sys.path) adds backends through the entry-point group."""
    (tmp_path / "thirdparty.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            import pytest_particles as pp

            def evolve_numpy_copy(r, ang_speed, timestep, nsteps):
                pp.evolution.evolve_numpy(r, ang_speed, timestep, nsteps)

            def register():
                pp.register_backend("distance_matrix", "thirdparty_numpy", pp.distance.distance_matrix_numpy)

            def broken():
                raise RuntimeError("boom")
            """
        )
    )
    info = tmp_path / "thirdparty-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[pytest_particles.backends]\n"
        "evolve.thirdparty = thirdparty:evolve_numpy_copy\n"
        "hook = thirdparty:register\n"
        "broken = thirdparty:broken\n"
        "missing = thirdparty_nowhere:func\n"
    )
    script = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("always")
        import pytest_particles as pp
        from pytest_particles.book import physics
        with warnings.catch_warnings(record=True) as caught:
            names = {k: [b.name for b in pp.backends(k)] for k in pp.KERNELS}
        case = physics.golden_case()
        physics.check_golden(pp.evolve(case.r, case.ang_speed, case.dt, backend="thirdparty"))
        print(names["evolve"][-1], names["distance_matrix"][-1])
        print(sorted(str(w.message).split(":")[1].strip() for w in caught))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)}, capture_output=True,
        text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "thirdparty thirdparty_numpy"
    assert lines[1] == "[\"could not load backend entry point 'broken' (thirdparty\", \"could not load backend entry point 'missing' (thirdparty_nowhere\"]"
