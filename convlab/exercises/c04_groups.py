"""Checks for chapter 04's exercises (solutions/04_groups.ipynb): parameter counts with groups, which
input channels feed an output channel, a grouped convolution with groups of different sizes from
ordinary ones, the equivalent dense weight, and a broken depthwise-separable model.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: layers on the 'meta' device for counts and shapes, autograd through F.conv2d for
connections, F.conv2d (with and without groups) for values, the task's architecture loaded with
the student's weights for a model. Random cases come from private generators, so checking never
moves the global RNG.
"""

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
    expect_close,
    expect_module,
    generator,
    judge_model,
    question,
    same,
    short,
    sweep,
    value_of,
)

Q1_IN, Q1_OUT, Q1_KERNEL = 32, 64, 3
Q1_GROUPS = (1, 2, 4, 32)
Q2_IN, Q2_OUT, Q2_GROUPS, Q2_OUTPUT = 8, 12, 4, 7


@question("04.q1", points=2, title="Parameter counts with groups", names=("n_params",))
def q1(n_params):
    got_all = value_of(n_params)
    if isinstance(got_all, wire.Described) and got_all.type == "dict":
        raise Wrong("n_params should be a list of four counts, in the order groups = 1, 2, 4, 32 (not a dict).")
    if not isinstance(got_all, (list, tuple)):
        raise Wrong(f"n_params should be a list of four counts (groups = 1, 2, 4, 32), got {short(got_all)}.")
    if len(got_all) != len(Q1_GROUPS):
        raise Wrong(f"n_params holds {len(got_all)} counts; it should hold {len(Q1_GROUPS)}, one for each "
                    "value of groups (1, 2, 4, 32), in that order.")
    for groups, got_value in zip(Q1_GROUPS, got_all):
        layer = nn.Conv2d(Q1_IN, Q1_OUT, Q1_KERNEL, groups=groups, device="meta")
        weights, biases = layer.weight.numel(), layer.bias.numel()
        shown = f"the count for groups={groups}"
        got = as_int(got_value, shown)
        if got == weights + biases:
            continue
        if got == weights:
            raise Wrong(f"{shown} counts the weights only: the layer has a bias too.")
        if groups > 1 and got == (weights * groups + biases) // groups:
            raise Wrong(f"{shown} is wrong: groups divides the number of weights, "
                        "not the number of biases (one per output channel).")
        if groups > 1 and got in (weights * groups + biases, weights * groups):
            raise Wrong(f"{shown} is the count without groups: with groups each kernel has "
                        "slices only for its own group's input channels.")
        what = " (a depthwise layer)" if groups == Q1_IN else ""
        raise Wrong(f"{shown}{what} is wrong: find the weight's shape "
                    "(out_channels, in_channels / groups, kH, kW) and add the biases.")


def _inputs_feeding(weight, groups: int, output: int) -> list:
    """The input channels whose values change output channel `output`, found with autograd."""
    c_in = weight.shape[1] * groups
    x = torch.zeros(1, c_in, 5, 5, dtype=weight.dtype, requires_grad=True)
    F.conv2d(x, weight, groups=groups)[0, output].sum().backward()
    return [c for c in range(c_in) if bool(x.grad[0, c].abs().sum() > 0)]


def _channel_list(value, name: str) -> list:
    """A list of channel numbers (a list, tuple or 1-d integer tensor of ints); Wrong otherwise."""
    value = value_of(value)
    if isinstance(value, torch.Tensor) and value.ndim == 1 and not value.is_floating_point():
        value = value.tolist()
    if isinstance(value, wire.Described) and value.type in ("set", "frozenset", "range"):
        raise Wrong(f"{name} is a {value.type}; write it as a list of channel numbers, e.g. [0, 1].")
    if not isinstance(value, (list, tuple)):
        raise Wrong(f"{name} should be a list of channel numbers, got {short(value)}.")
    return sorted(as_int(c, f"an entry of {name}") for c in value)


@question("04.q2", points=2, title="Which inputs feed an output", names=("weight_shape", "inputs_of_7"))
def q2(weight_shape, inputs_of_7):
    layer = nn.Conv2d(Q2_IN, Q2_OUT, 3, groups=Q2_GROUPS, device="meta")
    got_shape = as_shape(weight_shape, "weight_shape")
    if got_shape != tuple(layer.weight.shape):
        if len(got_shape) == 4 and got_shape[1] == Q2_IN:
            raise Wrong("weight_shape is wrong: with groups, each kernel has slices only for the input "
                        "channels of its own group.")
        raise Wrong("weight_shape is wrong: it is (out_channels, in_channels / groups, kH, kW).")
    # the layer's weight shape, no zeros: every slice connects its input channel to its output channel
    weight = torch.rand(layer.weight.shape, generator=generator(402), dtype=torch.float64) + 0.5
    want = _inputs_feeding(weight, Q2_GROUPS, Q2_OUTPUT)
    got = _channel_list(inputs_of_7, "inputs_of_7")
    if got == want:
        return
    if len(got) == len(want):
        raise Wrong("inputs_of_7 has the right number of channels but the wrong ones: find output "
                    "channel 7's group (counting channels and groups from 0).")
    raise Wrong(f"inputs_of_7 lists {len(got)} channels; an output channel is fed by every input channel "
                "of its group, and only by those.")


# --- 04.q3: groups of different sizes -----------------------------------------------------------

# (batch, input channels of each group, kernels of each group, (H, W), (kH, kW))
Q3_FIXED = [
    (1, (2, 2), (1, 1), (5, 5), (3, 3)),            # equal groups: what groups=2 computes
    (2, (2, 2, 2), (2, 2, 2), (6, 7), (3, 3)),
    (1, (1, 1, 1, 1), (2, 2, 2, 2), (4, 4), (1, 1)),  # depthwise, two kernels per channel
    (2, (8,), (4,), (5, 6), (2, 2)),                # one group: an ordinary convolution
    (1, (1, 3), (2, 1), (5, 5), (3, 3)),            # groups of different sizes from here on
    (2, (3, 1, 2), (1, 2, 2), (6, 5), (2, 3)),
    (1, (4, 2), (3, 3), (4, 5), (3, 3)),
    (1, (2, 5, 1), (1, 1, 3), (5, 5), (1, 2)),
    (1, (1, 2), (2, 2), (3, 4), (3, 1)),
]


def _draw_uneven(draw):
    count = draw.randint(1, 4)
    h, w = draw.randint(2, 7), draw.randint(2, 7)
    return (draw.randint(1, 2), tuple(draw.randint(1, 4) for _ in range(count)),
            tuple(draw.randint(1, 3) for _ in range(count)), (h, w), (draw.randint(1, h), draw.randint(1, w)))


def _group_outputs(x, weights, starts) -> torch.Tensor:
    """Each weight convolved (F.conv2d, no groups) with the channels starting at its start, concatenated."""
    pieces = [F.conv2d(x[:, start:start + w.shape[1]], w) for start, w in zip(starts, weights)]
    return torch.cat(pieces, dim=1)


def _call_shown(function, shown: str, *args):
    """call(function, *args), with the call shown as `shown` in a Wrong (a list of tensors is too long to print)."""
    kind = function.describe()
    if not kind.callable:
        raise Wrong(f"{function.label} should be a function, but it is a {kind.type}.")
    return function.run(*args, shown=shown)


def _uneven_reference(x, weights) -> torch.Tensor:
    sizes = [w.shape[1] for w in weights]
    if len(set(sizes)) == 1 and len({w.shape[0] for w in weights}) == 1:  # torch's own groups
        return F.conv2d(x, torch.cat(weights), groups=len(weights))
    starts = [sum(sizes[:g]) for g in range(len(sizes))]
    return _group_outputs(x, weights, starts)


@question("04.q3", points=3, title="A grouped convolution from ordinary ones", names=("grouped_conv",))
def q3(grouped_conv):
    random_tensors = generator(403)
    for n, sizes, outs, (h, w), (kh, kw) in sweep(Q3_FIXED, _draw_uneven, 24, seed=403):
        x = torch.randn(n, sum(sizes), h, w, generator=random_tensors, dtype=torch.float64)
        weights = [torch.randn(o, c, kh, kw, generator=random_tensors, dtype=torch.float64)
                   for c, o in zip(sizes, outs)]
        want = _uneven_reference(x, weights)
        where = f"grouped_conv with groups of {list(sizes)} input channels and {list(outs)} {kh}×{kw} kernels"
        shown = f"grouped_conv(x, weights) with x of shape {tuple(x.shape)} and weights of shapes " + \
            ", ".join(str(tuple(w.shape)) for w in weights)
        got = as_tensor(_call_shown(grouped_conv, shown, x, weights), where)
        if tuple(got.shape) != tuple(want.shape):
            if got.ndim == 4 and got.shape[1] != want.shape[1]:
                raise Wrong(f"{where} gives {got.shape[1]} output channel(s): the result holds every group's output "
                            "channels, one per kernel, concatenated along the channel dimension.")
            raise Wrong(f"{where} gives the shape {tuple(got.shape)}: stride 1, no padding, and the groups' "
                        "outputs concatenated along the channel dimension.")
        if same(got, want):
            continue
        if len(sizes) > 1 and same(got, _group_outputs(x, weights, [0] * len(sizes))):
            raise Wrong(f"{where}: every group reads the first input channels; each group starts where "
                        "the previous one ended.")
        if len(sizes) > 1:
            backwards = [sum(sizes) - sum(sizes[:g + 1]) for g in range(len(sizes))]
            if same(got, _group_outputs(x, weights, backwards)):
                raise Wrong(f"{where}: the groups read the input channels from the end; group 0 reads the "
                            "first ones.")
        raise Wrong(f"{where} gives wrong values: group g's kernels go with the input channels that "
                    "follow those of the groups before it, and the outputs stay in group order.")


# --- 04.q4 ------------------------------------------------------------------------------------

Q4_FIXED = [(1, 4, 2, 2, (5, 5), 3), (2, 6, 6, 3, (6, 7), 3), (1, 4, 8, 4, (4, 4), 1), (2, 8, 4, 1, (5, 6), 2),
            (1, 6, 6, 6, (5, 5), 3), (1, 3, 6, 3, (6, 5), 2), (2, 12, 6, 3, (4, 5), 3)]


def _draw_grouped(draw):
    groups = draw.randint(1, 4)
    h, w = draw.randint(2, 7), draw.randint(2, 7)
    return (draw.randint(1, 2), groups * draw.randint(1, 3), groups * draw.randint(1, 3), groups, (h, w),
            draw.randint(1, min(h, w)))


@question("04.q4", points=3, title="The dense weight of a grouped convolution", names=("dense_weight",))
def q4(dense_weight):
    random_tensors = generator(404)
    for n, c_in, c_out, groups, (h, w), k in sweep(Q4_FIXED, _draw_grouped, 16, seed=404):
        x = torch.randn(n, c_in, h, w, generator=random_tensors, dtype=torch.float64)
        weight = torch.randn(c_out, c_in // groups, k, k, generator=random_tensors, dtype=torch.float64)
        want = F.conv2d(x, weight, groups=groups)
        where = f"dense_weight for {c_in} input channels, {c_out} kernels and groups={groups}"
        got = as_tensor(call(dense_weight, weight, groups, name="dense_weight"), where)
        want_shape = tuple(nn.Conv2d(c_in, c_out, k, device="meta").weight.shape)
        if tuple(got.shape) != want_shape:
            raise Wrong(f"{where} has the shape {tuple(got.shape)}; a dense weight has one kernel per output "
                        "channel and one slice per input channel of the whole layer.")
        try:
            expect_close(F.conv2d(x, got), want, f"F.conv2d with {where}")
        except Wrong:
            raise Wrong(f"F.conv2d with {where} differs from the grouped convolution: kernel o keeps its "
                        "own slices for its group's input channels and has zeros for all the others.") from None


# --- 04.q5 ------------------------------------------------------------------------------------

# (in, out, kernel, groups) of each convolution of 04.q5's model, and what each one is meant to be.
SPEC = [(3, 24, 3, 1, "the first convolution"), (24, 24, 3, 24, "the depthwise convolution"),
        (24, 40, 1, 1, "the pointwise convolution (it mixes all channels)"),
        (40, 40, 3, 5, "the grouped convolution (groups of 8 channels)")]


def _fixed_architecture() -> nn.Sequential:
    """The broken model's layers with its two mistakes corrected (the student's weights are loaded into it)."""
    return nn.Sequential(
        nn.Conv2d(3, 24, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(24, 24, kernel_size=3, padding=1, groups=24),
        nn.Conv2d(24, 40, kernel_size=1), nn.ReLU(),
        nn.Conv2d(40, 40, kernel_size=3, padding=1, groups=5), nn.ReLU(),
        nn.MaxPool2d(4), nn.Flatten(), nn.Linear(40 * 8 * 8, 10))


def _check_convolutions(pairs: list) -> None:
    """The groups of each convolution, read from its weight's shape (out, in / groups, kH, kW)."""
    kernels = [tensor.shape for _, tensor in pairs if tensor.ndim == 4]
    if len(kernels) != len(SPEC) or any(
            (shape[0], shape[2], shape[3]) != (c_out, k, k) for shape, (_, c_out, k, _, _) in zip(kernels, SPEC)):
        raise Wrong("keep the convolutions of the broken model, in order, with their channels and kernel "
                    "sizes; only groups are wrong.")
    for shape, (c_in, _, _, groups, what) in zip(kernels, SPEC):
        if shape[1] != c_in // groups:
            if what.startswith("the grouped") and shape[1] != 8:
                raise Wrong(f"{what} is wrong: its weight has {shape[1]} slices per kernel, so each of its "
                            "groups holds that many input channels; each group should hold 8.")
            raise Wrong(f"{what} has the wrong groups: its weight has {shape[1]} slices per kernel "
                        f"for {c_in} input channels.")


@question("04.q5", points=3, title="Fix a broken model", names=("fixed_model",))
def q5(fixed_model):
    expect_module(fixed_model, "fixed_model")
    _check_convolutions(fixed_model.state_dict())
    random_tensors = generator(405)
    probes = [torch.rand(2, 3, 32, 32, generator=random_tensors), torch.randn(1, 3, 32, 32, generator=random_tensors)]
    judge_model(fixed_model, built(_fixed_architecture), probes, "fixed_model")
