"""The built documentation site, opened in headless Chromium (issue 9).

Run after building the site::

    python -m sphinx -W -b html docs docs/_build/html
    python -m pytest -m docs

These tests are marked ``docs`` and left out of the default run, which has neither the
site nor a browser.  They need Debian's ``chromium`` and ``chromium-driver`` packages and
the ``selenium`` package (the ``docs`` extra).  Nothing here skips: a missing site,
browser or driver is a failure, so a green ``-m docs`` run means the pages were looked at.
Screenshots of every page opened are written to ``docs/_build/screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("GRADFLOW_DOCS_HTML", ROOT / "docs" / "_build" / "html"))
SHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("GRADFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GRADFLOW_CHROMEDRIVER", "/usr/bin/chromedriver")

#: pages whose mathematics must be typeset; the derivation pages first
MATH_PAGES = [
    "models/icl_regression.html",
    "models/two_mixture.html",
    "models/cooccurrence.html",
    "models/decision_list.html",
    "gd_vs_gf.html",
    "numerics.html",
    "tutorial.html",
    "getting_started.html",
    "index.html",
]

# Waits for MathJax to finish typesetting, then reports what the reader sees.
_MATH_REPORT_JS = """
const done = arguments[arguments.length - 1];
const started = Date.now();
const whenReady = (then) => {  // MathJax's script is deferred: wait for it, up to 40 s
  if (document.readyState === 'complete' && window.MathJax && MathJax.startup
      && MathJax.startup.promise) then();
  else if (Date.now() - started > 40000) done({mathjax: false, state: document.readyState});
  else setTimeout(() => whenReady(then), 100);
};
whenReady(() => MathJax.startup.promise.then(() => {
  const text = (root) => {
    const c = root.cloneNode(true);
    c.querySelectorAll('pre, code, script, style, mjx-container, .highlight')
      .forEach(e => e.remove());
    return c.innerText;
  };
  const body = document.querySelector('div.body') || document.body;
  const svgs = [...document.querySelectorAll('mjx-container svg')];
  done({
    mathjax: true,
    sources: document.querySelectorAll('span.math, div.math').length,
    containers: document.querySelectorAll('mjx-container').length,
    untypeset: [...document.querySelectorAll('span.math, div.math')]
      .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
    errors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
      .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120)),
    empty_svgs: svgs.filter(s => s.getBoundingClientRect().width <= 0).length,
    text: text(body),
  });
}).catch(err => done({mathjax: true, failed: String(err)})));
"""

# Waits for the document and for every matching image to be decoded, then describes them.
_IMAGES_JS = """
const [selector, done] = [arguments[0], arguments[arguments.length - 1]];
const report = () => {
  const imgs = [...document.querySelectorAll(selector)];
  Promise.all(imgs.map(img => img.decode().catch(() => null))).then(() => done(imgs.map(
    img => ({src: img.getAttribute('src'), complete: img.complete,
             width: img.naturalWidth, height: img.naturalHeight}))));
};
if (document.readyState === 'complete') report();
else window.addEventListener('load', report);
"""


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built site at {HTML}: run 'python -m sphinx -W -b html docs {HTML}'")
    for exe in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(exe) is None:
            pytest.fail(f"{exe} not found: install Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    profile = tempfile.mkdtemp(prefix="gradflow-chromium-")
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--window-size=1280,1600", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _open(driver, page: str) -> None:
    path = HTML / page
    assert path.is_file(), f"{page} was not built"
    driver.set_window_size(1280, 1600)
    _requests(driver)  # drop what was asked for before this page
    driver.get(path.as_uri())


def _requests(driver) -> list[str]:
    """Every URL the browser asked for since the last call (Chrome's performance log)."""
    events = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    sent = [e for e in events if e["method"] == "Network.requestWillBeSent"]
    return [e["params"]["request"]["url"] for e in sent]


def _screenshot(driver, page: str) -> None:
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 800), 12000))
    driver.save_screenshot(str(SHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")))


@pytest.mark.parametrize("page", MATH_PAGES)
def test_math_is_typeset(browser, page):
    _open(browser, page)
    report = browser.execute_async_script(_MATH_REPORT_JS)
    _screenshot(browser, page)
    assert report["mathjax"], f"{page}: MathJax did not start within 40 s: {report}"
    assert "failed" not in report, f"{page}: MathJax failed: {report.get('failed')}"
    assert report["sources"] > 0, f"{page}: no mathematics on the page"
    assert not report["untypeset"], f"{page}: math left as source: {report['untypeset'][:3]}"
    assert report["containers"] >= report["sources"]
    assert not report["errors"], f"{page}: TeX errors: {report['errors'][:3]}"
    assert report["empty_svgs"] == 0
    requested = _requests(browser)
    remote = [url for url in requested if url.split(":", 1)[0] in ("http", "https", "ws", "wss")]
    assert not remote, f"{page}: asked the network for {remote[:3]}"
    assert any("/_static/mathjax/" in url for url in requested)
    text = report["text"]
    for raw in ("\\frac", "\\(", "\\[", "$$", "\\mathrm", "\\sum"):
        assert raw not in text, f"{page}: raw {raw!r} in the text outside code"
    dollars = re.findall(r"\$[^$\n]{1,80}\$", text)
    assert not dollars, f"{page}: raw $...$ in the text: {dollars[:3]}"


def test_mathjax_is_served_from_the_build():
    """No CDN: the page's MathJax script is a file of the build itself.

    ``test_math_is_typeset`` also checks, from the browser's network log, that a page asks
    for nothing but files of the build while MathJax typesets it.
    """
    page = (HTML / "models" / "icl_regression.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', page, flags=re.I)
    assert scripts, "no MathJax script on the derivation page"
    for src in scripts:
        assert "://" not in src, f"MathJax loaded from the network: {src}"
        assert (HTML / "models" / src.split("?")[0]).resolve().is_file(), src


def test_gallery_index_shows_a_figure_for_every_example(browser):
    _open(browser, "auto_examples/index.html")
    thumbs = browser.execute_async_script(_IMAGES_JS, ".sphx-glr-thumbcontainer img")
    _screenshot(browser, "auto_examples/index.html")
    examples = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
    assert len(thumbs) == len(examples), (len(thumbs), examples)
    for img in thumbs:
        assert img["complete"] and img["width"] > 0, f"thumbnail not shown: {img['src']}"
    # An example that drew nothing gets sphinx-gallery's stock picture as its thumbnail;
    # two of them would be the same file.
    contents = [(HTML / "auto_examples" / img["src"]).resolve().read_bytes() for img in thumbs]
    assert len(set(contents)) == len(contents), "two examples share a thumbnail"


@pytest.mark.parametrize("example", sorted(p.stem for p in (ROOT / "examples").glob("*.py")))
def test_gallery_page_shows_its_images(browser, example):
    page = f"auto_examples/{example}.html"
    _open(browser, page)
    figures = "img.sphx-glr-single-img, img.sphx-glr-multi-img"
    images = browser.execute_async_script(_IMAGES_JS, figures)
    _screenshot(browser, page)
    assert images, f"{page}: no figure"
    for img in images:
        assert img["complete"], f"{page}: image did not load: {img['src']}"
        assert img["width"] >= 100 and img["height"] >= 100, f"{page}: {img}"
