"""How the extensions are built: without OpenMP or clones too, and every CPU path gives the same bits."""

import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# Fixed inputs through the serial compiled kernels; the results as the hex of their bits, one kernel a line.
KERNEL_RESULTS = """
import numpy as np
from pytest_particles import _distance, _evolve, _pi
rng = np.random.default_rng(12)
r, speeds = rng.uniform(-1, 1, (300, 2)), rng.uniform(-1, 1, 300)
_evolve.c_evolve(r, speeds, 1e-3, 100)
points = rng.uniform(-1, 1, (300, 2))
matrix, blocked = np.empty((300, 300)), np.empty((300, 300))
_distance.c_distance_matrix(points, matrix)
_distance.blocked_distance_matrix(np.ascontiguousarray(points.T), blocked, 1)
seeds, gammas = rng.integers(0, 2**63, 8, dtype=np.uint64), rng.integers(0, 2**63, 8, dtype=np.uint64) | np.uint64(1)
hits = _pi.splitmix_count_hits(seeds, gammas, np.full(8, 20000, dtype=np.int64), 1)
print("clones", _evolve.CPU_CLONES, _distance.CPU_CLONES, _pi.CPU_CLONES)
for name, values in [("evolve", r), ("matrix", matrix), ("blocked", blocked)]:
    print(name, values.tobytes().hex())
print("splitmix", hits)
"""


KERNEL_MODULES = ("_distance", "_evolve", "_pi")  # the compiled modules of evolve, distance_matrix and pi


def _kernel_results(cwd) -> dict[str, str]:
    run = subprocess.run([sys.executable, "-c", KERNEL_RESULTS], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return dict(line.split(" ", 1) for line in run.stdout.splitlines())


@pytest.mark.timeout(900)
def test_portable_build_without_openmp_or_clones(tmp_path):
    """The most portable build (no OpenMP, one plain CPU path) runs, says so, and gives the bits of the normal build."""
    pytest.importorskip("Cython")
    # build a copy of the sources, so the working tree's extensions are untouched; the modules of the three kernels
    # only, from the C files Cython already wrote (cythonize redoes any older than its .pyx), two at a time
    work = tmp_path / "project"
    shutil.copytree(
        ROOT, work, ignore=shutil.ignore_patterns(".git", "build", "*.so", ".venv", "__pycache__", ".asv")
    )
    for source in (work / "src").glob("*.pyx"):
        if source.stem not in KERNEL_MODULES:
            source.unlink()
    env = dict(os.environ, PYTEST_PARTICLES_NO_OPENMP="1", PYTEST_PARTICLES_NO_CLONES="1")
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace", "--parallel", "2"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
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
    assert (
        "error: evolve backend 'openmp' is not available here: pytest_particles._evolve was built without OpenMP"
        in run.stdout
    )
    # the fallback is one plain path (no clone, no ifunc) and computes exactly what the working tree's build does
    fallback, normal = _kernel_results(work), _kernel_results(ROOT)
    assert fallback.pop("clones") == "False False False"
    normal_cloned = normal.pop("clones") == "True True True"
    assert fallback == normal
    for tree, cloned in [(work, False), (ROOT, normal_cloned)]:
        for name in KERNEL_MODULES:
            (module,) = (tree / "pytest_particles").glob(f"{name}.*.so")
            # GCC names the ifunc resolver of a cloned function NAME.resolver
            assert (b".resolver" in module.read_bytes()) == cloned, module


# --------------------------------------------------------------------------- the CPU paths of _simd_kernels.h

HARNESS = ROOT / "tests" / "simd_harness.c"
# the build's flags for the kernels (setup.py BASE_FLAGS); -ffp-contract=off is what the same bits rest on
FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno"]
FMA = re.compile(r"\bvf(n?)m(add|sub)(132|213|231)[ps][sd]\b")  # any x86 fused multiply-add instruction
GUARD_CASES = [  # predefined macros of a compiler and C library -> whether the kernels are cloned
    ("gcc 12, glibc, x86-64 Linux", "-D__GNUC__=12 -D__x86_64__ -D__linux__ -D__GLIBC__=2", 1),
    ("gcc 14, glibc, x86-64 Linux", "-D__GNUC__=14 -D__x86_64__ -D__linux__ -D__GLIBC__=2", 1),
    ("gcc 11 (no x86-64-v3 names in target_clones)", "-D__GNUC__=11 -D__x86_64__ -D__linux__ -D__GLIBC__=2", 0),
    ("gcc 8", "-D__GNUC__=8 -D__x86_64__ -D__linux__ -D__GLIBC__=2", 0),
    ("gcc 12, musl (no __GLIBC__, no ifunc)", "-D__GNUC__=12 -D__x86_64__ -D__linux__", 0),
    (
        "clang 18 (defines __GNUC__=4 and __clang__)",
        "-D__GNUC__=4 -D__clang__=1 -D__x86_64__ -D__linux__ -D__GLIBC__=2",
        0,
    ),
    ("clang pretending gcc 12", "-D__GNUC__=12 -D__clang__=1 -D__x86_64__ -D__linux__ -D__GLIBC__=2", 0),
    ("icc", "-D__GNUC__=12 -D__INTEL_COMPILER=2021 -D__x86_64__ -D__linux__ -D__GLIBC__=2", 0),
    ("gcc 12, glibc, aarch64", "-D__GNUC__=12 -D__aarch64__ -D__linux__ -D__GLIBC__=2", 0),
    ("gcc 12, FreeBSD", "-D__GNUC__=12 -D__x86_64__ -D__FreeBSD__=14", 0),
    ("MSVC", "-D_MSC_VER=1930 -D_M_X64", 0),
    ("forced off", "-D__GNUC__=12 -D__x86_64__ -D__linux__ -D__GLIBC__=2 -DPYTEST_PARTICLES_NO_CLONES", 0),
]


def _gcc():
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the CPU paths cannot be built")
    return gcc


def _compile(tmp_path, name, *flags, source=HARNESS):
    """Compile ``source`` with the build's include path and ``flags`` into tmp_path/name; its path."""
    exe = tmp_path / name
    done = subprocess.run(
        [_gcc(), *flags, "-I", str(ROOT / "src"), str(source), "-o", str(exe), "-lm"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return exe


def _run(exe) -> dict[str, list[str]]:
    """The harness's output, part name -> its lines."""
    done = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, check=True)
    parts, name = {}, None
    for line in done.stdout.splitlines():
        if line.startswith("# "):
            name = line[2:]
            parts[name] = []
        else:
            parts[name].append(line)
    return parts


def _cpu_levels(tmp_path) -> dict[str, bool]:
    """Which x86-64 levels this CPU runs, as GCC's own resolver (the one target_clones uses) answers."""
    probe = tmp_path / "levels.c"
    probe.write_text(
        '#include <stdio.h>\nint main(void) { printf("%d %d\\n", __builtin_cpu_supports("x86-64-v3") != 0,'
        ' __builtin_cpu_supports("x86-64-v4") != 0); return 0; }\n'
    )
    done = subprocess.run(
        [_gcc(), str(probe), "-o", str(tmp_path / "levels")], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:  # GCC < 12 does not know the level names
        pytest.skip(f"this gcc cannot test x86-64 levels: {done.stderr.strip()[:200]}")
    v3, v4 = subprocess.run([str(tmp_path / "levels")], capture_output=True, text=True, check=True).stdout.split()
    return {"x86-64-v3": v3 == "1", "x86-64-v4": v4 == "1"}


def _x86_64():
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"the CPU paths are x86-64 levels; this machine is {platform.machine()}")


def _differences(a: dict, b: dict) -> list[str]:
    """The parts whose outputs differ (the build kind itself aside), with the first differing line."""
    out = []
    for name in a:
        if name != "multiversioned" and a[name] != b[name]:
            i = next(i for i, (p, q) in enumerate(zip(a[name], b[name])) if p != q)
            out.append(f"{name}[{i}]: {a[name][i]} != {b[name][i]}")
    return out


@pytest.mark.parametrize("label, macros, cloned", GUARD_CASES, ids=[case[0] for case in GUARD_CASES])
def test_clone_guard_admits_only_gcc_12_with_glibc_on_x86_64_linux(tmp_path, label, macros, cloned):
    # the guard preprocessed as each compiler and C library would see it (-undef: none of this gcc's own macros)
    done = subprocess.run(
        [_gcc(), "-undef", "-E", "-dM", *macros.split(), "-x", "c", str(ROOT / "src" / "_simd_guard.h")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    defines = dict(line.split(" ", 2)[1:] for line in done.stdout.splitlines() if line.count(" ") >= 2)
    assert defines["PP_MULTIVERSIONED"] == str(cloned), label
    assert ("target_clones" in defines["PP_CLONES"]) == bool(cloned)


def test_each_cpu_path_gives_the_same_bits(tmp_path):
    """Baseline x86-64, AVX2 (x86-64-v3) and AVX-512 (x86-64-v4) builds, the clones and the installed modules agree."""
    _x86_64()
    levels = _cpu_levels(tmp_path)
    baseline = _run(_compile(tmp_path, "x86-64", *FLAGS, "-march=x86-64", "-DPYTEST_PARTICLES_NO_CLONES"))
    assert baseline["multiversioned"] == ["0"]  # the forced fallback: one plain path
    ran = ["x86-64"]
    for level, supported in levels.items():
        if supported:
            out = _run(_compile(tmp_path, level, *FLAGS, f"-march={level}", "-DPYTEST_PARTICLES_NO_CLONES"))
            assert _differences(baseline, out) == [], level
            ran.append(level)
    # the build as setup.py makes it: clones picked by the loader where the guard allows them, else the one path
    dispatched = _run(_compile(tmp_path, "dispatched", *FLAGS))
    assert _differences(baseline, dispatched) == []
    gcc_major = int(
        subprocess.run([_gcc(), "-dumpversion"], capture_output=True, text=True, check=True).stdout.split(".")[0]
    )
    cloned = gcc_major >= 12 and sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
    assert dispatched["multiversioned"] == [str(int(cloned))]
    # and the installed extension modules, on the same inputs
    import numpy as np

    from pytest_particles import _distance, _evolve, _pi

    if os.path.basename(str(sysconfig.get_config_var("CC")).split()[0]) == "gcc":  # built by this same compiler
        assert _evolve.CPU_CLONES == _distance.CPU_CLONES == _pi.CPU_CLONES == cloned

    def doubles(lines):
        return np.array([int(v, 16) for v in lines], dtype=np.uint64).view(np.float64)

    r = doubles(baseline["evolve input"]).reshape(-1, 2).copy()
    _evolve.c_evolve(r, doubles(baseline["evolve speeds"]), 1e-3, 100)
    assert r.ravel().view(np.uint64).tolist() == [int(v, 16) for v in baseline["evolve"]]
    points = doubles(baseline["points"]).reshape(-1, 2)
    full = [int(v, 16) for v in baseline["rows"]]
    out = np.empty((len(points), len(points)))
    _distance.c_distance_matrix(points, out)
    assert out.ravel().view(np.uint64).tolist() == full
    out[:] = 0.0
    _distance.blocked_distance_matrix(np.ascontiguousarray(points.T), out, 2)
    assert out.ravel().view(np.uint64).tolist() == full
    streams = np.array([[int(v) for v in line.split()] for line in baseline["splitmix"]], dtype=np.uint64)
    hits = _pi.splitmix_count_hits(streams[:, 0].copy(), streams[:, 1].copy(), streams[:, 2].astype(np.int64), 2)
    assert hits == int(streams[:, 3].sum())
    print("CPU paths compared:", ", ".join(ran), "+ dispatched + installed modules")


def test_fp_contract_off_keeps_fused_multiply_add_out(tmp_path):
    """-ffp-contract=off is what the agreement rests on: without it the AVX2 path fuses and rounds differently."""
    _x86_64()
    asm = {}
    for contract in ("off", "fast"):
        flags = [f if f != "-ffp-contract=off" else f"-ffp-contract={contract}" for f in FLAGS]
        asm[contract] = _compile(
            tmp_path, f"{contract}.s", *flags, "-march=x86-64-v3", "-DPYTEST_PARTICLES_NO_CLONES", "-S"
        ).read_text()
    assert not FMA.search(asm["off"])
    assert FMA.search(asm["fast"])  # so the scan above could see one: GCC fuses these loops when allowed to
    if not _cpu_levels(tmp_path)["x86-64-v3"]:
        pytest.skip("this CPU has no AVX2/FMA (x86-64-v3): the fused build cannot run here")
    baseline = _run(_compile(tmp_path, "x86-64", *FLAGS, "-march=x86-64", "-DPYTEST_PARTICLES_NO_CLONES"))
    fused = _run(
        _compile(
            tmp_path,
            "fused",
            *[f for f in FLAGS if f != "-ffp-contract=off"],
            "-ffp-contract=fast",
            "-march=x86-64-v3",
            "-DPYTEST_PARTICLES_NO_CLONES",
        )
    )
    # a fused x*x + y*y is rounded once instead of twice: over 30,000 steps some result must differ
    assert any(part.startswith("evolve[") for part in _differences(baseline, fused))


def test_installed_modules_hold_no_fused_multiply_add():
    """Every clone of every compiled module was built with -ffp-contract=off: no FMA instruction anywhere."""
    _x86_64()
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    import pytest_particles

    modules = sorted(Path(pytest_particles.__file__).parent.glob("_*.so"))
    assert modules, "the compiled modules are not built"
    for module in modules:
        code = subprocess.run(
            [objdump, "-d", "--no-show-raw-insn", str(module)], capture_output=True, text=True, timeout=300, check=True
        ).stdout
        assert not FMA.search(code), f"{module.name}: {FMA.search(code).group(0)}"
