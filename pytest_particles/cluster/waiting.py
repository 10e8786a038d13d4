"""Deadlines on every wait for the cluster, and ipyparallel's failures translated into ClusterError."""

from __future__ import annotations

import importlib.util
import math
import numbers
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION
from types import ModuleType
from typing import Any, TypeVar

from ..parallel import WorkerError

T = TypeVar("T")


class ClusterError(WorkerError):
    """The cluster could not be started or reached, lost an engine, or did not answer in time."""


def settings() -> ModuleType:
    """The package, whose TIMEOUT and STOP_GRACE are read when used (assigning them there takes effect)."""
    return sys.modules[__package__]


def ipyparallel_missing() -> str:
    """Why ipyparallel cannot be used here ("" when it is installed)."""
    if importlib.util.find_spec("ipyparallel") is None:
        return "ipyparallel is not installed (pip install 'pytest-particles[cluster]')"
    return ""


def ipp() -> ModuleType:
    """The ipyparallel package, imported on first use (ClusterError when it is not installed)."""
    missing = ipyparallel_missing()
    if missing:
        raise ClusterError(missing)
    import ipyparallel

    return ipyparallel


def checked_timeout(timeout: object) -> float:
    """The timeout argument in seconds, or the package's TIMEOUT for None."""
    if timeout is None:
        return float(settings().TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout must be None or a number of seconds > 0; got {type(timeout).__name__} {timeout!r}")
    seconds = float(timeout)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"timeout must be None or a number of seconds > 0; got {timeout!r}")
    return seconds


def checked_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1; got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value}")
    return int(value)


class Deadline:
    """The end of a wait of ``timeout`` seconds (default: the package's TIMEOUT) that starts now."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = checked_timeout(timeout)
        self.at = time.monotonic() + self.timeout

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


def wait(async_result: Any, deadline: Deadline, what: str) -> Any:
    """The result of an ipyparallel AsyncResult (a list of them: their results), failing at the first engine that fails.

    ``what`` completes "the cluster did not ... in time".  A dead engine, an
    engine that cannot import what the work needs and a cluster that does not
    answer by ``deadline`` are ClusterErrors; any other exception raised by the
    remote code is raised as ipyparallel reports it (a RemoteError carrying the
    remote traceback).
    """
    ipyparallel = ipp()
    error = ipyparallel.error
    if isinstance(async_result, list):
        async_result = ipyparallel.AsyncResult.join(*async_result)
    try:
        return async_result.get(timeout=deadline.remaining(), return_when=FIRST_EXCEPTION)
    except TimeoutError:
        raise ClusterError(
            f"the ipyparallel cluster did not {what} within {deadline.timeout:g} s (controller gone, engines stuck "
            "or overloaded; raise PYTEST_PARTICLES_TIMEOUT or pytest_particles.cluster.TIMEOUT for longer runs)"
        ) from None
    except error.RemoteError as exc:
        died = _remote(exc, "EngineError")
        if died:
            raise ClusterError(f"an ipyparallel engine died before it could {what} (killed, crashed or out of "
                               f"memory; its results are lost): {died}") from exc
        missing = _remote(exc, "ModuleNotFoundError", "ImportError")
        if missing:
            raise ClusterError(f"an ipyparallel engine could not {what}: it cannot import what the work needs "
                               f"({missing}); install it in the environment the engines run in") from exc
        raise


def _remote(exc: Exception, *names: str) -> str:
    """The message of the first remote exception of one of ``names`` in a RemoteError or CompositeError, or ""."""
    errors = getattr(exc, "elist", None) or [(getattr(exc, "ename", ""), getattr(exc, "evalue", ""))]
    for error in errors:
        if error[0] in names:
            return str(error[1])
    return ""


def submit(what: str, send: Callable[[], T]) -> T:
    """Call ``send()`` (which submits work to ``what``), turning a broken connection into a ClusterError."""
    import zmq

    try:
        return send()
    except (zmq.ZMQError, ipp().error.NoEnginesRegistered, IndexError) as exc:
        raise ClusterError(f"could not send work to the ipyparallel cluster to {what}: "
                           f"{type(exc).__name__}: {exc}") from exc
