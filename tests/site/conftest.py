"""The site tests' fixtures and mark, and a loud last line when they were skipped.

Without Chromium (or without a built site) the tests are skipped, loudly: the
reason is the skip message, a warning in the warnings summary and a last line
in red. With CONVLAB_SITE_TESTS=require (set by the GitHub workflows) they fail
instead. CONVLAB_CHROMIUM names another Chromium binary (default /usr/bin/chromium).
"""

import functools
import http.server
import os
import threading
import warnings

import pytest
from book_site import CHROMIUM, CHROMIUM_ARGS, DESKTOP, SITE, TIMEOUT_MS, Visit, goto, is_local


def pytest_configure(config):
    config.addinivalue_line("markers", "site: the built book tested in headless Chromium (needs _build/html)")


def pytest_terminal_summary(terminalreporter):
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "SITE TESTS SKIPPED" in str(report.longrepr)
    ]
    if skipped:
        longrepr = skipped[0].longrepr
        reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr).removeprefix("Skipped: ")
        terminalreporter.write_sep("!", "WARNING: the site tests did not run", red=True, bold=True)
        terminalreporter.write_line(f"{len(skipped)} tests skipped. {reason}", red=True)


def skip_loudly(reason):
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
        skip_loudly(f"no built site at {SITE}: run `make book` (make test and make test-site build it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        skip_loudly(f"the playwright package is missing ({exc}): run `make venv`")
    if not os.access(CHROMIUM, os.X_OK):
        skip_loudly(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package, needs root or sudo)")
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


@pytest.fixture()
def visit(browser):
    """visit(url, viewport={...}) opens a page (1280×900 unless told); closed after the test."""
    opened = []

    def open_page(url, viewport=DESKTOP):
        page = Visit(browser, url, viewport)
        opened.append(page)
        return page

    yield open_page
    for page in opened:
        page.close()


@pytest.fixture(scope="module")
def tab(browser):
    """tab(url, width) opens url in the module's one tab, its window `width` px wide, and returns it.

    For checks of layout only: the tab (and its cache) is reused from page to page,
    about twice as fast as a fresh context per page (`visit`). Requests to any other
    host than 127.0.0.1 are aborted; tab.foreign lists those of the last page opened."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.foreign = []

    def block(route):
        if is_local(route.request.url):
            route.continue_()
        else:
            page.foreign.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", block)

    def open_at(url, width):
        page.set_viewport_size({"width": width, "height": 844 if width < 1024 else 900})
        page.foreign.clear()
        goto(page, url)
        return page

    yield open_at
    context.close()
