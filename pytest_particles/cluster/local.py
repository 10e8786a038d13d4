"""A cluster on this machine: started for a ``with`` block, stopped with every process it started."""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .connection import Connection, forget, push
from .waiting import ClusterError, Deadline, checked_count, checked_timeout, ipp, settings

if TYPE_CHECKING:  # ipyparallel is imported when a cluster starts (waiting.ipp)
    import ipyparallel

LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def local_cluster(n: int = 2, *, timeout: float | None = None) -> Iterator[Connection]:
    """Start a controller and ``n`` engines on this machine, listening on 127.0.0.1 only.

    Used as ``with local_cluster(2) as connection: ...``: inside the block the
    cluster is the current one (the distributed backends run on it); at the
    end it is stopped and the previously connected cluster, if any, is
    current again.  Starting must finish within ``timeout`` seconds (default
    TIMEOUT), else ClusterError.  The cluster's files live in a temporary
    profile directory, removed afterwards.
    """
    connection = _start(checked_count(n, "n"), checked_timeout(timeout))
    push(connection)
    try:
        yield connection
    finally:
        forget(connection)
        connection.stop()


def _start(n: int, timeout: float) -> Connection:
    ipyparallel = ipp()
    from traitlets.config import Config

    deadline = Deadline(timeout)
    grace = settings().STOP_GRACE
    profile_dir = tempfile.mkdtemp(prefix="pytest-particles-cluster-")
    config = Config()
    config.ControllerLauncher.connection_info_timeout = timeout
    config.LocalProcessLauncher.stop_seconds_until_kill = grace
    config.BaseLauncher.stop_timeout = max(10, grace * 5)
    cluster = ipyparallel.Cluster(
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
        stop_cluster(cluster, profile_dir, [])
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


def _launched(cluster: ipyparallel.Cluster) -> list:
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


def stop_cluster(cluster: ipyparallel.Cluster, profile_dir: str | None, processes: list) -> None:
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
        if profile_dir is not None:
            shutil.rmtree(profile_dir, ignore_errors=True)


def _launcher_output(cluster: ipyparallel.Cluster) -> str:
    """The last lines the controller and engines wrote, to explain a failed start."""
    parts = []
    for launcher in [cluster.controller, *cluster.engines.values()]:
        if launcher is None:
            continue
        try:
            text = launcher.get_output()
        except Exception:
            continue
        if text.strip():
            parts.append("\n".join(text.strip().splitlines()[-10:]))
    return ("\nlast output of the cluster:\n" + "\n".join(parts)) if parts else ""
