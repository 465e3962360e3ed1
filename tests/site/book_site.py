"""What the site tests share: where the built book is, its pages, and how to open one.

The fixtures that use this (a local HTTP server, headless Chromium, `visit`) are in
conftest.py; the tests are test_site.py (every page as a reader on a desktop opens
it), test_layout.py (phones, tablets, code width) and test_exercise_pages.py.
"""

import functools
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path(os.environ.get("CONVLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # we may run as root, in a container
    "--disable-gpu",
    "--disable-quic",
    # No phoning home: on a closed network these connections only fail, noisily.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)
TIMEOUT_MS = 30_000
DESKTOP = {"width": 1280, "height": 900}


# ---------------------------------------------------------------- the pages


def config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _toc_docnames():
    """The root and every file of _toc.yml, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                names.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(n).with_suffix("")) for n in names]


TOC = _toc_docnames()
SPECIAL_PAGES = ["index.html", "genindex.html", "search.html"]
SKIP_DIRS = {"_static", "_sources", "_images", "jupyter_execute"}


def pages():
    """Every page to load: the toc's, Sphinx's own, and any other HTML file built."""
    found = [f"{name}.html" for name in TOC] + SPECIAL_PAGES
    if SITE.is_dir():
        for path in sorted(SITE.rglob("*.html")):
            rel = path.relative_to(SITE)
            if rel.parts[0] not in SKIP_DIRS and rel.as_posix() not in found:
                found.append(rel.as_posix())
    return found


def is_notebook(docname):
    return (ROOT / f"{docname}.ipynb").exists()


@functools.cache
def fetch(url):
    """(status, body) of a local URL, read once."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


# ---------------------------------------------------------------- one page in the browser


def goto(page, url):
    """Open url in the tab and wait for it to load (and, for index.html, for the page it sends you to)."""
    page.goto(url, wait_until="load")
    refresh = REFRESH.search(fetch(url)[1].decode("utf-8", "replace"))
    if refresh:  # index.html sends the reader on to the root page
        page.wait_for_url(urllib.parse.urljoin(url, refresh.group(1)))
        page.wait_for_load_state("load")


def is_local(url):
    return urllib.parse.urlsplit(url).hostname in LOCAL_HOSTS



class Visit:
    """One page opened in a fresh context, with everything it logged and asked for.

    Every request that leaves 127.0.0.1 is aborted and recorded: the site must work offline."""

    def __init__(self, browser, url, viewport=DESKTOP):
        self.url = url
        self.console_errors = []
        self.foreign_requests = []
        self.failed_requests = []
        self.context = browser.new_context(viewport=viewport)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)
        goto(self.page, url)

    def _route(self, route):
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            self.foreign_requests.append(url)
            route.abort("blockedbyclient")

    def _console(self, msg):
        if msg.type == "error":
            self.console_errors.append(msg.text)

    def _request_failed(self, request):
        if is_local(request.url):
            self.failed_requests.append(f"{request.url}: {request.failure}")

    def _response(self, response):
        if response.status >= 400:
            self.failed_requests.append(f"{response.url}: HTTP {response.status}")

    def close(self):
        self.context.close()


# Wait until MathJax has typeset the page (math changes the layout) and the fonts are in.
WAIT_FOR_MATHJAX = """async () => {
    await document.fonts.ready;
    if (!document.querySelector('.math')) return 'no math';
    const start = Date.now();
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
        if (Date.now() - start > 20000) return 'MathJax never started';
        await new Promise(r => setTimeout(r, 50));
    }
    await MathJax.startup.promise;
    await document.fonts.ready;
    return 'typeset';
}"""
