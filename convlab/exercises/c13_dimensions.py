"""Checks for chapter 13's exercises (solutions/13_dimensions.ipynb): the shapes of a Conv1d and a
Conv3d, the output size in any number of dimensions, a 3-D convolution built from 2-D ones, a 3-D
pooling with ceil_mode, and a motion detector for clips.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: layers on the 'meta' device for shapes and sizes, F.conv3d in float64 for values. Random
cases come from private generators, so checking never moves the global RNG.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_shape,
    as_tensor,
    call,
    expect_module,
    expect_shape,
    generator,
    question,
    same,
    short,
    sweep,
)

# Question 13.q1's layers and inputs (the notebook builds the same ones).
Q1_CONV_1D = dict(in_channels=2, out_channels=6, kernel_size=5, stride=2, padding=1)
Q1_SIGNALS = (4, 2, 50)
Q1_CONV_3D = dict(in_channels=3, out_channels=8, kernel_size=(3, 5, 5), stride=(1, 2, 2), padding=(0, 2, 2))
Q1_CLIPS = (2, 3, 16, 32, 32)
# Question 13.q4's pooling and input.
Q4_POOL = dict(kernel_size=(2, 3, 3), stride=2, padding=1, ceil_mode=True)
Q4_CLIPS = (2, 3, 5, 8, 7)

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
AXES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _meta_out(layer: nn.Module, shape) -> tuple:
    """The output shape of a layer built on 'meta' (no numbers, no draw from the RNG)."""
    return tuple(layer(torch.empty(*shape, device="meta")).shape)


def _shape_reason(name: str, got: tuple, want: tuple, layout: tuple, layer: str) -> str:
    """Why an output shape is wrong, naming the first wrong entry of the layout, never the right value."""
    if len(got) != len(want):
        return f"{name} has {len(got)} numbers; a {layer}'s output is ({', '.join(layout)})."
    for index, (g, w) in enumerate(zip(got, want)):
        if g != w:
            what = layout[index]
            if what == "batch":
                return f"{name}'s batch size is wrong: a convolution does not change it."
            if what == "channels":
                return f"{name}'s channel count is wrong: there is one output channel per kernel."
            return (f"{name}'s {what} is wrong: use the output-size formula with the {what}'s own kernel size, "
                    "stride and padding.")
    return f"{name} is wrong."


def _weight_reason(name: str, got: tuple, want: tuple, layer: str, layout: str) -> str:
    if sorted(got) == sorted(want):
        return f"{name} has the right numbers in the wrong order: a {layer} weight is {layout}."
    if len(got) != len(want):
        return f"{name} has {len(got)} numbers; a {layer} weight is {layout}."
    return f"{name} is wrong: one kernel per output channel, one slice per input channel, and the kernel's sizes."


@question("13.q1", points=2, title="Predict the shapes", names=("out_1d", "weight_1d", "out_3d", "weight_3d"))
def q1(out_1d, weight_1d, out_3d, weight_3d):
    conv_1d = nn.Conv1d(**Q1_CONV_1D, device="meta")
    conv_3d = nn.Conv3d(**Q1_CONV_3D, device="meta")
    checks = [
        ("out_1d", out_1d, _meta_out(conv_1d, Q1_SIGNALS), ("batch", "channels", "length"), "Conv1d"),
        ("out_3d", out_3d, _meta_out(conv_3d, Q1_CLIPS), ("batch", "channels", "depth", "height", "width"),
         "Conv3d"),
    ]
    weights = [
        ("weight_1d", weight_1d, tuple(conv_1d.weight.shape), "Conv1d", "(out_channels, in_channels, k)"),
        ("weight_3d", weight_3d, tuple(conv_3d.weight.shape), "Conv3d", "(out_channels, in_channels, kD, kH, kW)"),
    ]
    for name, answer, want, layout, layer in checks:
        got = as_shape(answer, name)
        if got != want:
            raise Wrong(_shape_reason(name, got, want, layout, layer))
    for name, answer, want, layer, layout in weights:
        got = as_shape(answer, name)
        if got != want:
            raise Wrong(_weight_reason(name, got, want, layer, layout))


def _torch_size(size, k, s, p, d):
    """The output size a real Conv{n}d computes (None where the kernel does not fit)."""
    try:
        layer = CONV[len(size)](1, 1, k, s, p, d, bias=False, device="meta")
        return _meta_out(layer, (1, 1, *size))[2:]
    except RuntimeError:
        return None


def _draw_size_case(draw):
    n = draw.randint(1, 3)
    size = tuple(draw.randint(1, 40) for _ in range(n))

    def option(low, high):
        return draw.randint(low, high) if draw.random() < 0.4 else tuple(draw.randint(low, high) for _ in range(n))

    case = (size, option(1, 7), option(1, 4), option(0, 3), option(1, 3))
    return case if _torch_size(*case) is not None else None


def _ignoring_dilation(size, k, s, p):
    return _torch_size(size, k, s, p, 1)


@question("13.q2", points=3, title="The output size in any dimension", names=("output_size",))
def q2(output_size):
    fixed = [((200,), 5, 1, 2, 1), ((50,), 5, 2, 1, 1), ((28, 28), 3, 1, 0, 1), ((16,), 3, 1, 0, 4),
             ((8, 64, 64), (3, 7, 7), (1, 2, 2), (1, 3, 3), 1),
             ((9, 17, 8), (2, 3, 2), (1, 2, 3), (1, 0, 1), (2, 1, 1)), ((7, 12), (1, 5), (3, 1), (0, 2), (1, 2))]
    for size, k, s, p, d in sweep(fixed, _draw_size_case, 40, seed=1302):
        shown = f"output_size({size}, {k!r}, {s!r}, {p!r}, {d!r})"
        got = call(output_size, size, k, s, p, d, name="output_size")
        want = _torch_size(size, k, s, p, d)
        if isinstance(got, list):
            got = tuple(got)
        if not isinstance(got, tuple) or not all(type(v) is int for v in got):
            raise Wrong(f"{shown} returned {short(got)}; it should return a tuple of ints, one per dimension.")
        if got == want:
            continue
        if len(got) != len(want):
            raise Wrong(f"{shown} returned {len(got)} sizes, but the input has {len(want)} dimension(s).")
        if got == _ignoring_dilation(size, k, s, p):
            raise Wrong(f"{shown} ignores the dilation: a dilated kernel spans d(k - 1) + 1 samples.")
        axis = next(j for j in range(len(want)) if got[j] != want[j])
        raise Wrong(f"{shown} is wrong in the {AXES[len(want)][axis]} (dimension {axis}): each dimension "
                    "uses its own kernel size, stride, padding and dilation.")
    got = call(output_size, (28,), 3, name="output_size")
    if got not in ((26,), [26]):
        raise Wrong("output_size((28,), 3) is wrong: stride should default to 1, padding to 0 and dilation to 1.")


def _q3_case(seed, batch, c_in, c_out, size, kernel):
    random_tensors = generator(seed)
    x = torch.randn(batch, c_in, *size, generator=random_tensors)
    w = torch.randn(c_out, c_in, *kernel, generator=random_tensors)
    b = torch.randn(c_out, generator=random_tensors)
    return x, w, b


Q3_CASES = [  # (batch, in channels, out channels, (D, H, W), (kD, kH, kW))
    (1, 1, 1, (4, 5, 5), (2, 3, 3)),
    (2, 3, 4, (5, 7, 6), (3, 2, 3)),
    (1, 2, 3, (3, 4, 4), (1, 3, 3)),
    (2, 2, 2, (6, 5, 8), (4, 1, 2)),
    (1, 3, 2, (3, 3, 3), (3, 3, 3)),
]


@question("13.q3", points=3, title="A 3-D convolution from 2-D ones", names=("conv3d_by_frames",))
def q3(conv3d_by_frames):
    for index, (batch, c_in, c_out, size, kernel) in enumerate(Q3_CASES):
        x, w, b = _q3_case(1303 + index, batch, c_in, c_out, size, kernel)
        shown = f"conv3d_by_frames on an input of shape {tuple(x.shape)} with a weight of shape {tuple(w.shape)}"
        got = as_tensor(call(conv3d_by_frames, x, w, b, name="conv3d_by_frames"), shown)
        want = F.conv3d(x.double(), w.double(), b.double())
        expect_shape(got, tuple(want.shape), shown)
        if same(got, want):
            continue
        if kernel[0] > 1 and same(got, want + (kernel[0] - 1) * b.double().reshape(1, -1, 1, 1, 1)):
            raise Wrong(f"{shown} adds the bias once per frame of the kernel: add it once per output value.")
        if same(got, F.conv3d(x.double(), w.double().flip(2), b.double())):
            raise Wrong(f"{shown} pairs the kernel's frames with the input frames in reverse order: output frame t "
                        "uses kernel frame a with input frame t + a.")
        if same(got, want - b.double().reshape(1, -1, 1, 1, 1)):
            raise Wrong(f"{shown} leaves out the bias.")
        raise Wrong(f"{shown} gives the right shape but wrong values: output frame t is the sum over the kernel's "
                    "frames a of a 2-D convolution of input frame t + a with kernel frame a, plus the bias.")


@question("13.q4", points=2, title="Pooling a clip with ceil_mode", names=("pooled_shape",))
def q4(pooled_shape):
    want = _meta_out(nn.MaxPool3d(**Q4_POOL), Q4_CLIPS)
    got = as_shape(pooled_shape, "pooled_shape")
    if got == want:
        return
    layout = ("batch", "channels", "depth", "height", "width")
    if len(got) != len(want):
        raise Wrong(f"pooled_shape has {len(got)} numbers; a MaxPool3d's output is ({', '.join(layout)}).")
    if got[:2] != want[:2]:
        raise Wrong("pooled_shape's batch or channel count is wrong: pooling changes neither.")
    floor = _meta_out(nn.MaxPool3d(**{**Q4_POOL, "ceil_mode": False}), Q4_CLIPS)
    kernel, stride, padding = Q4_POOL["kernel_size"], Q4_POOL["stride"], Q4_POOL["padding"]
    for axis in range(2, 5):
        if got[axis] == want[axis]:
            continue
        i, k = Q4_CLIPS[axis], kernel[axis - 2]
        naive = -(-(i + 2 * padding - k) // stride) + 1
        what = layout[axis]
        if got[axis] == naive:
            raise Wrong(f"pooled_shape's {what} keeps a last window that would start in the right-hand padding: "
                        "PyTorch drops such a window.")
        if got[axis] == floor[axis]:
            raise Wrong(f"pooled_shape's {what} is the size without ceil_mode: with ceil_mode=True a partial "
                        "window at the end that starts inside the input is kept.")
        raise Wrong(f"pooled_shape's {what} is wrong: use that dimension's kernel size ({k}), the stride and the "
                    "padding, round up, then apply the drop rule.")


def _motion_reference(x: torch.Tensor, lag: int = 2) -> torch.Tensor:
    """Frame t + lag minus frame t, averaged over each 3×3 neighbourhood, height and width kept
    (lag 1, a common slip, only to explain it: its kernel is still 3 frames deep)."""
    w = torch.zeros(1, 1, 3, 3, 3, dtype=torch.float64)
    w[0, 0, 0], w[0, 0, lag] = -1 / 9, 1 / 9
    return F.conv3d(x.double(), w, padding=(0, 1, 1))


@question("13.q5", points=2, title="A smoothed motion detector", names=("motion",))
def q5(motion):
    expect_module(motion, "motion")
    random_tensors = generator(1305)
    probes = [torch.rand(1, 1, 6, 9, 10, generator=random_tensors),
              torch.rand(2, 1, 4, 5, 7, generator=random_tensors)]
    for x in probes:
        shown = f"motion on a clip of shape {tuple(x.shape)}"
        got = as_tensor(motion.run(x, no_grad=True, eval=True, copy=True, place=True, shown=shown), shown)
        want = _motion_reference(x)
        if isinstance(got, torch.Tensor) and got.ndim == 5 and tuple(got.shape) != tuple(want.shape):
            if got.shape[2] != want.shape[2]:
                raise Wrong(f"{shown} gives {got.shape[2]} frames: frame t of the output compares input frames "
                            "t and t + 2, so the output has two frames fewer than the clip.")
            if tuple(got.shape[3:]) != tuple(want.shape[3:]):
                raise Wrong(f"{shown} changes the height or width: pad so that they are kept.")
        expect_shape(got, tuple(want.shape), shown)
        if same(got, want):
            continue
        if same(got, -want):
            raise Wrong(f"{shown} subtracts the wrong way round: it should be frame t + 2 minus frame t.")
        if same(got, 9 * want):
            raise Wrong(f"{shown} sums each 3×3 neighbourhood: it should average it.")
        if same(got - want, torch.full_like(want, float((got - want).mean()))):
            raise Wrong(f"{shown} is off by a constant: the layer should have no bias.")
        if same(got, _motion_reference(x, lag=1)):
            raise Wrong(f"{shown} compares frame t with frame t + 1; it should compare it with frame t + 2.")
        raise Wrong(f"{shown} gives the right shape but wrong values: output frame t should be the 3×3 mean "
                    "around each pixel in frame t + 2 minus the same mean in frame t.")
