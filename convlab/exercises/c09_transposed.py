"""Checks for chapter 09's exercises (solutions/09_transposed.ipynb): a transposed layer's shapes, one
output by stamping, the output-size formula, a decoder that gives the wrong size, choosing
output_padding for a target size, and the gradient of a convolution as a transposed convolution.

Expected values come from torch itself (F.conv_transpose2d on the numbers, nn.ConvTranspose2d on tiny
zero inputs for sizes, conv2d's backward for gradients); random cases come from private generators,
so checking never moves the global RNG.
"""


import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import Wrong, as_int, as_shape, call, copy_model, expect_shape, leaves, place, question, rng


@question("09.q1", points=2, title="Predict the shapes", names=("weight_shape", "out_shape"))
def q1(weight_shape, out_shape):
    with torch.random.fork_rng(devices=[]):
        layer = nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1)
    want_weight = tuple(layer.weight.shape)
    with torch.no_grad():
        want_out = tuple(layer(torch.zeros(5, 64, 16, 16)).shape)
    got_weight, got_out = as_shape(weight_shape, "weight_shape"), as_shape(out_shape, "out_shape")
    if got_weight != want_weight:
        if sorted(got_weight) == sorted(want_weight):
            raise Wrong("weight_shape has the right numbers in the wrong order: a ConvTranspose2d weight is not "
                        "laid out like a Conv2d weight.")
        raise Wrong("weight_shape is wrong: one kernel slice of kH × kW for each pair of input and output channels.")
    if got_out != want_out:
        if len(got_out) != 4:
            raise Wrong(f"out_shape has {len(got_out)} numbers; the output is (batch, channels, height, width).")
        if got_out[:2] != want_out[:2]:
            raise Wrong("out_shape's batch or channel count is wrong: the batch size does not change, and the "
                        "layer makes out_channels maps.")
        raise Wrong("out_shape's height and width are wrong: use the transposed convolution's output-size formula "
                    "(its padding removes cells).")


Q2_INPUT = [[1, 2], [3, -1]]
Q2_KERNEL = [[1, 0, 2], [0, 1, 0], [2, 1, 1]]
Q2_STRIDE, Q2_PADDING = 2, 1


@question("09.q2", points=2, title="Stamp the kernel by hand", names=("out_values",))
def q2(out_values):
    x = torch.tensor(Q2_INPUT, dtype=torch.float64)[None, None]
    w = torch.tensor(Q2_KERNEL, dtype=torch.float64)[None, None]
    want = F.conv_transpose2d(x, w, stride=Q2_STRIDE, padding=Q2_PADDING)[0, 0]
    try:
        got = torch.as_tensor(out_values.detach().cpu() if isinstance(out_values, torch.Tensor) else out_values,
                              dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"out_values should be a grid of numbers (a list of rows), got {type(out_values).__name__}.") \
            from None
    while got.ndim > 2 and got.shape[0] == 1:
        got = got[0]
    if got.ndim != 2:
        raise Wrong(f"out_values should be a 2-D grid (a list of rows), got {got.ndim} dimension(s).")
    if tuple(got.shape) != tuple(want.shape):
        uncropped = F.conv_transpose2d(x, w, stride=Q2_STRIDE)[0, 0]
        if tuple(got.shape) == tuple(uncropped.shape):
            raise Wrong(f"out_values is {got.shape[0]}×{got.shape[1]}: that is the sum of the stamps before the "
                        "padding; padding=1 then removes one row and column on each side.")
        raise Wrong(f"out_values is {got.shape[0]}×{got.shape[1]}, but the output has a different size: use the "
                    "output-size formula.")
    if torch.allclose(got, want):
        return
    flipped = F.conv_transpose2d(x, w.flip(2, 3), stride=Q2_STRIDE, padding=Q2_PADDING)[0, 0]
    if torch.allclose(got, flipped):
        raise Wrong("out_values stamps the kernel turned by 180°; each input pixel adds the kernel as it is, "
                    "times its value, with the kernel's top-left at (2i, 2j) before the crop.")
    row, col = [int(v) for v in (got - want).abs().gt(1e-9).nonzero()[0]]
    raise Wrong(f"out_values is wrong at row {row}, column {col}: add up every stamp that covers that cell "
                "(position counted in the uncropped 5×5 grid, which starts one cell earlier).")


def _torch_transposed_size(i, k, s, p, a) -> int:
    """The output height of a real nn.ConvTranspose2d (built without moving the global RNG)."""
    with torch.random.fork_rng(devices=[]):
        layer = nn.ConvTranspose2d(1, 1, (k, 1), stride=(s, 1), padding=(p, 0), output_padding=(a, 0), bias=False)
    with torch.no_grad():
        return layer(torch.zeros(1, 1, i, 1)).shape[2]


def _valid(i, k, s, p, a) -> bool:
    try:
        return _torch_transposed_size(i, k, s, p, a) >= 1
    except (RuntimeError, ValueError):
        return False


@question("09.q3", points=3, title="The transposed output size", names=("transposed_output_size",))
def q3(transposed_output_size):
    cases = [(4, 2, 2, 0, 0), (2, 3, 2, 0, 0), (4, 3, 2, 1, 0), (4, 3, 2, 1, 1), (16, 4, 2, 1, 0),
             (3, 3, 1, 0, 0), (5, 3, 1, 1, 0), (5, 3, 1, 2, 0), (3, 3, 2, 1, 1), (1, 1, 1, 0, 0),
             (7, 4, 4, 0, 3), (10, 5, 3, 2, 2)]
    draw = rng(903)
    while len(cases) < 60:
        s = draw.randint(1, 5)
        case = (draw.randint(1, 30), draw.randint(1, 7), s, draw.randint(0, 3), draw.randint(0, s - 1))
        if _valid(*case):
            cases.append(case)
    for i, k, s, p, a in cases:
        got = call(transposed_output_size, i, k, s, p, a)
        shown = f"transposed_output_size({i}, {k}, {s}, {p}, {a})"
        got = as_int(got, shown)
        want = _torch_transposed_size(i, k, s, p, a)
        if got == want:
            continue
        if p and got == want + 4 * p:
            hint = " (padding removes cells from a transposed convolution's output; it does not add them)"
        elif a and got == want - a:
            hint = " (output_padding adds cells)"
        else:
            hint = ""
        raise Wrong(f"{shown} returned {got}, but ConvTranspose2d gives a different size{hint}.")
    got = call(transposed_output_size, 4, 3)
    if got != _torch_transposed_size(4, 3, 1, 0, 0):
        raise Wrong("transposed_output_size(4, 3) is wrong: stride should default to 1, padding and "
                    "output_padding to 0.")


@question("09.q4", points=3, title="Fix the decoder", names=("fixed_decoder",))
def q4(fixed_decoder):
    if not isinstance(fixed_decoder, nn.Module):
        raise Wrong(f"fixed_decoder should be an nn.Module (e.g. an nn.Sequential), "
                    f"got {type(fixed_decoder).__name__}.")
    layers = leaves(fixed_decoder)
    kinds = [type(m).__name__ for m in layers]
    want_kinds = ["ConvTranspose2d", "ReLU", "ConvTranspose2d", "ReLU", "ConvTranspose2d", "Sigmoid"]
    if kinds != want_kinds:
        raise Wrong(f"keep the decoder's layers: {' → '.join(want_kinds)}; yours is {' → '.join(kinds)}.")
    channels = [(m.in_channels, m.out_channels) for m in layers if isinstance(m, nn.ConvTranspose2d)]
    if channels != [(64, 32), (32, 16), (16, 1)]:
        raise Wrong(f"the layers' channels are {channels}; the decoder goes from 64 to 32, 16 and then 1 channel, "
                    "and each layer's in_channels must be what the layer before it makes.")
    code = torch.rand(2, 64, 4, 4, generator=torch.Generator().manual_seed(904)).to(**place(fixed_decoder))
    with torch.no_grad():
        out = call(copy_model(fixed_decoder), code, name="fixed_decoder")
    expect_shape(out, (2, 1, 28, 28), "for a batch of 2 codes of 64×4×4 the decoder")


def _padding_cases() -> list:
    cases = [(4, 8, 3, 2, 1), (4, 7, 3, 2, 1), (4, 9, 3, 2, 1), (4, 6, 3, 2, 1), (3, 6, 3, 2, 1),
             (16, 32, 4, 2, 1), (5, 5, 3, 1, 1), (5, 6, 3, 1, 1), (7, 28, 4, 4, 0), (7, 30, 4, 4, 0),
             (7, 31, 4, 4, 0), (7, 32, 4, 4, 0), (2, 5, 3, 3, 1), (1, 1, 1, 1, 0)]
    draw = rng(905)
    while len(cases) < 50:
        i, k, s = draw.randint(1, 20), draw.randint(1, 6), draw.randint(1, 4)
        p = draw.randint(0, k - 1)
        smallest = (i - 1) * s - 2 * p + k
        if smallest >= 1:
            cases.append((i, max(1, smallest + draw.randint(-1, s)), k, s, p))
    return cases


@question("09.q5", points=3, title="Choose output_padding", names=("output_padding_for",))
def q5(output_padding_for):
    for i, target, k, s, p in _padding_cases():
        shown = f"output_padding_for({i}, {target}, {k}, {s}, {p})"
        got = call(output_padding_for, i, target, k, s, p, name="output_padding_for")
        possible = [a for a in range(s) if _torch_transposed_size(i, k, s, p, a) == target]
        if got is None:
            if possible:
                raise Wrong(f"{shown} returned None, but an output_padding that ConvTranspose2d accepts gives "
                            f"size {target} there.")
            continue
        got = as_int(got, shown)
        if not 0 <= got < s:
            raise Wrong(f"{shown} returned {got}, which ConvTranspose2d refuses: output_padding must be at least 0 "
                        "and smaller than the stride.")
        size = _torch_transposed_size(i, k, s, p, got)
        if size != target:
            reason = "" if possible else " (return None when no output_padding reaches the target)"
            raise Wrong(f"{shown} returned {got}, but with it ConvTranspose2d gives size {size}, "
                        f"not {target}{reason}.")


def _grad_cases() -> list:
    # (N, C_in, C_out, H, W, kernel, stride, padding)
    return [(1, 1, 1, 5, 5, 3, 1, 0), (1, 2, 3, 7, 7, 3, 2, 1), (2, 2, 3, 8, 8, 3, 2, 1), (1, 3, 2, 9, 10, 4, 3, 1),
            (2, 1, 2, 11, 6, 5, 2, 2), (1, 2, 2, 6, 9, 2, 3, 0), (1, 1, 2, 7, 8, 3, 2, 0)]


def _autograd_input_grad(x, weight, g, stride, padding):
    """dL/dx as autograd computes it: conv2d's backward is aten.convolution_backward, which
    torch.nn.grad.conv2d_input calls directly (the first torch.autograd.grad on a convolution in a
    process imports sympy, over a second; this gives the same numbers without that)."""
    return torch.nn.grad.conv2d_input(x.shape, weight, g, stride=stride, padding=padding)


@question("09.q6", points=4, title="The gradient of a convolution", names=("conv2d_input_grad",))
def q6(conv2d_input_grad):
    generator = torch.Generator().manual_seed(906)
    for n, c_in, c_out, h, w, k, s, p in _grad_cases():
        x = torch.rand(n, c_in, h, w, generator=generator, dtype=torch.float64)
        weight = torch.randn(c_out, c_in, k, k, generator=generator, dtype=torch.float64)
        y = F.conv2d(x, weight, stride=s, padding=p)
        g = torch.randn(y.shape, generator=generator, dtype=torch.float64)
        want = _autograd_input_grad(x, weight, g, s, p)
        where = f"for x of shape {(n, c_in, h, w)}, a {k}×{k} kernel, stride {s}, padding {p}"
        got = call(conv2d_input_grad, g.clone(), weight.clone(), s, p, (h, w), name="conv2d_input_grad")
        try:
            got = torch.as_tensor(got.detach().cpu() if isinstance(got, torch.Tensor) else got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise Wrong(f"conv2d_input_grad returned a {type(got).__name__}; it should return a tensor.") from None
        if tuple(got.shape) != tuple(want.shape):
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; the gradient has x's shape "
                        "(choose output_padding for the height and for the width).")
        if torch.allclose(got, want, atol=1e-8):
            continue
        try:
            turned = F.conv_transpose2d(g, weight.flip(2, 3), stride=s, padding=p,
                                        output_padding=[(size + 2 * p - k) % s for size in (h, w)])
        except RuntimeError:
            turned = None
        if turned is not None and torch.allclose(got, turned, atol=1e-8):
            raise Wrong(f"wrong values {where}: the kernel is turned by 180°; F.conv_transpose2d takes the "
                        "convolution's weight as it is.")
        raise Wrong(f"wrong values {where}: the gradient does not match autograd's.")
