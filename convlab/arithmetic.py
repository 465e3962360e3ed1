"""Conv arithmetic: output sizes, parameter counts, padding and receptive fields.

Every function here agrees with what torch actually computes (tests/test_arithmetic.py
checks them against real layers) and raises ConvlabError exactly where torch
refuses a configuration. Sizes are ints or (h, w) pairs; results are (h, w) tuples.

Per dimension, with input i, kernel k, stride s, per-side padding p, dilation d:
the kernel spans e = d(k - 1) + 1 pixels and a convolution gives
o = floor((i + 2p - e) / s) + 1.
"""

import math
from collections.abc import Iterable

from torch import nn

from convlab.errors import error
from convlab.validate import as_int, nonnegative_pair, padding_arg, positive_pair

# Layers that change values but not geometry: a receptive field passes straight through.
POINTWISE_LAYERS = (
    nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.SiLU, nn.ELU, nn.Identity,
    nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.Dropout, nn.Dropout2d,
)


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
    size = positive_pair(input_hw, "input_hw")
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
        f"The kernel does not fit: the input is {_hw(size)}, padded to {_hw(padded)} "
        f"(padding {_hw([b for b, _ in pads])} per side), but kernel_size {_hw(kernel)} "
        f"with dilation {_hw(dil)} spans {_hw(span)} (k + (k - 1)(d - 1)).",
        f"use a kernel of at most {_hw(padded)}, less dilation, or padding of at least "
        f"{_hw(needed)} per side.",
    )


def pool2d_output_shape(
    input_hw, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
) -> tuple[int, int]:
    """Height and width of MaxPool2d's (and, with dilation=1, AvgPool2d's) output.

    With ceil_mode, torch rounds up and then drops the last window if it would
    start in the right-hand padding: if (o - 1) * s >= i + p then o -= 1.
    """
    size = positive_pair(input_hw, "input_hw")
    kernel = positive_pair(kernel_size, "kernel_size")
    strides = kernel if stride is None else positive_pair(stride, "stride")
    pads = nonnegative_pair(padding, "padding")
    dil = positive_pair(dilation, "dilation")
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise error(
            f"Pooling padding must be at most half the kernel size: got padding {_hw(pads)} "
            f"with kernel_size {_hw(kernel)} (at most {_hw([k // 2 for k in kernel])}).",
            "use less padding or a larger kernel; a window made mostly of padding pools nothing.",
        )
    span = effective_kernel_size(kernel, dil)
    out = tuple(
        _pool_size(i, e, s, p, ceil_mode) for i, e, s, p in zip(size, span, strides, pads)
    )
    if min(out) < 1:
        raise error(
            f"Pooling leaves nothing: the input is {_hw(size)}, padding {_hw(pads)} per side, "
            f"but the window spans {_hw(span)}, so the output would be {_hw(out)}.",
            "use a smaller kernel or dilation, more padding (up to half the kernel), "
            "or ceil_mode=True (which keeps a partial window).",
        )
    return out


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
    if isinstance(padding, str):
        raise error(
            f"padding={padding!r} is not supported by transposed convolutions.",
            "give padding as an int or (h, w) pair.",
        )
    size = positive_pair(input_hw, "input_hw")
    kernel = positive_pair(kernel_size, "kernel_size")
    strides = positive_pair(stride, "stride")
    pads = nonnegative_pair(padding, "padding")
    extra = nonnegative_pair(output_padding, "output_padding")
    dil = positive_pair(dilation, "dilation")
    if any(a >= max(s, d) for a, s, d in zip(extra, strides, dil)):
        raise error(
            f"output_padding must be smaller than stride or dilation: got output_padding "
            f"{_hw(extra)}, stride {_hw(strides)}, dilation {_hw(dil)}.",
            "output_padding only picks among the input sizes a strided conv maps to one size; "
            f"use at most {_hw([max(s, d) - 1 for s, d in zip(strides, dil)])}.",
        )
    out = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + a + 1
        for i, k, s, p, a, d in zip(size, kernel, strides, pads, extra, dil)
    )
    if min(out) < 1:
        raise error(
            f"The transposed convolution's output would be {_hw(out)}: padding {_hw(pads)} "
            f"crops more than the {_hw([o + 2 * p for o, p in zip(out, pads)])} it produces.",
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
    """(span, stride) of one layer, or None for a layer that keeps geometry."""
    if isinstance(layer, nn.Conv2d):
        return effective_kernel_size(layer.kernel_size, layer.dilation), layer.stride
    if isinstance(layer, nn.MaxPool2d):
        stride = layer.stride or layer.kernel_size
        return effective_kernel_size(layer.kernel_size, layer.dilation), positive_pair(stride, "stride")
    if isinstance(layer, nn.AvgPool2d):
        stride = layer.stride or layer.kernel_size
        return positive_pair(layer.kernel_size, "kernel_size"), positive_pair(stride, "stride")
    if isinstance(layer, POINTWISE_LAYERS):
        return None
    if isinstance(layer, tuple | list) and len(layer) in (2, 3):
        dilation = layer[2] if len(layer) == 3 else 1
        return effective_kernel_size(layer[0], dilation), positive_pair(layer[1], "stride")
    raise error(
        f"receptive_field cannot follow layer {index} ({_describe(layer)}): it is not a "
        "Conv2d, MaxPool2d, AvgPool2d, a pointwise layer or a (kernel, stride[, dilation]) tuple.",
        "pass only the convolutional part of the model, before Flatten / Linear / adaptive pooling.",
    )


def _describe(layer) -> str:
    return type(layer).__name__ if isinstance(layer, nn.Module) else repr(layer)


def _hw(values) -> str:
    values = list(values)
    return "×".join(str(v) for v in values) if len(set(values)) > 1 else f"{values[0]}×{values[0]}"
