"""The course site in a real browser: build it (fast mode) and open it in headless Chromium.

Every lesson page loads without console errors, its figures are decoded images (natural width >
0), its code is highlighted, math is typeset by the local MathJax, its links resolve, and no
page asks for anything outside the site. A screenshot of one lesson page is kept in the site's
``_artifacts/`` folder (and pytest's tmp dir).

The build is cached in ``docs/_build/fast/html`` (the jupyter cache re-executes only notebooks
that changed); ``COURSE_SITE_HTML=path`` tests a site that is already built. Building executes
every lesson in fast mode (6.5 minutes from scratch on 2 shared cores, seconds when cached), so
the test runs when ``COURSE_SITE_TESTS=1`` (``make site-test``; ``.ci/run`` runs it as a step of
its own when that is set) and needs Debian's ``chromium`` and ``chromium-driver``
(``/usr/bin/chromium``, ``/usr/bin/chromedriver``).
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.skipif(
    os.environ.get("COURSE_SITE_TESTS") != "1",
    reason="builds the whole site (minutes): make site-test, or COURSE_SITE_TESTS=1")


def build_site(out: Path) -> Path:
    """``COURSE_FAST=1 make site``'s build, into ``out``; returns the folder of index.html."""
    env = {**os.environ, "COURSE_FAST": "1"}
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-c", "docs", "-q", ".", str(out)]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"site build failed ({' '.join(cmd)}):\n{done.stdout[-3000:]}\n"
                    f"{done.stderr[-5000:]}")
    print(f"site built in {time.perf_counter() - start:.0f} s")
    return out


@pytest.fixture(scope="module")
def site():
    given = os.environ.get("COURSE_SITE_HTML")
    return Path(given) if given else build_site(ROOT / "docs" / "_build" / "fast" / "html")


@pytest.fixture(scope="module")
def server(site):
    """The site over HTTP on the loopback interface (file:// would hide real loading errors)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the browser dropping a connection it no longer needs is not a site error


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver: "
                    "apt-get install chromium chromium-driver (.ci/run does it)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _visit(driver, url):
    """Load ``url``, wait for the page and MathJax; return (console errors, requested URLs)."""
    driver.get(url)
    deadline = time.time() + 30
    while time.time() < deadline:
        ready = driver.execute_script(
            "return document.readyState === 'complete' && (!window.MathJax || "
            "!MathJax.startup || !MathJax.startup.promise ? true : "
            "(window.__typeset = window.__typeset || MathJax.startup.promise.then(() => "
            "window.__done = true), window.__done === true));")
        if ready:
            break
        time.sleep(0.2)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    return errors, requests


def _local(url, server):
    """Served by the site itself (the browser's own chrome:// pages do not count)."""
    scheme = url.split(":", 1)[0]
    return url.startswith(server) or scheme not in {"http", "https", "ws", "wss", "ftp"}


FIGURE_CALLS = re.compile(r"plt\.(subplots|figure|imshow|plot|bar)\(|visualize\.(show_images|show_filters"
                          r"|show_feature_maps|plot_\w+|compare_histories)\(|widgets\.\w+_explorer\(")


def _figures_expected(lesson) -> int:
    """1 when the lesson's code draws figures (some only on a branch: offline, full mode), else
    0. Missing figures of a drawing cell show up as its traceback, which is checked as well."""
    nb = json.loads((ROOT / "notebooks" / f"{lesson}.ipynb").read_text())
    return int(any(FIGURE_CALLS.search("".join(c["source"]))
                   for c in nb["cells"] if c["cell_type"] == "code"))


def _check(problems, ok, message):
    if not ok:
        problems.append(message)


def test_every_lesson_page_renders(site, server, browser, tmp_path):
    links, pages, problems = set(), {}, []
    for lesson in LESSONS:
        url = f"{server}/notebooks/{lesson}.html"
        errors, requests = _visit(browser, url)
        _check(problems, not errors, f"{lesson}: console errors {errors}")
        outside = [u for u in requests if not _local(u, server)]
        _check(problems, not outside, f"{lesson}: requested URLs outside the site: {outside}")
        page = browser.execute_script("""
            const imgs = Array.from(document.querySelectorAll('article img'));
            return {
              title: document.title,
              images: imgs.length,
              broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
              outputImages: document.querySelectorAll('.cell_output img').length,
              code: document.querySelectorAll('.cell_input div.highlight pre').length,
              highlighted: document.querySelectorAll('.cell_input div.highlight pre span.kn,'
                + '.cell_input div.highlight pre span.k').length,
              rawMath: document.querySelectorAll('div.math, span.math').length,
              typeset: document.querySelectorAll('mjx-container').length,
              tracebacks: Array.from(document.querySelectorAll('.output.traceback')).map(
                t => (t.innerText.match(/^\\w*(Error|Exception): .*$/m) || ['?'])[0]),
              next: (document.querySelector('a.right-next') || {}).href || null,
              prev: (document.querySelector('a.left-prev') || {}).href || null,
              links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
            };""")
        pages[lesson] = page
        _check(problems, lesson.split("_", 1)[0] in page["title"], f"{lesson}: title {page['title']}")
        _check(problems, not page["broken"], f"{lesson}: images not rendered {page['broken']}")
        _check(problems, page["outputImages"] >= _figures_expected(lesson),
               f"{lesson}: {page['outputImages']} figures, expected {_figures_expected(lesson)}")
        _check(problems, page["code"] >= 3 and page["highlighted"] >= 1,
               f"{lesson}: code not rendered")
        _check(problems, not page["tracebacks"],
               f"{lesson}: executed cells show errors {page['tracebacks']}")
        _check(problems, page["typeset"] >= page["rawMath"], f"{lesson}: math not typeset")
        _check(problems, page["next"] or page["prev"], f"{lesson}: no navigation links")
        links.update(u.split("#")[0] for u in page["links"] if u.startswith(server))
        if lesson.startswith("01_"):
            shot = tmp_path / f"{lesson}.png"
            browser.save_screenshot(str(shot))
            artifacts = Path(site) / "_artifacts"
            artifacts.mkdir(exist_ok=True)
            shutil.copy(shot, artifacts / shot.name)
            _check(problems, shot.stat().st_size > 20_000, "the screenshot is blank")
    # math is typeset: lesson 01 writes the output-size formula as display math
    _check(problems, pages[LESSONS[0]]["typeset"] >= 1, f"{LESSONS[0]}: no math typeset")
    # every link of every lesson page resolves on the site
    for link in sorted(links):
        try:
            with urllib.request.urlopen(link, timeout=10) as response:
                _check(problems, response.status == 200, f"link {link}: {response.status}")
        except OSError as err:
            problems.append(f"link {link}: {err}")
    print(f"{len(LESSONS)} lesson pages, {len(links)} links checked")
    assert not problems, "\n".join(problems)


def test_front_page_and_api_reference(site, server, browser):
    errors, requests = _visit(browser, f"{server}/index.html")  # redirects to docs/index.html
    assert not errors and all(_local(u, server) for u in requests), (errors, requests)
    assert browser.current_url.endswith("docs/index.html")
    assert browser.execute_script("return document.querySelectorAll('mjx-container').length") >= 1
    toc = browser.execute_script(
        "return Array.from(document.querySelectorAll('nav a.reference.internal'))"
        ".map(a => a.getAttribute('href'))")
    assert sum("notebooks/" in t for t in toc) >= len(LESSONS)
    assert sum("exercises/" in t for t in toc) >= 2
    errors, _ = _visit(browser, f"{server}/docs/_autosummary/course.widgets.html")
    assert not errors
    names = browser.execute_script(
        "return Array.from(document.querySelectorAll('dt.sig')).map(d => d.id)")
    assert "course.widgets.conv_explorer" in names and "course.widgets.ConvGeometry" in names
    path = urllib.parse.urlparse(browser.current_url).path
    assert path.endswith("course.widgets.html")
