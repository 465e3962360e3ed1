"""Checks for chapter 01's exercises (solutions/01_conv2d.ipynb): nn.Conv2d, its weight and bias,
counting parameters, which input sizes give an output size, one output value by hand, a loop
convolution and a broken model.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: layers on the 'meta' device for shapes, F.conv2d for values, the task's architecture
loaded with the student's weights for a model.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_int,
    as_shape,
    built,
    call,
    expect_close,
    generator,
    judge_model,
    question,
    same,
    sweep,
)

# Question 01.q4's small example (a channel and a kernel slice of the CS231n demo).
Q4_INPUT = [[1, 2, 0, 1, 2], [1, 0, 2, 2, 0], [2, 0, 0, 2, 2], [0, 0, 2, 2, 0], [2, 2, 2, 1, 2]]
Q4_KERNEL = [[-1, -1, 0], [1, 1, 1], [1, 1, 0]]
Q4_BIAS, Q4_STRIDE, Q4_PADDING, Q4_AT = 1, 2, 1, (1, 1)


def _meta_conv(in_channels, out_channels, kernel_size, **options) -> nn.Conv2d:
    """A layer with shapes but no numbers: building it draws nothing from the RNG."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, device="meta", **options)


@question("01.q1", points=2, title="Predict the shapes", names=("out_shape", "weight_shape", "bias_shape"))
def q1(out_shape, weight_shape, bias_shape):
    layer = _meta_conv(3, 8, 5)
    want_out = tuple(layer(torch.empty(2, 3, 32, 32, device="meta")).shape)
    want_weight, want_bias = tuple(layer.weight.shape), tuple(layer.bias.shape)
    got_out = as_shape(out_shape, "out_shape")
    got_weight = as_shape(weight_shape, "weight_shape")
    got_bias = as_shape(bias_shape, "bias_shape")
    if got_out != want_out:
        if len(got_out) != 4:
            raise Wrong(f"out_shape has {len(got_out)} numbers; the output is (batch, channels, height, width).")
        if got_out[:2] != want_out[:2]:
            raise Wrong("out_shape's batch or channel count is wrong: the batch size does not change, "
                        "and there is one output channel per kernel.")
        raise Wrong("out_shape's height and width are wrong: use the output-size formula.")
    if got_weight != want_weight:
        if sorted(got_weight) == sorted(want_weight):
            raise Wrong("weight_shape has the right numbers in the wrong order: a weight is "
                        "(out_channels, in_channels, kH, kW).")
        raise Wrong("weight_shape is wrong: one kernel per output channel, each with one slice per input channel.")
    if got_bias != want_bias:
        raise Wrong("bias_shape is wrong: the bias holds one number per output channel.")


def _torch_params(c_in, c_out, kernel_size, bias) -> tuple:
    """(all parameters, weights only) of the layer, counted by torch."""
    layer = _meta_conv(c_in, c_out, kernel_size, bias=bias)
    return sum(p.numel() for p in layer.parameters()), layer.weight.numel()


def _draw_layer(draw):
    k = draw.randint(1, 7) if draw.random() < 0.6 else (draw.randint(1, 7), draw.randint(1, 7))
    return draw.randint(1, 256), draw.randint(1, 256), k, draw.random() < 0.7


@question("01.q2", points=2, title="Count the parameters", names=("count_params",))
def q2(count_params):
    fixed = [(64, 128, 4, True), (3, 8, 5, True), (1, 1, 1, False), (3, 16, (3, 5), True), (16, 3, (1, 7), False),
             (128, 64, 3, True), (7, 2, (2, 1), True)]
    for c_in, c_out, k, bias in sweep(fixed, _draw_layer, 30, seed=102):
        shown = f"count_params({c_in}, {c_out}, {k!r}, bias={bias})"
        got = as_int(call(count_params, c_in, c_out, k, bias=bias, name="count_params"), shown)
        want, weights = _torch_params(c_in, c_out, k, bias)
        if got == want:
            continue
        if bias and got == weights:
            raise Wrong(f"{shown} counts the weights only: with bias=True there is one bias per output channel.")
        if not bias and got == weights + c_out:
            raise Wrong(f"{shown} counts a bias, but bias=False means the layer has none.")
        if isinstance(k, tuple) and k[0] != k[1] and got in (_torch_params(c_in, c_out, k[0], bias)[0],
                                                             _torch_params(c_in, c_out, k[1], bias)[0]):
            raise Wrong(f"{shown} is wrong: a kernel_size (kH, kW) has kH × kW weights per slice.")
        raise Wrong(f"{shown} returned {got}, which is not the layer's parameter count: one kernel per output "
                    "channel, each with one slice per input channel.")


def _output_size(i, k, s, p) -> int:
    """What torch computes for an input of height i (0 when the kernel does not fit)."""
    if i + 2 * p < k:
        return 0
    x = torch.empty(1, 1, i, 1, device="meta")
    w = torch.empty(1, 1, k, 1, device="meta")
    return F.conv2d(x, w, stride=(s, 1), padding=(p, 0)).shape[2]


def _input_range(o, k, s, p):
    """(smallest, largest) input height with output height o, by asking torch about every candidate."""
    found = [i for i in range(1, o * s + k + 2) if _output_size(i, k, s, p) == o]
    return (found[0], found[-1]) if found else None


def _draw_range_case(draw):
    return draw.randint(1, 40), draw.randint(1, 9), draw.randint(1, 4), draw.randint(0, 4)


@question("01.q3", points=3, title="The output-size formula", names=("input_range",))
def q3(input_range):
    fixed = [(28, 3, 1, 0), (3, 3, 2, 1), (14, 4, 2, 1), (1, 3, 1, 1), (1, 5, 2, 0), (2, 3, 3, 0), (5, 1, 1, 0),
             (1, 3, 1, 2), (10, 7, 4, 3)]
    for o, k, s, p in sweep(fixed, _draw_range_case, 36, seed=103):
        shown = f"input_range({o}, {k}, {s}, {p})"
        got = value_of_call(input_range, shown, o, k, s, p)
        want = _input_range(o, k, s, p)
        if got == want:
            continue
        if want is None:
            raise Wrong(f"{shown} returned {got!r}, but no input height gives that output: return None.")
        if got is None or len(got) != 2 or not all(type(v) is int for v in got):
            raise Wrong(f"{shown} returned {got!r}; it should return a pair (smallest, largest) of ints.")
        if got[0] == got[1] and s > 1:
            raise Wrong(f"{shown} gives a single input height, but with stride {s} the division rounds down: "
                        "several input heights give the same output.")
        raise Wrong(f"{shown} returned {got}; some input heights in that range give a different output, or some "
                    "outside it give this one.")
    got = value_of_call(input_range, "input_range(26, 3)", 26, 3)
    if got != _input_range(26, 3, 1, 0):
        raise Wrong("input_range(26, 3) is wrong: stride should default to 1 and padding to 0.")


def value_of_call(function, shown, *args):
    """A call's result as None or a tuple of its items (lists are accepted for pairs)."""
    got = call(function, *args, name=shown.split("(")[0])
    if isinstance(got, list):
        got = tuple(got)
    if got is not None and not isinstance(got, tuple):
        raise Wrong(f"{shown} returned {got!r}; it should return a pair (smallest, largest), or None.")
    return got


@question("01.q4", points=2, title="One output value by hand", names=("value",))
def q4(value):
    x = torch.tensor(Q4_INPUT, dtype=torch.float64).reshape(1, 1, 5, 5)
    w = torch.tensor(Q4_KERNEL, dtype=torch.float64).reshape(1, 1, 3, 3)
    b = torch.tensor([float(Q4_BIAS)], dtype=torch.float64)
    out = F.conv2d(x, w, b, stride=Q4_STRIDE, padding=Q4_PADDING)
    row, col = Q4_AT
    want = int(out[0, 0, row, col])
    got = as_int(value, "value")
    if got == want:
        return
    if got == want - Q4_BIAS:
        raise Wrong("value is the weighted sum without the bias: add the bias.")
    unpadded = F.conv2d(x, w, b, stride=Q4_STRIDE)
    if row < unpadded.shape[2] and col < unpadded.shape[3] and got == int(unpadded[0, 0, row, col]):
        raise Wrong("value is taken from the wrong window: with padding 1 the window starts one pixel "
                    "earlier (the padding adds a border of zeros).")
    raise Wrong(f"value = {got} is not the output at row {row}, column {col}: find the window "
                "(stride 2, padding 1), multiply it by the kernel element by element, add up, add the bias.")


Q5_SIZES = [((5, 5), (3, 3)), ((6, 8), (2, 3)), ((4, 4), (4, 4)), ((7, 5), (1, 1)), ((3, 9), (3, 2))]


@question("01.q5", points=3, title="A convolution with loops", names=("conv2d_single",), partial=True)
def q5(conv2d_single):
    """Credit per case: a loop that only fails on, say, non-square kernels still earns the cases it gets right."""
    random_tensors = generator(105)
    cases = []
    for (h, w), (kh, kw) in Q5_SIZES:
        x, kernel = torch.randn(h, w, generator=random_tensors), torch.randn(kh, kw, generator=random_tensors)
        cases.append((f"a {h}×{w} input with a {kh}×{kw} kernel",
                      lambda x=x, kernel=kernel: _one_loop_conv(conv2d_single, x, kernel)))
    return cases


def _one_loop_conv(conv2d_single, x, kernel) -> None:
    want = F.conv2d(x[None, None].double(), kernel[None, None].double())[0, 0]
    where = "conv2d_single"  # the case's label names the sizes
    got = call(conv2d_single, x, kernel, name="conv2d_single")
    try:
        expect_close(got, want, where)
    except Wrong:
        flipped = F.conv2d(x[None, None].double(), kernel.flip(0, 1)[None, None].double())[0, 0]
        if isinstance(got, torch.Tensor) and same(got, flipped):
            raise Wrong(f"{where} flips the kernel; conv2d does not flip it (it is a cross-correlation).") from None
        raise


def _fixed_architecture() -> nn.Sequential:
    """The broken model's layers with its two mistakes corrected (the student's weights are loaded into it)."""
    return nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16 * 16, 10))


@question("01.q6", points=3, title="Fix a broken model", names=("fixed_model",))
def q6(fixed_model):
    random_tensors = generator(106)
    probes = [torch.rand(2, 3, 32, 32, generator=random_tensors), torch.randn(1, 3, 32, 32, generator=random_tensors)]
    judge_model(fixed_model, built(_fixed_architecture), probes, "fixed_model")


