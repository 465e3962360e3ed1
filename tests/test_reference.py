"""convlab.reference against torch.nn.functional.

Each reference function takes F's arguments and must return F's result: same
values (torch.testing.assert_close), same shape, same dtype, same device. A table
of sample inputs (OpInfo style) and random ones (hypothesis) are run through both.
"""

import re
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import ConvlabError
from convlab import reference as R

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
F64 = torch.float64


def has(*parts):
    """A pattern matching a message that contains each part, in order (across lines)."""
    return "(?s)" + ".*".join(re.escape(p) for p in parts)


def make(shape, dtype, device, generator):
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator, dtype=dtype).to(device)
    return torch.randint(-3, 4, shape, generator=generator, dtype=dtype).to(device)


def same_as_torch(got, want):
    """Values, shape, dtype and device all match torch's."""
    torch.testing.assert_close(got, want)  # also checks dtype and device
    assert got.shape == want.shape


# ---------------------------------------------------------------- sample inputs


@dataclass(frozen=True)
class Sample:
    id: str
    input: tuple
    weight: tuple
    bias: bool = True
    kwargs: dict = field(default_factory=dict)
    dtypes: tuple = (torch.float64, torch.float32, torch.int64)


CONV_SAMPLES = [
    Sample("seed000 1x1x28x28 Conv2d(1, 5, 3)", (1, 1, 28, 28), (5, 1, 3, 3)),
    Sample("seed000 F.conv2d 16x3x5x5 padding 1", (1, 3, 28, 28), (16, 3, 5, 5), kwargs={"padding": 1}),
    Sample("seed001 groups=1", (2, 12, 7, 7), (6, 12, 3, 3), kwargs={"stride": 1}),
    Sample("seed001 groups=3", (2, 12, 7, 7), (6, 4, 3, 3), kwargs={"groups": 3}),
    Sample("seed002 no bias 4x4", (1, 1, 4, 4), (1, 1, 3, 3), bias=False),
    Sample("seed004 cs231n shape", (3, 5, 5), (2, 3, 3, 3), kwargs={"stride": 2, "padding": 1}),
    Sample("depthwise", (2, 4, 6, 6), (4, 1, 3, 3), kwargs={"groups": 4, "padding": 1}),
    Sample("depthwise multiplier 2", (1, 3, 6, 5), (6, 1, 3, 3), kwargs={"groups": 3}),
    Sample(
        "asymmetric stride padding dilation",
        (2, 3, 9, 8),
        (4, 3, 3, 2),
        kwargs={"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)},
    ),
    Sample("same even kernel", (1, 2, 7, 6), (3, 2, 4, 4), kwargs={"padding": "same"}),
    Sample("same dilated", (1, 2, 7, 6), (3, 2, 3, 2), kwargs={"padding": "same", "dilation": (2, 3)}),
    Sample("valid", (1, 2, 7, 6), (3, 2, 3, 3), kwargs={"padding": "valid", "stride": 2}),
    Sample("unbatched", (3, 8, 8), (2, 3, 3, 3)),
    Sample("1x1 conv", (2, 5, 4, 4), (3, 5, 1, 1)),
    Sample("kernel equals input", (1, 2, 5, 7), (2, 2, 5, 7)),
    Sample("padding larger than kernel", (1, 1, 3, 3), (1, 1, 2, 2), kwargs={"padding": 3}),
    Sample("stride larger than input", (1, 1, 3, 3), (1, 1, 1, 1), kwargs={"stride": 5}),
]


def conv_args(sample, dtype, device, transposed=False):
    g = torch.Generator().manual_seed(0)
    x = make(sample.input, dtype, device, g)
    w = make(sample.weight, dtype, device, g)
    groups = sample.kwargs.get("groups", 1)
    out_channels = sample.weight[1] * groups if transposed else sample.weight[0]
    b = make((out_channels,), dtype, device, g) if sample.bias else None
    return x, w, b


def conv_cases():
    for sample in CONV_SAMPLES:
        for dtype in sample.dtypes:
            for device in DEVICES:
                if dtype == torch.int64 and device != "cpu":
                    continue  # torch's integer convolution is CPU only
                yield pytest.param(sample, dtype, device, id=f"{sample.id}-{dtype}-{device}".replace("torch.", ""))


@pytest.mark.parametrize("sample, dtype, device", list(conv_cases()))
@pytest.mark.parametrize("conv", [R.conv2d, R.conv2d_loop], ids=["im2col", "loop"])
def test_conv2d_matches_torch(conv, sample, dtype, device):
    x, w, b = conv_args(sample, dtype, device)
    same_as_torch(conv(x, w, b, **sample.kwargs), F.conv2d(x, w, b, **sample.kwargs))


def test_conv2d_seed004_cs231n_exact_integers():
    """SEEDS.md 004: the CS231n demo, reproduced exactly by nn.Conv2d, F.conv2d and the reference."""
    x = torch.tensor(
        [
            [[1, 2, 0, 1, 2], [1, 0, 2, 2, 0], [2, 0, 0, 2, 2], [0, 0, 2, 2, 0], [2, 2, 2, 1, 2]],
            [[2, 0, 0, 1, 1], [1, 0, 2, 1, 2], [2, 0, 2, 2, 1], [0, 2, 0, 0, 1], [1, 2, 1, 2, 0]],
            [[0, 0, 2, 1, 2], [0, 1, 0, 2, 0], [1, 1, 0, 0, 2], [0, 0, 0, 1, 1], [0, 1, 2, 0, 2]],
        ]
    )
    w0 = [
        [[-1, -1, 0], [1, 1, 1], [1, 1, 0]],
        [[1, 1, -1], [0, 0, 0], [1, 1, -1]],
        [[0, -1, 0], [-1, 0, -1], [1, 0, 1]],
    ]
    w1 = [
        [[-1, 0, 0], [1, 1, 1], [-1, -1, 0]],
        [[1, -1, -1], [-1, 1, -1], [1, -1, 0]],
        [[1, -1, 0], [0, 1, 1], [1, 0, 1]],
    ]
    w = torch.tensor([w0, w1])
    b = torch.tensor([1, 0])
    stated = torch.tensor([[[7, 9, 10], [0, 6, 10], [2, 5, 2]], [[4, 4, 4], [5, 1, 2], [2, 6, 0]]])
    real = F.conv2d(x, w, b, stride=2, padding=1)
    assert torch.equal(real, stated)
    assert torch.equal(R.conv2d(x, w, b, stride=2, padding=1), real)
    assert torch.equal(R.conv2d_loop(x, w, b, stride=2, padding=1), real)
    # one value by hand: output channel 0, top-left, sees the zero padding above and to the left
    by_hand = sum(int((F.pad(x, (1, 1, 1, 1))[c, 0:3, 0:3] * w[0, c]).sum()) for c in range(3)) + 1
    assert by_hand == real[0, 0, 0] == 7


CONV_T_SAMPLES = [
    Sample("plain", (1, 2, 4, 4), (2, 3, 3, 3)),
    Sample("stride 2", (2, 2, 3, 4), (2, 3, 3, 3), kwargs={"stride": 2}),
    Sample(
        "stride 2 padding 1 output_padding 1",
        (2, 2, 3, 3),
        (2, 1, 3, 3),
        kwargs={"stride": 2, "padding": 1, "output_padding": 1},
    ),
    Sample("gan generator k4 s2 p1", (1, 4, 7, 7), (4, 2, 4, 4), kwargs={"stride": 2, "padding": 1}),
    Sample("groups 2", (1, 4, 3, 3), (4, 3, 2, 2), kwargs={"groups": 2, "stride": 2}),
    Sample("dilation 2", (1, 1, 3, 3), (1, 1, 3, 3), kwargs={"dilation": 2}),
    Sample(
        "asymmetric everything",
        (2, 2, 3, 5),
        (2, 2, 2, 3),
        kwargs={"stride": (2, 1), "padding": (0, 1), "output_padding": (1, 1), "dilation": (1, 2)},
    ),
    Sample(
        "output_padding differs per dimension",
        (1, 2, 3, 3),
        (2, 2, 3, 3),
        kwargs={"stride": (2, 3), "output_padding": (1, 0)},
    ),
    Sample("unbatched", (2, 4, 4), (2, 3, 3, 3), kwargs={"stride": 2}),
    Sample("no bias", (1, 2, 4, 4), (2, 1, 2, 2), bias=False, kwargs={"stride": 2}),
]


def conv_t_cases():
    for sample in CONV_T_SAMPLES:
        for dtype in sample.dtypes:
            for device in DEVICES:
                if dtype == torch.int64 and device != "cpu":
                    continue
                yield pytest.param(sample, dtype, device, id=f"{sample.id}-{dtype}-{device}".replace("torch.", ""))


@pytest.mark.parametrize("sample, dtype, device", list(conv_t_cases()))
@pytest.mark.parametrize("conv_t", [R.conv_transpose2d, R.conv_transpose2d_loop], ids=["col2im", "loop"])
def test_conv_transpose2d_matches_torch(conv_t, sample, dtype, device):
    x, w, b = conv_args(sample, dtype, device, transposed=True)
    same_as_torch(conv_t(x, w, b, **sample.kwargs), F.conv_transpose2d(x, w, b, **sample.kwargs))


def test_conv_transpose2d_is_the_gradient_of_conv2d():
    """A transposed conv is conv2d's backward pass with respect to its input."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 7, 7, generator=g, dtype=F64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, generator=g, dtype=F64)
    y = F.conv2d(x, w, stride=2, padding=1)
    upstream = torch.randn(y.shape, generator=g, dtype=F64)
    (grad,) = torch.autograd.grad(y, x, upstream)
    same_as_torch(R.conv_transpose2d(upstream, w, stride=2, padding=1), grad)


# ---------------------------------------------------------------- pooling samples


@dataclass(frozen=True)
class PoolSample:
    id: str
    input: tuple
    args: tuple  # kernel_size, stride, padding
    kwargs: dict = field(default_factory=dict)


MAX_POOL_SAMPLES = [
    PoolSample("seed003 MaxPool2d(3)", (1, 1, 5, 5), (3,)),
    PoolSample("seed003 MaxPool2d(3) ceil", (1, 1, 5, 5), (3,), {"ceil_mode": True}),
    PoolSample("seed001 stem pool", (1, 4, 15, 12), (3, 2, 1)),
    PoolSample("cifar pool 2", (2, 3, 8, 8), (2,)),
    PoolSample("ceil window larger than input", (1, 1, 1, 1), (2, 2), {"ceil_mode": True}),
    PoolSample("ceil drops last window", (1, 2, 5, 6), (2, 2, 1), {"ceil_mode": True}),
    PoolSample("dilation", (1, 2, 9, 8), (3, 1, 1), {"dilation": 2}),
    PoolSample(
        "dilation ceil asymmetric", (1, 2, 9, 8), ((2, 3), (2, 1), (1, 0)), {"dilation": (2, 1), "ceil_mode": True}
    ),
    PoolSample("asymmetric", (2, 1, 7, 9), ((2, 3), (1, 2), (1, 1))),
    PoolSample("unbatched", (3, 6, 6), (2,)),
]


def pool_cases(samples, dtypes):
    for sample in samples:
        for dtype in dtypes:
            for device in DEVICES:
                yield pytest.param(sample, dtype, device, id=f"{sample.id}-{dtype}-{device}".replace("torch.", ""))


@pytest.mark.parametrize("return_indices", [False, True])
@pytest.mark.parametrize("sample, dtype, device", list(pool_cases(MAX_POOL_SAMPLES, (F64, torch.float32, torch.int64))))
def test_max_pool2d_matches_torch(sample, dtype, device, return_indices):
    g = torch.Generator().manual_seed(0)
    # integers from a small range: windows with ties, where torch returns the first maximum
    x = torch.randint(0, 3, sample.input, generator=g).to(dtype).to(device)
    got = R.max_pool2d(x, *sample.args, return_indices=return_indices, **sample.kwargs)
    want = F.max_pool2d(x, *sample.args, return_indices=return_indices, **sample.kwargs)
    if return_indices:
        same_as_torch(got[0], want[0])
        same_as_torch(got[1], want[1])
    else:
        same_as_torch(got, want)


def test_max_pool2d_indices_unpool_back():
    """The indices are positions in each H×W plane: max_unpool2d puts the maxima back where they were."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 6, 6, generator=g, dtype=F64)
    values, indices = R.max_pool2d(x, 2, return_indices=True)
    back = F.max_unpool2d(values, indices, 2)
    torch.testing.assert_close(back[back != 0], x[back != 0])


AVG_POOL_SAMPLES = [
    PoolSample("plain", (1, 1, 5, 5), (3,)),
    PoolSample("padding include pad", (2, 2, 6, 5), (3, 2, 1)),
    PoolSample("padding exclude pad", (2, 2, 6, 5), (3, 2, 1), {"count_include_pad": False}),
    PoolSample("ceil include pad", (1, 2, 5, 6), (2, 2, 1), {"ceil_mode": True}),
    PoolSample("ceil exclude pad", (1, 2, 5, 6), (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}),
    PoolSample("ceil past the padding", (1, 1, 6, 6), (3, 2, 0), {"ceil_mode": True}),
    PoolSample("divisor_override", (1, 2, 6, 6), (3, 2, 1), {"divisor_override": 2}),
    PoolSample("divisor_override ceil", (1, 2, 5, 6), (3, 2, 1), {"divisor_override": 5, "ceil_mode": True}),
    PoolSample("asymmetric", (2, 1, 7, 9), ((2, 3), (1, 2), (1, 1)), {"count_include_pad": False}),
    PoolSample("unbatched", (3, 6, 6), (2,)),
]


@pytest.mark.parametrize("sample, dtype, device", list(pool_cases(AVG_POOL_SAMPLES, (F64, torch.float32))))
def test_avg_pool2d_matches_torch(sample, dtype, device):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(sample.input, generator=g, dtype=dtype).to(device)
    same_as_torch(R.avg_pool2d(x, *sample.args, **sample.kwargs), F.avg_pool2d(x, *sample.args, **sample.kwargs))


@pytest.mark.parametrize("sample", [pytest.param(s, id=s.id) for s in AVG_POOL_SAMPLES])
def test_avg_pool2d_integers_round_towards_zero_like_torch(sample):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-9, 10, sample.input, generator=g)
    same_as_torch(R.avg_pool2d(x, *sample.args, **sample.kwargs), F.avg_pool2d(x, *sample.args, **sample.kwargs))


# ---------------------------------------------------------------- im2col


@pytest.mark.parametrize(
    "shape, kernel, stride, dilation",
    [
        ((1, 1, 4, 4), 3, 1, 1),
        ((2, 3, 7, 6), (3, 2), (2, 1), (1, 2)),
        ((1, 2, 5, 5), 5, 1, 1),
        ((1, 2, 8, 9), 2, 3, 2),
    ],
)
def test_im2col_matches_unfold(shape, kernel, stride, dilation):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=F64)
    cols = R.im2col(x, kernel, stride, dilation)
    same_as_torch(cols, F.unfold(x, kernel, dilation=dilation, stride=stride).transpose(1, 2))


# ---------------------------------------------------------------- hypothesis: random cases


@st.composite
def conv_configs(draw, max_size=9, max_channels=2):
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, max_channels))
    c_out = groups * draw(st.integers(1, max_channels))
    k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    d = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    padding = draw(st.tuples(st.integers(0, 2), st.integers(0, 2)) | st.sampled_from(["same", "valid"]))
    stride = (1, 1) if padding == "same" else draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    # an input the (dilated) kernel fits in
    span = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    pad = (0, 0) if isinstance(padding, str) else padding
    hw = [draw(st.integers(max(1, e - 2 * p), max(max_size, e))) for e, p in zip(span, pad)]
    batch = draw(st.sampled_from([None, 1, 2]))
    shape = (c_in, *hw) if batch is None else (batch, c_in, *hw)
    dtype = draw(st.sampled_from([F64, torch.int64]))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return dict(
        shape=shape,
        weight=(c_out, c_in // groups, *k),
        bias=bias,
        dtype=dtype,
        seed=seed,
        kwargs=dict(stride=stride, padding=padding, dilation=d, groups=groups),
    )


def build(config, weight_shape, out_channels):
    g = torch.Generator().manual_seed(config["seed"])
    x = make(config["shape"], config["dtype"], "cpu", g)
    w = make(weight_shape, config["dtype"], "cpu", g)
    b = make((out_channels,), config["dtype"], "cpu", g) if config["bias"] else None
    return x, w, b


@settings(max_examples=120)
@given(config=conv_configs())
def test_conv2d_random(config):
    x, w, b = build(config, config["weight"], config["weight"][0])
    same_as_torch(R.conv2d(x, w, b, **config["kwargs"]), F.conv2d(x, w, b, **config["kwargs"]))


@settings(max_examples=40)
@given(config=conv_configs(max_size=5, max_channels=1))
def test_conv2d_loop_random(config):
    x, w, b = build(config, config["weight"], config["weight"][0])
    same_as_torch(R.conv2d_loop(x, w, b, **config["kwargs"]), F.conv2d(x, w, b, **config["kwargs"]))


@st.composite
def conv_t_configs(draw, max_size=6, max_channels=2):
    config = draw(conv_configs(max_size=max_size, max_channels=max_channels))
    kwargs = config["kwargs"]
    if isinstance(kwargs["padding"], str):
        kwargs["padding"] = (0, 0)
    # output_padding below max(stride, dilation), per dimension
    kwargs["output_padding"] = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(kwargs["stride"], kwargs["dilation"])
    )
    c_out, c_in_per_group, kh, kw = config["weight"]
    groups = kwargs["groups"]
    config["weight"] = (c_in_per_group * groups, c_out // groups, kh, kw)  # (in, out/groups, kH, kW)
    config["shape"] = (*config["shape"][:-3], c_in_per_group * groups, *config["shape"][-2:])
    return config


def conv_t_output_ok(config):
    """torch refuses a transposed conv whose padding crops the whole output; skip those here."""
    k = config["kwargs"]
    hw = config["shape"][-2:]
    kernel = config["weight"][-2:]
    return all(
        (i - 1) * s - 2 * p + d * (kk - 1) + a + 1 > 0
        for i, s, p, d, kk, a in zip(hw, k["stride"], k["padding"], k["dilation"], kernel, k["output_padding"])
    )


@settings(max_examples=100)
@given(config=conv_t_configs())
def test_conv_transpose2d_random(config):
    if not conv_t_output_ok(config):
        return
    out_channels = config["weight"][1] * config["kwargs"]["groups"]
    x, w, b = build(config, config["weight"], out_channels)
    want = F.conv_transpose2d(x, w, b, **config["kwargs"])
    same_as_torch(R.conv_transpose2d(x, w, b, **config["kwargs"]), want)


@settings(max_examples=30)
@given(config=conv_t_configs(max_size=4, max_channels=1))
def test_conv_transpose2d_loop_random(config):
    if not conv_t_output_ok(config):
        return
    out_channels = config["weight"][1] * config["kwargs"]["groups"]
    x, w, b = build(config, config["weight"], out_channels)
    want = F.conv_transpose2d(x, w, b, **config["kwargs"])
    same_as_torch(R.conv_transpose2d_loop(x, w, b, **config["kwargs"]), want)


@st.composite
def pool_configs(draw, dilation=True):
    k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    d = draw(st.tuples(st.integers(1, 3), st.integers(1, 3))) if dilation else (1, 1)
    span = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    hw = tuple(draw(st.integers(max(1, e - 2 * p), 10)) for e, p in zip(span, padding))
    batch = draw(st.sampled_from([None, 1, 2]))
    shape = (draw(st.integers(1, 3)), *hw)
    shape = shape if batch is None else (batch, *shape)
    return dict(
        shape=shape,
        k=k,
        stride=stride,
        padding=padding,
        d=d,
        ceil=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


def pool_values(shape, dtype, generator):
    """Few distinct values, so windows tie; for floats also -inf (ties with the padding) and NaN."""
    codes = torch.randint(0, 8, shape, generator=generator)
    if not dtype.is_floating_point:
        lowest = torch.iinfo(dtype).min
        return torch.where(codes == 0, lowest, codes % 3).to(dtype)
    values = (codes % 3).to(F64)
    values = torch.where(codes == 0, -torch.inf, values)
    return torch.where(codes == 7, torch.nan, values).to(dtype)


@settings(max_examples=200)
@given(
    config=pool_configs(),
    dtype=st.sampled_from([F64, torch.float32, torch.float16, torch.int64, torch.int8, torch.uint8]),
    return_indices=st.booleans(),
)
def test_max_pool2d_random(config, dtype, return_indices):
    g = torch.Generator().manual_seed(config["seed"])
    x = pool_values(config["shape"], dtype, g)
    args = (config["k"], config["stride"], config["padding"], config["d"], config["ceil"], return_indices)
    try:
        want = F.max_pool2d(x, *args)
    except RuntimeError:  # e.g. a dilated window that leaves no output: convlab must refuse too
        with pytest.raises(ConvlabError):
            R.max_pool2d(x, *args)
        return
    got = R.max_pool2d(x, *args)
    if not return_indices:
        torch.testing.assert_close(got, want, equal_nan=True)
        return
    # every index, also where the maximum ties with the padding, where several NaNs
    # share a window, and for windows made only of padding
    torch.testing.assert_close(got[0], want[0], equal_nan=True)
    same_as_torch(got[1], want[1])


@settings(max_examples=120)
@given(
    config=pool_configs(dilation=False),
    count_include_pad=st.booleans(),
    divisor_override=st.none() | st.integers(-9, 9).filter(bool),
    dtype=st.sampled_from([F64, torch.int64, torch.float16, torch.bfloat16]),
)
def test_avg_pool2d_random(config, count_include_pad, divisor_override, dtype):
    g = torch.Generator().manual_seed(config["seed"])
    x = make(config["shape"], dtype, "cpu", g)
    args = (config["k"], config["stride"], config["padding"], config["ceil"], count_include_pad, divisor_override)
    try:
        want = F.avg_pool2d(x, *args)
    except RuntimeError:
        with pytest.raises(ConvlabError):
            R.avg_pool2d(x, *args)
        return
    same_as_torch(R.avg_pool2d(x, *args), want)


@settings(max_examples=80)
@given(config=conv_configs(), dtype=st.sampled_from([torch.float16, torch.bfloat16]))
def test_conv2d_low_precision_random(config, dtype):
    """float16 and bfloat16 are summed in float32 and rounded once, as torch does."""
    x, w, b = build(config | {"dtype": torch.float32}, config["weight"], config["weight"][0])
    x, w, b = (None if t is None else (t * 4).to(dtype) for t in (x, w, b))
    same_as_torch(R.conv2d(x, w, b, **config["kwargs"]), F.conv2d(x, w, b, **config["kwargs"]))


@st.composite
def one_element_tuples(draw, config):
    """The same configuration with some sizes as 1-tuples, as torch accepts them, where both sides agree."""
    kwargs = dict(config["kwargs"])
    for name in ("stride", "padding", "dilation"):
        value = kwargs[name]
        if isinstance(value, tuple) and value[0] == value[1] and draw(st.booleans()):
            kwargs[name] = (value[0],)
    return kwargs


@settings(max_examples=60)
@given(data=st.data(), config=conv_configs())
def test_conv2d_one_element_tuples_random(data, config):
    kwargs = data.draw(one_element_tuples(config))
    x, w, b = build(config, config["weight"], config["weight"][0])
    same_as_torch(R.conv2d(x, w, b, **kwargs), F.conv2d(x, w, b, **kwargs))


# ---------------------------------------------------------------- bad input


def x_w(c_in=3, c_out=5, k=3):
    return torch.rand(1, c_in, 8, 8), torch.rand(c_out, c_in, k, k)


@pytest.mark.parametrize("conv", [R.conv2d, R.conv2d_loop])
def test_conv2d_bad_input(conv):
    x, w = x_w()
    with pytest.raises(ConvlabError, match=has("the input has 2 channels", "expects 3", "(5, 3, 3, 3)", "Fix:")):
        conv(torch.rand(1, 2, 8, 8), w)
    # the input is called input, as in torch.nn.functional
    with pytest.raises(
        ConvlabError, match=has("input must be 3-D or 4-D, got shape (8, 8) (2-D)", "input[None, None]")
    ):
        conv(torch.rand(8, 8), w)
    with pytest.raises(ConvlabError, match=has("input must be a torch.Tensor, got list", "torch.as_tensor")):
        conv([[1.0, 2.0]], w)
    with pytest.raises(ConvlabError, match=has("weight must be 4-D, got shape (5, 3, 3) (3-D)", "(out_channels")):
        conv(x, torch.rand(5, 3, 3))
    with pytest.raises(
        ConvlabError, match=has("bias has 4 values", "5 output channels", "Fix: give a bias of shape (5,)")
    ):
        conv(x, w, torch.rand(4))
    with pytest.raises(
        ConvlabError,
        match=has("input is torch.float32, weight is torch.float64", "Fix: convert the input", "input.double()"),
    ):
        conv(x, w.double())
    with pytest.raises(ConvlabError, match=has("bias is torch.float64", "bias is the odd one", "bias = bias.float()")):
        conv(x, w, torch.rand(5, dtype=torch.float64))
    with pytest.raises(
        ConvlabError, match=has("groups=2 must divide the weight's out_channels", "5 is not a multiple")
    ):
        conv(x, w, groups=2)
    with pytest.raises(ConvlabError, match=has("The tensors are torch.bool", "input.float()")):
        conv(x.bool(), w.bool())
    with pytest.raises(ConvlabError, match=has("The kernel does not fit", "spans 9×9")):
        conv(x, torch.rand(5, 3, 9, 9))


@pytest.mark.parametrize("conv_t", [R.conv_transpose2d, R.conv_transpose2d_loop])
def test_conv_transpose2d_bad_input(conv_t):
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(
        ConvlabError, match=has("the input has 3 channels", "expects 4", "(in_channels, out_channels/groups")
    ):
        conv_t(x, torch.rand(4, 2, 3, 3))
    with pytest.raises(ConvlabError, match=has("bias has 2 values", "6 output channels")):
        conv_t(x, torch.rand(3, 2, 3, 3), torch.rand(2), groups=3)
    with pytest.raises(ConvlabError, match=has("output_padding 2×2, stride 2×2", "use at most 1×1")):
        conv_t(x, torch.rand(3, 2, 3, 3), stride=2, output_padding=2)


def test_pool_bad_input():
    with pytest.raises(ConvlabError, match=has("input must be a torch.Tensor, got ndarray")):
        import numpy as np

        R.max_pool2d(np.zeros((1, 4, 4)), 2)
    with pytest.raises(ConvlabError, match=has("input must be 3-D or 4-D, got shape (4, 4) (2-D)")):
        R.avg_pool2d(torch.rand(4, 4), 2)
    with pytest.raises(
        ConvlabError, match=has("max_pool2d takes floating-point tensors", "got torch.bool", "x.float()")
    ):
        R.max_pool2d(torch.ones(1, 4, 4, dtype=torch.bool), 2)
    with pytest.raises(
        ConvlabError, match=has("avg_pool2d takes floating-point tensors or torch.int64, got torch.int32")
    ):
        R.avg_pool2d(torch.ones(1, 4, 4, dtype=torch.int32), 2)
    with pytest.raises(ConvlabError, match=has("at most half the kernel size: got padding 2×2 with kernel_size 3×3")):
        R.max_pool2d(torch.rand(1, 6, 6), 3, 1, 2)
    with pytest.raises(ConvlabError, match=has("divisor_override must not be 0", "leave it None")):
        R.avg_pool2d(torch.rand(1, 6, 6), 2, divisor_override=0)
    # torch refuses the same inputs
    for bad in (
        lambda: F.max_pool2d(torch.ones(1, 4, 4, dtype=torch.bool), 2),
        lambda: F.avg_pool2d(torch.ones(1, 4, 4, dtype=torch.int32), 2),
        lambda: F.max_pool2d(torch.rand(1, 6, 6), 3, 1, 2),
        lambda: F.avg_pool2d(torch.rand(1, 6, 6), 2, divisor_override=0),
    ):
        with pytest.raises(RuntimeError):
            bad()


def test_results_stay_on_the_input_device_and_dtype():
    for device in DEVICES:
        for dtype in (torch.float32, F64):
            x = torch.rand(1, 2, 6, 6, dtype=dtype, device=device)
            w = torch.rand(3, 2, 3, 3, dtype=dtype, device=device)
            wt = torch.rand(2, 3, 3, 3, dtype=dtype, device=device)
            outs = [
                R.conv2d(x, w),
                R.conv2d_loop(x, w),
                R.conv_transpose2d(x, wt),
                R.conv_transpose2d_loop(x, wt),
                R.avg_pool2d(x, 2),
                *R.max_pool2d(x, 2, return_indices=True),
            ]
            for out in outs[:-1]:
                assert out.device == x.device and out.dtype == dtype
            assert outs[-1].device == x.device and outs[-1].dtype == torch.int64
