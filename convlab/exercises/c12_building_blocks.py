"""Checks for chapter 12's exercises (solutions/12_building_blocks.ipynb): a Linear layer applied to every
pixel (a 1×1 convolution without Conv2d), the parameter count of a bottleneck block with its shortcut rule,
a pre-activation residual block judged by behaviour, and three parallel branches (3×3, 1×1, identity)
merged into one 3×3 convolution.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch itself:
F.conv2d for values, blocks built on the 'meta' device for counts, the task's block loaded with the
student's weights for a model (in evaluation and in training mode). Random cases come from private
generators, so checking never moves the global RNG.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_int,
    as_tensor,
    built,
    call,
    expect_finite,
    expect_module_class,
    generator,
    judge_model,
    question,
    same,
    short,
    sweep,
    value_of,
)

# --- 12.q1: a Linear layer on every pixel -------------------------------------------------------------


def _draw_pixelwise(draw):
    return draw.randint(1, 3), draw.randint(1, 6), draw.randint(1, 6), draw.randint(1, 5), draw.randint(1, 5)


@question("12.q1", points=2, title="A Linear layer on every pixel", names=("pixelwise_linear",))
def q1(pixelwise_linear):
    random_tensors = generator(1201)
    fixed = [(2, 3, 5, 4, 4), (1, 4, 4, 3, 5), (2, 2, 3, 1, 1), (3, 1, 2, 6, 2), (1, 5, 5, 2, 3)]
    for n, c_in, c_out, h, w in sweep(fixed, _draw_pixelwise, 14, seed=1201):
        x = torch.randn(n, c_in, h, w, generator=random_tensors, dtype=torch.float64)
        weight = torch.randn(c_out, c_in, generator=random_tensors, dtype=torch.float64)
        bias = torch.randn(c_out, generator=random_tensors, dtype=torch.float64)
        shown = f"pixelwise_linear(x of shape {(n, c_in, h, w)}, weight of shape {(c_out, c_in)}, bias)"
        got = as_tensor(call(pixelwise_linear, x, weight, bias, name="pixelwise_linear"), shown)
        want = F.conv2d(x, weight[:, :, None, None], bias)
        if tuple(got.shape) != tuple(want.shape):
            raise Wrong(f"{shown} gives shape {tuple(got.shape)}; it should give (N, C_out, H, W) = "
                        f"{tuple(want.shape)}.")
        if same(got, want):
            continue
        if same(got, want - bias.reshape(1, -1, 1, 1)):
            raise Wrong(f"{shown} leaves out the bias.")
        if c_in == c_out and same(got, F.conv2d(x, weight.T[:, :, None, None], bias)):
            raise Wrong(f"{shown} multiplies by the transposed weight: nn.Linear's weight is (out, in), and "
                        "output channel o is the sum over c of weight[o, c] · x[:, c].")
        shuffled = (x.reshape(n, h * w, c_in) @ weight.T + bias).reshape(n, c_out, h, w)
        if same(got, shuffled):
            raise Wrong(f"{shown} reshapes instead of moving the channels: reshape keeps the order of the "
                        "numbers in memory, so it mixes positions and channels; move the channels to the last "
                        "dimension with permute (or use einsum).")
        raise Wrong(f"{shown} gives the right shape but wrong values: each output pixel is the Linear layer "
                    "applied to that pixel's channel values.")


# --- 12.q2: a bottleneck's parameters --------------------------------------------------------------


def _projection(in_channels, out_channels, stride, device):
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, device=device),
                         nn.BatchNorm2d(out_channels, device=device))


def _bottleneck(in_channels, mid, out_channels, stride, device="meta") -> nn.Sequential:
    """The chapter's Bottleneck's layers (their order does not matter for a count)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, mid, 1, bias=False, device=device), nn.BatchNorm2d(mid, device=device),
        nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False, device=device),
        nn.BatchNorm2d(mid, device=device),
        nn.Conv2d(mid, out_channels, 1, bias=False, device=device), nn.BatchNorm2d(out_channels, device=device),
        _projection(in_channels, out_channels, stride, device))


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _draw_bottleneck(draw):
    if draw.random() < 0.35:
        channels = draw.randint(1, 1024)
        return channels, draw.randint(1, 256), channels, 1
    return draw.randint(1, 1024), draw.randint(1, 256), draw.randint(1, 2048), draw.randint(1, 2)


@question("12.q2", points=3, title="Count a bottleneck's parameters", names=("bottleneck_params",))
def q2(bottleneck_params):
    fixed = [(256, 64, 256, 1), (64, 64, 256, 1), (256, 128, 512, 2), (512, 128, 512, 1), (512, 128, 512, 2),
             (3, 2, 5, 1), (1, 1, 1, 1), (1, 1, 1, 2), (1024, 512, 2048, 2)]
    for c_in, mid, c_out, stride in sweep(fixed, _draw_bottleneck, 36, seed=1202):
        shown = f"bottleneck_params({c_in}, {mid}, {c_out}, stride={stride})"
        got = as_int(call(bottleneck_params, c_in, mid, c_out, stride=stride, name="bottleneck_params"), shown)
        want = _count(_bottleneck(c_in, mid, c_out, stride))
        if got == want:
            continue
        projected = stride != 1 or c_in != c_out
        projection = c_in * c_out + 2 * c_out
        norms = 2 * (mid + mid + c_out) + (2 * c_out if projected else 0)
        if projected and got == want - projection:
            raise Wrong(f"{shown} counts no projection shortcut, but with stride {stride} and {c_in} → {c_out} "
                        "channels the shortcut must change the input's shape: a 1×1 convolution and its "
                        "BatchNorm.")
        if not projected and got == want + projection:
            raise Wrong(f"{shown} counts a projection shortcut, but with stride 1 and as many output channels "
                        "as input channels the shortcut is the identity, which has no parameters.")
        if projected and got == want - 2 * c_out:
            raise Wrong(f"{shown} counts the projection's convolution but not its BatchNorm.")
        if got == want - norms:
            raise Wrong(f"{shown} counts the convolutions only: every BatchNorm has two parameters per channel "
                        "(gamma and beta).")
        if got == want + norms or got == want + norms + 3 + projected:
            raise Wrong(f"{shown} counts BatchNorm's running statistics; they are buffers, not parameters.")
        if got == want + 2 * mid + c_out + (c_out if projected else 0):
            raise Wrong(f"{shown} counts a bias for every convolution; before a BatchNorm they are built with "
                        "bias=False.")
        if got == want - 8 * mid * mid:
            raise Wrong(f"{shown} counts the middle convolution as 1×1; it is 3×3.")
        raise Wrong(f"{shown} returned {got}, which is not the bottleneck's parameter count: add the weights of "
                    "its convolutions, two per channel for each BatchNorm, and the shortcut's, if it has one.")


# --- 12.q3: a pre-activation residual block ----------------------------------------------------------


class _PreActBlock(nn.Module):
    """The task's block; the variants are common mistakes (or, for shortcut_on_activated, an accepted form)."""

    def __init__(self, in_channels, out_channels, stride=1, *, shortcut_on_activated=False, final_relu=False,
                 projection_norm=False, stride_second=False):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=1 if stride_second else stride, padding=1,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride if stride_second else 1, padding=1,
                               bias=False)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            if projection_norm:
                self.shortcut = nn.Sequential(self.shortcut, nn.BatchNorm2d(out_channels))
        self.on_activated, self.final_relu = shortcut_on_activated, final_relu

    def forward(self, x):
        activated = torch.relu(self.bn1(x))
        y = self.conv2(torch.relu(self.bn2(self.conv1(activated))))
        y = y + self.shortcut(activated if self.on_activated else x)
        return torch.relu(y) if self.final_relu else y


Q3_CASES = [(4, 4, 1), (4, 8, 2), (6, 6, 2), (4, 8, 1), (3, 5, 2), (5, 3, 1)]


def _tensors(pairs) -> list:
    return [(n, t) for n, t in pairs if not n.endswith("num_batches_tracked")]


def _hint_from_tensors(pairs, c_in, c_out, stride, shown) -> None:
    """A reason from the student's tensors alone, when they cannot fit the block the task describes."""
    theirs = _tensors(pairs)
    mine = _tensors(built(lambda: _PreActBlock(c_in, c_out, stride)).state_dict().items())
    projected = stride != 1 or c_in != c_out
    if len(theirs) == len(mine) and all(tuple(a.shape) == tuple(b.shape) for (_, a), (_, b) in zip(theirs, mine)):
        return
    if theirs and theirs[0][1].ndim == 4:
        raise Wrong(f"{shown} starts with a convolution's weight (`{theirs[0][0]}`); a pre-activation block "
                    "starts with its BatchNorm over the input channels (create bn1 first, then conv1, bn2, "
                    "conv2, then the shortcut's convolution).")
    difference = len(theirs) - len(mine)
    if projected and difference == -1:
        raise Wrong(f"{shown} has no projection shortcut, but with stride {stride} and {c_in} → {c_out} channels "
                    "the shortcut must change the input's shape: a 1×1 convolution with the block's stride.")
    if not projected and difference == 1:
        raise Wrong(f"{shown} has a projection shortcut, but with stride 1 and {c_in} → {c_out} channels the "
                    "shortcut is the identity.")
    if projected and difference == 4:
        raise Wrong(f"{shown}'s projection has a BatchNorm; in this block the shortcut is the 1×1 convolution "
                    "alone.")
    if difference == 2 and sum(1 for _, t in theirs if t.ndim == 1) == sum(1 for _, t in mine if t.ndim == 1) + 2:
        raise Wrong(f"{shown}'s 3×3 convolutions have biases; build them with bias=False.")


def _train_mode_outputs(answer, reference, probes, shown) -> None:
    """The block in training mode (BatchNorm with batch statistics) must match too, on a copy of each."""
    for x in probes:
        got = as_tensor(answer.run(x, no_grad=True, eval=False, copy=True, place=True,
                                   shown=f"{shown} in training mode"), f"{shown} in training mode")
        with torch.no_grad():
            want = copy.deepcopy(reference).train()(x)
        if not same(got, want):
            raise Wrong(f"{shown} in training mode on a batch of shape {tuple(x.shape)} computes something "
                        "else than the block the task describes with your weights (in evaluation mode it "
                        "agrees): check where each BatchNorm is, and that the block is in training mode after "
                        "it is built.")


@question("12.q3", points=4, title="A pre-activation residual block", names=("PreActBlock",))
def q3(PreActBlock):  # noqa: N803 - the student's class
    expect_module_class(PreActBlock, "PreActBlock")
    random_tensors = generator(1203)
    for c_in, c_out, stride in Q3_CASES:
        shown = f"PreActBlock({c_in}, {c_out}, stride={stride})"
        block = PreActBlock.new(c_in, c_out, stride, shown=shown)
        pairs = block.state_dict()
        expect_finite(pairs, shown)
        _hint_from_tensors(pairs, c_in, c_out, stride, shown)
        probes = [torch.randn(2, c_in, 8, 8, generator=random_tensors), torch.randn(3, c_in, 7, 9,
                                                                                   generator=random_tensors)]
        mistakes = [
            (lambda a=c_in, b=c_out, s=stride: _PreActBlock(a, b, s, final_relu=True),
             "applies a ReLU after the addition; a pre-activation block returns the sum itself (the next "
             "block's BatchNorm and ReLU come first there)."),
            (lambda a=c_in, b=c_out, s=stride: _PreActBlock(a, b, s, stride_second=True),
             "puts the stride in the second convolution; the first one downsamples."),
        ]
        reason = None
        for accepted in (False, True):  # the shortcut may take x or the pre-activated input
            reference = built(lambda a=c_in, b=c_out, s=stride, o=accepted: _PreActBlock(
                a, b, s, shortcut_on_activated=o))
            try:
                judge_model(block, reference, probes, shown, mistakes=mistakes, pairs=pairs)
                _train_mode_outputs(block, reference, probes, shown)
                break
            except Wrong as problem:
                reason = reason or problem
        else:
            raise reason


# --- 12.q4: three branches merged into one convolution ------------------------------------------------


def _merge_variants(w3, b3, w1, b1):
    channels = w3.shape[0]
    eye = torch.eye(channels, dtype=w3.dtype)
    centre = F.pad(w1, (1, 1, 1, 1))
    corner = F.pad(w1, (0, 2, 0, 2))
    identity = F.pad(eye[:, :, None, None], (1, 1, 1, 1))
    all_pairs = F.pad(torch.ones(channels, channels, 1, 1, dtype=w3.dtype), (1, 1, 1, 1))
    in_corner = ("it puts a 1×1 kernel in the corner of the 3×3 one; with padding 1, the tap that reads the "
                 "pixel itself is the centre.")
    return [
        (w3 + corner + identity, b3 + b1, in_corner),
        (w3 + corner + F.pad(eye[:, :, None, None], (0, 2, 0, 2)), b3 + b1, in_corner),
        (w3 + centre + F.pad(eye[:, :, None, None], (0, 2, 0, 2)), b3 + b1, in_corner),
        (w3 + centre, b3 + b1, "it leaves out the identity branch (the shortcut adds x itself)."),
        (w3 + centre + identity, b3, "it leaves out the 1×1 branch's bias."),
        (w3 + centre + identity, b1, "it leaves out the 3×3 branch's bias."),
        (w3 + centre + all_pairs, b3 + b1, "its identity adds every input channel to every output channel; the "
                                           "shortcut adds channel c to output channel c only."),
        (w3 + centre + torch.ones_like(w3) * eye[:, :, None, None], b3 + b1,
         "its identity kernel is 1 at every tap; as a 3×3 kernel with padding 1 the identity is 1 at the centre "
         "only."),
    ]


def _as_merged(result, shown: str, channels: int) -> tuple:
    result = value_of(result)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Wrong(f"{shown} returned {short(result)}; it should return a pair (weight, bias).")
    weight = as_tensor(result[0], f"the weight from {shown}")
    bias = as_tensor(result[1], f"the bias from {shown}").flatten()
    if tuple(weight.shape) != (channels, channels, 3, 3):
        raise Wrong(f"the weight from {shown} has shape {tuple(weight.shape)}; one 3×3 convolution from "
                    f"{channels} to {channels} channels has a weight of shape {(channels, channels, 3, 3)}.")
    if bias.numel() != channels:
        raise Wrong(f"the bias from {shown} holds {bias.numel()} numbers; it needs one per output channel "
                    f"({channels}).")
    return weight, bias


@question("12.q4", points=3, title="Three branches, one convolution", names=("merge_branches",))
def q4(merge_branches):
    random_tensors = generator(1204)
    for channels in sweep([1, 2, 3, 4], lambda draw: draw.randint(1, 6), 10, seed=1204):
        w3 = torch.randn(channels, channels, 3, 3, generator=random_tensors, dtype=torch.float64)
        w1 = torch.randn(channels, channels, 1, 1, generator=random_tensors, dtype=torch.float64)
        b3 = torch.randn(channels, generator=random_tensors, dtype=torch.float64)
        b1 = torch.randn(channels, generator=random_tensors, dtype=torch.float64)
        shown = f"merge_branches(w3, b3, w1, b1) for {channels} channel{'s' if channels > 1 else ''}"
        weight, bias = _as_merged(call(merge_branches, w3, b3, w1, b1, name="merge_branches"), shown, channels)
        x = torch.randn(2, channels, 6, 7, generator=random_tensors, dtype=torch.float64)
        want = F.conv2d(x, w3, b3, padding=1) + F.conv2d(x, w1, b1) + x
        got = F.conv2d(x, weight, bias, padding=1)
        if same(got, want):
            continue
        for w, b, reason in _merge_variants(w3, b3, w1, b1):
            if same(weight, w) and same(bias, b):
                raise Wrong(f"{shown}: {reason}")
        raise Wrong(f"{shown}: a 3×3 convolution (padding 1) with that weight and bias computes something else "
                    "than the three branches added together.")
