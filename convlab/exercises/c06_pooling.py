"""Checks for chapter 06's exercises (solutions/06_pooling.ipynb): max and average pooling by hand,
padding (−∞ for max, count_include_pad for average), the output size with ceil_mode, adaptive
pooling's windows and a network stem whose pooling gives the wrong size.

Expected values come from torch itself (F.max_pool2d / F.avg_pool2d on the numbers, nn.MaxPool2d on
tiny zero inputs for sizes); random cases come from private generators, so checking never moves the
global RNG.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import Wrong, as_int, call, copy_model, expect_shape, place, question, rng

# Question 06.q1's input, and 06.q2's (negative values, so that the padding matters).
Q1_INPUT = [[1, 5, 2, 0, 3], [4, 2, 8, 1, 1], [0, 3, 6, 7, 2], [2, 9, 1, 4, 5], [3, 0, 2, 6, 1]]
Q2_INPUT = [[-3, -1, -4, -2], [-5, -9, -2, -6], [-5, -3, -5, -8], [-9, -7, -9, -3]]
TOLERANCE = 1e-3  # averages may be given with three decimals


def _image(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).reshape(1, 1, len(values), len(values[0]))


def _as_grid(value, name: str) -> torch.Tensor:
    """A 2-D grid of numbers (nested lists, a tuple or a tensor) as a float64 CPU tensor; Wrong otherwise."""
    try:
        grid = torch.as_tensor(value.detach().cpu() if isinstance(value, torch.Tensor) else value,
                               dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"{name} should be a grid of numbers such as [[1, 2], [3, 4]], "
                    f"got {type(value).__name__}.") from None
    while grid.ndim > 2 and grid.shape[0] == 1:  # accept a (1, 1, H, W) tensor too
        grid = grid[0]
    if grid.ndim != 2:
        raise Wrong(f"{name} should be a 2-D grid (rows of numbers), got {grid.ndim} dimension(s).")
    return grid


@question("06.q1", points=2, title="Pool by hand", names=("max_out", "avg_out"))
def q1(max_out, avg_out):
    x = _image(Q1_INPUT)
    want_max = F.max_pool2d(x, kernel_size=3, stride=2)[0, 0]
    want_avg = F.avg_pool2d(x, kernel_size=2)[0, 0]
    got_max, got_avg = _as_grid(max_out, "max_out"), _as_grid(avg_out, "avg_out")
    if tuple(got_max.shape) != tuple(want_max.shape):
        raise Wrong(f"max_out has {got_max.shape[0]}×{got_max.shape[1]} values, but the max pooling's output has a "
                    "different size: with windows of 3 and stride 2, count the windows that fit in 5.")
    if not torch.allclose(got_max, want_max, atol=TOLERANCE):
        wrong = (got_max - want_max).abs() > TOLERANCE
        row, col = [int(v) for v in wrong.nonzero()[0]]
        raise Wrong(f"max_out is wrong at row {row}, column {col}: that output's window starts at input row "
                    f"{2 * row}, column {2 * col} and is 3×3.")
    if tuple(got_avg.shape) != tuple(want_avg.shape):
        if got_avg.shape[0] == 3 or got_avg.shape[1] == 3:
            raise Wrong("avg_out has too many values: AvgPool2d(2) has stride 2 (the stride defaults to the "
                        "kernel size), and a window that does not fit is dropped (ceil_mode=False).")
        if got_avg.shape[0] == 4 or got_avg.shape[1] == 4:
            raise Wrong("avg_out has too many values: the stride of AvgPool2d(2) is not 1 "
                        "(a pooling layer's stride defaults to its kernel size).")
        raise Wrong(f"avg_out has {got_avg.shape[0]}×{got_avg.shape[1]} values, but AvgPool2d(2)'s output has a "
                    "different size.")
    if not torch.allclose(got_avg, want_avg, atol=TOLERANCE):
        wrong = (got_avg - want_avg).abs() > TOLERANCE
        row, col = [int(v) for v in wrong.nonzero()[0]]
        raise Wrong(f"avg_out is wrong at row {row}, column {col}: it is the mean of one 2×2 window "
                    "(give averages as fractions or with at least three decimals).")


@question("06.q2", points=3, title="Padding in max and average pooling",
          names=("max_padded", "avg_include", "avg_exclude"))
def q2(max_padded, avg_include, avg_exclude):
    x = _image(Q2_INPUT)
    settings = dict(kernel_size=3, stride=2, padding=1)
    want_max = F.max_pool2d(x, **settings)[0, 0]
    want_include = F.avg_pool2d(x, **settings, count_include_pad=True)[0, 0]
    want_exclude = F.avg_pool2d(x, **settings, count_include_pad=False)[0, 0]
    zero_padded_max = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), kernel_size=3, stride=2)[0, 0]
    answers = [
        ("max_padded", max_padded, want_max, "the max pooling"),
        ("avg_include", avg_include, want_include, "the average pooling"),
        ("avg_exclude", avg_exclude, want_exclude, "the average pooling"),
    ]
    grids = {}
    for name, value, want, what in answers:
        got = _as_grid(value, name)
        if tuple(got.shape) != tuple(want.shape):
            raise Wrong(f"{name} has {got.shape[0]}×{got.shape[1]} values, but {what}'s output has a different "
                        "size: the padded input is 6×6; count the 3×3 windows with stride 2.")
        grids[name] = got
    got = grids["max_padded"]
    if not torch.allclose(got, want_max, atol=TOLERANCE):
        if torch.allclose(got, zero_padded_max, atol=TOLERANCE):
            raise Wrong("max_padded treats the padding as zeros; max pooling pads with −∞, so a padded cell "
                        "never wins.")
        raise Wrong("max_padded is wrong: each output is the largest input value in its 3×3 window "
                    "(the window starting one cell before the input, because of the padding).")
    include, exclude = grids["avg_include"], grids["avg_exclude"]
    if torch.allclose(include, want_exclude, atol=TOLERANCE) and torch.allclose(exclude, want_include,
                                                                               atol=TOLERANCE):
        raise Wrong("avg_include and avg_exclude are swapped: count_include_pad=True divides by the whole window.")
    if not torch.allclose(include, want_include, atol=TOLERANCE):
        raise Wrong("avg_include is wrong: with count_include_pad=True every window's sum is divided by 9, "
                    "the padded cells (zeros) included (give fractions or at least three decimals).")
    if not torch.allclose(exclude, want_exclude, atol=TOLERANCE):
        raise Wrong("avg_exclude is wrong: with count_include_pad=False each window's sum is divided by the "
                    "number of input cells in it, not counting the padding.")


def _torch_pool_size(i, k, s, p, ceil_mode):
    layer = nn.MaxPool2d((k, 1), (s or k, 1), (p, 0), ceil_mode=ceil_mode)
    return layer(torch.zeros(1, 1, i, 1)).shape[2]


def _valid(i, k, s, p, ceil_mode) -> bool:
    try:
        _torch_pool_size(i, k, s, p, ceil_mode)
    except RuntimeError:
        return False
    return True


def _naive_ceil(i, k, s, p) -> int:
    return math.ceil((i + 2 * p - k) / s) + 1


@question("06.q3", points=4, title="The output size with ceil_mode", names=("pool_output_size",))
def q3(pool_output_size):
    fixed = [  # (i, k, s, p, ceil_mode); on seven ceil_mode cases, e.g. (5, 2, 2, 1), the documented formula is wrong
        (4, 2, 2, 0, False), (5, 3, 3, 0, False), (5, 3, 3, 0, True), (30, 3, 3, 0, True), (6, 3, 2, 0, True),
        (7, 3, 2, 1, False), (7, 3, 2, 1, True), (8, 3, 2, 1, True), (1, 2, 2, 0, True), (32, 2, 2, 0, True),
        (5, 2, 2, 1, True), (3, 2, 2, 1, True), (9, 2, 2, 1, True), (6, 2, 3, 0, True), (4, 2, 3, 1, True),
        (2, 1, 2, 0, True), (6, 4, 4, 2, True), (10, 4, 5, 2, True), (11, 5, 4, 0, True), (152, 3, 2, 1, False),
    ]
    draw = rng(603)
    cases = list(fixed)
    while len(cases) < 80:
        k = draw.randint(1, 7)
        case = (draw.randint(1, 40), k, draw.randint(1, 6), draw.randint(0, k // 2), draw.random() < 0.7)
        if _valid(*case):
            cases.append(case)
    for i, k, s, p, ceil_mode in cases:
        got = call(pool_output_size, i, k, s, p, ceil_mode)
        shown = f"pool_output_size({i}, {k}, {s}, {p}, ceil_mode={ceil_mode})"
        got = as_int(got, shown)
        want = _torch_pool_size(i, k, s, p, ceil_mode)
        if got == want:
            continue
        if not ceil_mode:
            hint = "without ceil_mode the division rounds down, as for a convolution"
        elif got == _naive_ceil(i, k, s, p):
            hint = "rounding up is not the whole rule here: look at where the last window would start"
        else:
            hint = "with ceil_mode=True the division rounds up"
        raise Wrong(f"{shown} returned {got}, but MaxPool2d gives a different size ({hint}).")
    got = call(pool_output_size, 10, 3)
    if got != _torch_pool_size(10, 3, None, 0, False):
        raise Wrong("pool_output_size(10, 3) is wrong: when the stride is None it is the kernel size, "
                    "padding defaults to 0 and ceil_mode to False.")
    got = call(pool_output_size, 10, 3, None, 0, True)
    if got != _torch_pool_size(10, 3, None, 0, True):
        raise Wrong("pool_output_size(10, 3, None, 0, True) is wrong: a stride of None means the kernel size.")


def _torch_windows(in_size: int, out_size: int) -> list:
    """Adaptive pooling's windows read off torch: pool each unit vector and see which outputs it reaches."""
    units = torch.eye(in_size, dtype=torch.float64).reshape(in_size, 1, in_size)
    reach = F.adaptive_avg_pool1d(units, out_size)[:, 0, :] > 0  # reach[j, n]: input j is in window n
    windows = []
    for n in range(out_size):
        cells = reach[:, n].nonzero().flatten().tolist()
        windows.append((cells[0], cells[-1] + 1))
    return windows


@question("06.q4", points=3, title="Adaptive pooling's windows", names=("adaptive_windows",))
def q4(adaptive_windows):
    cases = [(7, 3), (10, 4), (8, 4), (5, 5), (4, 6), (13, 5), (1, 3), (6, 1), (9, 2), (7, 7)]
    draw = rng(604)
    cases += [(draw.randint(1, 24), draw.randint(1, 12)) for _ in range(30)]
    for in_size, out_size in cases:
        got = call(adaptive_windows, in_size, out_size)
        shown = f"adaptive_windows({in_size}, {out_size})"
        try:
            got = [tuple(int(v) for v in pair) for pair in got]
        except (TypeError, ValueError):
            raise Wrong(f"{shown} returned {got!r}; it should return a list of (start, end) pairs of ints.") from None
        if any(len(pair) != 2 for pair in got):
            raise Wrong(f"{shown} should return (start, end) pairs, one per output cell.")
        if len(got) != out_size:
            raise Wrong(f"{shown} returned {len(got)} windows; there is one window per output cell.")
        for n, (pair, want) in enumerate(zip(got, _torch_windows(in_size, out_size))):
            if pair == want:
                continue
            if pair[0] == want[0] and pair[1] == want[1] - 1:
                raise Wrong(f"{shown}: window {n} is {pair}, which stops one cell short: the end is excluded, "
                            "as in range(start, end).")
            raise Wrong(f"{shown}: window {n} is {pair} (cells {pair[0]} to {pair[1] - 1}), but "
                        "AdaptiveAvgPool averages a different set of cells for that output.")


STEM_CONV = dict(in_channels=3, out_channels=64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3))


@question("06.q5", points=2, title="Fix the stem's pooling", names=("fixed_stem",))
def q5(fixed_stem):
    if not isinstance(fixed_stem, nn.Module):
        raise Wrong(f"fixed_stem should be an nn.Module (e.g. an nn.Sequential), got {type(fixed_stem).__name__}.")
    convs = [m for m in fixed_stem.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) != 1 or any(getattr(convs[0], key) != value for key, value in STEM_CONV.items()):
        raise Wrong("keep the stem's convolution as it is: Conv2d(3, 64, kernel_size=7, stride=2, padding=3).")
    if convs[0].bias is not None:
        raise Wrong("keep bias=False in the convolution: a BatchNorm follows it.")
    if not any(isinstance(m, nn.BatchNorm2d) for m in fixed_stem.modules()):
        raise Wrong("keep the stem's BatchNorm2d.")
    pools = [m for m in fixed_stem.modules() if isinstance(m, nn.MaxPool2d)]
    if len(pools) != 1:
        raise Wrong("the stem should keep exactly one MaxPool2d.")
    if pools[0].kernel_size not in (3, (3, 3)):
        raise Wrong("keep the pooling window at 3×3; change the other arguments.")
    generator = torch.Generator().manual_seed(605)
    x = torch.rand(1, 3, 304, 228, generator=generator).to(**place(fixed_stem))
    with torch.no_grad():
        out = call(copy_model(fixed_stem), x, name="fixed_stem")
    expect_shape(out, (1, 64, 76, 57), "for a batch of one 3×304×228 image the stem")
