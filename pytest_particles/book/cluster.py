"""The book's IPython parallel chapter: backends that run on an ipyparallel cluster.

Three backends, each registered as ``ipyparallel``:

- evolve: the book's ``scatter_gather``: the particles are scattered over the
  engines of a DirectView, each engine evolves its chunk with the compiled
  kernel (``pytest_particles.book.evolution.evolve_cython``, or NumPy's algorithm
  when the engine has no compiled pytest_particles), and the chunks are gathered;
- pi: a LoadBalancedView map over the fixed set of streams of
  :func:`pytest_particles.book.pi.streams`, with retries: a task lost with a dead
  engine is resubmitted to another one, and the hits are those of the numpy
  and cython backends for the same seed;
- distance_matrix: one block of rows per engine, assembled here.

They are available while a cluster is connected: :func:`local_cluster` starts
one on this machine (127.0.0.1 only), :func:`connect` joins a running one (a
profile or a connection file, on any number of hosts), :func:`current` is the
connected cluster and :func:`disconnect` forgets it.  ipyparallel and zmq are
imported only when a cluster is started or connected.

Nothing waits forever: every wait on the cluster ends after ``TIMEOUT``
seconds (default: the environment variable ``PYTEST_PARTICLES_TIMEOUT``, as
for the worker processes of :mod:`pytest_particles.parallel`).  An engine that
dies during evolve or distance_matrix, a controller that does not answer and a
run that outlasts the timeout raise :class:`ClusterError`, a
:class:`~pytest_particles.WorkerError`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import numbers
import os
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION

import numpy as np

from .. import parallel, registry
from ..parallel import WorkerError
from . import distance, evolution  # noqa: F401  (the kernels this module adds backends to)
from .pi import streams

BACKEND = "ipyparallel"
LOOPBACK = "127.0.0.1"

TIMEOUT = parallel.TIMEOUT  # seconds for any wait on the cluster; PYTEST_PARTICLES_TIMEOUT, default 600
RETRIES = 3  # resubmissions of a lost pi task (to another engine)
TASKS_PER_ENGINE = 4  # pi tasks per engine: load balancing, and little work lost with an engine
STOP_GRACE = 2  # seconds a local engine or controller gets to exit after SIGTERM, before SIGKILL

_connections: list[Connection] = []  # connected clusters, the current one last


class ClusterError(WorkerError):
    """The cluster could not be started or reached, lost an engine, or did not answer in time."""


def ipyparallel_missing() -> str:
    """Why ipyparallel cannot be used here ("" when it is installed)."""
    if importlib.util.find_spec("ipyparallel") is None:
        return "ipyparallel is not installed (pip install 'pytest-particles[cluster]')"
    return ""


# Short enough for one line of `pytest-particles backends`; the README says more.
NOT_CONNECTED = (
    "no ipyparallel cluster is connected: pytest_particles.cluster.local_cluster(n) or connect(...); "
    "pytest --particles-cluster=local:2"
)


def _check():
    """Availability of the ipyparallel backends: True, or why not."""
    return ipyparallel_missing() or (True if current() is not None else NOT_CONNECTED)


def _ipp():
    """The ipyparallel package, imported on first use."""
    missing = ipyparallel_missing()
    if missing:
        raise ClusterError(missing)
    import ipyparallel

    return ipyparallel


# --- connections -----------------------------------------------------------------------------


class Connection:
    """A client connected to an ipyparallel cluster, started here or elsewhere.

    ``client`` is the ``ipyparallel.Client``; ``cluster`` the
    ``ipyparallel.Cluster`` when :func:`local_cluster` started it (None
    otherwise); ``connection_file`` the controller's client connection file
    when known; ``source`` says where the cluster came from.
    """

    def __init__(self, client, *, source: str, cluster=None, connection_file: str | None = None,
                 profile_dir: str | None = None):
        self.client = client
        self.cluster = cluster
        self.source = source
        self.connection_file = connection_file
        self._profile_dir = profile_dir  # a temporary profile directory of ours, removed on stop
        self._launched = []  # processes of a cluster started here, with their children, killed if left on stop

    @property
    def closed(self) -> bool:
        """True once the client is closed (by us, or because the controller shut down)."""
        return bool(getattr(self.client, "_closed", False))

    @property
    def started_here(self) -> bool:
        """True when this process started the cluster (and will stop it)."""
        return self.cluster is not None

    def engine_ids(self) -> list[int]:
        """Ids of the engines registered now."""
        return sorted(self.client.ids)

    def engine_pids(self, timeout: float | None = None) -> dict[int, int]:
        """Process id of every engine, asked of the engines themselves: {engine id: pid}."""
        deadline = _Deadline(_timeout(timeout))
        ids = self._engines("asking the engines for their process ids")
        view = self.client.direct_view(targets=ids)
        pids = _wait(_submit("ask for process ids", lambda: view.apply_async(os.getpid)), deadline,
                     "answer with its process ids")
        return dict(zip(ids, pids))

    def _engines(self, doing: str) -> list[int]:
        if self.closed:
            raise ClusterError(f"the connection to the ipyparallel cluster ({self.source}) is closed (the controller "
                               f"shut down, or disconnect() was called) while {doing}")
        ids = self.engine_ids()
        if not ids:
            raise ClusterError(f"the ipyparallel cluster ({self.source}) has no engines while {doing}; "
                               "start some (ipcluster engines, or a new local_cluster)")
        return ids

    def close(self) -> None:
        """Close the client (the cluster itself keeps running)."""
        if not self.closed:
            self.client.close(linger=0)

    def stop(self) -> None:
        """Close the client, and stop the controller and engines if this process started them."""
        self.close()
        if self.cluster is not None:
            cluster, self.cluster = self.cluster, None
            _stop_cluster(cluster, self._profile_dir, self._launched)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.client.ids)} engines"
        return f"<pytest_particles.cluster.Connection {self.source} ({state})>"


def current() -> Connection | None:
    """The connected cluster the ipyparallel backends run on, or None."""
    for connection in reversed(_connections):
        if not connection.closed:
            return connection
    return None


def _push(connection: Connection) -> Connection:
    _connections.append(connection)
    _changed()
    return connection


def _forget(connection: Connection) -> None:
    if connection in _connections:
        _connections.remove(connection)
    _changed()


def _changed() -> None:
    """The connected cluster changed: the backends must ask their availability again."""
    for kernel in registry.kernels():
        for record in kernel.backends():
            if record.name == BACKEND:
                record.refresh()


def disconnect(connection: Connection | None = None) -> None:
    """Close the client of ``connection`` (default: the current one) and forget it.

    A cluster that :func:`local_cluster` started keeps running until its
    ``with`` block ends; the previously connected cluster, if any, becomes
    current again.
    """
    connection = current() if connection is None else connection
    if connection is None:
        return
    if not isinstance(connection, Connection):
        raise TypeError(f"connection must be a pytest_particles.cluster.Connection or None; "
                        f"got {type(connection).__name__}")
    try:
        connection.close()
    finally:
        _forget(connection)


def _timeout(timeout) -> float:
    """The timeout argument, or the module's TIMEOUT."""
    if timeout is None:
        return TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout must be None or a number of seconds > 0; got {type(timeout).__name__} {timeout!r}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be None or a number of seconds > 0; got {timeout!r}")
    return float(timeout)


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1; got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value}")
    return int(value)


@contextlib.contextmanager
def local_cluster(n: int = 2, *, timeout: float | None = None) -> Iterator[Connection]:
    """Start a controller and ``n`` engines on this machine, listening on 127.0.0.1 only.

    Used as ``with local_cluster(2) as connection: ...``: inside the block the
    cluster is the current one (the ipyparallel backends run on it); at the
    end it is stopped and the previously connected cluster, if any, is
    current again.  Starting must finish within ``timeout`` seconds (default
    TIMEOUT), else ClusterError.  The cluster's files live in a temporary
    profile directory, removed afterwards.
    """
    connection = _start_local(_count(n, "n"), _timeout(timeout))
    _push(connection)
    try:
        yield connection
    finally:
        _forget(connection)
        connection.stop()


def _start_local(n: int, timeout: float) -> Connection:
    ipp = _ipp()
    from traitlets.config import Config

    deadline = _Deadline(timeout)
    profile_dir = tempfile.mkdtemp(prefix="pytest-particles-cluster-")
    config = Config()
    config.ControllerLauncher.connection_info_timeout = timeout
    config.LocalProcessLauncher.stop_seconds_until_kill = STOP_GRACE
    config.BaseLauncher.stop_timeout = max(10, STOP_GRACE * 5)
    cluster = ipp.Cluster(
        n=n, controller_ip=LOOPBACK, profile_dir=profile_dir, load_profile=False, config=config, delay=0,
        engine_timeout=max(1, math.ceil(timeout)), log_level=logging.WARNING,
    )
    try:
        cluster.start_cluster_sync()
        connection_file = cluster.controller.connection_files["client"]
        client = cluster.connect_client_sync(timeout=deadline.remaining())
        try:
            client.wait_for_engines(n, timeout=deadline.remaining())
        except BaseException:
            client.close(linger=0)
            raise
    except BaseException as exc:
        output = _launcher_output(cluster)
        _stop_cluster(cluster, profile_dir, [])
        if isinstance(exc, Exception):
            raise ClusterError(
                f"could not start a local ipyparallel cluster of {n} engines on {LOOPBACK} within {timeout:g} s: "
                f"{type(exc).__name__}: {exc}{output}"
            ) from exc
        raise
    source = f"local cluster of {n} engines on {LOOPBACK} (profile directory {profile_dir})"
    connection = Connection(client, source=source, cluster=cluster, connection_file=connection_file,
                            profile_dir=profile_dir)
    connection._launched = _launched(cluster)
    return connection


def _launched(cluster) -> list:
    """The processes of a cluster started here (psutil.Process): controller, engines and all their children.

    Engines start a "nanny" child; an engine killed with SIGKILL leaves it behind for a while, so the
    children are recorded while the cluster runs and killed on stop if they are still there.
    """
    roots = []
    for launcher in [cluster.controller, *cluster.engines.values()]:
        for each in [launcher, *getattr(launcher, "launchers", {}).values()]:
            if getattr(each, "process", None) is not None:
                roots.append(each.process)
    processes = []
    for process in roots:
        with contextlib.suppress(Exception):  # psutil.Error: gone already
            processes += [process, *process.children(recursive=True)]
    return processes


def _stop_cluster(cluster, profile_dir: str, processes: list) -> None:
    """Stop a cluster we started (SIGTERM, then SIGKILL after STOP_GRACE s), leaving no process behind."""
    try:
        processes = processes + _launched(cluster)
        cluster.stop_cluster_sync()
    except Exception as exc:
        warnings.warn(f"stopping the local ipyparallel cluster failed ({type(exc).__name__}: {exc}); killing its "
                      "processes", RuntimeWarning, stacklevel=3)
    finally:
        for process in processes:
            with contextlib.suppress(Exception):  # gone already; is_running() also guards against a reused pid
                if process.is_running():
                    process.kill()
        shutil.rmtree(profile_dir, ignore_errors=True)


def _launcher_output(cluster) -> str:
    """The last lines the controller and engines wrote, to explain a failed start."""
    parts = []
    launchers = [cluster.controller] + [es for es in cluster.engines.values()]
    for launcher in launchers:
        if launcher is None:
            continue
        try:
            text = launcher.get_output()
        except Exception:
            continue
        if text.strip():
            parts.append("\n".join(text.strip().splitlines()[-10:]))
    return ("\nlast output of the cluster:\n" + "\n".join(parts)) if parts else ""


def connect(profile: str | None = None, connection_file: str | os.PathLike | None = None, *,
            timeout: float | None = None, engines: int = 1) -> Connection:
    """Connect to a running cluster and make it the current one.

    Parameters
    ----------
    profile : str, optional
        An IPython profile name, looked up in IPYTHONDIR (its security
        directory holds ``ipcontroller-client.json``, as ``ipcluster start
        --profile=NAME`` writes it), or the path of a profile directory (a
        path with a separator).  Default: "default".
    connection_file : str or path, optional
        The controller's ``ipcontroller-...-client.json`` (copy it from the
        controller's host for a remote cluster).  Not with ``profile``.
    timeout : float, keyword-only
        Seconds to wait for the controller's answer and for ``engines``
        engines (default TIMEOUT); past it, ClusterError.
    engines : int, keyword-only
        Wait until at least this many engines are registered (default 1).

    Returns
    -------
    Connection
        Also :func:`current` until :func:`disconnect`.  Disconnecting never
        stops a cluster this process did not start.
    """
    if profile is not None and connection_file is not None:
        raise ValueError("give profile or connection_file, not both")
    if profile is not None and not isinstance(profile, str):
        raise TypeError(f"profile must be a profile name or directory (str); got {type(profile).__name__}")
    if connection_file is not None:
        if not isinstance(connection_file, (str, os.PathLike)):
            raise TypeError(f"connection_file must be a path; got {type(connection_file).__name__}")
        connection_file = os.fspath(connection_file)
        if not os.path.isfile(connection_file):
            raise ValueError(f"connection_file {connection_file!r} does not exist; pass the "
                             "ipcontroller-...-client.json that the controller wrote (in its profile's security directory)")
    timeout = _timeout(timeout)
    engines = _count(engines, "engines")
    ipp = _ipp()
    deadline = _Deadline(timeout)
    if connection_file is not None:
        source = f"connection file {connection_file}"
    else:
        profile = profile or "default"
        connection_file = _profile_connection_file(profile)
        source = f"profile {profile!r}, connection file {connection_file}"
    try:
        client = ipp.Client(connection_file, timeout=timeout)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"connection_file {connection_file!r} is not an ipyparallel client connection file "
                         f"({type(exc).__name__}: {exc})") from exc
    except TimeoutError as exc:
        raise ClusterError(f"no ipyparallel controller answered within {timeout:g} s ({source}); is the cluster "
                           f"running, and reachable from here? ({exc})") from exc
    except OSError as exc:
        raise ClusterError(f"could not connect to an ipyparallel cluster ({source}): {exc} "
                           "(start one with: ipcluster start -n 4, with --profile=NAME for a profile)") from exc
    try:
        client.wait_for_engines(engines, timeout=deadline.remaining())
    except TimeoutError as exc:
        client.close(linger=0)
        raise ClusterError(f"the ipyparallel cluster ({source}) has {len(client.ids)} engines; "
                           f"waited {timeout:g} s for {engines}") from exc
    except BaseException:
        client.close(linger=0)
        raise
    return _push(Connection(client, source=source, connection_file=connection_file))


def _profile_connection_file(profile: str) -> str:
    """The client connection file of the cluster running in ``profile`` (a name, or a profile directory)."""
    if os.sep in profile or (os.altsep and os.altsep in profile):  # a directory; names have no separators
        if not os.path.isdir(profile):
            raise ValueError(f"profile directory {profile!r} does not exist")
        security = os.path.join(profile, "security")
    else:
        from IPython.core.profiledir import ProfileDir, ProfileDirError
        from IPython.paths import get_ipython_dir

        try:
            security = ProfileDir.find_profile_dir_by_name(get_ipython_dir(), profile).security_dir
        except ProfileDirError:
            raise ValueError(f"profile {profile!r} does not exist in {get_ipython_dir()}; create and start it with: "
                             f"ipcluster start --profile={profile} -n 4") from None
    path = os.path.join(security, "ipcontroller-client.json")
    if not os.path.isfile(path):
        raise ClusterError(f"no cluster is running in profile {profile!r}: {path} does not exist "
                           f"(start one with: ipcluster start --profile={profile} -n 4)")
    return path


# --- waiting ---------------------------------------------------------------------------------


class _Deadline:
    """The end of a wait of ``timeout`` seconds that starts now."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.at = time.monotonic() + timeout

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


def _wait(async_result, deadline: _Deadline, what: str):
    """The result of an ipyparallel AsyncResult, failing at the first engine that fails.

    A dead engine and a cluster that does not answer by ``deadline`` are
    ClusterErrors; an exception raised by the remote code itself is raised
    as ipyparallel reports it (a RemoteError carrying the remote traceback).
    """
    ipp = _ipp()
    try:
        return async_result.get(timeout=deadline.remaining(), return_when=FIRST_EXCEPTION)
    except TimeoutError:
        raise ClusterError(
            f"the ipyparallel cluster did not {what} within {deadline.timeout:g} s (controller gone, engines stuck "
            "or overloaded; raise PYTEST_PARTICLES_TIMEOUT or pytest_particles.cluster.TIMEOUT for longer runs)"
        ) from None
    except ipp.error.RemoteError as exc:
        died = _dead_engine(exc)
        if died:
            raise ClusterError(f"an ipyparallel engine died before it could {what} (killed, crashed or out of "
                               f"memory; its results are lost): {died}") from exc
        raise


def _dead_engine(exc) -> str:
    """The EngineError message inside a RemoteError or CompositeError, or ""."""
    errors = getattr(exc, "elist", None) or [(getattr(exc, "ename", ""), getattr(exc, "evalue", ""))]
    for error in errors:
        if error[0] == "EngineError":
            return str(error[1])
    return ""


def _submit(what: str, send):
    """Call ``send()`` (which submits work), turning a broken connection into a ClusterError."""
    import zmq

    try:
        return send()
    except (zmq.ZMQError, _ipp().error.NoEnginesRegistered, IndexError) as exc:
        raise ClusterError(f"could not send work to the ipyparallel cluster to {what}: "
                           f"{type(exc).__name__}: {exc}") from exc


def _connected() -> Connection:
    connection = current()
    if connection is None:
        raise ClusterError(ipyparallel_missing() or NOT_CONNECTED)
    return connection


# --- code run on the engines -----------------------------------------------------------------
# ipyparallel ships these functions by code and runs them in the engine's namespace (what
# ipyparallel.interactive does), so they import what they use and touch no global of this
# module: an engine needs only NumPy, and uses pytest_particles' compiled kernels when it has them.


def _on_engine(func):
    func.__module__ = "__main__"
    return func


@_on_engine
def _evolve_scattered(key, timestep, nsteps):
    """Evolve the chunk ``key`` (rows x, y, ang_speed) scattered to this engine; keep the positions under ``key``."""
    import time

    import numpy as np

    start = time.perf_counter()
    chunk = globals()[key]
    r = np.array(chunk[:, :2], dtype=np.float64, order="C")  # a fresh writable copy: received buffers are read-only
    ang_speed = np.ascontiguousarray(chunk[:, 2], dtype=np.float64)
    try:
        from pytest_particles.book.evolution import _compiled, evolve_cython

        kernel = "cython" if _compiled.module is not None else "numpy"
    except ImportError:
        kernel = "numpy"
    if r.shape[0] and kernel == "cython":
        evolve_cython(r, ang_speed, timestep, nsteps)
    elif r.shape[0]:  # the book's NumPy step, as pytest_particles.book.evolution.evolve_numpy
        t_x_ang = (timestep * ang_speed)[:, np.newaxis]
        for _ in range(nsteps):
            norm = np.sqrt((r**2).sum(axis=1))[:, np.newaxis]
            v = r[:, [1, 0]] / norm
            v[:, 0] *= -1
            r += t_x_ang * v
    globals()[key] = r
    return kernel, time.perf_counter() - start


@_on_engine
def _discard_names(*keys):
    for key in keys:
        globals().pop(key, None)


@_on_engine
def _distance_rows(r, start, stop):
    """Rows start:stop of the distance matrix of the points r (N, 2), in blocks that stay small in memory."""
    import numpy as np

    r = np.ascontiguousarray(r, dtype=np.float64)
    x, y = r[:, 0], r[:, 1]
    out = np.empty((stop - start, r.shape[0]))
    block = max(1, (1 << 21) // max(1, r.shape[0]))  # rows per block: about 16 MiB of temporaries
    for a in range(start, stop, block):
        b = min(stop, a + block)
        dx = x[np.newaxis, :] - x[a:b, np.newaxis]
        dy = y[np.newaxis, :] - y[a:b, np.newaxis]
        np.sqrt(dx * dx + dy * dy, out=out[a - start : b - start])  # as the compiled loop: sqrt(dx*dx + dy*dy)
    return out


@_on_engine
def _count_hits_remote(counts, children):
    """Hits of the given streams: pytest_particles' compiled kernel, else the NumPy backend's blocks (same hits)."""
    import numpy as np

    try:
        from pytest_particles.book.pi import _compiled, _count_hits

        if _compiled.module is not None:
            return int(_count_hits(counts, children))
    except ImportError:
        pass
    block = 1 << 16  # as pytest_particles.book.pi.pi_numpy
    hits = 0
    for count, child in zip(np.asarray(counts).tolist(), children):
        rng = np.random.Generator(np.random.PCG64(child))
        for start in range(0, count, block):
            xy = rng.random((min(block, count - start), 2))
            xy *= 2.0
            xy -= 1.0
            xy *= xy
            hits += int(np.count_nonzero(xy[:, 0] + xy[:, 1] <= 1.0))
    return hits


@_on_engine
def _noop():
    return None


# --- the backends ----------------------------------------------------------------------------


def scatter_evolve_gather(connection: Connection, r, ang_speed, timestep, nsteps, phases: dict | None = None) -> None:
    """The book's scatter_gather on ``connection``: r (N, 2) is updated in place.

    ``phases``, when given, receives the seconds spent in each phase as seen
    from here (``scatter``, ``compute``, ``gather``, ``cleanup``), the longest compute time
    measured on an engine (``remote``), the engine count and the kernel the
    engines ran.
    """
    deadline = _Deadline(TIMEOUT)
    ids = connection._engines("evolving particles")[: r.shape[0]]
    view = connection.client.direct_view(targets=ids)
    key = f"_pytest_particles_{uuid.uuid4().hex}"
    packed = np.column_stack([r, ang_speed])  # (N, 3): one message per engine
    clock = time.perf_counter
    try:
        t0 = clock()
        _wait(_submit("scatter", lambda: view.scatter(key, packed, block=False)), deadline, "take its particles")
        t1 = clock()
        done = _wait(_submit("evolve", lambda: view.apply_async(_evolve_scattered, key, timestep, nsteps)), deadline,
                     "evolve its particles")
        t2 = clock()
        gathered = _wait(_submit("gather", lambda: view.gather(key, block=False)), deadline,
                         "send back its particles")
        t3 = clock()
        _wait(_submit("clean up", lambda: view.apply_async(_discard_names, key)), deadline, "forget the particles")
        t4 = clock()
    except BaseException:
        with contextlib.suppress(Exception):  # best effort, not waited for: the engines may be gone
            view.apply_async(_discard_names, key)
        raise
    gathered = np.asarray(gathered, dtype=np.float64)
    if gathered.shape != r.shape:
        raise ClusterError(f"the engines sent back positions of shape {gathered.shape}; expected {r.shape}")
    r[:] = gathered
    if phases is not None:
        phases.update(engines=len(ids), scatter=t1 - t0, compute=t2 - t1, gather=t3 - t2, cleanup=t4 - t3,
                      remote=max(seconds for _, seconds in done), kernel=sorted({kernel for kernel, _ in done}))


def evolve_ipyparallel(r, ang_speed, timestep, nsteps):
    """The book's scatter_gather: particles scattered over the engines, evolved by the compiled kernel, gathered."""
    scatter_evolve_gather(_connected(), r, ang_speed, timestep, nsteps)


def distance_matrix_ipyparallel(r, out=None):
    """One block of rows per engine, computed there and assembled here (into ``out`` when given)."""
    deadline = _Deadline(TIMEOUT)
    connection = _connected()
    n = r.shape[0]
    ids = connection._engines("computing a distance matrix")[:n]
    bounds = parallel.chunk_bounds(n, len(ids))
    client = connection.client
    results = _submit("compute distances", lambda: [client.direct_view(targets=[engine]).apply_async(
        _distance_rows, r, a, b) for engine, (a, b) in zip(ids, bounds)])
    blocks = _wait(_ipp().AsyncResult.join(*results), deadline, "compute its rows of the distance matrix")
    out = np.empty((n, n)) if out is None else out
    for (a, b), block in zip(bounds, blocks):
        out[a:b] = block
    return out


def pi_ipyparallel(samples, seed_sequence, workers=None):
    """A load-balanced map over the streams, each task a group of streams, lost tasks retried on other engines."""
    deadline = _Deadline(TIMEOUT)
    connection = _connected()
    counts, children = streams(samples, seed_sequence)
    engines = len(connection._engines("estimating pi"))
    bounds = parallel.chunk_bounds(len(counts), TASKS_PER_ENGINE * engines)
    view = connection.client.load_balanced_view()
    view.set_flags(retries=RETRIES)
    result = _submit("count hits", lambda: view.map(
        _count_hits_remote, [counts[a:b] for a, b in bounds], [children[a:b] for a, b in bounds], block=False))
    return int(sum(_wait(result, deadline, "count the hits of its streams")))


def round_trip(connection: Connection | None = None) -> float:
    """Seconds for one no-op call on every engine of ``connection`` (default: the current one), there and back."""
    connection = _connected() if connection is None else connection
    deadline = _Deadline(TIMEOUT)
    view = connection.client.direct_view(targets=connection._engines("timing a round trip"))
    start = time.perf_counter()
    _wait(_submit("time a round trip", lambda: view.apply_async(_noop)), deadline, "answer a no-op call")
    return time.perf_counter() - start


# the engines' cores: parallel, and available only while a cluster is connected
registry.register_backend("evolve", BACKEND, evolve_ipyparallel, priority=5, check=_check, kind="distributed")
registry.register_backend("distance_matrix", BACKEND, distance_matrix_ipyparallel, priority=5, check=_check,
                          kind="distributed")
registry.register_backend("pi", BACKEND, pi_ipyparallel, priority=5, check=_check, kind="distributed")
