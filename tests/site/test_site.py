"""The published book in a real browser: Debian's Chromium, driven by Playwright.

Every page of the built site (`make book` writes _build/html) is served from a
local HTTP server on 127.0.0.1 and opened as a reader would open it. A page
passes when:

- it loads with no console error (but the short, justified ALLOWED_CONSOLE list)
  and no failed or 4xx/5xx request;
- it asks nothing of any other host: every request that leaves 127.0.0.1 is
  aborted and fails the page, so the site provably works offline;
- its math is typeset by the MathJax served from the build (an `mjx-container`
  in every `.math` element, no MathJax error, no raw TeX left in the text);
- every image has loaded (naturalWidth > 0);
- each animation has its controls, "Next frame" changes the picture and "Play"
  plays it;
- every link to a page of the site resolves, and every `#anchor` names an id
  that exists on the target page.

Notebook pages must also offer their .ipynb download and Colab and Binder
launch buttons; every page links to the repository; search finds a chapter.
Each page of the table of contents is saved as a full-page screenshot under
_build/screenshots/ for a person to look at.

Without Chromium (or without a built site) the tests are skipped, loudly: the
reason is the skip message, a warning in the warnings summary and a last
line in red (tests/site/conftest.py). With CONVLAB_SITE_TESTS=require (set by
the GitHub workflows) they fail instead. CONVLAB_CHROMIUM names another
Chromium binary (default /usr/bin/chromium).
"""

import functools
import http.server
import json
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.site

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

# Console errors that the book's theme prints on pages that are fine. Each entry
# matches one known message, and says why it is harmless; nothing else passes.
ALLOWED_CONSOLE = [
    # sphinx-thebe: the page declares `const THEBE_JS_URL` inline and again in
    # sphinx-thebe.js; the second declaration throws. Thebe (live code) is off
    # in _config.yml (launch_buttons.thebe: false), so nothing uses the value.
    re.compile(r"Identifier 'THEBE_JS_URL' has already been declared"),
    # pydata-sphinx-theme logs this when the browser has no stored light/dark
    # choice (every fresh profile); it then falls back to "auto", as intended.
    re.compile(r"^Got invalid theme mode: \. Resetting to auto\.$"),
]

# The controls of a matplotlib to_jshtml player, by the method their button calls.
ANIMATION_BUTTONS = ["first_frame", "previous_frame", "play_animation", "pause_animation", "next_frame", "last_frame"]


# ---------------------------------------------------------------- the pages


def _config():
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


def _pages():
    """Every page to load: the toc's, Sphinx's own, and any other HTML file built."""
    pages = [f"{name}.html" for name in TOC] + SPECIAL_PAGES
    if SITE.is_dir():
        for path in sorted(SITE.rglob("*.html")):
            rel = path.relative_to(SITE)
            if rel.parts[0] not in SKIP_DIRS and rel.as_posix() not in pages:
                pages.append(rel.as_posix())
    return pages


def _is_notebook(docname):
    return (ROOT / f"{docname}.ipynb").exists()


# ---------------------------------------------------------------- fixtures


def _skip_loudly(reason):
    if os.environ.get("CONVLAB_SITE_TESTS") == "require":  # CI sets this: there, a skip is a failure
        pytest.fail(f"the site tests cannot run (CONVLAB_SITE_TESTS=require): {reason}", pytrace=False)
    # A plain UserWarning: pytest-xdist's controller must be able to import its class.
    warnings.warn(UserWarning(f"SITE TESTS SKIPPED: {reason}"), stacklevel=2)
    print(f"\nWARNING: SITE TESTS SKIPPED: {reason}")
    pytest.skip(f"SITE TESTS SKIPPED: {reason}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """The built site on a free port of 127.0.0.1; stopped after the module."""
    if not (SITE / "index.html").exists():
        _skip_loudly(f"no built site at {SITE}: run `make book` (make test and make test-site build it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        _skip_loudly(f"the playwright package is missing ({exc}): run `make venv`")
    if not os.access(CHROMIUM, os.X_OK):
        _skip_loudly(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package, needs root or sudo)")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Visit:
    """One page opened in a fresh context, with everything it logged and asked for."""

    def __init__(self, browser, url):
        self.url = url
        self.console_errors = []
        self.foreign_requests = []
        self.failed_requests = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)
        self.page.goto(url, wait_until="load")
        refresh = REFRESH.search(_fetch(url)[1].decode("utf-8", "replace"))
        if refresh:  # index.html sends the reader on to the root page
            self.page.wait_for_url(urllib.parse.urljoin(url, refresh.group(1)))
            self.page.wait_for_load_state("load")

    def _route(self, route):
        url = route.request.url
        if urllib.parse.urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.foreign_requests.append(url)
            route.abort("blockedbyclient")

    def _console(self, msg):
        if msg.type == "error":
            self.console_errors.append(msg.text)

    def _request_failed(self, request):
        if urllib.parse.urlsplit(request.url).hostname in LOCAL_HOSTS:
            self.failed_requests.append(f"{request.url}: {request.failure}")

    def _response(self, response):
        if response.status >= 400:
            self.failed_requests.append(f"{response.url}: HTTP {response.status}")

    def close(self):
        self.context.close()


@pytest.fixture()
def visit(browser):
    opened = []

    def open_page(url):
        page = Visit(browser, url)
        opened.append(page)
        return page

    yield open_page
    for page in opened:
        page.close()


# ---------------------------------------------------------------- page checks


WAIT_FOR_MATHJAX = """async () => {
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

MATH_REPORT = """() => {
    const maths = [...document.querySelectorAll('.math')];
    const skip = 'pre, code, script, style, textarea, mjx-container, .MathJax';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const raw = [];
    const tex = /\\\\\\(|\\\\\\[|\\$\\$|\\\\begin\\{|(^|[^\\\\$\\w])\\$[^\\s$][^$]*[^\\s$\\\\]\\$/;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent || parent.closest(skip)) continue;
        if (parent.closest('.math') && parent.closest('.math').querySelector('mjx-container')) continue;
        if (tex.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 120));
    }
    return {
        math: maths.length,
        untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
        containers: document.querySelectorAll('mjx-container').length,
        errors: [...document.querySelectorAll('mjx-merror')]
            .map(e => e.getAttribute('data-mjx-error') || e.textContent),
        // MathJax's noundefined package draws an unknown macro as red text
        undefined: [...document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')]
            .map(e => e.textContent).filter(t => t.startsWith('\\\\')),
        raw: raw,
    };
}"""

LOAD_IMAGES = """async () => {
    const imgs = [...document.images];
    for (const img of imgs) if (img.loading === 'lazy') img.loading = 'eager';
    await Promise.all(imgs.map(img => img.complete ? null : new Promise(resolve => {
        img.addEventListener('load', resolve);
        img.addEventListener('error', resolve);
        setTimeout(resolve, 15000);
    })));
    return imgs.map(img => ({
        src: img.getAttribute('src') ? img.getAttribute('src').slice(0, 100) : img.id,
        width: img.naturalWidth,
    }));
}"""

LINKS = """() => [...document.querySelectorAll('a[href]')].map(a => a.href)"""


class _Parsed(HTMLParser):
    """The ids (anchor targets) and the link targets of a static HTML page."""

    def __init__(self):
        super().__init__()
        self.ids = set()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            if tag == "a" and name == "href" and value:
                self.hrefs.append(value)


@functools.cache
def _fetch(url):
    """(status, body) of a local URL; body only for HTML."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            return response.status, body
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@functools.cache
def _parsed(url):
    parser = _Parsed()
    parser.feed(_fetch(url)[1].decode("utf-8", "replace"))
    return parser


def _broken_links(hrefs, server):
    broken = []
    for href in sorted(set(hrefs)):
        parts = urllib.parse.urlsplit(href)
        if parts.scheme not in ("http", "https") or parts.hostname not in LOCAL_HOSTS:
            continue
        target = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        status, _ = _fetch(target)
        if status != 200:
            broken.append(f"{href}: HTTP {status}")
        elif parts.fragment and parts.path.endswith((".html", "/")):
            anchor = urllib.parse.unquote(parts.fragment)
            if anchor not in _parsed(target).ids:
                broken.append(f"{href}: no element with id {anchor!r} on {parts.path}")
    return broken


def _check_animations(page):
    """Each to_jshtml player: controls present, a step changes the frame, play plays."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    problems = []
    players = page.locator("div.animation")
    for i in range(players.count()):
        player = players.nth(i)
        img = player.locator("img[id^='_anim_img']")
        slider = player.locator("input[type=range]")
        if img.count() != 1 or slider.count() != 1:
            problems.append(f"animation {i}: no image or no slider")
            continue
        buttons = {}
        for name in ANIMATION_BUTTONS:
            button = player.locator(f"button[onclick*='.{name}(']")
            if button.count() != 1 or not button.is_visible():
                problems.append(f"animation {i}: no visible {name!r} button")
            else:
                buttons[name] = button
        if len(buttons) != len(ANIMATION_BUTTONS):
            continue
        frames = slider.evaluate("s => Number(s.max)")
        if frames < 1:
            problems.append(f"animation {i}: only one frame")
            continue
        buttons["pause_animation"].click()
        buttons["first_frame"].click()
        first = img.get_attribute("src")
        buttons["next_frame"].click()
        second = img.get_attribute("src")
        if not first or first == second or slider.input_value() != "1":
            problems.append(f"animation {i}: 'Next frame' did not change the picture")
        buttons["previous_frame"].click()
        if img.get_attribute("src") != first:
            problems.append(f"animation {i}: 'Previous frame' did not go back")
        buttons["play_animation"].click()
        try:
            page.wait_for_function(
                "([img, src]) => img.getAttribute('src') !== src",
                arg=[img.element_handle(), first],
                timeout=10_000,
            )
        except PlaywrightTimeout:
            problems.append(f"animation {i}: 'Play' did not play")
        buttons["pause_animation"].click()
        buttons["first_frame"].click()
    return problems


@pytest.mark.parametrize("path", _pages())
def test_page(path, server, visit):
    url = server + path
    visit_ = visit(url)
    page = visit_.page
    problems = []

    state = page.evaluate(WAIT_FOR_MATHJAX)
    if state == "MathJax never started":
        problems.append("the page has math but MathJax never started")
    math = page.evaluate(MATH_REPORT)
    if math["math"] and not math["containers"]:
        problems.append(f"{math['math']} math elements but no mjx-container: MathJax did not typeset")
    problems += [f"math not typeset: {m!r}" for m in math["untypeset"]]
    problems += [f"MathJax error: {e!r}" for e in math["errors"]]
    problems += [f"undefined TeX macro: {m!r}" for m in math["undefined"]]
    problems += [f"raw TeX in the text: {t!r}" for t in math["raw"]]

    images = page.evaluate(LOAD_IMAGES)
    problems += [f"image did not load: {img['src']}" for img in images if img["width"] == 0]

    problems += _check_animations(page)
    problems += _broken_links(page.evaluate(LINKS), server)

    docname = path.removesuffix(".html")
    if docname in TOC:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=SCREENSHOTS / f"{docname.replace('/', '_')}.png", full_page=True)

    problems += [f"request to a non-local host: {u}" for u in visit_.foreign_requests]
    problems += [f"failed request: {r}" for r in visit_.failed_requests]
    problems += [
        f"console error: {text}"
        for text in visit_.console_errors
        if not any(allowed.search(text) for allowed in ALLOWED_CONSOLE)
    ]
    assert not problems, f"{path}:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------- the book as a whole


def test_every_toc_page_is_built():
    if not SITE.is_dir():
        pytest.skip(f"no built site at {SITE}")  # test_page reports it loudly
    missing = [f"{name}.html" for name in TOC if not (SITE / f"{name}.html").exists()]
    sources = [f"_sources/{name}.ipynb" for name in TOC if _is_notebook(name)]
    missing += [source for source in sources if not (SITE / source).exists()]
    assert not missing, f"pages of _toc.yml missing from {SITE} (stale build? run `make book`): {missing}"


@pytest.mark.parametrize("docname", TOC)
def test_buttons(docname, server):
    """Repository link on every page; .ipynb download, Colab and Binder on notebook pages.

    These are plain links in the page's HTML (test_page has loaded the page itself)."""
    repo = _config()["repository"]
    url, branch = repo["url"].rstrip("/"), repo["branch"]
    page = server + f"{docname}.html"
    hrefs = [urllib.parse.urljoin(page, href) for href in _parsed(page).hrefs]
    assert url in hrefs, f"no repository link to {url}"
    if not _is_notebook(docname):
        return
    github = url.removeprefix("https://github.com/")
    source = f"{repo.get('path_to_book') or ''}/{docname}.ipynb".lstrip("/")
    colab = f"https://colab.research.google.com/github/{github}/blob/{branch}/{source}"
    binder = f"https://mybinder.org/v2/gh/{github}/{branch}?urlpath=tree/{source}"
    assert colab in hrefs, f"no Colab launch button ({colab})"
    assert binder in hrefs, f"no Binder launch button ({binder})"

    downloads = [h for h in hrefs if urllib.parse.urlsplit(h).path.endswith(f"/_sources/{docname}.ipynb")]
    assert downloads, "no .ipynb download link"
    status, body = _fetch(downloads[0])
    assert status == 200, f"{downloads[0]}: HTTP {status}"
    notebook = json.loads(body)
    assert notebook["cells"], f"{downloads[0]} has no cells"
    assert notebook == json.loads((ROOT / f"{docname}.ipynb").read_text()), "the download is not the book's notebook"


def test_search_finds_a_chapter(server, visit):
    chapters = [name for name in TOC if _is_notebook(name)]
    if not chapters:
        pytest.skip("no notebook chapter in _toc.yml")
    visit_ = visit(server + "search.html?q=convolution")
    page = visit_.page
    results = page.locator("ul.search li a")
    results.first.wait_for(timeout=TIMEOUT_MS)
    hrefs = page.evaluate("() => [...document.querySelectorAll('ul.search li a')].map(a => a.href)")
    assert any(chapters[0] in h for h in hrefs), f"searching 'convolution' did not find {chapters[0]}: {hrefs}"
    assert not visit_.foreign_requests, visit_.foreign_requests


COLAB_CELL = '''\
# On Google Colab, install convlab (this book's helper package); elsewhere this cell does nothing.
import sys

if "google.colab" in sys.modules:
    %pip install --quiet "convlab @ git+{url}@{branch}"'''


@pytest.mark.parametrize("docname", [name for name in TOC if _is_notebook(name)])
def test_notebook_installs_convlab_on_colab(docname):
    """The Colab button opens the bare notebook: its first code cell must install convlab
    there (from the repository in _config.yml) and do nothing anywhere else."""
    repo = _config()["repository"]
    expected = COLAB_CELL.format(url=repo["url"].rstrip("/"), branch=repo["branch"])
    notebook = json.loads((ROOT / f"{docname}.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, "no code cell"
    first = code[0]
    source = "".join(first["source"]).strip()
    assert source == expected, f"the first code cell of {docname}.ipynb must be exactly:\n{expected}\n\nnot:\n{source}"
    assert not first.get("outputs"), "the Colab install cell must print nothing outside Colab"
