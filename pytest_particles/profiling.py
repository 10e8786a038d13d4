"""Profile one call of a kernel backend with the book's tools, never reimplemented.

For one call this writes, under a name of your choice:

- ``NAME.prof``: cProfile's statistics (``pstats``; ``python -m pstats NAME.prof``,
  the book's ``cProfile -o prof.out``);
- ``NAME.calltree``: the same converted by pyprof2calltree for KCachegrind /
  QCachegrind (the book's ``pyprof2calltree -i prof.out -o prof.calltree``);
- for pure-Python backends, ``NAME.lines.txt``: line_profiler's report of the
  backend function (the book's ``kernprof -l -v`` / ``%lprun``), and its raw
  ``NAME.lprof`` (``python -m line_profiler NAME.lprof``);

and measures the peak of Python-traced memory during the call (tracemalloc;
NumPy reports its array buffers to tracemalloc, so arrays count).  Each tool
runs the call once on its own, so none distorts another's numbers.

Used by ``pytest --particles-profile=DIR`` (:class:`ProfileHooks`: every
kernel-marked test's last call of its backend, replayed after the test) and by
``pytest-particles profile`` (:func:`profile_workload`).
"""

from __future__ import annotations

import cProfile
import csv
import functools
import hashlib
import io
import json
import pstats
import re
import tracemalloc
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pluggy import HookimplMarker

import inspect

from . import registry
from .cases import DEFAULT_SEED, Case

hookimpl = HookimplMarker("pytest")  # pytest.hookimpl, without importing pytest for the command line

# ``pytest-particles profile`` runs the largest size with at most this much work (a pure-Python loop in ~0.1 s).
DEFAULT_WORK = 100_000
SUMMARY_FIELDS = ("test", "kernel", "backend", "size", "work", "work_unit", "peak_bytes", "total_time_s",
                  "function_calls", "prof", "calltree", "lines", "lprof", "error")


def require_tools() -> None:
    """Raise ImportError naming the missing profiling packages (the ``tools`` extra)."""
    missing = []
    for module, package in (("pyprof2calltree", "pyprof2calltree"), ("line_profiler", "line_profiler")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise ImportError(
            f"profiling needs {' and '.join(missing)}: pip install 'pytest-particles[tools]'"
        )


def safe_name(text: str, max_length: int = 120) -> str:
    """A file-name stem from a test node id or label: letters, digits, '.', '-', '_' only.

    ``tests/test_x.py::test_evolve[python-10]`` becomes
    ``tests_test_x.py_test_evolve_python-10``; a longer result is cut and
    ends with a hash of the full text, so different ids stay different.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-") or "call"
    if len(stem) > max_length:
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        stem = f"{stem[: max_length - 11]}-{digest}"
    return stem


def is_pure_python(backend: registry.Backend) -> bool:
    """True for the backends a line profile is written for: serial, Python code, nothing compiled or optional.

    (A backend with an availability check wraps an extension or another package: its lines are one call.)
    """
    return inspect.isfunction(backend.func) and not backend.parallel and backend._check is None


@dataclass
class ProfileResult:
    """What profiling one call wrote and measured (paths are None when not written)."""

    test: str
    kernel: str | None = None
    backend: str | None = None
    size: int | None = None
    work: int | None = None
    work_unit: str | None = None
    peak_bytes: int | None = None  # peak traced memory during the call, above what was allocated before it
    total_time_s: float | None = None  # cProfile's total time (with its overhead)
    function_calls: int | None = None
    prof: Path | None = None
    calltree: Path | None = None
    lines: Path | None = None
    lprof: Path | None = None
    error: str = ""
    top: list = field(default_factory=list)  # [(function, own time s)], the five biggest, biggest first

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("top")
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


def _memory_peak(func, args, kwargs) -> int:
    """Peak traced memory (bytes) of one call, above what was allocated when it started."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = func(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - before)


def profile_call(func, args=(), kwargs=None, *, out_dir, name: str, line_functions=(), result=None) -> ProfileResult:
    """Profile ``func(*args, **kwargs)``: cProfile, pyprof2calltree, line_profiler, tracemalloc.

    Parameters
    ----------
    func : callable
        What to call; it is called once under cProfile, once under
        line_profiler (only if ``line_functions`` is not empty) and once
        under tracemalloc.
    out_dir : path
        Existing folder for the files.
    name : str
        File-name stem (made safe with :func:`safe_name`).
    line_functions : sequence of functions
        The functions line_profiler reports line by line.
    result : ProfileResult, optional
        Filled in and returned (to carry kernel, backend and size).
    """
    import line_profiler
    import pyprof2calltree

    kwargs = {} if kwargs is None else kwargs
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ValueError(f"out_dir must be an existing folder; got {str(out_dir)!r}")
    stem = safe_name(name)
    result = ProfileResult(test=name) if result is None else result

    profiler = cProfile.Profile()
    profiler.runcall(func, *args, **kwargs)
    result.prof = out_dir / f"{stem}.prof"
    profiler.dump_stats(result.prof)
    stats = pstats.Stats(str(result.prof))
    result.total_time_s = stats.total_tt
    result.function_calls = stats.total_calls
    result.calltree = out_dir / f"{stem}.calltree"
    pyprof2calltree.convert(stats, str(result.calltree))
    stats.sort_stats("tottime")
    result.top = [(f"{f[2]} ({Path(f[0]).name}:{f[1]})" if f[0] != "~" else f[2], stats.stats[f][2])
                  for f in stats.fcn_list[:5]]

    if line_functions:
        lines = line_profiler.LineProfiler(*line_functions)
        lines.runcall(func, *args, **kwargs)
        result.lprof = out_dir / f"{stem}.lprof"
        lines.dump_stats(str(result.lprof))
        text = io.StringIO()
        lines.print_stats(stream=text)
        result.lines = out_dir / f"{stem}.lines.txt"
        result.lines.write_text(text.getvalue(), encoding="utf-8")

    result.peak_bytes = _memory_peak(func, args, kwargs)
    return result


def profile_backend(backend: registry.Backend, args=(), kwargs=None, *, out_dir, name: str,
                    size: int | None = None) -> ProfileResult:
    """Profile one call of a kernel's public function with ``backend`` (validation included).

    Pure-Python backends (:func:`is_pure_python`) also get a line profile of
    their raw function ``backend.func``.
    """
    if not isinstance(backend, registry.Backend):
        raise TypeError(f"backend must be a Backend (pytest_particles.backends(kernel)); got {type(backend).__name__}")
    kwargs = {} if kwargs is None else dict(kwargs)
    kernel = registry.kernel(backend.kernel)
    work = kernel.call_work(*args, **kwargs)
    if work is None and size is not None:
        work = kernel.work(size)
    result = ProfileResult(test=name, kernel=backend.kernel, backend=backend.name, size=size, work=work,
                           work_unit=kernel.work_unit)

    call = functools.partial(kernel, backend=backend)  # C-level: adds no frame to the profile
    line_functions = (backend.func,) if is_pure_python(backend) else ()
    return profile_call(call, args, kwargs, out_dir=out_dir, name=name, line_functions=line_functions, result=result)


def default_size(kernel_name: str) -> int:
    """The largest size whose work is at most DEFAULT_WORK (at least 1)."""
    from .bench import size_for_work

    kernel = registry.kernel(kernel_name)
    return size_for_work(kernel, DEFAULT_WORK, max(kernel.sizes))


def profile_workload(kernel: str, backend: str, size: int | None = None, *, out_dir, seed: int = DEFAULT_SEED,
                     name: str | None = None) -> ProfileResult:
    """Profile the kernel's own case (``kernel.inputs``, as bench and asv run it) at ``size`` on ``backend``.

    ``size`` defaults to :func:`default_size` (small: pure Python in about a tenth of a second).
    """
    record = registry.lookup(kernel, backend)
    kernel = record.kernel
    size = default_size(kernel) if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a whole number >= 1; got {size!r}")
    case = Case(kernel, size, seed)
    return profile_backend(record, case.args, out_dir=out_dir, size=size, name=name or f"{kernel}-{backend}-{size}")


def write_summary(results: list[ProfileResult], out_dir) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``summary.csv`` (one row per profiled call, file names relative) in ``out_dir``."""
    out_dir = Path(out_dir)
    rows = []
    for r in results:  # file names relative to out_dir, so the folder can be moved
        row = r.as_dict()
        row.update({key: Path(row[key]).name for key in ("prof", "calltree", "lines", "lprof") if row[key]})
        rows.append(row)
    json_path, csv_path = out_dir / "summary.json", out_dir / "summary.csv"
    json_path.write_text(json.dumps({"profiles": rows}, indent=2) + "\n", encoding="utf-8")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


def format_bytes(value: int | None) -> str:
    """Bytes in B, KiB, MiB or GiB with 3 significant figures."""
    if value is None:
        return ""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value} B"


# --------------------------------------------------------------------------- the pytest hooks


class ProfileHooks:
    """pytest hooks of ``--particles-profile=DIR``: profile each kernel-marked test's last backend call.

    After a kernel-marked test passes, its backend fixture's last call
    (``last_call``) is replayed under each tool; the files are named from the
    test's node id.  ``DIR/summary.json`` and ``DIR/summary.csv`` list every
    profiled test (rewritten after each one), and the terminal summary shows
    the memory peaks.  A test that never called its backend is listed with a
    note; a failure of a tool is a warning, never a test failure.
    """

    def __init__(self, out_dir):
        require_tools()
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.results: list[ProfileResult] = []
        self._stems: set[str] = set()

    @classmethod
    def from_option(cls, config, value: str) -> ProfileHooks:
        """Hooks for the option's value (relative to the invocation folder), or a UsageError naming the option."""
        import pytest

        if not str(value).strip():
            raise pytest.UsageError("--particles-profile: expected a folder for the profiles, got ''")
        path = Path(config.invocation_params.dir, value).resolve()
        try:
            return cls(path)
        except ImportError as exc:
            raise pytest.UsageError(f"--particles-profile: {exc}") from None
        except OSError as exc:
            raise pytest.UsageError(f"--particles-profile: cannot create folder {str(path)!r}: {exc}") from None

    def _stem(self, nodeid: str) -> str:
        stem = safe_name(nodeid)
        if stem in self._stems:  # two ids that differ only in unsafe characters
            stem = f"{stem[:100]}-{hashlib.sha1(nodeid.encode()).hexdigest()[:10]}"
        self._stems.add(stem)
        return stem

    @hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        result = yield  # raises when the test failed: nothing to profile then
        marker = item.get_closest_marker("kernel")
        record = getattr(item, "funcargs", {}).get("backend")
        if marker is None or not isinstance(record, registry.Backend):
            return result
        size = item.callspec.params.get("size") if hasattr(item, "callspec") else None
        last_call = getattr(record, "last_call", None)
        if last_call is None:
            entry = ProfileResult(test=item.nodeid, kernel=record.kernel, backend=record.name, size=size,
                                  error="the test never called its backend fixture: nothing to profile")
        else:
            args, kwargs = last_call
            try:
                entry = profile_backend(record, args, kwargs, out_dir=self.out_dir, size=size,
                                        name=self._stem(item.nodeid))
                entry.test = item.nodeid
            except Exception as exc:  # a profiler clash, a full disk...: report it, do not fail the test
                entry = ProfileResult(test=item.nodeid, kernel=record.kernel, backend=record.name, size=size,
                                      error=f"{type(exc).__name__}: {exc}")
                warnings.warn(f"--particles-profile: could not profile {item.nodeid}: {entry.error}", stacklevel=1)
        self.results.append(entry)
        write_summary(self.results, self.out_dir)
        return result

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        tr.write_sep("-", f"particles profile: {len(self.results)} tests -> {self.out_dir}")
        if not self.results:
            tr.write_line("no kernel-marked test called its backend")
            return
        tr.write_line(f"{'memory peak':>12}  {'cProfile time':>13}  test  [function with the most own time]")
        for r in self.results:
            if r.error:
                tr.write_line(f"{'':>12}  {'':>13}  {r.test}: {r.error}")
                continue
            hottest = ""
            if r.top and r.total_time_s:
                function, own = r.top[0]
                hottest = f"  [{function} {own / r.total_time_s:.0%}]"
            tr.write_line(f"{format_bytes(r.peak_bytes):>12}  {r.total_time_s:>11.3g} s  {r.test}{hottest}")
        tr.write_line(
            "summary.json and summary.csv list every test with its .prof (pstats), .calltree (KCachegrind) "
            "and, for pure-Python backends, .lines.txt (line_profiler)"
        )


# --------------------------------------------------------------------------- Cython's annotated HTML

ANNOTATE_MARKER = "_evolve.pyx"  # a src/ folder holding this is ours


@dataclass
class Loop:
    """A ``for``/``while`` loop of a .pyx file and what Cython's annotation says about it."""

    start: int  # header line (1-based)
    end: int  # last line of its body
    header: str
    nogil: bool  # runs without the GIL: in a nogil function, a ``with nogil`` block or a ``prange(nogil=True)``
    innermost: bool  # holds no other loop
    python_lines: list = field(default_factory=list)  # [(line, score)] of lines that touch Python, per iteration

    @property
    def hot(self) -> bool:
        """Innermost loops and loops without the GIL: where compiled code spends its time."""
        return self.innermost or self.nogil

    @property
    def pure_c(self) -> bool:
        return not self.python_lines


@dataclass
class Annotation:
    """``cython -a`` of one .pyx: the HTML written and each loop's verdict."""

    source: Path
    html: Path
    code_lines: int  # lines Cython generated code for
    python_lines: int  # of which touch Python (score > 0)
    loops: list

    @property
    def hot_loops(self) -> list:
        return [loop for loop in self.loops if loop.hot]

    @property
    def hot_pure_c(self) -> bool:
        return all(loop.pure_c for loop in self.hot_loops)


def find_sources(src=None) -> Path:
    """The folder of the .pyx sources: ``src`` if given, else the project's ``src/`` beside the package or in the
    current folder.  FileNotFoundError saying where it looked when there is none (a wheel install has only the
    compiled modules)."""
    if src is not None:
        path = Path(src)
        if not path.is_dir() or not list(path.glob("*.pyx")):
            raise ValueError(f"src must be a folder holding .pyx files; got {str(path)!r}")
        return path
    package = Path(__file__).resolve().parent
    candidates = [package.parent / "src", Path.cwd() / "src"]
    for path in candidates:
        if (path / ANNOTATE_MARKER).is_file():
            return path
    raise FileNotFoundError(
        "the Cython sources (src/*.pyx) are not available: this installation has only the compiled modules. "
        f"Run it from a clone of the repository, or give --src (looked in {', '.join(map(str, candidates))})"
    )


def project_directives(src) -> dict:
    """The project-wide Cython directives: ``DIRECTIVES`` of setup.py beside ``src`` (read, not run); {} if none."""
    import ast

    setup_py = Path(src).parent / "setup.py"
    try:
        tree = ast.parse(setup_py.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DIRECTIVES" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def annotation_scores(html_path) -> dict[int, int]:
    """Line number -> score of Cython's annotated HTML (``score-0``: pure C; higher: more Python C-API calls)."""
    from html.parser import HTMLParser

    class Lines(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.scores: dict[int, int] = {}
            self._score = None
            self._text: list[str] = []

        def handle_starttag(self, tag, attrs):
            classes = (dict(attrs).get("class") or "").split()
            if tag == "pre" and "line" in classes:
                score = [c for c in classes if c.startswith("score-")]
                self._score = int(score[0][6:]) if score else 0
                self._text = []

        def handle_data(self, data):
            if self._score is not None:
                self._text.append(data)

        def handle_endtag(self, tag):
            if tag == "pre" and self._score is not None:
                match = re.match(r"\D*?(\d+):", "".join(self._text))
                if match:
                    self.scores[int(match.group(1))] = self._score
                self._score = None

    parser = Lines()
    parser.feed(Path(html_path).read_text(encoding="utf-8"))
    return parser.scores


def _code(line: str) -> str:
    """A source line without its comment (good enough for headers: no '#' inside their strings)."""
    return line.split("#", 1)[0].rstrip()


def _block_end(lines: list[str], start: int) -> int:
    """Index of the last line of the block opened by lines[start] (0-based), by indentation."""
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start
    for j in range(start + 1, len(lines)):
        if not _code(lines[j]).strip():
            continue
        if len(lines[j]) - len(lines[j].lstrip()) <= indent:
            break
        end = j
    return end


def find_loops(text: str, scores: dict[int, int] | None = None) -> list[Loop]:
    """The loops of a .pyx source, with the lines of each that touch Python according to ``scores``.

    A loop's per-iteration lines are its body and its header, except a
    ``prange`` header: its score is the once-per-loop cost of releasing the
    GIL and propagating errors, not per-iteration work.
    """
    scores = scores or {}
    lines = text.splitlines()
    nogil_blocks = []  # (first, last) 0-based line ranges that run without the GIL
    i = 0
    while i < len(lines):
        code = _code(lines[i]).strip()
        if re.match(r"(cdef|cpdef|def)\b", code) or code.startswith("with nogil"):
            j, header = i, code
            while not header.endswith(":") and j + 1 < len(lines):  # signatures over several lines
                j += 1
                header += " " + _code(lines[j]).strip()
            if re.search(r"\bnogil\b", header) and header.endswith(":"):
                nogil_blocks.append((j + 1, _block_end(lines, i)))
        i += 1
    loops = []
    for i, line in enumerate(lines):
        code = _code(line).strip()
        if not re.match(r"(for|while)\b", code) or not code.endswith(":"):
            continue
        end = _block_end(lines, i)
        parallel = "prange(" in code
        nogil = (parallel and re.search(r"nogil\s*=\s*True", code) is not None) or any(
            a <= i <= b for a, b in nogil_blocks
        )
        checked = [n for n in range(i + 1, end + 1) if _code(lines[n]).strip()]
        if not parallel:
            checked.insert(0, i)
        python_lines = [(n + 1, scores[n + 1]) for n in checked if scores.get(n + 1, 0) > 0]
        loops.append(Loop(start=i + 1, end=end + 1, header=code, nogil=nogil, innermost=True,
                          python_lines=python_lines))
    for outer in loops:
        outer.innermost = not any(outer.start < inner.start <= outer.end for inner in loops)
    # a loop nested in a nogil loop runs without the GIL too
    for inner in loops:
        inner.nogil = inner.nogil or any(o.nogil and o.start < inner.start <= o.end for o in loops)
    return loops


def annotate(pyx, out_dir, *, include=(), directives=None) -> Annotation:
    """Run ``cython -a`` on one .pyx into ``out_dir`` (NAME.c and NAME.html) and read the annotation."""
    import subprocess
    import sys

    pyx, out_dir = Path(pyx), Path(out_dir)
    if pyx.suffix != ".pyx" or not pyx.is_file():
        raise ValueError(f"pyx must be an existing .pyx file; got {str(pyx)!r}")
    command = [sys.executable, "-m", "cython", "-a", "-3", "--module-name", f"pytest_particles.{pyx.stem}"]
    if directives:
        command += ["-X", ",".join(f"{k}={v}" for k, v in directives.items())]
    for folder in include:
        command += ["-I", str(folder)]
    command += ["-o", str(out_dir / f"{pyx.stem}.c"), str(pyx)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    html = out_dir / f"{pyx.stem}.html"
    if done.returncode != 0 or not html.is_file():
        raise RuntimeError(f"cython -a {pyx.name} failed:\n{(done.stderr or done.stdout).strip()[-3000:]}")
    scores = annotation_scores(html)
    return Annotation(
        source=pyx,
        html=html,
        code_lines=len(scores),
        python_lines=sum(1 for s in scores.values() if s > 0),
        loops=find_loops(pyx.read_text(encoding="utf-8"), scores),
    )


def annotate_sources(out_dir, src=None, names=None) -> list[Annotation]:
    """Annotate every .pyx of ``src`` (or those named) into ``out_dir``, with the project's directives, and write
    ``out_dir/index.html`` linking each file with its loop verdicts."""
    from concurrent.futures import ThreadPoolExecutor

    src = find_sources(src)
    sources = sorted(src.glob("*.pyx"))
    if names:
        by_name = {p.stem: p for p in sources} | {p.name: p for p in sources}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"no {', '.join(map(repr, unknown))} in {src}; "
                             f"choose from {', '.join(p.name for p in sources)}")
        sources = list(dict.fromkeys(by_name[n] for n in names))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    directives = project_directives(src)
    with ThreadPoolExecutor(max_workers=2) as pool:  # each cython run is its own process
        results = list(pool.map(lambda p: annotate(p, out_dir, include=[src], directives=directives), sources))
    write_annotate_index(results, out_dir / "index.html", directives)
    return results


def loop_verdict(loop: Loop) -> str:
    if loop.pure_c:
        return "pure C"
    return "Python at " + ", ".join(f"line {n} (score {s})" for n, s in loop.python_lines)


def write_annotate_index(results: list[Annotation], path, directives=None) -> Path:
    """An HTML page: one row per file (link to its annotation, hot loops pure C or not), then every loop."""
    from html import escape

    rows, details = [], []
    for a in results:
        verdict = "yes" if a.hot_pure_c else "no"
        color = "#c8f0c8" if a.hot_pure_c else "#ffd0a0"
        rows.append(
            f'<tr><td><a href="{escape(a.html.name)}">{escape(a.source.name)}</a></td>'
            f"<td>{a.python_lines} of {a.code_lines}</td><td>{len(a.hot_loops)}</td>"
            f"<td>{sum(loop.pure_c for loop in a.hot_loops)}</td>"
            f'<td style="background:{color}">{verdict}</td></tr>'
        )
        for loop in a.loops:
            details.append(
                f"<tr><td>{escape(a.source.name)}</td><td>{loop.start}-{loop.end}</td>"
                f"<td><code>{escape(loop.header)}</code></td><td>{'yes' if loop.hot else 'no'}</td>"
                f"<td>{'yes' if loop.nogil else 'no'}</td><td>{escape(loop_verdict(loop))}</td></tr>"
            )
    used = ", ".join(f"{k}={v}" for k, v in (directives or {}).items()) or "Cython's defaults"
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pytest-particles: Cython annotation</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}} td,th{{border:1px solid #bbb;padding:3px 8px}}</style>
</head><body>
<h1>Cython annotation (<code>cython -a</code>)</h1>
<p>Each file links to Cython's annotated source: white lines are pure C, yellow lines call the Python C-API
(the darker, the more). A loop is <em>hot</em> when it is innermost or runs without the GIL; it is pure C when
no line of its body (nor its header, except a <code>prange</code> header, paid once per loop) touches Python.
Directives: {escape(used)}.</p>
<table><tr><th>file</th><th>lines touching Python</th><th>hot loops</th><th>pure C</th><th>hot loops free of Python</th></tr>
{chr(10).join(rows)}
</table>
<h2>Loops</h2>
<table><tr><th>file</th><th>lines</th><th>header</th><th>hot</th><th>nogil</th><th>verdict</th></tr>
{chr(10).join(details)}
</table></body></html>
"""
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
