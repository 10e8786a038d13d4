"""Pages that render offline: asv's HTML with its CDN scripts vendored (publish), and the one-file report.

Real parts: asv runs a tiny suite over two commits and publishes it, ``bench``
and pytest-benchmark time real backends (one of them broken on purpose), and
a real headless Chromium, its network off (every host name resolves to
nothing, no background traffic), loads the pages from a localhost server or
from file:// and reads the pixels of every graph.  The browser tests skip when
Debian's chromium and chromium-driver are not installed.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless, whatever the machine running the tests

import pytest  # noqa: E402

from pytest_particles import publish, report  # noqa: E402
from pytest_particles.cli import main  # noqa: E402

asv = pytest.importorskip("asv")
ASV_WWW = Path(asv.__file__).parent / "www"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# asv's CDN files that npm has byte for byte (the others: see pytest_particles/vendor/README.md)
IDENTICAL = {"jquery/jquery.min.js", "flot-orderbars/jquery.flot.orderBars.js", "blueimp-md5/md5.min.js",
             "bootstrap/js/bootstrap.min.js", "bootstrap/css/bootstrap.min.css"}

BROKEN = '''
import pytest_particles as pp


def pi_broken(samples, seed_sequence, workers=None):
    raise ArithmeticError("broken on purpose")


pp.register_backend("pi", "broken", pi_broken)
'''
SUITE = '''
import pytest_particles.asv

import brokenpi  # noqa: F401  (a pi backend that raises: asv records it as failed)

globals().update(pytest_particles.asv.suite("pi", sizes=[1000, 10000], backends=["python", "numpy", "broken"]))
globals().update(pytest_particles.asv.suite("distance_matrix", sizes=[30, 100], backends=["python", "numpy"]))
'''
TIME_BENCHMARKS = ["pages.TimePi.time_pi", "pages.TimeDistanceMatrix.time_distance_matrix"]


# --------------------------------------------------------------------------- the vendored files


def _cdn_tags(page: Path) -> list[dict]:
    return [publish._attributes(tag.group(0)) | {"url": publish._loaded_url(tag.group(0))}
            for tag in publish._TAG.finditer(page.read_text(encoding="utf-8"))
            if publish._loaded_url(tag.group(0)) and publish._REMOTE.match(publish._loaded_url(tag.group(0)))]


def test_every_cdn_file_asv_loads_is_vendored_with_its_license():
    tags = _cdn_tags(ASV_WWW / "index.html")
    assert {t["url"] for t in tags} == set(publish.ASSETS), "asv's CDN links changed: see vendor/README.md"
    for tag in tags:
        local = publish.VENDOR / publish.ASSETS[tag["url"]]
        assert local.is_file() and local.stat().st_size > 1000, local
        assert list(local.parent.glob("LICENSE*")) or list(local.parent.parent.glob("LICENSE*")), local
        if publish.ASSETS[tag["url"]] in IDENTICAL:  # the very bytes asv's integrity hash names
            algorithm, digest = tag["integrity"].split("-", 1)
            assert base64.b64encode(hashlib.new(algorithm, local.read_bytes()).digest()).decode() == digest
    # the stylesheet's fonts travel with it
    fonts = set(re.findall(r"url\(\.\./fonts/([\w.-]+)", (publish.VENDOR / "bootstrap/css/bootstrap.min.css")
                           .read_text(encoding="utf-8")))
    assert fonts and all((publish.VENDOR / "bootstrap/fonts" / f).is_file() for f in fonts)


def test_make_offline_points_asvs_own_pages_at_the_copies(tmp_path):
    html = tmp_path / "html"
    shutil.copytree(ASV_WWW, html)  # the pages asv publish copies
    assert len(publish.remote_loads(html)) == len(publish.ASSETS)
    assert publish.make_offline(html) == [html / "index.html"]
    assert publish.remote_loads(html) == []
    text = (html / "index.html").read_text(encoding="utf-8")
    local = re.findall(r'(?:src|href)="(vendor/[^"]+)"', text)
    assert len(local) == len(publish.ASSETS) and all((html / p).is_file() for p in local)
    assert "integrity=" not in text and "crossorigin" not in text
    assert 'src="asv.js"' in text  # asv's own scripts untouched
    assert publish.make_offline(html) == []  # a second time: nothing left to change


def test_make_offline_refuses_an_address_it_does_not_vendor(tmp_path):
    html = tmp_path / "html"
    shutil.copytree(ASV_WWW, html)
    page = html / "index.html"
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</head>", '<script src="https://cdn.example.org/new-plugin.js"></script></head>'), encoding="utf-8")
    before = page.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=r"index.html loads https://cdn.example.org/new-plugin.js, which "
                                         r"pytest-particles does not vendor"):
        publish.make_offline(html)
    assert page.read_text(encoding="utf-8") == before and not (html / "vendor").exists()


def test_publish_errors_are_one_line_and_exit_1(tmp_path, capsys):
    assert main(["publish", "--config", str(tmp_path / "missing.json")]) == 1
    assert capsys.readouterr().err.strip().endswith(f"no asv configuration at {tmp_path / 'missing.json'}")
    config = tmp_path / "asv.conf.json"
    config.write_text(json.dumps({"version": 1, "repo": ".", "results_dir": "results", "html_dir": "html"}))
    assert main(["publish", "--config", str(config)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"pytest-particles publish: no asv results in {str(tmp_path / 'results')!r}: run asv run first"
    assert main(["publish", "--config", str(config), "--no-asv"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"pytest-particles publish: no asv pages in {str(tmp_path / 'html')!r} (no index.html): "
                   "run asv publish first")


# --------------------------------------------------------------------------- real results


@pytest.fixture(scope="module")
def asv_site(tmp_path_factory):
    """A tiny project timed by asv at two commits (one pi backend broken) and published: (project, original
    pages as asv wrote them, pages after pytest-particles publish)."""
    home = tmp_path_factory.mktemp("pages")
    project = home / "project"
    (project / "benchmarks").mkdir(parents=True)
    (project / "benchmarks" / "__init__.py").write_text("")
    (project / "benchmarks" / "pages.py").write_text(SUITE)
    (project / "brokenpi.py").write_text(BROKEN)
    (project / "asv.conf.json").write_text(json.dumps({
        "version": 1, "project": "pages", "repo": ".", "branches": ["HEAD"], "environment_type": "existing",
        "benchmark_dir": "benchmarks", "results_dir": "results", "html_dir": "html", "env_dir": "env"}))
    env = {**os.environ, "HOME": str(home), "ASV_PYTHONPATH": str(project)}  # asv keeps its machine file in HOME
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for command in (["git", "init", "-q", "."], [*git, "add", "-A"], [*git, "commit", "-qm", "one"],
                    [*git, "commit", "-q", "--allow-empty", "-m", "two"],
                    [sys.executable, "-m", "asv", "machine", "--yes", "--machine", "box"]):
        subprocess.run(command, cwd=project, env=env, check=True, capture_output=True, timeout=120)
    commits = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], cwd=project, capture_output=True,
                             text=True, check=True).stdout.split()
    for commit in commits:  # two points per line, so the summary graphs draw lines
        subprocess.run([sys.executable, "-m", "asv", "run", "--quick", "--machine", "box", "--bench", "time_",
                        "--environment", f"existing:{sys.executable}", "--set-commit-hash", commit],
                       cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert len([p for p in (project / "results" / "box").glob("*.json") if p.name != "machine.json"]) == 2
    original = home / "original"
    subprocess.run([sys.executable, "-m", "asv", "publish", "--html-dir", str(original)], cwd=project, env=env,
                   check=True, capture_output=True, timeout=300)
    cli = subprocess.run([sys.executable, "-m", "pytest_particles.cli", "publish", "--config",
                          str(project / "asv.conf.json")], cwd=home, env=env, capture_output=True, text=True,
                         timeout=300)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.splitlines()[-1].startswith(f"{project / 'html' / 'index.html'}: self-contained")
    return project, original, project / "html"


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory):
    """``pytest-particles bench --json`` of pi and distance_matrix, with a pi backend that raises."""
    folder = tmp_path_factory.mktemp("bench")
    (folder / "brokenpi.py").write_text(BROKEN)
    out = folder / "bench.json"
    run = subprocess.run([sys.executable, "-m", "pytest_particles.cli", "bench", "--import", "brokenpi",
                          "--kernel", "pi,distance_matrix", "--backend", "python,numpy,broken", "--size", "300,1000",
                          "--repeat", "1", "--budget", "0.2", "--json", str(out)],
                         cwd=folder, env={**os.environ, "PYTHONPATH": str(folder)}, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr  # bench's exit code when a backend failed
    return out


def test_report_of_pytest_benchmark_and_asv_results(asv_site, tmp_path):
    test = tmp_path / "test_timed.py"
    test.write_text('import pytest\n\n\n@pytest.mark.kernel("distance_matrix", backends=["python", "numpy"], '
                    'sizes=[20, 60])\ndef test_dm(backend, kernel_case, benchmark):\n'
                    '    kernel_case.check(benchmark(backend, *kernel_case.args))\n')
    saved = tmp_path / "benchmark.json"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test),
                          "--benchmark-min-rounds=1", "--benchmark-max-time=0.001", f"--benchmark-json={saved}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    text = report.build_report([saved])
    assert text.count('src="data:image/png;base64,') == 1 and "distance_matrix" in text
    assert "Reference backend: <b>numpy</b>" in text  # distance_matrix declares numpy its reference

    project, _, _ = asv_site
    text = report.build_report([project / "results"])
    assert text.count('src="data:image/png;base64,') == 2  # pi and distance_matrix
    assert re.search(r"<li>broken at 1000: asv: pages.TimePi.time_pi failed \([0-9a-f]{8}-", text)
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", text)


def test_report_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing.json")]) == 2
    assert "argument RESULTS:" in capsys.readouterr().err
    (tmp_path / "empty.json").write_text('{"records": []}')
    assert main(["report", str(tmp_path / "empty.json"), "-o", str(tmp_path / "no" / "r.html")]) == 2
    assert "argument --out: folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- in a real browser, offline


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's headless Chromium through its chromedriver; every host name resolves to nothing (only
    127.0.0.1 is reached) and the background traffic is off, as the machine notes say."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): "
                    "apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install -e '.[dev]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--window-size=1300,1600",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


@pytest.fixture
def serve():
    """``serve(folder)``: its base URL on a localhost HTTP server (asv's pages read their JSON with XHR)."""
    servers = []

    def start(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def wait_for(driver, script: str, *args):
    """The first truthy value of ``script`` (polled; the browser gets up to 30 s to draw)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 30, poll_frequency=0.2).until(lambda d: d.execute_script(script, *args))


# Pixels of a canvas in colour (a series), not the black, grey or white of frame, grid and background.
COLOURED = """
var canvas = arguments[0]; if (!canvas || !canvas.width) return 0;
var data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data, n = 0;
for (var i = 0; i < data.length; i += 4)
  if (data[i + 3] > 128 && Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 60) n++;
return n;
"""


def coloured_pixels(driver, css: str) -> int:
    return driver.execute_script(f"return (function () {{ {COLOURED} }}).apply(null, [document.querySelector({css!r})]);")


def test_asv_pages_draw_every_graph_offline(asv_site, browser, serve, tmp_path):
    _, original, html = asv_site
    # control: asv's own pages need the CDNs, so with the network off they give up on their scripts
    browser.get(serve(original) + "index.html")
    wait_for(browser, "return location.pathname.endsWith('error.html');")

    base = serve(html)
    browser.get(base + "index.html")
    for name in TIME_BENCHMARKS:  # the summary grid: one small graph per benchmark, each a line
        css = f'[id="summarygrid-{name}"] canvas.flot-base'
        wait_for(browser, f"return document.querySelector({css!r}) !== null;")
        wait_for(browser, f"return (function () {{ {COLOURED} }}).apply(null, [document.querySelector({css!r})])"
                          " > 100;")
    browser.save_screenshot(str(tmp_path / "asv-grid.png"))
    for name in TIME_BENCHMARKS:  # each benchmark's own page: a line per backend and size
        browser.get(f"{base}index.html#{name}")
        wait_for(browser, "return document.querySelector('#main-graph canvas.flot-base') !== null;")
        wait_for(browser, f"return (function () {{ {COLOURED} }}).apply(null, "
                          "[document.querySelector('#main-graph canvas.flot-base')]) > 300;")
        legend = browser.execute_script("return $('#main-graph .legendLabel').map(function () "
                                        "{ return this.textContent; }).get();")
        assert len(legend) >= 4, legend  # 2 or 3 backends x 2 sizes
        browser.save_screenshot(str(tmp_path / f"asv-{name}.png"))
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert loaded and all(url.startswith(base) for url in loaded), loaded


def test_report_renders_and_sorts_offline(bench_json, browser, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(bench_json), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", text)  # loads nothing
    browser.get(out.as_uri())
    sizes = browser.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);")
    assert sizes == [[True, 1200], [True, 1200]]  # distance_matrix and pi, decoded
    summary = browser.find_element("id", "summary").text
    assert summary == "2 backend runs failed: pi broken (300); pi broken (1000)"
    browser.save_screenshot(str(tmp_path / "report-top.png"))

    def column(index: int) -> list[str]:
        return browser.execute_script(f"return Array.from(document.querySelectorAll('#results tbody tr'))"
                                      f".map(r => r.cells[{index}].dataset.sort ?? r.cells[{index}].textContent);")

    headers = browser.find_elements("css selector", "#results th")
    assert [h.text for h in headers][:4] == ["kernel", "backend", "size", "time per call"]
    headers[3].click()  # time per call, ascending; the failed runs (no time) last
    times = column(3)
    measured = [float(t) for t in times[:8]]  # 2 kernels x 2 backends x 2 sizes
    assert measured == sorted(measured) and times[8:] == ["", ""]
    headers[3].click()  # again: descending
    assert [float(t) for t in column(3) if t] == sorted(measured, reverse=True)
    headers[1].click()  # backend, alphabetical
    assert column(1) == sorted(column(1))
    browser.execute_script("document.getElementById('results').scrollIntoView();")
    browser.save_screenshot(str(tmp_path / "report-table.png"))
