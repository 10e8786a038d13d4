"""The process cachegrind counts in instruction mode: ``python _count.py KERNEL BACKEND SIZE CALLS [MODULE ...]``.

Run with the commit's build first on PYTHONPATH, it makes the kernel's case of
SIZE (as tests, bench and asv do) and calls the kernel CALLS times with
BACKEND; it prints MISSING when that commit lacks the kernel or the backend.
"""

import sys


def main(argv: list[str]) -> int:
    kernel_name, backend, size, calls, *modules = argv
    from pytest_particles import registry
    from pytest_particles.cases import Case

    try:
        registry.import_modules(modules)
        kernel = registry.kernel(kernel_name)
        record = registry.lookup(kernel_name, backend)
    except (ImportError, ValueError):
        print("MISSING")
        return 0
    args = Case(kernel, int(size)).args
    for _ in range(int(calls)):
        kernel(*args, backend=record)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
