"""Checks for chapter 05's exercises (solutions/05_dilation.ipynb): the span and output size of a
dilated kernel, the equivalent kernel with zeros inserted, the receptive field of a stack, the
gridding effect and a broken segmentation model whose paddings do not keep the size.

Expected values come from torch itself (real layers on small CPU tensors for sizes, F.conv2d for values,
autograd through real stacks with all weights one for what an output pixel sees); random cases come
from private generators, so checking never moves the global RNG.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_int,
    as_shape,
    as_tensor,
    call,
    expect_shape,
    place,
    question,
    rng,
    run_recording_sizes,
)

Q1_SPAN = {"kernel_size": 3, "dilation": 4}
Q1_OUT = {"kernel_size": (3, 5), "stride": 2, "padding": (2, 0), "dilation": (2, 3)}
Q1_INPUT = (25, 31)
Q1_KEEP = {"kernel_size": 5, "dilation": 3}
Q1_KEEP_SIZE = 32
Q4_DILATIONS = (2, 4, 6)
Q4_CANVAS = 41


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
    size = _layer_size((Q1_KEEP_SIZE, Q1_KEEP_SIZE), padding=got_keep, **Q1_KEEP)[0]
    if size != Q1_KEEP_SIZE:
        raise Wrong(f"with padding={got_keep} the layer turns {Q1_KEEP_SIZE}×{Q1_KEEP_SIZE} into {size}×{size}; "
                    "the padding must make up for the whole span except the centre pixel.")


@question("05.q2", points=3, title="A dilated kernel is a bigger kernel with zeros", names=("dilate_kernel",))
def q2(dilate_kernel):
    generator = torch.Generator().manual_seed(502)
    for (c_out, c_in, kh, kw), d in [((1, 1, 3, 3), 2), ((2, 3, 3, 3), 3), ((1, 2, 2, 4), 2), ((3, 1, 3, 2), 4),
                                     ((2, 2, 5, 5), 1), ((1, 1, 1, 3), 3), ((2, 1, 4, 4), 2)]:
        weight = torch.randn(c_out, c_in, kh, kw, generator=generator, dtype=torch.float64)
        x = torch.randn(1, c_in, 20, 21, generator=generator, dtype=torch.float64)
        want = F.conv2d(x, weight, dilation=d)
        spans = tuple(size - o + 1 for size, o in zip(x.shape[-2:], want.shape[-2:]))  # measured by torch
        got = as_tensor(call(dilate_kernel, weight.clone(), d), "dilate_kernel")
        where = f"for a {kh}×{kw} kernel and d={d}"
        if tuple(got.shape) != (c_out, c_in, *spans):
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; keep the first two dimensions and "
                        "make each kernel as large as the span of the dilated one.")
        if not torch.allclose(F.conv2d(x, got), want, atol=1e-5):
            raise Wrong(f"F.conv2d with your kernel differs from the dilated convolution {where}: put the "
                        "weights d pixels apart, in their order, with zeros between them.")


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


@question("05.q3", points=3, title="The receptive field of a stack", names=("receptive_field",))
def q3(receptive_field):
    cases = [[(3, 1, 1)] * 3, [(3, 1, 1), (3, 1, 2), (3, 1, 4)], [(3, 1, 2)] * 3, [(7, 2, 1), (3, 2, 1)],
             [(3, 2, 1), (3, 1, 2)], [(5, 1, 3)], [(1, 1, 1)], [], [(2, 2, 1), (2, 2, 1), (2, 2, 1)],
             [(3, 1, 1), (2, 2, 1), (3, 1, 2), (3, 1, 4)], [(3, 2, 2), (3, 2, 2)]]
    draw = rng(503)
    while len(cases) < 40:
        cases.append([(draw.randint(1, 7), draw.randint(1, 3), draw.randint(1, 3)) for _ in range(draw.randint(1, 4))])
    for layers in cases:
        want = _field_by_backprop(layers)
        got = call(receptive_field, [tuple(layer) for layer in layers])
        where = f"receptive_field({layers})"
        got = as_int(got, where)
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
    if not isinstance(neighbours_share, bool):
        raise Wrong(f"neighbours_share should be True or False, got {type(neighbours_share).__name__}.")
    if neighbours_share != bool((here & right).any()):
        raise Wrong("neighbours_share is wrong: compare the column offsets the centre pixel can reach "
                    "with those of the pixel to its right.")


# (in, out, kernel, dilation) of each convolution of 05.q5's model
SPEC = [(3, 16, 3, 1), (16, 16, 3, 2), (16, 16, 5, 3), (16, 5, 1, 1)]


@question("05.q5", points=3, title="Fix a broken model", names=("fixed_model",))
def q5(fixed_model):
    if not isinstance(fixed_model, nn.Module):
        raise Wrong(f"fixed_model should be an nn.Module (e.g. an nn.Sequential), got {type(fixed_model).__name__}.")
    convs = [m for m in fixed_model.modules() if isinstance(m, nn.Conv2d)]
    layout = [(c.in_channels, c.out_channels, c.kernel_size[0], c.dilation[0]) for c in convs]
    if layout != SPEC or any(c.stride != (1, 1) for c in convs):
        raise Wrong("keep the convolutions of the broken model (channels, kernel sizes, dilations, "
                    "stride 1); only paddings are wrong.")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(505)).to(**place(fixed_model))
    # a wrong size is reported before the failure it usually causes in a later layer
    out, sizes, failed = run_recording_sizes(fixed_model, convs, x, "fixed_model")
    for number, size in enumerate(sizes, start=1):
        if size != (32, 32):
            raise Wrong(f"convolution {number} turns its input into {size[0]}×{size[1]}; every layer "
                        "should keep 32×32.")
    if failed is not None:
        raise failed
    expect_shape(out, (2, 5, 32, 32), "for a batch of 2 images of 3×32×32 the model")
