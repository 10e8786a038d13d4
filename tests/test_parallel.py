"""Process-based backends never hang: dead or stuck workers become errors within a timeout."""

import faulthandler
import os
import signal
import threading
import time

import numpy as np
import pytest
from conftest import system

import pytest_particles as pp
from pytest_particles import parallel


def _segfault():
    faulthandler.disable()  # pytest's faulthandler, inherited by the fork, would print a traceback
    os.kill(os.getpid(), signal.SIGSEGV)


def _fail():
    raise ArithmeticError("bad luck in the worker")


def _kill_a_worker_when_busy(workers, delay=0.5):
    """From a thread: wait for the pool of ``workers`` processes, let it work, SIGKILL one worker."""
    killed = []

    def kill():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = parallel.worker_pids(workers)
            if pids:
                time.sleep(delay)
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.01)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread, killed


@pytest.mark.timeout(120)
def test_killed_worker_breaks_an_evolve_run():
    parallel.shutdown()  # a fresh pool, so the worker dies mid-run
    r, ang_speed = system(2000, seed=0)
    thread, killed = _kill_a_worker_when_busy(2)
    # 10**7 steps: minutes of work. A WorkerError (not a result) says the death was noticed, not waited out.
    with pytest.raises(pp.WorkerError, match=r"a worker process died while running _evolve_chunk"):
        pp.evolve(r, ang_speed, 100.0, backend="multiprocessing", workers=2)
    thread.join()
    assert killed
    # the next call gets a fresh pool and works
    case = pp.physics.golden_case()
    pp.physics.check_golden(pp.evolve(case.r, case.ang_speed, case.dt, backend="multiprocessing", workers=2))


@pytest.mark.timeout(120)
def test_killed_worker_breaks_a_pi_run():
    parallel.shutdown()
    thread, killed = _kill_a_worker_when_busy(2, delay=0.2)
    with pytest.raises(pp.WorkerError, match=r"worker process died"):
        pp.monte_carlo_pi(2**40, seed=1, backend="multiprocessing", workers=2)
    thread.join()
    assert killed


@pytest.mark.timeout(60)
def test_segfaulting_worker_is_an_error():
    with pytest.raises(pp.WorkerError, match=r"died while running _segfault"):
        parallel.run_tasks(_segfault, [()], workers=1)


@pytest.mark.timeout(60)
def test_stuck_worker_is_killed_after_the_timeout():
    with pytest.raises(pp.WorkerError, match=r"did not finish within 1 s and were killed"):
        parallel.run_tasks(time.sleep, [(600,)], workers=1, timeout=1)
    assert parallel.worker_pids(1) == []


@pytest.mark.timeout(60)
def test_worker_exception_propagates_unchanged():
    with pytest.raises(ArithmeticError, match="bad luck in the worker"):
        parallel.run_tasks(_fail, [()], workers=2)


def test_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PYTEST_PARTICLES_TIMEOUT", "12.5")
    assert parallel._timeout_from_environment() == 12.5
    for text in ("soon", "inf", "nan", "0", "-1"):
        monkeypatch.setenv("PYTEST_PARTICLES_TIMEOUT", text)
        with pytest.raises(ValueError, match=rf"PYTEST_PARTICLES_TIMEOUT must be a finite number of seconds > 0; "
                                             rf"got '{text}'"):
            parallel._timeout_from_environment()


def test_workers_default_to_the_affinity():
    assert pp.validation.workers(None) == len(os.sched_getaffinity(0))


def test_chunks_cover_every_particle_once():
    for n, parts in [(1, 4), (10, 3), (7, 7), (1000, 2)]:
        bounds = parallel.chunk_bounds(n, parts)
        covered = np.concatenate([np.arange(a, b) for a, b in bounds])
        np.testing.assert_array_equal(covered, np.arange(n))


@pytest.mark.parametrize("value", [2**31, 2**63, 10**100, np.int64(2**62), np.uint64(2**64 - 1), np.int32(10**6)])
def test_workers_above_the_cores_are_clamped_to_them(value):
    assert pp.validation.workers(value) == pp.validation.available_cores()
    assert type(pp.validation.workers(value)) is int


@pytest.mark.parametrize("value", [1, np.int8(1), np.uint64(1)])
def test_one_worker_is_one(value):
    assert pp.validation.workers(value) == 1


@pytest.mark.parametrize("value", [0, -1, -(2**63), np.int64(-3), np.uint8(0)])
def test_workers_below_one_are_a_value_error(value):
    with pytest.raises(ValueError, match=r"workers must be None or an int >= 1; got -?\d+$"):
        pp.validation.workers(value)


@pytest.mark.parametrize("value", [2.0, np.float64(2), "2", True, np.bool_(True), 1j, [2], float("inf")])
def test_workers_that_are_no_int_are_a_type_error(value):
    with pytest.raises(TypeError, match=r"workers must be None or an int >= 1; got "):
        pp.validation.workers(value)
