"""The published book in a real browser: Debian's Chromium, driven by Playwright.

Every page of the built site (`make book` writes _build/html) is served from a
local HTTP server on 127.0.0.1 and opened as a reader would open it. A page
passes when:

- it loads with no console error (but the short, justified ALLOWED_CONSOLE list)
  and no failed or 4xx/5xx request;
- it asks nothing of any other host: every request that leaves 127.0.0.1 is
  aborted and fails the page, so the site provably works offline;
- its math is typeset by the MathJax served from the build (an `mjx-container`
  in every `.math` element, no MathJax error), and no raw TeX is left in its
  text outside math and code: no `$` that opens TeX (`$o = …`, `$\\lfloor`,
  `$…$`), no `$$`, `\\(`, `\\[`, and no TeX command such as `\\lfloor` or
  `\\frac`;
- every image has loaded (naturalWidth > 0);
- each animation has its controls, "Next frame" changes the picture and "Play"
  plays it;
- every link to a page of the site resolves, and every `#anchor` names an id
  that exists on the target page.

Notebook pages must also offer their .ipynb download and Colab and Binder
launch buttons; every page links to the repository; search finds a chapter.
Each page of the table of contents is saved as a full-page screenshot under
_build/screenshots/ (1280 px wide) for a person to look at.

Phones, tablets and code width: test_layout.py. The exercises: test_exercise_pages.py.
Fixtures, and when the tests skip: conftest.py.
"""

import functools
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest
from book_site import (
    LOCAL_HOSTS,
    ROOT,
    SCREENSHOTS,
    SITE,
    TIMEOUT_MS,
    TOC,
    WAIT_FOR_MATHJAX,
    config,
    fetch,
    is_notebook,
    pages,
)

pytestmark = pytest.mark.site

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


# ---------------------------------------------------------------- page checks


# Raw TeX: what MathJax would have typeset had it been math, or TeX that never
# became math (a broken `$`, a command in plain text). `$` followed by a digit or a
# space is left alone (an amount, a shell prompt); code and math are skipped.
RAW_TEX = [
    r"\\\(|\\\[|\$\$|\\begin\{",  # delimiters: \( \[ $$ \begin{
    r"(^|[^\\$\w])\$[^\s$][^$]*[^\s$\\]\$",  # $...$ left as text
    r"\$(?=[^\d\s])",  # a $ that opens TeX: $o = ..., $\lfloor, $(i + 2p)
    r"\\[A-Za-z]{2,}",  # a TeX command: \lfloor, \frac, \times
]

MATH_REPORT = r"""(patterns) => {
    const maths = [...document.querySelectorAll('.math')];
    const skip = 'pre, code, kbd, script, style, textarea, mjx-container, .MathJax';
    const tex = patterns.map(p => new RegExp(p));
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const raw = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent || parent.closest(skip)) continue;
        if (parent.closest('.math') && parent.closest('.math').querySelector('mjx-container')) continue;
        const text = node.textContent;
        const hit = tex.map(t => text.match(t)).find(m => m);
        if (hit) {
            const at = Math.max(0, hit.index - 40);
            raw.push(text.slice(at, hit.index + 60).replace(/\s+/g, ' ').trim());
        }
    }
    return {
        math: maths.length,
        untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
        containers: document.querySelectorAll('mjx-container').length,
        errors: [...document.querySelectorAll('mjx-merror')]
            .map(e => e.getAttribute('data-mjx-error') || e.textContent),
        // MathJax's noundefined package draws an unknown macro as red text
        undefined: [...document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')]
            .map(e => e.textContent).filter(t => t.startsWith('\\')),
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
def _parsed(url):
    parser = _Parsed()
    parser.feed(fetch(url)[1].decode("utf-8", "replace"))
    return parser


def _broken_links(hrefs, server):
    broken = []
    for href in sorted(set(hrefs)):
        parts = urllib.parse.urlsplit(href)
        if parts.scheme not in ("http", "https") or parts.hostname not in LOCAL_HOSTS:
            continue
        target = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        status, _ = fetch(target)
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


@pytest.mark.parametrize("path", pages())
def test_page(path, server, visit):
    url = server + path
    visit_ = visit(url)
    page = visit_.page
    problems = []

    state = page.evaluate(WAIT_FOR_MATHJAX)
    if state == "MathJax never started":
        problems.append("the page has math but MathJax never started")
    math = page.evaluate(MATH_REPORT, RAW_TEX)
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
    sources = [f"_sources/{name}.ipynb" for name in TOC if is_notebook(name)]
    missing += [source for source in sources if not (SITE / source).exists()]
    assert not missing, f"pages of _toc.yml missing from {SITE} (stale build? run `make book`): {missing}"


@pytest.mark.parametrize("docname", TOC)
def test_buttons(docname, server):
    """Repository link on every page; .ipynb download, Colab and Binder on notebook pages.

    These are plain links in the page's HTML (test_page has loaded the page itself)."""
    repo = config()["repository"]
    url, branch = repo["url"].rstrip("/"), repo["branch"]
    page = server + f"{docname}.html"
    hrefs = [urllib.parse.urljoin(page, href) for href in _parsed(page).hrefs]
    assert url in hrefs, f"no repository link to {url}"
    if not is_notebook(docname):
        return
    github = url.removeprefix("https://github.com/")
    source = f"{repo.get('path_to_book') or ''}/{docname}.ipynb".lstrip("/")
    colab = f"https://colab.research.google.com/github/{github}/blob/{branch}/{source}"
    binder = f"https://mybinder.org/v2/gh/{github}/{branch}?urlpath=tree/{source}"
    assert colab in hrefs, f"no Colab launch button ({colab})"
    assert binder in hrefs, f"no Binder launch button ({binder})"

    downloads = [h for h in hrefs if urllib.parse.urlsplit(h).path.endswith(f"/_sources/{docname}.ipynb")]
    assert downloads, "no .ipynb download link"
    status, body = fetch(downloads[0])
    assert status == 200, f"{downloads[0]}: HTTP {status}"
    notebook = json.loads(body)
    assert notebook["cells"], f"{downloads[0]} has no cells"
    assert notebook == json.loads((ROOT / f"{docname}.ipynb").read_text()), "the download is not the book's notebook"


def test_search_finds_a_chapter(server, visit):
    chapters = [name for name in TOC if is_notebook(name)]
    if not chapters:
        pytest.skip("no notebook chapter in _toc.yml")
    visit_ = visit(server + "search.html?q=convolution")
    page = visit_.page
    # Sphinx adds results one by one and writes its summary line when it has finished.
    page.locator("p.search-summary").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function("() => !/Searching/.test(document.querySelector('p.search-summary').textContent)",
                           timeout=TIMEOUT_MS)
    hrefs = page.evaluate("() => [...document.querySelectorAll('ul.search li a')].map(a => a.href)")
    assert any(chapters[0] in h for h in hrefs), f"searching 'convolution' did not find {chapters[0]}: {hrefs}"
    assert not visit_.foreign_requests, visit_.foreign_requests


# Every line within 77 characters, like all the notebooks' code (test_layout.py checks
# that no code block scrolls at 1280 px): IPython expands {REPO} in the magic's line.
COLAB_CELL = '''\
# On Google Colab, install convlab (this book's helper package);
# elsewhere this cell does nothing.
import sys

REPO = "{url}"
if "google.colab" in sys.modules:
    %pip install --quiet "convlab-book @ git+{{REPO}}@{branch}"'''


@pytest.mark.parametrize("docname", [name for name in TOC if is_notebook(name)])
def test_notebook_installs_convlab_on_colab(docname):
    """The Colab button opens the bare notebook: its first code cell must install convlab
    there (from the repository in _config.yml) and do nothing anywhere else."""
    repo = config()["repository"]
    expected = COLAB_CELL.format(url=repo["url"].rstrip("/"), branch=repo["branch"])
    notebook = json.loads((ROOT / f"{docname}.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, "no code cell"
    first = code[0]
    source = "".join(first["source"]).strip()
    assert source == expected, f"the first code cell of {docname}.ipynb must be exactly:\n{expected}\n\nnot:\n{source}"
    assert not first.get("outputs"), "the Colab install cell must print nothing outside Colab"
