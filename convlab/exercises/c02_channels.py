"""Checks for chapter 02's exercises (solutions/02_channels.ipynb): kernels and slices, one value of a
multi-channel convolution by hand, im2col, the convolution as one matrix product, and a broken
model fed channels-last photos.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: layers on the 'meta' device for shapes, F.conv2d and F.unfold for values, the task's
architecture loaded with the student's weights for a model. Random cases come from private
generators, so checking never moves the global RNG.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import Wrong, as_int, as_tensor, built, call, generator, judge_model, question, same, sweep

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


def _draw_image_case(draw):
    """(shape (C, H, W), k) with the kernel fitting the image."""
    h, w = draw.randint(1, 8), draw.randint(1, 8)
    return (draw.randint(1, 4), h, w), draw.randint(1, min(h, w))


def _check_im2col_case(im2col, x, k):
    c, h, w = x.shape
    want = F.unfold(x[None], k)[0]  # (C*k*k, L)
    where = f"for a {c}×{h}×{w} input and k={k}"
    got = as_tensor(call(im2col, x, k, name="im2col"), f"im2col {where}")
    if tuple(got.shape) != tuple(want.shape):
        if tuple(got.shape) == tuple(want.shape)[::-1]:
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}, the transpose of the layout asked "
                        "for (one row per (channel, tap), one column per output position).")
        raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; there is one row per (channel, row, "
                    "column) of a window and one column per output position.")
    if same(got, want):
        return
    if got.shape[0] == got.shape[1] and same(got, want.T):
        raise Wrong(f"wrong layout {where}: you gave the transpose (one row per output position); "
                    "there is one row per (channel, tap) and one column per output position.")
    if not same(torch.sort(got.flatten()).values, torch.sort(want.flatten()).values):
        raise Wrong(f"wrong values {where}: column l must hold the window of output position l.")
    raise Wrong(f"the right numbers in the wrong order {where}: rows go channel by channel, and within a "
                "channel row by row through the window; columns go through output positions row by row.")


@question("02.q3", points=3, title="im2col: every window as a column", names=("im2col",))
def q3(im2col):
    random_tensors = generator(203)
    fixed = [((1, 3, 3), 2), ((2, 4, 5), 3), ((3, 5, 5), 3), ((3, 6, 4), 1), ((2, 3, 7), 3), ((4, 2, 2), 2),
             ((3, 3, 3), 3)]
    for shape, k in sweep(fixed, _draw_image_case, 14, seed=203):
        x = torch.randint(-9, 10, shape, generator=random_tensors).double()
        _check_im2col_case(im2col, x, k)


def _draw_matmul_case(draw):
    h, w = draw.randint(1, 8), draw.randint(1, 8)
    return draw.randint(1, 4), draw.randint(1, 5), (h, w), draw.randint(1, min(h, w))


@question("02.q4", points=3, title="A convolution as one matrix product", names=("conv2d_matmul",))
def q4(conv2d_matmul):
    random_tensors = generator(204)
    fixed = [(1, 1, (4, 4), 3), (3, 2, (5, 5), 3), (2, 4, (6, 7), 2), (4, 3, (3, 5), 3), (3, 5, (6, 6), 1),
             (2, 3, (3, 3), 3)]
    for c_in, c_out, (h, w), k in sweep(fixed, _draw_matmul_case, 12, seed=204):
        x = torch.randn(c_in, h, w, generator=random_tensors, dtype=torch.float64)
        weight = torch.randn(c_out, c_in, k, k, generator=random_tensors, dtype=torch.float64)
        bias = torch.randn(c_out, generator=random_tensors, dtype=torch.float64)
        want = F.conv2d(x[None], weight, bias)[0]
        where = f"for {c_in} input channels, {c_out} kernels of {k}×{k} and a {h}×{w} input"
        got = as_tensor(call(conv2d_matmul, x, weight, bias, name="conv2d_matmul"), f"conv2d_matmul {where}")
        if tuple(got.shape) != tuple(want.shape):
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; the result is "
                        "(out_channels, out_height, out_width).")
        if same(got, want):
            continue
        if same(got, want - bias.view(-1, 1, 1)):
            raise Wrong(f"wrong values {where}: the bias is missing (one value per output channel).")
        raise Wrong(f"wrong values {where}: each kernel, flattened, times each window column gives "
                    "one output value.")


def _prepared(images):
    """What prepare should give, computed here: channels first, floats from 0 to 1 (float64)."""
    return images.permute(0, 3, 1, 2).double() / 255


def _draw_photos(draw):
    return draw.randint(1, 3), draw.randint(1, 9), draw.randint(1, 9)


def _fixed_architecture() -> nn.Sequential:
    """The broken model's layers with its mistake corrected (the student's weights are loaded into it)."""
    return nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(32 * 8 * 8, 10))


def _check_prepare(prepare, images):
    n, h, w, c = images.shape
    where = f"prepare on photos of shape {(n, h, w, c)}"
    want = _prepared(images)
    got = as_tensor(call(prepare, images, name="prepare"), where)
    if tuple(got.shape) != tuple(want.shape):
        raise Wrong(f"{where} gives shape {tuple(got.shape)}; it should give (batch, channels, height, width).")
    if same(got, want):
        return
    if same(got, want * 255):
        raise Wrong(f"{where} does not scale the values: the model expects numbers from 0 to 1.")
    if same(torch.sort(got.flatten()).values, torch.sort(want.flatten()).values):
        # the right numbers in the wrong places (typically a reshape where the axes had to move)
        raise Wrong(f"{where} has the right shape and the right numbers, but puts them at the wrong pixels: "
                    "channel 0 of a prepared photo is not that photo's red plane (images[i, :, :, 0] / 255). "
                    "A right shape does not mean that every number travelled with its pixel: think about "
                    "how each step lays the numbers out.")
    raise Wrong(f"{where} gives wrong values: each output channel should be one colour plane of the "
                "photos, scaled to 0..1.")


@question("02.q5", points=3, title="Fix a broken model", names=("prepare", "fixed_model"))
def q5(prepare, fixed_model):
    random_tensors = generator(205)
    for n, h, w in sweep([(2, 5, 7), (1, 4, 4), (3, 1, 6)], _draw_photos, 8, seed=205):
        images = torch.randint(0, 256, (n, h, w, 3), generator=random_tensors, dtype=torch.uint8)
        _check_prepare(prepare, images)
    probes = [_prepared(torch.randint(0, 256, (n, 32, 32, 3), generator=random_tensors, dtype=torch.uint8))
              .float() for n in (2, 1)]
    judge_model(fixed_model, built(_fixed_architecture), probes, "fixed_model")
