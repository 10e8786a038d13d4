"""An asv suite for any declared kernel, in one line of a ``benchmarks/`` file::

    import pytest_particles.asv
    globals().update(pytest_particles.asv.suite("blur", imports=["mylib.kernels"]))

gives asv three classes over backend x size, on the kernel's own cases (the
one workload definition that tests and ``bench`` use):

* ``TimeBlur.time_blur``: seconds per call of the kernel with each backend;
* ``PeakmemBlur.peakmem_blur``: peak memory of one call;
* ``TrackBlurError.track_blur_error`` (kernels with a reference): each
  backend's largest error relative to the reference's result
  (``max |got - expected| / max |expected|``), so correctness is tracked
  across commits beside time.

A kernel or backend missing at an older commit, unavailable on this machine,
or over its ``max_work`` is skipped (``NotImplementedError`` in ``setup``), so
history runs never fail on them; ``ASV_SKIP_SLOW=1`` skips the largest size.
"""

from __future__ import annotations

import os
import re
from collections.abc import Container, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: an older commit may lack the registry
    from .records import Kernel

UNKNOWN = "(kernel not declared)"


def identifier(kernel_name: str) -> str:
    """The kernel's name as it appears in its benchmarks' names: ``time_<identifier>``."""
    return re.sub(r"\W", "_", kernel_name)


def kernel_of(benchmark: str) -> str | None:
    """The declared kernel a benchmark of :func:`suite` is named after (``time_X``, ``peakmem_X``,
    ``track_X_error``), or None for a benchmark of another shape."""
    from . import registry

    method = benchmark.rsplit(".", 1)[-1]
    for name in registry.kernel_names():
        stem = identifier(name)
        if method in (f"time_{stem}", f"peakmem_{stem}", f"track_{stem}_error"):
            return name
    return None


def class_stem(kernel_name: str) -> str:
    """``distance_matrix`` -> ``DistanceMatrix``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"\W|_", kernel_name) if part)


def _declared(kernel_name: str, imports: Iterable[str]) -> tuple[list[str], list[int], bool]:
    """Backend names, sizes and whether there is a reference, at discovery (placeholders if the kernel is missing)."""
    try:
        kernel = _kernel(kernel_name, imports)
    except Exception:  # pytest_particles or the user's module missing, or the kernel not declared
        return [UNKNOWN], [1], True
    return [b.name for b in kernel.backends()], list(kernel.sizes), kernel.reference is not None


def _kernel(kernel_name: str, imports: Iterable[str]) -> Kernel:
    from . import registry

    registry.import_modules(list(imports))
    return registry.kernel(kernel_name)


def suite(kernel_name: str, *, sizes: Iterable[int] | None = None, backends: Container[str] | None = None,
          imports: str | Iterable[str] = (), timeout: float = 120.0) -> dict[str, type]:
    """The asv benchmark classes of one declared kernel, by class name (put them in a benchmarks module).

    ``sizes`` and ``backends`` narrow the kernel's own; ``imports`` are modules
    that declare it (a package's entry points are loaded anyway).
    """
    imports = tuple([imports] if isinstance(imports, str) else imports)
    names, declared_sizes, has_reference = _declared(kernel_name, imports)
    names = [n for n in names if backends is None or n in backends] or [UNKNOWN]
    sizes = list(sizes) if sizes is not None else declared_sizes
    largest = max(sizes)
    state: dict = {}

    def setup(self: Any, backend: str, size: int) -> None:
        if backend == UNKNOWN:
            raise NotImplementedError(f"kernel {kernel_name!r} is not declared at this commit")
        if size == largest and len(sizes) > 1 and os.environ.get("ASV_SKIP_SLOW", "") not in ("", "0"):
            raise NotImplementedError("ASV_SKIP_SLOW is set")
        try:
            kernel = _kernel(kernel_name, imports)
            record = {b.name: b for b in kernel.backends()}[backend]
        except (ImportError, ValueError, KeyError):
            raise NotImplementedError(f"no {kernel_name} backend {backend!r} at this commit") from None
        if not record.available:
            raise NotImplementedError(record.reason)
        from .cases import Case

        key = (kernel_name, size)
        if key not in state:
            state[key] = Case(kernel, size)
        case = state[key]
        if record.too_costly(case.work):
            raise NotImplementedError(record.too_costly(case.work))
        self.kernel, self.record, self.case, self.args = kernel, record, case, case.args

    def run(self: Any, backend: str, size: int) -> None:
        self.kernel(*self.args, backend=self.record)

    def track_error(self: Any, backend: str, size: int) -> float:
        import numpy as np

        from .cases import reference_reason

        if self.kernel.reference is None or reference_reason(self.kernel):
            raise NotImplementedError(reference_reason(self.kernel) or f"{kernel_name} declares no reference")
        expected = np.asarray(self.case.expected, dtype=float)
        got = np.asarray(self.kernel(*self.case.args, backend=self.record), dtype=float)
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
        error = float(np.max(np.abs(got - expected))) if expected.size else 0.0
        return error / scale if scale > 0 else error

    stem, name = class_stem(kernel_name), identifier(kernel_name)
    common = {"params": (names, sizes), "param_names": ["backend", "size"], "timeout": timeout, "setup": setup,
              "__module__": __name__}
    classes = {
        f"Time{stem}": type(f"Time{stem}", (), {**common, f"time_{name}": run}),
        f"Peakmem{stem}": type(f"Peakmem{stem}", (), {**common, f"peakmem_{name}": run}),
    }
    if has_reference:
        classes[f"Track{stem}Error"] = type(f"Track{stem}Error", (), {
            **common, f"track_{name}_error": track_error, "unit": "relative error"})
    return classes


def suites(*kernel_names: str, imports: str | Iterable[str] = (), **options: Any) -> dict[str, type]:
    """The classes of several kernels (all declared ones when none is named)."""
    if not kernel_names:
        try:
            from . import registry

            registry.import_modules([imports] if isinstance(imports, str) else list(imports))
            kernel_names = tuple(registry.kernel_names())
        except ImportError:
            return {}
    classes: dict[str, type] = {}
    for kernel_name in kernel_names:
        classes.update(suite(kernel_name, imports=imports, **options))
    return classes


__all__ = ["class_stem", "identifier", "kernel_of", "suite", "suites"]
