"""Checks for chapter 06's exercises (solutions/06_pooling.ipynb): max and average pooling by hand,
padding (−∞ for max, count_include_pad for average), the output size with ceil_mode, when adaptive
pooling is an ordinary pooling, and a network stem whose pooling gives the wrong size.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: F.max_pool2d / F.avg_pool2d on the numbers, pooling layers on the 'meta' device for sizes,
F.adaptive_avg_pool1d for adaptive pooling, and the stem the task asks for, loaded with the
student's weights, for the model.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_int,
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

# Question 06.q1's input, and 06.q2's (negative values, so that the padding matters).
Q1_INPUT = [[1, 5, 2, 0, 3], [4, 2, 8, 1, 1], [0, 3, 6, 7, 2], [2, 9, 1, 4, 5], [3, 0, 2, 6, 1]]
Q2_INPUT = [[-3, -1, -4, -2], [-5, -9, -2, -6], [-5, -3, -5, -8], [-9, -7, -9, -3]]


def _image(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).reshape(1, 1, len(values), len(values[0]))


def _as_grid(value, name: str) -> torch.Tensor:
    """A 2-D grid of numbers (nested lists, a tuple or a tensor) as a float64 tensor; Wrong otherwise."""
    value = value_of(value)
    try:
        grid = as_tensor(value, name)
    except Wrong:
        raise Wrong(f"{name} should be a grid of numbers such as [[1, 2], [3, 4]], got {short(value)}.") from None
    while grid.ndim > 2 and grid.shape[0] == 1:  # accept a (1, 1, H, W) tensor too
        grid = grid[0]
    if grid.ndim != 2:
        raise Wrong(f"{name} should be a 2-D grid (rows of numbers), got {grid.ndim} dimension(s).")
    return grid


def _first_wrong(got: torch.Tensor, want: torch.Tensor) -> tuple:
    """(row, column) of the first cell of got that is not the same as want's (the tolerance policy)."""
    for row in range(want.shape[0]):
        for col in range(want.shape[1]):
            if not same(got[row, col], want[row, col]):
                return row, col
    return 0, 0


@question("06.q1", points=2, title="Pool by hand", names=("max_out", "avg_out"))
def q1(max_out, avg_out):
    x = _image(Q1_INPUT)
    want_max = F.max_pool2d(x, kernel_size=3, stride=2)[0, 0]
    want_avg = F.avg_pool2d(x, kernel_size=2)[0, 0]
    got_max, got_avg = _as_grid(max_out, "max_out"), _as_grid(avg_out, "avg_out")
    if tuple(got_max.shape) != tuple(want_max.shape):
        raise Wrong(f"max_out has {got_max.shape[0]}×{got_max.shape[1]} values, but the max pooling's output has a "
                    "different size: with windows of 3 and stride 2, count the windows that fit in 5.")
    if not same(got_max, want_max):
        row, col = _first_wrong(got_max, want_max)
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
    if not same(got_avg, want_avg):
        row, col = _first_wrong(got_avg, want_avg)
        raise Wrong(f"avg_out is wrong at row {row}, column {col}: it is the mean of one 2×2 window "
                    "(write averages that are not whole as fractions, e.g. 11 / 4, so that they are exact).")


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
    if not same(got, want_max):
        if same(got, zero_padded_max):
            raise Wrong("max_padded treats the padding as zeros; max pooling pads with −∞, so a padded cell "
                        "never wins.")
        raise Wrong("max_padded is wrong: each output is the largest input value in its 3×3 window "
                    "(the window starting one cell before the input, because of the padding).")
    include, exclude = grids["avg_include"], grids["avg_exclude"]
    if same(include, want_exclude) and same(exclude, want_include):
        raise Wrong("avg_include and avg_exclude are swapped: count_include_pad=True divides by the whole window.")
    if not same(include, want_include):
        raise Wrong("avg_include is wrong: with count_include_pad=True every window's sum is divided by 9, "
                    "the padded cells (zeros) included (write fractions, e.g. -14 / 9, so that they are exact).")
    if not same(exclude, want_exclude):
        raise Wrong("avg_exclude is wrong: with count_include_pad=False each window's sum is divided by the "
                    "number of input cells in it, not counting the padding.")


def _torch_pool_size(i, k, s, p, ceil_mode):
    """The output height MaxPool2d gives (a layer on the 'meta' device: sizes only); RuntimeError if refused."""
    layer = nn.MaxPool2d((k, 1), (s or k, 1), (p, 0), ceil_mode=ceil_mode)
    return layer(torch.empty(1, 1, i, 1, device="meta")).shape[2]


def _naive_ceil(i, k, s, p) -> int:
    return -(-(i + 2 * p - k) // s) + 1


def _draw_pool_case(draw):
    k = draw.randint(1, 7)
    case = (draw.randint(1, 40), k, draw.randint(1, 6), draw.randint(0, k // 2), draw.random() < 0.7)
    try:
        _torch_pool_size(*case)
    except RuntimeError:  # torch refuses the setting (no output)
        return None
    return case


@question("06.q3", points=4, title="The output size with ceil_mode", names=("pool_output_size",))
def q3(pool_output_size):
    fixed = [  # (i, k, s, p, ceil_mode); on seven ceil_mode cases, e.g. (5, 2, 2, 1), the documented formula is wrong
        (4, 2, 2, 0, False), (5, 3, 3, 0, False), (5, 3, 3, 0, True), (30, 3, 3, 0, True), (6, 3, 2, 0, True),
        (7, 3, 2, 1, False), (7, 3, 2, 1, True), (8, 3, 2, 1, True), (1, 2, 2, 0, True), (32, 2, 2, 0, True),
        (5, 2, 2, 1, True), (3, 2, 2, 1, True), (9, 2, 2, 1, True), (6, 2, 3, 0, True), (4, 2, 3, 1, True),
        (2, 1, 2, 0, True), (6, 4, 4, 2, True), (10, 4, 5, 2, True), (11, 5, 4, 0, True), (152, 3, 2, 1, False),
    ]
    for i, k, s, p, ceil_mode in sweep(fixed, _draw_pool_case, 80, seed=603):
        shown = f"pool_output_size({i}, {k}, {s}, {p}, ceil_mode={ceil_mode})"
        got = as_int(call(pool_output_size, i, k, s, p, ceil_mode, name="pool_output_size"), shown)
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
    got = as_int(call(pool_output_size, 10, 3, name="pool_output_size"), "pool_output_size(10, 3)")
    if got != _torch_pool_size(10, 3, None, 0, False):
        raise Wrong("pool_output_size(10, 3) is wrong: when the stride is None it is the kernel size, "
                    "padding defaults to 0 and ceil_mode to False.")
    shown = "pool_output_size(10, 3, None, 0, True)"
    got = as_int(call(pool_output_size, 10, 3, None, 0, True, name="pool_output_size"), shown)
    if got != _torch_pool_size(10, 3, None, 0, True):
        raise Wrong(f"{shown} is wrong: a stride of None means the kernel size.")


def _adaptive_windows(in_size: int, out_size: int) -> list:
    """Adaptive pooling's windows read off torch: pool each unit vector and see which outputs it reaches."""
    units = torch.eye(in_size, dtype=torch.float64).reshape(in_size, 1, in_size)
    reach = F.adaptive_avg_pool1d(units, out_size)[:, 0, :] > 0  # reach[j, n]: input j is in window n
    windows = []
    for n in range(out_size):
        cells = reach[:, n].nonzero().flatten().tolist()
        windows.append((cells[0], cells[-1] + 1))
    return windows


def _pool_matches(in_size, out_size, k, s, x) -> bool:
    """Whether F.avg_pool1d(x, k, s) computes what F.adaptive_avg_pool1d(x, out_size) does, on x."""
    try:
        fixed = F.avg_pool1d(x, k, s)
    except RuntimeError:  # torch refuses the setting (a window larger than the input)
        return False
    return same(fixed, F.adaptive_avg_pool1d(x, out_size))


def _some_fixed_pool(in_size, out_size, x) -> bool:
    """Whether any AvgPool1d(k, stride=s) equals adaptive pooling: if one does, its windows are torch's windows,
    so k is the first window's length and s the distance between the first two starts (any s when one window)."""
    windows = _adaptive_windows(in_size, out_size)
    k = windows[0][1] - windows[0][0]
    s = windows[1][0] - windows[0][0] if out_size > 1 else 1
    return s >= 1 and _pool_matches(in_size, out_size, k, s, x)


def _draw_adaptive_case(draw):
    if draw.random() < 0.5:  # a size a fixed pooling could produce; adaptive pooling may still pick other windows
        out_size, k, s = draw.randint(2, 8), draw.randint(1, 7), draw.randint(1, 6)
        return (out_size - 1) * s + k, out_size
    return draw.randint(1, 30), draw.randint(1, 12)


def _as_pool_setting(got, shown: str):
    """None, or the pair (k, s) of whole numbers a student's function returned; Wrong otherwise."""
    if got is None:
        return None
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Wrong(f"{shown} returned {short(got)}; it should return a pair (kernel_size, stride), or None.")
    return as_int(got[0], f"the kernel size from {shown}"), as_int(got[1], f"the stride from {shown}")


@question("06.q4", points=3, title="Adaptive pooling's windows", names=("as_fixed_pool",))
def q4(as_fixed_pool):
    fixed = [(7, 3), (10, 4), (8, 4), (5, 5), (4, 6), (13, 5), (1, 3), (6, 1), (9, 2), (7, 7), (11, 5), (10, 3),
             (3, 2), (12, 5), (2, 4), (1, 1), (16, 3), (5, 2)]
    random_tensors = generator(604)
    for in_size, out_size in sweep(fixed, _draw_adaptive_case, 48, seed=604):
        shown = f"as_fixed_pool({in_size}, {out_size})"
        got = _as_pool_setting(call(as_fixed_pool, in_size, out_size, name="as_fixed_pool"), shown)
        x = torch.randn(2, 1, in_size, generator=random_tensors, dtype=torch.float64)
        exists = _some_fixed_pool(in_size, out_size, x)
        if got is None:
            if exists:
                raise Wrong(f"{shown} returned None, but an AvgPool1d(kernel_size, stride) does compute the same as "
                            "adaptive pooling there: write out the adaptive windows and compare their lengths "
                            "and starts.")
            continue
        k, s = got
        if k < 1 or s < 1:
            raise Wrong(f"{shown} returned {got}; a kernel size and a stride are at least 1.")
        if _pool_matches(in_size, out_size, k, s, x):
            continue
        try:
            count = F.avg_pool1d(x, k, s).shape[-1]
        except RuntimeError:
            count = 0
        if count != out_size:
            raise Wrong(f"{shown} returned {got}: AvgPool1d({k}, stride={s}) gives {count} output(s) on an input "
                        f"of {in_size}, not {out_size}.")
        raise Wrong(f"{shown} returned {got}: AvgPool1d({k}, stride={s}) gives {out_size} outputs on an input of "
                    f"{in_size}, but it averages different cells than adaptive pooling.")


# Question 06.q5's stem: its convolution (kept as it is), and the image size it must take.
STEM_IMAGE = (3, 300, 228)


def _stem(pool: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                         nn.ReLU(), pool)


def _stem_weights(fixed_stem) -> list:
    """The student's stem's weights, with the message for a convolution that got its bias back."""
    pairs = fixed_stem.state_dict()
    if len(pairs) == 7 and tuple(pairs[0][1].shape) == (64, 3, 7, 7) and tuple(pairs[1][1].shape) == (64,):
        raise Wrong("fixed_stem's convolution has a bias: keep bias=False (a BatchNorm follows it).")
    return pairs


WRONG_POOLS = [  # what other poolings with a 3×3 window compute, and why they are not the one asked for
    (nn.MaxPool2d(3, 2, 1), "pads the feature maps (padding=1): keep padding=0, as the task asks"),
    (nn.MaxPool2d(3, 2, 1, ceil_mode=True), "pads the feature maps: keep padding=0, as the task asks"),
    (nn.MaxPool2d(3, 2), "drops the last windows that do not fit entirely inside the maps, so it loses the last "
                         "row and column; a pooling layer can keep such windows"),
    (nn.MaxPool2d(3, ceil_mode=True), "moves its window 3 cells at a time: a pooling layer's stride defaults to "
                                      "its kernel size"),
    (nn.Identity(), "does not pool: keep the max pooling"),
]


@question("06.q5", points=2, title="Fix the stem's pooling", names=("fixed_stem",))
def q5(fixed_stem):
    expect_module(fixed_stem, "fixed_stem")
    wanted_pool = nn.MaxPool2d(3, stride=2, padding=0, ceil_mode=True)
    mistakes = [(lambda pool=pool: _stem(pool), f"computes what the stem computes when its pooling {why}.")
                for pool, why in WRONG_POOLS]
    random_tensors = generator(605)
    probes = [torch.rand(batch, *STEM_IMAGE, generator=random_tensors) for batch in (1, 2)]
    judge_model(fixed_stem, built(lambda: _stem(wanted_pool)), probes, "fixed_stem", mistakes=mistakes,
                pairs=_stem_weights(fixed_stem),
                otherwise="computes something else than the stem with your weights and the pooling the task asks "
                          "for: keep the convolution, BatchNorm and ReLU as they are, and pool with a 3×3 window, "
                          "no padding.")
