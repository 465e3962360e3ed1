"""Checks for chapter 11's exercises (solutions/11_batchnorm.ipynb): one BatchNorm step by hand, the
running statistics after a stream of batches (with momentum or a cumulative average), folding a
BatchNorm into the convolution before it, and folding one into the convolution after it.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: nn.BatchNorm2d run in training mode for statistics, Conv2d → BatchNorm2d (or the reverse) in
evaluation mode for folds, compared with F.conv2d run on the student's folded weight and bias. Random
cases come from private generators, so checking never moves the global RNG.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_number,
    as_tensor,
    call,
    generator,
    question,
    same,
    short,
    sweep,
    value_of,
)

# Question 11.q1's batch: two images of one channel and 1×2 pixels, and the BatchNorm's gamma and beta.
Q1_VALUES = [1.0, 3.0, 5.0, 7.0]
Q1_GAMMA, Q1_BETA, Q1_AT = 2.0, 0.5, (1, 0, 0, 1)  # the value 7: image 1, row 0, column 1
EPS = 1e-5


def _close(got: float, want: float) -> bool:
    return same(torch.tensor([got], dtype=torch.float64), torch.tensor([want], dtype=torch.float64))


def _q1_reference() -> dict:
    """What torch computes: one training-mode step of a fresh BatchNorm2d(1), then evaluation mode."""
    x = torch.tensor(Q1_VALUES, dtype=torch.float64).reshape(2, 1, 1, 2)
    bn = nn.BatchNorm2d(1).double()
    with torch.no_grad():
        bn.weight.fill_(Q1_GAMMA)
        bn.bias.fill_(Q1_BETA)
        train = bn(x)[Q1_AT].item()
        bn.eval()
        evaluated = bn(x)[Q1_AT].item()
    return {"train_value": train, "running_mean": bn.running_mean.item(), "running_var": bn.running_var.item(),
            "eval_value": evaluated}


@question("11.q1", points=2, title="One step by hand", names=("train_value", "running_mean", "running_var",
                                                               "eval_value"))
def q1(train_value, running_mean, running_var, eval_value):
    want = _q1_reference()
    got = {name: as_number(answer, name) for name, answer in
           [("train_value", train_value), ("running_mean", running_mean), ("running_var", running_var),
            ("eval_value", eval_value)]}
    values = torch.tensor(Q1_VALUES, dtype=torch.float64)
    mean, biased, unbiased = values.mean().item(), values.var(correction=0).item(), values.var().item()
    target = values[3].item()
    if not _close(got["train_value"], want["train_value"]):
        if _close(got["train_value"], Q1_GAMMA * (target - mean) / (unbiased + EPS) ** 0.5 + Q1_BETA):
            raise Wrong("train_value divides by the unbiased variance (m − 1); in training mode BatchNorm "
                        "normalises with the biased one, the average of the squared deviations over all "
                        "m = N·H·W values of the channel.")
        if _close(got["train_value"], (target - mean) / (biased + EPS) ** 0.5):
            raise Wrong("train_value is the normalised value without gamma and beta: scale by gamma, then "
                        "add beta.")
        raise Wrong(f"train_value = {got['train_value']:g} is not the training-mode output for the value 7: "
                    "take the channel's mean and variance over all four values.")
    if not _close(got["running_mean"], want["running_mean"]):
        if _close(got["running_mean"], 0.9 * mean):
            raise Wrong("running_mean gives the batch mean a weight of 0.9: PyTorch's momentum (0.1) is the "
                        "weight of the new batch, not of the old value.")
        if _close(got["running_mean"], mean):
            raise Wrong("running_mean is the batch mean itself; the running mean starts at 0 and moves only "
                        "part of the way towards it.")
        raise Wrong(f"running_mean = {got['running_mean']:g} is not the running mean after one batch.")
    if not _close(got["running_var"], want["running_var"]):
        if _close(got["running_var"], 0.9 + 0.1 * biased):
            raise Wrong("running_var is updated with the biased variance; the running estimate uses the "
                        "unbiased one (divide by m − 1).")
        if _close(got["running_var"], 0.1 + 0.9 * unbiased) or _close(got["running_var"], 0.1 + 0.9 * biased):
            raise Wrong("running_var gives the batch variance a weight of 0.9: momentum (0.1) is the weight "
                        "of the new batch.")
        if _close(got["running_var"], 0.1 * unbiased) or _close(got["running_var"], 0.1 * biased):
            raise Wrong("running_var starts from 0; a fresh BatchNorm's running_var starts at 1.")
        raise Wrong(f"running_var = {got['running_var']:g} is not the running variance after one batch.")
    if not _close(got["eval_value"], want["eval_value"]):
        if _close(got["eval_value"], want["train_value"]):
            raise Wrong("eval_value equals the training-mode output; in evaluation mode BatchNorm normalises "
                        "with its running statistics, not the batch's.")
        if _close(got["eval_value"], Q1_GAMMA * target / (1 + EPS) ** 0.5 + Q1_BETA):
            raise Wrong("eval_value uses the running statistics from before the update (0 and 1); the "
                        "training-mode step has already changed them.")
        raise Wrong(f"eval_value = {got['eval_value']:g} is not the evaluation-mode output for the value 7 "
                    "after the step.")


# --- 11.q2: running statistics after a stream of batches ------------------------------------------------


def _torch_running(batches, momentum):
    bn = nn.BatchNorm2d(batches[0].shape[1], momentum=momentum).double()
    with torch.no_grad():
        for batch in batches:
            bn(batch)
    return bn.running_mean.clone(), bn.running_var.clone()


def _emulate(batches, momentum, *, unbiased=True, swapped=False, var_start=1.0):
    """The update rule with one common mistake switched on (for the reasons)."""
    channels = batches[0].shape[1]
    mean = torch.zeros(channels, dtype=torch.float64)
    var = torch.full((channels,), var_start, dtype=torch.float64)
    for k, batch in enumerate(batches, start=1):
        weight = 1 / k if momentum is None else momentum
        if swapped:
            weight = 1 - weight
        batch_mean = batch.mean(dim=(0, 2, 3))
        batch_var = batch.var(dim=(0, 2, 3), correction=1 if unbiased else 0)
        mean = (1 - weight) * mean + weight * batch_mean
        var = (1 - weight) * var + weight * batch_var
    return mean, var


def _batches(random_tensors, sizes, channels):
    out = []
    for n, h, w in sizes:
        offset = torch.randn(1, channels, 1, 1, generator=random_tensors, dtype=torch.float64) * 2
        scale = torch.rand(1, channels, 1, 1, generator=random_tensors, dtype=torch.float64) * 2 + 0.2
        out.append(torch.randn(n, channels, h, w, generator=random_tensors, dtype=torch.float64) * scale + offset)
    return out


def _draw_stream(draw):
    sizes = [(draw.randint(1, 6), draw.randint(1, 4), draw.randint(1, 4)) for _ in range(draw.randint(1, 6))]
    if any(n * h * w < 2 for n, h, w in sizes):
        return None
    return sizes, draw.randint(1, 5), draw.choice([0.1, 0.1, 0.01, 0.3, 0.5, None, None])


def _as_pair(result, shown: str, channels: int):
    result = value_of(result)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Wrong(f"{shown} returned {short(result)}; it should return a pair (running_mean, running_var).")
    pair = []
    for name, tensor in zip(("running_mean", "running_var"), result):
        tensor = as_tensor(tensor, f"the {name} from {shown}").flatten()
        if tensor.numel() != channels:
            raise Wrong(f"the {name} from {shown} holds {tensor.numel()} numbers; it should hold one per "
                        f"channel ({channels}).")
        pair.append(tensor)
    return pair


@question("11.q2", points=3, title="Running statistics after many batches", names=("running_stats",))
def q2(running_stats):
    random_tensors = generator(1102)
    fixed = [([(4, 2, 2)], 3, 0.1), ([(2, 3, 3)] * 3, 2, 0.1), ([(8, 1, 1)] * 5, 1, 0.5),
             ([(2, 2, 3)] * 4, 4, None), ([(3, 2, 2)] * 2, 2, 1.0), ([(2, 2, 2), (6, 2, 2), (1, 3, 3)], 2, None),
             ([(5, 1, 2)] * 3, 3, 0.0), ([(4, 2, 2)] * 12, 1, 0.1)]
    for sizes, channels, momentum in sweep(fixed, _draw_stream, 24, seed=1102):
        batches = _batches(random_tensors, sizes, channels)
        shown = (f"running_stats(<{len(batches)} batch{'es' if len(batches) > 1 else ''} of {channels} "
                 f"channel{'s' if channels > 1 else ''}>, momentum={momentum})")
        result = call(running_stats, batches, momentum, name="running_stats")
        got_mean, got_var = _as_pair(result, shown, channels)
        want_mean, want_var = _torch_running(batches, momentum)
        if same(got_mean, want_mean) and same(got_var, want_var):
            continue
        variants = [
            (dict(unbiased=False), "running_var is updated with the biased batch variance; the running "
                                   "estimate uses the unbiased one (divide by N·H·W − 1)."),
            (dict(swapped=True), "it gives the new batch the weight 1 − momentum; in PyTorch momentum is the "
                                 "weight of the new batch."),
            (dict(var_start=0.0), "running_var starts from 0; a fresh BatchNorm's running_var starts at 1."),
        ]
        for options, reason in variants:
            mean, var = _emulate(batches, momentum, **options)
            if same(got_mean, mean) and same(got_var, var):
                raise Wrong(f"{shown}: {reason}")
        if momentum is None:
            raise Wrong(f"{shown} is wrong: with momentum=None the running statistics are the plain average "
                        "of the batches' statistics (each batch counts once, whatever its size).")
        if not same(got_mean, want_mean):
            raise Wrong(f"{shown} gives the wrong running_mean: start at 0 and, for each batch, move by momentum "
                        "towards the batch's per-channel mean.")
        raise Wrong(f"{shown} gives the right running_mean but the wrong running_var: start at 1 and, for each "
                    "batch, move by momentum towards the batch's per-channel variance.")


# --- 11.q3 and 11.q4: folds ------------------------------------------------------------------------


def _bn_state(random_tensors, channels, small_var=False) -> dict:
    var = torch.rand(channels, generator=random_tensors, dtype=torch.float64) + 0.1
    if small_var:  # where eps matters
        var = var * 1e-4
    return {"weight": torch.randn(channels, generator=random_tensors, dtype=torch.float64),
            "bias": torch.randn(channels, generator=random_tensors, dtype=torch.float64),
            "running_mean": torch.randn(channels, generator=random_tensors, dtype=torch.float64) * 2,
            "running_var": var, "num_batches_tracked": torch.tensor(100)}


def _conv_state(random_tensors, c_in, c_out, kernel, groups, bias) -> dict:
    state = {"weight": torch.randn(c_out, c_in // groups, *kernel, generator=random_tensors,
                                   dtype=torch.float64) * 0.5}
    if bias:
        state["bias"] = torch.randn(c_out, generator=random_tensors, dtype=torch.float64)
    return state


def _bn_eval(x, bn, eps):
    return F.batch_norm(x, bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"], training=False,
                        eps=eps)


def _as_folded(result, shown: str, what: str, weight_shape) -> tuple:
    """The (weight, bias) a fold returned; shown is the call, what the layers it folds."""
    result = value_of(result)
    if not isinstance(result, dict):
        raise Wrong(f"{shown} returned {short(result)} for {what}; it should return a dict with the keys "
                    "'weight' and 'bias'.")
    if "weight" not in result or "bias" not in result:
        missing = [k for k in ("weight", "bias") if k not in result]
        raise Wrong(f"{shown} returned a dict without {' and '.join(map(repr, missing))} for {what}: the "
                    "folded convolution has a weight and always a bias.")
    weight = as_tensor(result["weight"], f"the 'weight' from {shown}")
    bias = as_tensor(result["bias"], f"the 'bias' from {shown}").flatten()
    if tuple(weight.shape) != tuple(weight_shape):
        raise Wrong(f"{shown} returned a 'weight' of shape {tuple(weight.shape)} for {what}; the convolution's "
                    f"weight has shape {tuple(weight_shape)}, and folding keeps it.")
    if bias.numel() != weight_shape[0]:
        raise Wrong(f"{shown} returned a 'bias' of {bias.numel()} numbers for {what}; it needs one per output "
                    f"channel ({weight_shape[0]}).")
    return weight, bias


def _draw_fold(draw):
    groups = draw.choice([1, 1, 1, 2])
    c_in, c_out = groups * draw.randint(1, 4), groups * draw.randint(1, 4)
    kernel = (draw.randint(1, 4), draw.randint(1, 4))
    return (c_in, c_out, kernel, groups, draw.random() < 0.6, draw.randint(1, 2), draw.randint(0, 1),
            draw.choice([1e-5, 1e-5, 1e-3, 0.1]))


def _fold_after_variants(conv, bn, eps):
    """(weight, bias, reason) of the usual wrong folds of conv → BatchNorm."""
    w, b = conv["weight"], conv.get("bias", torch.zeros(conv["weight"].shape[0], dtype=torch.float64))
    mean, var, gamma, beta = bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"]

    def fold(scale, bias):
        return w * scale.reshape(-1, 1, 1, 1), bias

    a = gamma / torch.sqrt(var + eps)
    out = [
        (*fold(a, beta - a * mean), "it leaves out the convolution's own bias, which BatchNorm scales too."),
        (*fold(gamma / torch.sqrt(var), gamma / torch.sqrt(var) * (b - mean) + beta),
         "it leaves out eps inside the square root."),
        (*fold(gamma / (var + eps), gamma / (var + eps) * (b - mean) + beta),
         "it divides by the variance; BatchNorm divides by the square root of the variance plus eps."),
        (*fold(a, a * b + beta), "it leaves out the running mean."),
        (*fold(a, a * (b + mean) + beta), "it adds the running mean; BatchNorm subtracts it."),
        (*fold(a, b - mean + beta), "its bias is not scaled: BatchNorm multiplies (b − running_mean) by "
                                    "gamma / sqrt(running_var + eps) too."),
    ]
    if w.shape[1] == a.numel():
        out.append((w * a.reshape(1, -1, 1, 1), a * (b - mean) + beta,
                    "it scales the weight along its second dimension (the input channels); each output "
                    "channel's kernel is scaled by that channel's factor (the first dimension)."))
    return out


@question("11.q3", points=3, title="Fold a BatchNorm into the convolution", names=("fold_bn",))
def q3(fold_bn):
    random_tensors = generator(1103)
    fixed = [(1, 4, (3, 3), 1, True, 1, 1, 1e-5), (3, 2, (3, 3), 1, False, 1, 1, 1e-5),
             (2, 2, (1, 1), 1, True, 1, 0, 0.1), (4, 4, (3, 3), 2, True, 2, 1, 1e-5),
             (2, 3, (2, 3), 1, True, 1, 0, 1e-3), (3, 3, (3, 1), 1, False, 2, 1, 0.1)]
    for c_in, c_out, kernel, groups, bias, stride, padding, eps in sweep(fixed, _draw_fold, 16, seed=1103):
        conv = _conv_state(random_tensors, c_in, c_out, kernel, groups, bias)
        bn = _bn_state(random_tensors, c_out, small_var=eps == 1e-3)
        what = (f"Conv2d({c_in}, {c_out}, {kernel}, groups={groups}, bias={bias}) → BatchNorm2d({c_out}, "
                f"eps={eps})")
        shown = f"fold_bn(conv_state, bn_state, eps={eps})"
        result = call(fold_bn, conv, bn, eps, name="fold_bn")
        weight, folded_bias = _as_folded(result, shown, what, conv["weight"].shape)
        x = torch.randn(2, c_in, 7, 6, generator=random_tensors, dtype=torch.float64)
        options = dict(stride=stride, padding=padding, groups=groups)
        want = _bn_eval(F.conv2d(x, conv["weight"], conv.get("bias"), **options), bn, eps)
        if same(F.conv2d(x, weight, folded_bias, **options), want):
            continue
        for w, b, reason in _fold_after_variants(conv, bn, eps):
            if same(weight, w) and same(folded_bias, b):
                raise Wrong(f"{shown} for {what}: {reason}")
        raise Wrong(f"{shown} for {what}: the folded convolution computes something else than the convolution "
                    "followed by the BatchNorm in evaluation mode.")
    conv = _conv_state(random_tensors, 2, 3, (3, 3), 1, True)
    bn = _bn_state(random_tensors, 3, small_var=True)
    weight, folded_bias = _as_folded(call(fold_bn, conv, bn, name="fold_bn"), "fold_bn(conv_state, bn_state)",
                                     "Conv2d(2, 3, 3) → BatchNorm2d(3)", conv["weight"].shape)
    x = torch.randn(2, 2, 6, 6, generator=random_tensors, dtype=torch.float64)
    if not same(F.conv2d(x, weight, folded_bias), _bn_eval(F.conv2d(x, conv["weight"], conv["bias"]), bn, EPS)):
        raise Wrong("fold_bn(conv_state, bn_state) is wrong: eps should default to 1e-5, BatchNorm2d's default.")


def _draw_fold_before(draw):
    kernel = (draw.randint(1, 4), draw.randint(1, 4))
    return (draw.randint(1, 4), draw.randint(1, 4), kernel, draw.random() < 0.6, draw.randint(1, 2),
            draw.choice([1e-5, 1e-5, 0.1]))


def _fold_before_variants(bn, conv, eps):
    """(weight, bias, reason) of the usual wrong folds of BatchNorm → conv."""
    w = conv["weight"]
    b = conv.get("bias", torch.zeros(w.shape[0], dtype=torch.float64))
    a = bn["weight"] / torch.sqrt(bn["running_var"] + eps)
    shift = bn["bias"] - a * bn["running_mean"]
    scaled = w * a.reshape(1, -1, 1, 1)
    kh, kw = w.shape[2:]
    out = [
        (scaled, b, "its bias leaves out the BatchNorm's shift, which the kernels add up at every position."),
        (scaled, w.sum(dim=(2, 3)) @ shift, "it leaves out the convolution's own bias."),
        (scaled, b + w[:, :, kh // 2, kw // 2] @ shift, "its bias uses one tap of each kernel; the shift is added "
                                                        "to every input value, so every tap of the kernel "
                                                        "multiplies it."),
        (scaled, b + w.sum(dim=(2, 3)) @ bn["bias"], "its bias uses beta alone; the BatchNorm's shift is "
                                                     "beta − a · running_mean."),
        (scaled, b + scaled.sum(dim=(2, 3)) @ shift, "its bias scales the shift a second time: the shift is "
                                                     "added after the scaling, so it meets the original kernel."),
    ]
    if w.shape[0] == a.numel():
        out.append((w * a.reshape(-1, 1, 1, 1), b + w.sum(dim=(2, 3)) @ shift,
                    "it scales the weight along its first dimension (the output channels); a BatchNorm before "
                    "the convolution scales the input channels (the second dimension)."))
    return out


@question("11.q4", points=3, title="Fold a BatchNorm into the next convolution", names=("fold_bn_before",))
def q4(fold_bn_before):
    random_tensors = generator(1104)
    fixed = [(1, 2, (3, 3), True, 1, 1e-5), (3, 3, (3, 3), False, 1, 1e-5), (2, 4, (1, 1), True, 1, 0.1),
             (4, 2, (2, 3), True, 2, 1e-5), (3, 1, (3, 3), True, 2, 0.1), (2, 2, (3, 1), False, 1, 1e-5)]
    for c_in, c_out, kernel, bias, stride, eps in sweep(fixed, _draw_fold_before, 16, seed=1104):
        bn = _bn_state(random_tensors, c_in)
        conv = _conv_state(random_tensors, c_in, c_out, kernel, 1, bias)
        what = f"BatchNorm2d({c_in}, eps={eps}) → Conv2d({c_in}, {c_out}, {kernel}, stride={stride}, bias={bias})"
        shown = f"fold_bn_before(bn_state, conv_state, eps={eps})"
        result = call(fold_bn_before, bn, conv, eps, name="fold_bn_before")
        weight, folded_bias = _as_folded(result, shown, what, conv["weight"].shape)
        x = torch.randn(2, c_in, 7, 8, generator=random_tensors, dtype=torch.float64)
        want = F.conv2d(_bn_eval(x, bn, eps), conv["weight"], conv.get("bias"), stride=stride)
        if same(F.conv2d(x, weight, folded_bias, stride=stride), want):
            continue
        for w, b, reason in _fold_before_variants(bn, conv, eps):
            if same(weight, w) and same(folded_bias, b):
                raise Wrong(f"{shown} for {what}: {reason}")
        raise Wrong(f"{shown} for {what}: the folded convolution computes something else than the BatchNorm in "
                    "evaluation mode followed by the convolution.")
    bn, conv = _bn_state(random_tensors, 2, small_var=True), _conv_state(random_tensors, 2, 2, (3, 3), 1, True)
    weight, folded_bias = _as_folded(call(fold_bn_before, bn, conv, name="fold_bn_before"),
                                     "fold_bn_before(bn_state, conv_state)", "BatchNorm2d(2) → Conv2d(2, 2, 3)",
                                     conv["weight"].shape)
    x = torch.randn(2, 2, 6, 6, generator=random_tensors, dtype=torch.float64)
    if not same(F.conv2d(x, weight, folded_bias), F.conv2d(_bn_eval(x, bn, EPS), conv["weight"], conv["bias"])):
        raise Wrong("fold_bn_before(bn_state, conv_state) is wrong: eps should default to 1e-5, BatchNorm2d's "
                    "default.")
