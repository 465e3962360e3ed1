"""Checks for chapter 07's exercises (solutions/07_activations.ipynb): activation derivatives by hand,
a model that is secretly one convolution, BatchNorm in training mode, dropping the bias in front of
a BatchNorm (in a block's state_dict), and the single convolution equal to two strided ones.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: autograd for derivatives, F.batch_norm, a Conv2d and a BatchNorm2d built here and loaded
with the student's tensors, F.conv2d; a model is judged by its outputs, compared with the task's
architecture (and with the usual wrong ones) loaded with the student's weights.
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
    generator,
    judge_model,
    question,
    same,
    short,
    sweep,
    value_of,
)

POINTS = [-2.0, 0.0, 3.0]  # question 07.q1's x values
LEAKY_SLOPE = 0.1


def _as_values(value, name: str, count: int) -> torch.Tensor:
    """A list of count numbers (a list, tuple or tensor) as a float64 tensor; Wrong otherwise."""
    value = value_of(value)
    try:
        values = as_tensor(value, name).flatten()
    except Wrong:
        raise Wrong(f"{name} should be a list of {count} numbers, got {short(value)}.") from None
    if values.numel() != count:
        raise Wrong(f"{name} should hold {count} numbers, one per x in {POINTS}; it holds {values.numel()}.")
    return values


def _autograd_slopes(function) -> torch.Tensor:
    x = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
    (slopes,) = torch.autograd.grad(function(x).sum(), x)
    return slopes


@question("07.q1", points=2, title="Derivatives at three points", names=("d_relu", "d_leaky", "d_sigmoid", "d_tanh"))
def q1(d_relu, d_leaky, d_sigmoid, d_tanh):
    answers = [
        ("d_relu", d_relu, torch.relu, "ReLU"),
        ("d_leaky", d_leaky, lambda x: F.leaky_relu(x, LEAKY_SLOPE), f"LeakyReLU({LEAKY_SLOPE})"),
        ("d_sigmoid", d_sigmoid, torch.sigmoid, "Sigmoid"),
        ("d_tanh", d_tanh, torch.tanh, "Tanh"),
    ]
    for name, value, function, shown in answers:
        got = _as_values(value, name, len(POINTS))
        want = _autograd_slopes(function)
        if same(got, want):
            continue
        with torch.no_grad():
            values = function(torch.tensor(POINTS, dtype=torch.float64))
        if same(got, values):
            raise Wrong(f"{name} holds {shown}'s values, not its derivative (its slope).")
        for x, g, w in zip(POINTS, got, want):
            if not same(g, w):
                if x == 0 and name in ("d_relu", "d_leaky"):
                    raise Wrong(f"{name} is wrong at x = 0: give the slope that autograd uses there "
                                "(the chapter's table says which for ReLU).")
                raise Wrong(f"{name} is wrong at x = {x}: work it out from {shown}'s derivative formula "
                            "(computed with math.exp or math.tanh, not rounded by hand).")


def _three_convs(*between) -> nn.Sequential:
    """The three convolutions of question 07.q2, with between[0] after the first, between[1] after the second
    and between[2] after the third (None: nothing)."""
    convs = [nn.Conv2d(1, 8, 3), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 1, 3)]
    layers = []
    for conv, after in zip(convs, between):
        layers += [conv] + ([after] if after is not None else [])
    return nn.Sequential(*layers)


RELU = nn.ReLU()
MISPLACED_RELUS = [  # the same convolutions with the activations elsewhere, and what is wrong with each
    ((None, None, RELU), "still has no ReLU between its convolutions, so they form one linear map "
                         "(the ReLU at the end does not change that)"),
    ((RELU, RELU, RELU), "ends with a ReLU: it clips the raw scores, which should keep their sign"),
    ((RELU, None, None), "has no ReLU between its second and third convolutions"),
    ((None, RELU, None), "has no ReLU between its first and second convolutions"),
    ((RELU, None, RELU), "has no ReLU between its second and third convolutions, and ends with one"),
    ((None, RELU, RELU), "has no ReLU between its first and second convolutions, and ends with one"),
    ((None, None, None), "has no ReLU at all"),
]


@question("07.q2", points=2, title="Put the non-linearity back", names=("fixed_model",))
def q2(fixed_model):
    mistakes = [(lambda b=between: _three_convs(*b), "computes what the three convolutions compute (with your "
                 f"weights) when the model {why}.") for between, why in MISPLACED_RELUS]
    random_tensors = generator(702)
    probes = [torch.randn(*shape, generator=random_tensors) for shape in [(2, 1, 16, 16), (1, 1, 13, 19)]]
    judge_model(fixed_model, built(lambda: _three_convs(RELU, RELU, None)), probes, "fixed_model", mistakes=mistakes,
                otherwise="computes something else than the three convolutions with your weights and a ReLU "
                          "between each pair: keep the three convolutions in the same order and use nn.ReLU.")


def _batch_norm_variants(y, gamma, beta, eps):
    """Common mistakes, with the reason each gets."""
    scale, shift = gamma[None, :, None, None], beta[None, :, None, None]

    def normalise(dims, unbiased, epsilon=eps):
        mean = y.mean(dim=dims, keepdim=True)
        var = y.var(dim=dims, keepdim=True, unbiased=unbiased)
        return scale * (y - mean) / torch.sqrt(var + epsilon) + shift

    return [
        (normalise((0, 2, 3), True), "it uses the unbiased variance (dividing by n − 1); BatchNorm "
                                     "normalises with the biased one (dividing by n)."),
        (normalise((2, 3), False), "it takes each image's own mean and variance; BatchNorm uses one mean and "
                                   "variance per channel over the whole batch and all positions."),
        (normalise((0,), False), "it takes the statistics over the batch only, separately at each position; "
                                 "BatchNorm pools the batch and all positions of a channel."),
        (normalise((0, 1, 2, 3), False), "it takes one mean and variance over everything; BatchNorm uses "
                                         "one per channel."),
        (normalise((0, 2, 3), False, 0.0), "it leaves out eps inside the square root."),
    ]


def _draw_batch_shape(draw):
    shape = (draw.randint(1, 8), draw.randint(1, 5), draw.randint(1, 6), draw.randint(1, 6))
    eps = draw.choice([1e-5, 1e-3, 0.1, 0.5])
    return (shape, eps) if shape[0] * shape[2] * shape[3] > 1 else None


@question("07.q3", points=3, title="BatchNorm in training mode", names=("batch_norm_train",))
def q3(batch_norm_train):
    random_tensors = generator(703)
    fixed = [((4, 3, 5, 5), 1e-5), ((1, 2, 6, 4), 1e-5), ((8, 1, 3, 3), 0.1), ((3, 5, 2, 7), 1e-5),
             ((16, 4, 1, 1), 1e-5)]
    for shape, eps in sweep(fixed, _draw_batch_shape, 10, seed=703):
        channels = shape[1]
        y = torch.randn(*shape, generator=random_tensors, dtype=torch.float64) * 3 + 2
        gamma = torch.rand(channels, generator=random_tensors, dtype=torch.float64) + 0.5
        beta = torch.randn(channels, generator=random_tensors, dtype=torch.float64)
        want = F.batch_norm(y, None, None, gamma, beta, training=True, eps=eps)
        where = f"for y of shape {shape} and eps={eps}"
        got = call(batch_norm_train, y, gamma, beta, eps, name="batch_norm_train")
        got = as_tensor(got, f"batch_norm_train {where}")
        if tuple(got.shape) != shape:
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; BatchNorm keeps the input's shape.")
        if same(got, want):
            continue
        for variant, reason in _batch_norm_variants(y, gamma, beta, eps):
            if same(got, variant):
                raise Wrong(f"wrong values {where}: {reason}")
        raise Wrong(f"wrong values {where}: normalise each channel with its batch mean and variance, "
                    "then scale by gamma and shift by beta (one of each per channel).")
    y = torch.randn(4, 2, 3, 3, generator=random_tensors, dtype=torch.float64) * 0.01  # eps matters here
    gamma, beta = torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    got = call(batch_norm_train, y, gamma, beta, name="batch_norm_train")
    if not same(as_tensor(got, "batch_norm_train(y, gamma, beta)"),
                F.batch_norm(y, None, None, gamma, beta, training=True, eps=1e-5)):
        raise Wrong("batch_norm_train(y, gamma, beta) is wrong: eps should default to 1e-5.")


def _block(in_channels, out_channels, bias, **options) -> nn.Sequential:
    """Question 07.q4's block: a 3×3 convolution followed by a BatchNorm."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, bias=bias, **options), nn.BatchNorm2d(out_channels))


def _trained_block(random_tensors, in_channels, out_channels, **options) -> nn.Sequential:
    """A block with a bias, learned-looking weights and running statistics that were measured with the bias."""
    block = built(lambda: _block(in_channels, out_channels, True, **options))
    conv, bn = block
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=random_tensors) * 0.3)
        conv.bias.copy_(torch.randn(out_channels, generator=random_tensors) * 2)
        bn.weight.copy_(torch.rand(out_channels, generator=random_tensors) + 0.5)
        bn.bias.copy_(torch.randn(out_channels, generator=random_tensors))
        bn.running_mean.copy_(torch.randn(out_channels, generator=random_tensors) + conv.bias)
        bn.running_var.copy_(torch.rand(out_channels, generator=random_tensors) + 0.5)
        bn.num_batches_tracked.fill_(100)
    return block


def _run(block, x, training):
    """block(x) in training or evaluation mode, on a copy (training mode updates the running statistics)."""
    block = copy.deepcopy(block).train(training)
    with torch.no_grad():
        return block(x)


def _as_state(result, shown: str, wanted: dict) -> dict:
    """The state_dict a student's function returned, checked against the names and shapes of wanted's."""
    if not isinstance(result, dict):
        raise Wrong(f"{shown} returned {short(result)}; it should return a state_dict (a dict of tensors).")
    if "0.bias" in result:
        raise Wrong(f"{shown} still has the convolution's bias (the key '0.bias'): the block without it has none.")
    missing, extra = [k for k in wanted if k not in result], [k for k in result if k not in wanted]
    if missing or extra:
        raise Wrong(f"{shown} should have the keys of the block's state_dict without '0.bias'"
                    + (f"; it lacks {', '.join(map(repr, missing))}" if missing else "")
                    + (f"; it has extra keys {', '.join(map(repr, extra[:5]))}" if extra else "") + ".")
    state = {}
    for key, reference in wanted.items():
        tensor = result[key]
        if not isinstance(tensor, torch.Tensor):
            raise Wrong(f"{shown}[{key!r}] should be a tensor, got {short(tensor)}.")
        if tuple(tensor.shape) != tuple(reference.shape):
            raise Wrong(f"{shown}[{key!r}] has shape {tuple(tensor.shape)}; that tensor of the block has shape "
                        f"{tuple(reference.shape)}.")
        state[key] = tensor.to(reference.dtype)
    return state


@question("07.q4", points=3, title="Drop the bias before BatchNorm", names=("drop_bias",))
def q4(drop_bias):
    random_tensors = generator(704)
    for options in [{}, {"stride": 2, "padding": 1}]:
        block = _trained_block(random_tensors, 3, 6, **options)
        shown = "drop_bias(state)" + (f" for a convolution with {options}" if options else "")
        result = call(drop_bias, dict(block.state_dict()), name="drop_bias")
        plain = built(lambda o=options: _block(3, 6, False, **o))
        plain.load_state_dict(_as_state(result, shown, plain.state_dict()))
        if not torch.equal(plain[0].weight, block[0].weight):
            raise Wrong(f"{shown}: the convolution's weight ('0.weight') differs from the one given: keep it "
                        "unchanged.")
        x = torch.rand(4, 3, 10, 10, generator=random_tensors)
        agree_eval = same(_run(plain, x, training=False), _run(block, x, training=False))
        agree_train = same(_run(plain, x, training=True), _run(block, x, training=True))
        if agree_eval and agree_train:
            continue
        if agree_train:
            raise Wrong(f"{shown}: in training mode the block without the bias computes what the block computes, "
                        "but in evaluation mode it does not: there BatchNorm subtracts its running mean, which "
                        "was measured with the bias in it.")
        if agree_eval:
            raise Wrong(f"{shown}: in evaluation mode the block without the bias computes what the block computes, "
                        "but in training mode it does not: keep BatchNorm's gamma and beta ('1.weight', '1.bias') "
                        "as they are.")
        raise Wrong(f"{shown}: the block without the bias computes something else than the block, in evaluation "
                    "mode and in training mode: keep the weight and BatchNorm's gamma and beta as they are.")


def _two_convs(x, w1, b1, s1, w2, b2, s2):
    return F.conv2d(F.conv2d(x, w1, b1, stride=s1), w2, b2, stride=s2)


def _draw_composition(draw):
    channels = draw.randint(1, 3), draw.randint(1, 4), draw.randint(1, 3)
    kernels = (draw.randint(1, 4), draw.randint(1, 4)), (draw.randint(1, 4), draw.randint(1, 4))
    return *channels, *kernels, draw.randint(1, 3), draw.randint(1, 3)


def _receptive_field(c0, w1, s1, w2, s2) -> tuple:
    """Read off torch: ((kH, kW), (sH, sW)), the input cells output (0, 0) of the two convolutions depends on
    (from 0 to kH, kW), and how far output (1, 1)'s cells are moved from those (positive weights: nothing cancels)."""
    probe = torch.zeros(1, c0, 64, 64, dtype=torch.float64, requires_grad=True)
    out = _two_convs(probe, w1.abs() + 1, None, s1, w2.abs() + 1, None, s2)
    (first,) = torch.autograd.grad(out[0, :, 0, 0].sum(), probe, retain_graph=True)
    (second,) = torch.autograd.grad(out[0, :, 1, 1].sum(), probe)
    first, second = first[0].abs().sum(0).nonzero(), second[0].abs().sum(0).nonzero()
    size = (int(first[:, 0].max()) + 1, int(first[:, 1].max()) + 1)
    return size, (int(second[:, 0].min()), int(second[:, 1].min()))


def _as_stride(value, shown: str) -> tuple:
    """A stride given as an int or a pair of ints, as a pair; Wrong otherwise."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise Wrong(f"the stride from {shown} should be an int or a pair of ints, got {short(value)}.")
        return as_int(value[0], f"the stride from {shown}"), as_int(value[1], f"the stride from {shown}")
    stride = as_int(value, f"the stride from {shown}")
    return stride, stride


def _inputs(random_tensors, c0, kernel, stride):
    """Two inputs the single convolution fits, of sizes that leave different remainders."""
    (kh, kw), (sh, sw) = kernel, stride
    return [torch.randn(2, c0, kh + sh * extra_h + rest, kw + sw * extra_w + rest, generator=random_tensors,
                        dtype=torch.float64) for extra_h, extra_w, rest in [(3, 2, 0), (2, 4, 1)]]


@question("07.q5", points=4, title="One kernel for two convolutions", names=("compose_strided",))
def q5(compose_strided):
    random_tensors = generator(705)
    fixed = [  # (C0, C1, C2, first kernel size, second kernel size, first stride, second stride)
        (1, 1, 1, (3, 3), (3, 3), 1, 1), (3, 4, 5, (3, 3), (5, 5), 1, 1), (1, 1, 1, (3, 3), (3, 3), 2, 1),
        (2, 3, 2, (1, 1), (3, 3), 2, 2), (2, 2, 3, (2, 3), (3, 1), 1, 3), (1, 5, 2, (4, 2), (2, 4), 3, 1),
        (3, 2, 1, (3, 3), (1, 1), 2, 1), (2, 3, 2, (3, 2), (2, 3), 2, 3),
    ]
    for c0, c1, c2, k1, k2, s1, s2 in sweep(fixed, _draw_composition, 14, seed=705):
        w1 = torch.randn(c1, c0, *k1, generator=random_tensors, dtype=torch.float64)
        b1 = torch.randn(c1, generator=random_tensors, dtype=torch.float64)
        w2 = torch.randn(c2, c1, *k2, generator=random_tensors, dtype=torch.float64)
        b2 = torch.randn(c2, generator=random_tensors, dtype=torch.float64)
        where = f"for Conv2d({c0}, {c1}, {k1}, stride={s1}) then Conv2d({c1}, {c2}, {k2}, stride={s2})"
        size, step = _receptive_field(c0, w1, s1, w2, s2)
        for biases in ("zero", "given"):
            bias1 = torch.zeros_like(b1) if biases == "zero" else b1
            shown = f"compose_strided(w1, b1, w2, b2, {s1}, {s2}) {where}"
            result = call(compose_strided, w1, bias1, w2, b2, s1, s2, name="compose_strided")
            if not isinstance(result, (tuple, list)) or len(result) != 3:
                given = (f"a {type(result).__name__} of {len(result)} items" if isinstance(result, (tuple, list))
                         else short(result))
                raise Wrong(f"compose_strided should return a triple (w, b, stride), got {given}.")
            w, b = as_tensor(result[0], f"w from {shown}"), as_tensor(result[1], f"b from {shown}")
            stride = _as_stride(result[2], shown)
            if w.ndim != 4 or tuple(w.shape[:2]) != (c2, c0):
                raise Wrong(f"w has shape {tuple(w.shape)} {where}; the single convolution maps {c0} channels to "
                            f"{c2}, and its weight is (out_channels, in_channels, kH, kW).")
            if tuple(b.shape) != (c2,):
                raise Wrong(f"b has shape {tuple(b.shape)} {where}; the bias has one value per output channel.")
            if min(stride) < 1:
                raise Wrong(f"the stride {result[2]!r} {where} should be at least 1.")
            if stride != step:
                raise Wrong(f"the stride {result[2]!r} is wrong {where}: count how many input cells the two "
                            "convolutions' window moves from one output to the next.")
            if tuple(w.shape[2:]) != size:
                hint = ""
                if s1 > 1 and tuple(w.shape[2:]) == (k1[0] + k2[0] - 1, k1[1] + k2[1] - 1):
                    hint = (f": that is the size for a first stride of 1; with stride {s1}, neighbouring taps of the "
                            f"second kernel read outputs of the first convolution that are {s1} input cells apart")
                raise Wrong(f"w has shape {tuple(w.shape)} {where}, which does not cover exactly the input cells "
                            f"one output of the two convolutions depends on{hint}.")
            for x in _inputs(random_tensors, c0, size, step):
                want = _two_convs(x, w1, bias1, s1, w2, b2, s2)
                try:
                    got = F.conv2d(x, w, b, stride=stride)
                except RuntimeError:
                    got = None
                if got is None or got.shape != want.shape:
                    raise Wrong(f"F.conv2d(x, w, b, stride) gives an output of a different size than the two "
                                f"convolutions {where}, on an input of {x.shape[-2]}×{x.shape[-1]}.")
                if same(got, want):
                    continue
                if not same(F.conv2d(x, w, stride=stride), _two_convs(x, w1, None, s1, w2, None, s2)):
                    raise Wrong(f"the kernel w is wrong {where}: F.conv2d(x, w, stride=...) does not equal the two "
                                "convolutions without their biases.")
                if biases == "zero":
                    raise Wrong(f"the kernel is right but b is wrong {where} even when b1 is zero: b2 passes "
                                "through unchanged.")
                raise Wrong(f"the kernel is right and b is right when b1 is zero, but not otherwise {where}: b1 "
                            "passes through the second convolution too.")
