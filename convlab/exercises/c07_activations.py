"""Checks for chapter 07's exercises (solutions/07_activations.ipynb): activation derivatives by hand,
a model that is secretly one convolution, BatchNorm in training mode, dropping the bias in front of
a BatchNorm, and the single kernel equal to two stacked convolutions.

Expected values come from torch itself (autograd, F.batch_norm, nn.BatchNorm2d, F.conv2d); random
cases come from private generators, and modules a student's function builds are built inside
torch.random.fork_rng, so checking never moves the global RNG.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import Wrong, call, copy_model, expect_shape, leaves, place, question

POINTS = [-2.0, 0.0, 3.0]  # question 07.q1's x values
LEAKY_SLOPE = 0.1
TOLERANCE = 1e-3  # hand-computed derivatives may be given with three decimals


def _as_values(value, name: str, count: int) -> torch.Tensor:
    """A list of count numbers (a list, tuple or tensor) as a float64 CPU tensor; Wrong otherwise."""
    try:
        values = torch.as_tensor(value.detach().cpu() if isinstance(value, torch.Tensor) else value,
                                 dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"{name} should be a list of {count} numbers, got {type(value).__name__}.") from None
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
        if torch.allclose(got, want, atol=TOLERANCE):
            continue
        with torch.no_grad():
            values = function(torch.tensor(POINTS, dtype=torch.float64))
        if torch.allclose(got, values, atol=TOLERANCE):
            raise Wrong(f"{name} holds {shown}'s values, not its derivative (its slope).")
        for x, g, w in zip(POINTS, got.tolist(), want.tolist()):
            if abs(g - w) > TOLERANCE:
                if x == 0 and name in ("d_relu", "d_leaky"):
                    raise Wrong(f"{name} is wrong at x = 0: give the slope that autograd uses there "
                                "(the chapter's table says which for ReLU).")
                raise Wrong(f"{name} is wrong at x = {x}: work it out from {shown}'s derivative formula "
                            "(with at least three decimals).")


CONV_SETTINGS = [(1, 8), (8, 8), (8, 1)]


@question("07.q2", points=2, title="Put the non-linearity back", names=("fixed_model",))
def q2(fixed_model):
    if not isinstance(fixed_model, nn.Module):
        raise Wrong(f"fixed_model should be an nn.Module (e.g. an nn.Sequential), got {type(fixed_model).__name__}.")
    layers = leaves(fixed_model)
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    if [(c.in_channels, c.out_channels) for c in convs] != CONV_SETTINGS or any(
            c.kernel_size != (3, 3) or c.stride != (1, 1) or c.padding != (0, 0) for c in convs):
        raise Wrong("keep the three 3×3 convolutions of the broken model (1 → 8 → 8 → 1 channels, "
                    "stride 1, no padding), in the same order.")
    kinds = ["conv" if isinstance(m, nn.Conv2d) else "relu" if isinstance(m, nn.ReLU) else type(m).__name__
             for m in layers]
    if kinds != ["conv", "relu", "conv", "relu", "conv"]:
        shown = " → ".join("Conv2d" if k == "conv" else "ReLU" if k == "relu" else k for k in kinds)
        if kinds[-1] == "relu":
            raise Wrong(f"your model is {shown}: a ReLU after the last convolution clips the scores, and the "
                        "convolutions before it still form one linear map.")
        raise Wrong(f"your model is {shown}: a ReLU must separate each pair of neighbouring convolutions, "
                    "and the output (raw scores) should not pass through one.")
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(702)).to(**place(fixed_model))
    with torch.no_grad():
        out = call(copy_model(fixed_model), x, name="fixed_model")
    expect_shape(out, (2, 1, 10, 10), "for a batch of 2 images of 1×16×16 the model")


def _batch_norm_variants(y, gamma, beta, eps):
    """Common mistakes, with the reason each gets."""
    scale, shift = gamma[None, :, None, None], beta[None, :, None, None]

    def normalise(dims, unbiased):
        mean = y.mean(dim=dims, keepdim=True)
        var = y.var(dim=dims, keepdim=True, unbiased=unbiased)
        return scale * (y - mean) / torch.sqrt(var + eps) + shift

    return [
        (normalise((0, 2, 3), True), "it uses the unbiased variance (dividing by n − 1); BatchNorm "
                                     "normalises with the biased one (dividing by n)."),
        (normalise((2, 3), False), "it takes each image's own mean and variance; BatchNorm uses one mean and "
                                   "variance per channel over the whole batch and all positions."),
        (normalise((0,), False), "it takes the statistics over the batch only, separately at each position; "
                                 "BatchNorm pools the batch and all positions of a channel."),
        (normalise((0, 1, 2, 3), False), "it takes one mean and variance over everything; BatchNorm uses "
                                         "one per channel."),
        (scale * (y - y.mean(dim=(0, 2, 3), keepdim=True)) / torch.sqrt(y.var(dim=(0, 2, 3), keepdim=True,
                                                                              unbiased=False)) + shift,
         "it leaves out eps inside the square root."),
    ]


@question("07.q3", points=3, title="BatchNorm in training mode", names=("batch_norm_train",))
def q3(batch_norm_train):
    generator = torch.Generator().manual_seed(703)
    for shape in [(4, 3, 5, 5), (1, 2, 6, 4), (8, 1, 3, 3), (3, 5, 2, 7), (16, 4, 1, 1)]:
        channels = shape[1]
        y = torch.randn(*shape, generator=generator, dtype=torch.float64) * 3 + 2
        gamma = torch.rand(channels, generator=generator, dtype=torch.float64) + 0.5
        beta = torch.randn(channels, generator=generator, dtype=torch.float64)
        eps = 1e-5 if shape != (8, 1, 3, 3) else 0.1
        want = F.batch_norm(y, None, None, gamma, beta, training=True, eps=eps)
        given = y.clone()
        got = call(batch_norm_train, given, gamma.clone(), beta.clone(), eps)
        where = f"for y of shape {shape}" + (f" and eps={eps}" if eps != 1e-5 else "")
        if not torch.equal(given, y):
            raise Wrong(f"batch_norm_train changed its input y in place {where}; return a new tensor.")
        try:
            got = torch.as_tensor(got.detach().cpu() if isinstance(got, torch.Tensor) else got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise Wrong(f"batch_norm_train returned a {type(got).__name__}; it should return a tensor.") from None
        if tuple(got.shape) != shape:
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; BatchNorm keeps the input's shape.")
        if torch.allclose(got, want, atol=1e-6):
            continue
        for variant, reason in _batch_norm_variants(y, gamma, beta, eps):
            if torch.allclose(got, variant, atol=1e-6):
                raise Wrong(f"wrong values {where}: {reason}")
        raise Wrong(f"wrong values {where}: normalise each channel with its batch mean and variance, "
                    "then scale by gamma and shift by beta (one of each per channel).")


def _conv_and_bn(generator, in_channels=3, out_channels=6, **options):
    """A Conv2d with a bias and a BatchNorm2d with learned-looking parameters and running statistics."""
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten below
        conv = nn.Conv2d(in_channels, out_channels, 3, **options)
    bn = nn.BatchNorm2d(out_channels)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.3)
        conv.bias.copy_(torch.randn(out_channels, generator=generator) * 2)
        bn.weight.copy_(torch.rand(out_channels, generator=generator) + 0.5)
        bn.bias.copy_(torch.randn(out_channels, generator=generator))
        bn.running_mean.copy_(torch.randn(out_channels, generator=generator) + conv.bias)
        bn.running_var.copy_(torch.rand(out_channels, generator=generator) + 0.5)
        bn.num_batches_tracked.fill_(100)
    return conv, bn


def _run(conv, bn, x, training):
    conv, bn = copy.deepcopy(conv), copy.deepcopy(bn)
    conv.train(training)
    bn.train(training)
    with torch.no_grad():
        return bn(conv(x)), conv, bn


def _state(*modules):
    return [t.clone() for m in modules for t in m.state_dict().values()]


@question("07.q4", points=3, title="Drop the bias before BatchNorm", names=("drop_bias",))
def q4(drop_bias):
    generator = torch.Generator().manual_seed(704)
    for options in [{}, {"stride": 2, "padding": 1}]:
        conv, bn = _conv_and_bn(generator, **options)
        before = _state(conv, bn)
        with torch.random.fork_rng(devices=[]):
            result = call(drop_bias, conv, bn)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Wrong(f"drop_bias should return a pair (new_conv, new_bn), got {type(result).__name__}.")
        new_conv, new_bn = result
        if not isinstance(new_conv, nn.Conv2d) or not isinstance(new_bn, nn.BatchNorm2d):
            raise Wrong("drop_bias should return an nn.Conv2d and an nn.BatchNorm2d, "
                        f"got {type(new_conv).__name__} and {type(new_bn).__name__}.")
        after = _state(conv, bn)
        if len(after) != len(before) or not all(torch.equal(a, b) for a, b in zip(after, before)):
            raise Wrong("drop_bias changed the conv or bn it was given; build new modules (or copies) instead.")
        if new_conv.bias is not None:
            raise Wrong("new_conv still has a bias: it should be built with bias=False.")
        settings = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups")
        if any(getattr(new_conv, key) != getattr(conv, key) for key in settings):
            raise Wrong("new_conv should have the same channels, kernel size, stride and padding as conv.")
        if not torch.equal(new_conv.weight.detach().cpu().float(), conv.weight.detach()):
            raise Wrong("new_conv's weight differs from conv's: copy it unchanged.")
        new_conv, new_bn = copy.deepcopy(new_conv).cpu().float(), copy.deepcopy(new_bn).cpu().float()
        x = torch.rand(4, 3, 10, 10, generator=generator)
        where = f" (conv with {options})" if options else ""
        want, _, _ = _run(conv, bn, x, training=False)
        got, _, _ = _run(new_conv, new_bn, x, training=False)
        if not torch.allclose(got, want, atol=1e-4):
            train_want, _, _ = _run(conv, bn, x, training=True)
            train_got, _, _ = _run(new_conv, new_bn, x, training=True)
            if torch.allclose(train_got, train_want, atol=1e-4):
                raise Wrong(f"in training mode the outputs agree, but in evaluation mode they do not{where}: there "
                            "BatchNorm subtracts its running mean, which was measured with the bias in it.")
            raise Wrong(f"new_bn(new_conv(x)) differs from bn(conv(x)){where}, in evaluation mode and in training "
                        "mode: keep the weights and BatchNorm's gamma and beta as they are.")
        want, conv_after, bn_after = _run(conv, bn, x, training=True)
        got, new_conv_after, new_bn_after = _run(new_conv, new_bn, x, training=True)
        if not torch.allclose(got, want, atol=1e-4):
            raise Wrong(f"in evaluation mode the outputs agree, but in training mode they do not{where}: keep "
                        "BatchNorm's gamma and beta as they are.")
        later = torch.rand(2, 3, 10, 10, generator=generator)
        want, _, _ = _run(conv_after, bn_after, later, training=False)
        got, _, _ = _run(new_conv_after, new_bn_after, later, training=False)
        if not torch.allclose(got, want, atol=1e-4):
            raise Wrong(f"after one training step the two pairs no longer agree in evaluation mode{where}: keep "
                        "BatchNorm's momentum (and eps) as they are.")


def _two_convs(x, w1, b1, w2, b2):
    return F.conv2d(F.conv2d(x, w1, b1), w2, b2)


@question("07.q5", points=4, title="One kernel for two convolutions", names=("compose",))
def q5(compose):
    generator = torch.Generator().manual_seed(705)
    cases = [  # (C0, C1, C2, first kernel size, second kernel size)
        (1, 1, 1, (3, 3), (3, 3)), (3, 4, 5, (3, 3), (5, 5)), (2, 3, 2, (1, 1), (3, 3)),
        (2, 2, 3, (2, 3), (3, 1)), (1, 5, 2, (4, 2), (2, 4)), (3, 2, 1, (3, 3), (1, 1)),
    ]
    for c0, c1, c2, k1, k2 in cases:
        w1 = torch.randn(c1, c0, *k1, generator=generator, dtype=torch.float64)
        b1 = torch.randn(c1, generator=generator, dtype=torch.float64)
        w2 = torch.randn(c2, c1, *k2, generator=generator, dtype=torch.float64)
        b2 = torch.randn(c2, generator=generator, dtype=torch.float64)
        x = torch.randn(2, c0, 12, 11, generator=generator, dtype=torch.float64)
        where = f"for Conv2d({c0}, {c1}, {k1}) then Conv2d({c1}, {c2}, {k2})"
        for biases in ("zero", "given"):
            bias1 = torch.zeros_like(b1) if biases == "zero" else b1
            result = call(compose, w1.clone(), bias1.clone(), w2.clone(), b2.clone())
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise Wrong(f"compose should return a pair (w, b), got {type(result).__name__}.")
            try:
                w, b = (torch.as_tensor(t.detach().cpu() if isinstance(t, torch.Tensor) else t,
                                        dtype=torch.float64) for t in result)
            except (TypeError, ValueError, RuntimeError):
                raise Wrong("compose should return two tensors, the kernel w and the bias b.") from None
            if w.ndim != 4 or tuple(w.shape[:2]) != (c2, c0):
                raise Wrong(f"w has shape {tuple(w.shape)} {where}; the single convolution maps {c0} channels to "
                            f"{c2}, and its weight is (out_channels, in_channels, kH, kW).")
            want = _two_convs(x, w1, bias1, w2, b2)
            if tuple(b.shape) != (c2,):
                raise Wrong(f"b has shape {tuple(b.shape)} {where}; the bias has one value per output channel.")
            try:
                got = F.conv2d(x, w, b)
            except RuntimeError:
                got = None
            if got is None or got.shape != want.shape:
                raise Wrong(f"w has shape {tuple(w.shape)} {where}: F.conv2d(x, w, b) then gives an output of a "
                            "different size than the two convolutions; check the kernel's height and width.")
            if torch.allclose(got, want, atol=1e-8):
                continue
            kernel_only = torch.allclose(F.conv2d(x, w), _two_convs(x, w1, None, w2, None), atol=1e-8)
            if not kernel_only:
                raise Wrong(f"the kernel w is wrong {where}: F.conv2d(x, w) does not equal the two convolutions "
                            "without their biases.")
            if biases == "zero":
                raise Wrong(f"the kernel is right but b is wrong {where} even when b1 is zero: b2 passes "
                            "through unchanged.")
            raise Wrong(f"the kernel is right and b is right when b1 is zero, but not otherwise {where}: b1 passes "
                        "through the second convolution too.")
