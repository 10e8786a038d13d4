"""The registry: one record per kernel, one per (kernel, backend name), and nothing else holds their facts.

A kernel is declared with :func:`register_kernel` (how to make a case of a
size, which backend is the reference, the tolerance, its checks, its door,
its work); a backend with :func:`register_backend` (its function, whether it
uses more than one core, its cost cap, whether it can run here and, if not,
one reason string that every consumer shows the same way).  Installed
packages declare kernels and backends through the entry-point groups
``pytest_particles.kernels`` and ``pytest_particles.backends``.  The book's
kernels declare themselves here exactly as a user's package would.  This
module never imports pytest.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar, overload

from .records import KINDS, Backend, Kernel, _identity

KERNEL_ENTRY_POINTS = "pytest_particles.kernels"
BACKEND_ENTRY_POINTS = "pytest_particles.backends"
ENTRY_POINT_GROUP = BACKEND_ENTRY_POINTS  # the name this module had before kernels could be declared

_F = TypeVar("_F", bound=Callable[..., Any])
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_kernels: dict[str, Kernel] = {}
_backends: dict[str, dict[str, Backend]] = {}
_entry_points_loaded = False


def _owner(module: str | None) -> str:
    """The top-level package of a module name: whose declaration a kernel or backend is."""
    return (module or "").partition(".")[0]


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str; got {type(value).__name__}")
    if not _NAME.match(value):
        raise ValueError(f"{what} must be a non-empty word of letters, digits, '_', '-' or '.'; got {value!r}")
    return value


def _optional_callable(value: object, name: str, expected: str) -> object:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be None or a callable {expected}; got {type(value).__name__} {value!r}")
    return value


# --------------------------------------------------------------------------- kernels


def register_kernel(
    name: str,
    *,
    inputs: Callable[..., tuple],
    reference: str | None = None,
    check: Callable[..., None] | None = None,
    rtol: float = 1e-7,
    atol: float = 0.0,
    work: Callable[[int], int] | None = None,
    work_unit: str | None = None,
    sizes: Sequence[int] | None = None,
    validate: Callable[..., Any] | None = None,
    call: Callable[..., Any] | None = None,
    call_work: Callable[..., int] | None = None,
    published: dict[tuple[str, int], float] | None = None,
    shrink: Callable[[tuple, float], tuple[tuple, int]] | None = None,
) -> Kernel:
    """Declare a kernel and return its :class:`Kernel` record.

    Parameters
    ----------
    name : str
        The kernel's name (letters, digits, ``_``, ``-``, ``.``).
    inputs : callable ``(size, rng) -> tuple``
        The positional arguments of one case of ``size``; ``rng`` is a
        ``numpy.random.Generator`` seeded from (kernel, size, seed), so a case
        is the same in every run and process.
    reference : str, optional
        The backend whose result every other backend's is compared with
        (same shape, same dtype kind, ``numpy.testing.assert_allclose`` with
        ``rtol``/``atol``, NaN equal to NaN).
    check : callable ``(result, *args)``, optional
        Invariants or physics; raises AssertionError naming the wrong entry.
    work, work_unit : callable ``(size) -> int``, str, optional
        The work of a case of a size, for throughput (default: the size, "items").
    sizes : sequence of int, optional
        Default sizes for tests, ``bench`` and the asv suite (default (100, 1000)).
    validate : callable ``(*args, **kwargs)``, optional
        The door of the kernel's call: raises ValueError/TypeError on bad input
        before any backend runs.
    call : callable ``(*args, backend=None, workers=None, **kwargs)``, optional
        A public function that replaces the default call (validate, then the
        backend on the arguments), for kernels whose backends follow a
        lower-level contract than their call (the book's ``evolve`` steps in place).
    call_work : callable ``(*args, **kwargs) -> int``, optional
        The work of one call from its arguments, when it depends on more than a size.
    published : dict ``{(backend, size): seconds}``, optional
        Timings measured elsewhere (a paper, a book) that ``bench`` shows beside its own.
    shrink : callable ``(args, fraction) -> (args, work)``, optional
        A smaller case of the same size doing about ``fraction`` of the work,
        whose time ``bench`` extends linearly when the full case exceeds its
        budget (the book's evolve runs fewer steps on the same particles);
        without it, ``bench`` fits two smaller sizes.

    Declaring the same name twice is an error unless the declarations are identical
    (then the first record is returned, with its backends).
    """
    _check_name(name, "name")
    if not callable(inputs):
        raise TypeError(f"inputs must be a callable (size, rng) -> tuple of arguments; got {type(inputs).__name__}")
    if reference is not None:
        _check_name(reference, "reference")
    for value, label in ((check, "check"), (work, "work"), (validate, "validate"), (call, "call"),
                         (call_work, "call_work"), (shrink, "shrink")):
        _optional_callable(value, label, "")
    for number, label in ((rtol, "rtol"), (atol, "atol")):
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not number >= 0:
            raise ValueError(f"{label} must be a number >= 0; got {number!r}")
    if work_unit is not None and (not isinstance(work_unit, str) or not work_unit):
        raise TypeError(f"work_unit must be None or a non-empty str; got {work_unit!r}")
    if sizes is None:
        sizes = (100, 1000)
    if isinstance(sizes, int) and not isinstance(sizes, bool):
        sizes = (sizes,)
    sizes = tuple(sizes)
    if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"sizes must be a non-empty sequence of ints >= 1; got {sizes!r}")
    if published is not None and not isinstance(published, dict):
        raise TypeError(f"published must be None or a dict {{(backend, size): seconds}}; "
                        f"got {type(published).__name__}")
    record = Kernel(name, inputs=inputs, reference=reference, check=check, rtol=float(rtol), atol=float(atol),
                    work=work, work_unit=work_unit or "items", sizes=sizes, validate=validate, call=call,
                    call_work=call_work, published=dict(published or {}), shrink=shrink,
                    owner=_owner(sys._getframe(1).f_globals.get("__name__")))
    existing = _kernels.get(name)
    if existing is not None:
        if existing._declaration == record._declaration:
            return existing
        raise ValueError(f"a kernel named {name!r} is already declared, differently; choose another name")
    _kernels[name] = record
    _backends[name] = {}
    return record


def kernels() -> list[Kernel]:
    """Every declared kernel, in the order they were declared (entry points loaded first)."""
    load_entry_points()
    return list(_kernels.values())


def kernel_names() -> list[str]:
    return [k.name for k in kernels()]


def kernel(name: str | Kernel) -> Kernel:
    """The declared kernel called ``name`` (TypeError or ValueError listing the kernels otherwise)."""
    if isinstance(name, Kernel):
        return name
    if not isinstance(name, str):
        raise TypeError(f"kernel must be a str, one of {', '.join(kernel_names())}; got {type(name).__name__}")
    if name not in _kernels:
        load_entry_points()
    if name not in _kernels:
        raise ValueError(f"kernel must be one of {', '.join(kernel_names()) or '(none declared)'}; got {name!r}")
    return _kernels[name]


def unregister_kernel(name: str) -> None:
    """Remove a declared kernel and its backends (for tests and interactive sessions)."""
    kernel(name)
    del _kernels[name], _backends[name]


# --------------------------------------------------------------------------- backends


@overload
def register_backend(kernel_name: str, name: str, func: None = None, *, parallel: bool = False,
                     check: Callable[[], object] | None = None, priority: int = 0, max_work: float | None = None,
                     replace: bool = False, kind: str | None = None) -> Callable[[_F], _F]: ...


@overload
def register_backend(kernel_name: str, name: str, func: Callable[..., Any], *, parallel: bool = False,
                     check: Callable[[], object] | None = None, priority: int = 0, max_work: float | None = None,
                     replace: bool = False, kind: str | None = None) -> Backend: ...


def register_backend(kernel_name: str, name: str, func: Callable[..., Any] | None = None, *, parallel: bool = False,
                     check: Callable[[], object] | None = None, priority: int = 0, max_work: float | None = None,
                     replace: bool = False, kind: str | None = None) -> Backend | Callable[[_F], _F]:
    """Register a backend of a declared kernel.

    ``func`` follows the kernel's backend contract: for a kernel declared
    without ``call``, the kernel's own arguments, returning the result (the
    book's kernels: see "The raw kernel contract" in the README).
    ``kind`` is what it is (:data:`~pytest_particles.records.KINDS`):
    "python" (its Python lines do the work: the default, line-profiled),
    "compiled" (serial, compiled code), "parallel" (more than one core: the
    gate gives it the parallel threshold and instruction counts leave it out)
    or "distributed" (on a cluster); ``parallel=True`` is short for
    ``kind="parallel"``.  A function with
    a parameter named ``workers`` is given the number of threads or
    processes the caller asked for (None: every core this process may use).
    ``check`` is an optional callable returning True or a string saying why
    the backend cannot run.
    ``priority`` orders the kernel's own backends (the highest available one
    is ``backend=None``'s choice); ``max_work`` caps the work at which tests,
    ``bench`` and asv run it (a slow reference loop, say).

    Used as ``register_backend(kernel, name, func)`` it returns the
    :class:`Backend`; used as a decorator, ``@register_backend(kernel, name)``,
    it returns the function unchanged.
    """
    record_kernel = kernel(kernel_name)
    _check_name(name, "name")
    _optional_callable(check, "check", "returning True or a reason string")
    if kind is None:
        kind = "parallel" if parallel else "python"
    elif kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    elif parallel and kind not in ("parallel", "distributed"):
        raise ValueError(f"parallel=True contradicts kind={kind!r}; give one of them")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int; got {type(priority).__name__}")
    if max_work is not None and (isinstance(max_work, bool) or not isinstance(max_work, (int, float))
                                 or not max_work > 0):
        raise ValueError(f"max_work must be None or a number > 0; got {max_work!r}")

    def add(f: Callable[..., Any]) -> Backend:
        if not callable(f):
            raise TypeError(f"func must be callable; got {type(f).__name__}")
        owner = _owner(sys._getframe(2).f_globals.get("__name__"))
        record = Backend(record_kernel.name, name, f, check=check, builtin=owner == record_kernel.owner,
                         priority=priority, kind=kind, max_work=max_work)
        return _add(record, replace)

    if func is None:

        def decorator(f: _F) -> _F:
            add(f)
            return f

        return decorator
    return add(func)


def _add(record: Backend, replace: bool) -> Backend:
    existing = _backends[record.kernel].get(record.name)
    if existing is not None and not replace:
        if existing.builtin and not record.builtin:
            raise ValueError(f"backend name {record.name!r} is a built-in {record.kernel} backend; choose another name")
        if _identity(existing.func) != _identity(record.func):  # re-importing a conftest registers again
            raise ValueError(
                f"a {record.kernel} backend named {record.name!r} is already registered "
                f"({existing.func!r}); pass replace=True to replace it"
            )
    _backends[record.kernel][record.name] = record
    return record


def unregister_backend(kernel_name: str, name: str) -> None:
    """Remove a backend that another package added to a kernel (a kernel's own cannot be removed)."""
    kernel_name = kernel(kernel_name).name
    record = _backends[kernel_name].get(name)
    if record is None:
        raise ValueError(f"no {kernel_name} backend named {name!r} is registered")
    if record.builtin:
        raise ValueError(f"{name!r} is a built-in {kernel_name} backend and cannot be removed")
    del _backends[kernel_name][name]


def backends(kernel_name: str | Kernel) -> list[Backend]:
    """Every registered backend of a kernel, available or not: the kernel's own by priority, then others'."""
    name = kernel(kernel_name).name
    load_entry_points()
    return sorted(_backends[name].values(), key=lambda b: (not b.builtin, -b.priority))


def lookup(kernel_name: str | Kernel, backend: str | Backend | None, *, available: bool = True) -> Backend:
    """Resolve a backend argument: the one function every front end resolves names through.

    None picks the kernel's own available backend of highest priority; a name
    or a Backend of this kernel selects one.  Unknown choices (and, with
    ``available``, unavailable ones) are a ValueError that lists the
    available backends and why the others are not.
    """
    record_kernel = kernel(kernel_name)
    candidates = record_kernel.backends()
    if backend is None:
        for record in candidates:
            if record.builtin and record.available:
                return record
        raise ValueError(f"no {record_kernel.name} backend is available here.\n{summary(candidates)}")
    if isinstance(backend, Backend):
        if backend.kernel != record_kernel.name:
            raise ValueError(f"backend {backend.name!r} is a {backend.kernel} backend, not a {record_kernel.name} one")
        record = backend
    elif isinstance(backend, str):
        found = _backends[record_kernel.name].get(backend)
        if found is None:
            raise ValueError(f"unknown {record_kernel.name} backend {backend!r}.\n{summary(candidates)}")
        record = found
    else:
        raise TypeError(f"backend must be None, a backend name or a Backend; got {type(backend).__name__}")
    if available and not record.available:
        raise ValueError(f"{record_kernel.name} backend {record.name!r} is not available here: {record.reason}.\n"
                         f"{summary(candidates)}")
    return record


def check_backend_names(names: Sequence[str], kernel_names: Sequence[str] | None = None) -> list[str]:
    """``names`` when each is a backend of one of ``kernel_names`` (every declared kernel by default).

    For options that name backends before a kernel is chosen (``--particles-backends``,
    ``bench --backend``): a ValueError names the unknown ones and lists the registered.
    """
    known = list(dict.fromkeys(b.name for k in (kernel_names or [k.name for k in kernels()]) for b in backends(k)))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown backend {', '.join(map(repr, unknown))}; registered: {', '.join(sorted(known))}")
    return list(names)


def summary(candidates: list[Backend]) -> str:
    available = [b.name for b in candidates if b.available]
    lines = [f"available: {', '.join(available) or 'none'}"]
    lines += [f"unavailable: {b.name} ({b.reason})" for b in candidates if not b.available]
    return "\n".join(lines)


# --------------------------------------------------------------------------- entry points


def load_entry_points() -> None:
    """Load the kernel entry points, then the backend ones, once.  A broken one is a warning, never a crash.

    ``pytest_particles.kernels``: each names a callable that declares kernels
    (and their backends) when called, or a module that does so when imported.
    ``pytest_particles.backends``: ``KERNEL.NAME`` names a backend function;
    any other name a callable that registers backends when called.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for group in (KERNEL_ENTRY_POINTS, BACKEND_ENTRY_POINTS):
        for ep in entry_points(group=group):
            _load_one(ep, group)


def _load_one(ep: EntryPoint, group: str) -> None:
    kind = "kernel" if group == KERNEL_ENTRY_POINTS else "backend"
    try:
        obj = ep.load()
        kernel_name, _, name = ep.name.partition(".")
        if group == BACKEND_ENTRY_POINTS and name and kernel_name in _kernels:
            if not callable(obj):
                raise TypeError(f"func must be callable; got {type(obj).__name__}")
            _add(Backend(kernel_name, _check_name(name, "name"), obj), replace=False)
        elif callable(obj):
            obj()
    except (Exception, SystemExit) as exc:  # sys.exit() in a plugin must not end the host program
        warnings.warn(f"pytest-particles: could not load {kind} entry point {ep.name!r} ({ep.value}): "
                      f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)


def import_modules(names: Sequence[str]) -> None:
    """Import modules that declare kernels or backends (``--import MODULE``); ImportError names the module."""
    import importlib

    load_entry_points()
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(f"cannot import {name!r}: {exc}") from exc
