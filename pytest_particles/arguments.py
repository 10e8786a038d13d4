"""The one parser of list-valued options, for the command line and the plugin alike (argparse types).

``names("numpy, cython")`` and ``sizes("1000,1e6")``: items separated by commas
or spaces; a size is a whole number >= 1 written ``1000``, ``1_000`` or ``1e6``;
``cluster("local:4")``: the cluster a session runs its distributed backends on.
A bad value raises :class:`argparse.ArgumentTypeError`, which argparse and
pytest turn into one usage line naming the option.
"""

from __future__ import annotations

import argparse
import os


def items(text: str) -> list[str]:
    """The non-empty items of a comma- or space-separated list."""
    return [item for item in str(text).replace(",", " ").split()]


def names(text: str) -> list[str]:
    """A comma-separated list of names (kernels, backends), at least one, in order, without repeats."""
    found = items(text)
    if not found:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return list(dict.fromkeys(found))


def size(text: str) -> int:
    """One size: a whole number >= 1, written 1000, 1_000 or 1e6."""
    part = str(text).strip()
    try:
        value: int | None = int(part)
    except ValueError:
        try:
            number = float(part)
        except ValueError:
            number = None
        value = int(number) if number is not None and number.is_integer() else None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"sizes must be whole numbers >= 1 (e.g. 1000 or 1e6); got {part!r}")
    return value


def sizes(text: str) -> list[int]:
    """A comma-separated list of sizes, at least one, in order, without repeats."""
    parts = items(text)
    if not parts:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes, got {text!r}")
    return list(dict.fromkeys(size(part) for part in parts))


def cluster(text: str) -> tuple[str, int | str]:
    """``local[:N]`` (N engines started here, default 2), a connection file (.json) or a profile name or directory.

    Returns ("local", N), ("connection_file", path) or ("profile", name).
    """
    text = str(text).strip()
    name, colon, count = text.partition(":")
    if name == "local":
        n = int(count) if count.isdigit() else 0
        if colon and n < 1:
            raise argparse.ArgumentTypeError(f"expected local:N with N engines, a whole number >= 1; got {text!r}")
        return ("local", n if colon else 2)
    if text.endswith(".json") or os.path.isfile(text):
        if not os.path.isfile(text):
            raise argparse.ArgumentTypeError(f"connection file {text!r} does not exist")
        return ("connection_file", text)
    if not text:
        raise argparse.ArgumentTypeError("expected local[:N], a profile name or a connection file; got ''")
    return ("profile", text)
