"""The ipyparallel backends on real clusters on 127.0.0.1: lifecycle, answers, dead engines and controllers, plugin.

``cluster`` is the generic connection lifecycle (pytest_particles.cluster), ``book_cluster`` the book's three
backends over it and ``engine`` the code they run on the engines.

Every cluster a test breaks is started by that test and stopped on the way
out, failures included; engines are killed only by the process ids of those
clusters.  The tests that do not break theirs share the session's.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import system

import pytest_particles as pp
from pytest_particles import cluster
from pytest_particles.book import cluster as book_cluster
from pytest_particles.book import distance, engine, evolution, physics
from pytest_particles.book import pi as book_pi
from pytest_particles.book._extensions import Extension
from pytest_particles.cluster import connection as connections

psutil = pytest.importorskip("psutil")  # installed with ipyparallel
ipp = pytest.importorskip("ipyparallel")


@pytest.fixture(autouse=True)
def restore_connections():
    """Leave the module's list of connected clusters as the test found it (a session cluster included)."""
    saved = list(connections._connections)
    yield
    for connection in [c for c in connections._connections if c not in saved]:
        connection.close()
    connections._connections[:] = saved
    cluster.changed()


@pytest.fixture
def no_cluster(monkeypatch):
    """No cluster connected during the test, whatever the session has."""
    monkeypatch.setattr(connections, "_connections", [])
    cluster.changed()
    yield
    monkeypatch.undo()
    cluster.changed()


@pytest.fixture(scope="module")
def local(request):
    """Two engines on 127.0.0.1 for this module's tests that do not break their cluster.

    The session's own (pyproject's particles_cluster = local:2, started once for every suite that needs
    one), else one started for this module.
    """
    option = request.config.getoption("particles_cluster")
    if (option if option is not None else request.config.getini("particles_cluster")) in (("local", 2), "local:2"):
        yield request.getfixturevalue("ipcluster")
        return
    with cluster.local_cluster(2, timeout=180) as connection:
        yield connection


def record(kernel):
    return next(b for b in pp.backends(kernel) if b.name == "ipyparallel")


def cluster_processes(connection):
    """The processes of a cluster started here: controller, engines and all their children."""
    roots = [connection.cluster.controller.process.pid, *connection.engine_pids().values()]
    processes = [psutil.Process(pid) for pid in roots]
    return processes + [child for p in processes for child in p.children(recursive=True)]


def wait_until_gone(processes, timeout=60):
    """The processes still alive (zombies count as gone) after waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in processes:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def kill_later(pid, condition=lambda: True, delay=0.0, timeout=60):
    """From a thread: once ``condition()`` holds (polled up to ``timeout`` s), wait ``delay`` s and SIGKILL ``pid``."""
    killed = []

    def run():
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return  # never killed: the test's `killed` check fails and says so
            time.sleep(0.02)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, killed


# --- availability and lifecycle --------------------------------------------------------------


def test_importing_imports_neither_ipyparallel_nor_zmq_and_the_lifecycle_knows_no_kernel():
    script = (
        "import sys, pytest_particles.cluster as c\n"
        "assert not [m for m in sys.modules if m.startswith('pytest_particles.book')], 'it imports the book'\n"
        "import pytest_particles as pp\n"
        "reasons = [b.reason for k in pp.KERNELS for b in pp.backends(k) if b.name == 'ipyparallel']\n"
        "assert len(reasons) == 3 and all('no ipyparallel cluster is connected' in r for r in reasons), reasons\n"
        "from pytest_particles.book import cluster as b\n"
        "assert c.scatter_evolve_gather is b.scatter_evolve_gather and c.RETRIES == b.RETRIES  # its old names\n"
        "assert 'ipyparallel' not in sys.modules and 'zmq' not in sys.modules\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert {b.kind for k in pp.KERNELS for b in pp.backends(k) if b.name == "ipyparallel"} == {"distributed"}


def test_unavailable_without_a_cluster_says_how_to_get_one(no_cluster):
    for kernel in pp.KERNELS:
        b = record(kernel)
        assert not b.available
        assert b.reason == ("no ipyparallel cluster is connected: pytest_particles.cluster.local_cluster(n) or "
                            "connect(...); pytest --particles-cluster=local:2")
    r, ang_speed = system(3)
    with pytest.raises(ValueError, match=r"evolve backend 'ipyparallel' is not available here: no ipyparallel cluster"):
        pp.evolve(r, ang_speed, 0.01, backend="ipyparallel")
    with pytest.raises(cluster.ClusterError, match="no ipyparallel cluster is connected"):
        record("pi").func(100, np.random.SeedSequence(0))
    assert cluster.current() is None
    cluster.disconnect()  # nothing to do


@pytest.mark.timeout(300)
def test_local_cluster_starts_on_loopback_and_stops_everything(no_cluster):
    with cluster.local_cluster(1, timeout=180) as connection:
        assert cluster.current() is connection and connection.started_here
        assert all(record(kernel).available for kernel in pp.KERNELS)
        info = json.loads(open(connection.connection_file).read())
        assert info["interface"] == "tcp://127.0.0.1"  # the controller listens on loopback only
        processes = cluster_processes(connection)
        assert len(connection.engine_pids()) == 1
        profile_dir = connection._profile_dir
        assert os.path.isdir(profile_dir)
        case = physics.golden_case()
        physics.check_golden(pp.evolve(case.r, case.ang_speed, case.dt, backend="ipyparallel"), case)
    assert cluster.current() is None and not record("evolve").available
    assert connection.closed
    assert wait_until_gone(processes) == []
    assert not os.path.exists(profile_dir)


@pytest.mark.timeout(300)
def test_connect_by_connection_file_and_by_profile(local, tmp_path, monkeypatch):
    r, ang_speed = system(50, seed=1)
    expected = pp.evolve(r, ang_speed, 0.01, backend="cython")
    by_file = cluster.connect(connection_file=local.connection_file, timeout=60)
    try:
        assert cluster.current() is by_file and not by_file.started_here
        assert by_file.engine_ids() == local.engine_ids()
        np.testing.assert_array_equal(pp.evolve(r, ang_speed, 0.01, backend="ipyparallel"), expected)
    finally:
        cluster.disconnect()
    assert by_file.closed and cluster.current() is local  # the previous cluster is current again, still running
    np.testing.assert_array_equal(pp.evolve(r, ang_speed, 0.01, backend="ipyparallel"), expected)

    # a profile: its security directory holds ipcontroller-client.json, as `ipcluster start --profile=NAME` writes it
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    security = tmp_path / "profile_particles" / "security"
    security.mkdir(parents=True)
    shutil.copy(local.connection_file, security / "ipcontroller-client.json")
    for profile in ("particles", str(tmp_path / "profile_particles")):  # by name, and by directory
        by_profile = cluster.connect(profile=profile, timeout=60)
        try:
            assert cluster.current() is by_profile
            np.testing.assert_array_equal(pp.evolve(r, ang_speed, 0.01, backend="ipyparallel"), expected)
        finally:
            cluster.disconnect(by_profile)
    assert cluster.current() is local
    with pytest.raises(ValueError, match=r"profile 'nosuch' does not exist in .*ipcluster start --profile=nosuch"):
        cluster.connect(profile="nosuch", timeout=5)
    (tmp_path / "profile_idle" / "security").mkdir(parents=True)
    with pytest.raises(cluster.ClusterError, match=r"no cluster is running in profile 'idle': .*ipcontroller-client"):
        cluster.connect(profile="idle", timeout=5)
    not_json = tmp_path / "ipcontroller-client.json"
    not_json.write_text("{}")
    with pytest.raises(ValueError, match=r"connection_file .* is not an ipyparallel client connection file"):
        cluster.connect(connection_file=not_json, timeout=5)
    assert cluster.current() is local


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: cluster.local_cluster(0).__enter__(), ValueError, r"n must be an int >= 1; got 0"),
        (lambda: cluster.local_cluster("2").__enter__(), TypeError, r"n must be an int >= 1; got str"),
        (lambda: cluster.local_cluster(2, timeout=-1).__enter__(), ValueError, r"timeout must be None or a number"),
        (lambda: cluster.local_cluster(2, timeout="1").__enter__(), TypeError, r"timeout must be None or a number"),
        (lambda: cluster.connect(profile="a", connection_file="b.json"), ValueError, r"profile or connection_file"),
        (lambda: cluster.connect(profile=3), TypeError, r"profile must be a profile name"),
        (lambda: cluster.connect(connection_file="/nowhere/ipcontroller-client.json"), ValueError,
         r"connection_file '/nowhere/ipcontroller-client.json' does not exist"),
        (lambda: cluster.connect(connection_file=3), TypeError, r"connection_file must be a path"),
        (lambda: cluster.disconnect("x"), TypeError, r"connection must be a pytest_particles.cluster.Connection"),
    ],
)
def test_bad_arguments_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_default_backend_is_never_ipyparallel(local):
    assert record("evolve").available
    for kernel in pp.KERNELS:
        chosen = next(b for b in pp.backends(kernel) if b.builtin and b.available)
        assert chosen.name != "ipyparallel"


# --- the same answers as the single-machine backends -----------------------------------------


@pytest.mark.timeout(300)
@pytest.mark.parametrize("n", [1, 2, 1001])  # fewer particles than engines, one each, uneven chunks
def test_evolve_is_identical_to_cython(local, n):
    r, ang_speed = system(n, seed=n)
    result = pp.evolve(r, ang_speed, 0.01, backend="ipyparallel")
    np.testing.assert_array_equal(result, pp.evolve(r, ang_speed, 0.01, backend="cython"))
    physics.check_evolve(result, r, ang_speed, 0.01)


@pytest.mark.timeout(300)
def test_evolve_scatters_to_every_engine_and_runs_the_compiled_kernel(local):
    r, ang_speed = system(500, seed=2)
    phases = {}
    positions = r.copy()
    book_cluster.scatter_evolve_gather(local, positions, ang_speed, 1e-5, 1000, phases)
    np.testing.assert_array_equal(positions, pp.evolve(r, ang_speed, 0.01, backend="cython"))
    assert phases["engines"] == 2 and phases["kernel"] == ["cython"]
    assert {"scatter", "compute", "gather", "remote"} <= set(phases)
    # nothing is left behind in the engines' namespaces (the clean-up is queued before this call)
    leftovers = local.client[:].apply_async(_names_of_ours).get(timeout=60)
    assert leftovers == [[], []]


def _names_of_ours():
    return sorted(name for name in globals() if name.startswith("_pytest_particles_"))


_names_of_ours.__module__ = "__main__"  # run in the engine's namespace


@pytest.mark.timeout(300)
@pytest.mark.parametrize("samples", [1, 63, 100_003, 2_000_001])
def test_pi_counts_the_same_hits_as_numpy(local, samples):
    expected = pp.monte_carlo_pi(samples, seed=11, backend="numpy")
    assert pp.monte_carlo_pi(samples, seed=11, backend="ipyparallel") == expected
    assert pp.monte_carlo_pi(samples, seed=11, backend="cython") == expected


@pytest.mark.timeout(300)
@pytest.mark.parametrize("n", [1, 3, 301])
def test_distance_matrix_equals_cython(local, n):
    r, _ = system(n, seed=n)
    d = pp.distance_matrix(r, backend="ipyparallel")
    np.testing.assert_array_equal(d, pp.distance_matrix(r, backend="cython"))
    physics.check_distance_matrix(d, r)


def test_engine_code_calls_the_books_own_kernels(monkeypatch):
    """Called here, the functions shipped to the engines give the book's backends' answers, built or not."""
    r, ang_speed = system(37, seed=3)
    namespace = engine.evolve_scattered.__globals__  # here, the module's; on an engine, the engine's namespace
    key = "_pytest_particles_here"
    counts, children = book_pi.streams(10_007, np.random.SeedSequence(4))
    points, _ = system(301, seed=5)
    matrix = pp.distance_matrix(points, backend="cython")
    for built in (True, False):
        if not built:  # an engine whose pytest_particles has no compiled extensions
            for module in (evolution, distance, book_pi):
                monkeypatch.setattr(module, "_compiled", Extension("_not_built"))
        monkeypatch.setitem(namespace, key, np.column_stack([r, ang_speed]))
        kernel, _ = engine.evolve_scattered(key, 1e-5, 300)
        assert kernel == ("cython" if built else "numpy")
        np.testing.assert_array_equal(namespace[key], pp.evolve(r, ang_speed, 0.003, backend=kernel))
        for a, b in [(0, 301), (0, 150), (150, 301), (300, 301)]:  # rows of one engine, at the start, middle, end
            np.testing.assert_array_equal(engine.distance_rows(points, a, b), matrix[a:b])
    engine.discard_names(key)
    assert key not in namespace
    monkeypatch.undo()
    assert engine.count_hits(counts, children) == book_pi.pi_numpy(10_007, np.random.SeedSequence(4))
    monkeypatch.setattr(book_pi, "_compiled", Extension("_not_built"))
    with pytest.raises(ImportError, match=r"compiled extension pytest_particles._not_built is not built"):
        engine.count_hits(counts, children)


def _needs_a_missing_module():
    import pytest_particles_nowhere  # noqa: F401


_needs_a_missing_module.__module__ = "__main__"  # run in the engine's namespace


@pytest.mark.timeout(120)
def test_engine_that_cannot_import_the_work_is_a_cluster_error(local):
    view = local.client.direct_view(targets=local.engine_ids())
    with pytest.raises(cluster.ClusterError, match=r"an ipyparallel engine could not run the work: it cannot import "
                                                   r"what the work needs \(No module named 'pytest_particles_nowhere'\)"
                                                   r"; install it in the environment the engines run in"):
        cluster.wait(cluster.submit("run the work", lambda: view.apply_async(_needs_a_missing_module)),
                     cluster.Deadline(60), "run the work")


# --- faults: dead engines, dead controllers --------------------------------------------------


@pytest.mark.timeout(300)
def test_engine_killed_during_evolve_is_an_error(monkeypatch):
    monkeypatch.setattr(cluster, "TIMEOUT", 120.0)  # far shorter than the run: a death not noticed would time out
    r, ang_speed = system(2000, seed=5)
    with cluster.local_cluster(2, timeout=180) as connection:
        processes = cluster_processes(connection)
        victim = connection.engine_pids()[0]
        thread, killed = kill_later(victim, delay=2.0)  # the run takes about 10 minutes of compute per engine
        with pytest.raises(pp.WorkerError, match=r"an ipyparallel engine died before it could evolve its particles"):
            pp.evolve(r, ang_speed, 2000.0, backend="ipyparallel")
        thread.join()
        assert killed == [victim]
    # stopping the cluster stopped everything: the busy engine, and the children the killed one left behind
    assert wait_until_gone(processes, timeout=30) == []


@pytest.mark.timeout(300)
def test_engine_killed_during_distance_matrix_is_an_error(monkeypatch):
    monkeypatch.setattr(cluster, "TIMEOUT", 120.0)
    r, _ = system(2000, seed=6)
    with cluster.local_cluster(2, timeout=180) as connection:
        victim_id, victim = sorted(connection.engine_pids().items())[0]
        # hold the victim's queue with a long call from another client: its rows cannot be done before it dies
        other = ipp.Client(connection.connection_file, timeout=60)
        try:
            other[victim_id].apply_async(time.sleep, 600)
            thread, killed = kill_later(victim, delay=2.0)
            with pytest.raises(cluster.ClusterError, match=r"engine died before it could compute its rows"):
                pp.distance_matrix(r, backend="ipyparallel")
            thread.join()
            assert killed == [victim]
        finally:
            other.close(linger=0)


@pytest.mark.timeout(300)
def test_pi_task_lost_with_a_killed_engine_is_retried_elsewhere(monkeypatch):
    monkeypatch.setattr(cluster, "TIMEOUT", 180.0)
    samples, seed = 600_000_003, 2013  # about half a second of work per task, 8 tasks
    with cluster.local_cluster(2, timeout=180) as connection:
        victim_id, victim = sorted(connection.engine_pids().items())[0]
        monitor = ipp.Client(connection.connection_file, timeout=60)  # the hub's view of the tasks, from the thread

        def victim_is_running_a_task():
            return monitor.queue_status(targets=victim_id, verbose=False)["tasks"] >= 1

        try:
            thread, killed = kill_later(victim, condition=victim_is_running_a_task)
            estimate = pp.monte_carlo_pi(samples, seed=seed, backend="ipyparallel")
            thread.join()
        finally:
            monitor.close(linger=0)
        assert killed == [victim]
        assert connection.engine_ids() == [1]  # the victim is gone: its task ran on the other engine
    assert estimate == pp.monte_carlo_pi(samples, seed=seed, backend="cython")
    physics.check_pi(estimate, samples)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_connection_file_of_a_controller_that_is_not_there(local, tmp_path):
    info = json.loads(open(local.connection_file).read())
    port = _free_port()  # nothing listens there now
    for name in ("registration", "control", "mux", "task", "iopub", "notification", "broadcast"):
        info[name] = port
    dead = tmp_path / "ipcontroller-dead-client.json"
    dead.write_text(json.dumps(info))
    with pytest.raises(pp.WorkerError, match=r"no ipyparallel controller answered within 2 s \(connection file "):
        cluster.connect(connection_file=dead, timeout=2)
    assert cluster.current() is local


@pytest.mark.timeout(300)
def test_stopped_controller_is_an_error_not_a_hang(monkeypatch):
    r, ang_speed = system(10, seed=7)
    with cluster.local_cluster(1, timeout=180) as connection:
        pp.evolve(r, ang_speed, 0.001, backend="ipyparallel")
        connection.cluster.stop_controller_sync()
        monkeypatch.setattr(cluster, "TIMEOUT", 1.0)  # the controller is gone: no answer comes, however long
        with pytest.raises(cluster.ClusterError, match=r"ipyparallel cluster"):
            pp.evolve(r, ang_speed, 0.001, backend="ipyparallel")
        with pytest.raises(cluster.ClusterError, match=r"ipyparallel cluster"):
            pp.monte_carlo_pi(1000, seed=1, backend="ipyparallel")


# --- the pytest plugin -----------------------------------------------------------------------

KERNEL_TESTS = """
import json
import os

import pytest


@pytest.mark.kernel("evolve", backends=["ipyparallel", "cython"])
def test_golden(backend, reference_case, assert_physics):
    c = reference_case
    assert_physics.golden(backend(c.r, c.ang_speed, c.dt))


@pytest.mark.kernel("pi", backends=["ipyparallel"])
def test_pi(backend, ipcluster):
    import pytest_particles as pp

    assert backend(100_003, seed=1) == pp.monte_carlo_pi(100_003, seed=1, backend="numpy")
    with open(os.environ["PIDS_FILE"], "w") as f:
        json.dump({"engines": len(ipcluster.engine_ids()), "started_here": ipcluster.started_here,
                   "pids": list(ipcluster.engine_pids().values())}, f)
"""


@pytest.mark.timeout(600)
def test_plugin_option_starts_a_local_cluster_for_the_session(pytester, monkeypatch, tmp_path):
    pytester.makepyfile(KERNEL_TESTS)
    pids_file = tmp_path / "pids.json"
    monkeypatch.setenv("PIDS_FILE", str(pids_file))
    result = pytester.runpytest_subprocess("--particles-cluster=local:2", "-v", "-p", "no:cacheprovider", timeout=500)
    result.stdout.fnmatch_lines(["*test_golden[[]ipyparallel[]] PASSED*", "*test_golden[[]cython[]] PASSED*",
                                 "*test_pi[[]ipyparallel[]] PASSED*"])
    result.assert_outcomes(passed=3)
    seen = json.loads(pids_file.read_text())
    assert seen["engines"] == 2 and seen["started_here"]
    processes = []
    for pid in seen["pids"]:
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    assert wait_until_gone(processes) == []  # the session stopped the cluster it started


@pytest.mark.timeout(600)
def test_plugin_option_connects_to_a_running_cluster_and_leaves_it_running(pytester, local, monkeypatch, tmp_path):
    pytester.makepyfile(KERNEL_TESTS)
    pids_file = tmp_path / "pids.json"
    monkeypatch.setenv("PIDS_FILE", str(pids_file))
    result = pytester.runpytest_subprocess(f"--particles-cluster={local.connection_file}", "-p", "no:cacheprovider",
                                           timeout=500)
    result.assert_outcomes(passed=3)
    seen = json.loads(pids_file.read_text())
    assert not seen["started_here"] and sorted(seen["pids"]) == sorted(local.engine_pids().values())
    assert pp.monte_carlo_pi(1000, seed=1, backend="ipyparallel") == pp.monte_carlo_pi(1000, seed=1, backend="numpy")


@pytest.mark.timeout(300)
def test_without_the_option_ipyparallel_is_skipped_with_its_reason(pytester):
    pytester.makepyfile(KERNEL_TESTS)
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider", timeout=250)
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*SKIPPED*evolve backend 'ipyparallel' is not available: no ipyparallel cluster is "
                                 "connected*--particles-cluster=local:2*"])


@pytest.mark.parametrize(
    "args, ini, message",
    [
        (["--particles-cluster=local:0"], None,
         "*expected local:N with N engines, a whole number >= 1; got 'local:0'*"),
        (["--particles-cluster=local:two"], None, "*expected local:N*got 'local:two'*"),
        (["--particles-cluster=nowhere/ipcontroller-client.json"], None,
         "*connection file 'nowhere/ipcontroller-client.json' does not exist*"),
        ([], "[pytest]\nparticles_cluster = local:-1\n", "*ini option particles_cluster: expected local:N*"),
    ],
)
def test_bad_cluster_option_is_a_usage_error(pytester, args, ini, message):
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_cluster_option_in_help(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--particles-cluster=local[[]:N[]]|PROFILE|CONNECTION_FILE*", "*particles_cluster*"])
