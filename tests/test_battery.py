"""The adversarial battery: every backend of every declared kernel (the book's and a user's) against hostile input.

Each kernel's backends run in a child process with a deadline, on variants of the kernel's own smallest case:
arrays with NaN or infinity, another shape, a mask, complex, object or string data, None, odd but valid layouts;
scalars negative, zero, NaN, huge or of the wrong type; ``workers`` of every wrong kind and far too many. Every
call must give a clear ValueError/TypeError/MemoryError or the reference's answer on the same input, leave its
inputs as they were, and the child must neither crash nor hang nor leave a process behind.
"""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

import pytest_particles as pp

DRIVER = r'''
import copy, json, sys
import numpy as np
import pytest_particles as pp
from pytest_particles import cases

# a user's kernel beside the book's: row norms, a loop reference and NumPy
pp.register_kernel("battery_norms", inputs=lambda size, rng: (rng.random((size, 3)),), reference="loop",
                   sizes=(8,), validate=lambda x: pp.validation.float_array(x, "x", 2))
pp.register_backend("battery_norms", "loop",
                    lambda x: np.array([sum(v * v for v in row) ** 0.5 for row in np.asarray(x, float).tolist()]))
pp.register_backend("battery_norms", "numpy", lambda x: np.sqrt((np.asarray(x) ** 2).sum(axis=1)), priority=5)

CLEAR = (ValueError, TypeError, MemoryError)

def array_variants(a):
    a = np.asarray(a)
    out = {"list": a.tolist(), "float32": a.astype(np.float32), "fortran": np.asfortranarray(a),
           "strided": np.repeat(a, 2, axis=0)[::2], "empty": a[:0], "extra_axis": a[..., None],
           "complex": a + 0j, "object": a.astype(object), "string": a.astype(str), "none": None, "scalar": 1.0,
           "masked": np.ma.masked_array(a, mask=np.eye(*a.shape[:2], dtype=bool) if a.ndim == 2 else None)}
    readonly = a.copy(); readonly.flags.writeable = False; out["readonly"] = readonly
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        bad = a.astype(np.float64).copy(); bad.flat[0] = value; out[name] = bad
    return out

def scalar_variants(x):
    return {"negative": -abs(x) - 1, "zero": type(x)(0), "nan": float("nan"), "inf": float("inf"), "huge": 1e300,
            "str": str(x), "none": None, "bool": True, "int2**63": 2**63}

WORKERS = {"0": 0, "-1": -1, "1.5": 1.5, "True": True, "'2'": "2", "2**31": 2**31, "2**63": 2**63,
           "10**6": 10**6, "int64(2)": np.int64(2)}

def variants(args):
    for i, arg in enumerate(args):
        if isinstance(arg, np.ndarray):
            made = array_variants(arg)
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            made = scalar_variants(arg)
        else:
            continue
        for name, value in made.items():
            yield f"arg{i}={name}", args[:i] + (value,) + args[i + 1:], {}
    for name, value in WORKERS.items():
        yield f"workers={name}", args, {"workers": value}

def same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype
                and np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
                or (a.dtype.kind in "fc" and np.array_equal(a, b, equal_nan=True)))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a is b or a == b or (a != a and b != b)

def call(kernel, backend, args, kwargs):
    kept = copy.deepcopy(args)
    try:
        result = kernel(*args, backend=backend, **kwargs)
        outcome = ("ok", result)
    except CLEAR as exc:
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        outcome = ("unclear", f"{type(exc).__name__}: {exc}")
    mutated = not all(same(x, y) for x, y in zip(kept, args))
    return outcome, mutated

kernel = pp.kernel(sys.argv[1])
# small cases: every backend many times (pi's per-sample backend is one process task per sample)
case = cases.Case(kernel, {"evolve": 8, "distance_matrix": 50, "pi": 1000}.get(kernel.name, min(kernel.sizes)))
args0 = case.args if kernel.name != "evolve" else case.args[:2] + (1e-3,)  # 100 steps: the pure-Python ones are quick
findings = []
for backend in kernel.backends():
    if not backend.available or backend.kind == "distributed":
        continue
    for label, args, kwargs in variants(args0):
        print(f"running {backend.name} {label}", file=sys.stderr, flush=True)  # the last line names a crash
        (kind, value), mutated = call(kernel, backend.name, args, kwargs)
        problem = "mutated its inputs" if mutated else ""
        if kind == "unclear":
            problem = f"raised {value}"
        elif kind == "ok":
            if kernel.reference is not None:
                (ref_kind, expected), _ = call(kernel, kernel.reference, copy.deepcopy(args), kwargs)
                if ref_kind != "ok":
                    problem = f"answered where the reference {kernel.reference!r} refused: {expected}"
                else:
                    try:
                        cases.compare(value, expected, rtol=max(kernel.rtol, 1e-9), atol=kernel.atol,
                                      where=f"{backend.name} on {label}")
                    except AssertionError as exc:
                        problem = f"wrong answer: {exc}"
            elif kernel.check is not None:
                try:
                    kernel.check(value, *args)
                except AssertionError as exc:
                    problem = f"wrong answer: {exc}"
        findings.append({"backend": backend.name, "case": label, "outcome": kind, "problem": problem})
print(json.dumps(findings))
'''


def _survivors(token: str) -> list[int]:
    """Processes that still carry this run's token in their environment (the child's descendants)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if token.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("kernel", ["evolve", "distance_matrix", "pi", "battery_norms"])
def test_every_backend_survives_hostile_input(kernel, tmp_path):
    token = f"PYTEST_PARTICLES_BATTERY={uuid.uuid4().hex}"
    env = {**os.environ, token.split("=")[0]: token.split("=")[1], "PYTEST_PARTICLES_TIMEOUT": "120"}
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    try:
        done = subprocess.run([sys.executable, str(script), kernel], capture_output=True, text=True, env=env,
                              timeout=300)
    except subprocess.TimeoutExpired as exc:
        last = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        pytest.fail(f"{kernel}: the battery hung (still running after 300 s) at {last}")
    last = done.stderr.strip().splitlines()[-1:] if done.stderr.strip() else []
    assert done.returncode == 0, f"{kernel}: the child died (exit {done.returncode}) at {last}\n{done.stderr[-3000:]}"
    findings = json.loads(done.stdout.strip().splitlines()[-1])
    assert {f["backend"] for f in findings} >= {b.name for b in pp.backends(kernel) if b.available
                                                 and b.kind != "distributed"} if kernel in pp.KERNELS else findings
    problems = [f"{f['backend']} {f['case']}: {f['problem']}" for f in findings if f["problem"]]
    assert not problems, f"{kernel}: {len(problems)} of {len(findings)} hostile calls went wrong:\n" + "\n".join(
        problems[:40])
    deadline = time.monotonic() + 30  # a liveness bound for workers to notice their parent is gone
    while _survivors(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _survivors(token), f"{kernel}: processes outlived the battery: {_survivors(token)}"
