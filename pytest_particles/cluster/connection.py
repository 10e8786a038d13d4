"""The connected clusters: a Connection per client, the current one, connect and disconnect."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from .. import registry
from .waiting import ClusterError, Deadline, checked_count, checked_timeout, ipp, ipyparallel_missing, submit, wait

if TYPE_CHECKING:  # ipyparallel is imported when a cluster starts or connects (waiting.ipp)
    import ipyparallel

# Short enough for one line of `pytest-particles backends`; the README says more.
NOT_CONNECTED = (
    "no ipyparallel cluster is connected: pytest_particles.cluster.local_cluster(n) or connect(...); "
    "pytest --particles-cluster=local:2"
)

_connections: list[Connection] = []  # connected clusters, the current one last


class Connection:
    """A client connected to an ipyparallel cluster, started here or elsewhere.

    ``client`` is the ``ipyparallel.Client``; ``cluster`` the
    ``ipyparallel.Cluster`` when :func:`local_cluster` started it (None
    otherwise); ``connection_file`` the controller's client connection file
    when known; ``source`` says where the cluster came from.
    """

    def __init__(self, client: ipyparallel.Client, *, source: str, cluster: ipyparallel.Cluster | None = None,
                 connection_file: str | None = None, profile_dir: str | None = None) -> None:
        self.client = client
        self.cluster = cluster
        self.source = source
        self.connection_file = connection_file
        self._profile_dir = profile_dir  # a temporary profile directory of ours, removed on stop
        self._launched: list = []  # processes of a cluster started here, with their children, killed if left on stop

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

    def ready_engines(self, doing: str) -> list[int]:
        """Ids of the engines to send work to, or a ClusterError saying why there are none while ``doing``."""
        if self.closed:
            raise ClusterError(f"the connection to the ipyparallel cluster ({self.source}) is closed (the controller "
                               f"shut down, or disconnect() was called) while {doing}")
        ids = self.engine_ids()
        if not ids:
            raise ClusterError(f"the ipyparallel cluster ({self.source}) has no engines while {doing}; "
                               "start some (ipcluster engines, or a new local_cluster)")
        return ids

    def engine_pids(self, timeout: float | None = None) -> dict[int, int]:
        """Process id of every engine, asked of the engines themselves: {engine id: pid}."""
        deadline = Deadline(timeout)
        ids = self.ready_engines("asking the engines for their process ids")
        view = self.client.direct_view(targets=ids)
        pids = wait(submit("ask for process ids", lambda: view.apply_async(os.getpid)), deadline,
                    "answer with its process ids")
        return dict(zip(ids, pids))

    def close(self) -> None:
        """Close the client (the cluster itself keeps running)."""
        if not self.closed:
            self.client.close(linger=0)

    def stop(self) -> None:
        """Close the client, and stop the controller and engines if this process started them."""
        self.close()
        if self.cluster is not None:
            from .local import stop_cluster

            cluster, self.cluster = self.cluster, None
            stop_cluster(cluster, self._profile_dir, self._launched)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.client.ids)} engines"
        return f"<pytest_particles.cluster.Connection {self.source} ({state})>"


def current() -> Connection | None:
    """The connected cluster the distributed backends run on, or None."""
    for connection in reversed(_connections):
        if not connection.closed:
            return connection
    return None


def connected() -> Connection:
    """The current connection, or a ClusterError saying how to get one."""
    connection = current()
    if connection is None:
        raise ClusterError(ipyparallel_missing() or NOT_CONNECTED)
    return connection


def check() -> bool | str:
    """Availability check of a backend over this package: True while a cluster is connected, else why not."""
    return ipyparallel_missing() or (True if current() is not None else NOT_CONNECTED)


def changed() -> None:
    """The connected cluster changed: every distributed backend's availability is asked again."""
    for kernel in registry.kernels():
        for record in kernel.backends():
            if record.kind == "distributed":
                record.refresh()


def push(connection: Connection) -> Connection:
    """Make ``connection`` the current one."""
    _connections.append(connection)
    changed()
    return connection


def forget(connection: Connection) -> None:
    """Forget ``connection``; the one connected before it, if any, is current again."""
    if connection in _connections:
        _connections.remove(connection)
    changed()


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
        forget(connection)


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
                             "ipcontroller-...-client.json that the controller wrote "
                             "(in its profile's security directory)")
    timeout = checked_timeout(timeout)
    engines = checked_count(engines, "engines")
    ipyparallel = ipp()
    deadline = Deadline(timeout)
    if connection_file is not None:
        source = f"connection file {connection_file}"
    else:
        profile = profile or "default"
        connection_file = _profile_connection_file(profile)
        source = f"profile {profile!r}, connection file {connection_file}"
    try:
        client = ipyparallel.Client(connection_file, timeout=timeout)
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
    return push(Connection(client, source=source, connection_file=connection_file))


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


def round_trip(connection: Connection | None = None) -> float:
    """Seconds for one no-op call on every engine of ``connection`` (default: the current one), there and back."""
    connection = connected() if connection is None else connection
    deadline = Deadline()
    view = connection.client.direct_view(targets=connection.ready_engines("timing a round trip"))
    start = time.perf_counter()
    # a builtin is sent by name and does nothing: the time is the cluster's messaging alone
    wait(submit("time a round trip", lambda: view.apply_async(int)), deadline, "answer a no-op call")
    return time.perf_counter() - start
