"""The backend registry: one record per (kernel, backend name).

A record knows its raw kernel function, whether it can run here and, if not,
one reason string that every consumer shows the same way (pytest skips, asv
skips, ``pytest-particles backends``).  Third parties add backends with
:func:`register_backend` or through the entry-point group
``pytest_particles.backends``; this module never imports pytest.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

KERNELS = ("evolve", "distance_matrix", "pi")
ENTRY_POINT_GROUP = "pytest_particles.backends"

# Positional arguments of each raw kernel contract, before the optional ``workers``.
_CONTRACT_ARITY = {"evolve": 4, "distance_matrix": 1, "pi": 2}

_backends: dict[str, dict[str, Backend]] = {kernel: {} for kernel in KERNELS}
_fronts: dict[str, Callable[..., Any]] = {}
_entry_points_loaded = False


class Backend:
    """One implementation of one kernel.

    Calling a Backend calls the kernel's public function with this backend,
    e.g. ``backend(r, ang_speed, 0.1)`` for evolve.  ``func`` is the raw kernel
    function, which trusts its inputs (see the kernel contract in the README).
    """

    __slots__ = ("kernel", "name", "func", "builtin", "priority", "takes_workers", "_workers_by_keyword",
                 "_check", "_reason")

    def __init__(self, kernel, name, func, *, check=None, builtin=False, priority=0, takes_workers=None):
        self.kernel = kernel
        self.name = name
        self.func = func
        self.builtin = builtin
        self.priority = priority
        declared = _declares_workers(kernel, func)
        self.takes_workers = bool(declared) if takes_workers is None else takes_workers
        self._workers_by_keyword = declared == "keyword"
        self._check = check
        self._reason = None

    @property
    def reason(self) -> str:
        """Why this backend cannot run here; empty when it can."""
        if self._reason is None:
            self._reason = _run_check(self._check)
        return self._reason

    @property
    def available(self) -> bool:
        return not self.reason

    def refresh(self) -> None:
        """Ask the availability check again (for backends whose answer can change)."""
        self._reason = None

    def run(self, *args, workers: int, **keywords):
        """Call the raw kernel function, passing ``workers`` only if it declares it (and any ``keywords``)."""
        if not self.takes_workers:
            return self.func(*args, **keywords)
        if self._workers_by_keyword:
            return self.func(*args, workers=workers, **keywords)
        return self.func(*args, workers, **keywords)

    def __call__(self, *args, **kwargs):
        if "backend" in kwargs:
            raise TypeError(f"{self!r} is already a backend; do not pass backend=")
        return front(self.kernel)(*args, backend=self, **kwargs)

    def __repr__(self) -> str:
        state = "available" if self.available else f"unavailable: {self.reason}"
        return f"<Backend {self.kernel}:{self.name} ({state})>"


def _run_check(check) -> str:
    """Turn an availability check's answer (True, or a reason string) into a reason."""
    if check is None:
        return ""
    try:
        answer = check()
    except Exception as exc:  # a broken check makes its backend unavailable, never crashes a run
        return f"availability check failed: {type(exc).__name__}: {exc}"
    if answer is True:
        return ""
    return str(answer) or "unavailable"


def _declares_workers(kernel: str, func: Callable) -> str:
    """How a backend takes ``workers``: "" (it does not), "positional" or "keyword".

    A function takes it when it has a parameter named ``workers``, or more
    required positional parameters than the kernel's contract.
    """
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return ""
    for p in params:
        if p.name == "workers":
            return "positional" if p.kind == p.POSITIONAL_ONLY else "keyword"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return "positional" if len(required) > _CONTRACT_ARITY[kernel] else ""


def _check_kernel(kernel) -> None:
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a str, one of {', '.join(KERNELS)}; got {type(kernel).__name__}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}; got {kernel!r}")


def define_kernel(kernel: str, front: Callable[..., Any]) -> None:
    """Record the public function that a kernel's Backend objects call."""
    _check_kernel(kernel)
    _fronts[kernel] = front


def front(kernel: str) -> Callable[..., Any]:
    """The public function of ``kernel`` (evolve, distance_matrix or monte_carlo_pi)."""
    _check_kernel(kernel)
    return _fronts[kernel]


def _add(record: Backend, replace: bool) -> Backend:
    existing = _backends[record.kernel].get(record.name)
    if existing is not None and not replace:
        if existing.builtin:
            raise ValueError(f"backend name {record.name!r} is a built-in {record.kernel} backend; choose another name")
        same = getattr(existing.func, "__qualname__", None) == getattr(record.func, "__qualname__", object()) and (
            getattr(existing.func, "__module__", None) == getattr(record.func, "__module__", object())
        )
        if not same:  # re-importing the same module (a conftest, say) may register again
            raise ValueError(
                f"a {record.kernel} backend named {record.name!r} is already registered "
                f"({existing.func!r}); pass replace=True to replace it"
            )
    _backends[record.kernel][record.name] = record
    return record


def add_builtin(kernel: str, name: str, func: Callable, *, priority: int, check=None, takes_workers=False):
    """Register one of our own backends (used by the kernel modules)."""
    return _add(
        Backend(kernel, name, func, check=check, builtin=True, priority=priority, takes_workers=takes_workers),
        replace=False,
    )


def register_backend(kernel: str, name: str, func: Callable | None = None, *, check=None, replace: bool = False):
    """Register a third-party backend for ``kernel``.

    ``func`` follows the raw kernel contract: evolve ``(r, ang_speed, timestep,
    nsteps) -> None`` updating ``r`` in place; distance_matrix ``(r) -> D``; pi
    ``(samples, seed_sequence, workers) -> hits``.  A ``workers`` parameter is
    passed only to functions that declare it.  ``check`` is an optional
    callable returning True or a string saying why the backend cannot run.

    Used as ``register_backend(kernel, name, func)`` it returns the
    :class:`Backend`; used as a decorator, ``@register_backend(kernel, name)``,
    it returns the function unchanged.
    """
    _check_kernel(kernel)
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__}")
    if not name or not name.replace("_", "a").replace("-", "a").replace(".", "a").isalnum():
        raise ValueError(f"name must be a non-empty word of letters, digits, '_', '-' or '.'; got {name!r}")
    if check is not None and not callable(check):
        raise TypeError(f"check must be callable returning True or a reason string; got {check!r}")

    def decorate(f):
        if not callable(f):
            raise TypeError(f"func must be callable; got {type(f).__name__}")
        return _add(Backend(kernel, name, f, check=check), replace)

    if func is None:

        def decorator(f):
            decorate(f)
            return f

        return decorator
    return decorate(func)


def unregister_backend(kernel: str, name: str) -> None:
    """Remove a third-party backend (built-in ones cannot be removed)."""
    _check_kernel(kernel)
    record = _backends[kernel].get(name)
    if record is None:
        raise ValueError(f"no {kernel} backend named {name!r} is registered")
    if record.builtin:
        raise ValueError(f"{name!r} is a built-in {kernel} backend and cannot be removed")
    del _backends[kernel][name]


def load_entry_points() -> None:
    """Load the ``pytest_particles.backends`` entry points once.

    An entry point named ``KERNEL.NAME`` (e.g. ``evolve.mine``) points at a raw
    kernel function.  Any other name points at a module or a callable: the
    module is imported (it may call :func:`register_backend`) and a callable
    is called with no arguments.  A broken entry point is a warning, never a
    crash.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            kernel, _, name = ep.name.partition(".")
            if kernel in KERNELS and name:
                register_backend(kernel, name, obj)
            elif callable(obj):
                obj()
        except Exception as exc:
            warnings.warn(
                f"pytest-particles: could not load backend entry point {ep.name!r} ({ep.value}): "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )


def backends(kernel: str) -> list[Backend]:
    """Every registered backend of ``kernel``, available or not, fastest built-ins first."""
    _check_kernel(kernel)
    load_entry_points()
    return sorted(_backends[kernel].values(), key=lambda b: (not b.builtin, -b.priority))


def lookup(kernel: str, backend) -> Backend:
    """Resolve the ``backend`` argument of a public function to a runnable Backend.

    None picks the fastest available built-in; a name or a Backend of this
    kernel selects one.  Unknown or unavailable choices are a ValueError that
    lists the available backends and why the others are not.
    """
    candidates = backends(kernel)
    if backend is None:
        for record in candidates:
            if record.builtin and record.available:
                return record
        raise ValueError(f"no {kernel} backend is available here.\n{_summary(candidates)}")
    if isinstance(backend, Backend):
        if backend.kernel != kernel:
            raise ValueError(f"backend {backend.name!r} is a {backend.kernel} backend, not a {kernel} one")
        record = backend
    elif isinstance(backend, str):
        record = _backends[kernel].get(backend)
        if record is None:
            raise ValueError(f"unknown {kernel} backend {backend!r}.\n{_summary(candidates)}")
    else:
        raise TypeError(f"backend must be None, a backend name or a Backend; got {type(backend).__name__}")
    if not record.available:
        raise ValueError(f"{kernel} backend {record.name!r} is not available here: {record.reason}.\n{_summary(candidates)}")
    return record


def _summary(candidates: list[Backend]) -> str:
    available = [b.name for b in candidates if b.available]
    lines = [f"available: {', '.join(available) or 'none'}"]
    lines += [f"unavailable: {b.name} ({b.reason})" for b in candidates if not b.available]
    return "\n".join(lines)
