"""convlab.arithmetic against torch itself.

Every expected size here comes from running the real layer (nn.Conv2d, F.max_pool2d,
F.avg_pool2d, nn.ConvTranspose2d) on a small zeros tensor; the numbers written into
the tables come from the sources (SEEDS.md, the Dumoulin & Visin guide) and are
themselves checked against torch. Wherever torch refuses a configuration, convlab
must raise ConvlabError — never another exception, never a size.
"""

import math
import warnings
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from torch import nn

from convlab import ConvlabError
from convlab import arithmetic as A

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

F64 = torch.float64


# ---------------------------------------------------------------- helpers


def pair(v):
    return tuple(v) if isinstance(v, tuple | list) else (v, v)


def torch_hw(run):
    """(h, w) of what torch computes, or None where torch refuses."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = run()
    except Exception:  # torch refuses with RuntimeError, ValueError or TypeError
        return None
    return tuple(out.shape[-2:])


def note_outcome(label):
    """Record refused / accepted in hypothesis statistics (--hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(label)


def convlab_hw(run):
    """convlab's (h, w), or None where it raises ConvlabError (anything else fails the test)."""
    try:
        hw = tuple(run())
    except ConvlabError:
        note_outcome("refused")
        return None
    note_outcome("accepted")
    return hw


def zeros(hw):
    return torch.zeros(1, 1, *pair(hw), dtype=F64)


def torch_conv(i, k, s=1, p=0, d=1):
    kernel = torch.zeros(1, 1, *pair(k), dtype=F64)
    return torch_hw(lambda: F.conv2d(zeros(i), kernel, stride=s, padding=p, dilation=d))


def torch_max_pool(i, k, s=None, p=0, d=1, ceil=False):
    return torch_hw(lambda: F.max_pool2d(zeros(i), k, s, p, d, ceil_mode=ceil))


def torch_avg_pool(i, k, s=None, p=0, ceil=False, count_include_pad=True):
    return torch_hw(lambda: F.avg_pool2d(zeros(i), k, s, p, ceil_mode=ceil, count_include_pad=count_include_pad))


def torch_conv_t(i, k, s=1, p=0, a=0, d=1):
    # batch 1, float64: torch's reference path (oneDNN's float32 batched path lets
    # a zero-sized output through instead of raising "Output size is too small").
    kernel = torch.zeros(1, 1, *pair(k), dtype=F64)
    return torch_hw(lambda: F.conv_transpose2d(zeros(i), kernel, stride=s, padding=p, output_padding=a, dilation=d))


# ---------------------------------------------------------------- case tables (OpInfo style)


UNSTATED = "unstated"


@dataclass(frozen=True)
class Case:
    id: str
    input: object
    kernel: object
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    ceil_mode: bool = False
    output_padding: object = 0
    expected: object = UNSTATED  # the source's (h, w) where it states one; None: torch refuses


def params(cases):
    return [pytest.param(c, id=c.id) for c in cases]


CONV_CASES = [
    # SEEDS.md
    Case("seed000 28 k3", 28, 3, expected=(26, 26)),
    Case("seed000 F.conv2d 28 k5 p1", 28, 5, padding=1, expected=(26, 26)),
    Case("seed001 stem 304x228 k7 s2 p3", (304, 228), 7, 2, 3, expected=(152, 114)),
    Case("seed002 4 k3", 4, 3, expected=(2, 2)),
    Case("seed003 cifar 32 k3", 32, 3, expected=(30, 30)),
    Case("seed003 cifar 32 k5 p2", 32, 5, 1, 2, expected=(32, 32)),
    Case("seed004 cs231n 5 k3 s2 p1", 5, 3, 2, 1, expected=(3, 3)),
    Case("seed004 gan 28 k4 s2 p1", 28, 4, 2, 1, expected=(14, 14)),
    # the guide's animations
    Case("guide no padding no strides", 4, 3, expected=(2, 2)),
    Case("guide arbitrary padding", 5, 4, 1, 2, expected=(6, 6)),
    Case("guide half padding", 5, 3, 1, 1, expected=(5, 5)),
    Case("guide full padding", 5, 3, 1, 2, expected=(7, 7)),
    Case("guide no padding strides", 5, 3, 2, 0, expected=(2, 2)),
    Case("guide padding strides", 5, 3, 2, 1, expected=(3, 3)),
    Case("guide padding strides odd", 6, 3, 2, 1, expected=(3, 3)),
    Case("guide dilation", 7, 3, 1, 0, 2, expected=(3, 3)),
    # 'same' / 'valid'
    Case("same odd kernel", 9, 3, padding="same", expected=(9, 9)),
    Case("same even kernel", (7, 6), 4, padding="same", expected=(7, 6)),
    Case("same dilated", (7, 6), (3, 2), padding="same", dilation=(2, 3), expected=(7, 6)),
    Case("same kernel larger than input", 2, 5, padding="same", expected=(2, 2)),
    Case("valid", (9, 8), 3, padding="valid", expected=(7, 6)),
    Case("valid strided", 9, 3, 2, "valid", expected=(4, 4)),
    # asymmetric (h, w) pairs
    Case("asymmetric kernel", (10, 12), (1, 5)),
    Case("asymmetric stride", (10, 12), 3, (2, 3)),
    Case("asymmetric padding", (10, 12), 3, 1, (0, 2)),
    Case("asymmetric dilation", (10, 12), 3, 1, 0, (2, 1)),
    Case("asymmetric everything", (17, 9), (3, 2), (2, 1), (1, 0), (1, 3)),
    Case("kernel equals input", (5, 7), (5, 7), expected=(1, 1)),
    Case("kernel fits only with padding", 3, 5, padding=1, expected=(1, 1)),
    Case("1x1 input 1x1 kernel", 1, 1, expected=(1, 1)),
    Case("stride larger than input", 3, 1, 5, expected=(1, 1)),
    # torch refuses
    Case("kernel bigger than input", 4, 7, expected=None),
    Case("dilated kernel bigger than input", 5, 3, dilation=3, expected=None),
    Case("same with stride 2", 8, 3, 2, "same", expected=None),
]


@pytest.mark.parametrize("case", params(CONV_CASES))
def test_conv2d_output_shape_matches_torch(case):
    want = torch_conv(case.input, case.kernel, case.stride, case.padding, case.dilation)
    got = convlab_hw(lambda: A.conv2d_output_shape(case.input, case.kernel, case.stride, case.padding, case.dilation))
    assert got == want
    if case.expected is not UNSTATED:
        assert want == case.expected  # the source's number is what torch computes


@pytest.mark.parametrize("case", params(CONV_CASES))
def test_nn_conv2d_layer_agrees(case):
    """The module (not only F.conv2d) gives the same size: nn.Conv2d resolves 'same' itself."""
    try:
        layer = nn.Conv2d(1, 1, case.kernel, case.stride, case.padding, case.dilation, dtype=F64)
    except Exception:
        layer = None
    want = None if layer is None else torch_hw(lambda: layer(zeros(case.input)))
    got = convlab_hw(lambda: A.conv2d_output_shape(case.input, case.kernel, case.stride, case.padding, case.dilation))
    assert got == want


POOL_CASES = [
    Case("seed001 stem pool 152x114 k3 s2 p1", (152, 114), 3, 2, 1, expected=(76, 57)),
    Case("seed003 MaxPool2d(3) on 30", 30, 3, None, expected=(10, 10)),
    Case("seed003 MaxPool2d(3) on 32", 32, 3, None, expected=(10, 10)),
    Case("seed003 MaxPool2d(3) ceil on 32", 32, 3, None, ceil_mode=True, expected=(11, 11)),
    Case("seed003 MaxPool2d(3) 5x5", 5, 3, None, expected=(1, 1)),
    Case("seed003 MaxPool2d(3) ceil 5x5", 5, 3, None, ceil_mode=True, expected=(2, 2)),
    Case("seed003 cifar pool 32", 32, 2, None, expected=(16, 16)),
    Case("guide pooling (7)", 5, 3, 2, expected=(2, 2)),
    # ceil_mode: a window larger than the input still gives one output
    Case("ceil window larger than input", 1, 2, 2, ceil_mode=True, expected=(1, 1)),
    Case("floor window larger than input", 1, 2, 2, expected=None),
    # ceil_mode: the last window would start in the right-hand padding and is dropped
    Case("ceil drops window starting in padding", 5, 2, 2, 1, ceil_mode=True, expected=(3, 3)),
    Case("ceil drops window, asymmetric", (5, 6), 2, 2, 1, ceil_mode=True, expected=(3, 4)),
    Case("ceil keeps partial window", 6, 3, 2, 0, ceil_mode=True, expected=(3, 3)),
    Case("dilated pool", 7, 3, 1, 0, 2, expected=(3, 3)),
    Case("dilated pool ceil", (9, 8), 2, 2, 1, (2, 3), ceil_mode=True),
    Case("asymmetric pool", (9, 13), (2, 3), (2, 1), (1, 0)),
    Case("stride defaults to kernel, pair", (9, 13), (2, 3), None),
    # torch refuses
    Case("padding over half the kernel", 8, 3, 1, 2, expected=None),
    Case("padding over half, one side", (8, 8), (4, 3), 1, (2, 2), expected=None),
    Case("nothing left", 1, 3, 1, 0, expected=None),
]


@pytest.mark.parametrize("case", params(POOL_CASES))
def test_pool2d_output_shape_matches_max_pool(case):
    want = torch_max_pool(case.input, case.kernel, case.stride, case.padding, case.dilation, case.ceil_mode)
    got = convlab_hw(
        lambda: A.pool2d_output_shape(case.input, case.kernel, case.stride, case.padding, case.dilation, case.ceil_mode)
    )
    assert got == want
    if case.expected is not UNSTATED:
        assert want == case.expected


@pytest.mark.parametrize("case", params([c for c in POOL_CASES if c.dilation == 1]))
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_pool2d_output_shape_matches_avg_pool(case, count_include_pad):
    want = torch_avg_pool(case.input, case.kernel, case.stride, case.padding, case.ceil_mode, count_include_pad)
    got = convlab_hw(
        lambda: A.pool2d_output_shape(case.input, case.kernel, case.stride, case.padding, 1, case.ceil_mode)
    )
    assert got == want


def test_ceil_rule_matters_where_naive_ceil_is_wrong():
    """DESIGN.md: with ceil_mode torch drops a last window that would start in the padding."""
    i, k, s, p = 5, 2, 2, 1
    naive = math.ceil((i + 2 * p - k) / s) + 1
    real = torch_max_pool(i, k, s, p, ceil=True)
    assert naive == 4 and real == (3, 3)
    assert A.pool2d_output_shape(i, k, s, p, ceil_mode=True) == real


def test_pool_modules_agree():
    """nn.MaxPool2d / nn.AvgPool2d modules, the seed 001 stem and the CIFAR net's pools."""
    x = zeros((152, 114))
    assert tuple(nn.MaxPool2d(3, 2, 1)(x).shape[-2:]) == A.pool2d_output_shape((152, 114), 3, 2, 1)
    y = zeros(32)
    for _ in range(3):
        expected = A.pool2d_output_shape(y.shape[-2:], 2)
        y = nn.MaxPool2d(2)(y)
        assert tuple(y.shape[-2:]) == expected
    assert tuple(y.shape[-2:]) == (4, 4)  # seed 003: 64 × 4 × 4 = 1024 features


CONV_T_CASES = [
    # the guide's transposed animations: each undoes the size change of its conv
    Case("guide T no padding no strides", 2, 3, expected=(4, 4)),
    Case("guide T arbitrary padding", 6, 4, 1, 2, expected=(5, 5)),
    Case("guide T half padding", 5, 3, 1, 1, expected=(5, 5)),
    Case("guide T full padding", 7, 3, 1, 2, expected=(5, 5)),
    Case("guide T no padding strides", 2, 3, 2, 0, expected=(5, 5)),
    Case("guide T padding strides", 3, 3, 2, 1, expected=(5, 5)),
    Case("guide T padding strides odd", 3, 3, 2, 1, output_padding=1, expected=(6, 6)),
    Case("guide T dilation", 3, 3, 1, 0, 2, expected=(7, 7)),
    Case("gan generator k4 s2 p1", 7, 4, 2, 1, expected=(14, 14)),
    Case("output_padding below dilation", 4, 3, 1, 0, 2, output_padding=1),
    Case("asymmetric T", (3, 5), (2, 3), (2, 1), (0, 1), (1, 2), output_padding=(1, 1)),
    Case("output_padding per dimension", 5, 3, (2, 1), 0, (1, 2), output_padding=(1, 1)),
    Case("output_padding differs per dimension", (3, 4), 3, (2, 3), 0, output_padding=(1, 0)),
    # torch refuses
    Case("output_padding equals stride", 5, 3, 2, output_padding=2, expected=None),
    Case("output_padding with stride 1", 5, 3, 1, output_padding=1, expected=None),
    Case("padding crops everything", 1, 4, 2, 2, expected=None),
    Case("padding crops past zero", 1, 4, 2, 3, expected=None),
]


@pytest.mark.parametrize("case", params(CONV_T_CASES))
def test_conv_transpose2d_output_shape_matches_torch(case):
    want = torch_conv_t(case.input, case.kernel, case.stride, case.padding, case.output_padding, case.dilation)
    got = convlab_hw(
        lambda: A.conv_transpose2d_output_shape(
            case.input, case.kernel, case.stride, case.padding, case.output_padding, case.dilation
        )
    )
    assert got == want
    if case.expected is not UNSTATED:
        assert want == case.expected


# ---------------------------------------------------------------- the guide's relationships


GUIDE_RELATIONSHIPS = {
    # name: (condition on (i, k, s, p), formula)
    "(1) s=1 p=0": (lambda i, k, s, p: s == 1 and p == 0, lambda i, k, s, p: i - k + 1),
    "(2) s=1": (lambda i, k, s, p: s == 1, lambda i, k, s, p: i - k + 2 * p + 1),
    "(3) half padding": (lambda i, k, s, p: s == 1 and k % 2 == 1 and p == k // 2, lambda i, k, s, p: i),
    "(4) full padding": (lambda i, k, s, p: s == 1 and p == k - 1, lambda i, k, s, p: i + k - 1),
    "(5) p=0": (lambda i, k, s, p: p == 0, lambda i, k, s, p: (i - k) // s + 1),
    "(6) general": (lambda i, k, s, p: True, lambda i, k, s, p: (i + 2 * p - k) // s + 1),
}


@pytest.mark.parametrize("name", list(GUIDE_RELATIONSHIPS))
def test_guide_conv_relationships(name):
    applies, formula = GUIDE_RELATIONSHIPS[name]
    checked = 0
    for i in range(1, 9):
        for k in range(1, 5):
            for s in (1, 2, 3):
                for p in range(0, 4):
                    if not applies(i, k, s, p) or i + 2 * p < k:
                        continue
                    o = formula(i, k, s, p)
                    assert torch_conv(i, k, s, p) == (o, o)
                    assert A.conv2d_output_shape(i, k, s, p) == (o, o)
                    checked += 1
    assert checked > 0


def test_guide_pooling_and_dilation_relationships():
    for i in range(1, 12):
        for k in range(1, 5):
            for s in (1, 2, 3):
                if i >= k:  # (7) pooling: o = floor((i - k) / s) + 1
                    o = (i - k) // s + 1
                    assert torch_max_pool(i, k, s) == A.pool2d_output_shape(i, k, s) == (o, o)
                for d in (1, 2, 3):
                    for p in (0, 1, 2):
                        span = k + (k - 1) * (d - 1)
                        if i + 2 * p < span:
                            continue
                        o = (i + 2 * p - k - (k - 1) * (d - 1)) // s + 1  # (15)
                        assert torch_conv(i, k, s, p, d) == A.conv2d_output_shape(i, k, s, p, d) == (o, o)


def test_guide_transposed_relationship_recovers_input_size():
    """(14): o' = s(i' - 1) + a + k - 2p with a = (i + 2p - k) mod s brings a conv's output back to i."""
    for i in range(1, 12):
        for k in range(1, 5):
            for s in (1, 2, 3):
                for p in range(0, k):  # p < k keeps the transposed output positive
                    if i + 2 * p < k:
                        continue
                    (o, _) = A.conv2d_output_shape(i, k, s, p)
                    a = (i + 2 * p - k) % s
                    assert s * (o - 1) + a + k - 2 * p == i
                    assert torch_conv_t(o, k, s, p, a) == (i, i)
                    assert A.conv_transpose2d_output_shape(o, k, s, p, a) == (i, i)


# ---------------------------------------------------------------- hypothesis: random configurations

sizes = st.tuples(st.integers(1, 24), st.integers(1, 24))
kernels = st.tuples(st.integers(1, 7), st.integers(1, 7))
strides = st.tuples(st.integers(1, 4), st.integers(1, 4))
pads = st.tuples(st.integers(0, 4), st.integers(0, 4))
dilations = st.tuples(st.integers(1, 3), st.integers(1, 3))


@settings(max_examples=120)
@given(i=sizes, k=kernels, s=strides | st.integers(1, 4), p=pads | st.sampled_from(["same", "valid"]), d=dilations)
def test_conv2d_output_shape_random(i, k, s, p, d):
    assert convlab_hw(lambda: A.conv2d_output_shape(i, k, s, p, d)) == torch_conv(i, k, s, p, d)


@settings(max_examples=120)
@given(i=sizes, k=kernels, s=strides | st.none(), p=pads, d=dilations, ceil=st.booleans())
def test_pool2d_output_shape_random_max_pool(i, k, s, p, d, ceil):
    got = convlab_hw(lambda: A.pool2d_output_shape(i, k, s, p, d, ceil))
    assert got == torch_max_pool(i, k, s, p, d, ceil)


@settings(max_examples=60)
@given(i=sizes, k=kernels, s=strides | st.none(), p=pads, ceil=st.booleans(), count=st.booleans())
def test_pool2d_output_shape_random_avg_pool(i, k, s, p, ceil, count):
    got = convlab_hw(lambda: A.pool2d_output_shape(i, k, s, p, 1, ceil))
    assert got == torch_avg_pool(i, k, s, p, ceil, count)


@settings(max_examples=100)
@given(
    i=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    k=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    s=strides,
    p=pads,
    a=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    d=dilations,
)
def test_conv_transpose2d_output_shape_random(i, k, s, p, a, d):
    got = convlab_hw(lambda: A.conv_transpose2d_output_shape(i, k, s, p, a, d))
    assert got == torch_conv_t(i, k, s, p, a, d)


@settings(max_examples=30)
@given(k=kernels, d=dilations)
def test_effective_kernel_size_is_what_a_conv_needs(k, d):
    """The span is exactly the smallest input a dilated kernel fits in (no padding)."""
    span = A.effective_kernel_size(k, d)
    assert torch_conv(span, k, d=d) == (1, 1)
    if span[0] > 1:
        assert torch_conv((span[0] - 1, span[1]), k, d=d) is None
    if span[1] > 1:
        assert torch_conv((span[0], span[1] - 1), k, d=d) is None


@settings(max_examples=30)
@given(
    k=kernels,
    d=dilations,
    i=sizes,
)
def test_conv2d_padding_same_matches_torch(k, d, i):
    """'same' resolved to (before, after): F.pad with it then a 'valid' conv equals torch's 'same' conv."""
    (top, bottom), (left, right) = A.conv2d_padding("same", k, 1, d)
    torch.manual_seed(0)
    x = torch.randn(1, 1, *i, dtype=F64)
    w = torch.randn(1, 1, *k, dtype=F64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = F.conv2d(x, w, padding="same", dilation=d)
    manual = F.conv2d(F.pad(x, (left, right, top, bottom)), w, dilation=d)
    torch.testing.assert_close(manual, same)
    assert A.conv2d_padding("valid", k, 1, d) == ((0, 0), (0, 0))
    assert A.conv2d_padding((2, 3), k) == ((2, 2), (3, 3))


# ---------------------------------------------------------------- parameters and multiply-adds


def torch_params(c_in, c_out, k, groups=1, bias=True):
    try:
        layer = nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias)
    except Exception:
        return None
    return sum(p.numel() for p in layer.parameters())


def convlab_params(*args, **kwargs):
    try:
        return A.conv2d_params(*args, **kwargs)
    except ConvlabError:
        return None


PARAM_CASES = [
    pytest.param((12, 6, 3), {}, 654, id="seed001 groups=1 -> 654"),
    pytest.param((12, 6, 3), {"groups": 3}, 222, id="seed001 groups=3 -> 222"),
    pytest.param((1, 5, 3), {}, 50, id="seed000 Conv2d(1, 5, 3)"),
    pytest.param((1, 64, 4), {}, 1088, id="seed004 Conv2d(1, 64, 4)"),
    pytest.param((64, 128, 4), {}, 131200, id="seed004 Conv2d(64, 128, 4)"),
    pytest.param((3, 64, 7), {"bias": False}, 9408, id="seed001 stem bias=False"),
    pytest.param((32, 32, 5), {}, 25632, id="seed003 Conv2d(32, 32, 5)"),
    pytest.param((8, 8, 3), {"groups": 8}, None, id="depthwise"),
    pytest.param((6, 4, (1, 5)), {"groups": 2}, None, id="asymmetric kernel groups"),
    pytest.param((12, 6, 3), {"groups": 4}, None, id="groups not dividing out_channels"),
    pytest.param((10, 6, 3), {"groups": 4}, None, id="groups not dividing in_channels"),
]


@pytest.mark.parametrize("args, kwargs, stated", PARAM_CASES)
def test_conv2d_params_table(args, kwargs, stated):
    real = torch_params(*args, **kwargs)
    assert convlab_params(*args, **kwargs) == real
    if stated is not None:
        assert real == stated  # the source's count is what torch has


@settings(max_examples=60)
@given(
    c_in=st.integers(1, 12),
    c_out=st.integers(1, 12),
    k=st.integers(1, 5) | kernels,
    groups=st.integers(1, 6),
    bias=st.booleans(),
)
def test_conv2d_params_random(c_in, c_out, k, groups, bias):
    assert convlab_params(c_in, c_out, k, groups=groups, bias=bias) == torch_params(c_in, c_out, k, groups, bias)


def direct_mult_adds(i, c_in, c_out, k, s, p, d, g):
    """Count from the real layer's output: each output value is (c_in/g)·kH·kW multiply-adds."""
    layer = nn.Conv2d(c_in, c_out, k, s, p, d, g, bias=False, dtype=F64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = layer(torch.zeros(1, c_in, *pair(i), dtype=F64))
    kh, kw = layer.kernel_size
    return out.numel() * (c_in // g) * kh * kw


def test_conv2d_mult_adds_seed_stem():
    got = A.conv2d_mult_adds((304, 228), 3, 64, 7, stride=2, padding=3)
    assert got == direct_mult_adds((304, 228), 3, 64, 7, 2, 3, 1, 1) == 64 * 152 * 114 * 3 * 49


@settings(max_examples=40)
@given(
    i=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    channels=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    s=st.integers(1, 3),
    p=st.integers(0, 2) | st.sampled_from(["same", "valid"]),
    d=st.integers(1, 2),
)
def test_conv2d_mult_adds_random(i, channels, k, s, p, d):
    in_per_group, out_per_group, g = channels
    c_in, c_out = in_per_group * g, out_per_group * g
    if p == "same":
        s = 1
    if torch_conv(i, k, s, p, d) is None:
        with pytest.raises(ConvlabError):
            A.conv2d_mult_adds(i, c_in, c_out, k, s, p, d, g)
        return
    assert A.conv2d_mult_adds(i, c_in, c_out, k, s, p, d, g) == direct_mult_adds(i, c_in, c_out, k, s, p, d, g)


# ---------------------------------------------------------------- padding_for


def test_padding_for_seed_examples():
    # seed 001: conv 7×7 stride 2 on 304×228 → 152×114 needs padding 3, then pool 3×3 stride 2 → 76×57 padding 1
    conv_pad = A.padding_for((304, 228), (152, 114), 7, 2)
    assert conv_pad == (3, 3)
    assert torch_conv((304, 228), 7, 2, conv_pad) == (152, 114)
    pool_pad = A.padding_for((152, 114), (76, 57), 3, 2)
    assert pool_pad == (1, 1)
    assert torch_max_pool((152, 114), 3, 2, pool_pad) == (76, 57)
    # seed 003: a 5×5 kernel keeps 32×32 with padding 2
    assert A.padding_for(32, 32, 5) == (2, 2)
    assert torch_conv(32, 5, 1, 2) == (32, 32)


@settings(max_examples=80)
@given(
    i=st.tuples(st.integers(1, 16), st.integers(1, 16)),
    o=st.tuples(st.integers(1, 18), st.integers(1, 18)),
    k=kernels,
    s=strides,
    d=dilations,
)
def test_padding_for_random(i, o, k, s, d):
    try:
        p = A.padding_for(i, o, k, s, d)
    except ConvlabError:
        # really impossible: no padding reaches the target, in either dimension
        for axis in (0, 1):
            span = d[axis] * (k[axis] - 1) + 1
            reached = {
                torch_conv((i[axis], 1), (k[axis], 1), (s[axis], 1), (q, 0), (d[axis], 1))
                for q in range(0, ((o[axis] - 1) * s[axis] + span) // 2 + 2)
            }
            if (o[axis], 1) not in reached:
                return
        pytest.fail(f"padding_for raised but torch reaches {o}")
    assert torch_conv(i, k, s, p, d) == o
    for axis in (0, 1):  # the smallest: one less padding misses the target
        if p[axis] > 0:
            less = list(p)
            less[axis] -= 1
            assert torch_conv(i, k, s, tuple(less), d) != o


def test_padding_for_impossible_targets():
    with pytest.raises(ConvlabError, match=r"(?s)No padding turns h=10 into 3 .*without padding the output is 8"):
        A.padding_for(10, 3, 3)
    with pytest.raises(ConvlabError, match=r"(?s)Fix: padding can only make the output larger"):
        A.padding_for(10, 3, 3)
    # stride 1, 3×3 kernel: o = i - 2 + 2p is always even for even i
    with pytest.raises(ConvlabError, match=r"(?s)no per-side padding gives exactly 3 \(padding 1 gives 4\).*F\.pad"):
        A.padding_for(4, 3, 3)
    assert {torch_conv(4, 3, 1, p) for p in range(5)}.isdisjoint({(3, 3)})


# ---------------------------------------------------------------- receptive field, by back-propagation


def surrogate(layer):
    """A layer with the same geometry, no padding, and a gradient that reaches every pixel it sees.

    Padding does not change what one output pixel sees, only where the map's edges
    are; dropping it keeps every window inside every map, so nothing is clipped.
    """
    if isinstance(layer, nn.Conv2d) or (isinstance(layer, nn.MaxPool2d) and layer.dilation not in (1, (1, 1))):
        conv = nn.Conv2d(1, 1, layer.kernel_size, layer.stride, 0, layer.dilation, bias=False)
        nn.init.ones_(conv.weight)
        return conv
    if isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):  # max sends the gradient to one pixel: average
        return nn.AvgPool2d(layer.kernel_size, layer.stride)
    if isinstance(layer, nn.BatchNorm2d):
        return nn.BatchNorm2d(1).eval()  # running stats: a positive scale, keeps the geometry
    return layer  # ReLU and the like: inputs stay positive, so the gradient passes


def measured_field(layers):
    """Extent (h, w) of the input pixels that one central output pixel depends on."""
    stack = nn.Sequential(*[surrogate(m) for m in layers]).double()
    n = 8
    while True:
        x = torch.ones(1, 1, n, n, dtype=F64, requires_grad=True)
        try:
            y = stack(x)
        except RuntimeError:  # too small for the stack
            assert n < 1024, "input grew too large"
            n *= 2
            continue
        y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
        rows, cols = (x.grad[0, 0] != 0).nonzero(as_tuple=True)
        return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


RF_CASES = [
    pytest.param([nn.Conv2d(1, 1, 3)], id="conv3"),
    pytest.param([nn.Conv2d(1, 1, 3, dilation=2)], id="conv3 dilation 2"),
    pytest.param([nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)], id="two conv3"),
    pytest.param([nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3)], id="conv pool conv"),
    pytest.param(
        [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)],
        id="seed001 stem",
    ),
    pytest.param(
        [
            nn.Conv2d(3, 32, 5, 1, 2),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 5, 1, 2),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, 1, 2),
            nn.MaxPool2d(2),
        ],
        id="seed003 cifar net",
    ),
    pytest.param([nn.Conv2d(1, 64, 4, 2, 1), nn.Conv2d(64, 128, 4, 2, 1)], id="seed004 discriminator"),
    pytest.param([nn.Conv2d(1, 1, (1, 5), (2, 1)), nn.AvgPool2d((3, 2), (1, 2))], id="asymmetric"),
    pytest.param([nn.MaxPool2d(2, dilation=3), nn.Conv2d(1, 1, 3, 2, dilation=(1, 2))], id="dilated pool"),
]


def single_channel(layers):
    """Rebuild channel-changing convs with 1 channel: the geometry is all that matters."""
    out = []
    for m in layers:
        if isinstance(m, nn.Conv2d):
            m = nn.Conv2d(1, 1, m.kernel_size, m.stride, m.padding, m.dilation)
        elif isinstance(m, nn.BatchNorm2d):
            m = nn.BatchNorm2d(1)
        out.append(m)
    return out


@pytest.mark.parametrize("layers", RF_CASES)
def test_receptive_field_by_backprop(layers):
    assert A.receptive_field(layers) == measured_field(single_channel(layers))
    assert A.receptive_field(nn.Sequential(*layers)) == A.receptive_field(layers)


def test_receptive_field_steps_and_tuples():
    layers = [nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, dilation=2)]
    steps = list(A.receptive_field_steps(layers))
    for n in range(1, len(layers) + 1):
        assert steps[n - 1][0] == measured_field(layers[:n])
    assert steps[-1][1] == (2, 2)  # jump: one stride-2 layer
    as_tuples = [(3, 1), (2, 2), (3, 1, 2)]
    assert list(A.receptive_field_steps(as_tuples)) == steps
    assert A.receptive_field_and_jump(layers) == steps[-1]


def test_receptive_field_pointwise_layers_pass_through():
    convs = [nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, 2)]
    with_pointwise = [convs[0], nn.BatchNorm2d(1), nn.ReLU(), nn.Dropout(), convs[1], nn.Sigmoid()]
    assert A.receptive_field(with_pointwise) == A.receptive_field(convs) == (5, 5)
    assert measured_field([convs[0], nn.BatchNorm2d(1), nn.ReLU(), convs[1]]) == (5, 5)
    assert A.receptive_field([nn.ReLU()]) == (1, 1)
    # nested blocks are opened up
    nested = nn.Sequential(nn.Sequential(convs[0], nn.ReLU()), nn.Sequential(convs[1]))
    assert A.receptive_field(nested) == (5, 5)


def instance(kind):
    """A module of each kind in convlab's table of layer facts, with the arguments it needs."""
    needs = {
        nn.GroupNorm: (1, 1), nn.Threshold: (0.1, 0.0), nn.Unflatten: (1, (1, 1)), nn.PixelShuffle: (1,),
        nn.PixelUnshuffle: (1,), nn.Embedding: (3, 2),
        **{kind: (1, 1, 3) for kind in (nn.Conv1d, nn.Conv2d, nn.Conv3d)},
        **{kind: (1,) for kind in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
                                   nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)},
        **{kind: (2,) for kind in (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)},
        **{kind: (1,) for kind in (nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d,
                                   nn.ReflectionPad3d, nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d)},
        **{kind: (1, 0.0) for kind in (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d)},
        **{kind: (1,) for kind in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                                   nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)},
    }  # fmt: skip
    return kind(*needs.get(kind, ()))


@pytest.mark.parametrize("kind", A.POINTWISE_LAYERS, ids=lambda kind: kind.__name__)
def test_every_pointwise_layer_passes_the_field_through(kind):
    convs = [nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, 2)]
    assert A.receptive_field([convs[0], instance(kind), convs[1]]) == (5, 5)
    assert A.layer_geometry(instance(kind)) is None


@pytest.mark.parametrize("kind", [nn.ReLU6, nn.Hardswish, nn.Mish, nn.SELU, nn.Softplus, nn.PReLU])
def test_activations_once_unknown_to_receptive_field(kind):
    """ReLU6, Hardswish and Mish were known to summary() but not to receptive_field()."""
    assert A.layer_facts(kind()).pointwise
    assert A.receptive_field([nn.Conv2d(1, 1, 3), kind(), nn.MaxPool2d(2)]) == (4, 4)


def test_mish_and_hardswish_by_backprop():
    for kind in (nn.Mish, nn.Hardswish):
        layers = [nn.Conv2d(1, 1, 3), kind(), nn.Conv2d(1, 1, 3, 2)]
        assert A.receptive_field(layers) == measured_field(layers) == (5, 5)


def test_layer_facts_table():
    """One table: which layers are pointwise, which cost nothing, each window layer's geometry."""
    assert A.layer_facts(nn.Conv2d(1, 1, 3)).geometry is not None and not A.layer_facts(nn.Conv2d(1, 1, 3)).free
    assert A.layer_geometry(nn.Conv2d(1, 1, 3, stride=(1, 2), dilation=2)) == ((5, 5), (1, 2))
    assert A.layer_geometry(nn.MaxPool2d(2, dilation=2)) == ((3, 3), (2, 2))
    assert A.layer_geometry(nn.MaxPool2d(3, stride=())) == ((3, 3), (3, 3))  # an empty stride is the kernel
    assert A.layer_geometry(nn.AvgPool2d((2, 3), (1,))) == ((2, 3), (1, 1))
    assert A.layer_geometry((3, 2, 2)) == ((5, 5), (2, 2))
    assert A.layer_facts(nn.Flatten()).free and not A.layer_facts(nn.Flatten()).pointwise
    assert A.layer_facts(nn.Linear(2, 2)) is None and A.layer_facts(nn.ConvTranspose2d(1, 1, 3)) is None
    with pytest.raises(ConvlabError, match=r"cannot follow a receptive field through Flatten"):
        A.layer_geometry(nn.Flatten())
    # subclasses find their base class's facts
    class MyConv(nn.Conv2d):
        pass

    assert A.layer_geometry(MyConv(1, 1, 3)) == ((3, 3), (1, 1))
    for kind in A.LAYER_FACTS:
        instance(kind)  # every kind in the table can be built (and so is tested)
    assert set(A.POINTWISE_LAYERS) <= set(A.LAYER_FACTS) and set(A.ZERO_COST_LAYERS) <= set(A.LAYER_FACTS)


def test_receptive_field_reads_the_table(monkeypatch):
    class Swish(nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(x)

    layers = [nn.Conv2d(1, 1, 3), Swish(), nn.Conv2d(1, 1, 3)]
    with pytest.raises(ConvlabError, match=r"cannot follow layer 1 \(Swish\)"):
        A.receptive_field(layers)
    monkeypatch.setitem(A.LAYER_FACTS, Swish, A.LayerFacts(pointwise=True, free=True))
    assert A.receptive_field(layers) == (5, 5)


def test_one_element_tuples_as_torch_takes_them():
    assert A.conv2d_output_shape(28, (3,), (2,), (1,), (2,)) == torch_conv(28, 3, (2,), (1,), (2,)) == (13, 13)
    assert A.pool2d_output_shape(9, (3,), (), (1,)) == torch_max_pool(9, 3, (), (1,)) == (3, 3)
    assert A.pool2d_output_shape(9, 3, (2,), (1,), (2,)) == torch_max_pool(9, 3, (2,), (1,), (2,)) == (4, 4)
    assert A.conv_transpose2d_output_shape(5, (3,), (2,), (1,), (1,), (1,)) == torch_conv_t(5, 3, (2,), 1, (1,), 1)
    assert torch_conv(28, 3, ()) is None
    with pytest.raises(ConvlabError, match=r"stride must be an int or an \(h, w\) pair, got \(\) with 0 entries"):
        A.conv2d_output_shape(28, 3, ())


def test_receptive_field_refuses_linear():
    layers = [nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 2)]
    with pytest.raises(ConvlabError, match=r"(?s)cannot follow layer 1 \(Flatten\).*Fix: pass only the convolutional"):
        A.receptive_field(layers)
    with pytest.raises(ConvlabError, match=r"(?s)cannot follow layer 0 \(Linear\).*Fix:.*before Flatten / Linear"):
        A.receptive_field([nn.Linear(4, 2)])
    with pytest.raises(ConvlabError, match=r"(?s)needs a list of layers, got int"):
        A.receptive_field(5)


def random_layer(kind, k, s, d, p):
    if kind == "conv":
        return nn.Conv2d(1, 1, k, s, p, d)
    if kind == "max":
        return nn.MaxPool2d(k, s, tuple(min(q, kk // 2) for q, kk in zip(p, k)), d)
    if kind == "avg":
        return nn.AvgPool2d(k, s, tuple(min(q, kk // 2) for q, kk in zip(p, k)))
    return {"relu": nn.ReLU(), "bn": nn.BatchNorm2d(1)}[kind]


layer_specs = st.tuples(
    st.sampled_from(["conv", "conv", "max", "avg", "relu", "bn"]),
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.tuples(st.integers(1, 2), st.integers(1, 2)),
    st.tuples(st.integers(1, 2), st.integers(1, 2)),
    st.tuples(st.integers(0, 1), st.integers(0, 1)),
)


@settings(max_examples=30)
@given(specs=st.lists(layer_specs, min_size=1, max_size=4))
def test_receptive_field_random_stacks(specs):
    layers = [random_layer(*spec) for spec in specs]
    assert A.receptive_field(layers) == measured_field(layers)


# ---------------------------------------------------------------- errors: the numbers and the fix


def test_error_negative_padding():
    with pytest.raises(
        ConvlabError, match=r"(?s)padding must be 0 or more .* got padding=\(-1, -1\).*Fix: use padding=0"
    ):
        A.conv2d_output_shape(28, 3, padding=-1)
    with pytest.raises(ConvlabError, match=r"(?s)got padding=\(0, -2\)"):
        A.pool2d_output_shape(28, 3, padding=(0, -2))
    assert torch_conv(28, 3, 1, -1) is None and torch_max_pool(28, 3, 1, (0, -2)) is None


def test_error_zero_stride():
    with pytest.raises(
        ConvlabError, match=r"(?s)stride must be at least 1 .* got stride=\(0, 0\).*Fix:.*move one pixel"
    ):
        A.conv2d_output_shape(28, 3, stride=0)
    assert torch_conv(28, 3, 0) is None
    with pytest.raises(ConvlabError, match=r"(?s)stride=\(1, 0\)"):
        A.pool2d_output_shape(28, 3, stride=(1, 0))
    with pytest.raises(ConvlabError, match=r"(?s)dilation must be at least 1 .* got dilation=\(0, 0\).*no gaps"):
        A.conv2d_output_shape(28, 3, dilation=0)


def test_error_kernel_bigger_than_padded_input():
    with pytest.raises(
        ConvlabError,
        match=r"(?s)input is 4×4, padded to 4×4 \(padding 0×0 per side\), but kernel_size 7×7 .* spans 7×7"
        r".*Fix: .*padding of at least 2×2 per side",
    ):
        A.conv2d_output_shape(4, 7)
    # the fix is right: padding 2 fits in torch, padding 1 does not
    assert torch_conv(4, 7, 1, 2) == (2, 2)
    assert torch_conv(4, 7, 1, 1) is None
    with pytest.raises(ConvlabError, match=r"(?s)kernel_size 3×3 with dilation 3×3 spans 7×7"):
        A.conv2d_output_shape(5, 3, dilation=3)


def test_error_groups_not_dividing_channels():
    with pytest.raises(
        ConvlabError, match=r"(?s)groups=4 must divide out_channels=6.*Fix: .*divisors .*: \[1, 2, 3, 6\]"
    ):
        A.conv2d_params(12, 6, 3, groups=4)
    # every divisor listed works in torch; every other groups value fails
    works = [g for g in range(1, 13) if torch_params(12, 6, 3, groups=g) is not None]
    assert works == [1, 2, 3, 6]
    with pytest.raises(ConvlabError, match=r"(?s)groups=4 must divide in_channels=10"):
        A.conv2d_params(10, 8, 3, groups=4)
    with pytest.raises(ConvlabError, match=r"(?s)in_channels must be at least 1, got 0"):
        A.conv2d_params(0, 8, 3)
    with pytest.raises(ConvlabError, match=r"(?s)bias must be True or False, got 1"):
        A.conv2d_params(3, 8, 3, bias=1)


def test_error_output_padding_too_big():
    with pytest.raises(
        ConvlabError,
        match=r"(?s)output_padding 2×2, stride 2×2, dilation 1×1.*Fix:.*use at most 1×1",
    ):
        A.conv_transpose2d_output_shape(5, 3, stride=2, output_padding=2)
    assert torch_conv_t(5, 3, 2, 0, 2) is None and torch_conv_t(5, 3, 2, 0, 1) == (12, 12)
    with pytest.raises(ConvlabError, match=r"(?s)output would be 0×0: padding 2×2 crops"):
        A.conv_transpose2d_output_shape(1, 4, 2, 2)
    with pytest.raises(ConvlabError, match=r"(?s)padding='same' is not supported by transposed"):
        A.conv_transpose2d_output_shape(5, 3, padding="same")


def test_error_same_with_stride():
    with pytest.raises(
        ConvlabError, match=r"(?s)padding='same' needs stride 1, got stride=\(2, 2\).*Fix:.*padding_for"
    ):
        A.conv2d_output_shape(8, 3, 2, "same")
    with pytest.raises(ConvlabError, match=r"(?s)padding='full' is not a padding torch knows.*\['same', 'valid'\]"):
        A.conv2d_output_shape(8, 3, padding="full")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_hw": True}, r"input_hw must be an integer, got True \(bool\).*Fix: pass a whole number"),
        ({"kernel_size": 3.0}, r"kernel_size must be an integer, got 3.0 \(float\)"),
        ({"kernel_size": (3, 2.5)}, r"kernel_size must be an integer, got 2.5 \(float\)"),
        ({"stride": "2"}, r"stride must be an integer or an \(h, w\) pair of integers, got '2' \(str\)"),
        ({"kernel_size": (3, 3, 3)}, r"kernel_size must be an int or an \(h, w\) pair, got \(3, 3, 3\) with 3"),
        ({"dilation": ()}, r"dilation must be an int or an \(h, w\) pair, got \(\) with 0 entries"),
        ({"padding": [1, 1, 1, 1]}, r"padding must be .* with 4 entries"),
        ({"input_hw": 0}, r"input_hw must be at least 1 in each dimension, got input_hw=\(0, 0\)"),
        ({"kernel_size": None}, r"kernel_size must be an integer or an \(h, w\) pair of integers, got None"),
    ],
)
def test_error_bad_size_types(kwargs, message):
    args = {"input_hw": 28, "kernel_size": 3} | kwargs
    with pytest.raises(ConvlabError, match="(?s)" + message):
        A.conv2d_output_shape(**args)


def test_sizes_accept_ints_of_other_kinds():
    import numpy as np

    assert A.conv2d_output_shape(np.int64(28), torch.tensor(3)) == (26, 26)
    assert A.conv2d_output_shape(torch.Size([304, 228]), [7, 7], (2, 2), 3) == (152, 114)


def test_error_pool_padding_over_half_kernel():
    with pytest.raises(
        ConvlabError, match=r"(?s)at most half the kernel size: got padding 2×2 with kernel_size 3×3 \(at most 1×1\)"
    ):
        A.pool2d_output_shape(8, 3, 1, 2)
    assert torch_max_pool(8, 3, 1, 2) is None and torch_max_pool(8, 3, 1, 1) == (8, 8)
    with pytest.raises(ConvlabError, match=r"(?s)output would be 0×0.*Fix:.*ceil_mode=True"):
        A.pool2d_output_shape(1, 3)
    # the suggested fixes work: ceil_mode, or more padding
    assert torch_max_pool(1, 3, ceil=True) == A.pool2d_output_shape(1, 3, ceil_mode=True) == (1, 1)
    assert torch_max_pool(1, 3, p=1) == A.pool2d_output_shape(1, 3, padding=1) == (1, 1)
