"""Explain, before running it, why a convolution would fail on an input.

check_conv2d(layer_or_weight, x) returns the output shape when all is well and
otherwise raises a ConvlabError in plain words: which channel count disagrees
with which, what the weight shape (out, in/groups, kH, kW) means, and the fix.
The reference implementations call the same checks first.
"""

import torch
from torch import nn

from convlab.arithmetic import conv2d_output_shape, conv2d_padding, conv_transpose2d_output_shape
from convlab.errors import error
from convlab.validate import as_int, tensor_arg


def check_conv2d(layer_or_weight, x, *, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Output shape of conv2d(x) for an nn.Conv2d or a weight tensor; ConvlabError if it would fail.

    Given a layer, its own stride, padding, dilation and groups are used and the
    keyword arguments are ignored.
    """
    if isinstance(layer_or_weight, nn.Conv2d):
        layer = layer_or_weight
        weight, bias = layer.weight, layer.bias
        stride, dilation, groups = layer.stride, layer.dilation, layer.groups
        padding = layer.padding
        name = f"the layer {_layer_name(layer)}"
    else:
        weight = _weight(layer_or_weight)
        name = "the weight"
    x = tensor_arg(x, "x", (3, 4))
    groups = _groups(groups)
    _check_weight_groups(weight, groups, transposed=False)
    _check_channels(x, weight, groups, name, transposed=False)
    _check_bias(bias, weight.shape[0])
    _check_same_kind(x, weight, bias)
    if isinstance(layer_or_weight, nn.Conv2d) and layer_or_weight.padding_mode != "zeros":
        _check_padding_mode(layer_or_weight, x)
    height, width = conv2d_output_shape(x.shape[-2:], weight.shape[-2:], stride, padding, dilation)
    return torch.Size([*x.shape[:-3], weight.shape[0], height, width])


def check_conv_transpose2d(
    layer_or_weight, x, *, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Output shape of conv_transpose2d(x); ConvlabError if it would fail.

    A transposed convolution's weight is (in_channels, out_channels/groups, kH, kW).
    """
    if isinstance(layer_or_weight, nn.ConvTranspose2d):
        layer = layer_or_weight
        weight, bias = layer.weight, layer.bias
        stride, padding, dilation = layer.stride, layer.padding, layer.dilation
        output_padding, groups = layer.output_padding, layer.groups
        name = f"the layer {_layer_name(layer)}"
    else:
        weight = _weight(layer_or_weight)
        name = "the weight"
    x = tensor_arg(x, "x", (3, 4))
    groups = _groups(groups)
    _check_weight_groups(weight, groups, transposed=True)
    _check_channels(x, weight, groups, name, transposed=True)
    out_channels = weight.shape[1] * groups
    _check_bias(bias, out_channels)
    _check_same_kind(x, weight, bias)
    height, width = conv_transpose2d_output_shape(
        x.shape[-2:], weight.shape[-2:], stride, padding, output_padding, dilation
    )
    return torch.Size([*x.shape[:-3], out_channels, height, width])


def _weight(weight) -> torch.Tensor:
    if isinstance(weight, nn.Module):
        raise error(
            f"check_conv2d takes an nn.Conv2d or a weight tensor, got {type(weight).__name__}.",
            "pass the convolution layer itself (e.g. model.conv1) or its .weight.",
        )
    return tensor_arg(weight, "weight", (4,))


def _groups(groups) -> int:
    groups = as_int(groups, "groups")
    if groups < 1:
        raise error(f"groups must be at least 1, got {groups}.", "use groups=1 for an ordinary convolution.")
    return groups


def _check_weight_groups(weight, groups: int, transposed: bool) -> None:
    dim, role = (0, "in_channels") if transposed else (0, "out_channels")
    if weight.shape[dim] % groups:
        raise error(
            f"groups={groups} must divide the weight's {role}: the weight has shape "
            f"{_shape(weight)}, and {weight.shape[dim]} is not a multiple of {groups}.",
            f"use groups that divides {weight.shape[dim]}, or a weight whose first dimension "
            f"is a multiple of {groups}.",
        )
    if min(weight.shape) == 0:
        raise error(
            f"The weight has shape {_shape(weight)}: an empty dimension means no kernels or "
            "an empty kernel.",
            "give every dimension of the weight a size of at least 1.",
        )


def _check_channels(x, weight, groups: int, name: str, transposed: bool) -> None:
    have = x.shape[-3]
    if transposed:
        want = weight.shape[0]
        meaning = (
            f"{_owner(name)} shape {_shape(weight)} = (in_channels, out_channels/groups, kH, kW): "
            f"a transposed convolution reads {want} input channels"
        )
    else:
        per_kernel = weight.shape[1]
        want = per_kernel * groups
        meaning = (
            f"{_owner(name)} shape {_shape(weight)} = (out_channels, in_channels/groups, kH, kW): "
            f"{weight.shape[0]} kernels, each with {per_kernel} slice{'s' if per_kernel > 1 else ''} "
            f"of {weight.shape[2]}×{weight.shape[3]}, one per input channel"
        )
        if groups > 1:
            meaning += f" of its group; with groups={groups} the input needs {per_kernel} × {groups} = {want} channels"
    if have == want:
        return
    layout = "(batch, channels, height, width)" if x.dim() == 4 else "(channels, height, width)"
    raise error(
        f"Channel mismatch: the input has {have} channel{'s' if have != 1 else ''} "
        f"(x.shape = {_shape(x)}, read as {layout}), but {name} expects {want}. {meaning}.",
        _channel_fix(x, want, weight, groups, name, transposed),
    )


def _channel_fix(x, want, weight, groups, name, transposed) -> str:
    have = x.shape[-3]
    kh, kw = weight.shape[2], weight.shape[3]
    if transposed:
        change = f"build the layer with in_channels={have} (nn.ConvTranspose2d({have}, ...))"
    elif name == "the weight":
        change = f"make the weight ({weight.shape[0]}, {have // groups if have % groups == 0 else '?'}, {kh}, {kw})"
    else:
        layer = f"nn.Conv2d({have}, {weight.shape[0]}, kernel_size={kh}, ...)"
        change = f"build the layer with in_channels={have} ({layer})"
    fix = f"{change}, or give it an input with {want} channels"
    if have == 1:
        fix += f" (a grey image can be repeated: x.repeat(1, {want}, 1, 1))"
    if _looks_channels_last(x, want):
        order = "x.permute(2, 0, 1)" if x.dim() == 3 else "x.permute(0, 3, 1, 2)"
        fix += f"; if your image is (height, width, channels), move channels first with {order}"
    return fix + "."


def _looks_channels_last(x, want: int) -> bool:
    """The last dimension holding exactly the expected channels means an image stored height-width-channels."""
    return x.shape[-1] == want


def _check_bias(bias, out_channels: int) -> None:
    if bias is None:
        return
    bias = tensor_arg(bias, "bias", (1,))
    if bias.shape[0] != out_channels:
        raise error(
            f"The bias has {bias.shape[0]} values but the convolution has {out_channels} output "
            "channels: one bias value is added to each output channel.",
            f"give a bias of shape ({out_channels},), or bias=None.",
        )


def _check_same_kind(x, weight, bias) -> None:
    tensors = [("x", x), ("weight", weight)] + ([("bias", bias)] if bias is not None else [])
    dtypes = {t.dtype for _, t in tensors}
    if len(dtypes) > 1:
        listed = ", ".join(f"{n} is {t.dtype}" for n, t in tensors)
        raise error(
            f"The tensors have different dtypes: {listed}.",
            "convert them to one dtype, usually x = x.float() (or x.to(weight.dtype)).",
        )
    if x.dtype == torch.bool:
        raise error(
            "The tensors are torch.bool: torch convolves numbers, not True/False values.",
            "convert them first: x = x.float() and weight = weight.float().",
        )
    devices = {t.device for _, t in tensors}
    if len(devices) > 1:
        listed = ", ".join(f"{n} is on {t.device}" for n, t in tensors)
        raise error(
            f"The tensors are on different devices: {listed}.",
            "move them to one device: x = x.to(device) and layer.to(device), "
            "with device = convlab.device().",
        )


def _check_padding_mode(layer: nn.Conv2d, x) -> None:
    pads = conv2d_padding(layer.padding, layer.kernel_size, layer.stride, layer.dilation)
    for (before, after), size, axis in zip(pads, x.shape[-2:], ("height", "width")):
        if layer.padding_mode == "replicate":
            continue  # repeating the edge pixel works for any amount of padding
        limit = size if layer.padding_mode == "circular" else size - 1
        if max(before, after) > limit:
            raise error(
                f"padding_mode={layer.padding_mode!r} copies pixels from the input itself, so its "
                f"padding must be at most {limit} for a {axis} of {size}; got {max(before, after)}.",
                "use less padding, a larger input, or padding_mode='zeros'.",
            )


def _owner(name: str) -> str:
    """'Its weight has' after naming a layer; 'The weight has' for a bare weight."""
    return "The weight has" if name == "the weight" else "Its weight has"


def _layer_name(layer) -> str:
    return repr(layer).split("\n")[0]


def _shape(t) -> str:
    return "(" + ", ".join(str(v) for v in t.shape) + ")"
