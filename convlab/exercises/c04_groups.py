"""Checks for chapter 04's exercises (solutions/04_groups.ipynb): parameter counts with groups, which
input channels feed an output channel, a grouped convolution from ordinary ones, the equivalent
dense weight, and a broken depthwise-separable model.

Expected values come from torch itself (layers on the 'meta' device for counts, autograd on a real
layer for connections, F.conv2d(groups=...) for values); random cases come from private generators,
so checking never moves the global RNG.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import Wrong, as_int, as_shape, as_tensor, call, expect_shape, place, question

Q1_IN, Q1_OUT, Q1_KERNEL = 32, 64, 3
Q1_GROUPS = (1, 2, 4, 32)
Q2_IN, Q2_OUT, Q2_GROUPS, Q2_OUTPUT = 8, 12, 4, 7


@question("04.q1", points=2, title="Parameter counts with groups", names=("n_params",))
def q1(n_params):
    if not isinstance(n_params, dict):
        raise Wrong(f"n_params should be a dict {{groups: count}}, got {type(n_params).__name__}.")
    if sorted(n_params) != sorted(Q1_GROUPS):
        raise Wrong(f"n_params should have exactly the keys {list(Q1_GROUPS)} (the values of groups).")
    for groups in Q1_GROUPS:
        layer = nn.Conv2d(Q1_IN, Q1_OUT, Q1_KERNEL, groups=groups, device="meta")
        weights, biases = layer.weight.numel(), layer.bias.numel()
        got = as_int(n_params[groups], f"n_params[{groups}]")
        if got == weights + biases:
            continue
        what = "the depthwise layer" if groups == Q1_IN else f"groups={groups}"
        if got == weights:
            raise Wrong(f"n_params[{groups}] counts the weights only: the layer has a bias too.")
        if got == (weights * groups + biases) // groups and groups > 1:
            raise Wrong(f"n_params[{groups}] is wrong: groups divides the number of weights, "
                        "not the number of biases (one per output channel).")
        if groups > 1 and got in (weights * groups + biases, weights * groups):
            raise Wrong(f"n_params[{groups}] is the count without groups: with groups each kernel has "
                        "slices only for its own group's input channels.")
        raise Wrong(f"n_params[{groups}] is wrong for {what}: find the weight's shape "
                    "(out_channels, in_channels / groups, kH, kW) and add the biases.")


def _inputs_feeding(weight, groups: int, output: int) -> list:
    """The input channels whose values change output channel `output`, found with autograd."""
    c_in = weight.shape[1] * groups
    x = torch.zeros(1, c_in, 5, 5, requires_grad=True)
    F.conv2d(x, weight, groups=groups)[0, output].sum().backward()
    return [c for c in range(c_in) if bool(x.grad[0, c].abs().sum() > 0)]


@question("04.q2", points=2, title="Which inputs feed an output", names=("weight_shape", "inputs_of_7"))
def q2(weight_shape, inputs_of_7):
    generator = torch.Generator().manual_seed(402)
    layer = nn.Conv2d(Q2_IN, Q2_OUT, 3, groups=Q2_GROUPS, device="meta")
    got_shape = as_shape(weight_shape, "weight_shape")
    if got_shape != tuple(layer.weight.shape):
        if len(got_shape) == 4 and got_shape[1] == Q2_IN:
            raise Wrong("weight_shape is wrong: with groups, each kernel has slices only for the input "
                        "channels of its own group.")
        raise Wrong("weight_shape is wrong: it is (out_channels, in_channels / groups, kH, kW).")
    weight = torch.rand(layer.weight.shape, generator=generator) + 0.5  # the layer's weight shape, no zeros
    want = _inputs_feeding(weight, Q2_GROUPS, Q2_OUTPUT)
    try:
        got = sorted(as_int(c, "an entry of inputs_of_7") for c in inputs_of_7)
    except TypeError:
        raise Wrong(f"inputs_of_7 should be a list of channel numbers, got {type(inputs_of_7).__name__}.") from None
    if got == want:
        return
    if len(got) == len(want):
        raise Wrong("inputs_of_7 has the right number of channels but the wrong ones: find output "
                    "channel 7's group (counting channels and groups from 0).")
    raise Wrong(f"inputs_of_7 lists {len(got)} channels; an output channel is fed by every input channel "
                "of its group, and only by those.")


def _grouped_cases(seed: int):
    generator = torch.Generator().manual_seed(seed)
    for n, c_in, c_out, groups, (h, w), k in [(1, 4, 2, 2, (5, 5), 3), (2, 6, 6, 3, (6, 7), 3),
                                              (1, 4, 8, 4, (4, 4), 1), (2, 8, 4, 1, (5, 6), 2),
                                              (1, 6, 6, 6, (5, 5), 3), (1, 3, 6, 3, (6, 5), 2),
                                              (2, 12, 6, 3, (4, 5), 3)]:
        x = torch.randn(n, c_in, h, w, generator=generator, dtype=torch.float64)
        weight = torch.randn(c_out, c_in // groups, k, k, generator=generator, dtype=torch.float64)
        yield x, weight, groups


@question("04.q3", points=3, title="A grouped convolution from ordinary ones", names=("grouped_conv",))
def q3(grouped_conv):
    for x, weight, groups in _grouped_cases(403):
        want = F.conv2d(x, weight, groups=groups)
        got = as_tensor(call(grouped_conv, x.clone(), weight.clone(), groups), "grouped_conv")
        c_out, c_in = weight.shape[0], x.shape[1]
        where = f"for {c_in} input channels, {c_out} kernels and groups={groups}"
        if tuple(got.shape) != tuple(want.shape):
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; concatenate the groups' outputs "
                        "along the channel dimension.")
        if torch.allclose(got, want, atol=1e-5):
            continue
        raise Wrong(f"wrong values {where}: group g's input channels go with group g's kernels, "
                    "both taken in order.")


@question("04.q4", points=3, title="The dense weight of a grouped convolution", names=("dense_weight",))
def q4(dense_weight):
    for x, weight, groups in _grouped_cases(404):
        want = F.conv2d(x, weight, groups=groups)
        c_out, c_in = weight.shape[0], x.shape[1]
        where = f"for {c_in} input channels, {c_out} kernels and groups={groups}"
        got = as_tensor(call(dense_weight, weight.clone(), groups), "dense_weight")
        want_shape = (c_out, c_in, *weight.shape[2:])
        if tuple(got.shape) != want_shape:
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; a dense weight has one slice per "
                        "input channel of the whole layer.")
        if not torch.allclose(F.conv2d(x, got), want, atol=1e-5):
            raise Wrong(f"F.conv2d with your dense weight differs from the grouped convolution {where}: "
                        "kernel o keeps its own slices for its group's input channels and has zeros "
                        "for all the others.")


# (in, out, kernel, groups) of each convolution of 04.q5's model, and what each one is meant to be.
SPEC = [(3, 24, 3, 1, "the first convolution"), (24, 24, 3, 24, "the depthwise convolution"),
        (24, 40, 1, 1, "the pointwise convolution (it mixes all channels)"),
        (40, 40, 3, 5, "the grouped convolution (groups of 8 channels)")]


@question("04.q5", points=3, title="Fix a broken model", names=("fixed_model",))
def q5(fixed_model):
    if not isinstance(fixed_model, nn.Module):
        raise Wrong(f"fixed_model should be an nn.Module (e.g. an nn.Sequential), got {type(fixed_model).__name__}.")
    convs = [m for m in fixed_model.modules() if isinstance(m, nn.Conv2d)]
    if [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] != [s[:3] for s in SPEC]:
        raise Wrong("keep the convolutions of the broken model, with their channels and kernel sizes; "
                    "only groups are wrong.")
    for conv, (c_in, _, _, groups, what) in zip(convs, SPEC):
        if conv.groups != groups:
            if what.startswith("the grouped") and c_in // conv.groups != 8:
                raise Wrong(f"{what} is wrong: each of its groups should hold 8 input channels.")
            raise Wrong(f"{what} has the wrong groups.")
    linears = [m for m in fixed_model.modules() if isinstance(m, nn.Linear)]
    if not linears or linears[-1].out_features != 10:
        raise Wrong("the model should end with a Linear layer giving 10 scores.")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(405)).to(**place(fixed_model))
    with torch.no_grad():
        out = call(fixed_model, x, name="fixed_model")
    expect_shape(out, (2, 10), "for a batch of 2 images of 3×32×32 the model")
