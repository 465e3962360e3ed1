"""Convolution and pooling written out, to read and to check torch against.

Each function takes torch.nn.functional's arguments and returns its result, for
batched (N, C, H, W) and unbatched (C, H, W) inputs, on the input's device.
Two versions of each convolution:

- ``conv2d`` / ``conv_transpose2d``: im2col and one matrix multiply per group,
  the algorithm fast libraries use (fast enough for real work);
- ``conv2d_loop`` / ``conv_transpose2d_loop``: a plain loop over output (or
  input) pixels, the definition as a reader would write it (slow: tiny inputs only).

They accept and refuse what torch does: 1-element tuples for sizes, empty batches,
zero-channel inputs to conv2d (torch answers with zero output channels), and only
the integer dtypes torch has CPU kernels for. float16 and bfloat16 are summed in
float32 and rounded once, as torch's float32-accumulating kernels do.
"""

import torch
import torch.nn.functional as F

from convlab.arithmetic import conv2d_padding
from convlab.checks import conv2d_shape, conv_transpose2d_shape, pool2d_shape
from convlab.errors import error
from convlab.validate import as_int, nonnegative_pair, pool_stride, positive_pair

INTEGER_DTYPES = {torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64}
# torch accumulates these in float32 and rounds the result once; so does convlab.
LOW_PRECISION = {torch.float16, torch.bfloat16}


def im2col(x, kernel_size, stride=1, dilation=1) -> torch.Tensor:
    """Every kernel-sized patch of an (already padded) x as a row.

    x: (N, C, H, W). Returns (N, out_h * out_w, C * kH * kW): row r holds the
    input values that output pixel r sees, in the weight's (C, kH, kW) order.
    """
    patches = _patches(x, kernel_size, stride, dilation)  # N, C, oh, ow, kh, kw
    n, c, oh, ow, kh, kw = patches.shape
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(n, oh * ow, c * kh * kw)


def _patches(x, kernel_size, stride, dilation) -> torch.Tensor:
    """A view (N, C, out_h, out_w, kH, kW) of the windows of x; no copy is made."""
    (kh, kw), (sh, sw) = positive_pair(kernel_size, "kernel_size"), positive_pair(stride, "stride")
    dh, dw = positive_pair(dilation, "dilation")
    windows = x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)
    return windows[..., ::dh, ::dw]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> torch.Tensor:
    """F.conv2d by im2col: per image, each group's kernels times its column matrix.

    The columns hold, for every output pixel, the C/G·kH·kW input values it sees:
    kH·kW times the input's size. Building them one image at a time (as Caffe
    did) keeps that copy small enough to stay in memory the allocator reuses.
    """
    out_shape = conv2d_shape(input, weight, bias, stride, padding, dilation, groups)
    if out_shape.numel() == 0:  # an empty batch, or no input channels (torch then gives no output channels)
        return input.new_zeros(out_shape)
    (x, weight, bias), dtype = _accumulating(_batched(input), weight, bias)
    x = _padded(x, padding, weight, stride, dilation)
    g = groups
    c_out, c_per_group, kh, kw = weight.shape
    out_h, out_w = out_shape[-2:]
    kernels = weight.reshape(g, c_out // g, c_per_group * kh * kw)  # G, out/G, C/G·kH·kW
    windows = _patches(x, (kh, kw), stride, dilation)  # N, C, out_h, out_w, kH, kW (a view)
    results = []
    for image in windows:
        # im2col: one column per output pixel, one row per (channel, tap), grouped.
        columns = image.permute(0, 3, 4, 1, 2).reshape(g, c_per_group * kh * kw, out_h * out_w)
        results.append(torch.matmul(kernels, columns))  # G, out/G, out_h·out_w
    out = torch.stack(results).view(x.shape[0], c_out, out_h, out_w)
    return _unbatched_like(input, _add_bias(out, bias).to(dtype))


def conv2d_loop(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> torch.Tensor:
    """F.conv2d by its definition: for each output pixel, sum window * kernel. Slow."""
    out_shape = conv2d_shape(input, weight, bias, stride, padding, dilation, groups)
    if out_shape.numel() == 0:
        return input.new_zeros(out_shape)
    (x, weight, bias), dtype = _accumulating(_batched(input), weight, bias)
    x = _padded(x, padding, weight, stride, dilation)
    (sh, sw), (dh, dw) = positive_pair(stride, "stride"), positive_pair(dilation, "dilation")
    c_out, c_per_group, kh, kw = weight.shape
    out_h, out_w = out_shape[-2:]
    out = x.new_zeros(x.shape[0], c_out, out_h, out_w)
    for o in range(c_out):
        group = o // (c_out // groups)
        channels = x[:, group * c_per_group : (group + 1) * c_per_group]
        for i in range(out_h):
            for j in range(out_w):
                window = channels[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                                  j * sw : j * sw + dw * (kw - 1) + 1 : dw]
                out[:, o, i, j] = (window * weight[o]).sum(dim=(1, 2, 3))
    return _unbatched_like(input, _add_bias(out, bias).to(dtype))


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
) -> torch.Tensor:
    """F.conv_transpose2d: every input pixel stamps its kernel, scaled, onto the output.

    Computed tap by tap: for kernel position (a, b), all input pixels at once add
    their contribution to a strided slice of the output (col2im).

    float16 / bfloat16 are summed in float32 and rounded once, as oneDNN and cuDNN do;
    torch's slower CPU path (col2im in the low precision itself, which it takes for
    float16 on most CPUs) rounds each tap's partial sum, so it can differ by that rounding.
    """
    out_shape = conv_transpose2d_shape(input, weight, bias, stride, padding, output_padding, groups, dilation)
    if out_shape.numel() == 0:
        return input.new_zeros(out_shape)
    (x, weight, bias), dtype = _accumulating(_batched(input), weight, bias)
    n, c_in, h, w = x.shape
    (sh, sw), (dh, dw) = positive_pair(stride, "stride"), positive_pair(dilation, "dilation")
    ph, pw = nonnegative_pair(padding, "padding")
    _, c_per_group, kh, kw = weight.shape
    g = groups
    # contributions[n, g, o, a, b, y, x] = sum_c x[n, g, c, y, x] * weight[g, c, o, a, b]
    contributions = torch.einsum(
        "ngchw,gcoab->ngoabhw",
        x.reshape(n, g, c_in // g, h, w),
        weight.reshape(g, c_in // g, c_per_group, kh, kw),
    )
    extra_h, extra_w = nonnegative_pair(output_padding, "output_padding")
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + extra_h  # output_padding adds rows at the bottom
    full_w = (w - 1) * sw + dw * (kw - 1) + 1 + extra_w
    full = x.new_zeros(n, g, c_per_group, full_h, full_w)
    for a in range(kh):
        for b in range(kw):
            full[..., a * dh : a * dh + (h - 1) * sh + 1 : sh,
                 b * dw : b * dw + (w - 1) * sw + 1 : sw] += contributions[:, :, :, a, b]
    out = full[..., ph : ph + out_shape[-2], pw : pw + out_shape[-1]]
    out = out.reshape(n, g * c_per_group, *out_shape[-2:])
    return _unbatched_like(input, _add_bias(out, bias).to(dtype))


def conv_transpose2d_loop(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
) -> torch.Tensor:
    """F.conv_transpose2d by its definition: loop over input pixels, add value * kernel. Slow."""
    out_shape = conv_transpose2d_shape(input, weight, bias, stride, padding, output_padding, groups, dilation)
    if out_shape.numel() == 0:
        return input.new_zeros(out_shape)
    (x, weight, bias), dtype = _accumulating(_batched(input), weight, bias)
    n, c_in, h, w = x.shape
    (sh, sw), (dh, dw) = positive_pair(stride, "stride"), positive_pair(dilation, "dilation")
    ph, pw = nonnegative_pair(padding, "padding")
    _, c_per_group, kh, kw = weight.shape
    out_h, out_w = out_shape[-2:]
    full = x.new_zeros(n, c_per_group * groups, out_h + 2 * ph + kh * dh, out_w + 2 * pw + kw * dw)
    per_group_in = c_in // groups
    for c in range(c_in):
        group = c // per_group_in
        outs = slice(group * c_per_group, (group + 1) * c_per_group)
        for i in range(h):
            for j in range(w):
                stamp = x[:, c, i, j, None, None, None] * weight[c]  # N, out/G, kh, kw
                full[:, outs, i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                     j * sw : j * sw + dw * (kw - 1) + 1 : dw] += stamp
    out = full[..., ph : ph + out_h, pw : pw + out_w]
    return _unbatched_like(input, _add_bias(out, bias).to(dtype))


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """F.max_pool2d: the largest value of each window; padding never wins (it is -inf).

    The index is where torch's loop over the window's pixels inside the input ends:
    the first largest value (a later equal one does not replace it), the last NaN
    (every NaN does), and where nothing beats -inf (or the dtype's lowest value),
    the window's first pixel inside the input, or the place it would be.
    """
    x, (out_h, out_w), pads = _pool_setup(input, "max_pool2d", kernel_size, stride, padding, dilation, ceil_mode)
    _check_pool_dtype(x, "max_pool2d", INTEGER_DTYPES)
    lowest = -torch.inf if x.is_floating_point() else torch.iinfo(x.dtype).min
    padded = F.pad(x, pads, value=lowest) if x.is_floating_point() else _pad_int(x, pads, lowest)
    windows = _patches(padded, kernel_size, pool_stride(stride, kernel_size), dilation)[:, :, :out_h, :out_w]
    windows = windows.flatten(-2)  # N, C, out_h, out_w, kH·kW
    values = windows.amax(dim=-1)  # a NaN anywhere in the window makes it NaN, as in torch
    if not return_indices:
        return _unbatched_like(input, values)
    geometry = (kernel_size, stride, padding, dilation, out_h, out_w)
    indices = _max_indices(x, windows, values, lowest, geometry)
    return _unbatched_like(input, values), _unbatched_like(input, indices)


def _max_indices(x, windows, values, lowest, geometry) -> torch.Tensor:
    """Positions in the unpadded H×W plane of each window's maximum, chosen as torch's loop chooses."""
    kernel_size, stride, padding, dilation, out_h, out_w = geometry
    h, w = x.shape[-2:]
    (kh, kw), (sh, sw) = positive_pair(kernel_size, "kernel_size"), pool_stride(stride, kernel_size)
    (ph, pw), (dh, dw) = nonnegative_pair(padding, "padding"), positive_pair(dilation, "dilation")
    device = x.device
    # the input row (column) of every tap of every window; taps outside 0..h-1 are padding
    rows = (torch.arange(out_h, device=device) * sh - ph)[:, None] + torch.arange(kh, device=device) * dh
    cols = (torch.arange(out_w, device=device) * sw - pw)[:, None] + torch.arange(kw, device=device) * dw
    inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[None, :, None, :]
    inside = inside.flatten(-2)  # out_h, out_w, kH·kW
    place = (rows[:, None, :, None] * w + cols[None, :, None, :]).flatten(-2)
    taps = torch.arange(windows.shape[-1], device=device)
    none = windows.shape[-1]
    if x.is_floating_point():
        last_nan = torch.where(windows.isnan() & inside, taps, -1).amax(dim=-1)
    else:
        last_nan = torch.full(values.shape, -1, device=device)
    beats_lowest = (windows == values[..., None]) & (values > lowest)[..., None] & inside
    first_max = torch.where(beats_lowest, taps, none).amin(dim=-1)
    tap = torch.where(last_nan >= 0, last_nan, first_max)
    found = place.expand(*windows.shape).gather(-1, tap.clamp(max=none - 1)[..., None]).squeeze(-1)
    # with nothing above the dtype's lowest value, torch keeps the window's first tap at row >= 0
    # and column >= 0, even where that tap is past the bottom or right edge (a window of padding)
    first_row = rows[:, 0] + (-rows[:, 0]).clamp(min=0).add(dh - 1).div(dh, rounding_mode="floor") * dh
    first_col = cols[:, 0] + (-cols[:, 0]).clamp(min=0).add(dw - 1).div(dw, rounding_mode="floor") * dw
    start = first_row[:, None] * w + first_col[None, :]
    return torch.where(tap < none, found, start).long()


def avg_pool2d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
    divisor_override=None,
) -> torch.Tensor:
    """F.avg_pool2d: the mean of each window.

    The divisor counts the window's cells inside the input, plus its cells in the
    zero padding when count_include_pad; never the part ceil_mode hangs past the padding.
    Integer inputs give integer means rounded towards zero, as torch's do on the CPU;
    float16 and bfloat16 windows are summed in float32, as torch sums them.
    """
    x, (out_h, out_w), pads = _pool_setup(input, "avg_pool2d", kernel_size, stride, padding, 1, ceil_mode)
    _check_pool_dtype(x, "avg_pool2d", {torch.int64})
    stride = pool_stride(stride, kernel_size)
    (x,), dtype = _accumulating(x)
    sums = _window_sums(F.pad(x, pads), kernel_size, stride, out_h, out_w)
    if divisor_override is not None:
        divisor = as_int(divisor_override, "divisor_override")
        if divisor == 0:
            raise error("divisor_override must not be 0.", "leave it None or give a positive number.")
    else:
        ph, pw = nonnegative_pair(padding, "padding")
        h, w = x.shape[-2:]
        counted = x.new_ones(1, 1, h + 2 * ph, w + 2 * pw) if count_include_pad else x.new_ones(1, 1, h, w)
        inner = (0, 0, 0, 0) if count_include_pad else (pw, pw, ph, ph)
        counted = F.pad(F.pad(counted, inner), _extra_only(pads, pw, ph))
        divisor = _window_sums(counted, kernel_size, stride, out_h, out_w)
    if x.is_floating_point():
        return _unbatched_like(input, (sums / divisor).to(dtype))
    # torch averages integer tensors in integer arithmetic, rounding towards zero.
    return _unbatched_like(input, torch.div(sums, divisor, rounding_mode="trunc"))


def _check_pool_dtype(x, op: str, integers) -> None:
    """Floating-point inputs, and the integer dtypes torch's CPU kernel takes for op."""
    if x.is_floating_point() or x.dtype in integers:
        return
    allowed = ", ".join(sorted(str(d) for d in integers))
    raise error(
        f"{op} takes floating-point tensors or {allowed}, got {x.dtype}.",
        "convert first: x = x.float().",
    )


def _window_sums(x, kernel_size, stride, out_h, out_w):
    return _patches(x, kernel_size, stride, 1)[:, :, :out_h, :out_w].sum(dim=(-2, -1))


def _extra_only(pads, pw, ph):
    """The ceil_mode overhang alone: pads minus the symmetric padding."""
    left, right, top, bottom = pads
    return (0, right - pw, 0, bottom - ph)


def _pool_setup(input, op, kernel_size, stride, padding, dilation, ceil_mode):
    """Check the arguments; return the batched input, output size and F.pad padding.

    The right and bottom padding is widened so that every window ceil_mode keeps fits.
    """
    out_h, out_w = pool2d_shape(input, op, kernel_size, stride, padding, dilation, ceil_mode)[-2:]
    x = _batched(input)
    (kh, kw), (dh, dw) = positive_pair(kernel_size, "kernel_size"), positive_pair(dilation, "dilation")
    sh, sw = pool_stride(stride, kernel_size)
    ph, pw = nonnegative_pair(padding, "padding")
    h, w = x.shape[-2:]
    need_h = (out_h - 1) * sh + dh * (kh - 1) + 1
    need_w = (out_w - 1) * sw + dw * (kw - 1) + 1
    bottom = max(ph, need_h - h - ph)
    right = max(pw, need_w - w - pw)
    return x, (out_h, out_w), (pw, right, ph, bottom)


def _pad_int(x, pads, value):
    left, right, top, bottom = pads
    out = x.new_full((*x.shape[:-2], x.shape[-2] + top + bottom, x.shape[-1] + left + right), value)
    out[..., top : top + x.shape[-2], left : left + x.shape[-1]] = x
    return out


def _padded(x, padding, weight, stride, dilation):
    (top, bottom), (left, right) = conv2d_padding(padding, weight.shape[-2:], stride, dilation)
    if top == bottom == left == right == 0:
        return x
    if x.is_floating_point():
        return F.pad(x, (left, right, top, bottom))
    return _pad_int(x, (left, right, top, bottom), 0)


def _accumulating(*tensors):
    """The tensors in the dtype torch accumulates them in (float32 for float16 and bfloat16),
    and the dtype to round the result back to. None stays None."""
    dtype = tensors[0].dtype
    if dtype not in LOW_PRECISION:
        return tensors, dtype
    return tuple(None if t is None else t.float() for t in tensors), dtype


def _batched(x):
    return x.unsqueeze(0) if x.dim() == 3 else x


def _unbatched_like(input, out):
    return out.squeeze(0) if input.dim() == 3 else out


def _add_bias(out, bias):
    return out if bias is None else out + bias.view(1, -1, 1, 1)
