"""Checks for chapter 03's exercises (solutions/03_kernels.ipynb): output sizes with stride, padding
and padding modes, cross-correlation against true convolution, the padding for a target size,
padding='same' by hand and a broken model whose paddings are wrong.

Expected values come from torch itself (nn.Conv2d layers and F.conv2d run on small CPU tensors);
random cases come from private generators, so checking never moves the global RNG.
"""

import warnings

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

Q1_INPUT = (13, 17)
Q1_LAYERS = {  # name: keyword arguments of nn.Conv2d(1, 1, ...)
    "A": {"kernel_size": (3, 5), "stride": (2, 1), "padding": (1, 2)},
    "B": {"kernel_size": 4, "stride": 3},
    "C": {"kernel_size": 5, "padding": "same", "padding_mode": "reflect"},
    "D": {"kernel_size": 3, "stride": 2, "padding": 3, "padding_mode": "circular"},
}

# Question 03.q2's example: a 4×4 input and a lopsided 3×3 kernel.
Q2_INPUT = [[3, 1, 0, 2], [1, 4, 2, 0], [0, 2, 5, 1], [2, 0, 1, 3]]
Q2_KERNEL = [[2, 0, 0], [1, 0, -1], [0, 0, -3]]
Q2_AT = (0, 1)


def _cpu_layer(*args, **options) -> nn.Conv2d:
    """A real nn.Conv2d on the CPU with zero weights, built without drawing from the global RNG."""
    layer = nn.Conv2d(*args, device="meta", **options)
    layer.weight = nn.Parameter(torch.zeros(layer.weight.shape))
    if layer.bias is not None:
        layer.bias = nn.Parameter(torch.zeros(layer.bias.shape))
    return layer


@question("03.q1", points=2, title="Predict the output sizes", names=("out_sizes",))
def q1(out_sizes):
    try:
        answers = list(out_sizes)
    except TypeError:
        raise Wrong(f"out_sizes should be a list of four (height, width) pairs, got {type(out_sizes).__name__}.") \
            from None
    if len(answers) != len(Q1_LAYERS):
        raise Wrong(f"out_sizes has {len(answers)} entries; give one (height, width) pair per layer, A to D.")
    x = torch.zeros(1, 1, *Q1_INPUT)
    for (name, options), answer in zip(Q1_LAYERS.items(), answers):
        got = as_shape(answer, f"the size for layer {name}")
        with torch.no_grad():
            want = tuple(_cpu_layer(1, 1, **options)(x).shape[-2:])
        if len(got) != 2:
            raise Wrong(f"the size for layer {name} should be a pair (height, width), got {len(got)} numbers.")
        if got == want:
            continue
        if got == want[::-1]:
            raise Wrong(f"layer {name}: height and width are swapped (the input is 13 high and 17 wide).")
        side = "height" if got[0] != want[0] else "width"
        if options.get("padding") == "same":
            raise Wrong(f"layer {name}: the {side} is wrong; remember what padding='same' promises "
                        "(the padding mode only decides what the border holds, not how wide it is).")
        if options.get("padding_mode"):
            raise Wrong(f"layer {name}: the {side} is wrong; use the output-size formula for that dimension "
                        "(the padding mode only decides what the border holds, not how wide it is).")
        raise Wrong(f"layer {name}: the {side} is wrong; use the output-size formula for that dimension.")


@question("03.q2", points=2, title="Cross-correlation or convolution", names=("torch_value", "true_value"))
def q2(torch_value, true_value):
    x = torch.tensor(Q2_INPUT, dtype=torch.float64)[None, None]
    w = torch.tensor(Q2_KERNEL, dtype=torch.float64)[None, None]
    row, col = Q2_AT
    want_torch = int(F.conv2d(x, w)[0, 0, row, col])
    want_true = int(F.conv2d(x, w.flip(-2, -1))[0, 0, row, col])
    got_torch, got_true = as_int(torch_value, "torch_value"), as_int(true_value, "true_value")
    if (got_torch, got_true) == (want_true, want_torch):
        raise Wrong("the two values are swapped: F.conv2d does not flip the kernel; the textbook "
                    "convolution does.")
    if got_torch != want_torch:
        if got_torch == int(F.conv2d(x, w)[0, 0, col, row]):
            raise Wrong("torch_value is taken at row 1, column 0: rows first, then columns.")
        raise Wrong(f"torch_value = {got_torch} is not F.conv2d's output at row {row}, column {col}: "
                    "multiply the window by the kernel as it is, element by element, and add up.")
    if got_true != want_true:
        if got_true in (int(F.conv2d(x, w.flip(-1))[0, 0, row, col]), int(F.conv2d(x, w.flip(-2))[0, 0, row, col])):
            raise Wrong("true_value flips the kernel in one direction only: turn it upside down *and* "
                        "left to right.")
        raise Wrong(f"true_value = {got_true} is not the textbook convolution at row {row}, column {col}: "
                    "flip the kernel, then use the same window.")


def _torch_size(i, k, s, p) -> int:
    """The output height torch gives; an empty batch makes torch work out the shape without computing."""
    x = torch.zeros(0, 1, i, 1)
    w = torch.zeros(1, 1, k, 1)
    return F.conv2d(x, w, stride=(s, 1), padding=(p, 0)).shape[2]


def _smallest_padding(i, o, k, s):
    """The smallest p with which torch turns i into o, or None: found by trying p = 0, 1, 2, ..."""
    p = 0
    while True:
        size = _torch_size(i, k, s, p) if i + 2 * p >= k else 0
        if size == o:
            return p
        if size > o:
            return None
        p += 1


@question("03.q3", points=3, title="The padding for a target size", names=("padding_for_target",))
def q3(padding_for_target):
    cases = [(304, 152, 7, 2), (228, 114, 7, 2), (152, 76, 3, 2), (32, 32, 5, 1), (28, 28, 3, 1),
             (5, 3, 3, 2), (6, 3, 3, 2), (7, 7, 3, 1), (5, 5, 4, 1), (10, 12, 3, 1), (8, 4, 4, 2),
             (9, 3, 3, 3), (10, 10, 1, 1), (5, 7, 1, 1), (114, 47, 3, 2), (8, 9, 3, 1), (5, 4, 3, 2),
             (16, 8, 3, 2), (3, 1, 3, 1), (4, 4, 3, 2)]
    draw = rng(303)
    while len(cases) < 45:
        i, k, s = draw.randint(1, 40), draw.randint(1, 7), draw.randint(1, 4)
        o = max(1, (i + 2 * draw.randint(0, 4) - k) // s + 1 + draw.choice([0, 0, 0, -1, 1]))
        cases.append((i, o, k, s))
    for i, o, k, s in cases:
        want = _smallest_padding(i, o, k, s)
        got = call(padding_for_target, i, o, k, s)
        where = f"padding_for_target({i}, {o}, {k}, {s})"
        if want is None:
            if got is not None:
                raise Wrong(f"{where} returned {got!r}, but no padding makes nn.Conv2d with kernel {k} and "
                            f"stride {s} turn {i} into {o}: it should return None.")
            continue
        if got is None:
            raise Wrong(f"{where} returned None, but a padding that works exists.")
        got = as_int(got, f"{where}'s result")
        if got < 0:
            raise Wrong(f"{where} returned {got}: padding cannot be negative.")
        size = _torch_size(i, k, s, got) if i + 2 * got >= k else "no output"
        if size != o:
            raise Wrong(f"{where} returned {got}, but nn.Conv2d(..., kernel_size={k}, stride={s}, "
                        f"padding={got}) turns {i} into {size}, not {o}.")
        if got != want:
            raise Wrong(f"{where} returned {got}; it works, but a smaller padding works too: return the "
                        "smallest.")
    got = call(padding_for_target, 32, 32, 5)
    if got != _smallest_padding(32, 32, 5, 1):
        raise Wrong("padding_for_target(32, 32, 5) is wrong: the stride should default to 1.")


def _same(x, w):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns that an even kernel's 'same' pads a copy
        return F.conv2d(x, w, padding="same")


@question("03.q4", points=3, title="'same' padding by hand", names=("conv2d_same",))
def q4(conv2d_same):
    generator = torch.Generator().manual_seed(304)
    cases = [((6, 6), (3, 3)), ((6, 6), (4, 4)), ((5, 7), (2, 2)), ((7, 5), (3, 4)), ((6, 8), (5, 2)),
             ((4, 4), (1, 1)), ((3, 3), (4, 4)), ((8, 6), (6, 5))]
    for (h, w), (kh, kw) in cases:
        x = torch.randn(2, 2, h, w, generator=generator, dtype=torch.float64)
        weight = torch.randn(3, 2, kh, kw, generator=generator, dtype=torch.float64)
        want = _same(x, weight)
        got = as_tensor(call(conv2d_same, x.clone(), weight.clone()), "conv2d_same")
        where = f"for a {h}×{w} input and a {kh}×{kw} kernel"
        if tuple(got.shape) != tuple(want.shape):
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; 'same' keeps the height and width.")
        if torch.allclose(got, want, atol=1e-5):
            continue
        top, left = (kh - 1) // 2, (kw - 1) // 2
        flipped = F.conv2d(F.pad(x, (kw - 1 - left, left, kh - 1 - top, top)), weight)
        if torch.allclose(got, flipped, atol=1e-5):
            raise Wrong(f"wrong values {where}: the odd extra pixel of padding is on the wrong side; "
                        "PyTorch puts it at the bottom and right.")
        raise Wrong(f"wrong values {where}: pad with zeros so the kernel fits at every pixel, then "
                    "convolve without padding.")


SPEC_SIZES = [64, 32, 16]  # the size after each convolution of 03.q5's model


@question("03.q5", points=3, title="Fix a broken model", names=("fixed_model",))
def q5(fixed_model):
    if not isinstance(fixed_model, nn.Module):
        raise Wrong(f"fixed_model should be an nn.Module (e.g. an nn.Sequential), got {type(fixed_model).__name__}.")
    convs = [m for m in fixed_model.modules() if isinstance(m, nn.Conv2d)]
    layout = [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs]
    if layout != [(3, 16, (5, 5), (1, 1)), (16, 32, (3, 3), (2, 2)), (32, 64, (4, 4), (2, 2))]:
        raise Wrong("keep the convolutions of the broken model (their channels, kernel sizes and strides); "
                    "only paddings are wrong.")
    linears = [m for m in fixed_model.modules() if isinstance(m, nn.Linear)]
    if not linears or linears[-1].out_features != 10:
        raise Wrong("the model should end with a Linear layer giving 10 scores.")
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(305)).to(**place(fixed_model))
    # a wrong size is reported before the failure it usually causes in a later layer
    out, sizes, failed = run_recording_sizes(fixed_model, convs, x, "fixed_model")
    for number, (size, want) in enumerate(zip(sizes, SPEC_SIZES), start=1):
        if size != (want, want):
            raise Wrong(f"convolution {number} turns its input into {size[0]}×{size[1]}, not the "
                        f"{want}×{want} its comment asks for.")
    if failed is not None:
        raise failed
    expect_shape(out, (2, 10), "for a batch of 2 images of 3×64×64 the model")
