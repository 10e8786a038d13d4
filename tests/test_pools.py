"""Worker pools that leave nothing behind, numexpr's process-wide thread count under threads, the timeout setting.

Every case that could hang or orphan runs in a child Python with a timeout,
so this suite cannot hang, and whatever a child leaves behind is killed here.
Nothing here depends on how fast the machine is: deadlines are generous
liveness limits, never speed assertions.
"""

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import system

import pytest_particles as pp
from pytest_particles import parallel

CHILD_TIMEOUT = 120  # seconds a child may take before it counts as hung
GONE_WITHIN = 30  # seconds for the kernel to deliver a death signal and the worker to exit: a liveness limit


def _start(script: str, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env})


def _run(script: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT, env={**os.environ, **env})


def _read_line(child: subprocess.Popen) -> str:
    """The child's first line of output, or a failure (with its stderr) if none comes within CHILD_TIMEOUT."""
    ready, _, _ = select.select([child.stdout], [], [], CHILD_TIMEOUT)
    line = child.stdout.readline() if ready else ""
    if not line:
        child.kill()
        # not communicate(): orphaned workers may hold the pipes open; take what stderr has
        err = os.read(child.stderr.fileno(), 65536) if select.select([child.stderr], [], [], 1)[0] else b""
        pytest.fail(f"the child printed nothing within {CHILD_TIMEOUT} s (exit {child.wait()}); "
                    f"stderr: {err.decode(errors='replace')}")
    return line


def _start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat), or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return None if fields[0] in ("Z", "X") else fields[19]


def _survivors(processes: dict[int, str], within: float) -> list[int]:
    """Those of ``processes`` (pid: start time) still running after ``within`` seconds; killed, so none lingers."""
    deadline = time.monotonic() + within
    alive = list(processes)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _start_time(pid) == processes[pid]]  # same start time: not a reused pid
        time.sleep(0.05)
    for pid in alive:  # a failing run must not leave busy orphans on the machine
        os.kill(pid, signal.SIGKILL)
    return alive


def _children(pid: int) -> list[int]:
    """Live (not zombie) child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


# ----------------------------------------------------------------------------------------------- parent death

_DYING_PARENT = """
    import faulthandler, os, signal, threading, time
    import pytest_particles as pp
    from pytest_particles import parallel

    how, state = {how!r}, {state!r}

    def report():
        while len(parallel.worker_pids()) < {workers}:
            time.sleep(0.01)
        # start times read here: when this process kills itself, its workers may be gone before the test looks
        starts = [open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[19] for pid in parallel.worker_pids()]
        print(" ".join(f"{{pid}}:{{start}}" for pid, start in zip(parallel.worker_pids(), starts)), flush=True)
        if how == "exit":
            os._exit(3)
        if how == "segfault":
            faulthandler.disable()
            os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(600)  # the test kills this process

    if state == "busy":
        threading.Thread(target=report, daemon=True).start()
        {busy}
    else:
        {idle}
        report()
"""

_BUSY = {
    "pi": 'pp.monte_carlo_pi(2**50, seed=1, backend="multiprocessing", workers=2)',  # hours of work
    "evolve": 'pp.evolve([[1.0, 0.0]] * 1000, [1.0] * 1000, 1e4, backend="multiprocessing", workers=2)',  # 10**9 steps
}
_IDLE = 'pp.monte_carlo_pi(10**4, seed=1, backend="multiprocessing", workers=2)'


def _worker_count() -> int:
    return min(2, pp.validation.available_cores())  # workers=2 is clamped to the cores this process may use


@pytest.mark.timeout(2 * CHILD_TIMEOUT)
@pytest.mark.parametrize("state, kernel", [("busy", "pi"), ("busy", "evolve"), ("idle", "pi")])
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "exit", "segfault"])
def test_workers_die_with_their_parent(how, state, kernel):
    script = _DYING_PARENT.format(how=how, state=state, workers=_worker_count(), busy=_BUSY[kernel], idle=_IDLE)
    child = _start(script)
    try:
        workers = {int(pid): start for pid, start in (word.split(":") for word in _read_line(child).split())}
        assert len(workers) == _worker_count(), workers
        if how in ("SIGKILL", "SIGTERM"):
            child.send_signal(getattr(signal, how))
        assert child.wait(timeout=CHILD_TIMEOUT) != 0
    finally:  # no communicate(): orphaned workers would hold the pipes open, and it would wait for them
        child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert _survivors(workers, GONE_WITHIN) == [], f"worker processes outlived their parent ({how}, {state})"


def test_a_pool_started_from_a_thread_outlives_the_thread():
    # The death signal follows the thread that forked a worker, not its process: the pool must not die with
    # the short-lived thread that happened to make the first call.
    parallel.shutdown()
    first = []
    thread = threading.Thread(target=lambda: first.extend(parallel.run_tasks(os.getpid, [(), ()], workers=2)))
    thread.start()
    thread.join()
    pids = parallel.worker_pids()
    assert set(first) <= set(pids) and len(pids) == 2
    assert all(_start_time(pid) for pid in pids)  # still running after the thread ended, and still working:
    assert set(parallel.run_tasks(os.getpid, [(), ()], workers=2)) <= set(pids)


def test_a_forked_child_gets_a_pool_of_its_own():
    done = _run("""
        import os, signal
        from pytest_particles import parallel

        parent_pool = set(parallel.run_tasks(os.getpid, [(), ()], workers=2))
        child = os.fork()
        if child == 0:  # the parent's pool and threads do not exist here
            signal.alarm(60)  # a hung child must not outlive the test
            mine = set(parallel.run_tasks(os.getpid, [(), ()], workers=2))
            os._exit(0 if mine and not mine & parent_pool else 1)
        print(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
    """)
    assert done.stdout.split() == ["0"], done.stderr


# ----------------------------------------------------------------------------------------------- pool size

def test_one_pool_grows_to_the_largest_call():
    done = _run("""
        import os, time
        from pytest_particles import parallel

        seen = set()
        for workers in range(1, 9):
            pids = parallel.run_tasks(os.getpid, [()] * 8, workers=workers)
            assert len(set(pids)) <= workers, (workers, pids)
            seen.update(pids)
        from pathlib import Path

        def children():
            live = []
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    if int(fields[1]) == os.getpid() and fields[0] not in "ZX":
                        live.append(int(entry.name))
            return live

        deadline = time.monotonic() + 30  # retired pools' processes exit on their own, soon
        while len(children()) > 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        print(len(children()), len(parallel.worker_pids()))
    """)
    assert done.returncode == 0, done.stderr
    live, pool = map(int, done.stdout.split())
    assert live <= 8 and pool == 8


def test_a_pool_is_never_larger_than_its_tasks():
    done = _run("""
        import os
        import pytest_particles as pp
        from pytest_particles import parallel

        print(len(set(parallel.run_tasks(os.getpid, [()] * 3, workers=64))), len(parallel.worker_pids()))
        parallel.shutdown()
        r = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
        pp.evolve(r, [1.0, 1.0, 1.0], 0.001, backend="multiprocessing", workers=64)
        print(len(parallel.worker_pids()))
    """)
    assert done.returncode == 0, done.stderr
    used, pool, evolve_pool = map(int, done.stdout.split())
    assert used <= 3 and pool == 3
    assert evolve_pool <= min(3, pp.validation.available_cores())


def test_a_smaller_call_on_a_larger_pool_uses_at_most_its_workers():
    parallel.run_tasks(os.getpid, [()] * 4, workers=4)
    assert len(parallel.worker_pids()) >= 4
    # one task at a time: each starts after the previous ended, so no two run at once
    spans = parallel.run_tasks(_span, [(0.05,)] * 6, workers=1)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))


def _span(seconds):
    start = time.monotonic()  # CLOCK_MONOTONIC is system-wide on Linux: comparable across processes
    time.sleep(seconds)
    return start, time.monotonic()


def test_threads_share_and_grow_one_pool():
    errors, results = [], {}

    def call(workers):
        try:
            results[workers] = parallel.run_tasks(pow, [(i, 2) for i in range(20)], workers=workers)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CHILD_TIMEOUT)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    assert all(result == [i * i for i in range(20)] for result in results.values())
    assert len(parallel.worker_pids()) <= 6


# ----------------------------------------------------------------------------------------------- workers at the door

def test_huge_workers_reach_every_backend_clamped():
    # 2**31 and 2**63 once raised OverflowError deep inside, 10**6 crashed compiled code or forked a million
    done = _run("""
        import numpy as np
        import pytest_particles as pp

        failures = []
        for kernel in pp.kernels():
            size = {"evolve": 20, "distance_matrix": 30, "pi": 2000}.get(kernel.name, min(kernel.sizes))
            args = kernel.inputs(size, np.random.default_rng(0))
            for backend in kernel.backends():
                if not (backend.available and backend.takes_workers) or backend.kind == "distributed":
                    continue
                want = kernel(*args, backend=backend, workers=1)
                for workers in (10**6, 2**31, 2**63, np.int64(2**62), np.uint64(2**64 - 1)):
                    try:
                        got = kernel(*args, backend=backend, workers=workers)
                        np.testing.assert_allclose(got, want, rtol=kernel.rtol, atol=kernel.atol)
                    except Exception as exc:
                        failures.append(f"{kernel.name}:{backend.name} workers={workers!r}: {exc!r}"[:300])
        r = np.random.default_rng(1).uniform(-1, 1, (40, 2))
        full = pp.distance_matrix(r, backend="numpy")
        for workers in (10**6, 2**63):
            blocks = np.vstack([b for _, _, b in pp.distance_matrix_blocks(r, rows=7, workers=workers)])
            if not np.allclose(blocks, full, rtol=1e-12, atol=1e-15):
                failures.append(f"distance_matrix_blocks workers={workers}")
            off = full + np.diag(np.full(40, np.inf))
            if not np.allclose(pp.nearest_neighbor_distances(r, workers=workers), off.min(axis=1), rtol=1e-12):
                failures.append(f"nearest_neighbor_distances workers={workers}")
        print(len(failures))
        print("\\n".join(failures))
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[0] == "0", done.stdout


# ----------------------------------------------------------------------------------------------- timeout

@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e309", "0", "-5", "soon", ""])
def test_a_bad_timeout_is_refused_at_import(text):
    done = _run("import pytest_particles.parallel", PYTEST_PARTICLES_TIMEOUT=text)
    assert done.returncode != 0
    assert "ValueError: PYTEST_PARTICLES_TIMEOUT must be a finite number of seconds > 0" in done.stderr, done.stderr
    assert repr(text) in done.stderr


def test_the_timeout_setting_and_its_default():
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_PARTICLES_TIMEOUT"}
    script = "from pytest_particles import parallel; print(parallel.TIMEOUT)"
    default = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                             timeout=CHILD_TIMEOUT)
    assert default.stdout.split() == ["600.0"], default.stderr
    assert _run(script, PYTEST_PARTICLES_TIMEOUT=" 12.5 ").stdout.split() == ["12.5"]


# ----------------------------------------------------------------------------------------------- numexpr

def test_numexpr_backends_from_many_threads_at_once():
    pytest.importorskip("numexpr")
    done = _run("""
        import threading
        import numexpr as ne
        import numpy as np
        import pytest_particles as pp
        from pytest_particles import parallel

        rng = np.random.default_rng(0)
        r, s = rng.uniform(-1, 1, (20_000, 2)), rng.uniform(-1, 1, 20_000)
        points = rng.uniform(-1, 1, (300, 2))
        want_r = pp.evolve(r, s, 2e-4, backend="numpy")
        want_d = pp.distance_matrix(points, backend="numpy")
        ne.set_num_threads(1)
        wrong, errors = [], []

        def run(k):
            try:
                for _ in range(10):
                    with parallel.numexpr_threads(k):  # the setting asked for, directly, beside the kernels'
                        assert ne.get_num_threads() == min(k, ne.MAX_THREADS)
                    if not np.allclose(pp.evolve(r, s, 2e-4, backend="numexpr", workers=k), want_r, rtol=1e-12):
                        wrong.append(("evolve", k))
                    if not np.allclose(pp.distance_matrix(points, backend="numexpr", workers=k), want_d, rtol=1e-12):
                        wrong.append(("distance_matrix", k))
            except BaseException as exc:
                errors.append(repr(exc))

        threads = [threading.Thread(target=run, args=(k,)) for k in (1, 2, 3, 4, 1, 2, 3, 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(ne.get_num_threads(), len(wrong), len(errors), errors[:1])
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:3] == ["1", "0", "0"], done.stdout


def test_numexpr_threads_are_capped_at_numexpr_maximum():
    ne = pytest.importorskip("numexpr")
    before = ne.get_num_threads()
    with parallel.numexpr_threads(10**6):
        assert ne.get_num_threads() == ne.MAX_THREADS
    assert ne.get_num_threads() == before


# ----------------------------------------------------------------------------------------------- sanity

def test_the_kernels_still_right_after_all_this():
    r, ang_speed = system(50, seed=3)
    np.testing.assert_allclose(pp.evolve(r, ang_speed, 0.01, backend="multiprocessing", workers=2),
                               pp.evolve(r, ang_speed, 0.01, backend="cython"), rtol=0, atol=0)
