"""Checks for chapter 01's exercises (solutions/01_conv2d.ipynb): nn.Conv2d, its weight and bias,
the output-size formula, one output value by hand, a loop convolution and a broken model.

Expected values come from torch itself (layers on the 'meta' device for shapes, F.conv2d for
values); random cases come from private generators, so checking never moves the global RNG.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import Wrong, as_int, as_shape, call, expect_shape, place, question, rng

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


@question("01.q2", points=2, title="Count the parameters", names=("n_params",))
def q2(n_params):
    layer = _meta_conv(64, 128, 4, stride=2, padding=1)
    want = sum(p.numel() for p in layer.parameters())
    got = as_int(n_params, "n_params")
    if got == want:
        return
    if got == layer.weight.numel():
        raise Wrong("n_params counts the weight only: the layer has a bias too.")
    if got == layer.weight.numel() + 64:
        raise Wrong("n_params is off in the bias: there is one bias value per output channel.")
    if got == want - 128 * 64 * 16 + 128 * 16 + 128:
        raise Wrong("n_params is too small: each kernel has one 4×4 slice per input channel.")
    raise Wrong(f"n_params = {got} is not the layer's parameter count; stride and padding do not change it.")


def _torch_output_size(i, k, s, p) -> int:
    x = torch.empty(1, 1, i, 1, device="meta")
    w = torch.empty(1, 1, k, 1, device="meta")
    return F.conv2d(x, w, stride=(s, 1), padding=(p, 0)).shape[2]


@question("01.q3", points=3, title="The output-size formula", names=("output_size",))
def q3(output_size):
    cases = [(28, 3, 1, 0), (4, 3, 1, 0), (5, 3, 2, 0), (5, 3, 2, 1), (6, 3, 2, 1), (7, 3, 2, 0),
             (32, 5, 1, 2), (304, 7, 2, 3), (5, 4, 1, 2), (1, 1, 1, 0), (10, 3, 3, 0), (3, 5, 1, 1)]
    draw = rng(103)
    while len(cases) < 40:
        i, k, s, p = draw.randint(1, 64), draw.randint(1, 9), draw.randint(1, 4), draw.randint(0, 4)
        if i + 2 * p >= k:
            cases.append((i, k, s, p))
    for i, k, s, p in cases:
        got = call(output_size, i, k, s, p)
        got = as_int(got, f"output_size({i}, {k}, {s}, {p})")
        if got != _torch_output_size(i, k, s, p):
            hint = " (the division rounds down)" if s > 1 else ""
            raise Wrong(f"wrong for i={i}, k={k}, s={s}, p={p}: got {got}, expected a different value{hint}.")
    got = call(output_size, 28, 3)
    if got != _torch_output_size(28, 3, 1, 0):
        raise Wrong("output_size(28, 3) is wrong: stride should default to 1 and padding to 0.")


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


@question("01.q5", points=3, title="A convolution with loops", names=("conv2d_single",))
def q5(conv2d_single):
    generator = torch.Generator().manual_seed(105)
    for (h, w), (kh, kw) in [((5, 5), (3, 3)), ((6, 8), (2, 3)), ((4, 4), (4, 4)), ((7, 5), (1, 1)), ((3, 9), (3, 2))]:
        x = torch.randn(h, w, generator=generator)
        kernel = torch.randn(kh, kw, generator=generator)
        want = F.conv2d(x[None, None], kernel[None, None])[0, 0]
        got = call(conv2d_single, x.clone(), kernel.clone())
        try:
            got = torch.as_tensor(got, dtype=torch.float32).cpu()
        except (TypeError, ValueError, RuntimeError):
            raise Wrong(f"conv2d_single returned a {type(got).__name__}; it should return a 2-D tensor.") from None
        where = f"for a {h}×{w} input and a {kh}×{kw} kernel"
        if tuple(got.shape) != tuple(want.shape):
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}, expected a different shape.")
        if torch.allclose(got, want, atol=1e-4):
            continue
        flipped = F.conv2d(x[None, None], kernel.flip(0, 1)[None, None])[0, 0]
        if torch.allclose(got, flipped, atol=1e-4):
            raise Wrong(f"wrong values {where}: you flipped the kernel; conv2d does not flip it "
                        "(it is a cross-correlation).")
        raise Wrong(f"wrong values {where}: each output is the sum of the window times the kernel.")


@question("01.q6", points=3, title="Fix a broken model", names=("fixed_model",))
def q6(fixed_model):
    if not isinstance(fixed_model, nn.Module):
        raise Wrong(f"fixed_model should be an nn.Module (e.g. an nn.Sequential), got {type(fixed_model).__name__}.")
    convs = [m for m in fixed_model.modules() if isinstance(m, nn.Conv2d)]
    if [c.out_channels for c in convs] != [16, 32] or any(c.kernel_size != (3, 3) for c in convs):
        raise Wrong("keep the layers of the broken model: two 3×3 convolutions making 16 and then 32 channels.")
    if not any(isinstance(m, nn.MaxPool2d) for m in fixed_model.modules()):
        raise Wrong("keep the layers of the broken model: the max pooling is missing.")
    linears = [m for m in fixed_model.modules() if isinstance(m, nn.Linear)]
    if not linears or linears[-1].out_features != 10:
        raise Wrong("the model should end with a Linear layer giving 10 scores.")
    generator = torch.Generator().manual_seed(106)
    x = torch.rand(2, 3, 32, 32, generator=generator).to(**place(fixed_model))
    with torch.no_grad():
        out = call(fixed_model, x, name="fixed_model")
    expect_shape(out, (2, 10), "for a batch of 2 images of 3×32×32 the model")
