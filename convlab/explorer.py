"""The interactive convolution explorer, embedded in a page.

    convlab.explorer.embed("conv", input=5, kernel=3, stride=2, padding=1)

returns an IPython HTML object: a ``<div class="convlab-explorer">`` whose
``data-config`` attribute holds the settings as JSON. The book's pages load the
explorer's script and style (``_assets/explorer/``, through ``html_js_files`` and
``html_css_files`` in ``_config.yml``), which turn every such div into the
explorer: the reader changes the sizes, steps the window and clicks cells. The
script does in JavaScript what ``convlab.arithmetic`` does in Python, and
``tests/site/test_explorer.py`` proves the two agree with torch.

Until the script runs (or where it never does) the div shows the output size
that ``convlab.arithmetic`` computes, or its ConvlabError. In Jupyter, where
the book's script is not loaded, ``embed(..., inline=True)`` carries the script
and style in the output itself.
"""

import html
import json
from pathlib import Path

from IPython.display import HTML

from convlab.arithmetic import (
    conv2d_output_shape,
    conv2d_params,
    conv_transpose2d_output_shape,
    pool2d_output_shape,
)
from convlab.errors import ConvlabError, error, show_size
from convlab.validate import as_int, as_pair

ASSETS = Path(__file__).resolve().parents[1] / "_assets" / "explorer"
KINDS = {"conv": "nn.Conv2d", "pool": "nn.MaxPool2d", "transposed": "nn.ConvTranspose2d"}
PAIRS = {"input", "kernel", "stride", "padding", "dilation", "output_padding"}
NUMBERS = {"groups", "in_channels", "out_channels"}
SETTINGS = {
    "conv": {"input", "kernel", "stride", "padding", "dilation", "groups", "in_channels", "out_channels"},
    "pool": {"input", "kernel", "stride", "padding", "dilation", "ceil_mode"},
    "transposed": {
        "input", "kernel", "stride", "padding", "dilation", "output_padding",
        "groups", "in_channels", "out_channels",
    },
}  # fmt: skip
# Shown in Jupyter (by the output's own script) when the explorer's script is not on the page.
JUPYTER_NOTE = (
    "This explorer is interactive in the built book. In Jupyter, add inline=True: "
    "convlab.explorer.embed(..., inline=True)."
)
BOOTSTRAP = (
    "(function(){var x=window.convlabExplorer;if(x){x.mountAll();}"
    'else if(document.readyState!=="loading"){'
    'document.querySelectorAll(".convlab-explorer:not([data-ready]) .cx-fallback-note")'
    ".forEach(function(n){n.textContent=%s;});}})();"
)


class Explorer(HTML):
    """The explorer's HTML, with a one-line text form for consoles (and nbval's text/plain)."""

    def __init__(self, data: str, summary: str):
        super().__init__(data)
        self.summary = summary

    def __repr__(self) -> str:
        return f"<convlab explorer: {self.summary}>"


def embed(
    kind: str = "conv", *, title: str | None = None, cases: dict | None = None, inline: bool = False, **preset
) -> Explorer:
    """An interactive explorer of one layer, starting from `preset`.

    kind: "conv" (nn.Conv2d), "pool" (nn.MaxPool2d) or "transposed" (nn.ConvTranspose2d).
    preset: input, kernel, stride, padding, dilation, output_padding (ints or (h, w)
        pairs), groups, in_channels, out_channels (ints) and ceil_mode (bool), as far as
        the layer has them. A preset torch would refuse is allowed: the explorer then
        opens on the explanation.
    title: a line above the controls (and the explorer's accessible name).
    cases: {name: settings} offered in a "start from" menu; a case's settings may
        name another kind, as in {"pool 3/2": {"kind": "pool", "input": 6, "kernel": 3,
        "stride": 2}}. guide_cases() gives the guide's examples.
    inline: carry the explorer's script and style in the output (for Jupyter).
    """
    if kind not in KINDS:
        raise error(
            f"embed's kind must be one of {sorted(KINDS)}, got {kind!r}.",
            'use "conv" for nn.Conv2d, "pool" for nn.MaxPool2d or "transposed" for nn.ConvTranspose2d.',
        )
    config = {"kind": kind, **_settings(kind, preset)}
    if cases is not None:
        config["cases"] = _cases(kind, cases)
    if title is not None:
        if not isinstance(title, str):
            raise error(f"title must be a string, got {type(title).__name__}.", "pass title='...' or leave it out.")
        config["title"] = title
    summary = describe(config)
    data = json.dumps(config, sort_keys=True, ensure_ascii=False)
    parts = [
        f'<div class="convlab-explorer" data-config="{html.escape(data, quote=True)}">',
        f'<p class="cx-fallback">{html.escape(summary)} <span class="cx-fallback-note"></span></p>',
        "</div>",
    ]
    if inline:
        parts = [_inline_assets()] + parts
    parts.append(f"<script>{BOOTSTRAP % json.dumps(JUPYTER_NOTE)}</script>")
    return Explorer("\n".join(parts), summary)


def _cases(kind: str, cases) -> list[dict]:
    if not isinstance(cases, dict) or not cases:
        raise error(
            f"cases must be a non-empty dict of name -> settings, got {type(cases).__name__}.",
            'pass e.g. cases={"half padding": {"input": 5, "kernel": 3, "padding": 1}}.',
        )
    listed = []
    for name, settings in cases.items():
        if not isinstance(name, str) or not isinstance(settings, dict):
            raise error(
                f"each case needs a name (str) and its settings (dict), got {name!r}: {settings!r}.",
                'pass e.g. cases={"half padding": {"input": 5, "kernel": 3, "padding": 1}}.',
            )
        case_kind = settings.get("kind", kind)
        if case_kind not in KINDS:
            raise error(f"case {name!r} has kind {case_kind!r}.", f"use one of {sorted(KINDS)}.")
        rest = {key: value for key, value in settings.items() if key != "kind"}
        listed.append({"name": name, "kind": case_kind, **_settings(case_kind, rest)})
    return listed


def guide_cases(transposed: bool = False) -> dict[str, dict]:
    """The examples of Dumoulin and Visin's guide (convlab.animation.GUIDE_EXAMPLES) as explorer cases:
    its convolutions, or with transposed=True its transposed convolutions."""
    from convlab.animation import GUIDE_EXAMPLES  # matplotlib: only when asked

    names = {"input_size": "input", "kernel_size": "kernel"}
    cases = {}
    for name, example in GUIDE_EXAMPLES.items():
        if name.endswith("_transposed") != transposed:
            continue
        settings = {names.get(key, key): value for key, value in example.items()}
        numbers = ", ".join(f"{key[0] if key != 'output_padding' else 'a'}={value}" for key, value in settings.items())
        words = (
            name.removesuffix("_transposed").replace("_no_strides", ", no strides")
            .replace("padding_strides", "padding, strides").replace("strides_odd", "strides, odd").replace("_", " ")
        )  # fmt: skip
        cases[f"Guide: {words} ({numbers})"] = {
            "kind": "transposed" if transposed else "conv",
            **settings,
        }
    return cases


def _settings(kind: str, preset: dict) -> dict:
    """The preset as JSON values: (h, w) lists, ints and a bool, each checked for its type only."""
    allowed = SETTINGS[kind]
    unknown = sorted(set(preset) - allowed)
    if unknown:
        raise error(
            f"embed({kind!r}, ...) got {', '.join(unknown)}, which {KINDS[kind]} does not take.",
            f"use only {', '.join(sorted(allowed))}.",
        )
    settings = {}
    for name, value in preset.items():
        if name in PAIRS:
            settings[name] = list(as_pair(value, name))
        elif name in NUMBERS:
            settings[name] = as_int(value, name)
        elif not isinstance(value, bool):
            raise error(f"{name} must be True or False, got {value!r}.", f"pass {name}=True or {name}=False.")
        else:
            settings[name] = value
    return settings


def describe(config: dict) -> str:
    """One sentence: the layer, its settings and the output size convlab.arithmetic gives (or why none)."""
    kind = config["kind"]
    shown = [
        f"{name} {show_size(config[name])}" if name in PAIRS else f"{name}={config[name]}"
        for name in ("input", "kernel", "stride", "padding", "dilation", "output_padding",
                     "in_channels", "out_channels", "groups", "ceil_mode")
        if name in config
    ]  # fmt: skip
    try:
        outcome = f"output {show_size(output_shape(config))}."
    except ConvlabError as exc:
        outcome = f"no output: {exc.problem} Fix: {exc.fix}"
    return f"{KINDS[kind]}: {', '.join(shown)} → {outcome}"


def output_shape(config: dict) -> tuple[int, int]:
    """convlab.arithmetic's (h, w) for an explorer config (the dict embed writes), or its ConvlabError."""
    kind = config["kind"]
    get = config.get
    if "input" not in config or "kernel" not in config:
        raise error("the explorer's config needs input and kernel.", "give embed(..., input=..., kernel=...).")
    if kind == "pool":
        return pool2d_output_shape(
            config["input"], config["kernel"], get("stride"), get("padding", 0), get("dilation", 1),
            get("ceil_mode", False),
        )
    channels = get("in_channels", 1), get("out_channels", 1), config["kernel"], get("groups", 1)
    conv2d_params(*channels)  # the channel and groups checks
    if kind == "conv":
        return conv2d_output_shape(
            config["input"], config["kernel"], get("stride", 1), get("padding", 0), get("dilation", 1)
        )
    return conv_transpose2d_output_shape(
        config["input"], config["kernel"], get("stride", 1), get("padding", 0), get("output_padding", 0),
        get("dilation", 1),
    )


def assets() -> dict[str, Path]:
    """The explorer's script and style, by kind ("js", "css")."""
    return {"js": ASSETS / "explorer.js", "css": ASSETS / "explorer.css"}


def _inline_assets() -> str:
    files = assets()
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise error(
            f"embed(..., inline=True) needs the explorer's script and style, and {', '.join(missing)} "
            "is missing: they live in the book's repository, not in an installed package.",
            "run from a clone of the repository (make lab, or pip install -e .), or read the built book, "
            "where embed() needs no inline=True.",
        )
    style = files["css"].read_text(encoding="utf-8")
    script = files["js"].read_text(encoding="utf-8").replace("</", "<\\/")
    return f"<style>{style}</style>\n<script>{script}</script>"
