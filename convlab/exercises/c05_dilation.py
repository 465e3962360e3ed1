"""Checks for chapter 05's exercises (solutions/05_dilation.ipynb): the span and output size of a
dilated kernel, recovering the small dilated kernel hidden in a bigger kernel with zeros, the
receptive field of a stack, the gridding effect and a broken segmentation model whose paddings do
not keep the size.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: real layers on small CPU tensors for sizes, F.conv2d for values, autograd through real
stacks with all weights one for what an output pixel sees, the task's architecture loaded with the
student's weights for a model. Random cases come from private generators, so checking never moves
the global RNG.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_int,
    as_shape,
    as_tensor,
    built,
    call,
    expect_module,
    generator,
    judge_model,
    question,
    same,
    short,
    sweep,
    value_of,
)

Q1_SPAN = {"kernel_size": 3, "dilation": 4}
Q1_OUT = {"kernel_size": (3, 5), "stride": 2, "padding": (2, 0), "dilation": (2, 3)}
Q1_INPUT = (25, 31)
Q1_KEEP = {"kernel_size": 5, "dilation": 3}
Q1_KEEP_SIZE = 32
Q4_DILATIONS = (2, 4, 6)
Q4_CANVAS = 41
AXES = ("height", "width")


def _layer_size(size, **options) -> tuple:
    """The output (height, width) of a real nn.Conv2d(1, 1, **options) on an input of that size."""
    layer = nn.Conv2d(1, 1, device="meta", **options)  # built on 'meta': no draw from the global RNG
    layer.weight = nn.Parameter(torch.zeros(layer.weight.shape))  # then given real zero weights
    layer.bias = nn.Parameter(torch.zeros(1))
    with torch.no_grad():
        return tuple(layer(torch.zeros(1, 1, *size)).shape[-2:])


@question("05.q1", points=2, title="Span, output size and padding with dilation",
          names=("span", "out_hw", "keep_padding"))
def q1(span, out_hw, keep_padding):
    # the span measured by torch: without padding and with stride 1, an input of n gives n - span + 1
    want_span = 40 - _layer_size((40, 40), **Q1_SPAN)[0] + 1
    got_span = as_int(span, "span")
    if got_span != want_span:
        if got_span == Q1_SPAN["kernel_size"] * Q1_SPAN["dilation"]:
            raise Wrong("span is k·d: the gaps lie only *between* taps, so there are k - 1 of them.")
        raise Wrong("span is wrong: count the k taps plus d - 1 skipped pixels in each of the k - 1 gaps.")
    got_out = as_shape(out_hw, "out_hw")
    want_out = _layer_size(Q1_INPUT, **Q1_OUT)
    if got_out != want_out:
        if len(got_out) != 2:
            raise Wrong(f"out_hw should be a pair (height, width), got {len(got_out)} numbers.")
        side = "height" if got_out[0] != want_out[0] else "width"
        raise Wrong(f"out_hw's {side} is wrong: put that dimension's span (its own kernel size and "
                    "dilation) into the output-size formula.")
    got_keep = as_int(keep_padding, "keep_padding")
    if got_keep < 0:
        raise Wrong("keep_padding cannot be negative.")
    if got_keep > 4 * Q1_KEEP_SIZE:
        raise Wrong(f"keep_padding = {got_keep} pads far more than the kernel spans.")
    size = _layer_size((Q1_KEEP_SIZE, Q1_KEEP_SIZE), padding=got_keep, **Q1_KEEP)[0]
    if size != Q1_KEEP_SIZE:
        raise Wrong(f"with padding={got_keep} the layer turns {Q1_KEEP_SIZE}×{Q1_KEEP_SIZE} into {size}×{size}; "
                    "the padding must make up for the whole span except the centre pixel.")


# --- 05.q2: the dilated kernel inside a bigger kernel with zeros -----------------------------------

# (out, in, (kH, dH), (kW, dW), rows that are zero in every slice, columns likewise): the big kernel
# is the small kH×kW one spread dH, dW pixels apart, with those rows/columns of the small one zeroed.
Q2_FIXED = [
    (1, 1, (3, 2), (3, 2), (), ()),
    (2, 3, (3, 3), (3, 1), (), ()),
    (1, 2, (1, 1), (3, 3), (), ()),          # a single row: nothing to spread along the height
    (2, 2, (5, 1), (5, 1), (), ()),          # no zeros at all: dilation 1
    (1, 1, (3, 2), (2, 3), (1,), ()),        # the middle tap zero: a wider dilation fits too
    (2, 1, (7, 1), (3, 2), (1, 2, 3, 5, 6), ()),  # nonzero rows 0 and 4 of 7: the last row is a tap
    (1, 2, (4, 2), (4, 3), (1,), (1, 2)),    # nonzero rows 0, 4, 6 of 7; columns 0 and 9 of 10
    (3, 2, (2, 4), (1, 1), (), ()),
]


def _draw_dilated(draw):
    kh, kw = draw.randint(1, 4), draw.randint(1, 4)
    zero_rows = tuple(r for r in range(1, kh - 1) if draw.random() < 0.3)
    zero_cols = tuple(c for c in range(1, kw - 1) if draw.random() < 0.3)
    return (draw.randint(1, 3), draw.randint(1, 3), (kh, draw.randint(1, 4)), (kw, draw.randint(1, 4)),
            zero_rows, zero_cols)


def _spread(small: torch.Tensor, dh: int, dw: int) -> torch.Tensor:
    """small with dh - 1 zero rows and dw - 1 zero columns between its taps (the chapter's construction)."""
    o, c, kh, kw = small.shape
    big = small.new_zeros(o, c, dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    big[:, :, ::dh, ::dw] = small
    return big


def _big_kernel(o, c, height, width, zero_rows, zero_cols, random_tensors) -> torch.Tensor:
    (kh, dh), (kw, dw) = height, width
    magnitude = torch.rand(o, c, kh, kw, generator=random_tensors, dtype=torch.float64) + 0.5
    sign = torch.randint(0, 2, (o, c, kh, kw), generator=random_tensors).to(torch.float64) * 2 - 1
    small = magnitude * sign
    small[:, :, list(zero_rows)] = 0
    small[:, :, :, list(zero_cols)] = 0
    if o * c > 1:  # some single weights zero too: a row is empty only when it is empty in every slice
        small[0, 0, 0, -1] = 0
    return _spread(small, dh, dw)


def _largest_dilation(kernel: torch.Tensor, x: torch.Tensor, axis: int) -> int:
    """The largest d along axis (2: height, 3: width) with which the taps alone compute what kernel does."""
    size = kernel.shape[axis]
    want = F.conv2d(x, kernel)
    for d in range(max(size - 1, 1), 0, -1):
        if (size - 1) % d:
            continue
        step = (d, 1) if axis == 2 else (1, d)
        taps = kernel[:, :, ::step[0], ::step[1]]
        if same(F.conv2d(x, taps, dilation=step), want):
            return d
    return 1


def _dilation_pair(value, shown: str) -> tuple:
    if type(value) is int:
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise Wrong(f"{shown} gives the dilation {short(value)}; it should be a pair (dH, dW) of ints.")
    pair = tuple(as_int(v, f"the dilation given by {shown}") for v in value)
    if min(pair) < 1:
        raise Wrong(f"{shown} gives the dilation {pair}; a dilation is at least 1.")
    return pair


@question("05.q2", points=3, title="A dilated kernel is a bigger kernel with zeros", names=("undilate_kernel",))
def q2(undilate_kernel):
    random_tensors = generator(502)
    for o, c, height, width, zero_rows, zero_cols in sweep(Q2_FIXED, _draw_dilated, 24, seed=502):
        kernel = _big_kernel(o, c, height, width, zero_rows, zero_cols, random_tensors)
        big_h, big_w = kernel.shape[-2:]
        x = torch.randn(1, c, big_h + 4, big_w + 5, generator=random_tensors, dtype=torch.float64)
        shown = f"undilate_kernel on a kernel of shape {tuple(kernel.shape)}"
        got = call(undilate_kernel, kernel, name="undilate_kernel")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Wrong(f"{shown} returned {short(got)}; it should return a pair (w, (dH, dW)).")
        got_w, got_d = got
        got_d = _dilation_pair(got_d, shown)
        want_d = (_largest_dilation(kernel, x, 2), _largest_dilation(kernel, x, 3))
        if got_d != want_d:
            if got_d[::-1] == want_d:
                raise Wrong(f"{shown} gives the dilation {got_d}: that is (width, height); give (dH, dW).")
            axis = 0 if got_d[0] != want_d[0] else 1
            size, d = kernel.shape[2 + axis], got_d[axis]
            if (size - 1) % d:
                raise Wrong(f"{shown} gives dilation {d} along the {AXES[axis]}, but the first and last "
                            f"of its {size} pixels there are both taps, and taps {d} apart cannot reach both.")
            if d > want_d[axis]:
                raise Wrong(f"{shown} gives dilation {d} along the {AXES[axis]}, but the kernel has nonzero "
                            f"weights between taps {d} apart there: the taps alone would lose them.")
            raise Wrong(f"{shown} gives dilation {d} along the {AXES[axis]}: that is a dilated kernel it "
                        "equals, but not the smallest one (a larger dilation also fits).")
        where = f"the w returned by {shown}"
        got_w = as_tensor(got_w, where)
        k = tuple((size - 1) // d + 1 for size, d in zip(kernel.shape[-2:], got_d))
        if tuple(got_w.shape) != (o, c, *k):
            raise Wrong(f"{where} has the shape {tuple(got_w.shape)}; it keeps the first two dimensions and "
                        f"holds one weight per tap: {k[0]}×{k[1]} taps for the dilation {got_d}.")
        if not same(F.conv2d(x, got_w, dilation=got_d), F.conv2d(x, kernel)):
            raise Wrong(f"with dilation {got_d}, {where} does not compute what the kernel does: w holds the "
                        "kernel's weights at the taps, in their order.")


# --- 05.q3 ------------------------------------------------------------------------------------


def _field_by_backprop(layers) -> int:
    """The receptive field of a stack of (k, s, d) convolutions, measured with autograd.

    The stack is real (F.conv2d, all weights one, no padding) on a tall 1-pixel-wide input; the
    gradient of the first output pixel is nonzero exactly at the input pixels it depends on.
    """
    jump = 1  # the product of all strides bounds every layer's step in input pixels
    for _, s, _ in layers:
        jump *= s
    rows = 1 + jump * sum(d * (k - 1) for k, _, d in layers)  # room for at least one output pixel
    x = torch.zeros(1, 1, rows, 1, dtype=torch.float64, requires_grad=True)
    h = x
    for k, s, d in layers:
        h = F.conv2d(h, torch.ones(1, 1, k, 1, dtype=torch.float64), stride=(s, 1), dilation=(d, 1))
    h[0, 0, 0, 0].backward()
    rows = torch.nonzero(x.grad[0, 0, :, 0])
    return int(rows.max() - rows.min() + 1)


def _draw_stack(draw):
    return [(draw.randint(1, 7), draw.randint(1, 3), draw.randint(1, 3)) for _ in range(draw.randint(1, 4))]


@question("05.q3", points=3, title="The receptive field of a stack", names=("receptive_field",))
def q3(receptive_field):
    fixed = [[(3, 1, 1)] * 3, [(3, 1, 1), (3, 1, 2), (3, 1, 4)], [(3, 1, 2)] * 3, [(7, 2, 1), (3, 2, 1)],
             [(3, 2, 1), (3, 1, 2)], [(5, 1, 3)], [(1, 1, 1)], [], [(2, 2, 1), (2, 2, 1), (2, 2, 1)],
             [(3, 1, 1), (2, 2, 1), (3, 1, 2), (3, 1, 4)], [(3, 2, 2), (3, 2, 2)]]
    for layers in sweep(fixed, _draw_stack, 40, seed=503):
        want = _field_by_backprop(layers)
        where = f"receptive_field({layers})"
        got = as_int(call(receptive_field, [tuple(layer) for layer in layers], name="receptive_field"), where)
        if got == want:
            continue
        if not layers:
            raise Wrong(f"{where} returned {got}: with no layers an output pixel is an input pixel.")
        if any(s > 1 for _, s, _ in layers[:-1]) and got == 1 + sum(d * (k - 1) for k, s, d in layers):
            raise Wrong(f"wrong for {layers}: got {got}; after a stride, one step of a later layer moves "
                        "several input pixels.")
        own_stride, jump = 1, 1
        for k, s, d in layers:
            jump *= s
            own_stride += d * (k - 1) * jump
        if any(s > 1 for _, s, _ in layers) and got == own_stride:
            raise Wrong(f"wrong for {layers}: got {got}; a layer's own stride does not widen its window, "
                        "only the steps of the layers after it.")
        if any(d > 1 for _, _, d in layers):
            raise Wrong(f"wrong for {layers}: got {got}, expected a different value (does your function "
                        "use each layer's dilation?).")
        raise Wrong(f"wrong for {layers}: got {got}, expected a different value.")


# --- 05.q4 ------------------------------------------------------------------------------------


def _seen(dilations, col_offset=0):
    """Input pixels that the centre output pixel (moved right by col_offset) depends on."""
    x = torch.zeros(1, 1, Q4_CANVAS, Q4_CANVAS, dtype=torch.float64, requires_grad=True)
    h = x
    for d in dilations:
        h = F.conv2d(h, torch.ones(1, 1, 3, 3, dtype=torch.float64), padding=d, dilation=d)
    centre = Q4_CANVAS // 2
    h[0, 0, centre, centre + col_offset].backward()
    return x.grad[0, 0] != 0


@question("05.q4", points=2, title="The gridding effect", names=("field", "n_seen", "neighbours_share"))
def q4(field, n_seen, neighbours_share):
    here, right = _seen(Q4_DILATIONS), _seen(Q4_DILATIONS, col_offset=1)
    rows, cols = torch.nonzero(here, as_tuple=True)
    want_field = int(rows.max() - rows.min() + 1)
    got_field = as_int(field, "field")
    if got_field != want_field:
        raise Wrong("field is wrong: it is the side of the square of input pixels between the farthest "
                    "ones the centre output depends on (1 + Σ d(k − 1) for stride 1).")
    got_seen = as_int(n_seen, "n_seen")
    if got_seen != int(here.sum()):
        if got_seen == want_field ** 2:
            raise Wrong("n_seen is the area of the whole field: with these dilations some pixels inside "
                        "it are never reached.")
        raise Wrong("n_seen is wrong: along each axis, list the offsets the three layers can add up to; "
                    "a pixel is seen when both its row and its column offset can be reached.")
    share = value_of(neighbours_share)
    if type(share) is not bool:
        raise Wrong(f"neighbours_share should be True or False, got {short(share)}.")
    if share != bool((here & right).any()):
        raise Wrong("neighbours_share is wrong: compare the column offsets the centre pixel can reach "
                    "with those of the pixel to its right.")


# --- 05.q5 ------------------------------------------------------------------------------------

# (in, out, kernel, dilation, padding) of each convolution of 05.q5's model, paddings corrected
SPEC = [(3, 16, 3, 1, 1), (16, 16, 3, 2, 2), (16, 16, 5, 3, 6), (16, 5, 1, 1, 0)]
Q5_SIZE = 32


def _segmenter(paddings=None) -> nn.Sequential:
    """The broken model's layers with paddings that keep the size (or the given ones, to test a guess)."""
    layers = []
    for number, (c_in, c_out, k, d, p) in enumerate(SPEC):
        padding = paddings[number] if paddings else p
        layers += [nn.Conv2d(c_in, c_out, k, padding=padding, dilation=d), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _one_wrong_padding() -> list:
    """Mistakes for judge_model: the task's model with one convolution's padding changed, and what that does."""
    mistakes = []
    for number, (_, _, _, _, p) in enumerate(SPEC):
        for wrong in range(0, p + 4):
            if wrong == p:
                continue
            paddings = [spec[4] for spec in SPEC]
            paddings[number] = wrong
            size = Q5_SIZE + 2 * (wrong - p)
            mistakes.append((lambda paddings=paddings: _segmenter(paddings),
                             f"computes the task's model with convolution {number + 1} turning its input into "
                             f"{size}×{size}; every layer should keep {Q5_SIZE}×{Q5_SIZE}."))
    return mistakes


@question("05.q5", points=3, title="Fix a broken model", names=("fixed_model",))
def q5(fixed_model):
    expect_module(fixed_model, "fixed_model")
    pairs = fixed_model.state_dict()
    kernels = [tuple(t.shape) for _, t in pairs if t.ndim == 4]
    if kernels != [(c_out, c_in, k, k) for c_in, c_out, k, _, _ in SPEC]:
        raise Wrong("keep the convolutions of the broken model (channels, kernel sizes, dilations, "
                    "stride 1); only paddings are wrong.")
    random_tensors = generator(505)
    probes = [torch.rand(2, 3, Q5_SIZE, Q5_SIZE, generator=random_tensors),
              torch.randn(1, 3, Q5_SIZE, Q5_SIZE, generator=random_tensors)]
    judge_model(fixed_model, built(_segmenter), probes, "fixed_model", pairs=pairs, mistakes=_one_wrong_padding(),
                otherwise="computes something else than the task's layers with your weights: check every "
                          "convolution's dilation and padding (a padding that shrinks one layer and grows another "
                          "keeps the size but shifts the picture), and the ReLUs.")
