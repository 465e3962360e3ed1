"""Explain, before running it, why a convolution or a pooling would fail on an input.

check_conv2d(layer_or_weight, x) returns the output shape when all is well and
otherwise raises a ConvlabError in plain words: which channel count disagrees
with which, what the weight shape (out, in/groups, kH, kW) means, and the fix,
the most likely one first. The reference implementations call the same checks
first (naming the input ``input``, as torch.nn.functional does).
"""

import torch
from torch import nn

from convlab.arithmetic import (
    conv2d_output_size,
    conv2d_padding,
    conv_transpose2d_output_size,
    pool2d_output_shape,
    pool2d_window,
)
from convlab.errors import error, plural, show_shape, show_size
from convlab.validate import as_int, positive_pair, tensor_arg

# Integer dtypes torch's CPU kernels convolve only in some cases: conv2d without dilation,
# conv_transpose2d never (torch.int64 always works).
SMALL_INTEGER_DTYPES = {torch.uint8, torch.int8, torch.int16, torch.int32}


def check_conv2d(layer_or_weight, x, *, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Output shape of conv2d(x) for an nn.Conv2d or a weight tensor; ConvlabError if it would fail.

    Given a layer, its own stride, padding, dilation and groups are used and the
    keyword arguments are ignored.
    """
    if isinstance(layer_or_weight, nn.Conv2d):
        return layer_output_shape(layer_or_weight, x, x_name="x")
    weight = _weight(layer_or_weight, "check_conv2d", nn.Conv2d)
    return conv2d_shape(x, weight, bias, stride, padding, dilation, groups, x_name="x")


def check_conv_transpose2d(
    layer_or_weight, x, *, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Output shape of conv_transpose2d(x); ConvlabError if it would fail.

    A transposed convolution's weight is (in_channels, out_channels/groups, kH, kW).
    """
    if isinstance(layer_or_weight, nn.ConvTranspose2d):
        return layer_output_shape(layer_or_weight, x, x_name="x")
    weight = _weight(layer_or_weight, "check_conv_transpose2d", nn.ConvTranspose2d)
    return conv_transpose2d_shape(x, weight, bias, stride, padding, output_padding, groups, dilation, x_name="x")


def layer_output_shape(layer, x, x_name=None) -> torch.Size:
    """check_conv2d / check_conv_transpose2d for a layer, for callers that name its input
    differently (x_name; None: the input has no name the caller knows, as in summary())."""
    if isinstance(layer, nn.ConvTranspose2d):
        return conv_transpose2d_shape(
            x, layer.weight, layer.bias, layer.stride, layer.padding, layer.output_padding, layer.groups,
            layer.dilation, layer=layer, x_name=x_name,
        )  # fmt: skip
    return conv2d_shape(
        x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups,
        layer=layer, x_name=x_name,
    )  # fmt: skip


def conv2d_shape(
    x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layer=None, x_name="input"
) -> torch.Size:
    """check_conv2d with torch.nn.functional's argument order; x_name is what the caller calls x
    (None: the caller never named it, as in summary())."""
    conv = _Conv(x, weight, bias, groups, layer, x_name, transposed=False)
    if conv.layer is not None and conv.layer.padding_mode != "zeros":
        _check_padding_mode(conv.layer, conv.x)
    _check_integer_kernel(conv, "conv2d", dilation)
    _check_plane(conv)
    height, width = conv2d_output_size(tuple(conv.x.shape[-2:]), weight.shape[-2:], stride, padding, dilation)
    # torch gives a zero-channel input a zero-channel output, whatever out_channels is
    channels = 0 if conv.x.shape[-3] == 0 else weight.shape[0]
    return torch.Size([*conv.x.shape[:-3], channels, height, width])


def conv_transpose2d_shape(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *, layer=None, x_name="input"
) -> torch.Size:
    """check_conv_transpose2d with torch.nn.functional's argument order."""
    conv = _Conv(x, weight, bias, groups, layer, x_name, transposed=True)
    _check_integer_kernel(conv, "conv_transpose2d", dilation)
    _check_plane(conv)
    height, width = conv_transpose2d_output_size(
        tuple(conv.x.shape[-2:]), weight.shape[-2:], stride, padding, output_padding, dilation
    )
    return torch.Size([*conv.x.shape[:-3], weight.shape[1] * conv.groups, height, width])


def pool2d_shape(x, op: str, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, x_name="input"):
    """Output shape of max_pool2d / avg_pool2d (op) on x; ConvlabError where torch refuses.

    torch pools a batch that is empty, but never an image with no channels, rows or columns.
    """
    x = tensor_arg(x, x_name or "input", (3, 4))
    pool2d_window(kernel_size, stride, padding, dilation)  # torch checks the window first
    plane = x.shape[-3:]
    if min(plane) == 0:
        raise error(
            f"{op} got an input of shape {show_shape(x.shape)}{_named(x_name)}, with "
            f"{_empty_part(plane)}: torch pools an empty batch, but not an image with no channels, "
            "rows or columns.",
            "check the slicing or cropping that made the input; each image needs at least one "
            "channel, row and column.",
        )
    height, width = pool2d_output_shape(tuple(plane[-2:]), kernel_size, stride, padding, dilation, ceil_mode)
    return torch.Size([*x.shape[:-2], height, width])


class _Conv:
    """The checks every convolution shares: tensors, groups, weight, channels, bias, dtypes, devices."""

    def __init__(self, x, weight, bias, groups, layer, x_name, transposed):
        self.x = tensor_arg(x, x_name or "input", (3, 4))
        self.weight = weight = tensor_arg(weight, "weight", (4,))
        self.bias, self.layer = bias, layer
        self.x_name, self.transposed = x_name, transposed
        self.name = "the weight" if layer is None else f"the layer {_layer_name(layer)}"
        self.groups = _groups(groups)
        _check_weight(self)
        _check_channels(self)
        _check_bias(bias, weight.shape[1] * self.groups if transposed else weight.shape[0])
        _check_same_kind(self)


def _weight(weight, checker: str, layer_type) -> torch.Tensor:
    if isinstance(weight, nn.Module):
        raise error(
            f"{checker} takes an nn.{layer_type.__name__} or a weight tensor, got {type(weight).__name__}.",
            "pass the convolution layer itself (e.g. model.conv1) or its .weight.",
        )
    return tensor_arg(weight, "weight", (4,))


def _groups(groups) -> int:
    groups = as_int(groups, "groups")
    if groups < 1:
        negative = ", which is negative" if groups < 0 else ""
        raise error(
            f"groups must be at least 1, got {groups}{negative}.", "use groups=1 for an ordinary convolution."
        )
    return groups


def _check_weight(conv: _Conv) -> None:
    weight, groups = conv.weight, conv.groups
    role = "in_channels" if conv.transposed else "out_channels"
    if weight.shape[0] % groups:
        raise error(
            f"groups={groups} must divide the weight's {role}: the weight has shape "
            f"{show_shape(weight.shape)}, and {weight.shape[0]} is not a multiple of {groups}.",
            f"use groups that divides {weight.shape[0]}, or a weight whose first dimension "
            f"is a multiple of {groups}.",
        )
    # A convolution's weight may read 0 channels per group (torch convolves a zero-channel
    # input); every other dimension of either weight must hold something.
    sizes = list(weight.shape)
    if not conv.transposed:
        sizes.pop(1)
    if min(sizes) == 0:
        raise error(
            f"The weight has shape {show_shape(weight.shape)}: an empty dimension means no kernels or "
            "an empty kernel.",
            "give every dimension of the weight a size of at least 1"
            + ("." if conv.transposed else " (only in_channels/groups may be 0, for an input with no channels)."),
        )


def _check_channels(conv: _Conv) -> None:
    x, weight, groups = conv.x, conv.weight, conv.groups
    have = x.shape[-3]
    if conv.transposed:
        want = weight.shape[0]
        meaning = (
            f"{_owner(conv.name)} shape {show_shape(weight.shape)} = (in_channels, out_channels/groups, kH, kW): "
            f"a transposed convolution reads {plural(want, 'input channel')}"
        )
    else:
        per_kernel = weight.shape[1]
        want = per_kernel * groups
        meaning = (
            f"{_owner(conv.name)} shape {show_shape(weight.shape)} = (out_channels, in_channels/groups, kH, kW): "
            f"{weight.shape[0]} kernels, each with {plural(per_kernel, 'slice')} "
            f"of {show_size(weight.shape[2:])}, one per input channel"
        )
        if groups > 1:
            meaning += (
                f" of its group; with groups={groups} the input needs {per_kernel} × {groups} = "
                f"{plural(want, 'channel')}"
            )
    if have == want:
        return
    layout = "(batch, channels, height, width)" if x.dim() == 4 else "(channels, height, width)"
    cause = ""
    if _looks_channels_last(x, want):
        cause = (
            f" The input's last dimension is {want}, the number of channels expected: the image is most likely "
            f"stored {_channels_last_layout(x)}."
        )
    elif groups > 1 and not conv.transposed and have == weight.shape[1]:
        cause = (
            f" {have} is the number of channels in one group (in_channels/groups): in_channels counts "
            f"the channels of all {groups} groups."
        )
    raise error(
        f"Channel mismatch: the input has {plural(have, 'channel')} "
        f"({_shape_of(x, conv.x_name)}, read as {layout}), but {conv.name} expects {want}. {meaning}.{cause}",
        _channel_fix(conv, have, want),
    )


def _channel_fix(conv: _Conv, have: int, want: int) -> str:
    """The fixes for a channel mismatch, the most likely first."""
    x, x_name = conv.x, conv.x_name
    if _looks_channels_last(x, want):
        order = (2, 0, 1) if x.dim() == 3 else (0, 3, 1, 2)
        moved = show_shape([x.shape[i] for i in order])
        return (
            f"move the channels first with {_call(x_name, f'permute{order}')}, giving shape {moved}; "
            f"only if the {have} really are channels, {_change_layer(conv, have)}."
        )
    input_fix = f"give it an input with {plural(want, 'channel')}"
    if have == 1 and want > 1:
        repeat = f"repeat(1, {want}, 1, 1)" if x.dim() == 4 else f"repeat({want}, 1, 1)"
        input_fix += f" (a grey image can be repeated: {_call(x_name, repeat)})"
    if conv.groups > 1 and not conv.transposed:
        # the layer was built for grouped channels: keep it, and say first what it needs
        input_fix += f" ({conv.groups} groups of {want // conv.groups})"
    if have % conv.groups:
        return f"{input_fix}; {_change_layer(conv, have)}."
    if conv.groups > 1 and not conv.transposed:
        return f"{input_fix}, or {_change_layer(conv, have)}."
    return f"{_change_layer(conv, have)}, or {input_fix}."


def _change_layer(conv: _Conv, have: int) -> str:
    """Make the layer (or weight) read `have` channels, keeping its groups."""
    weight, groups = conv.weight, conv.groups
    kh, kw = weight.shape[-2:]
    if have % groups:
        out = weight.shape[1] * groups if conv.transposed else weight.shape[0]
        divisors = [d for d in range(1, min(have, out) + 1) if have % d == 0 and out % d == 0]
        return (
            f"groups={groups} cannot split {plural(have, 'channel')} ({have} is not a multiple of {groups}), "
            f"so a layer for this input needs groups dividing both {have} and {out}: one of {divisors}"
        )
    grouped = f", groups={groups}" if groups > 1 else ""
    if conv.transposed:
        if conv.layer is None:
            return f"make the weight {show_shape([have, *weight.shape[1:]])}"
        return f"build the layer with in_channels={have} (nn.ConvTranspose2d({have}, ...{grouped}))"
    if conv.layer is None:
        return f"make the weight {show_shape([weight.shape[0], have // groups, kh, kw])}"
    kernel = kh if kh == kw else (kh, kw)
    layer = f"nn.Conv2d({have}, {weight.shape[0]}, kernel_size={kernel}{grouped}, ...)"
    return f"build the layer with in_channels={have} ({layer})"


def _looks_channels_last(x, want: int) -> bool:
    """The last dimension holding exactly the expected channels means an image stored height-width-channels."""
    return x.shape[-1] == want != x.shape[-3]


def _channels_last_layout(x) -> str:
    return "(batch, height, width, channels)" if x.dim() == 4 else "(height, width, channels)"


def _check_bias(bias, out_channels: int) -> None:
    if bias is None:
        return
    bias = tensor_arg(bias, "bias", (1,))
    if bias.shape[0] != out_channels:
        raise error(
            f"The bias has {plural(bias.shape[0], 'value')} but the convolution has "
            f"{plural(out_channels, 'output channel')}: one bias value is added to each output channel.",
            f"give a bias of shape ({out_channels},), or bias=None.",
        )


def _check_same_kind(conv: _Conv) -> None:
    x_name = conv.x_name or "the input"
    tensors = [(x_name, conv.x), ("weight", conv.weight)]
    if conv.bias is not None:
        tensors.append(("bias", conv.bias))
    dtypes = [t.dtype for _, t in tensors]
    if len(set(dtypes)) > 1:
        listed = ", ".join(f"{n} is {t.dtype}" for n, t in tensors)
        raise error(f"The tensors have different dtypes: {listed}.", _dtype_fix(conv, tensors))
    if conv.x.dtype == torch.bool:
        raise error(
            "The tensors are torch.bool: torch convolves numbers, not True/False values.",
            f"convert them first: {_assign(conv.x_name, '.float()')} and weight = weight.float().",
        )
    devices = {t.device for _, t in tensors}
    if len(devices) > 1:
        listed = ", ".join(f"{n} is on {t.device}" for n, t in tensors)
        raise error(
            f"The tensors are on different devices: {listed}.",
            f"move them to one device: {_assign(conv.x_name, '.to(device)')} and layer.to(device), "
            "with device = convlab.device().",
        )


def _dtype_fix(conv: _Conv, tensors) -> str:
    """Convert the one tensor whose dtype differs; with no odd one out, the input to the weight's."""
    dtypes = [t.dtype for _, t in tensors]
    odd = [name for name, t in tensors if dtypes.count(t.dtype) == 1]
    weight, x = conv.weight, conv.x
    if len(tensors) == 3 and odd in (["weight"], ["bias"]):
        name = odd[0]
        target = x.dtype
        if conv.layer is not None:
            return f"the layer's {name} is the odd one: convert the layer with layer{_to(target)}."
        return f"{name} is the odd one: convert it with {name} = {name}{_to(target)}."
    if len(tensors) == 3 and len(odd) == 3:
        return (
            f"convert all three to one dtype, e.g. the weight's: {_assign(conv.x_name, _to(weight.dtype))} "
            f"and bias = bias{_to(weight.dtype)}."
        )
    # the input differs from the weight (and bias): convert it, or the weights to it
    if conv.layer is not None:
        other = f"layer{_to(x.dtype)}"
    elif len(tensors) == 3:
        other = f"weight = weight{_to(x.dtype)} and bias = bias{_to(x.dtype)}"
    else:
        other = f"weight = weight{_to(x.dtype)}"
    whose = "the layer" if conv.layer is not None else "the weight"
    return (
        f"convert the input to the weight's dtype: {_assign(conv.x_name, _to(weight.dtype))} "
        f"(or {whose} to the input's: {other})."
    )


def _to(dtype) -> str:
    """The shortest conversion call to dtype: .float(), .double(), .half(), .long(), or .to(dtype)."""
    short = {torch.float32: "float", torch.float64: "double", torch.float16: "half", torch.int64: "long"}
    return f".{short[dtype]}()" if dtype in short else f".to({dtype})"


def _check_integer_kernel(conv: _Conv, op: str, dilation) -> None:
    """torch has no CPU kernel for a dilated conv2d, or any conv_transpose2d, of 8-32 bit integers.

    An empty input never reaches a kernel, so torch (and convlab) answers it.
    """
    x = conv.x
    if x.dtype not in SMALL_INTEGER_DTYPES or x.numel() == 0:
        return
    if op == "conv2d" and not _is_dilated(dilation):
        return
    where = "a dilated conv2d" if op == "conv2d" else "conv_transpose2d"
    raise error(
        f"torch has no kernel for {where} on {x.dtype} tensors: its integer convolutions take "
        f"torch.int64{'' if op == 'conv_transpose2d' else ' (or, without dilation, any integer dtype)'}.",
        f"convert the tensors first: {_assign(conv.x_name, '.long()')} and weight = weight.long() "
        f"(or .float() for both).",
    )


def _is_dilated(dilation) -> bool:
    return positive_pair(dilation, "dilation") != (1, 1)


def _check_plane(conv: _Conv) -> None:
    """torch convolves an empty batch or zero channels, but not an image with no rows or columns."""
    x = conv.x
    empty_batch = x.dim() == 4 and x.shape[0] == 0
    if min(x.shape[-2:]) > 0 or empty_batch or x.shape[-3] == 0:
        return
    raise error(
        f"The input has {_empty_part(x.shape[-3:])} ({_shape_of(x, conv.x_name)}): torch convolves an "
        "empty batch, or an input with no channels, but not images with no rows or columns.",
        "check the slicing or cropping that made the input; each image needs at least one row and column.",
    )


def _empty_part(plane) -> str:
    """'no channels', 'height 0', 'width 0' (joined) for the empty dimensions of (C, H, W)."""
    parts = [what for what, n in zip(("no channels", "height 0", "width 0"), plane) if n == 0]
    return " and ".join(parts)


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


def _shape_of(x, x_name) -> str:
    """'x.shape = (1, 3, 8, 8)', or 'shape (1, 3, 8, 8)' for an input the caller never named."""
    return f"{x_name}.shape = {show_shape(x.shape)}" if x_name else f"shape {show_shape(x.shape)}"


def _named(x_name) -> str:
    return f" ({x_name})" if x_name and x_name != "input" else ""


def _call(x_name, method: str) -> str:
    """'x = x.permute(0, 3, 1, 2)', or '.permute(0, 3, 1, 2) on the input' when it has no name here."""
    return f"{x_name} = {x_name}.{method}" if x_name else f".{method} on the input"


def _assign(x_name, conversion: str) -> str:
    return f"{x_name} = {x_name}{conversion}" if x_name else f"the input{conversion}"


def _owner(name: str) -> str:
    """'Its weight has' after naming a layer; 'The weight has' for a bare weight."""
    return "The weight has" if name == "the weight" else "Its weight has"


def _layer_name(layer) -> str:
    return repr(layer).split("\n")[0]
