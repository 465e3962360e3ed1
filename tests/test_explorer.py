"""convlab.explorer: the HTML embed() writes, its checks, and the explorer's files.

The explorer's JavaScript itself runs in tests/site/test_explorer_page.py (a real
browser, compared with torch); here, what Python promises: the data-config is
the preset as JSON, the text shown before (or without) the script is
convlab.arithmetic's answer, bad presets raise ConvlabError, the chapters and
book/explorer.md embed valid configurations, and the script and style stay
small, offline and out of _static/.
"""

import html
import json
import re
from pathlib import Path

import nbformat
import pytest

import convlab.explorer as explorer
from convlab.arithmetic import conv2d_output_shape, conv_transpose2d_output_shape, pool2d_output_shape
from convlab.errors import ConvlabError

ROOT = Path(__file__).resolve().parents[1]
CONFIG = re.compile(r'<div class="convlab-explorer" data-config="([^"]*)">')
KB = 1024


def config_of(shown) -> dict:
    match = CONFIG.search(shown.data)
    assert match, shown.data[:200]
    return json.loads(html.unescape(match.group(1)))


def test_embed_writes_the_preset_as_json():
    shown = explorer.embed("conv", input=(5, 7), kernel=3, stride=2, padding=1, title="stride and padding")
    assert config_of(shown) == {
        "kind": "conv", "input": [5, 7], "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1],
        "title": "stride and padding",
    }  # fmt: skip
    assert shown.data.count("<script>") == 1  # the one-line bootstrap, not the explorer
    assert len(shown.data) < 2 * KB


def test_embed_is_the_same_every_time():
    # nbval compares the stored HTML with a fresh run: no random ids, no dict order.
    first = explorer.embed("pool", input=5, kernel=2, stride=2, padding=1, ceil_mode=True)
    again = explorer.embed("pool", ceil_mode=True, padding=1, stride=2, kernel=2, input=5)
    assert first.data == again.data
    assert first._repr_html_() == first.data


@pytest.mark.parametrize(
    "kind, preset, expected",
    [
        ("conv", {"input": 6, "kernel": 3, "stride": 2, "padding": 1}, conv2d_output_shape(6, 3, 2, 1)),
        ("conv", {"input": 7, "kernel": 3, "dilation": 2}, conv2d_output_shape(7, 3, dilation=2)),
        ("pool", {"input": 5, "kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True},
         pool2d_output_shape(5, 2, 2, 1, ceil_mode=True)),
        ("pool", {"input": 6, "kernel": 2}, pool2d_output_shape(6, 2)),
        ("transposed", {"input": 3, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1},
         conv_transpose2d_output_shape(3, 3, 2, 1, 1)),
    ],
)  # fmt: skip
def test_the_text_before_the_script_is_convlab_arithmetic(kind, preset, expected):
    shown = explorer.embed(kind, **preset)
    assert f"→ output {expected[0]}×{expected[1]}." in shown.data
    assert repr(shown) == f"<convlab explorer: {shown.summary}>"
    assert explorer.output_shape(config_of(shown)) == expected


def test_a_refused_preset_opens_on_its_explanation():
    shown = explorer.embed("conv", input=5, kernel=3, in_channels=12, out_channels=6, groups=4)
    assert "no output: groups=4 must divide out_channels=6" in shown.summary
    assert "Fix: use groups among the common divisors" in shown.summary
    with pytest.raises(ConvlabError, match="must divide out_channels=6"):
        explorer.output_shape(config_of(shown))


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: explorer.embed("sideways", input=5, kernel=3), "kind must be one of"),
        (lambda: explorer.embed("pool", input=5, kernel=3, groups=2), "which nn.MaxPool2d does not take"),
        (lambda: explorer.embed("conv", input=5, kernel=3, ceil_mode=True), "which nn.Conv2d does not take"),
        (lambda: explorer.embed("conv", input="5", kernel=3), "input must be an integer"),
        (lambda: explorer.embed("conv", input=(5, 5, 5), kernel=3), "with 3 entries"),
        (lambda: explorer.embed("conv", input=5, kernel=3, groups=1.5), "groups must be an integer"),
        (lambda: explorer.embed("pool", input=5, kernel=3, ceil_mode=1), "ceil_mode must be True or False"),
        (lambda: explorer.embed("conv", input=5, kernel=3, title=3), "title must be a string"),
        (lambda: explorer.embed("conv", input=5, kernel=3, cases=[]), "cases must be a non-empty dict"),
        (lambda: explorer.embed("conv", input=5, kernel=3, cases={"a": 1}), "each case needs a name"),
        (lambda: explorer.embed("conv", input=5, kernel=3, cases={"a": {"kind": "x"}}), "has kind 'x'"),
        (lambda: explorer.embed("conv", input=5, kernel=3, cases={"a": {"kind": "pool", "groups": 2}}),
         "does not take"),
    ],
)  # fmt: skip
def test_bad_presets_raise_convlab_errors(call, words):
    with pytest.raises(ConvlabError) as caught:
        call()
    assert words in str(caught.value)
    assert caught.value.fix


def test_cases_carry_their_kind():
    shown = explorer.embed("conv", input=5, kernel=3, cases={"pool": {"kind": "pool", "input": 6, "kernel": 3}})
    assert config_of(shown)["cases"] == [{"name": "pool", "kind": "pool", "input": [6, 6], "kernel": [3, 3]}]


def test_guide_cases_are_the_guides_examples():
    from convlab.animation import GUIDE_EXAMPLES

    convs, transposed = explorer.guide_cases(), explorer.guide_cases(transposed=True)
    assert len(convs) + len(transposed) == len(GUIDE_EXAMPLES)
    assert {c["kind"] for c in convs.values()} == {"conv"}
    assert {c["kind"] for c in transposed.values()} == {"transposed"}
    assert "Guide: padding, strides, odd (i=6, k=3, s=2, p=1)" in convs
    assert convs["Guide: dilation (i=7, k=3, d=2)"] == {"kind": "conv", "input": 7, "kernel": 3, "dilation": 2}
    for kind, cases in (("conv", convs), ("transposed", transposed)):
        explorer.embed(kind, input=5, kernel=3, cases=cases)  # every case is a valid preset


def test_inline_carries_the_script_and_style():
    shown = explorer.embed("conv", input=5, kernel=3, inline=True)
    script = explorer.assets()["js"].read_text(encoding="utf-8")
    assert shown.data.startswith("<style>")
    assert script[:200] in shown.data
    assert "</script>" not in script and "</" not in script  # nothing in it can close the inline <script>


def test_inline_explains_a_missing_script(monkeypatch, tmp_path):
    monkeypatch.setattr(explorer, "ASSETS", tmp_path)
    with pytest.raises(ConvlabError, match="missing: they live in the book's repository"):
        explorer.embed("conv", input=5, kernel=3, inline=True)


def test_the_explorer_is_small_offline_and_not_in_static():
    files = explorer.assets()
    total = sum(path.stat().st_size for path in files.values())
    assert total < 100 * KB, f"the explorer is {total / KB:.1f} KB"
    script = files["js"].read_text(encoding="utf-8")
    style = files["css"].read_text(encoding="utf-8")
    # No CDN, no fetch: the only URL is the SVG namespace's name, spelled so no scanner mistakes it for one.
    assert not re.search(r"https?://", script + style)
    assert not re.search(r"\b(fetch\(|XMLHttpRequest|import\(|@import|url\()", script + style)
    # Jupyter Book adds every .js in a top-level _static/ to every page: the files live in _assets/.
    assert files["js"].parent == ROOT / "_assets" / "explorer"
    assert "window.convlabExplorer" in script and "outputShape" in script


def embedded_configs():
    """(where, config) of every explorer the book embeds: the chapters' outputs and book/explorer.md."""
    found = []
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and "convlab.explorer.embed(" in cell.source:
                for output in cell.outputs:
                    text = output.get("data", {}).get("text/html", "")
                    for match in CONFIG.finditer("".join(text) if isinstance(text, list) else text):
                        found.append((path.stem, json.loads(html.unescape(match.group(1)))))
    page = (ROOT / "book" / "explorer.md").read_text(encoding="utf-8")
    for match in re.finditer(r"<div class=\"convlab-explorer\" data-config='([^']*)'>", page):
        found.append(("explorer.md", json.loads(match.group(1))))
    return found


def test_the_book_embeds_explorers_where_they_teach():
    where = {}
    for name, config in embedded_configs():
        where.setdefault(name, set()).add(config["kind"])
    assert where == {
        "03_kernels": {"conv"},
        "04_groups": {"conv"},
        "05_dilation": {"conv"},
        "06_pooling": {"pool"},
        "09_transposed": {"transposed"},
        "explorer.md": {"conv"},
    }


@pytest.mark.parametrize("where, config", embedded_configs(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_embedded_config_is_a_valid_preset(where, config):
    # embed() would write exactly this config again: the page's hand-written JSON included.
    preset = {k: v for k, v in config.items() if k not in ("kind", "title", "cases", "choose_kind")}
    cases = {case["name"]: {k: v for k, v in case.items() if k != "name"} for case in config.get("cases", [])}
    again = config_of(explorer.embed(config["kind"], title=config.get("title"), cases=cases or None, **preset))
    assert {k: v for k, v in config.items() if k != "choose_kind"} == again
    explorer.output_shape(config)  # the starting point is one torch accepts
