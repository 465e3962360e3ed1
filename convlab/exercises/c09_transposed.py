"""Checks for chapter 09's exercises (solutions/09_transposed.ipynb): a transposed layer's shapes, one
output by stamping, every layer that upsamples exactly by its stride, a decoder that gives the wrong
size, choosing output_padding for a target size, and the gradient of a convolution (with dilation
and groups) as a transposed convolution.

Every check receives Answers (convlab.exercises.answers) and computes its reference with torch
itself: F.conv_transpose2d on the numbers and on tiny zero inputs for sizes, the task's layers with
the student's weights for a model, aten's convolution backward for gradients. Random cases come from
private generators, so checking never moves the global RNG.
"""

import torch
import torch.nn.functional as F
from torch import nn

from convlab.exercises.core import (
    Wrong,
    as_int,
    as_shape,
    as_tensor,
    call,
    expect_finite,
    expect_module,
    expect_shape,
    generator,
    question,
    same,
    short,
    sweep,
    value_of,
)


def _size(i, k, s=1, p=0, a=0, d=1):
    """The output height of a transposed convolution on height i, by torch; None where torch refuses it."""
    try:
        out = F.conv_transpose2d(torch.zeros(1, 1, i, 1), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p, 0),
                                 output_padding=(a, 0), dilation=(d, 1))
    except (RuntimeError, ValueError):
        return None
    return out.shape[2] if out.shape[2] >= 1 else None


@question("09.q1", points=2, title="Predict the shapes", names=("weight_shape", "out_shape"))
def q1(weight_shape, out_shape):
    layer = nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1, device="meta")
    want_weight = tuple(layer.weight.shape)
    want_out = tuple(layer(torch.empty(5, 64, 16, 16, device="meta")).shape)
    got_weight, got_out = as_shape(weight_shape, "weight_shape"), as_shape(out_shape, "out_shape")
    if got_weight != want_weight:
        if sorted(got_weight) == sorted(want_weight):
            raise Wrong("weight_shape has the right numbers in the wrong order: a ConvTranspose2d weight is not "
                        "laid out like a Conv2d weight.")
        raise Wrong("weight_shape is wrong: one kernel slice of kH × kW for each pair of input and output channels.")
    if got_out != want_out:
        if len(got_out) != 4:
            raise Wrong(f"out_shape has {len(got_out)} numbers; the output is (batch, channels, height, width).")
        if got_out[:2] != want_out[:2]:
            raise Wrong("out_shape's batch or channel count is wrong: the batch size does not change, and the "
                        "layer makes out_channels maps.")
        raise Wrong("out_shape's height and width are wrong: use the transposed convolution's output-size formula "
                    "(its padding removes cells).")


Q2_INPUT = [[1, 2], [3, -1]]
Q2_KERNEL = [[1, 0, 2], [0, 1, 0], [2, 1, 1]]
Q2_STRIDE, Q2_PADDING = 2, 1


@question("09.q2", points=2, title="Stamp the kernel by hand", names=("out_values",))
def q2(out_values):
    x = torch.tensor(Q2_INPUT, dtype=torch.float64)[None, None]
    w = torch.tensor(Q2_KERNEL, dtype=torch.float64)[None, None]
    want = F.conv_transpose2d(x, w, stride=Q2_STRIDE, padding=Q2_PADDING)[0, 0]
    given = value_of(out_values)
    if not isinstance(given, (list, tuple, torch.Tensor)):
        raise Wrong(f"out_values should be a grid of numbers (a list of rows), got {short(given)}.")
    got = as_tensor(given, "out_values")
    while got.ndim > 2 and got.shape[0] == 1:
        got = got[0]
    if got.ndim != 2:
        raise Wrong(f"out_values should be a 2-D grid (a list of rows), got {got.ndim} dimension(s).")
    if tuple(got.shape) != tuple(want.shape):
        uncropped = F.conv_transpose2d(x, w, stride=Q2_STRIDE)[0, 0]
        if tuple(got.shape) == tuple(uncropped.shape):
            raise Wrong(f"out_values is {got.shape[0]}×{got.shape[1]}: that is the sum of the stamps before the "
                        "padding; padding=1 then removes one row and column on each side.")
        raise Wrong(f"out_values is {got.shape[0]}×{got.shape[1]}, but the output has a different size: use the "
                    "output-size formula.")
    if same(got, want):
        return
    flipped = F.conv_transpose2d(x, w.flip(2, 3), stride=Q2_STRIDE, padding=Q2_PADDING)[0, 0]
    if same(got, flipped):
        raise Wrong("out_values stamps the kernel turned by 180°; each input pixel adds the kernel as it is, "
                    "times its value, with the kernel's top-left at (2i, 2j) before the crop.")
    row, col = [int(v) for v in (got - want).abs().gt(1e-6).nonzero()[0]]
    raise Wrong(f"out_values is wrong at row {row}, column {col}: add up every stamp that covers that cell "
                "(position counted in the uncropped 5×5 grid, which starts one cell earlier).")


# --- 09.q3: the layers that upsample exactly by their stride ---------------------------------

Q3_HEIGHTS = (1, 2, 3, 7)  # an exact upsampler turns each of them into s times itself


def _exact_upsamplers(s: int, max_k: int) -> list:
    """Every (k, p, a) with 1 <= k <= max_k that torch accepts and that maps height i to s·i (torch itself)."""
    found = []
    for k in range(1, max_k + 1):
        for p in range(0, k + s + 1):
            for a in range(0, s + 1):  # a = s is refused by torch: the search includes it anyway
                if all(_size(i, k, s, p, a) == s * i for i in Q3_HEIGHTS):
                    found.append((k, p, a))
    return found


def _settings(value, shown: str) -> list:
    """The answer as a list of (k, p, a) tuples of ints; Wrong otherwise."""
    if not isinstance(value, (list, tuple)):
        raise Wrong(f"{shown} returned {short(value)}; it should return a list of tuples (k, p, a).")
    settings = []
    for entry in value:
        if not isinstance(entry, (list, tuple)) or len(entry) != 3 or not all(type(v) is int for v in entry):
            raise Wrong(f"{shown} holds {short(entry)}; each entry should be a tuple of three ints "
                        "(kernel_size, padding, output_padding).")
        settings.append(tuple(entry))
    return settings


def _draw_upsampler(draw):
    return draw.randint(1, 6), draw.randint(1, 10)


@question("09.q3", points=3, title="The transposed output size", names=("exact_upsamplers",))
def q3(exact_upsamplers):
    fixed = [(2, 4), (1, 5), (3, 3), (2, 1), (4, 8), (1, 1), (3, 9), (5, 2), (2, 7)]
    for s, max_k in sweep(fixed, _draw_upsampler, 16, seed=903):
        shown = f"exact_upsamplers({s}, {max_k})"
        got = _settings(call(exact_upsamplers, s, max_k, name="exact_upsamplers"), shown)
        want = _exact_upsamplers(s, max_k)
        if sorted(got) == want:
            continue
        if len(set(got)) != len(got):
            raise Wrong(f"{shown} lists a setting twice; list each (k, p, a) once.")
        for k, p, a in got:
            if (k, p, a) in want:
                continue
            setting = f"kernel_size={k}, stride={s}, padding={p}, output_padding={a}"
            if not 1 <= k <= max_k:
                raise Wrong(f"{shown} holds kernel size {k}; the kernel sizes to consider go from 1 to {max_k}.")
            sizes = {i: _size(i, k, s, p, a) for i in Q3_HEIGHTS}
            if a >= s or p < 0:
                why = "output_padding must be smaller than the stride" if a >= s else "padding cannot be negative"
                raise Wrong(f"{shown} holds ({k}, {p}, {a}), but PyTorch refuses ConvTranspose2d({setting}): {why}.")
            if any(size is None for size in sizes.values()):
                i = next(i for i in Q3_HEIGHTS if sizes[i] is None)
                raise Wrong(f"{shown} holds ({k}, {p}, {a}), but ConvTranspose2d({setting}) leaves nothing of "
                            f"height {i} (its padding crops the whole output).")
            i = next(i for i in Q3_HEIGHTS if sizes[i] != s * i)
            raise Wrong(f"{shown} holds ({k}, {p}, {a}), but ConvTranspose2d({setting}) turns height {i} into "
                        f"{sizes[i]}, not {s * i}.")
        missing = [entry for entry in want if entry not in got]
        if all(a > 0 for _, _, a in missing) and not any(a > 0 for _, _, a in got):
            raise Wrong(f"{shown} misses some settings: output_padding can be any value PyTorch accepts, "
                        "not only 0.")
        raise Wrong(f"{shown} misses some settings: look at every kernel size from 1 to {max_k} and every "
                    "output_padding PyTorch accepts.")


# --- 09.q4: the decoder ----------------------------------------------------------------------

Q4_CHANNELS = [(64, 32), (32, 16), (16, 1)]
Q4_CODE, Q4_IMAGE = 4, 28
Q4_MAX_STRIDE = 8
Q4_BROKEN = (2, 1, 0)  # every layer's (stride, padding, output_padding) in the broken decoder
Q4_MAX_EVALUATIONS = 300  # settings tried on the values, nearest the broken decoder's first
Q4_NEAREST = 40  # per dimension, for settings that differ between height and width


def _distance(chain) -> tuple:
    """How far one dimension's settings are from the broken decoder's: numbers changed, then by how much."""
    changes = [(a != b, abs(a - b)) for layer in chain for a, b in zip(layer, Q4_BROKEN)]
    return sum(c for c, _ in changes), sum(d for _, d in changes)


def _candidates(along_h: list, along_w: list):
    """Pairs of (height, width) settings: the same along both dimensions first, nearest the broken decoder's
    first; then different ones, from the nearest of each dimension."""
    both = set(along_w)
    yield from ((chain, chain) for chain in sorted((c for c in along_h if c in both), key=_distance))
    nearest_h, nearest_w = (sorted(along, key=_distance)[:Q4_NEAREST] for along in (along_h, along_w))
    pairs = [(h, w) for h in nearest_h for w in nearest_w if h != w]
    yield from sorted(pairs, key=lambda pair: tuple(map(sum, zip(_distance(pair[0]), _distance(pair[1])))))


def _layer_settings(k: int) -> list:
    """(stride, padding, output_padding) that a ConvTranspose2d with kernel k (dilation 1) may have."""
    return [(s, p, a) for s in range(1, Q4_MAX_STRIDE + 1) for p in range(0, k + 1) for a in range(s)]


def _chains(kernels: list, sizes: dict) -> list:
    """Settings of the three layers, along one dimension, that turn every input size in `sizes` into its
    output size (found with the output-size formula: only a shortlist; torch decides on the values)."""

    def out(i, k, s, p, a):
        return (i - 1) * s - 2 * p + k + a

    starts = tuple(sizes)
    needs = {}  # the sizes the third layer must receive -> its settings that turn them into the targets
    for third in _layer_settings(kernels[2]):
        s, p, a = third
        before = [(sizes[start] - kernels[2] - a + 2 * p) / s + 1 for start in starts]
        if all(b >= 1 and b == int(b) for b in before):
            needs.setdefault(tuple(int(b) for b in before), []).append(third)
    found = []
    for first in _layer_settings(kernels[0]):
        after_first = tuple(out(i, kernels[0], *first) for i in starts)
        if min(after_first) < 1:
            continue
        for second in _layer_settings(kernels[1]):
            after_second = tuple(out(i, kernels[1], *second) for i in after_first)
            found.extend((first, second, third) for third in needs.get(after_second, ()))
    return found


def _decoder_output(x, weights, biases, chain, cache):
    """The six layers with the student's weights and the given settings ((per layer: (height, width))),
    run by torch; prefixes are cached."""
    h = x
    for depth, (w, b, (along_h, along_w)) in enumerate(zip(weights, biases, chain)):
        key = chain[:depth + 1]
        if key not in cache:
            (sh, ph, ah), (sw, pw, aw) = along_h, along_w
            z = F.conv_transpose2d(h, w, b, stride=(sh, sw), padding=(ph, pw), output_padding=(ah, aw))
            cache[key] = torch.sigmoid(z) if depth == len(weights) - 1 else torch.relu(z)
        h = cache[key]
    return h


def _decoder_tensors(fixed_decoder) -> tuple:
    """The student's three transposed convolutions' weights and biases, checked against the task's layers."""
    pairs = [(n, t) for n, t in fixed_decoder.state_dict() if not n.endswith("num_batches_tracked")]
    weights = [t for _, t in pairs if t.ndim == 4]
    if len(pairs) != 6 or len(weights) != 3:
        raise Wrong(f"fixed_decoder holds {len(pairs)} weight tensors ({len(weights)} of them kernels); the "
                    "decoder's three transposed convolutions hold a weight and a bias each: keep its six layers.")
    channels = [tuple(w.shape[:2]) for w in weights]  # a ConvTranspose2d weight is (in, out, kH, kW)
    if channels != Q4_CHANNELS:
        raise Wrong(f"the layers' channels (in, out) are {channels}; the decoder goes from 64 to 32, 16 and "
                    "then 1 channel, and each layer's in_channels must be what the layer before it makes.")
    expect_finite(pairs, "fixed_decoder")
    order = [t for _, t in pairs]
    biases = [order[2 * n + 1] for n in range(3)]
    if [order[2 * n].ndim for n in range(3)] != [4] * 3 or [tuple(b.shape) for b in biases] != [(32,), (16,), (1,)]:
        raise Wrong("fixed_decoder's weights are not those of three transposed convolutions with their biases: "
                    "keep the decoder's six layers in their order.")
    dtype = order[0].dtype if order[0].dtype in (torch.float32, torch.float64) else torch.float32
    return [order[2 * n].to(dtype) for n in range(3)], [b.to(dtype) for b in biases]


@question("09.q4", points=3, title="Fix the decoder", names=("fixed_decoder",))
def q4(fixed_decoder):
    expect_module(fixed_decoder, "fixed_decoder")
    weights, biases = _decoder_tensors(fixed_decoder)
    random_tensors = generator(904)
    code = torch.rand(2, 64, Q4_CODE, Q4_CODE, generator=random_tensors)
    wider = torch.rand(1, 64, Q4_CODE + 1, Q4_CODE + 1, generator=random_tensors)
    shown = f"for a batch of 2 codes of 64×{Q4_CODE}×{Q4_CODE} the decoder"
    out = as_tensor(fixed_decoder.run(code, no_grad=True, eval=True, copy=True, place=True, shown=shown), shown)
    expect_shape(out, (2, 1, Q4_IMAGE, Q4_IMAGE), shown)
    shown_wider = f"the decoder on a code of 64×{Q4_CODE + 1}×{Q4_CODE + 1}"
    out_wider = as_tensor(fixed_decoder.run(wider, no_grad=True, eval=True, copy=True, place=True,
                                            shown=shown_wider), shown_wider)
    if out_wider.ndim != 4:
        raise Wrong(f"{shown_wider} gives a tensor of shape {tuple(out_wider.shape)}; a decoder gives images.")
    # A decoder of these layers maps sizes along each dimension separately: find the settings that fit the sizes
    # seen, then ask torch which of them computes the decoder's values with its own weights.
    along, found = [], {}
    for dim in (2, 3):
        key = (tuple(w.shape[dim] for w in weights), out_wider.shape[dim])
        if key not in found:
            found[key] = _chains(list(key[0]), {Q4_CODE: Q4_IMAGE, Q4_CODE + 1: key[1]})
        along.append(found[key])
    dtype = weights[0].dtype
    one, caches = code[:1].to(dtype), ({}, {}, {})  # the search runs on one code; a match is then confirmed
    for evaluations, (chain_h, chain_w) in enumerate(_candidates(*along)):
        if evaluations >= Q4_MAX_EVALUATIONS:
            break
        chain = tuple(zip(chain_h, chain_w))
        try:
            with torch.no_grad():
                if not same(out[:1], _decoder_output(one, weights, biases, chain, caches[0])):
                    continue
                if (same(out, _decoder_output(code.to(dtype), weights, biases, chain, caches[1]))
                        and same(out_wider, _decoder_output(wider.to(dtype), weights, biases, chain, caches[2]))):
                    return
        except RuntimeError:
            continue  # settings torch refuses
    raise Wrong(f"fixed_decoder gives 1×{Q4_IMAGE}×{Q4_IMAGE} images, but it does not compute ConvTranspose2d → "
                "ReLU → ConvTranspose2d → ReLU → ConvTranspose2d → Sigmoid with its own weights (for any "
                "kernel_size, stride, padding and output_padding): keep the six layers in their order and change "
                "only those arguments.")


# --- 09.q5: output_padding -------------------------------------------------------------------


def _padding_case(draw):
    i, k, s = draw.randint(1, 20), draw.randint(1, 6), draw.randint(1, 4)
    p = draw.randint(0, k - 1)
    smallest = (i - 1) * s - 2 * p + k
    return (i, max(1, smallest + draw.randint(-1, s)), k, s, p) if smallest >= 1 else None


@question("09.q5", points=3, title="Choose output_padding", names=("output_padding_for",))
def q5(output_padding_for):
    fixed = [(4, 8, 3, 2, 1), (4, 7, 3, 2, 1), (4, 9, 3, 2, 1), (4, 6, 3, 2, 1), (3, 6, 3, 2, 1),
             (16, 32, 4, 2, 1), (5, 5, 3, 1, 1), (5, 6, 3, 1, 1), (7, 28, 4, 4, 0), (7, 30, 4, 4, 0),
             (7, 31, 4, 4, 0), (7, 32, 4, 4, 0), (2, 5, 3, 3, 1), (1, 1, 1, 1, 0)]
    for i, target, k, s, p in sweep(fixed, _padding_case, 50, seed=905):
        shown = f"output_padding_for({i}, {target}, {k}, {s}, {p})"
        got = call(output_padding_for, i, target, k, s, p, name="output_padding_for")
        possible = [a for a in range(s + 1) if _size(i, k, s, p, a) == target]
        if got is None:
            if possible:
                raise Wrong(f"{shown} returned None, but an output_padding that ConvTranspose2d accepts gives "
                            f"size {target} there.")
            continue
        got = as_int(got, shown)
        size = _size(i, k, s, p, got)
        if size is None:
            raise Wrong(f"{shown} returned {got}, which ConvTranspose2d refuses: output_padding must be at least 0 "
                        "and smaller than the stride.")
        if size != target:
            reason = "" if possible else " (return None when no output_padding reaches the target)"
            raise Wrong(f"{shown} returned {got}, but with it ConvTranspose2d gives size {size}, "
                        f"not {target}{reason}.")


# --- 09.q6: the gradient of a convolution ----------------------------------------------------

# (batch, in channels, out channels, (H, W), (kH, kW), stride, padding, dilation, groups): an int or a pair each
Q6_FIXED = [
    (1, 1, 1, (5, 5), (3, 3), 1, 0, 1, 1),
    (1, 2, 3, (7, 7), (3, 3), 2, 1, 1, 1),
    (2, 2, 3, (8, 8), (3, 3), 2, 1, 1, 1),
    (1, 3, 2, (9, 10), (4, 4), 3, 1, 1, 1),
    (1, 2, 2, (9, 9), (3, 3), 1, 2, 2, 1),
    (1, 1, 2, (10, 11), (3, 3), 2, 2, 2, 1),
    (1, 4, 6, (7, 8), (3, 3), 2, 1, 1, 2),
    (1, 4, 4, (6, 7), (3, 3), 1, 1, 1, 4),
    (2, 6, 3, (8, 9), (2, 3), (2, 1), (1, 0), (1, 2), 3),
    (1, 2, 4, (11, 9), (3, 2), (3, 2), (2, 1), (2, 1), 2),
    (1, 3, 3, (12, 10), (3, 3), 3, 0, 3, 3),
]


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, tuple) else (value, value)


def _draw_gradient_case(draw):
    groups = draw.choice([1, 1, 2, 3])
    c_in, c_out = groups * draw.randint(1, 2), groups * draw.randint(1, 2)
    size = (draw.randint(4, 13), draw.randint(4, 13))
    kernel = (draw.randint(1, 4), draw.randint(1, 4))

    def one(low, high):
        return draw.randint(low, high) if draw.random() < 0.6 else (draw.randint(low, high), draw.randint(low, high))

    stride, padding, dilation = one(1, 3), one(0, 2), one(1, 2)
    for n, k, p, d in zip(size, kernel, _pair(padding), _pair(dilation)):
        if n + 2 * p < d * (k - 1) + 1:
            return None  # the convolution has no output
    return draw.randint(1, 2), c_in, c_out, size, kernel, stride, padding, dilation, groups


def _gradient_case(case, random_tensors):
    n, c_in, c_out, (h, w), kernel, stride, padding, dilation, groups = case
    x = torch.rand(n, c_in, h, w, generator=random_tensors, dtype=torch.float64)
    weight = torch.randn(c_out, c_in // groups, *kernel, generator=random_tensors, dtype=torch.float64)
    y = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = torch.randn(y.shape, generator=random_tensors, dtype=torch.float64)
    # dL/dx as autograd computes it: torch.nn.grad.conv2d_input calls conv2d's backward (aten's
    # convolution_backward) directly, without the sympy import of a first torch.autograd.grad
    want = torch.nn.grad.conv2d_input(x.shape, weight, g, stride=stride, padding=padding, dilation=dilation,
                                      groups=groups)
    return x, weight, g, want


@question("09.q6", points=4, title="The gradient of a convolution", names=("conv2d_input_grad",))
def q6(conv2d_input_grad):
    random_tensors = generator(906)
    for case in sweep(Q6_FIXED, _draw_gradient_case, 20, seed=906):
        _, _, _, (h, w), kernel, stride, padding, dilation, groups = case
        x, weight, g, want = _gradient_case(case, random_tensors)
        settings = f"stride={stride}, padding={padding}, dilation={dilation}, groups={groups}"
        where = f"for x of shape {tuple(x.shape)}, a {kernel[0]}×{kernel[1]} kernel, {settings}"
        got = as_tensor(call(conv2d_input_grad, g, weight, stride, padding, dilation, groups, (h, w),
                             name="conv2d_input_grad"), f"conv2d_input_grad {where}")
        if tuple(got.shape) != tuple(want.shape):
            if got.ndim == 4 and got.shape[1] != want.shape[1] and groups > 1:
                raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; the gradient has x's shape, and x's "
                            "channels depend on groups: see how groups splits the weight in a transposed "
                            "convolution.")
            hint = ("; with dilation d a kernel of k taps spans d(k - 1) + 1 cells"
                    if any(d > 1 for d in _pair(dilation)) else "")
            raise Wrong(f"wrong shape {where}: got {tuple(got.shape)}; the gradient has x's shape "
                        f"(choose output_padding for the height and for the width{hint}).")
        if same(got, want):
            continue
        turned = _turned(g, weight, case, want)
        if turned is not None and same(got, turned):
            raise Wrong(f"wrong values {where}: the kernel is turned by 180°; F.conv_transpose2d takes the "
                        "convolution's weight as it is.")
        if groups > 1:
            raise Wrong(f"wrong values {where}: with groups, each group of x's channels gets its gradient only "
                        "from its own group of y's channels, through its own kernels: see how groups splits "
                        "the weight in a transposed convolution.")
        raise Wrong(f"wrong values {where}: the gradient does not match autograd's.")


def _turned(g, weight, case, want):
    """The transposed convolution with the kernel turned by 180° (a common mistake), at want's size."""
    _, _, _, _, _, stride, padding, dilation, groups = case
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    turned = weight.flip(2, 3)
    try:
        smallest = F.conv_transpose2d(g, turned, **options)
        extra = tuple(n - m for n, m in zip(want.shape[2:], smallest.shape[2:]))
        return F.conv_transpose2d(g, turned, output_padding=extra, **options)
    except RuntimeError:
        return None
