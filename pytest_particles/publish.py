"""asv's HTML, self-contained: the scripts and stylesheet asv 0.6 loads from public CDNs, served from copies.

asv 0.6 (since its PR 1149) writes an ``index.html`` that loads jQuery, flot and
its plugins, stupidtable, blueimp-md5 and Bootstrap from CDNs, so without a
network the pages stay blank.  :func:`make_offline` copies the files vendored
in ``pytest_particles/vendor/`` (unchanged from their npm packages, licenses
beside them; ``vendor/README.md`` says which) into ``HTML_DIR/vendor/`` and
points every page at them.  :func:`publish` runs ``asv publish`` first.

The pages still read their data (``index.json``, ``graphs/``) with XHR, which
browsers refuse on ``file://``: serve the folder (``asv preview``, or
``python -m http.server -d HTML_DIR``), as asv says.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

VENDOR = Path(__file__).with_name("vendor")
VENDOR_FOLDER = "vendor"  # the copies' folder inside the html dir

# Each CDN address asv 0.6.x loads -> its vendored copy (relative to VENDOR).
ASSETS: dict[str, str] = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "flot/jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "flot/jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        "flot/jquery.flot.selection.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        "flot/jquery.flot.categories.js",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        "flot-orderbars/jquery.flot.orderBars.js",
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": "stupidtable/stupidtable.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "blueimp-md5/md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
}

_TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""\s([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)  # http://, https://, //host
# dropped with the address: a hash of a minified CDN file, and a CORS mode that file:// pages cannot satisfy
_DROP = {"integrity", "crossorigin", "referrerpolicy"}


def _attributes(tag: str) -> dict[str, str | None]:
    return {m.group(1).lower(): None if m.group(2) is None else m.group(2).strip("\"'")
            for m in _ATTR.finditer(tag)}


def _loaded_url(tag: str) -> str | None:
    """The address a <script src> or <link rel=stylesheet|icon href> makes the browser load, else None."""
    attrs = _attributes(tag)
    if tag[1:].lower().startswith("script"):
        return attrs.get("src")
    rel = (attrs.get("rel") or "").lower().split()
    return attrs.get("href") if {"stylesheet", "icon", "preload", "modulepreload"} & set(rel) else None


def remote_loads(html_dir: str | Path) -> list[tuple[str, str]]:
    """``(page, address)`` of every script and stylesheet a page in ``html_dir`` loads from the network."""
    found = []
    for page in sorted(Path(html_dir).glob("*.html")):
        for tag in _TAG.finditer(page.read_text(encoding="utf-8")):
            url = _loaded_url(tag.group(0))
            if url and _REMOTE.match(url):
                found.append((page.name, url))
    return found


def _rewrite(tag: str, url: str) -> str:
    """``tag`` loading the vendored copy of ``url``: address replaced, integrity and CORS attributes dropped."""
    local = f"{VENDOR_FOLDER}/{ASSETS[url]}"
    name = "src" if tag[1:].lower().startswith("script") else "href"
    kept = []
    for m in _ATTR.finditer(tag):
        key = m.group(1).lower()
        if key in _DROP:
            continue
        kept.append(f' {name}="{local}"' if key == name else m.group(0))
    return f"<{tag[1:].split(None, 1)[0].rstrip('/>')}{''.join(kept)}{'/>' if tag.endswith('/>') else '>'}"


def make_offline(html_dir: str | Path) -> list[Path]:
    """Copy the vendored scripts into ``html_dir/vendor/`` and point its pages at them; returns the pages changed.

    Raises ValueError naming the folder when it holds no ``index.html``, and
    naming the address when a page loads one that is not vendored (a newer
    asv's); then nothing is changed.
    """
    html_dir = Path(html_dir)
    if not (html_dir / "index.html").is_file():
        raise ValueError(f"html_dir: no asv pages in {str(html_dir)!r} (no index.html): run asv publish first")
    unknown = [(page, url) for page, url in remote_loads(html_dir) if url not in ASSETS]
    if unknown:
        name, url = unknown[0]
        raise ValueError(f"html_dir: {name} loads {url}, which pytest-particles does not vendor "
                         f"({len(unknown)} such address{'es' if len(unknown) > 1 else ''}; see "
                         "pytest_particles/vendor/README.md)")
    shutil.copytree(VENDOR, html_dir / VENDOR_FOLDER, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("README.md"))
    changed = []
    for page in sorted(html_dir.glob("*.html")):
        text = page.read_text(encoding="utf-8")

        def local(match: re.Match) -> str:
            url = _loaded_url(match.group(0))
            return _rewrite(match.group(0), url) if url is not None and url in ASSETS else match.group(0)

        new = _TAG.sub(local, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    return changed


def _config_paths(config: str | Path) -> tuple[Path, Path]:
    """asv's results_dir and html_dir of ``config``, which asv takes relative to the configuration's folder."""
    from . import asvresults

    conf = asvresults.load_config(config)  # ValueError naming the file
    root = Path(config).resolve().parent
    return root / conf.results_dir, root / conf.html_dir


def _has_results(results_dir: Path) -> bool:
    return any(f.name != "machine.json" for f in results_dir.glob("*/*.json"))


def publish(config: str | Path = "asv.conf.json", html_dir: str | Path | None = None, *, run_asv: bool = True,
            log: Callable[[str], None] | None = None) -> Path:
    """``asv publish`` (unless ``run_asv`` is false), then :func:`make_offline`; returns the html folder.

    ``html_dir`` defaults to the configuration's ``html_dir``; with
    ``run_asv`` it is passed to ``asv publish --html-dir``.  Raises
    ValueError, one line, when the configuration, the results or the pages
    are missing, and RuntimeError when ``asv publish`` fails (its output
    went to stdout and stderr before).
    """
    results_dir, default_html = _config_paths(config)
    html = Path(html_dir).resolve() if html_dir is not None else default_html
    if run_asv:
        if not _has_results(results_dir):
            raise ValueError(f"results: no asv results in {str(results_dir)!r}: run asv run first")
        command = [sys.executable, "-m", "asv", "publish", "--config", str(Path(config).resolve()),
                   "--html-dir", str(html)]
        if log is not None:
            log("$ asv publish --config " + str(config) + ("" if html_dir is None else f" --html-dir {html_dir}"))
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"asv publish failed (exit {done.returncode})")
    make_offline(html)
    return html
