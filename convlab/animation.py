"""Conv-arithmetic animations in the style of Dumoulin & Visin's guide, as HTML.

    anim = animate_conv(5, 3, stride=2, padding=1)
    to_html(anim)                 # plays in a static page, no kernel needed

Every animate_* function returns a matplotlib FuncAnimation. The sliding ones
(conv, transposed, pool) have one frame per output cell; each frame shows the
kernel's taps on the (padded) input and the output cell they write. Each
animation carries ``output_size``, the (h, w) it drew, taken from
convlab.arithmetic, and ``update``, its frame-drawing function.

Figures are plain matplotlib Figures with an Agg canvas, never pyplot's: building
an animation leaves nothing open that a notebook would also show as a PNG.
"""

import base64
import io
import itertools
import math
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import PIL.Image
from matplotlib.animation import Animation, FuncAnimation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from convlab.arithmetic import (
    conv2d_output_shape,
    conv2d_padding,
    conv2d_params,
    conv_transpose2d_output_shape,
    effective_kernel_size,
    pool2d_output_shape,
)
from convlab.errors import error
from convlab.plotting import KERNEL_CMAP
from convlab.validate import as_int, nonnegative_pair, positive_pair

MAX_FRAMES = 400  # output cells (frames) one animation may have
MAX_GRID = 32  # cells per side of a drawn input grid
MAX_CHANNELS = 8  # channels animate_channels draws
MAX_GROUP_CHANNELS = 16  # channel boxes per side animate_groups draws
EMBED_LIMIT_MB = 20  # the largest animation the guards allow is far below this
PALETTE_COLOURS = 64  # per frame in to_html; the figures use a dozen flat colours and their edges
FIG_WIDTH = 4.5  # inches
DPI = 72

# The guide's animations (github.com/vdumoulin/conv_arithmetic), by the guide's names.
# A name ending in "_transposed" is for animate_transposed (see animate_guide): it maps
# the direct conv's output size back to its input size.
GUIDE_EXAMPLES = {
    "no_padding_no_strides": {"input_size": 4, "kernel_size": 3},
    "arbitrary_padding_no_strides": {"input_size": 5, "kernel_size": 4, "padding": 2},
    "same_padding_no_strides": {"input_size": 5, "kernel_size": 3, "padding": 1},
    "full_padding_no_strides": {"input_size": 5, "kernel_size": 3, "padding": 2},
    "no_padding_strides": {"input_size": 5, "kernel_size": 3, "stride": 2},
    "padding_strides": {"input_size": 5, "kernel_size": 3, "stride": 2, "padding": 1},
    "padding_strides_odd": {"input_size": 6, "kernel_size": 3, "stride": 2, "padding": 1},
    "dilation": {"input_size": 7, "kernel_size": 3, "dilation": 2},
    "no_padding_no_strides_transposed": {"input_size": 2, "kernel_size": 3},
    "arbitrary_padding_no_strides_transposed": {"input_size": 6, "kernel_size": 4, "padding": 2},
    "same_padding_no_strides_transposed": {"input_size": 5, "kernel_size": 3, "padding": 1},
    "full_padding_no_strides_transposed": {"input_size": 7, "kernel_size": 3, "padding": 2},
    "no_padding_strides_transposed": {"input_size": 2, "kernel_size": 3, "stride": 2},
    "padding_strides_transposed": {"input_size": 3, "kernel_size": 3, "stride": 2, "padding": 1},
    "padding_strides_odd_transposed": {
        "input_size": 3, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1,
    },
}

# How each kind of input cell looks, and its legend entry.
CELL_STYLES = {
    "input": ({"facecolor": "#9ecae1", "edgecolor": "#3182bd", "linestyle": "-"}, "input"),
    "padding": ({"facecolor": "white", "edgecolor": "#969696", "linestyle": "--"}, "padding"),
    "zero": ({"facecolor": "#eaf2fa", "edgecolor": "#3182bd", "linestyle": ":"}, "inserted zero"),
    "extra": ({"facecolor": "white", "edgecolor": "#e6550d", "linestyle": "--"}, "output_padding"),
    "cropped": ({"facecolor": "#eeeeee", "edgecolor": "#bdbdbd", "linestyle": "-", "hatch": "xxx"}, "cropped"),
    "output": ({"facecolor": "white", "edgecolor": "#31a354", "linestyle": "-"}, "output"),
}
TAP = "#08306b"
TAP_FILL = to_rgba(TAP, 0.55)
TAP_LIGHT = to_rgba(TAP, 0.3)  # over cells with numbers in them
WRITTEN = "#a1d99b"
GROUP_COLOURS = ["#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc", "#fc9272", "#c7e9c0", "#dadaeb", "#fdd0a2"]


# ---------------------------------------------------------------- public API


def animate_conv(input_size, kernel_size, stride=1, padding=0, dilation=1, *, interval=600):
    """nn.Conv2d's window sliding over the padded input, one output cell per frame."""
    _check_interval(interval)
    size = positive_pair(input_size, "input_size")
    kernel = positive_pair(kernel_size, "kernel_size")
    strides = positive_pair(stride, "stride")
    dil = positive_pair(dilation, "dilation")
    out = conv2d_output_shape(size, kernel, strides, padding, dil)
    pads = conv2d_padding(padding, kernel, strides, dil)
    grid = _padded_grid(size, pads)
    title = (
        f"Conv2d: i={_fmt(size)}, k={_fmt(kernel)}, s={_fmt(strides)}, "
        f"p={_fmt_padding(padding, pads)}, d={_fmt(dil)} → o={_fmt(out)}"
    )
    label = "input, padded" if "padding" in grid else "input"
    return _sliding(grid, kernel, strides, dil, out, (0, 0), [title], label, interval)


def animate_transposed(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1, *, interval=600):
    """nn.ConvTranspose2d drawn as the guide draws it: a stride-1 conv over the input with
    s - 1 zeros inserted between pixels and d(k - 1) - p padding around it (a negative
    amount crops), plus output_padding more at the bottom and right."""
    _check_interval(interval)
    size = positive_pair(input_size, "input_size")
    kernel = positive_pair(kernel_size, "kernel_size")
    strides = positive_pair(stride, "stride")
    out = conv_transpose2d_output_shape(size, kernel, strides, padding, output_padding, dilation)
    pads = nonnegative_pair(padding, "padding")
    extra = nonnegative_pair(output_padding, "output_padding")
    dil = positive_pair(dilation, "dilation")
    axes = [_transposed_axis(*args) for args in zip(size, kernel, strides, pads, extra, dil)]
    grid = _combine(*(kinds for kinds, _, _ in axes))
    offset = tuple(start for _, start, _ in axes)
    around = [before for _, _, before in axes]
    lines = [
        f"ConvTranspose2d: i={_fmt(size)}, k={_fmt(kernel)}, s={_fmt(strides)}, p={_fmt(pads)}, "
        f"a={_fmt(extra)}, d={_fmt(dil)} → o={_fmt(out)}",
        f"= a stride-1 conv over the input with s−1={_fmt([s - 1 for s in strides])} zeros between pixels,",
        f"padded d(k−1)−p={_fmt(around)}" + (" (negative: cropped)" if min(around) < 0 else "")
        + (f", +a={_fmt(extra)} at the bottom/right" if max(extra) else ""),
    ]
    return _sliding(grid, kernel, (1, 1), dil, out, offset, lines, "input, stretched and padded", interval)


def animate_pool(input_size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *, interval=600):
    """nn.MaxPool2d's window, one output cell per frame; with ceil_mode the last window may
    hang past the padded input, and only the cells inside it count."""
    _check_interval(interval)
    if not isinstance(ceil_mode, bool):
        raise error(f"ceil_mode must be True or False, got {ceil_mode!r}.", "pass ceil_mode=True or ceil_mode=False.")
    size = positive_pair(input_size, "input_size")
    kernel = positive_pair(kernel_size, "kernel_size")
    out = pool2d_output_shape(size, kernel, stride, padding, dilation, ceil_mode)
    strides = kernel if stride is None else positive_pair(stride, "stride")
    pads = nonnegative_pair(padding, "padding")
    dil = positive_pair(dilation, "dilation")
    grid = _padded_grid(size, tuple((p, p) for p in pads))
    title = (
        f"MaxPool2d: i={_fmt(size)}, k={_fmt(kernel)}, s={_fmt(strides)}, p={_fmt(pads)}, "
        f"d={_fmt(dil)}, ceil_mode={ceil_mode} → o={_fmt(out)}"
    )
    label = "input, padded" if "padding" in grid else "input"
    return _sliding(grid, kernel, strides, dil, out, (0, 0), [title], label, interval)


def animate_guide(name: str, *, interval=600):
    """One of the guide's animations by its name in GUIDE_EXAMPLES."""
    if not isinstance(name, str) or name not in GUIDE_EXAMPLES:
        raise error(f"No guide example called {name!r}.", f"use one of {sorted(GUIDE_EXAMPLES)}.")
    animate = animate_transposed if name.endswith("_transposed") else animate_conv
    return animate(**GUIDE_EXAMPLES[name], interval=interval)


def animate_channels(in_channels=3, out_channels=2, input_size=5, kernel_size=3, *, interval=500):
    """A multi-channel conv (stride 1, no padding, no bias) on small whole numbers.

    Kernel o has one slice per input channel; each slice multiplies its window of its
    channel, and the per-channel sums add up to one cell of output map o. The numbers
    drawn are ``animation.inputs`` (in, H, W), ``animation.weight`` (out, in, kH, kW)
    and ``animation.output`` (out, H', W'), which equals F.conv2d of the first two.
    """
    _check_interval(interval)
    c_in = _channel_count(in_channels, "in_channels", MAX_CHANNELS)
    c_out = _channel_count(out_channels, "out_channels", MAX_CHANNELS)
    size = positive_pair(input_size, "input_size")
    kernel = positive_pair(kernel_size, "kernel_size")
    (h, w), (kh, kw) = size, kernel
    oh, ow = conv2d_output_shape(size, kernel)
    _check_frames(c_out * oh * ow, f"{c_out} output maps of {_fmt((oh, ow))}", "fewer out_channels or a smaller input")
    _check_grid((h, w))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(c_in, h, w))
    weight = rng.integers(-1, 2, size=(c_out, c_in, kh, kw))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # (in, oh, ow, kh, kw)
    partial = np.einsum("irckl,oikl->oirc", windows, weight)  # per output map, per input slice
    output = partial.sum(axis=1)

    band = max(h, kh) + 1  # rows per input channel
    x_kernel, x_out = w + 1.5, w + kw + 5.0
    height = max(c_in * band, c_out * (oh + 1)) - 1
    map_tops = [o * (oh + 1) + (height - c_out * (oh + 1) + 1) / 2 for o in range(c_out)]
    norm = matplotlib.colors.Normalize(-2.5, 2.5)
    cmap = matplotlib.colormaps[KERNEL_CMAP]
    drawn = {}

    def draw_static(fig, ax, o):  # everything but the window, the sums and the unwritten cells
        fig.texts[0].set_text(f"Conv2d({c_in}, {c_out}, {_fmt(kernel)}): kernel {o} has {c_in} slices, "
                              "one per input channel")
        ax.text(x_kernel + kw / 2, -0.15, f"kernel {o}", ha="center", va="bottom", fontsize=7)
        for i in range(c_in):
            drawn["input", i] = _draw_cells(ax, np.full((h, w), "input", object), (i * band, 0), values=x[i])
            ax.text(-0.3, i * band + h / 2, f"in {i}", ha="right", va="center", fontsize=7)
            slice_cells = _draw_cells(ax, np.full((kh, kw), "input", object), (i * band + (h - kh) / 2, x_kernel),
                                      values=weight[o, i])
            for (a, b), patch in np.ndenumerate(slice_cells.patches):
                patch.set_facecolor(cmap(norm(weight[o, i, a, b])))
            drawn["kernel", i] = slice_cells
        for m, top in enumerate(map_tops):
            drawn["output", m] = _draw_cells(ax, np.full((oh, ow), "output", object), (top, x_out), values=output[m])
            for patch in drawn["output", m].patches.flat:
                patch.set_facecolor(WRITTEN)
            ax.text(x_out + ow / 2, top - 0.15, f"map {m}", ha="center", va="bottom", fontsize=7)

    fig, ax, backdrop = _layered(x_out + ow, height, 2, 0, draw_static)
    footprints = [_Footprint(ax, kernel, (1, 1), fill=TAP_LIGHT) for _ in range(c_in)]
    sums = [ax.text(x_kernel + kw + 0.3, i * band + h / 2, "", ha="left", va="center", fontsize=7)
            for i in range(c_in)]
    cover = _Overlay(ax, [(top + r, x_out + c) for top in map_tops for r in range(oh) for c in range(ow)])
    sum_line = fig.texts[1]

    def update(frame):
        o, cell = divmod(frame, oh * ow)
        r, c = divmod(cell, ow)
        backdrop.show(o)
        for i in range(c_in):
            footprints[i].place(i * band + r, c, inside=lambda y, x_: True)
            sums[i].set_text(f"Σ = {partial[o, i, r, c]}")
        cover.show(frame, written="none", current=TAP_LIGHT, unwritten="white")  # written cells show the background
        terms = " + ".join(f"({v})" if v < 0 else str(v) for v in partial[o, :, r, c])
        sum_line.set_text(f"map {o}[{r}, {c}] = {terms} = {output[o, r, c]}")

    anim = _finish(fig, update, c_out * oh * ow, interval, (oh, ow))
    update(0)  # draws kernel 0's backdrop, so grid_shapes below describes what is drawn
    anim.inputs, anim.weight, anim.output = x, weight, output
    anim.grid_shapes = {  # as drawn: (count, rows, columns) of each kind of grid
        kind: (sum(k == kind for k, _ in drawn), *drawn[kind, 0].patches.shape)
        for kind in ("input", "kernel", "output")
    }
    return anim


def animate_groups(in_channels=4, out_channels=4, groups=2, *, kernel_size=3, interval=1200):
    """Which input channels feed which output channels in nn.Conv2d(..., groups=g).

    One frame per group: its in/groups input channels, its out/groups output channels
    and a line for every kernel slice joining them. ``animation.connections`` lists,
    per group, the (input, output) channel pairs drawn.
    """
    _check_interval(interval)
    params = conv2d_params(in_channels, out_channels, kernel_size, groups, bias=False)  # checks groups divides
    c_in = _channel_count(in_channels, "in_channels", MAX_GROUP_CHANNELS)
    c_out = _channel_count(out_channels, "out_channels", MAX_GROUP_CHANNELS)
    g = as_int(groups, "groups")
    kh, kw = positive_pair(kernel_size, "kernel_size")
    per_in, per_out = c_in // g, c_out // g
    rows = max(c_in, c_out)
    fig, ax = _figure(7.0, rows, n_title_lines=3, legend_rows=0)
    boxes, links = {}, []
    for side, count, x in (("in", c_in, 0.0), ("out", c_out, 5.0)):
        top = (rows - count) / 2
        ax.text(x + 1.0, -0.1, f"{side}put channels", ha="center", va="bottom", fontsize=7)
        for n in range(count):
            group = n // (per_in if side == "in" else per_out)
            box = Rectangle((x, top + n + 0.1), 2.0, 0.8, facecolor=GROUP_COLOURS[group % len(GROUP_COLOURS)],
                            edgecolor="#636363", linewidth=0.8)
            ax.add_patch(box)
            ax.text(x + 1.0, top + n + 0.5, f"{side} {n}", ha="center", va="center", fontsize=7)
            boxes[side, n] = box
    for group in range(g):
        pairs = list(itertools.product(range(group * per_in, (group + 1) * per_in),
                                       range(group * per_out, (group + 1) * per_out)))
        lines = []
        for i, o in pairs:
            (x0, y0), (x1, y1) = _box_edge(boxes["in", i], right=True), _box_edge(boxes["out", o], right=False)
            lines.append(ax.add_line(Line2D([x0, x1], [y0, y1], color="#bdbdbd", linewidth=0.6)))
        links.append((pairs, lines))
    title, detail, shape_line = fig.texts[:3]
    dense = conv2d_params(c_in, c_out, (kh, kw), 1, bias=False)

    def update(frame):
        for group, (_, lines) in enumerate(links):
            for line in lines:
                line.set_color(TAP if group == frame else "#d9d9d9")
                line.set_linewidth(1.6 if group == frame else 0.6)
                line.set_zorder(3 if group == frame else 1)
        for (side, n), box in boxes.items():
            group = n // (per_in if side == "in" else per_out)
            box.set_linewidth(2.0 if group == frame else 0.8)
            box.set_edgecolor(TAP if group == frame else "#636363")
        ins = f"in {frame * per_in}–{(frame + 1) * per_in - 1}" if per_in > 1 else f"in {frame * per_in}"
        outs = f"out {frame * per_out}–{(frame + 1) * per_out - 1}" if per_out > 1 else f"out {frame * per_out}"
        title.set_text(f"Conv2d({c_in}, {c_out}, {_fmt((kh, kw))}, groups={g}): group {frame} of {g}: {ins} → {outs}")
        detail.set_text(f"each kernel sees in/groups = {c_in}/{g} = {per_in} input channel{'s' * (per_in > 1)}")
        shape_line.set_text(f"weight (out, in/groups, kH, kW) = ({c_out}, {per_in}, {kh}, {kw}): {params:,} weights "
                            f"(groups=1: {dense:,})")

    anim = _finish(fig, update, g, interval, None)
    anim.connections = [pairs for pairs, _ in links]
    anim.boxes = {"in": sum(side == "in" for side, _ in boxes), "out": sum(side == "out" for side, _ in boxes)}
    anim.weight_shape = (c_out, per_in, kh, kw)
    return anim


def to_html(animation):
    """An IPython HTML object of the animation's JavaScript player (``to_jshtml``, looping),
    which plays in a static page. Its PNG frames are re-saved with a small palette (flat
    colours, so nothing visible changes) to make the page about four times lighter.
    Closes the figure, so a notebook shows no static PNG beside the player."""
    from IPython.display import HTML

    if not isinstance(animation, Animation):
        raise error(
            f"to_html needs a matplotlib animation, got {type(animation).__name__}.",
            "pass what animate_conv(...) (or another animate_* function) returned.",
        )
    settings = {
        # frames past the limit would be dropped with only a log message; MAX_FRAMES keeps us far below it
        "animation.embed_limit": max(float(matplotlib.rcParams["animation.embed_limit"]), EMBED_LIMIT_MB),
        "animation.frame_format": "png",
        "savefig.dpi": "figure",
    }
    with matplotlib.rc_context(settings):
        html = animation.to_jshtml(default_mode="loop")
    plt.close(animation._fig)  # a no-op for convlab's own figures, which pyplot never held
    html = _FONT_AWESOME_LINK.sub("", html)
    return HTML(_FRAME.sub(_palette_frame, html))


_FRAME = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\\\n]+)")
# matplotlib's player links Font Awesome from a CDN; a page of the book asks no other host
# for anything, and the book's theme already serves Font Awesome for the player's icons.
_FONT_AWESOME_LINK = re.compile(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">\s*')


def _palette_frame(match) -> str:
    data = base64.b64decode(match.group(1).replace("\\\n", ""))
    image = PIL.Image.open(io.BytesIO(data)).convert("RGB")
    small = io.BytesIO()
    palette = image.quantize(PALETTE_COLOURS, method=PIL.Image.Quantize.FASTOCTREE, dither=PIL.Image.Dither.NONE)
    palette.save(small, format="png")
    return "data:image/png;base64," + base64.b64encode(small.getvalue()).decode("ascii")


# ---------------------------------------------------------------- sliding windows


def _sliding(grid, kernel, strides, dil, out, offset, title_lines, input_label, interval):
    """Animate a kernel over a grid of cell kinds; output cell (r, c)'s window starts at
    offset + (r, c) * strides. Windows may hang past the grid (pooling's ceil_mode)."""
    oh, ow = out
    _check_frames(oh * ow, f"an output of {_size(out)}", "use a smaller input, or a larger stride")
    _check_grid(grid.shape)
    span = effective_kernel_size(kernel, dil)
    reach = [max(n, start + (o - 1) * s + e) for n, start, o, s, e in zip(grid.shape, offset, out, strides, span)]
    x_out = reach[1] + 1.5
    top_out = (reach[0] - oh) / 2
    overhangs = any(r > n for r, n in zip(reach, grid.shape))
    kinds = [kind for kind in CELL_STYLES if kind in grid] + (["outside"] if overhangs else [])

    def draw_static(fig, ax, _):
        for text, line in zip(fig.texts, title_lines):
            text.set_text(line)
        _draw_cells(ax, grid, (0, 0))
        _draw_cells(ax, np.full(out, "output", object), (top_out, x_out))
        ax.text(grid.shape[1] / 2, -0.2, f"{input_label} ({_size(grid.shape)})", ha="center", va="bottom", fontsize=7)
        ax.text(x_out + ow / 2, top_out - 0.2, f"output ({_size(out)})", ha="center", va="bottom", fontsize=7)
        _legend(fig, kinds)

    legend_rows = math.ceil((len(kinds) + 2) / 4)
    fig, ax, backdrop = _layered(x_out + ow, max(reach[0], oh), len(title_lines), legend_rows, draw_static)
    footprint = _Footprint(ax, kernel, dil)
    cells = _Overlay(ax, [(top_out + r, x_out + c) for r in range(oh) for c in range(ow)])

    def inside(y, x):
        return 0 <= y < grid.shape[0] and 0 <= x < grid.shape[1]

    def corner(frame):
        r, c = divmod(frame, ow)
        return offset[0] + r * strides[0], offset[1] + c * strides[1]

    def update(frame):
        backdrop.show()
        footprint.place(*corner(frame), inside)
        cells.show(frame, written=WRITTEN, current=TAP_FILL, unwritten="none")

    anim = _finish(fig, update, oh * ow, interval, out)
    anim.title = "\n".join(title_lines)
    anim.grid = grid  # the kind of each drawn input cell: "input", "padding", "zero", "extra", "cropped"
    anim.taps = lambda frame: footprint.taps(*corner(frame))  # (row, col) in grid of each tap, per frame
    return anim


class _Footprint:
    """The kernel's taps (dilation gaps between them) and an outline of the span they cover."""

    def __init__(self, ax, kernel, dil, fill=TAP_FILL):
        self.kernel, self.dil = kernel, dil
        span = effective_kernel_size(kernel, dil)
        self.outline = ax.add_patch(Rectangle((0, 0), span[1], span[0], fill=False, edgecolor=TAP,
                                              linewidth=1.6, zorder=4))
        self.taps_drawn = [ax.add_patch(Rectangle((0, 0), 1, 1, facecolor=fill, edgecolor=TAP, linewidth=0.8, zorder=3))
                     for _ in range(kernel[0] * kernel[1])]

    def taps(self, top, left):
        """(row, col) of every tap when the window's top-left corner is at (top, left)."""
        return [(top + a * self.dil[0], left + b * self.dil[1]) for a, b in np.ndindex(*self.kernel)]

    def place(self, top, left, inside):
        self.outline.set_xy((left, top))
        for (y, x), tap in zip(self.taps(top, left), self.taps_drawn):
            tap.set_xy((x, y))
            tap.set_fill(inside(y, x))
            tap.set_linestyle("-" if inside(y, x) else ":")


class _Overlay:
    """Output cells drawn over the background, in order: written, current, not yet written."""

    def __init__(self, ax, corners):
        self.cells = ax.add_collection(PatchCollection(
            [Rectangle((x, y), 1, 1) for y, x in corners], edgecolor=CELL_STYLES["output"][0]["edgecolor"],
            linewidth=0.8, zorder=2))

    def show(self, frame, written, current, unwritten):
        colours = [written] * frame + [current] + [unwritten] * (len(self.cells.get_paths()) - frame - 1)
        self.cells.set_facecolor(colours)


class _Cells:
    def __init__(self, patches, texts):
        self.patches, self.texts = patches, texts


def _draw_cells(ax, kinds, origin, values=None):
    """One Rectangle per cell, styled by its kind; top-left corner at origin (row, col).
    values (optional) are written in the cells; returns the patches (and texts) as arrays."""
    top, left = origin
    patches = np.empty(kinds.shape, dtype=object)
    texts = np.empty(kinds.shape, dtype=object)
    for (r, c), kind in np.ndenumerate(kinds):
        style, _ = CELL_STYLES[kind]
        patches[r, c] = ax.add_patch(Rectangle((left + c, top + r), 1, 1, linewidth=0.8, **style))
        if values is not None:
            texts[r, c] = ax.text(left + c + 0.5, top + r + 0.5, str(values[r, c]), ha="center", va="center",
                                  fontsize=6, zorder=5)
    return _Cells(patches, texts)


def _padded_grid(size, pads):
    (h, w), ((top, bottom), (left, right)) = size, pads
    _check_grid((h + top + bottom, w + left + right))
    grid = np.full((h + top + bottom, w + left + right), "padding", dtype=object)
    grid[top:top + h, left:left + w] = "input"
    return grid


def _transposed_axis(i, k, s, p, a, d):
    """One dimension of the transposed conv's equivalent direct conv.

    Returns the kind of each drawn cell, where the first window starts, and the padding
    d(k - 1) - p placed before the stretched input (negative: that much is cropped)."""
    stretched = (i - 1) * s + 1
    before = d * (k - 1) - p
    after = before + a
    drawn = range(-max(before, 0), stretched + max(after, 0))  # positions in the stretched input
    _check_grid((len(drawn), 1))

    def kind(pos):
        if pos < -before or pos >= stretched + after:
            return "cropped"
        if pos < 0:
            return "padding"
        if pos >= stretched:
            return "extra" if pos >= stretched + max(before, 0) else "padding"
        return "input" if pos % s == 0 else "zero"

    return [kind(pos) for pos in drawn], max(-before, 0), before


def _combine(rows, cols):
    """2-D kinds from per-row and per-column kinds: the more 'unusual' kind wins."""
    order = ["input", "zero", "padding", "extra", "cropped"]
    return np.array([[max(r, c, key=order.index) for c in cols] for r in rows], dtype=object)


# ---------------------------------------------------------------- figures


def _figure(width_units, height_units, n_title_lines, legend_rows):
    """A figure FIG_WIDTH inches wide whose one axes shows width_units × height_units
    cells (y down), with room for title lines above and legend rows below."""
    title_in, legend_in, label_in = 0.18 * n_title_lines + 0.08, 0.2 * legend_rows + 0.04 * bool(legend_rows), 0.2
    unit = min((FIG_WIDTH - 0.2) / (width_units + 1), 4.2 / (height_units + 1))
    axes_in = unit * (height_units + 1) + label_in
    height = axes_in + title_in + legend_in
    fig = Figure(figsize=(FIG_WIDTH, height), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, legend_in / height, 0.96, axes_in / height))
    ax.set_xlim(-0.5, width_units + 0.5)
    ax.set_ylim(height_units + 0.5, -0.5 - label_in / unit)
    ax.set_aspect("equal")
    ax.set_axis_off()
    for line in range(n_title_lines):
        fig.text(0.5, 1 - (0.06 + 0.18 * line) / height, "", ha="center", va="top",
                 fontsize=8 if line else 9, weight="normal" if line else "bold")
    return fig, ax


class _Backdrop:
    """The still part of a figure, drawn into an image behind the axes that holds what moves,
    so a frame costs a few patches, not the whole scene. Drawn on first use, once per variant
    (animate_channels has one per kernel): draw_static(fig, ax, variant) draws it on a
    scratch figure with the same layout."""

    def __init__(self, fig, layout, draw_static):
        self.layout, self.draw_static, self.images = layout, draw_static, {}
        back = fig.add_axes((0, 0, 1, 1), zorder=-1)
        back.set_axis_off()
        self.image = back.imshow(np.ones((1, 1, 3)), interpolation="nearest", aspect="auto", extent=(0, 1, 0, 1))
        back.set_xlim(0, 1)
        back.set_ylim(0, 1)

    def show(self, variant=None):
        if variant not in self.images:
            scratch, ax = _figure(*self.layout)
            self.draw_static(scratch, ax, variant)
            scratch.canvas.draw()
            self.images[variant] = np.asarray(scratch.canvas.buffer_rgba()).copy()
        self.image.set_data(self.images[variant])


def _layered(width_units, height_units, n_title_lines, legend_rows, draw_static):
    """A _figure whose axes holds only what moves, in front of a _Backdrop of the rest."""
    layout = (width_units, height_units, n_title_lines, legend_rows)
    fig, ax = _figure(*layout)
    ax.patch.set_visible(False)
    return fig, ax, _Backdrop(fig, layout, draw_static)


def _legend(fig, kinds):
    handles = [Patch(label=CELL_STYLES[k][1], linewidth=0.8, **CELL_STYLES[k][0]) for k in kinds if k != "outside"]
    handles.append(Patch(facecolor=TAP_FILL, edgecolor=TAP, label="kernel taps"))
    handles.append(Patch(facecolor=WRITTEN, edgecolor=CELL_STYLES["output"][0]["edgecolor"], label="written"))
    if "outside" in kinds:
        handles.append(Patch(fill=False, edgecolor=TAP, linestyle=":", label="past the input: ignored"))
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False, handlelength=1.0,
               handleheight=1.0, columnspacing=0.8, borderaxespad=0.1)


def _box_edge(box, right):
    x, y = box.get_xy()
    return (x + box.get_width() if right else x), y + box.get_height() / 2


class _Animation(FuncAnimation):
    """A FuncAnimation that carries what it drew: ``output_size``, ``frame_count``, ``figure``
    and ``update`` (draws one frame). It stays quiet when dropped unrendered (matplotlib would
    warn, at some later garbage collection): chapters build some only to read their sizes."""

    def __del__(self):
        pass


def _finish(fig, update, frames, interval, output_size):
    anim = _Animation(fig, update, frames=frames, interval=interval, blit=False, cache_frame_data=False)
    anim.update, anim.output_size, anim.frame_count, anim.figure = update, output_size, frames, fig
    return anim


# ---------------------------------------------------------------- guards and words


def _check_frames(count, what, fix):
    if count > MAX_FRAMES:
        raise error(
            f"This animation would need {count} frames ({what}); at most {MAX_FRAMES} are drawn, "
            "so the page stays small and the animation short enough to watch.",
            f"{fix}: the arithmetic is the same at any size.",
        )


def _check_interval(interval):
    if as_int(interval, "interval") < 1:
        raise error(f"interval is the milliseconds between frames, got {interval}.", "use e.g. interval=600.")


def _check_grid(shape):
    if max(shape) > MAX_GRID:
        raise error(
            f"The input grid would be {_fmt(shape)} cells; at most {MAX_GRID} per side are drawn legibly.",
            "use a smaller input_size (or padding): the arithmetic is the same at any size.",
        )


def _channel_count(value, name, limit):
    count = as_int(value, name)
    if not 1 <= count <= limit:
        raise error(f"{name} must be between 1 and {limit} here, got {count}.",
                    f"use at most {limit} {name}: more boxes than that are not readable.")
    return count


def _fmt(pair) -> str:
    pair = tuple(pair)
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def _size(pair) -> str:
    return "×".join(str(n) for n in pair)


def _fmt_padding(padding, pads) -> str:
    if isinstance(padding, str):
        return repr(padding)
    return _fmt([before for before, _ in pads])
