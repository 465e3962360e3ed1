"""Conv arithmetic: output sizes, parameter counts, padding and receptive fields.

Every function here agrees with what torch actually computes (tests/test_arithmetic.py
checks them against real layers) and raises ConvlabError exactly where torch
refuses a configuration.

Two families of output-size functions share one per-dimension rule:

- conv_output_shape, pool_output_shape, conv_transpose_output_shape: for Conv1d,
  Conv2d and Conv3d (and their pooling and transposed layers). The input size is
  a tuple whose length, 1, 2 or 3, sets the number of dimensions: (length,),
  (h, w) or (d, h, w). Kernel, stride, padding, dilation and output_padding are
  an int (the same in every dimension) or a tuple of that length; the result is
  a tuple of that length.
- conv2d_output_shape, pool2d_output_shape, conv_transpose2d_output_shape: the
  2-D forms. Their sizes are ints or (h, w) pairs; results are (h, w) tuples.

Per dimension, with input i, kernel k, stride s, per-side padding p, dilation d:
the kernel spans e = d(k - 1) + 1 pixels and a convolution gives
o = floor((i + 2p - e) / s) + 1.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from convlab.errors import error, show_shape
from convlab.validate import (
    SIZE_FORMS,
    as_int,
    nonnegative_sizes,
    padding_arg,
    pool_stride,
    positive_pair,
    positive_sizes,
)

# What each number of dimensions slides over, as the messages name it.
DIMENSIONS = {1: "(length,)", 2: "(height, width)", 3: "(depth, height, width)"}
_LAYERS = {1: "Conv1d", 2: "Conv2d", 3: "Conv3d"}


def _show(values) -> str:
    """A size as the messages show it: '5' in 1-D, '3×5' in 2-D, '2×3×5' in 3-D."""
    return "×".join(str(v) for v in values)


def _ndim_of(*values, default: int | None = 2) -> int | None:
    """The number of dimensions the first tuple of two or more sizes among values implies, else default."""
    for value in values:
        if isinstance(value, torch.Size | tuple | list) and len(value) > 1:
            return len(value)
    return default


def effective_kernel_size(kernel_size, dilation=1, ndim=None) -> tuple[int, ...]:
    """The extent a dilated kernel spans: k + (k - 1)(d - 1) per dimension.

    ndim: the number of dimensions; None takes it from a tuple argument (2 for ints).
    """
    n = ndim or _ndim_of(kernel_size, dilation)
    kernel = positive_sizes(kernel_size, "kernel_size", n)
    dil = positive_sizes(dilation, "dilation", n)
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dil))


def conv_padding(padding, kernel_size, stride=1, dilation=1, ndim=None) -> tuple[tuple[int, int], ...]:
    """Resolve padding (int, tuple, 'same', 'valid') to one (before, after) pair per dimension.

    'same' pads d(k - 1) in total per dimension; when that is odd, torch puts the
    extra pixel after (at the end, the bottom, the right). ndim as in effective_kernel_size.
    """
    n = ndim or _ndim_of(kernel_size, stride, dilation, padding)
    pad = padding_arg(padding, n)
    if pad == "valid":
        return ((0, 0),) * n
    if pad == "same":
        strides = positive_sizes(stride, "stride", n)
        if strides != (1,) * n:
            raise error(
                f"padding='same' needs stride 1, got stride={strides}: with a stride the output "
                "is smaller than the input whatever the padding.",
                "use stride=1 with padding='same', or give a number: "
                "convlab.arithmetic.padding_for(...) finds it for a target size.",
            )
        totals = [e - 1 for e in effective_kernel_size(kernel_size, dilation, n)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in pad)


def conv2d_padding(padding, kernel_size, stride=1, dilation=1) -> tuple[tuple[int, int], ...]:
    """Resolve padding (int, pair, 'same', 'valid') to ((top, bottom), (left, right)).

    'same' pads d(k - 1) in total per dimension; when that is odd, torch puts the
    extra pixel at the bottom / right.
    """
    return conv_padding(padding, kernel_size, stride, dilation, ndim=2)


# ---------------------------------------------------------------- the input size of the n-D functions


def _input_size(input_size, function: str) -> tuple[int, ...]:
    """input_size of an n-D function: a tuple of 1, 2 or 3 positive sizes; its length is the dimension."""
    if not isinstance(input_size, torch.Size | tuple | list):
        v = input_size if isinstance(input_size, int) and not isinstance(input_size, bool) else 28
        raise error(
            f"{function} needs input_size as a tuple with one size per dimension, got {input_size!r}: "
            "the tuple's length says whether the layer is 1-D, 2-D or 3-D.",
            f"pass ({v},) for a signal (Conv1d), ({v}, {v}) for an image (Conv2d) or ({v}, {v}, {v}) "
            "for a volume (Conv3d).",
        )
    if len(input_size) not in DIMENSIONS:
        raise error(
            f"{function} got input_size={tuple(input_size)!r} with {len(input_size)} entries, but torch's "
            "convolutions slide over 1, 2 or 3 dimensions.",
            _spatial_fix(input_size),
        )
    return positive_sizes(input_size, "input_size", len(input_size))


def _spatial_fix(input_size) -> str:
    if len(input_size) in (4, 5):
        return (
            "give only the sizes the kernel slides over, without batch and channels: for a tensor "
            f"of shape {show_shape(input_size)} that is input_size={show_shape(input_size[2:])}."
        )
    return "give one size per dimension: (length,), (height, width) or (depth, height, width)."


def _per_dimension(size: tuple[int, ...], function: str, **arguments) -> None:
    """Refuse a tuple argument whose length is neither 1 nor the input's number of dimensions."""
    n = len(size)
    for name, value in arguments.items():
        if isinstance(value, torch.Size | tuple | list) and len(value) > 1 and len(value) != n:
            other = len(value)
            instead = ""
            if other in _LAYERS:
                instead = f"; or, if the layer is {_LAYERS[other]}, give input_size {other} sizes"
            raise error(
                f"{function}: {name}={tuple(value)!r} has {other} entries, but the input "
                f"{show_shape(size)} has {n} dimension{'s' * (n > 1)} {DIMENSIONS[n]}, so a "
                f"{_LAYERS[n]} needs one {name} per dimension.",
                f"give {name} as one int for every dimension or as {SIZE_FORMS[n][0]}{instead}.",
            )


# ---------------------------------------------------------------- convolution


def conv_output_shape(input_size, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, ...]:
    """Output size of nn.Conv1d, nn.Conv2d or nn.Conv3d for an input of size input_size.

    input_size is (length,), (h, w) or (d, h, w); the other sizes are ints or tuples of
    that length, padding also 'same' (stride 1 only) or 'valid'.
    """
    size = _input_size(input_size, "conv_output_shape")
    _per_dimension(size, "conv_output_shape", kernel_size=kernel_size, stride=stride, padding=padding,
                   dilation=dilation)  # fmt: skip
    return conv_output_size(size, kernel_size, stride, padding, dilation)


def conv2d_output_shape(input_hw, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """Height and width of nn.Conv2d's output for an input of size input_hw."""
    return conv_output_size(positive_pair(input_hw, "input_hw"), kernel_size, stride, padding, dilation)


def conv_output_size(size: tuple[int, ...], kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, ...]:
    """conv_output_shape for a size that is already checked (and may be 0, as in an empty batch)."""
    n = len(size)
    kernel = positive_sizes(kernel_size, "kernel_size", n)
    strides = positive_sizes(stride, "stride", n)
    dil = positive_sizes(dilation, "dilation", n)
    pads = conv_padding(padding, kernel, strides, dil, n)
    span = effective_kernel_size(kernel, dil, n)
    padded = tuple(i + before + after for i, (before, after) in zip(size, pads))
    if any(p < e for p, e in zip(padded, span)):
        raise _kernel_too_big(size, kernel, dil, pads, padded, span)
    return tuple((p - e) // s + 1 for p, e, s in zip(padded, span, strides))


def conv2d_output_size(size: tuple[int, int], kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """conv2d_output_shape for an (h, w) that is already checked (and may be 0, as in an empty batch)."""
    return conv_output_size(size, kernel_size, stride, padding, dilation)


def _kernel_too_big(size, kernel, dil, pads, padded, span):
    needed = [max(0, math.ceil((e - i) / 2)) for i, e in zip(size, span)]
    return error(
        f"The kernel does not fit: the input is {_show(size)}, padded to {_show(padded)} "
        f"(padding {_show([b for b, _ in pads])} per side), but kernel_size {_show(kernel)} "
        f"with dilation {_show(dil)} spans {_show(span)} (k + (k - 1)(d - 1)).",
        f"use a kernel of at most {_show(padded)}, less dilation, or padding of at least "
        f"{_show(needed)} per side.",
    )


# ---------------------------------------------------------------- pooling


POOL_KINDS = {"max", "avg"}


def pool_output_shape(
    input_size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *, kind="max"
) -> tuple[int, ...]:
    """Output size of MaxPool1d/2d/3d, or with kind="avg" of AvgPool1d/2d/3d.

    input_size is (length,), (h, w) or (d, h, w); the other sizes are ints or tuples of
    that length. ceil_mode as in pool2d_output_shape. Average pooling has no dilation,
    and AvgPool3d alone also refuses an input smaller than the kernel before padding.
    """
    size = _input_size(input_size, "pool_output_shape")
    _per_dimension(size, "pool_output_shape", kernel_size=kernel_size, stride=stride, padding=padding,
                   dilation=dilation)  # fmt: skip
    return pool_output_size(size, kernel_size, stride, padding, dilation, ceil_mode, kind=kind)


def pool2d_output_shape(
    input_hw, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
) -> tuple[int, int]:
    """Height and width of MaxPool2d's (and, with dilation=1, AvgPool2d's) output.

    With ceil_mode, torch rounds up and then drops the last window if it would
    start in the right-hand padding: if (o - 1) * s >= i + p then o -= 1.
    """
    return pool_output_size(positive_pair(input_hw, "input_hw"), kernel_size, stride, padding, dilation, ceil_mode)


def pool_output_size(
    size: tuple[int, ...], kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *, kind="max"
) -> tuple[int, ...]:
    """pool_output_shape for a size that is already checked."""
    if kind not in POOL_KINDS:
        raise error(f"kind={kind!r} is not a pooling convlab knows.", f"use one of {sorted(POOL_KINDS)}.")
    kernel, strides, pads, dil = pool_window(kernel_size, stride, padding, dilation, ndim=len(size))
    if kind == "avg":
        _check_avg_pool(size, kernel, dil)
    span = effective_kernel_size(kernel, dil, len(size))
    out = tuple(
        _pool_size(i, e, s, p, ceil_mode) for i, e, s, p in zip(size, span, strides, pads)
    )
    if min(out) < 1:
        raise error(
            f"Pooling leaves nothing: the input is {_show(size)}, padding {_show(pads)} per side, "
            f"but the window spans {_show(span)}, so the output would be {_show(out)}.",
            "use a smaller kernel or dilation, more padding (up to half the kernel), "
            "or ceil_mode=True (which keeps a partial window).",
        )
    return out


def _check_avg_pool(size, kernel, dil) -> None:
    if dil != (1,) * len(size):
        raise error(
            f"Average pooling has no dilation, got dilation {_show(dil)}.",
            "leave dilation at 1 for kind='avg'; only max pooling (MaxPool1d/2d/3d) takes one.",
        )
    if len(size) == 3 and any(i < k for i, k in zip(size, kernel)):
        raise error(
            f"AvgPool3d needs an input at least as large as its kernel before padding: the input is "
            f"{_show(size)}, kernel_size {_show(kernel)}.",
            f"use a kernel of at most {_show(size)}, or pad the input yourself (F.pad) and give AvgPool3d "
            "padding=0, which averages the same zeros as count_include_pad=True without ceil_mode; torch "
            "checks this for AvgPool3d only (AvgPool1d/2d and MaxPool3d pad first).",
        )


def pool_window(kernel_size, stride=None, padding=0, dilation=1, ndim=2):
    """A pooling window's (kernel, stride, padding, dilation), one size per dimension each,
    checked as torch checks them.

    stride None (or an empty tuple, as torch allows) means the kernel size; padding
    may be at most half the kernel.
    """
    kernel = positive_sizes(kernel_size, "kernel_size", ndim)
    strides = pool_stride(stride, kernel, ndim)
    pads = nonnegative_sizes(padding, "padding", ndim)
    dil = positive_sizes(dilation, "dilation", ndim)
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise error(
            f"Pooling padding must be at most half the kernel size: got padding {_show(pads)} "
            f"with kernel_size {_show(kernel)} (at most {_show([k // 2 for k in kernel])}).",
            "use less padding or a larger kernel; a window made mostly of padding pools nothing.",
        )
    return kernel, strides, pads, dil


def pool2d_window(kernel_size, stride=None, padding=0, dilation=1):
    """A pooling window's (kernel, stride, padding, dilation) as (h, w) pairs, checked as torch checks them.

    stride None (or an empty tuple, as torch allows) means the kernel size; padding
    may be at most half the kernel.
    """
    return pool_window(kernel_size, stride, padding, dilation, ndim=2)


def _pool_size(i: int, span: int, s: int, p: int, ceil_mode: bool) -> int:
    numerator = i + 2 * p - span
    out = (-(-numerator // s) if ceil_mode else numerator // s) + 1
    if ceil_mode and (out - 1) * s >= i + p:
        out -= 1  # the last window would start in the right-hand padding
    return out


# ---------------------------------------------------------------- transposed convolution


def conv_transpose_output_shape(
    input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1
) -> tuple[int, ...]:
    """Output size of nn.ConvTranspose1d/2d/3d: (i-1)s - 2p + d(k-1) + a + 1 per dimension.

    input_size is (length,), (h, w) or (d, h, w); the other sizes are ints or tuples of that length.
    """
    size = _input_size(input_size, "conv_transpose_output_shape")
    _per_dimension(size, "conv_transpose_output_shape", kernel_size=kernel_size, stride=stride, padding=padding,
                   output_padding=output_padding, dilation=dilation)  # fmt: skip
    return conv_transpose_output_size(size, kernel_size, stride, padding, output_padding, dilation)


def conv_transpose2d_output_shape(
    input_hw, kernel_size, stride=1, padding=0, output_padding=0, dilation=1
) -> tuple[int, int]:
    """Height and width of nn.ConvTranspose2d's output: (i-1)s - 2p + d(k-1) + a + 1."""
    return conv_transpose_output_size(
        positive_pair(input_hw, "input_hw"), kernel_size, stride, padding, output_padding, dilation
    )


def conv_transpose_output_size(
    size: tuple[int, ...], kernel_size, stride=1, padding=0, output_padding=0, dilation=1
) -> tuple[int, ...]:
    """conv_transpose_output_shape for a size that is already checked (and may be 0)."""
    n = len(size)
    if isinstance(padding, str):
        raise error(
            f"padding={padding!r} is not supported by transposed convolutions.",
            f"give padding as an int or {SIZE_FORMS[n][0]}.",
        )
    kernel = positive_sizes(kernel_size, "kernel_size", n)
    strides = positive_sizes(stride, "stride", n)
    pads = nonnegative_sizes(padding, "padding", n)
    extra = nonnegative_sizes(output_padding, "output_padding", n)
    dil = positive_sizes(dilation, "dilation", n)
    if any(a >= max(s, d) for a, s, d in zip(extra, strides, dil)):
        raise error(
            f"output_padding must be smaller than stride or dilation: got output_padding "
            f"{_show(extra)}, stride {_show(strides)}, dilation {_show(dil)}.",
            "output_padding only picks among the input sizes a strided conv maps to one size; "
            f"use at most {_show([max(s, d) - 1 for s, d in zip(strides, dil)])}.",
        )
    out = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + a + 1
        for i, k, s, p, a, d in zip(size, kernel, strides, pads, extra, dil)
    )
    if min(out) < 1:
        raise error(
            f"The transposed convolution's output would be {_show(out)}: padding {_show(pads)} "
            f"crops more than the {_show([o + 2 * p for o, p in zip(out, pads)])} it produces.",
            "use less padding, a larger kernel or a larger stride.",
        )
    return out


def conv_transpose2d_output_size(
    size: tuple[int, int], kernel_size, stride=1, padding=0, output_padding=0, dilation=1
) -> tuple[int, int]:
    """conv_transpose2d_output_shape for an (h, w) that is already checked (and may be 0)."""
    return conv_transpose_output_size(size, kernel_size, stride, padding, output_padding, dilation)


# ---------------------------------------------------------------- parameters and multiply-adds


def conv2d_params(in_channels, out_channels, kernel_size, groups=1, bias=True) -> int:
    """Number of learnable numbers in nn.Conv2d: out * (in / groups) * kH * kW (+ out)."""
    c_in, c_out, g = _channels(in_channels, out_channels, groups)
    kh, kw = positive_pair(kernel_size, "kernel_size")
    return c_out * (c_in // g) * kh * kw + (c_out if _flag(bias, "bias") else 0)


def conv2d_mult_adds(
    input_hw, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1
) -> int:
    """Multiply-adds of one image through nn.Conv2d: each output value costs (in / groups) * kH * kW."""
    c_in, c_out, g = _channels(in_channels, out_channels, groups)
    kh, kw = positive_pair(kernel_size, "kernel_size")
    oh, ow = conv2d_output_shape(input_hw, (kh, kw), stride, padding, dilation)
    return c_out * oh * ow * (c_in // g) * kh * kw


def _channels(in_channels, out_channels, groups) -> tuple[int, int, int]:
    c_in = as_int(in_channels, "in_channels")
    c_out = as_int(out_channels, "out_channels")
    g = as_int(groups, "groups")
    for name, value in (("in_channels", c_in), ("out_channels", c_out), ("groups", g)):
        if value < 1:
            raise error(f"{name} must be at least 1, got {value}.", f"use a positive {name}.")
    for name, value in (("in_channels", c_in), ("out_channels", c_out)):
        if value % g:
            raise error(
                f"groups={g} must divide {name}={value}: each group takes {name}/groups "
                f"channels, and {value}/{g} is not whole.",
                f"use groups among the common divisors of in_channels={c_in} and "
                f"out_channels={c_out}: {_common_divisors(c_in, c_out)}.",
            )
    return c_in, c_out, g


def _common_divisors(a: int, b: int) -> list[int]:
    g = math.gcd(a, b)
    return [d for d in range(1, g + 1) if g % d == 0]


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise error(f"{name} must be True or False, got {value!r}.", f"pass {name}=True or {name}=False.")
    return value


def padding_for(input_size, output_size, kernel_size, stride=1, dilation=1) -> tuple[int, int]:
    """The smallest per-side padding that makes a conv (or a max pool without ceil_mode)
    turn input_size into output_size."""
    size = positive_pair(input_size, "input_size")
    target = positive_pair(output_size, "output_size")
    kernel = positive_pair(kernel_size, "kernel_size")
    strides = positive_pair(stride, "stride")
    span = effective_kernel_size(kernel, dilation)
    return tuple(
        _padding_1d(i, o, e, s, axis) for i, o, e, s, axis in zip(size, target, span, strides, "hw")
    )


def _padding_1d(i: int, o: int, span: int, s: int, axis: str) -> int:
    # o = floor((i + 2p - span) / s) + 1  <=>  (o-1)s <= i + 2p - span <= (o-1)s + s - 1
    low = (o - 1) * s + span - i
    high = low + s - 1
    p = max(0, math.ceil(low / 2))
    if 2 * p <= high:
        return p
    reachable = (i + 2 * p - span) // s + 1 if i + 2 * p >= span else 0
    if high < 0:
        fix = "padding can only make the output larger; use a larger stride or kernel"
    else:
        fix = (
            f"no per-side padding gives exactly {o} (padding {p} gives {reachable}); "
            "pad asymmetrically with F.pad, or change the kernel or stride"
        )
    without = (i - span) // s + 1 if i >= span else "no output"
    raise error(
        f"No padding turns {axis}={i} into {o} with a kernel spanning {span} and stride {s}: "
        f"without padding the output is {without}.",
        fix + ".",
    )


# ---------------------------------------------------------------- what each kind of layer does


@dataclass(frozen=True)
class LayerFacts:
    """What convlab knows about one kind of layer.

    pointwise: each output pixel depends only on the input pixel at the same place,
        so a receptive field (and its jump) passes straight through.
    free: the layer multiplies no weights by inputs, so it costs 0 multiply-adds.
    geometry: for a sliding-window layer, a function layer -> (span, stride), each
        one size per dimension the window slides over ((length,), (h, w) or (d, h, w)):
        the input pixels one window covers and its step.
    """

    pointwise: bool = False
    free: bool = False
    geometry: Callable | None = None


def _conv_geometry(layer):
    n = len(layer.kernel_size)  # torch stores a conv's sizes as tuples of its dimension
    return effective_kernel_size(layer.kernel_size, layer.dilation, n), positive_sizes(layer.stride, "stride", n)


def _pool_geometry(ndim: int, dilated: bool) -> Callable:
    """The geometry of MaxPool{ndim}d (dilated) or AvgPool{ndim}d (no dilation)."""

    def geometry(layer):
        span = effective_kernel_size(layer.kernel_size, layer.dilation if dilated else 1, ndim)
        return span, pool_stride(layer.stride, layer.kernel_size, ndim)

    return geometry


_ELEMENTWISE = LayerFacts(pointwise=True, free=True)
_NORMALISING = LayerFacts(pointwise=True)  # y = a·x + b per pixel at inference: one multiply-add each
_FREE = LayerFacts(free=True)  # no weights, but values move or mix: the receptive field stops here

ACTIVATIONS = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.LogSigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Softplus,
    nn.Softsign, nn.Tanhshrink, nn.Hardshrink, nn.Softshrink, nn.Threshold,
)
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
_MAX_POOLS = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_AVG_POOLS = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}

# The one table: receptive_field and summary both read it (through layer_facts).
LAYER_FACTS: dict[type, LayerFacts] = {
    **{kind: _ELEMENTWISE for kind in (*ACTIVATIONS, *DROPOUTS, nn.Identity, nn.Softmax2d)},
    **{
        kind: _NORMALISING
        for kind in (
            nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm,
            nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
        )
    },
    nn.PReLU: LayerFacts(pointwise=True),  # one learned slope per channel: its cost has no formula here
    **{kind: LayerFacts(geometry=_conv_geometry) for kind in (nn.Conv1d, nn.Conv2d, nn.Conv3d)},
    **{kind: LayerFacts(free=True, geometry=_pool_geometry(n, dilated=True)) for n, kind in _MAX_POOLS.items()},
    **{kind: LayerFacts(free=True, geometry=_pool_geometry(n, dilated=False)) for n, kind in _AVG_POOLS.items()},
    **{
        kind: _FREE
        for kind in (
            nn.Softmax, nn.LogSoftmax,  # normalise along a dimension, which may be height or width
            nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
            nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
            nn.Flatten, nn.Unflatten, nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle,
            nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d,
            nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d,
            nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d, nn.Embedding,
        )
    },
}  # fmt: skip

POINTWISE_LAYERS = tuple(kind for kind, facts in LAYER_FACTS.items() if facts.pointwise)
ZERO_COST_LAYERS = tuple(kind for kind, facts in LAYER_FACTS.items() if facts.free)


def layer_facts(layer) -> LayerFacts | None:
    """The facts for a module, found by its class or the nearest base class in the table; None if unknown."""
    for kind in type(layer).__mro__:
        if kind in LAYER_FACTS:
            return LAYER_FACTS[kind]
    return None


def layer_geometry(layer) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(span, stride) of a sliding-window layer; None for a pointwise one; ConvlabError for any other.

    Each is one size per dimension of the layer: (length,) for Conv1d, (h, w) for
    Conv2d, (d, h, w) for Conv3d. A (kernel_size, stride[, dilation]) tuple stands
    for a window layer too: 2-D, unless one of its entries is a tuple of another length.
    """
    geometry = _window(layer)
    if geometry is _UNKNOWN:
        raise error(f"convlab cannot follow a receptive field through {_describe(layer)}: {_NOT_KNOWN}", _ONLY_CONV)
    return geometry


_UNKNOWN = object()
_NOT_KNOWN = (
    "it is not a convolution (Conv1d/2d/3d), a max or average pooling (1d/2d/3d), a pointwise layer "
    "or a (kernel, stride[, dilation]) tuple."
)
_ONLY_CONV = "pass only the convolutional part of the model, before Flatten / Linear / adaptive pooling."


def _is_spec(layer) -> bool:
    return isinstance(layer, tuple | list) and len(layer) in (2, 3)


def _window(layer, ndim=None):
    """(span, stride), None for a pointwise layer, or _UNKNOWN.

    ndim: the number of dimensions a (kernel, stride[, dilation]) tuple of ints stands for
    (None: from its tuple entries, else 2). A module's own dimension always wins.
    """
    if _is_spec(layer):
        dilation = layer[2] if len(layer) == 3 else 1
        n = _ndim_of(layer[0], layer[1], dilation, default=ndim or 2)
        return effective_kernel_size(layer[0], dilation, n), positive_sizes(layer[1], "stride", n)
    facts = layer_facts(layer) if isinstance(layer, nn.Module) else None
    if facts is not None and facts.geometry is not None:
        return facts.geometry(layer)
    if facts is not None and facts.pointwise:
        return None
    return _UNKNOWN


def receptive_field(layers) -> tuple[int, ...]:
    """How many input pixels one output pixel of a stack of layers sees, per dimension.

    layers: modules (Conv1d/2d/3d, MaxPool1d/2d/3d, AvgPool1d/2d/3d, and pointwise ones
    such as ReLU or BatchNorm2d, which change nothing) or (kernel_size, stride[, dilation])
    tuples. The result has one size per dimension the layers slide over: (length,),
    (h, w) or (d, h, w); a stack that mixes them is refused.
    """
    field, _ = receptive_field_and_jump(layers)
    return field


def receptive_field_and_jump(layers) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Receptive field and jump (input pixels between neighbouring outputs) of a stack."""
    field, jump = (1, 1), (1, 1)
    for step in receptive_field_steps(layers):
        field, jump = step
    return field, jump


def receptive_field_steps(layers):
    """Yield (field, jump) after each layer: r += (e - 1) * j, then j *= s, per dimension."""
    if isinstance(layers, nn.Module) and not isinstance(layers, nn.Sequential | nn.ModuleList):
        layers = [layers]
    if not isinstance(layers, Iterable):
        raise error(
            f"receptive_field needs a list of layers, got {type(layers).__name__}.",
            "pass e.g. [nn.Conv2d(1, 8, 3), nn.MaxPool2d(2)] or [(3, 1), (2, 2)].",
        )
    flat = list(_flatten(layers))
    n = _stack_ndim(flat)
    field, jump = (1,) * n, (1,) * n
    for index, layer in enumerate(flat):
        geometry = _geometry(layer, index, n)
        if geometry is not None:
            span, stride = geometry
            field = tuple(r + (e - 1) * j for r, e, j in zip(field, span, jump))
            jump = tuple(j * s for j, s in zip(jump, stride))
        yield field, jump


def _stack_ndim(flat) -> int:
    """The one number of dimensions the window layers of a stack slide over (2 if none says)."""
    seen = None  # (ndim, index, layer) of the first layer that fixes it
    for index, layer in enumerate(flat):
        if _is_spec(layer):
            dilation = layer[2] if len(layer) == 3 else 1
            n = _ndim_of(layer[0], layer[1], dilation, default=None)
        else:
            geometry = _geometry(layer, index, None)
            n = None if geometry is None else len(geometry[0])
        if n is None:
            continue
        if seen is None:
            seen = (n, index, layer)
        elif n != seen[0]:
            raise error(
                f"receptive_field cannot follow a stack that changes dimension: layer {seen[1]} "
                f"({_describe(seen[2])}) slides over {seen[0]} dimension{'s' * (seen[0] > 1)}, "
                f"layer {index} ({_describe(layer)}) over {n}.",
                "pass layers of one kind: Conv1d/MaxPool1d/AvgPool1d, or the 2d ones, or the 3d ones "
                "(and tuples with one size per dimension).",
            )
    return 2 if seen is None else seen[0]


def _flatten(layers):
    """The layers in order, with nested nn.Sequential blocks opened up."""
    for layer in layers:
        if isinstance(layer, nn.Sequential | nn.ModuleList):
            yield from _flatten(layer)
        else:
            yield layer


def _geometry(layer, index: int, ndim):
    """_window, with the layer's place in the stack named when convlab does not know it."""
    geometry = _window(layer, ndim)
    if geometry is _UNKNOWN:
        raise error(f"receptive_field cannot follow layer {index} ({_describe(layer)}): {_NOT_KNOWN}", _ONLY_CONV)
    return geometry


def _describe(layer) -> str:
    return type(layer).__name__ if isinstance(layer, nn.Module) else repr(layer)
