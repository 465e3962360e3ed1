"""convlab.reference at the edges, against torch itself.

Running PyTorch's own OpInfo samples (torch.testing._internal.common_methods_invocations)
through convlab.reference found no wrong float32/float64 value, but found these
edges; each table below holds them as OpInfo-style samples:

- 1-element tuples (and, for pooling, an empty stride) that torch accepts;
- empty batches and zero-channel inputs, accepted and refused exactly where torch does;
- dtypes torch has no kernel for (8-32 bit integer transposed or dilated convs);
- max_pool2d's indices where the maximum ties with the padding, in windows made only
  of padding, and with several NaNs in a window;
- float16 / bfloat16, which torch accumulates in float32.

Each accepted sample must give torch's values, shape, dtype and device; each refused
one must raise ConvlabError where torch raises.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from convlab import ConvlabError
from convlab import reference as R

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

F64, F32, F16, BF16 = torch.float64, torch.float32, torch.float16, torch.bfloat16
SMALL_INTS = (torch.int8, torch.int16, torch.int32, torch.uint8)
NAN, INF = math.nan, math.inf

TORCH = {
    "conv2d": F.conv2d,
    "conv_transpose2d": F.conv_transpose2d,
    "max_pool2d": F.max_pool2d,
    "avg_pool2d": F.avg_pool2d,
}
CONVLAB = {
    "conv2d": (R.conv2d, R.conv2d_loop),
    "conv_transpose2d": (R.conv_transpose2d, R.conv_transpose2d_loop),
    "max_pool2d": (R.max_pool2d,),
    "avg_pool2d": (R.avg_pool2d,),
}


class T(tuple):
    """The shape of a tensor argument (a plain tuple is passed on as it is, e.g. stride=(2,))."""

    def __new__(cls, *shape):
        return super().__new__(cls, shape)


def tensor(shape, dtype, seed=0):
    """Integers in [-9, 9] (0..9 unsigned); float16 / bfloat16 in [-9, 9] like OpInfo's make_tensor,
    so that sums reach the hundreds; float32 / float64 normal."""
    g = torch.Generator().manual_seed(seed)
    if dtype in (F16, BF16):
        return (torch.rand(shape, generator=g, dtype=F64) * 18 - 9).to(dtype)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g, dtype=F64).to(dtype)
    low = 0 if dtype == torch.uint8 else -9
    return torch.randint(low, 10, shape, generator=g).to(dtype)


def args_of(shapes, dtype):
    """A tensor for each T shape, then the plain arguments as they are."""
    return [tensor(s, dtype, seed) if isinstance(s, T) else s for seed, s in enumerate(shapes)]


def sample(op, *shapes, dtypes=(F64, F32), id, **kwargs):
    return [
        pytest.param(op, shapes, kwargs, dtype, id=f"{op} {id} {str(dtype).removeprefix('torch.')}")
        for dtype in dtypes
    ]


def same(got, want):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
        return
    torch.testing.assert_close(got, want, equal_nan=True)  # also dtype and device
    assert got.shape == want.shape


# ---------------------------------------------------------------- accepted, as torch accepts them

ONE_ELEMENT_TUPLES = [
    *sample("conv2d", T(1, 3, 6, 6), T(4, 3, 3, 3), T(4), id="stride (2,)", stride=(2,)),
    *sample("conv2d", T(1, 3, 6, 6), T(4, 3, 3, 3), None, id="padding (1,) dilation (2,)", padding=(1,), dilation=(2,)),
    *sample("conv2d", T(2, 4, 6, 6), T(4, 2, 3, 3), None, id="all (1,)", stride=(1,), padding=(1,), dilation=(1,),
            groups=2),
    *sample("conv_transpose2d", T(1, 3, 4, 4), T(3, 2, 3, 3), T(2), id="(2,) (1,) (1,) (1,)",
            stride=(2,), padding=(1,), output_padding=(1,), dilation=(1,)),
    *sample("avg_pool2d", T(1, 2, 6, 6), 3, 1, (1,), id="padding (1,)"),
    *sample("avg_pool2d", T(1, 2, 6, 6), (3,), (1,), (1,), id="kernel stride padding (3,) (1,) (1,)"),
    *sample("avg_pool2d", T(1, 1, 4, 4), (2, 2), (), (0,), False, True, -2, id="opinfo: stride () divisor -2"),
    *sample("avg_pool2d", T(2, 3, 9, 9), (3, 3), (1, 1), (1,), True, False, 2, id="opinfo: padding (1,) ceil"),
    *sample("avg_pool2d", T(1, 2, 6, 6), (4, 4), (2, 2), (2,), True, True, None, id="opinfo: padding (2,)"),
    *sample("max_pool2d", T(1, 2, 7, 7), (3,), (1,), (1,), (2,), id="(3,) (1,) (1,) (2,)"),
    *sample("max_pool2d", T(1, 2, 7, 7), 3, (), id="stride ()", return_indices=True),
    *sample("max_pool2d", T(1, 2, 7, 7), 3, [2], id="stride [2]", return_indices=True),
]  # fmt: skip

EMPTY_AND_ZERO_CHANNELS = [
    *sample("conv2d", T(0, 3, 6, 6), T(4, 3, 3, 3), T(4), id="empty batch"),
    *sample("conv2d", T(0, 3, 6, 6), T(4, 3, 3, 3), None, id="empty batch stride padding", stride=2, padding=1),
    *sample("conv2d", T(0, 3, 0, 6), T(4, 3, 1, 1), None, id="empty batch no rows, padding", padding=1),
    *sample("conv2d", T(1, 0, 6, 6), T(4, 0, 3, 3), None, id="zero channels"),
    *sample("conv2d", T(2, 0, 6, 6), T(4, 0, 3, 3), T(4), id="zero channels bias stride", stride=2, padding=1),
    *sample("conv2d", T(1, 0, 6, 6), T(4, 0, 3, 3), None, id="zero channels groups 2", groups=2),
    *sample("conv2d", T(1, 0, 5, 6), T(4, 0, 2, 3), None, id="zero channels same", padding="same"),
    *sample("conv2d", T(0, 6, 6), T(4, 0, 3, 3), None, id="zero channels unbatched"),
    *sample("conv2d", T(0, 0, 6, 6), T(4, 0, 3, 3), None, id="empty batch zero channels"),
    *sample("conv_transpose2d", T(0, 3, 4, 4), T(3, 2, 3, 3), T(2), id="empty batch", stride=2),
    *sample("max_pool2d", T(0, 3, 6, 6), 2, id="empty batch", return_indices=True),
    *sample("avg_pool2d", T(0, 3, 6, 6), 3, 2, 1, id="empty batch"),
]  # fmt: skip

INTEGERS = [
    *sample("conv2d", T(1, 3, 6, 6), T(4, 3, 3, 3), T(4), id="undilated", dtypes=SMALL_INTS + (torch.int64,)),
    *sample("conv2d", T(2, 4, 6, 6), T(4, 2, 3, 3), None, id="grouped strided padded", dtypes=SMALL_INTS,
            groups=2, stride=2, padding=1),
    *sample("conv2d", T(1, 3, 8, 8), T(4, 3, 3, 3), None, id="dilated", dtypes=(torch.int64,), dilation=2),
    *sample("conv2d", T(0, 3, 8, 8), T(4, 3, 3, 3), None, id="dilated empty batch", dtypes=SMALL_INTS, dilation=2),
    *sample("conv_transpose2d", T(1, 3, 4, 4), T(3, 2, 3, 3), T(2), id="int64", dtypes=(torch.int64,), stride=2),
    *sample("conv_transpose2d", T(0, 3, 4, 4), T(3, 2, 3, 3), None, id="empty batch", dtypes=SMALL_INTS),
    *sample("max_pool2d", T(1, 2, 6, 6), 3, 2, 1, id="padded", dtypes=SMALL_INTS, return_indices=True),
]  # fmt: skip

LOW_PRECISION = [
    # OpInfo's conv2d samples, in float16 and bfloat16: values in [-9, 9], sums in the hundreds
    *sample("conv2d", T(1, 3, 4, 4), T(3, 3, 3, 3), T(3), id="opinfo 1", dtypes=(F16, BF16), stride=(2, 2), padding=2),
    *sample("conv2d", T(2, 4, 8, 8), T(2, 2, 3, 3), T(2), id="opinfo 2", dtypes=(F16, BF16), stride=(3, 2),
            padding=(2, 1), groups=2, dilation=(4, 4)),
    *sample("conv2d", T(1, 4, 5, 5), T(1, 4, 2, 3), T(1), id="opinfo same", dtypes=(F16, BF16), padding="same",
            dilation=3),
    *sample("conv2d", T(2, 4, 6, 6), T(8, 1, 3, 3), T(8), id="opinfo depthwise", dtypes=(F16, BF16), groups=4),
    *sample("conv2d", T(1, 16, 8, 8), T(8, 16, 3, 3), T(8), id="16 channels", dtypes=(F16, BF16), padding=1),
    *sample("avg_pool2d", T(1, 3, 9, 9), 3, 1, 1, True, False, 2, id="opinfo divisor", dtypes=(F16, BF16)),
    *sample("avg_pool2d", T(2, 3, 9, 9), 3, 2, 1, id="padded", dtypes=(F16, BF16)),
    *sample("max_pool2d", T(1, 2, 6, 6), 3, 2, 1, id="padded", dtypes=(F16, BF16), return_indices=True),
]  # fmt: skip

ACCEPTED = ONE_ELEMENT_TUPLES + EMPTY_AND_ZERO_CHANNELS + INTEGERS + LOW_PRECISION


@pytest.mark.parametrize("op, shapes, kwargs, dtype", ACCEPTED)
def test_edge_samples_match_torch(op, shapes, kwargs, dtype):
    args = args_of(shapes, dtype)
    want = TORCH[op](*args, **kwargs)
    for reference in CONVLAB[op]:
        same(reference(*args, **kwargs), want)


# ---------------------------------------------------------------- refused, as torch refuses them

REFUSED = [
    # dtypes torch has no CPU kernel for
    *sample("conv_transpose2d", T(1, 3, 4, 4), T(3, 2, 3, 3), T(2), id="small ints", dtypes=SMALL_INTS,
            expect="no kernel for conv_transpose2d"),
    *sample("conv_transpose2d", T(1, 3, 4, 4), T(3, 2, 3, 3), None, id="small ints strided", dtypes=SMALL_INTS,
            expect="no kernel for conv_transpose2d", stride=2, padding=1, output_padding=1),
    *sample("conv2d", T(1, 3, 8, 8), T(4, 3, 3, 3), None, id="small ints dilated", dtypes=SMALL_INTS,
            expect="no kernel for a dilated conv2d", dilation=2),
    *sample("avg_pool2d", T(1, 3, 4, 4), 2, id="small ints", dtypes=SMALL_INTS, expect="avg_pool2d takes"),
    # empty images: torch convolves an empty batch or no channels, never no rows or columns
    *sample("conv2d", T(1, 3, 0, 6), T(4, 3, 1, 1), None, id="no rows", expect="The input has height 0", padding=1),
    *sample("conv2d", T(1, 0, 10), T(4, 1, 1, 1), None, id="(1, 0, 10)", expect="The input has height 0"),
    *sample("conv2d", T(2, 3, 6, 0), T(4, 3, 1, 1), None, id="no columns", expect="width 0", padding=1),
    *sample("conv_transpose2d", T(1, 3, 0, 6), T(3, 2, 3, 3), None, id="no rows", expect="height 0"),
    *sample("conv2d", T(1, 3, 6, 6), T(0, 3, 3, 3), None, id="no kernels", expect="weight has shape (0, 3, 3, 3)"),
    *sample("conv2d", T(1, 3, 6, 6), T(0, 3, 3, 3), T(0), id="no kernels bias", expect="weight has shape (0, 3"),
    *sample("conv2d", T(1, 0, 6, 6), T(0, 0, 3, 3), None, id="zero channels no kernels", expect="weight has shape"),
    *sample("conv2d", T(1, 2, 6, 6), T(4, 0, 3, 3), None, id="kernels of no channels", expect="the input has 2"),
    *sample("conv2d", T(1, 0, 6, 6), T(4, 1, 3, 3), None, id="zero channels, kernels of one", expect="has 0 channels"),
    *sample("conv2d", T(1, 0, 2, 2), T(4, 0, 3, 3), None, id="zero channels kernel too big", expect="does not fit"),
    *sample("conv2d", T(1, 0, 6, 6), T(4, 0, 3, 3), T(3), id="zero channels wrong bias", expect="bias has 3 values"),
    *sample("conv_transpose2d", T(1, 0, 6, 6), T(0, 2, 3, 3), None, id="zero channels", expect="weight has shape (0"),
    *sample("conv_transpose2d", T(1, 3, 6, 6), T(3, 0, 3, 3), None, id="no outputs", expect="weight has shape (3, 0"),
    *sample("max_pool2d", T(1, 0, 6, 6), 2, id="zero channels", expect="with no channels"),
    *sample("max_pool2d", T(0, 6, 6), 2, id="zero channels unbatched", expect="with no channels"),
    *sample("max_pool2d", T(0, 0, 6, 6), 2, id="empty batch zero channels", expect="with no channels"),
    *sample("avg_pool2d", T(1, 0, 6, 6), 2, id="zero channels", expect="with no channels"),
    *sample("avg_pool2d", T(1, 0, 10), 1, id="(1, 0, 10)", expect="with height 0"),
    *sample("max_pool2d", T(1, 1, 0, 6), 1, id="no rows", expect="with height 0"),
    # numbers torch refuses, in 1-element tuples (OpInfo's error inputs) and otherwise
    *sample("conv2d", T(1, 1, 4, 4), T(1, 1, 2, 3), T(1), id="stride (-1,)",
            expect="stride=(-1, -1), which is negative", stride=(-1,)),
    *sample("conv2d", T(1, 1, 4, 3), T(1, 1, 2, 2), T(1), id="padding (-1,)", expect="padding=(-1, -1), which is neg",
            padding=(-1,)),
    *sample("conv2d", T(1, 1, 4, 2), T(1, 1, 2, 1), T(1), id="dilation (-1,)",
            expect="dilation must be at least 1 in each dimension, got dilation=(-1, -1), which is negative",
            dilation=(-1,)),
    *sample("conv2d", T(1, 1, 4, 4), T(1, 1, 2, 2), None, id="dilation 0", expect="got dilation=(0, 0).", dilation=0),
    *sample("conv2d", T(2, 2, 4, 5), T(2, 2, 1, 4), T(2), id="groups -1", expect="groups must be at least 1, got -1",
            padding="same", groups=-1),
    *sample("conv2d", T(1, 2, 6, 6), T(4, 2, 3, 3), None, id="stride ()", expect="got () with 0 entries", stride=()),
    *sample("conv2d", T(1, 2, 6, 6), T(4, 2, 3, 3), None, id="stride 3 entries", expect="with 3 entries",
            stride=(1, 1, 1)),
    *sample("max_pool2d", T(1, 2, 6, 6), (), id="kernel ()", expect="kernel_size must be an int or an (h, w) pair"),
    *sample("max_pool2d", T(1, 2, 6, 6), 3, 1, (), id="padding ()", expect="padding must be an int or an (h, w)"),
    *sample("avg_pool2d", T(0, 1, 49), 2, 50, -1, id="opinfo: negative padding", expect="which is negative"),
    *sample("avg_pool2d", T(0, 1, 49), (3, 2), 50, 4, id="opinfo: padding over half", expect="at most half the kernel"),
    *sample("avg_pool2d", T(3, 3, 3), (2, 2), id="opinfo: divisor 0", expect="divisor_override must not be 0",
            divisor_override=0),
]  # fmt: skip


@pytest.mark.parametrize("op, shapes, kwargs, dtype", REFUSED)
def test_edge_samples_refused_like_torch(op, shapes, kwargs, dtype):
    kwargs = dict(kwargs)
    expect = kwargs.pop("expect")
    args = args_of(shapes, dtype)
    with pytest.raises((RuntimeError, ValueError, NotImplementedError)):
        TORCH[op](*args, **kwargs)
    for reference in CONVLAB[op]:
        with pytest.raises(ConvlabError) as refused:
            reference(*args, **kwargs)
        assert expect in str(refused.value)
        assert "input_hw" not in str(refused.value)  # a name the caller never used


# ---------------------------------------------------------------- max_pool2d: which index torch picks


def plane(rows, dtype):
    """One (1, 1, H, W) image from nested lists; 'min' is the dtype's lowest value."""
    lowest = -INF if dtype.is_floating_point else torch.iinfo(dtype).min
    values = [[lowest if v == "min" else v for v in row] for row in rows]
    return torch.tensor(values, dtype=F64 if dtype.is_floating_point else torch.int64).to(dtype)[None, None]


FLOATS = (F64, F32, F16, BF16)
INTS = (torch.int64, *SMALL_INTS)

MAX_INDEX_SAMPLES = [
    # (id, rows, (kernel_size, stride, padding, dilation, ceil_mode), dtypes)
    ("two NaNs: the last wins", [[1, NAN], [NAN, 2]], (2, 2, 0, 1, False), FLOATS),
    ("two NaNs, the second last", [[NAN, 1], [3, NAN]], (2, 2, 0, 1, False), FLOATS),
    ("NaN then larger values", [[NAN, 5, 7], [1, 9, 2], [3, 4, 8]], (3, 1, 1, 1, False), FLOATS),
    ("NaNs in overlapping windows", [[NAN, 0, NAN], [0, NAN, 0], [NAN, 0, 1]], (2, 1, 1, 1, True), FLOATS),
    ("all -inf: ties with the padding", [["min", "min"], ["min", "min"]], (3, 1, 1, 1, False), FLOATS + INTS),
    ("-inf and a number", [[5, "min"], ["min", "min"]], (3, 1, 1, 1, False), FLOATS + INTS),
    ("lowest after a value", [[0, "min"], ["min", 0]], (3, 1, 1, 1, False), FLOATS + INTS),
    ("ties: the first wins", [[2, 2, 2], [2, 2, 2], [2, 2, 2]], (2, 1, 1, 1, False), FLOATS + INTS),
    ("windows made only of padding", [[7, 7, 7]], (2, 1, 1, 2, False), FLOATS + INTS),
    ("windows of padding, dilated", [[1, 2, 3], [4, 5, 6], [7, 8, 9]], (2, 1, 1, 3, False), FLOATS + INTS),
    ("ceil window in the overhang", [[1, 2], [3, 4], [5, 6]], (2, 2, 1, 2, True), FLOATS + INTS),
    ("-inf everywhere, dilated", [["min"] * 4] * 4, (3, 2, 1, 2, True), FLOATS),
    ("inf and NaN", [[INF, NAN], [INF, 1]], (2, 1, 1, 1, False), FLOATS),
    ("-0.0 and 0.0", [[-0.0, 0.0], [0.0, -0.0]], (2, 1, 1, 1, False), FLOATS),
]


def max_index_cases():
    for id_, rows, geometry, dtypes in MAX_INDEX_SAMPLES:
        for dtype in dtypes:
            if dtype == torch.uint8 and any(isinstance(v, str) for row in rows for v in row):
                continue  # uint8's lowest is 0: the 'min' cases are the 0 cases
            yield pytest.param(rows, geometry, dtype, id=f"{id_} {str(dtype).removeprefix('torch.')}")


@pytest.mark.parametrize("rows, geometry, dtype", list(max_index_cases()))
def test_max_pool2d_picks_torch_index(rows, geometry, dtype):
    x = plane(rows, dtype)
    for image in (x, x[0]):  # batched and unbatched
        want = F.max_pool2d(image, *geometry, return_indices=True)
        same(R.max_pool2d(image, *geometry, return_indices=True), want)


# ---------------------------------------------------------------- float16: sums that overflow


def test_float16_avg_pool2d_sums_in_float32():
    """Nine values near float16's largest (65504) overflow a float16 sum; torch sums in float32."""
    x = torch.full((1, 1, 6, 6), 6e4, dtype=F16)
    want = F.avg_pool2d(x, 3)
    assert torch.isfinite(want).all()
    same(R.avg_pool2d(x, 3), want)
    same(R.avg_pool2d(x, 3, 1, 1, count_include_pad=False), F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))


def test_float16_conv2d_sums_in_float32():
    """A dot product whose partial sums leave float16's range but whose result does not."""
    x = torch.tensor([6e4, 6e4, -6e4, -6e4], dtype=F16).view(1, 4, 1, 1)
    w = torch.ones(1, 4, 1, 1, dtype=F16)
    want = F.conv2d(x, w)
    assert want.item() == 0
    for conv in (R.conv2d, R.conv2d_loop):
        same(conv(x, w), want)
    # a transposed conv sums its input channels in one matrix product, in float32 too
    wt = torch.ones(4, 1, 1, 1, dtype=F16)
    same(R.conv_transpose2d(x, wt), F.conv_transpose2d(x, wt))


@pytest.mark.parametrize("dtype", [F16, BF16])
@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs",
    [
        ((1, 3, 4, 4), (3, 3, 3, 3), dict(stride=2, padding=2, output_padding=1)),
        ((2, 2, 4, 4), (2, 2, 4, 5), dict(stride=(3, 2), padding=(1, 2), output_padding=(2, 3), groups=2, dilation=4)),
        ((1, 2, 5, 5), (2, 4, 3, 3), {}),
        ((2, 16, 8, 8), (16, 8, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ],
)
def test_low_precision_conv_transpose2d(dtype, x_shape, w_shape, kwargs):
    """convlab sums a transposed conv in float32 and rounds once, as torch's float32-accumulating
    kernels (oneDNN, cuDNN) do. torch's slower CPU path (taken for float16 on most CPUs, and
    for bfloat16 where oneDNN is not used) adds each kernel tap's share in the low precision
    itself (col2im), so it may differ from convlab by the rounding of those partial sums."""
    x, w = tensor(x_shape, dtype, 0), tensor(w_shape, dtype, 1)
    b = tensor((w_shape[1] * kwargs.get("groups", 1),), dtype, 2)
    exact = F.conv_transpose2d(x.double(), w.double(), b.double(), **kwargs)
    want = exact.to(dtype)
    torch_said = F.conv_transpose2d(x, w, b, **kwargs)
    taps = math.prod(w_shape[-2:])
    ulp = torch.finfo(dtype).eps * exact.abs().max().item()
    for conv_t in (R.conv_transpose2d, R.conv_transpose2d_loop):
        got = conv_t(x, w, b, **kwargs)
        assert got.dtype == dtype and got.shape == torch_said.shape
        same(got, want)  # one rounding of the float32 sum: as close as the dtype allows
        assert (got.double() - torch_said.double()).abs().max() <= taps * ulp
