"""The records of the registry: a declared :class:`Kernel` and one :class:`Backend` of it.

They hold a declaration's facts and behave (a Kernel runs through its door, a
Backend says whether it can run here and why not); storing and finding them
is :mod:`pytest_particles.registry`'s (imported where used: it imports this module).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import validation

# What a backend is, for the tools that treat kinds differently: "python" (its Python lines do the work:
# line-profiled), "compiled" (serial, in compiled code), "parallel" (more than one core of this machine:
# the gate's parallel threshold, no instruction counts), "distributed" (on a cluster).
KINDS = ("python", "compiled", "parallel", "distributed")


def _registry() -> ModuleType:
    from . import registry  # here, not at the top: the registry imports this module

    return registry


def _identity(value: object) -> object:
    """What makes two declarations the same: functions by module and qualified name (a re-imported conftest)."""
    if callable(value) and hasattr(value, "__qualname__"):
        return ("callable", getattr(value, "__module__", None), value.__qualname__)
    return value


class Kernel:
    """One declared kernel.  Calling it runs it: ``pp.kernel("blur")(image, backend="numpy")``.

    Attributes are the declaration (see :func:`register_kernel`); ``sizes`` is
    a tuple of ints, ``work(size)`` the work of a case of that size.
    """

    __slots__ = ("name", "inputs", "reference", "check", "rtol", "atol", "work_unit", "sizes", "validate",
                 "owner", "published", "shrink", "_work", "_call", "_call_work", "_declaration")

    def __init__(self, name: str, *, inputs: Callable[..., tuple], reference: str | None,
                 check: Callable[..., None] | None, rtol: float, atol: float, work: Callable[[int], int] | None,
                 work_unit: str, sizes: tuple[int, ...], validate: Callable[..., Any] | None,
                 call: Callable[..., Any] | None, call_work: Callable[..., int] | None,
                 published: dict[tuple[str, int], float], shrink: Callable[[tuple, float], tuple[tuple, int]] | None,
                 owner: str) -> None:
        self.name = name
        self.inputs = inputs
        self.reference = reference
        self.check = check
        self.rtol = rtol
        self.atol = atol
        self._work = work
        self.work_unit = work_unit
        self.sizes = sizes
        self.validate = validate
        self._call = call
        self._call_work = call_work
        self.owner = owner
        self.published = published
        self.shrink = shrink
        self._declaration = tuple(map(_identity, (inputs, reference, check, rtol, atol, work, work_unit, sizes,
                                                  validate, call, call_work, shrink))) + (sorted(published.items()),)

    def work(self, size: int) -> int:
        """The work of a case of ``size`` (in ``work_unit``); the size itself unless declared."""
        return int(size if self._work is None else self._work(size))

    def call_work(self, *args: Any, **kwargs: Any) -> int | None:
        """The work of one call of the kernel from its arguments, when the kernel can tell (else None)."""
        return None if self._call_work is None else int(self._call_work(*args, **kwargs))

    def backends(self) -> list[Backend]:
        """Every registered backend, available or not: the kernel's own by priority, then others'."""
        return _registry().backends(self.name)

    def __call__(self, *args: Any, backend: str | Backend | None = None, workers: int | None = None,
                 **kwargs: Any) -> Any:
        """Run the kernel: the door (``validate``), then the chosen backend on the arguments."""
        if self._call is not None:  # its own door; workers checked here all the same
            return self._call(*args, backend=backend, workers=validation.workers(workers), **kwargs)
        record = _registry().lookup(self.name, backend)
        if self.validate is not None:
            self.validate(*args, **kwargs)
        return record.run(*args, workers=validation.workers(workers), **kwargs)

    def __repr__(self) -> str:
        return f"<Kernel {self.name} ({len(self.backends())} backends)>"


class Backend:
    """One implementation of one kernel.

    Calling a Backend calls its kernel with this backend, e.g.
    ``backend(r, ang_speed, 0.1)`` for evolve.  ``func`` is the raw function,
    which trusts its inputs.  ``kind`` is one of :data:`KINDS`; ``parallel``
    says it uses more than one core (kind "parallel" or "distributed");
    ``takes_workers`` that its function has a ``workers`` parameter (then it is
    given the caller's); ``builtin`` that it belongs to the package that
    declared its kernel (only those are chosen by ``backend=None``).
    """

    __slots__ = ("kernel", "name", "func", "builtin", "priority", "kind", "max_work", "takes_workers",
                 "_workers_by_keyword", "_check", "_reason")

    def __init__(self, kernel: str, name: str, func: Callable[..., Any], *, check: Callable[[], object] | None = None,
                 builtin: bool = False, priority: int = 0, kind: str = "python", max_work: float | None = None) -> None:
        self.kernel = kernel
        self.name = name
        self.func = func
        self.builtin = builtin
        self.priority = priority
        self.kind = kind
        self.max_work = max_work
        declared = _declares_workers(func)
        self.takes_workers = bool(declared)  # a parallel function without the parameter sizes its own threads
        self._workers_by_keyword = declared == "keyword"
        self._check = check
        self._reason: str | None = None

    @property
    def parallel(self) -> bool:
        """True when it uses more than one core (the gate's parallel threshold; no instruction counts)."""
        return self.kind in ("parallel", "distributed")

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

    def too_costly(self, work: float) -> str:
        """Why a case of ``work`` is not run on this backend (its cost cap), or ''."""
        if self.max_work is not None and work > self.max_work:
            return f"{self.kernel} backend {self.name!r} would take too long: {work:,.0f} > {self.max_work:,.0f} " \
                   f"{_registry().kernel(self.kernel).work_unit} (its max_work)"
        return ""

    def run(self, *args: Any, workers: int, **keywords: Any) -> Any:
        """Call the raw function, passing ``workers`` only if it takes it (and any ``keywords``)."""
        if not self.takes_workers:
            return self.func(*args, **keywords)
        if self._workers_by_keyword:
            return self.func(*args, workers=workers, **keywords)
        return self.func(*args, workers, **keywords)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "backend" in kwargs:
            raise TypeError(f"{self!r} is already a backend; do not pass backend=")
        return _registry().kernel(self.kernel)(*args, backend=self, **kwargs)

    def __repr__(self) -> str:
        state = "available" if self.available else f"unavailable: {self.reason}"
        return f"<Backend {self.kernel}:{self.name} ({state})>"


def _run_check(check: Callable[[], object] | None) -> str:
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


def _declares_workers(func: Callable[..., Any]) -> str:
    """How a function takes ``workers``: "" (no parameter of that name), "positional" or "keyword"."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return ""
    for p in params:
        if p.name == "workers":
            return "positional" if p.kind == p.POSITIONAL_ONLY else "keyword"
    return ""


