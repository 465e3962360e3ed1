"""Conv arithmetic: output sizes, parameter counts, padding and receptive fields.

Every function here agrees with what torch actually computes (tests/test_arithmetic.py
checks them against real layers) and raises ConvlabError exactly where torch
refuses a configuration. Sizes are ints or (h, w) pairs; results are (h, w) tuples.

Per dimension, with input i, kernel k, stride s, per-side padding p, dilation d:
the kernel spans e = d(k - 1) + 1 pixels and a convolution gives
o = floor((i + 2p - e) / s) + 1.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from torch import nn

from convlab.errors import error, show_size
from convlab.validate import as_int, nonnegative_pair, padding_arg, pool_stride, positive_pair


def effective_kernel_size(kernel_size, dilation=1) -> tuple[int, int]:
    """The area a dilated kernel spans: k + (k - 1)(d - 1) per dimension."""
    kernel = positive_pair(kernel_size, "kernel_size")
    dil = positive_pair(dilation, "dilation")
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dil))


def conv2d_padding(padding, kernel_size, stride=1, dilation=1) -> tuple[tuple[int, int], ...]:
    """Resolve padding (int, pair, 'same', 'valid') to ((top, bottom), (left, right)).

    'same' pads d(k - 1) in total per dimension; when that is odd, torch puts the
    extra pixel at the bottom / right.
    """
    pad = padding_arg(padding)
    if pad == "valid":
        return (0, 0), (0, 0)
    if pad == "same":
        strides = positive_pair(stride, "stride")
        if strides != (1, 1):
            raise error(
                f"padding='same' needs stride 1, got stride={strides}: with a stride the output "
                "is smaller than the input whatever the padding.",
                "use stride=1 with padding='same', or give a number: "
                "convlab.arithmetic.padding_for(...) finds it for a target size.",
            )
        totals = [e - 1 for e in effective_kernel_size(kernel_size, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in pad)


def conv2d_output_shape(input_hw, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """Height and width of nn.Conv2d's output for an input of size input_hw."""
    return conv2d_output_size(positive_pair(input_hw, "input_hw"), kernel_size, stride, padding, dilation)


def conv2d_output_size(size: tuple[int, int], kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """conv2d_output_shape for an (h, w) that is already checked (and may be 0, as in an empty batch)."""
    kernel = positive_pair(kernel_size, "kernel_size")
    strides = positive_pair(stride, "stride")
    dil = positive_pair(dilation, "dilation")
    pads = conv2d_padding(padding, kernel, strides, dil)
    span = effective_kernel_size(kernel, dil)
    padded = tuple(i + before + after for i, (before, after) in zip(size, pads))
    if any(p < e for p, e in zip(padded, span)):
        raise _kernel_too_big(size, kernel, dil, pads, padded, span)
    return tuple((p - e) // s + 1 for p, e, s in zip(padded, span, strides))


def _kernel_too_big(size, kernel, dil, pads, padded, span):
    needed = [max(0, math.ceil((e - i) / 2)) for i, e in zip(size, span)]
    return error(
        f"The kernel does not fit: the input is {show_size(size)}, padded to {show_size(padded)} "
        f"(padding {show_size([b for b, _ in pads])} per side), but kernel_size {show_size(kernel)} "
        f"with dilation {show_size(dil)} spans {show_size(span)} (k + (k - 1)(d - 1)).",
        f"use a kernel of at most {show_size(padded)}, less dilation, or padding of at least "
        f"{show_size(needed)} per side.",
    )


def pool2d_output_shape(
    input_hw, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
) -> tuple[int, int]:
    """Height and width of MaxPool2d's (and, with dilation=1, AvgPool2d's) output.

    With ceil_mode, torch rounds up and then drops the last window if it would
    start in the right-hand padding: if (o - 1) * s >= i + p then o -= 1.
    """
    size = positive_pair(input_hw, "input_hw")
    kernel, strides, pads, dil = pool2d_window(kernel_size, stride, padding, dilation)
    span = effective_kernel_size(kernel, dil)
    out = tuple(
        _pool_size(i, e, s, p, ceil_mode) for i, e, s, p in zip(size, span, strides, pads)
    )
    if min(out) < 1:
        raise error(
            f"Pooling leaves nothing: the input is {show_size(size)}, padding {show_size(pads)} per side, "
            f"but the window spans {show_size(span)}, so the output would be {show_size(out)}.",
            "use a smaller kernel or dilation, more padding (up to half the kernel), "
            "or ceil_mode=True (which keeps a partial window).",
        )
    return out


def pool2d_window(kernel_size, stride=None, padding=0, dilation=1):
    """A pooling window's (kernel, stride, padding, dilation) as (h, w) pairs, checked as torch checks them.

    stride None (or an empty tuple, as torch allows) means the kernel size; padding
    may be at most half the kernel.
    """
    kernel = positive_pair(kernel_size, "kernel_size")
    strides = pool_stride(stride, kernel)
    pads = nonnegative_pair(padding, "padding")
    dil = positive_pair(dilation, "dilation")
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise error(
            f"Pooling padding must be at most half the kernel size: got padding {show_size(pads)} "
            f"with kernel_size {show_size(kernel)} (at most {show_size([k // 2 for k in kernel])}).",
            "use less padding or a larger kernel; a window made mostly of padding pools nothing.",
        )
    return kernel, strides, pads, dil


def _pool_size(i: int, span: int, s: int, p: int, ceil_mode: bool) -> int:
    numerator = i + 2 * p - span
    out = (-(-numerator // s) if ceil_mode else numerator // s) + 1
    if ceil_mode and (out - 1) * s >= i + p:
        out -= 1  # the last window would start in the right-hand padding
    return out


def conv_transpose2d_output_shape(
    input_hw, kernel_size, stride=1, padding=0, output_padding=0, dilation=1
) -> tuple[int, int]:
    """Height and width of nn.ConvTranspose2d's output: (i-1)s - 2p + d(k-1) + a + 1."""
    return conv_transpose2d_output_size(
        positive_pair(input_hw, "input_hw"), kernel_size, stride, padding, output_padding, dilation
    )


def conv_transpose2d_output_size(
    size: tuple[int, int], kernel_size, stride=1, padding=0, output_padding=0, dilation=1
) -> tuple[int, int]:
    """conv_transpose2d_output_shape for an (h, w) that is already checked (and may be 0)."""
    if isinstance(padding, str):
        raise error(
            f"padding={padding!r} is not supported by transposed convolutions.",
            "give padding as an int or (h, w) pair.",
        )
    kernel = positive_pair(kernel_size, "kernel_size")
    strides = positive_pair(stride, "stride")
    pads = nonnegative_pair(padding, "padding")
    extra = nonnegative_pair(output_padding, "output_padding")
    dil = positive_pair(dilation, "dilation")
    if any(a >= max(s, d) for a, s, d in zip(extra, strides, dil)):
        raise error(
            f"output_padding must be smaller than stride or dilation: got output_padding "
            f"{show_size(extra)}, stride {show_size(strides)}, dilation {show_size(dil)}.",
            "output_padding only picks among the input sizes a strided conv maps to one size; "
            f"use at most {show_size([max(s, d) - 1 for s, d in zip(strides, dil)])}.",
        )
    out = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + a + 1
        for i, k, s, p, a, d in zip(size, kernel, strides, pads, extra, dil)
    )
    if min(out) < 1:
        raise error(
            f"The transposed convolution's output would be {show_size(out)}: padding {show_size(pads)} "
            f"crops more than the {show_size([o + 2 * p for o, p in zip(out, pads)])} it produces.",
            "use less padding, a larger kernel or a larger stride.",
        )
    return out


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
        an (h, w) pair: the input pixels one window covers and its step.
    """

    pointwise: bool = False
    free: bool = False
    geometry: Callable | None = None


def _conv_geometry(layer):
    return effective_kernel_size(layer.kernel_size, layer.dilation), positive_pair(layer.stride, "stride")


def _max_pool_geometry(layer):
    span = effective_kernel_size(layer.kernel_size, layer.dilation)
    return span, pool_stride(layer.stride, layer.kernel_size)


def _avg_pool_geometry(layer):
    return positive_pair(layer.kernel_size, "kernel_size"), pool_stride(layer.stride, layer.kernel_size)


_ELEMENTWISE = LayerFacts(pointwise=True, free=True)
_NORMALISING = LayerFacts(pointwise=True)  # y = a·x + b per pixel at inference: one multiply-add each
_FREE = LayerFacts(free=True)  # no weights, but values move or mix: the receptive field stops here

ACTIVATIONS = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.LogSigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Softplus,
    nn.Softsign, nn.Tanhshrink, nn.Hardshrink, nn.Softshrink, nn.Threshold,
)
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)

# The one table: receptive_field and summary both read it (through layer_facts).
LAYER_FACTS: dict[type, LayerFacts] = {
    **{kind: _ELEMENTWISE for kind in (*ACTIVATIONS, *DROPOUTS, nn.Identity, nn.Softmax2d)},
    **{kind: _NORMALISING for kind in (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)},
    nn.PReLU: LayerFacts(pointwise=True),  # one learned slope per channel: its cost has no formula here
    nn.Conv2d: LayerFacts(geometry=_conv_geometry),
    nn.MaxPool2d: LayerFacts(free=True, geometry=_max_pool_geometry),
    nn.AvgPool2d: LayerFacts(free=True, geometry=_avg_pool_geometry),
    **{
        kind: _FREE
        for kind in (
            nn.Softmax, nn.LogSoftmax,  # normalise along a dimension, which may be height or width
            nn.MaxPool1d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool3d,
            nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
            nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
            nn.Flatten, nn.Unflatten, nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle,
            nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d, nn.Embedding,
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


def layer_geometry(layer) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(span, stride) of a sliding-window layer; None for a pointwise one; ConvlabError for any other.

    A (kernel_size, stride[, dilation]) tuple stands for a window layer too.
    """
    geometry = _window(layer)
    if geometry is _UNKNOWN:
        raise error(f"convlab cannot follow a receptive field through {_describe(layer)}: {_NOT_KNOWN}", _ONLY_CONV)
    return geometry


_UNKNOWN = object()
_NOT_KNOWN = "it is not a Conv2d, MaxPool2d, AvgPool2d, a pointwise layer or a (kernel, stride[, dilation]) tuple."
_ONLY_CONV = "pass only the convolutional part of the model, before Flatten / Linear / adaptive pooling."


def _window(layer):
    """(span, stride), None for a pointwise layer, or _UNKNOWN."""
    if isinstance(layer, tuple | list) and len(layer) in (2, 3):
        dilation = layer[2] if len(layer) == 3 else 1
        return effective_kernel_size(layer[0], dilation), positive_pair(layer[1], "stride")
    facts = layer_facts(layer) if isinstance(layer, nn.Module) else None
    if facts is not None and facts.geometry is not None:
        return facts.geometry(layer)
    if facts is not None and facts.pointwise:
        return None
    return _UNKNOWN


def receptive_field(layers) -> tuple[int, int]:
    """How many input pixels (h, w) one output pixel of a stack of layers sees.

    layers: modules (Conv2d, MaxPool2d, AvgPool2d, and pointwise ones such as ReLU
    or BatchNorm2d, which change nothing) or (kernel_size, stride[, dilation]) tuples.
    """
    field, _ = receptive_field_and_jump(layers)
    return field


def receptive_field_and_jump(layers) -> tuple[tuple[int, int], tuple[int, int]]:
    """Receptive field and jump (input pixels between neighbouring outputs) of a stack."""
    field, jump = (1, 1), (1, 1)
    for step in receptive_field_steps(layers):
        field, jump = step
    return field, jump


def receptive_field_steps(layers):
    """Yield (field, jump) after each layer: r += (e - 1) * j, then j *= s."""
    if isinstance(layers, nn.Module) and not isinstance(layers, nn.Sequential | nn.ModuleList):
        layers = [layers]
    if not isinstance(layers, Iterable):
        raise error(
            f"receptive_field needs a list of layers, got {type(layers).__name__}.",
            "pass e.g. [nn.Conv2d(1, 8, 3), nn.MaxPool2d(2)] or [(3, 1), (2, 2)].",
        )
    field, jump = (1, 1), (1, 1)
    for index, layer in enumerate(_flatten(layers)):
        geometry = _geometry(layer, index)
        if geometry is not None:
            span, stride = geometry
            field = tuple(r + (e - 1) * j for r, e, j in zip(field, span, jump))
            jump = tuple(j * s for j, s in zip(jump, stride))
        yield field, jump


def _flatten(layers):
    """The layers in order, with nested nn.Sequential blocks opened up."""
    for layer in layers:
        if isinstance(layer, nn.Sequential | nn.ModuleList):
            yield from _flatten(layer)
        else:
            yield layer


def _geometry(layer, index: int):
    """_window, with the layer's place in the stack named when convlab does not know it."""
    geometry = _window(layer)
    if geometry is _UNKNOWN:
        raise error(f"receptive_field cannot follow layer {index} ({_describe(layer)}): {_NOT_KNOWN}", _ONLY_CONV)
    return geometry


def _describe(layer) -> str:
    return type(layer).__name__ if isinstance(layer, nn.Module) else repr(layer)
