"""Checks for chapter 02's exercises (solutions/02_channels.ipynb): kernels and slices, one value of a
multi-channel convolution by hand, im2col, the convolution as one matrix product, and a broken
model fed channels-last photos.

Expected values come from torch itself (layers on the 'meta' device for shapes, F.conv2d and
F.unfold for values); random cases come from private generators, so checking never moves the
global RNG.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import Wrong, as_int, as_tensor, call, expect_shape, place, question

# Question 02.q2's example: a 2-channel 4×4 input, two kernels of two 3×3 slices, a bias per kernel.
Q2_INPUT = [
    [[1, 0, 2, 1], [0, 1, 1, 0], [2, 1, 0, 1], [1, 0, 1, 2]],
    [[0, 2, 1, 0], [1, 0, 0, 2], [0, 1, 2, 1], [2, 0, 1, 0]],
]
Q2_WEIGHT = [
    [[[1, 0, -1], [1, 0, -1], [1, 0, -1]], [[0, 1, 0], [1, 1, 1], [0, 1, 0]]],
    [[[1, 1, 0], [0, -1, 0], [0, 0, 1]], [[0, 0, 2], [-1, 0, 0], [1, 0, 0]]],
]
Q2_BIAS = [1, -1]
Q2_CHANNEL, Q2_AT = 1, (1, 1)


@question("02.q1", points=2, title="Count kernels and slices",
          names=("n_kernels", "slices_per_kernel", "weights_per_kernel"))
def q1(n_kernels, slices_per_kernel, weights_per_kernel):
    layer = nn.Conv2d(16, 48, kernel_size=5, stride=2, device="meta")
    kernels, slices, kh, kw = layer.weight.shape
    got_kernels = as_int(n_kernels, "n_kernels")
    got_slices = as_int(slices_per_kernel, "slices_per_kernel")
    got_weights = as_int(weights_per_kernel, "weights_per_kernel")
    if got_kernels != kernels:
        if got_kernels == slices:
            raise Wrong("n_kernels is the number of input channels: there is one kernel per *output* channel.")
        raise Wrong("n_kernels is wrong: a layer has one kernel per feature map it makes.")
    if got_slices != slices:
        if got_slices == 3:
            raise Wrong("slices_per_kernel is wrong: this layer's input is the previous layer's output, "
                        "not the photo.")
        raise Wrong("slices_per_kernel is wrong: a kernel has one slice per channel of the layer's input.")
    if got_weights != slices * kh * kw:
        if got_weights == slices * kh * kw + 1:
            raise Wrong("weights_per_kernel counts the bias too: count the weights only.")
        if got_weights == kh * kw:
            raise Wrong("weights_per_kernel is one slice's weights: a kernel has several slices.")
        raise Wrong("weights_per_kernel is wrong: multiply the number of slices by the size of a slice "
                    "(the stride does not matter).")


@question("02.q2", points=2, title="One value from two channels by hand", names=("value",))
def q2(value):
    x = torch.tensor(Q2_INPUT, dtype=torch.float64)[None]
    w = torch.tensor(Q2_WEIGHT, dtype=torch.float64)
    b = torch.tensor(Q2_BIAS, dtype=torch.float64)
    o, (row, col) = Q2_CHANNEL, Q2_AT
    out = F.conv2d(x, w, b)[0]
    want = int(out[o, row, col])
    got = as_int(value, "value")
    if got == want:
        return
    if got == want - Q2_BIAS[o]:
        raise Wrong("value is the sum of the products without the bias: add kernel 1's bias.")
    for c in range(w.shape[1]):
        alone = int(F.conv2d(x[:, c : c + 1], w[:, c : c + 1])[0, o, row, col])
        if got in (alone, alone + Q2_BIAS[o]):
            raise Wrong(f"value uses only slice {c} of the kernel: every slice is applied to its own input "
                        "channel and the results are added.")
    if got == int(out[1 - o, row, col]):
        raise Wrong("value comes from the other kernel: output channel 1 is made by kernel 1 (counting from 0).")
    raise Wrong(f"value = {got} is not output channel {o} at row {row}, column {col}: take the 3×3 window "
                "of each input channel, multiply it by the matching slice, add everything up and add the bias.")


def _check_im2col_case(im2col, x, k):
    c, h, w = x.shape
    want = F.unfold(x[None], k)[0]  # (C*k*k, L)
    got = as_tensor(call(im2col, x.clone(), k), "im2col")
    where = f"for a {c}×{h}×{w} input and k={k}"
    if tuple(got.shape) != tuple(want.shape):
        if tuple(got.shape) == tuple(want.shape)[::-1]:
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}, the transpose of the layout asked "
                        "for (one row per (channel, tap), one column per output position).")
        raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; there is one row per (channel, row, "
                    "column) of a window and one column per output position.")
    if torch.equal(got, want):
        return
    if got.shape[0] == got.shape[1] and torch.equal(got, want.T):
        raise Wrong(f"wrong layout {where}: you gave the transpose (one row per output position); "
                    "there is one row per (channel, tap) and one column per output position.")
    if not torch.equal(torch.sort(got.flatten()).values, torch.sort(want.flatten()).values):
        raise Wrong(f"wrong values {where}: column l must hold the window of output position l.")
    raise Wrong(f"the right numbers in the wrong order {where}: rows go channel by channel, and within a "
                "channel row by row through the window; columns go through output positions row by row.")


@question("02.q3", points=3, title="im2col: every window as a column", names=("im2col",))
def q3(im2col):
    generator = torch.Generator().manual_seed(203)
    cases = [((1, 3, 3), 2), ((2, 4, 5), 3), ((3, 5, 5), 3), ((3, 6, 4), 1), ((2, 3, 7), 3), ((4, 2, 2), 2)]
    for shape, k in cases:
        x = torch.randint(-9, 10, shape, generator=generator).double()
        _check_im2col_case(im2col, x, k)


@question("02.q4", points=3, title="A convolution as one matrix product", names=("conv2d_matmul",))
def q4(conv2d_matmul):
    generator = torch.Generator().manual_seed(204)
    for c_in, c_out, (h, w), k in [(1, 1, (4, 4), 3), (3, 2, (5, 5), 3), (2, 4, (6, 7), 2), (4, 3, (3, 5), 3),
                                   (3, 5, (6, 6), 1)]:
        x = torch.randn(c_in, h, w, generator=generator, dtype=torch.float64)
        weight = torch.randn(c_out, c_in, k, k, generator=generator, dtype=torch.float64)
        bias = torch.randn(c_out, generator=generator, dtype=torch.float64)
        want = F.conv2d(x[None], weight, bias)[0]
        got = as_tensor(call(conv2d_matmul, x.clone(), weight.clone(), bias.clone()), "conv2d_matmul")
        where = f"for {c_in} input channels, {c_out} kernels of {k}×{k} and a {h}×{w} input"
        if tuple(got.shape) != tuple(want.shape):
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; the result is "
                        "(out_channels, out_height, out_width).")
        if torch.allclose(got, want, atol=1e-5):
            continue
        if torch.allclose(got, want - bias.view(-1, 1, 1), atol=1e-5):
            raise Wrong(f"wrong values {where}: the bias is missing (one value per output channel).")
        raise Wrong(f"wrong values {where}: each kernel, flattened, times each window column gives "
                    "one output value.")


def _prepared(images):
    return images.permute(0, 3, 1, 2).float() / 255


@question("02.q5", points=3, title="Fix a broken model", names=("prepare", "fixed_model"))
def q5(prepare, fixed_model):
    generator = torch.Generator().manual_seed(205)
    images = torch.randint(0, 256, (2, 5, 7, 3), generator=generator, dtype=torch.uint8)
    want = _prepared(images)
    got = as_tensor(call(prepare, images.clone()), "prepare")
    if tuple(got.shape) != tuple(want.shape):
        raise Wrong(f"prepare gives shape {tuple(got.shape)} for photos of shape (2, 5, 7, 3); it should give "
                    "(batch, channels, height, width).")
    if not torch.allclose(got, want.double(), atol=1e-6):
        if torch.allclose(got, images.reshape(2, 3, 5, 7).double() / 255, atol=1e-6):
            raise Wrong("prepare has the right shape but mixes up the pixels: reshape keeps the numbers in "
                        "memory order; only permute moves the channel axis.")
        if torch.allclose(got, want.double() * 255, atol=1e-3):
            raise Wrong("prepare does not scale the values: the model expects numbers from 0 to 1.")
        raise Wrong("prepare's values are wrong: each output channel should be one colour plane of the "
                    "photos, scaled to 0..1.")
    if not isinstance(fixed_model, nn.Module):
        raise Wrong(f"fixed_model should be an nn.Module (e.g. an nn.Sequential), got {type(fixed_model).__name__}.")
    convs = [m for m in fixed_model.modules() if isinstance(m, nn.Conv2d)]
    if [c.out_channels for c in convs] != [16, 32] or any(c.kernel_size != (3, 3) for c in convs):
        raise Wrong("keep the layers of the broken model: two 3×3 convolutions making 16 and then 32 channels.")
    linears = [m for m in fixed_model.modules() if isinstance(m, nn.Linear)]
    if not linears or linears[-1].out_features != 10:
        raise Wrong("the model should end with a Linear layer giving 10 scores.")
    photos = torch.randint(0, 256, (2, 32, 32, 3), generator=generator, dtype=torch.uint8)
    with torch.no_grad():
        out = call(fixed_model, _prepared(photos).to(**place(fixed_model)), name="fixed_model")
    expect_shape(out, (2, 10), "for a batch of 2 prepared 32×32 photos the model")
