"""The extensions build without OpenMP too, and the openmp backends then say why they cannot run."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)
def test_serial_build_reports_openmp_unavailable(tmp_path):
    pytest.importorskip("Cython")
    # build a copy of the sources, so the working tree's extensions are untouched
    work = tmp_path / "project"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".git", "build", "*.so", "*.c", ".venv", "__pycache__", ".asv"))
    env = dict(os.environ, PYTEST_PARTICLES_NO_OPENMP="1")
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"], cwd=work, env=env, capture_output=True, text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert "building WITHOUT OpenMP" in build.stderr
    script = textwrap.dedent(
        """
        import pytest_particles as pp
        from pytest_particles.book import physics
        assert pp.__file__.startswith({work!r}), pp.__file__
        for kernel in pp.KERNELS:
            by_name = {{b.name: b for b in pp.backends(kernel)}}
            assert not by_name["openmp"].available
            print(kernel, by_name["openmp"].reason.split(" (")[0])
            assert by_name["cython"].available, by_name["cython"].reason
        case = physics.golden_case()
        physics.check_golden(pp.evolve(case.r, case.ang_speed, case.dt))  # the default still runs, serially
        try:
            pp.evolve(case.r, case.ang_speed, case.dt, backend="openmp")
        except ValueError as exc:
            print("error:", exc)
        """
    ).format(work=str(work))
    run = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for kernel, module in [("evolve", "_evolve"), ("distance_matrix", "_distance"), ("pi", "_pi")]:
        assert f"{kernel} pytest_particles.{module} was built without OpenMP" in lines
    assert "error: evolve backend 'openmp' is not available here: pytest_particles._evolve was built without OpenMP" in run.stdout
