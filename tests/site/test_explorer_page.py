"""The convolution explorer (_assets/explorer/, book/explorer.md, convlab.explorer) in headless Chromium.

- One arithmetic, two languages: window.convlabExplorer.outputShape, run in the
  built page, agrees with torch itself on thousands of configurations, valid and
  refused (valid ⇔ torch accepts; then the sizes are equal), and so does
  convlab.explorer.output_shape (convlab.arithmetic). The sweeps cover
  ceil_mode's dropped last window, output_padding up to and past max(stride,
  dilation), groups that do and do not divide the channels, and pooling padding
  past half the kernel. Every refusal is a message "problem\\n  Fix: fix".
- The taps the explorer highlights for a clicked cell are the input pixels
  torch's autograd says the output depends on (through padding and dilation,
  and past the padding for a ceil_mode window), span convlab.arithmetic's
  receptive field, and, for a transposed convolution, each input cell's stamp
  lands where torch puts it.
- Bad input (words, negative and huge numbers, a 10,000 × 10,000 image) is
  explained or clamped, the page never freezes and no NaN is ever shown.
- Keyboard: every control is labelled and reachable; the arrow keys move the
  selected cell. Phone (390 px) and desktop (1280 px) screenshots go to
  _build/screenshots/explorer-*.png for a person to look at, and nothing scrolls
  sideways on the phone.
- Every chapter that embeds an explorer shows it mounted, with no console error.

A summary (configurations compared, agreements, time to interactive) is written
to _build/screenshots/explorer-report.json.
"""

import itertools
import json
import os
import random
import time

import pytest
import torch
import torch.nn.functional as F
from book_site import SCREENSHOTS, SITE
from torch import nn

from convlab.arithmetic import receptive_field
from convlab.errors import ConvlabError
from convlab.explorer import embed, output_shape

pytestmark = pytest.mark.site

PAGE = "book/explorer.html"
CHAPTERS = {  # chapter page -> the kinds of explorer it embeds
    "book/03_kernels.html": {"conv"},
    "book/04_groups.html": {"conv"},
    "book/05_dilation.html": {"conv"},
    "book/06_pooling.html": {"pool"},
    "book/09_transposed.html": {"transposed"},
}
REPORT = SCREENSHOTS / "explorer-report.json"
# Console errors the book's theme prints on every page (test_site.py explains each).
THEME_CONSOLE = ("Identifier 'THEBE_JS_URL' has already been declared", "Got invalid theme mode: . Resetting to auto.")
_report = {}


@pytest.fixture(scope="module")
def explorer_url(server):
    if not (SITE / PAGE).exists():
        reason = f"{PAGE} is not built: add book/explorer to _toc.yml and run `make book`"
        if os.environ.get("CONVLAB_SITE_TESTS") == "require":
            pytest.fail(reason, pytrace=False)
        pytest.skip(f"SITE TESTS SKIPPED: {reason}")
    return server + PAGE


def teardown_module():
    if _report:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        old = json.loads(REPORT.read_text()) if REPORT.exists() else {}
        REPORT.write_text(json.dumps({**old, **_report}, indent=2) + "\n")


# ---------------------------------------------------------------- configurations and torch


def torch_shape(c, onednn=False):
    """(oh, ow) of the layer torch builds from the config, or None if torch refuses it.

    Without oneDNN (mkldnn): on the CPU, its path for grouped transposed convolutions
    skips torch's output-size check, returning an empty tensor when a dimension
    would be 0 (and failing with "could not construct a memory descriptor" at -1),
    where torch's own check, and every other path, says "Output size is too small".
    The test counts those configurations (onednn=True) in its report.
    """
    try:
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=onednn):
            x = torch.zeros(1, c["in_channels"], *c["input"])
            if c["kind"] == "pool":
                layer = nn.MaxPool2d(c["kernel"], c["stride"], c["padding"], c["dilation"], ceil_mode=c["ceil_mode"])
            elif c["kind"] == "conv":
                layer = nn.Conv2d(
                    c["in_channels"], c["out_channels"], c["kernel"], c["stride"], c["padding"], c["dilation"],
                    c["groups"], bias=False,
                )  # fmt: skip
            else:
                layer = nn.ConvTranspose2d(
                    c["in_channels"], c["out_channels"], c["kernel"], c["stride"], c["padding"],
                    c["output_padding"], c["groups"], bias=False, dilation=c["dilation"],
                )  # fmt: skip
            return tuple(layer(x).shape[-2:])
    except Exception:  # whatever torch raises (RuntimeError, ValueError, ...) is a refusal
        return None


def avg_pool_shape(c):
    try:
        x = torch.zeros(1, c["in_channels"], *c["input"])
        return tuple(F.avg_pool2d(x, c["kernel"], c["stride"], c["padding"], ceil_mode=c["ceil_mode"]).shape[-2:])
    except Exception:
        return None


def config(kind, input, kernel, stride=1, padding=0, dilation=1, groups=1, in_channels=1, out_channels=1,
           ceil_mode=False, output_padding=0):  # fmt: skip
    pair = lambda v: list(v) if isinstance(v, tuple | list) else [v, v]  # noqa: E731
    return {
        "kind": kind, "input": pair(input), "kernel": pair(kernel), "stride": pair(stride),
        "padding": pair(padding), "dilation": pair(dilation), "groups": groups, "in_channels": in_channels,
        "out_channels": out_channels, "ceil_mode": ceil_mode, "output_padding": pair(output_padding),
    }  # fmt: skip


def configurations():
    """(category, config) pairs: random ones, and sweeps over the rules' edges."""
    rng = random.Random(15)
    found = []

    def small(lo, hi, odd=0.04):  # mostly in range, sometimes 0 or negative
        return rng.choice([0, -1, -2]) if rng.random() < odd else rng.randint(lo, hi)

    def other(lo, hi, value):  # the width: the same as the height, or another value
        return value if rng.random() < 0.5 else small(lo, hi)

    for _ in range(1600):
        kind = rng.choice(["conv", "pool", "transposed"])
        h, k, s, p, d = small(1, 16), small(1, 6), small(1, 4), rng.randint(0, 4), small(1, 3)
        groups = rng.choice([1, 1, 2, 3, 4])
        cin = groups * rng.randint(1, 3) if rng.random() < 0.85 else rng.randint(1, 8)
        cout = groups * rng.randint(1, 3) if rng.random() < 0.85 else rng.randint(1, 8)
        found.append(("random", config(
            kind, (h, other(1, 16, h)), (k, other(1, 6, k)), (s, other(1, 4, s)),
            (p, other(0, 4, p) if rng.random() > 0.03 else -1), (d, other(1, 3, d)),
            groups, cin if kind != "pool" else rng.randint(1, 3), cout, rng.random() < 0.5,
            (rng.randint(0, 3), rng.randint(0, 3)),
        )))  # fmt: skip
    for i, k, s, p, d in itertools.product(range(1, 10), range(1, 5), range(1, 5), range(3), range(1, 3)):
        w = rng.randint(1, 9)
        found.append(("pool ceil_mode", config("pool", (i, w), (k, 2), (s, 2), (p, 1), (d, 1), ceil_mode=True)))
    for s, d, a, i, k, p in itertools.product(range(1, 4), range(1, 4), range(4), (1, 3), (1, 3), (0, 1)):
        found.append(("transposed output_padding", config("transposed", (i, 4), k, s, p, d, output_padding=(a, 0))))
    for cin, cout, groups in itertools.product(range(1, 9), range(1, 9), range(1, 9)):
        found.append(("conv groups", config("conv", 5, 3, groups=groups, in_channels=cin, out_channels=cout)))
    for k, p, d, ceil in itertools.product(range(1, 6), range(5), range(1, 4), (False, True)):
        found.append(("pool padding", config("pool", 9, k, 1, p, d, ceil_mode=ceil)))
    return found


RESULTS = """(configs) => configs.map((c) => {
    try {
        const shape = window.convlabExplorer.outputShape(c);
        return {shape};
    } catch (e) {
        return {error: e instanceof Error ? e.message : 'not an Error: ' + String(e)};
    }
})"""


def test_output_shape_agrees_with_torch(visit, explorer_url):
    cases = configurations()
    page = visit(explorer_url).page
    start = time.perf_counter()
    results = page.evaluate(RESULTS, [c for _, c in cases])
    browser_seconds = time.perf_counter() - start
    counts = {}
    disagreements = []
    for (category, c), result in zip(cases, results, strict=True):
        expected = torch_shape(c)
        try:
            python = tuple(output_shape(c))
        except ConvlabError:
            python = None
        got = tuple(result["shape"]) if "shape" in result else None
        tally = counts.setdefault(category, {"configurations": 0, "torch accepts": 0, "agree": 0})
        tally["configurations"] += 1
        tally["torch accepts"] += expected is not None
        if got == expected and python == expected:
            tally["agree"] += 1
        else:
            disagreements.append(f"{category} {json.dumps(c)}: torch {expected}, explorer {result}, python {python}")
        if "error" in result:
            assert "\n  Fix: " in result["error"], result["error"]
            assert "NaN" not in result["error"] and "undefined" not in result["error"], result["error"]
    # The edges the sweeps are for, counted on torch's own answers.
    edges = {
        "ceil_mode windows dropped": sum(
            1 for cat, c in cases if c["kind"] == "pool" and c["ceil_mode"] and torch_shape(c) is not None
            and torch_shape(c) != _ceil_without_drop(c)
        ),
        "output_padding refused (>= max(stride, dilation))": sum(
            1 for _, c in cases if c["kind"] == "transposed" and torch_shape(c) is None
            and any(a >= max(s, d) for a, s, d in zip(c["output_padding"], c["stride"], c["dilation"]))
        ),
        "groups not dividing the channels": sum(
            1 for _, c in cases if c["kind"] == "conv" and c["groups"] > 0
            and (c["in_channels"] % c["groups"] or c["out_channels"] % c["groups"])
        ),
        "pooling padding > kernel/2": sum(
            1 for _, c in cases if c["kind"] == "pool" and any(p > k // 2 for p, k in zip(c["padding"], c["kernel"]))
        ),
    }  # fmt: skip
    onednn = sum(1 for _, c in cases if torch_shape(c, onednn=True) != torch_shape(c))
    _report["torch comparison"] = {
        "categories": counts,
        "total": len(cases),
        "agree": sum(t["agree"] for t in counts.values()),
        "torch accepts": sum(t["torch accepts"] for t in counts.values()),
        "edges": edges,
        "seconds in the browser": round(browser_seconds, 3),
        "configurations where the CPU's oneDNN path answers otherwise (an empty tensor)": onednn,
    }
    assert not disagreements, f"{len(disagreements)} disagreements, e.g.:\n" + "\n".join(disagreements[:15])
    valid = _report["torch comparison"]["torch accepts"]
    assert len(cases) > 3000 and 0.25 * len(cases) < valid < 0.9 * len(cases), (len(cases), valid)
    assert all(edges.values()), edges


def test_avg_pool_follows_the_same_rule(visit, explorer_url):
    # AvgPool2d has no dilation, otherwise the same output size (and the same refusals) as MaxPool2d.
    cases = [c for _, c in configurations() if c["kind"] == "pool" and c["dilation"] == [1, 1]]
    results = visit(explorer_url).page.evaluate(RESULTS, cases)
    shapes = [tuple(r["shape"]) if "shape" in r else None for r in results]
    wrong = [(c, got) for c, got in zip(cases, shapes) if got != avg_pool_shape(c)]
    _report["avg_pool2d comparison"] = {"total": len(cases), "agree": len(cases) - len(wrong)}
    assert not wrong, wrong[:5]


def _ceil_without_drop(c):
    return tuple(
        -(-(i + 2 * p - d * (k - 1) - 1) // s) + 1
        for i, k, s, p, d in zip(c["input"], c["kernel"], c["stride"], c["padding"], c["dilation"])
    )


def test_refusals_explain_like_convlab(visit, explorer_url):
    # The same words as convlab.arithmetic's ConvlabError, numbers and fix included.
    page = visit(explorer_url).page
    for c, words in [
        (config("conv", 5, 3, groups=4, in_channels=12, out_channels=6), "common divisors of in_channels=12"),
        (config("conv", 2, 5), "The kernel does not fit"),
        (config("conv", 5, 3, padding=-1), "PyTorch does not support negative padding"),
        (config("pool", 4, 2, 1, 2), "at most half the kernel size"),
        (config("pool", 1, 2, 2), "Pooling leaves nothing"),
        (config("transposed", 4, 3, 2, 1, output_padding=2), "smaller than stride or dilation"),
        (config("transposed", 1, 1, 1, 1), "crops more than"),
    ]:
        result = page.evaluate(RESULTS, [c])[0]
        assert "error" in result and words in result["error"], (c, result)
        with pytest.raises(ConvlabError) as python:
            output_shape(c)
        assert str(python.value) == result["error"], "Python and JavaScript word it differently"
    for c, words in [  # what only JavaScript can be given
        ({"kind": "conv", "input": [5, "x"], "kernel": 3}, "must be a whole number"),
        ({"kind": "conv", "input": [5, 2.5], "kernel": 3}, "must be a whole number"),
        ({"kind": "conv", "input": [5, None], "kernel": 3}, "must be a whole number"),
        ({"kind": "conv", "input": 5}, "kernel_size is missing"),
        ({"kind": "sideways", "input": 5, "kernel": 3}, 'kind must be "conv"'),
        ({"kind": "pool", "input": 5, "kernel": 3, "ceil_mode": "yes"}, "ceil_mode must be true or false"),
        (None, "needs a config object"),
    ]:
        result = page.evaluate(RESULTS, [c])[0]
        assert "error" in result and words in result["error"] and "\n  Fix: " in result["error"], (c, result)


# ---------------------------------------------------------------- taps against torch


MOUNT = """(config) => {
    document.querySelectorAll('.cx-test').forEach((n) => n.remove());
    const div = document.createElement('div');
    div.className = 'convlab-explorer cx-test';
    div.dataset.config = JSON.stringify(config);
    document.querySelector('article, main, body').prepend(div);
    window.convlabExplorer.mount(div);
    return div.dataset.ready;
}"""
TAPS = """(role) => [...document.querySelectorAll(
    `.cx-test svg[data-role=${role}] .cx-overlay .cx-tap`)].map((n) => [Number(n.dataset.r), Number(n.dataset.c)])"""


def click_cell(page, role, r, c):
    page.locator(f'.cx-test svg[data-role={role}] .cx-base rect[data-r="{r}"][data-c="{c}"]').click()


def conv_taps(c, r, col, out):
    """Input pixels (with padding and beyond it as negative / large indices) that output (r, col) reads."""
    (ph, pw), (s, d), k = c["padding"], (c["stride"], c["dilation"]), c["kernel"]
    rows = max(c["input"][0] + 2 * ph, (out[0] - 1) * s[0] + d[0] * (k[0] - 1) + 1)
    cols = max(c["input"][1] + 2 * pw, (out[1] - 1) * s[1] + d[1] * (k[1] - 1) + 1)
    x = torch.zeros(1, 1, rows, cols, requires_grad=True)
    F.conv2d(x, torch.ones(1, 1, *k), stride=s, dilation=d)[0, 0, r, col].backward()
    return {(a - ph, b - pw) for a, b in torch.nonzero(x.grad[0, 0]).tolist()}


SAMPLE = [
    config("conv", 7, 3, 2, 1),
    config("conv", (7, 9), (3, 2), (2, 3), (1, 0), (2, 3)),
    config("conv", 6, 3, 2, 1),
    config("conv", 5, 4, 1, 2),
    config("conv", 9, 3, 1, 2, 3),
    config("conv", 8, 2, 3, 1, 2, groups=2, in_channels=4, out_channels=6),
    config("pool", 5, 2, 2, 1, ceil_mode=True),
    config("pool", 6, 3, 2, 0, ceil_mode=True),
    config("pool", 7, 3, 2, 1, 2, ceil_mode=True),
    config("pool", (1, 5), 2, 2, 0, ceil_mode=True),
]


@pytest.mark.parametrize("c", SAMPLE, ids=lambda c: json.dumps({k: v for k, v in c.items() if v not in (0, 1)}))
def test_clicked_cell_highlights_its_taps(visit, explorer_url, c):
    page = visit(explorer_url).page
    assert page.evaluate(MOUNT, c) == "true"
    out = torch_shape(c)
    field = receptive_field([(c["kernel"], c["stride"], c["dilation"])])
    checked = 0
    for r, col in {(0, 0), (out[0] - 1, out[1] - 1), (out[0] // 2, out[1] - 1), (out[0] - 1, 0)}:
        click_cell(page, "output", r, col)
        shown = {tuple(t) for t in page.evaluate(TAPS, "input")}
        assert shown == conv_taps(c, r, col, out), (r, col)
        span = tuple(max(t[j] for t in shown) - min(t[j] for t in shown) + 1 for j in (0, 1))
        assert span == field, (span, field)
        assert len(shown) == c["kernel"][0] * c["kernel"][1]
        if c["kind"] == "pool" and c["dilation"] == [1, 1]:  # the real pixels: avg_pool2d's gradient
            x = torch.zeros(1, 1, *c["input"], requires_grad=True)
            F.avg_pool2d(x, c["kernel"], c["stride"], c["padding"], ceil_mode=True)[0, 0, r, col].backward()
            inside = {t for t in shown if 0 <= t[0] < c["input"][0] and 0 <= t[1] < c["input"][1]}
            assert inside == {tuple(t) for t in torch.nonzero(x.grad[0, 0]).tolist()}
        status = page.locator(".cx-test .cx-status").inner_text()
        assert f"output ({r}, {col})" in status and "NaN" not in status
        checked += 1
    _report.setdefault("taps checked", 0)
    _report["taps checked"] += checked


TRANSPOSED = [
    config("transposed", 3, 3, 2, 1, output_padding=1),
    config("transposed", (2, 4), (3, 2), (2, 3), (0, 1), (2, 1)),
    config("transposed", 4, 4, 2, 1),
    config("transposed", 3, 3, 1, 0, 3, output_padding=2),
]


@pytest.mark.parametrize("c", TRANSPOSED, ids=lambda c: json.dumps({k: v for k, v in c.items() if v not in (0, 1)}))
def test_transposed_stamps_land_where_torch_puts_them(visit, explorer_url, c):
    page = visit(explorer_url).page
    page.evaluate(MOUNT, c)
    (ih, iw), k = c["input"], c["kernel"]
    out = torch_shape(c)
    for r, col in {(0, 0), (ih - 1, iw - 1), (ih // 2, 0)}:
        click_cell(page, "input", r, col)
        x = torch.zeros(1, 1, ih, iw)
        x[0, 0, r, col] = 1
        full = F.conv_transpose2d(x, torch.ones(1, 1, *k), stride=c["stride"], dilation=c["dilation"])
        expected = {(a - c["padding"][0], b - c["padding"][1]) for a, b in torch.nonzero(full[0, 0]).tolist()}
        assert {tuple(t) for t in page.evaluate(TAPS, "output")} == expected
    for y, x_ in {(0, 0), (out[0] - 1, out[1] - 1), (out[0] // 2, 1)}:
        click_cell(page, "output", y, x_)
        x = torch.zeros(1, 1, ih, iw, requires_grad=True)
        F.conv_transpose2d(
            x, torch.ones(1, 1, *k), stride=c["stride"], padding=c["padding"],
            output_padding=c["output_padding"], dilation=c["dilation"],
        )[0, 0, y, x_].backward()  # fmt: skip
        expected = {tuple(t) for t in torch.nonzero(x.grad[0, 0]).tolist()}
        assert {tuple(t) for t in page.evaluate(TAPS, "input")} == expected, (y, x_)


def test_groups_show_which_inputs_feed_which_outputs(visit, explorer_url):
    page = visit(explorer_url).page
    page.evaluate(MOUNT, config("conv", 5, 3, groups=3, in_channels=12, out_channels=6))
    for out_channel, inputs in [(0, range(0, 4)), (3, range(4, 8)), (5, range(8, 12))]:
        page.locator(f'.cx-test [data-row="out"][data-index="{out_channel}"]').click()
        linked = page.evaluate("""() => [...document.querySelectorAll(
            '.cx-test [data-row="in"]:not(.cx-off)')].map((n) => Number(n.dataset.index))""")
        assert linked == list(inputs)
        lines = page.evaluate("""() => [...document.querySelectorAll('.cx-test .cx-link.cx-on')]
            .map((n) => Number(n.dataset.in))""")
        assert sorted(lines) == list(inputs)
        text = page.locator(".cx-test .cx-chantext").inner_text()
        assert f"input channels {inputs[0]}–{inputs[-1]}" in text


# ---------------------------------------------------------------- bad input, keyboard, layout


# The theme's sticky header, made to scroll away: an element screenshot otherwise shows it on top.
HEADER_STILL = (
    ".bd-header, .bd-header-article, .header-article { position: static !important; } .skip-link { display: none; }"
)


def console_errors(visited):
    return [e for e in visited.console_errors if not any(known in e for known in THEME_CONSOLE)]


def explorer_text(page):
    return page.locator(".convlab-explorer").first.inner_text()


def responsive(page):
    start = time.perf_counter()
    assert page.evaluate("1 + 1") == 2
    return time.perf_counter() - start


def test_bad_input_is_explained_or_clamped(visit, explorer_url):
    visited = visit(explorer_url)
    page = visited.page
    root = page.locator(".convlab-explorer").first
    height = root.get_by_label("input height", exact=True)
    explain = root.locator(".cx-explain")
    for typed, words in [
        ("abc", '"abc" is not a whole number'),
        ("", "the box is empty"),
        ("2.5", "is not a whole number"),
        ("1e9", "is not a whole number"),
        ("NaN", "is not a whole number"),
        ("-3", "input must be at least 1 in each dimension"),
        ("0", "input must be at least 1 in each dimension"),
    ]:
        height.fill(typed)
        assert explain.is_visible(), typed
        assert words in explain.inner_text(), (typed, explain.inner_text())
        assert "Fix:" in explain.inner_text()
        assert "NaN" not in explorer_text(page).replace('"NaN"', "")
        assert responsive(page) < 1
    height.fill("7")
    assert not explain.is_visible()
    root.get_by_label("padding width", exact=True).fill("-2")
    assert "PyTorch does not support negative padding" in explain.inner_text()
    root.get_by_label("padding width", exact=True).fill("1")
    root.get_by_label("kernel_size height", exact=True).fill("99999999999999999999")
    assert "clamped to 100000" in root.locator(".cx-note").inner_text()
    assert "The kernel does not fit" in explain.inner_text()
    root.get_by_label("kernel_size height", exact=True).fill("3")
    # A 10,000 × 10,000 input: drawn to scale, a few shapes, not 10⁸ cells, and quickly.
    start = time.perf_counter()
    height.fill("10000")
    root.get_by_label("input width", exact=True).fill("10000")
    seconds = time.perf_counter() - start
    shapes = page.evaluate("() => document.querySelector('.convlab-explorer').querySelectorAll('rect').length")
    assert shapes < 200, shapes
    assert "too many to draw one by one" in explorer_text(page)
    assert seconds < 2, seconds
    root.get_by_role("button", name="step forward").click()
    assert "Window 2 of 25" in root.locator(".cx-status").inner_text()  # 5 000 × 5 000 windows
    _report["10000x10000 input"] = {"svg rects": shapes, "seconds to redraw (two fills)": round(seconds, 3)}
    huge = root.get_by_label("input width", exact=True)
    huge.fill("123456789012345678901234567890")
    assert "clamped to 100000" in root.locator(".cx-note").inner_text()
    assert responsive(page) < 1
    assert not console_errors(visited), console_errors(visited)


def test_any_config_mounts_without_an_error(visit, explorer_url):
    # Hand-written data-config can hold anything: every explorer still draws, explains, and never shows NaN.
    rng = random.Random(7)
    junk = [0, -1, -7, 1, 2, 3, 5, 64, 65, 100000, 2.5, "3", "x", None, [], [3], [3, 4, 5], {"a": 1}, True, 1e12]
    visited = visit(explorer_url)
    page = visited.page
    for _ in range(150):
        c = {key: rng.choice(junk) for key in rng.sample(list(config("conv", 1, 1)), rng.randint(0, 11))}
        c["kind"] = rng.choice(["conv", "pool", "transposed", "other", None])
        assert page.evaluate(MOUNT, c) == "true"
        text = page.locator(".cx-test").inner_text()
        assert "NaN" not in text and "undefined" not in text and "Infinity" not in text, (c, text)
        assert page.locator(".cx-test .cx-explain").is_visible() or page.locator(".cx-test .cx-status").inner_text()
    assert not console_errors(visited), console_errors(visited)


def test_keyboard_operates_everything(visit, explorer_url):
    visited = visit(explorer_url)
    page = visited.page
    root = page.locator(".convlab-explorer").first
    # every control has an accessible name
    unnamed = page.evaluate("""() => [...document.querySelectorAll(
        '.convlab-explorer input, .convlab-explorer select, .convlab-explorer button, .convlab-explorer svg[tabindex]')]
        .filter((n) => !(n.getAttribute('aria-label') || (n.labels && n.labels.length)
                         || n.closest('label')))
        .map((n) => n.outerHTML.slice(0, 80))""")
    assert not unnamed, unnamed
    # From the layer menu, Tab reaches the case menu, then the first number box.
    root.get_by_label("layer", exact=True).focus()
    order = []
    for _ in range(2):
        page.keyboard.press("Tab")
        order.append(page.evaluate("() => document.activeElement.getAttribute('aria-label')"))
    assert order == ["start from", "input height"], order
    before = root.get_by_label("input height", exact=True).input_value()
    page.keyboard.press("ArrowUp")
    assert int(root.get_by_label("input height", exact=True).input_value()) == int(before) + 1
    page.keyboard.press("ArrowDown")
    # the step buttons, by keyboard
    root.get_by_role("button", name="step forward").focus()
    page.keyboard.press("Enter")
    assert "Window 2 of" in root.locator(".cx-status").inner_text()
    # the output grid: focus, then arrows, Home and End
    grid = root.locator("svg[data-role=output]")
    grid.focus()
    page.keyboard.press("Home")
    assert "output (0, 0)" in root.locator(".cx-status").inner_text()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    assert "output (1, 1)" in root.locator(".cx-status").inner_text()
    page.keyboard.press("End")
    assert "output (3, 3)" in root.locator(".cx-status").inner_text()  # the page starts at 7×7, k3, s2, p1
    # play, then pause, with the keyboard
    root.get_by_role("button", name="play", exact=True).focus()
    page.keyboard.press("Enter")
    assert root.get_by_role("button", name="pause", exact=True).is_visible()
    page.keyboard.press("Enter")
    assert root.get_by_role("button", name="play", exact=True).is_visible()
    # the layer menu
    root.get_by_label("layer", exact=True).select_option("pool")
    assert "ceil_mode" in explorer_text(page)
    assert not console_errors(visited), console_errors(visited)


def test_play_steps_the_window(visit, explorer_url):
    page = visit(explorer_url).page
    root = page.locator(".convlab-explorer").first
    root.get_by_role("button", name="first position").click()
    root.get_by_role("button", name="play", exact=True).click()
    page.wait_for_function(
        "() => /Window [3-9] of/.test(document.querySelector('.convlab-explorer .cx-status').textContent)",
        timeout=5000,
    )
    root.get_by_role("button", name="pause", exact=True).click()
    status = root.locator(".cx-status").inner_text()
    page.wait_for_timeout(900)
    assert root.locator(".cx-status").inner_text() == status, "still playing after pause"


@pytest.mark.parametrize("width", [390, 1280])
def test_screenshots_and_layout(visit, explorer_url, width):
    visited = visit(explorer_url, viewport={"width": width, "height": 844 if width < 1024 else 900})
    page = visited.page
    ready = page.evaluate("""() => ({
        ready: window.convlabExplorer.readyAt,
        mount: window.convlabExplorer.mountMs,
        domContentLoaded: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
        explorers: document.querySelectorAll('.convlab-explorer[data-ready]').length,
    })""")
    assert ready["explorers"] == 1
    assert ready["ready"] < 3000, ready
    _report[f"time to interactive at {width} px (ms)"] = {
        k: round(v, 1) for k, v in ready.items() if k != "explorers"
    }
    overflow = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1], overflow
    box = page.locator(".convlab-explorer").first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    # readable: no text in the explorer smaller than 11 px; controls at least 24 px tall
    small = page.evaluate("""() => [...document.querySelectorAll('.convlab-explorer *')]
        .filter((n) => n.childNodes.length && [...n.childNodes].some((t) => t.nodeType === 3 && t.textContent.trim())
                       && !(n instanceof SVGElement) && parseFloat(getComputedStyle(n).fontSize) < 11)
        .map((n) => n.textContent.slice(0, 30))""")
    assert not small, small
    tiny = page.evaluate("""() => [...document.querySelectorAll('.convlab-explorer button, .convlab-explorer input')]
        .filter((n) => n.offsetParent && n.getBoundingClientRect().height < 24).length""")
    assert tiny == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.add_style_tag(content=HEADER_STILL)
    page.locator(".convlab-explorer").first.screenshot(path=str(SCREENSHOTS / f"explorer-{width}.png"))
    # the refused case, as a reader sees it
    page.locator(".convlab-explorer").first.get_by_label("start from", exact=True).select_option(
        label="Groups that do not divide: 12 in, 6 out, groups=4")
    page.locator(".convlab-explorer").first.screenshot(path=str(SCREENSHOTS / f"explorer-refused-{width}.png"))
    assert not console_errors(visited), console_errors(visited)
    assert not visited.foreign_requests, visited.foreign_requests


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_chapters_embed_a_working_explorer(visit, server, explorer_url, chapter):
    visited = visit(server + chapter)
    page = visited.page
    mounted = page.evaluate("""() => [...document.querySelectorAll('.convlab-explorer')].map((n) => ({
        ready: n.dataset.ready === 'true',
        kind: JSON.parse(n.dataset.config).kind,
        fallback: Boolean(n.querySelector('.cx-fallback')),
        text: n.innerText,
    }))""")
    assert mounted, f"{chapter} embeds no explorer"
    assert all(m["ready"] and not m["fallback"] for m in mounted), mounted
    assert {m["kind"] for m in mounted} >= CHAPTERS[chapter]
    assert not any("NaN" in m["text"] or "undefined" in m["text"] for m in mounted)
    assert not console_errors(visited), console_errors(visited)
    name = chapter.split("/")[-1].removesuffix(".html")
    page.add_style_tag(content=HEADER_STILL)  # for the screenshots only: the theme's header would cover them
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 844 if width < 1024 else 900})
        scroll = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
        assert scroll[0] <= scroll[1], (width, scroll)
        page.locator(".convlab-explorer").first.screenshot(path=str(SCREENSHOTS / f"explorer-{name}-{width}.png"))


# ---------------------------------------------------------------- in Jupyter

# What JupyterLab does with an HTML output: set it as innerHTML, then run its scripts (page already loaded).
AS_JUPYTER = """(markup) => {
    const output = document.createElement('div');
    output.innerHTML = markup;
    document.body.appendChild(output);
    for (const old of output.querySelectorAll('script')) {
        const script = document.createElement('script');
        script.textContent = old.textContent;
        old.replaceWith(script);
    }
}"""


def test_in_jupyter_inline_carries_the_explorer(browser):
    page = browser.new_page()
    try:
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_content("<!doctype html><html><body><p>a notebook</p></body></html>")
        # Without inline=True (and without the book's script) the output says how to get the explorer.
        page.evaluate(AS_JUPYTER, embed("conv", input=5, kernel=3).data)
        note = page.locator(".cx-fallback-note").inner_text()
        assert "inline=True" in note
        assert "→ output 3×3." in page.locator(".cx-fallback").inner_text()
        # With inline=True it mounts, and so do the outputs before it.
        pool = embed("pool", input=5, kernel=2, stride=2, padding=1, ceil_mode=True, inline=True)
        page.evaluate(AS_JUPYTER, pool.data)
        page.evaluate(AS_JUPYTER, embed("transposed", input=3, kernel=3, stride=2, inline=True).data)
        ready = page.evaluate("() => [...document.querySelectorAll('.convlab-explorer')].map((n) => n.dataset.ready)")
        assert ready == ["true", "true", "true"]
        assert page.evaluate("() => window.convlabExplorer.outputShape({kind: 'pool', input: 5, kernel: 2, "
                             "stride: 2, padding: 1, ceil_mode: true})") == [3, 3]
        pool = page.locator(".convlab-explorer").nth(1)
        pool.locator('svg[data-role=output] .cx-base rect[data-r="2"][data-c="2"]').click()
        assert "output (2, 2)" in pool.locator(".cx-status").inner_text()
        assert not errors, errors
    finally:
        page.close()
