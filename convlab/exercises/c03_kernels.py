"""Checks for chapter 03's exercises (solutions/03_kernels.ipynb): output sizes with stride, padding
and padding modes, cross-correlation against true convolution, the padding for a target size,
padding='same' by hand and a broken model whose paddings are wrong.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: nn.Conv2d layers and F.conv2d run on small CPU tensors, the task's architecture loaded with
the student's weights for a model. Random cases come from private generators, so checking never
moves the global RNG.
"""

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises import wire
from convlab.exercises.core import (
    Wrong,
    as_int,
    as_shape,
    as_tensor,
    built,
    call,
    expect_module,
    expect_shape,
    generator,
    judge_model,
    load_by_order,
    question,
    same,
    short,
    sweep,
    value_of,
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


def _kind(value) -> str:
    """What a value is, as a student would name it ("a dict", "a function")."""
    return f"a {value.type if isinstance(value, wire.Described) else type(value).__name__}"


def _cpu_layer(*args, **options) -> nn.Conv2d:
    """A real nn.Conv2d on the CPU with zero weights, built without drawing from the global RNG."""
    layer = nn.Conv2d(*args, device="meta", **options)
    layer.weight = nn.Parameter(torch.zeros(layer.weight.shape))
    if layer.bias is not None:
        layer.bias = nn.Parameter(torch.zeros(layer.bias.shape))
    return layer


@question("03.q1", points=2, title="Predict the output sizes", names=("out_sizes",))
def q1(out_sizes):
    answers = value_of(out_sizes)
    if not isinstance(answers, (list, tuple)):
        raise Wrong(f"out_sizes should be a list of four (height, width) pairs, got {_kind(answers)}.")
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


def _draw_target_case(draw):
    i, k, s = draw.randint(1, 40), draw.randint(1, 7), draw.randint(1, 4)
    o = max(1, (i + 2 * draw.randint(0, 4) - k) // s + 1 + draw.choice([0, 0, 0, -1, 1]))
    return i, o, k, s


@question("03.q3", points=3, title="The padding for a target size", names=("padding_for_target",))
def q3(padding_for_target):
    fixed = [(304, 152, 7, 2), (228, 114, 7, 2), (152, 76, 3, 2), (32, 32, 5, 1), (28, 28, 3, 1),
             (5, 3, 3, 2), (6, 3, 3, 2), (7, 7, 3, 1), (5, 5, 4, 1), (10, 12, 3, 1), (8, 4, 4, 2),
             (9, 3, 3, 3), (10, 10, 1, 1), (5, 7, 1, 1), (114, 47, 3, 2), (8, 9, 3, 1), (5, 4, 3, 2),
             (16, 8, 3, 2), (3, 1, 3, 1), (4, 4, 3, 2)]
    for i, o, k, s in sweep(fixed, _draw_target_case, 45, seed=303):
        want = _smallest_padding(i, o, k, s)
        where = f"padding_for_target({i}, {o}, {k}, {s})"
        got = call(padding_for_target, i, o, k, s, name="padding_for_target")
        if want is None:
            if got is not None:
                raise Wrong(f"{where} returned {short(got)}, but no padding makes nn.Conv2d with kernel {k} and "
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
    got = call(padding_for_target, 32, 32, 5, name="padding_for_target")
    if got is None or as_int(got, "padding_for_target(32, 32, 5)") != _smallest_padding(32, 32, 5, 1):
        raise Wrong("padding_for_target(32, 32, 5) is wrong: the stride should default to 1.")


def _same(x, w):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns that an even kernel's 'same' pads a copy
        return F.conv2d(x, w, padding="same")


def _draw_same_case(draw):
    return (draw.randint(1, 9), draw.randint(1, 9)), (draw.randint(1, 7), draw.randint(1, 7))


@question("03.q4", points=3, title="'same' padding by hand", names=("conv2d_same",))
def q4(conv2d_same):
    random_tensors = generator(304)
    fixed = [((6, 6), (3, 3)), ((6, 6), (4, 4)), ((5, 7), (2, 2)), ((7, 5), (3, 4)), ((6, 8), (5, 2)),
             ((4, 4), (1, 1)), ((3, 3), (4, 4)), ((8, 6), (6, 5))]
    for (h, w), (kh, kw) in sweep(fixed, _draw_same_case, 16, seed=304):
        x = torch.randn(2, 2, h, w, generator=random_tensors, dtype=torch.float64)
        weight = torch.randn(3, 2, kh, kw, generator=random_tensors, dtype=torch.float64)
        want = _same(x, weight)
        where = f"for a {h}×{w} input and a {kh}×{kw} kernel"
        got = as_tensor(call(conv2d_same, x, weight, name="conv2d_same"), f"conv2d_same {where}")
        if tuple(got.shape) != tuple(want.shape):
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; 'same' keeps the height and width.")
        if same(got, want):
            continue
        top, left = (kh - 1) // 2, (kw - 1) // 2
        flipped = F.conv2d(F.pad(x, (kw - 1 - left, left, kh - 1 - top, top)), weight)
        if same(got, flipped):
            raise Wrong(f"wrong values {where}: the odd extra pixel of padding is on the wrong side; "
                        "PyTorch puts it at the bottom and right.")
        raise Wrong(f"wrong values {where}: pad with zeros so the kernel fits at every pixel, then "
                    "convolve without padding.")


def _fixed_architecture() -> nn.Sequential:
    """The broken model's layers with the paddings its comments ask for (the student's weights go into it)."""
    return nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=5, padding=2), nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 16 * 16, 10))


@question("03.q5", points=3, title="Fix a broken model", names=("fixed_model",))
def q5(fixed_model):
    random_tensors = generator(305)
    probes = [torch.rand(2, 3, 64, 64, generator=random_tensors), torch.randn(1, 3, 64, 64, generator=random_tensors)]
    expect_module(fixed_model, "fixed_model")
    try:  # the weights' shapes do not depend on the paddings: a mismatch means other layers changed
        load_by_order(built(_fixed_architecture), fixed_model.state_dict(), "fixed_model")
    except Wrong as problem:
        raise Wrong(f"{problem} Keep the layers of the broken model (their channels, kernel sizes and "
                    "strides); only paddings are wrong.") from None
    shown = "fixed_model on a batch of 2 images of 3×64×64"
    try:
        out = fixed_model.run(probes[0], no_grad=True, eval=True, copy=True, place=True, shown=shown)
    except Wrong as problem:
        if type(problem) is not Wrong:  # not answered yet, or undefined
            raise
        raise Wrong(f"{str(problem).rstrip('.')}. Run it layer by layer and compare each convolution's "
                    "output size with the size its comment asks for.") from None
    expect_shape(as_tensor(out, shown), (2, 10), shown)
    judge_model(fixed_model, built(_fixed_architecture), probes, "fixed_model",
                otherwise="gives the right shape, but not what the broken model's layers with the paddings their "
                          "comments ask for compute with your weights: check each padding (how wide, and its "
                          "padding_mode) and that no layer was added, removed or moved.")
