"""pytest-benchmark's hooks, registered by the plugin only when pytest-benchmark is active (its specs exist then)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


class BenchmarkHooks:
    """Hooks of pytest-benchmark, registered only when it is active (its hook specs exist then)."""

    @staticmethod
    @pytest.hookimpl(wrapper=True)
    def pytest_benchmark_group_stats(config: pytest.Config, benchmarks: list[dict[str, Any]],
                                     group_by: str) -> Generator[None, object, object]:
        """Let ``--benchmark-group-by=param:NAME`` group benchmarks that lack that parameter.

        pytest-benchmark raises on a benchmark without the parameter (a plain
        test, or a kernel test without sizes grouped by param:size).  Such
        benchmarks get NAME=None, on copies of their params only.
        """
        names = [part[len("param:"):] for part in group_by.split(",") if part.startswith("param:")]
        for bench in benchmarks:
            params = bench.get("params") or {}
            missing = [name for name in names if name not in params]
            if missing or bench.get("params") is None:
                bench["params"] = {**params, **dict.fromkeys(missing)}
        return (yield)

    @staticmethod
    def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
        """The build's facts beside pytest-benchmark's own: CPU path, OpenMP, cores (see :mod:`.machine`)."""
        from .machine import facts

        machine_info["pytest_particles"] = facts()
