"""Cython's annotated HTML (``cython -a``) of the ``.pyx`` sources, and whether their hot loops are pure C.

Cython does the reading: ``cython -a`` compiles each file with the directives
of its own ``# cython:`` header (as the build does) and scores every line by
its Python C-API calls; Cython's parser gives the loops, the ``nogil``
regions and the header directives (:func:`parse`).  This module only joins
the two: a loop is *hot* when it is innermost or runs without the GIL, and
pure C when none of the lines it runs per iteration has a score above 0.

Used by ``pytest-particles annotate`` (:func:`annotate_sources`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ANNOTATE_MARKER = "_evolve.pyx"  # a src/ folder holding this is ours
CYTHON_TIMEOUT = 600  # seconds for one ``cython -a`` (a large file takes a few)


@dataclass
class Loop:
    """A ``for``/``while`` loop of a .pyx file and what Cython's annotation says about it."""

    start: int  # header line (1-based)
    end: int  # last line of its body
    header: str
    nogil: bool  # runs without the GIL: in a nogil function, a ``with nogil`` block or a ``prange(nogil=True)``
    innermost: bool  # holds no other loop
    # [(line, score)] of the lines that touch Python, per iteration
    python_lines: list[tuple[int, int]] = field(default_factory=list)

    @property
    def hot(self) -> bool:
        """Innermost loops and loops without the GIL: where compiled code spends its time."""
        return self.innermost or self.nogil

    @property
    def pure_c(self) -> bool:
        return not self.python_lines


@dataclass
class Annotation:
    """``cython -a`` of one .pyx: the HTML written, the header's directives and each loop's verdict."""

    source: Path
    html: Path
    code_lines: int  # lines Cython generated code for
    python_lines: int  # of which touch Python (score > 0)
    loops: list[Loop]
    directives: dict = field(default_factory=dict)  # the file's ``# cython:`` header, as Cython reads it

    @property
    def hot_loops(self) -> list[Loop]:
        return [loop for loop in self.loops if loop.hot]

    @property
    def hot_pure_c(self) -> bool:
        return all(loop.pure_c for loop in self.hot_loops)


def find_sources(src: str | Path | None = None) -> Path:
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


# --------------------------------------------------------------------------- reading with Cython's parser


def parse(source: str | Path, include: tuple | list = ()) -> Any:
    """Cython's parse tree (a ModuleNode) of a .pyx file (a Path) or of its text (a str).

    ``include``: folders for ``include`` statements.  The tree's
    ``directive_comments`` are the ``# cython:`` header.  A syntax error is a
    ValueError with Cython's message.
    """
    from Cython.Compiler.Errors import CompileError

    try:
        if isinstance(source, Path):
            from Cython.Compiler.Main import CompilationOptions, Context, default_options
            from Cython.Compiler.Scanning import FileSourceDescriptor

            context = Context.from_options(CompilationOptions(default_options, include_path=[str(f) for f in include]))
            descriptor = FileSourceDescriptor(str(source.resolve()))
            scope = context.find_module(source.stem, pos=(descriptor, 1, 0), need_pxd=False)
            return context.parse(descriptor, scope, pxd=False, full_module_name=source.stem)
        from Cython.Compiler.TreeFragment import parse_from_strings

        return parse_from_strings("source", str(source))
    except CompileError as exc:
        raise ValueError(f"Cython cannot parse {getattr(source, 'name', 'the source')}: {str(exc).strip()}") from None


def header_directives(source: str | Path, include: tuple | list = ()) -> dict:
    """The directives of a .pyx file's ``# cython:`` header (as Cython reads them); {} when it has none."""
    return dict(parse(source, include).directive_comments)


def annotation_scores(html_path: str | Path) -> dict[int, int]:
    """Line number -> score of Cython's annotated HTML (``score-0``: pure C; higher: more Python C-API calls)."""

    class Lines(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.scores: dict[int, int] = {}
            self._score: int | None = None
            self._text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            classes = (dict(attrs).get("class") or "").split()
            if tag == "pre" and "line" in classes:
                score = [c for c in classes if c.startswith("score-")]
                self._score = int(score[0][6:]) if score else 0
                self._text = []

        def handle_data(self, data: str) -> None:
            if self._score is not None:
                self._text.append(data)

        def handle_endtag(self, tag: str) -> None:
            if tag == "pre" and self._score is not None:
                match = re.match(r"\D*?(\d+):", "".join(self._text))
                if match:
                    self.scores[int(match.group(1))] = self._score
                self._score = None

    parser = Lines()
    parser.feed(Path(html_path).read_text(encoding="utf-8"))
    return parser.scores


def _lines(node: Any, descriptor: object) -> set[int]:  # Cython's nodes are untyped
    """The source lines of a subtree's nodes (those of ``descriptor``'s file, not of included ones)."""
    from Cython.Compiler.Visitor import TreeVisitor

    found: set[int] = set()

    class Lines(TreeVisitor):
        def visit_Node(self, n: Any) -> None:
            if n.pos and n.pos[0] is descriptor:
                found.add(n.pos[1])
            self.visitchildren(n)

    Lines().visit(node)
    return found


def _prange(loop: Any) -> tuple[bool, bool]:
    """(a ``prange`` loop, with ``nogil=True``) from the loop's iterator as parsed."""
    call = getattr(getattr(loop, "iterator", None), "sequence", None)
    function = getattr(call, "function", None)
    if getattr(function, "name", getattr(function, "attribute", None)) != "prange":
        return False, False
    pairs = getattr(getattr(call, "keyword_args", None), "key_value_pairs", [])
    nogil = any(getattr(p.key, "value", None) == "nogil" and getattr(p.value, "value", None) is True for p in pairs)
    return True, nogil


def _declared_nogil(function: Any) -> bool:
    """A ``cdef ... nogil`` function (the declarator may be wrapped, e.g. in a pointer's)."""
    declarator = function.declarator
    while declarator is not None and not hasattr(declarator, "nogil"):
        declarator = getattr(declarator, "base", None)
    return bool(getattr(declarator, "nogil", False))


def find_loops(source: str | Path, scores: dict[int, int] | None = None, *, include: tuple | list = ()) -> list[Loop]:
    """The loops of a .pyx file (a Path) or text (a str), with the lines of each that touch Python per ``scores``.

    A loop's per-iteration lines are its body and its header, except a
    ``prange`` header: its score is the once-per-loop cost of releasing the
    GIL and propagating errors, not per-iteration work.  A loop's ``else``
    clause runs once and is not part of it.
    """
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else str(source)
    return _loops(parse(source, include), text, scores or {})


def _loops(tree: Any, text: str, scores: dict[int, int]) -> list[Loop]:
    from Cython.Compiler.Visitor import TreeVisitor

    descriptor = tree.pos[0]
    lines = text.splitlines()
    found: list[tuple[Any, bool, Loop]] = []  # (node, a prange loop, its record), in source order

    class Loops(TreeVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.nogil = False  # the GIL state of the code being visited
            self.open: list[Loop] = []  # the loops around it

        def visit_Node(self, node: Any) -> None:
            self.visitchildren(node)

        def _within(self, node: Any, nogil: bool) -> None:
            previous, self.nogil = self.nogil, nogil
            self.visitchildren(node)
            self.nogil = previous

        def visit_CFuncDefNode(self, node: Any) -> None:
            self._within(node, _declared_nogil(node))

        def visit_DefNode(self, node: Any) -> None:
            self._within(node, False)

        def visit_GILStatNode(self, node: Any) -> None:  # ``with nogil:`` or, inside one, ``with gil:``
            self._within(node, node.state == "nogil")

        def visit_LoopNode(self, node: Any) -> None:  # for, for-from and while loops
            parallel, prange_nogil = _prange(node)
            start = node.pos[1]
            loop = Loop(start=start, end=start, header=lines[start - 1].strip(), nogil=self.nogil or prange_nogil,
                        innermost=True)
            if node.pos[0] is descriptor:  # not a loop of an included file
                for outer in self.open:
                    outer.innermost = False
                found.append((node, parallel, loop))
            self.open.append(loop)
            self._within(node, loop.nogil)
            self.open.pop()

    Loops().visit(tree)
    for node, parallel, loop in found:
        body = _lines(node.body, descriptor)
        loop.end = max(body | {loop.start})
        first = min(body, default=loop.start + 1)  # a header over several lines ends before it
        checked = range(first if parallel else loop.start, loop.end + 1)
        loop.python_lines = [(n, scores[n]) for n in checked if scores.get(n, 0) > 0]
    return [loop for _, _, loop in found]


# --------------------------------------------------------------------------- running cython -a


def annotate(pyx: str | Path, out_dir: str | Path, *, include: tuple | list = ()) -> Annotation:
    """Run ``cython -a`` on one .pyx into ``out_dir`` (NAME.c and NAME.html) and read the annotation.

    Cython applies the file's own ``# cython:`` header directives, as in the build.
    """
    pyx, out_dir = Path(pyx), Path(out_dir)
    if pyx.suffix != ".pyx" or not pyx.is_file():
        raise ValueError(f"pyx must be an existing .pyx file; got {str(pyx)!r}")
    command = [sys.executable, "-m", "cython", "-a", "--module-name", f"pytest_particles.{pyx.stem}"]
    for folder in include:
        command += ["-I", str(folder)]
    command += ["-o", str(out_dir / f"{pyx.stem}.c"), str(pyx)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CYTHON_TIMEOUT)
    html = out_dir / f"{pyx.stem}.html"
    if done.returncode != 0 or not html.is_file():
        raise RuntimeError(f"cython -a {pyx.name} failed:\n{(done.stderr or done.stdout).strip()[-3000:]}")
    scores = annotation_scores(html)
    tree = parse(pyx, include)
    return Annotation(
        source=pyx,
        html=html,
        code_lines=len(scores),
        python_lines=sum(1 for s in scores.values() if s > 0),
        loops=_loops(tree, pyx.read_text(encoding="utf-8"), scores),
        directives=dict(tree.directive_comments),
    )


def annotate_sources(out_dir: str | Path, src: str | Path | None = None,
                     names: list[str] | None = None) -> list[Annotation]:
    """Annotate every .pyx of ``src`` (or those named, NAME or NAME.pyx) into ``out_dir`` and write
    ``out_dir/index.html`` linking each file with its loop verdicts."""
    folder = find_sources(src)
    sources = sorted(folder.glob("*.pyx"))
    if names:
        by_name = {p.stem: p for p in sources} | {p.name: p for p in sources}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"no {', '.join(map(repr, unknown))} in {folder}; "
                             f"choose from {', '.join(p.name for p in sources)}")
        sources = list(dict.fromkeys(by_name[n] for n in names))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:  # each cython run is its own process
        results = list(pool.map(lambda p: annotate(p, out, include=[folder]), sources))
    write_annotate_index(results, out / "index.html")
    return results


def loop_verdict(loop: Loop) -> str:
    """"pure C", or the lines that touch Python with their scores."""
    if loop.pure_c:
        return "pure C"
    return "Python at " + ", ".join(f"line {n} (score {s})" for n, s in loop.python_lines)


def format_directives(directives: dict) -> str:
    """``boundscheck=False, wraparound=False``, or "Cython's defaults"."""
    return ", ".join(f"{k}={v}" for k, v in directives.items()) or "Cython's defaults"


def write_annotate_index(results: list[Annotation], path: str | Path) -> Path:
    """An HTML page: one row per file (link to its annotation, directives, hot loops pure C or not), then every
    loop."""
    rows, details = [], []
    for a in results:
        verdict = "yes" if a.hot_pure_c else "no"
        color = "#c8f0c8" if a.hot_pure_c else "#ffd0a0"
        rows.append(
            f'<tr><td><a href="{escape(a.html.name)}">{escape(a.source.name)}</a></td>'
            f"<td>{a.python_lines} of {a.code_lines}</td><td>{len(a.hot_loops)}</td>"
            f"<td>{sum(loop.pure_c for loop in a.hot_loops)}</td>"
            f'<td style="background:{color}">{verdict}</td><td><code>{escape(format_directives(a.directives))}'
            "</code></td></tr>"
        )
        for loop in a.loops:
            details.append(
                f"<tr><td>{escape(a.source.name)}</td><td>{loop.start}-{loop.end}</td>"
                f"<td><code>{escape(loop.header)}</code></td><td>{'yes' if loop.hot else 'no'}</td>"
                f"<td>{'yes' if loop.nogil else 'no'}</td><td>{escape(loop_verdict(loop))}</td></tr>"
            )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pytest-particles: Cython annotation</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:3px 8px}}</style>
</head><body>
<h1>Cython annotation (<code>cython -a</code>)</h1>
<p>Each file links to Cython's annotated source: white lines are pure C, yellow lines call the Python C-API
(the darker, the more). A loop is <em>hot</em> when it is innermost or runs without the GIL; it is pure C when
no line of its body (nor its header, except a <code>prange</code> header, paid once per loop) touches Python.
Each file is compiled with the directives of its own <code># cython:</code> header.</p>
<table><tr><th>file</th><th>lines touching Python</th><th>hot loops</th><th>pure C</th><th>hot loops free of Python</th>
<th>directives</th></tr>
{chr(10).join(rows)}
</table>
<h2>Loops</h2>
<table><tr><th>file</th><th>lines</th><th>header</th><th>hot</th><th>nogil</th><th>verdict</th></tr>
{chr(10).join(details)}
</table></body></html>
"""
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out
