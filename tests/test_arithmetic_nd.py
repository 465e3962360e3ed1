"""convlab.arithmetic in one, two and three dimensions, against torch itself.

conv_output_shape, pool_output_shape and conv_transpose_output_shape take an input
size whose length (1, 2 or 3) sets the dimension. Every expected size here comes
from running torch's own modules (nn.Conv1d/2d/3d, nn.MaxPool1d/2d/3d,
nn.AvgPool1d/2d/3d, nn.ConvTranspose1d/2d/3d); wherever torch refuses a
configuration, convlab must raise ConvlabError, never another exception or a size.

Convolutions and pooling run on the 'meta' device: torch checks the shapes there
as on the CPU and computes nothing, so even 3-D cases cost nothing (one check
'meta' skips, a kernel with the wrong number of dimensions, runs on the CPU).
Transposed convolutions run on the CPU in float64: on 'meta' torch accepts an
output_padding as large as the stride and a zero-sized output, which the CPU
refuses (test_meta_transposed_convolution_is_not_a_reference shows it).
"""

import warnings
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlab import ConvlabError
from convlab import arithmetic as A

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

F64 = torch.float64
META = "meta"
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


# ---------------------------------------------------------------- torch's answer, convlab's answer


def torch_size(build, size, device=META, dtype=torch.float32):
    """The last len(size) sizes of what a freshly built torch module gives on a (1, 1, *size) input;
    None where torch refuses, when building the module or when running it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = build()
            out = layer(torch.zeros(1, 1, *size, device=device, dtype=dtype))
    except Exception:  # torch refuses with RuntimeError, ValueError or TypeError
        return None
    return tuple(out.shape[-len(size):])


def torch_conv(i, k, s=1, p=0, d=1):
    return torch_size(lambda: CONV[len(i)](1, 1, k, s, p, d, bias=False, device=META), i)


def torch_max_pool(i, k, s=None, p=0, d=1, ceil=False):
    return torch_size(lambda: MAX_POOL[len(i)](k, s, p, d, ceil_mode=ceil), i)


def torch_avg_pool(i, k, s=None, p=0, ceil=False, count_include_pad=True):
    return torch_size(lambda: AVG_POOL[len(i)](k, s, p, ceil_mode=ceil, count_include_pad=count_include_pad), i)


def torch_conv_t(i, k, s=1, p=0, a=0, d=1):
    build = lambda: CONV_T[len(i)](1, 1, k, s, p, a, bias=False, dilation=d, dtype=F64)  # noqa: E731
    return torch_size(build, i, device="cpu", dtype=F64)


def convlab_size(run):
    """convlab's size, or None where it raises ConvlabError (anything else fails the test)."""
    try:
        return tuple(run())
    except ConvlabError:
        return None


# ---------------------------------------------------------------- case tables

UNSTATED = "unstated"


@dataclass(frozen=True)
class Case:
    id: str
    input: tuple
    kernel: object
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    ceil_mode: bool = False
    output_padding: object = 0
    expected: object = UNSTATED  # the size worked out by hand; None: torch refuses


def params(cases):
    return [pytest.param(c, id=c.id) for c in cases]


CONV_CASES = [
    # 1-D: a signal of length i
    Case("1d 100 k5", (100,), 5, expected=(96,)),
    Case("1d moving average same", (100,), 5, padding="same", expected=(100,)),
    Case("1d k3 s2 p1", (28,), 3, 2, 1, expected=(14,)),
    Case("1d dilation 2", (16,), 3, 1, 0, 2, expected=(12,)),
    Case("1d valid", (9,), 4, padding="valid", expected=(6,)),
    Case("1d same even kernel dilated", (7,), 4, padding="same", dilation=2, expected=(7,)),
    Case("1d 1-tuples", (50,), (7,), (3,), (2,), (1,), expected=(16,)),
    Case("1d kernel equals input", (5,), 5, expected=(1,)),
    Case("1d kernel fits only with padding", (3,), 5, padding=1, expected=(1,)),
    Case("1d kernel bigger than input", (4,), 7, expected=None),
    Case("1d dilated kernel bigger than input", (5,), 3, dilation=3, expected=None),
    Case("1d same with stride 2", (8,), 3, 2, "same", expected=None),
    # 2-D through the n-D function
    Case("2d stem 304x228 k7 s2 p3", (304, 228), 7, 2, 3, expected=(152, 114)),
    Case("2d asymmetric", (17, 9), (3, 2), (2, 1), (1, 0), (1, 3)),
    # 3-D: a clip or volume of d frames of h × w
    Case("3d clip 8x64x64 k3", (8, 64, 64), 3, expected=(6, 62, 62)),
    Case("3d k3 p1 keeps the size", (16, 112, 112), 3, 1, 1, expected=(16, 112, 112)),
    Case("3d stem (3,7,7) s(1,2,2) p(1,3,3)", (8, 64, 64), (3, 7, 7), (1, 2, 2), (1, 3, 3), expected=(8, 32, 32)),
    Case("3d same dilated", (5, 6, 7), (3, 2, 4), padding="same", dilation=(1, 2, 1), expected=(5, 6, 7)),
    Case("3d valid", (5, 6, 7), 3, padding="valid", expected=(3, 4, 5)),
    Case("3d asymmetric everything", (9, 17, 8), (2, 3, 2), (1, 2, 3), (1, 0, 1), (2, 1, 1)),
    Case("3d 1-tuples", (9, 10, 11), 3, (2,), (1,), (1,), expected=(5, 5, 6)),
    Case("3d kernel deeper than clip", (2, 32, 32), 3, expected=None),
    Case("3d depth fits with padding", (2, 32, 32), 3, 1, (1, 0, 0), expected=(2, 30, 30)),
    Case("3d same with stride in one dimension", (8, 8, 8), 3, (1, 1, 2), "same", expected=None),
]


@pytest.mark.parametrize("case", params(CONV_CASES))
def test_conv_output_shape_matches_torch(case):
    want = torch_conv(case.input, case.kernel, case.stride, case.padding, case.dilation)
    got = convlab_size(lambda: A.conv_output_shape(case.input, case.kernel, case.stride, case.padding, case.dilation))
    assert got == want
    if case.expected is not UNSTATED:
        assert want == case.expected  # the size worked out by hand is what torch computes


def test_conv_same_and_valid_as_torch_pads():
    """'same' resolved per dimension to (before, after): F.pad then a 'valid' conv equals torch's 'same'."""
    torch.manual_seed(0)
    for size, kernel, dilation in [((11,), (4,), (2,)), ((5, 6, 7), (3, 2, 4), (1, 2, 1))]:
        n = len(size)
        pads = A.conv_padding("same", kernel, 1, dilation, ndim=n)
        assert len(pads) == n
        x = torch.randn(1, 1, *size, dtype=F64)
        w = torch.randn(1, 1, *kernel, dtype=F64)
        conv = getattr(F, f"conv{n}d")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            same = conv(x, w, padding="same", dilation=dilation)
        flat = [side for before_after in reversed(pads) for side in before_after]  # F.pad: last dim first
        torch.testing.assert_close(conv(F.pad(x, flat), w, dilation=dilation), same)
        assert A.conv_padding("valid", kernel, 1, dilation, ndim=n) == ((0, 0),) * n


POOL_CASES = [
    # 1-D
    Case("1d pool 2", (100,), 2, None, expected=(50,)),
    Case("1d floor drops the odd sample", (7,), 2, None, expected=(3,)),
    Case("1d ceil keeps a partial window", (7,), 2, None, ceil_mode=True, expected=(4,)),
    Case("1d ceil drops window starting in padding", (5,), 2, 2, 1, ceil_mode=True, expected=(3,)),
    Case("1d ceil window larger than input", (1,), 2, 2, ceil_mode=True, expected=(1,)),
    Case("1d floor window larger than input", (1,), 2, 2, expected=None),
    Case("1d k3 s2 p1", (9,), 3, 2, 1, expected=(5,)),
    Case("1d dilated", (9,), 3, 2, 1, 2, expected=(4,)),
    Case("1d empty stride means kernel", (10,), (3,), (), (1,), expected=(4,)),
    Case("1d padding over half the kernel", (8,), 3, 1, 2, expected=None),
    # 3-D
    Case("3d pool (1,2,2) keeps frames", (8, 64, 64), (1, 2, 2), None, expected=(8, 32, 32)),
    Case("3d pool 2", (8, 64, 64), 2, None, expected=(4, 32, 32)),
    Case("3d ceil drops windows starting in padding", (5, 5, 5), 2, 2, 1, ceil_mode=True, expected=(3, 3, 3)),
    Case("3d ceil, stride defaults to kernel", (5, 6, 7), (2, 3, 2), None, ceil_mode=True, expected=(3, 2, 4)),
    Case("3d depth too small", (2, 9, 9), 3, None, expected=None),
    Case("3d depth too small, ceil", (2, 9, 9), 3, None, ceil_mode=True, expected=(1, 3, 3)),
    Case("3d depth too small, padded", (2, 9, 9), 3, 1, 1, expected=(2, 9, 9)),
    Case("3d asymmetric ceil", (9, 13, 11), (2, 3, 2), (2, 1, 2), (1, 0, 1), ceil_mode=True),
    Case("3d dilated", (7, 7, 7), 3, 1, 0, 2, expected=(3, 3, 3)),
    Case("3d dilated ceil", (9, 8, 7), 2, 2, 1, (2, 3, 1), ceil_mode=True),
    Case("3d padding over half in one dimension", (8, 8, 8), 3, 1, (1, 2, 1), expected=None),
    # 2-D through the n-D function
    Case("2d stem pool", (152, 114), 3, 2, 1, expected=(76, 57)),
]


@pytest.mark.parametrize("case", params(POOL_CASES))
def test_pool_output_shape_matches_max_pool(case):
    want = torch_max_pool(case.input, case.kernel, case.stride, case.padding, case.dilation, case.ceil_mode)
    got = convlab_size(
        lambda: A.pool_output_shape(case.input, case.kernel, case.stride, case.padding, case.dilation, case.ceil_mode)
    )
    assert got == want
    if case.expected is not UNSTATED:
        assert want == case.expected


@pytest.mark.parametrize("case", params([c for c in POOL_CASES if c.dilation == 1]))
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_pool_output_shape_matches_avg_pool(case, count_include_pad):
    want = torch_avg_pool(case.input, case.kernel, case.stride, case.padding, case.ceil_mode, count_include_pad)
    got = convlab_size(
        lambda: A.pool_output_shape(case.input, case.kernel, case.stride, case.padding, 1, case.ceil_mode, kind="avg")
    )
    assert got == want


CONV_T_CASES = [
    Case("1d T doubles k4 s2 p1", (50,), 4, 2, 1, expected=(100,)),
    Case("1d T output_padding picks the odd size", (3,), 3, 2, 1, output_padding=1, expected=(6,)),
    Case("1d T output_padding equals stride", (3,), 3, 2, 1, output_padding=2, expected=None),
    Case("1d T padding crops everything", (1,), 4, 2, 2, expected=None),
    Case("1d T dilation", (3,), 3, 1, 0, 2, expected=(7,)),
    Case("3d T doubles h, w", (4, 16, 16), (3, 4, 4), (1, 2, 2), 1, expected=(4, 32, 32)),
    Case("3d T output_padding per dimension", (4, 16, 16), (3, 4, 4), (1, 2, 2), 1, output_padding=(0, 1, 1),
         expected=(4, 33, 33)),
    Case("3d T strides", (2, 3, 4), 3, (2, 1, 2), 0, output_padding=(1, 0, 1), expected=(6, 5, 10)),
    Case("3d T output_padding with stride 1", (2, 3, 4), 3, (2, 1, 2), output_padding=(1, 1, 0), expected=None),
    Case("3d T asymmetric", (3, 5, 4), (2, 3, 2), (2, 1, 3), (0, 1, 1), (1, 2, 1), output_padding=(1, 1, 2)),
    Case("2d T gan generator", (7, 7), 4, 2, 1, expected=(14, 14)),
]


@pytest.mark.parametrize("case", params(CONV_T_CASES))
def test_conv_transpose_output_shape_matches_torch(case):
    want = torch_conv_t(case.input, case.kernel, case.stride, case.padding, case.output_padding, case.dilation)
    got = convlab_size(
        lambda: A.conv_transpose_output_shape(
            case.input, case.kernel, case.stride, case.padding, case.output_padding, case.dilation
        )
    )
    assert got == want
    if case.expected is not UNSTATED:
        assert want == case.expected


def test_meta_transposed_convolution_is_not_a_reference():
    """Why the transposed cases run on the CPU: 'meta' accepts what the CPU refuses."""
    x = torch.zeros(1, 1, 3, device=META)
    w = torch.zeros(1, 1, 3, device=META)
    assert F.conv_transpose1d(x, w, stride=2, padding=1, output_padding=2).shape[-1] == 7
    assert torch_conv_t((3,), 3, 2, 1, 2) is None


# ---------------------------------------------------------------- hypothesis: random configurations


def per_dimension(n, low, high):
    """An int, or a tuple of n ints (a 1-tuple too, as torch takes it, in 1-D)."""
    return st.integers(low, high) | st.tuples(*[st.integers(low, high)] * n)


@st.composite
def configurations(draw, max_size=12, max_kernel=5):
    n = draw(st.sampled_from([1, 2, 3]))
    size = draw(st.tuples(*[st.integers(1, max_size)] * n))
    return n, size, lambda low, high: draw(per_dimension(n, low, high))


@settings(max_examples=150, deadline=None)
@given(configurations(), st.data())
def test_conv_output_shape_random(config, data):
    n, i, sizes = config
    k, s, d = sizes(1, 5), sizes(1, 3), sizes(1, 3)
    p = data.draw(per_dimension(n, 0, 3) | st.sampled_from(["same", "valid"]))
    assert convlab_size(lambda: A.conv_output_shape(i, k, s, p, d)) == torch_conv(i, k, s, p, d)


@settings(max_examples=150, deadline=None)
@given(configurations(), st.booleans(), st.data())
def test_pool_output_shape_random_max_pool(config, ceil, data):
    n, i, sizes = config
    k, p, d = sizes(1, 5), sizes(0, 3), sizes(1, 3)
    s = data.draw(st.none() | per_dimension(n, 1, 4))
    assert convlab_size(lambda: A.pool_output_shape(i, k, s, p, d, ceil)) == torch_max_pool(i, k, s, p, d, ceil)


@settings(max_examples=100, deadline=None)
@given(configurations(), st.booleans(), st.booleans(), st.data())
def test_pool_output_shape_random_avg_pool(config, ceil, count, data):
    n, i, sizes = config
    k, p = sizes(1, 5), sizes(0, 3)
    s = data.draw(st.none() | per_dimension(n, 1, 4))
    got = convlab_size(lambda: A.pool_output_shape(i, k, s, p, 1, ceil, kind="avg"))
    assert got == torch_avg_pool(i, k, s, p, ceil, count)


@settings(max_examples=120, deadline=None)
@given(configurations(max_size=8))
def test_conv_transpose_output_shape_random(config):
    n, i, sizes = config
    k, s, p, a, d = sizes(1, 4), sizes(1, 3), sizes(0, 3), sizes(0, 3), sizes(1, 3)
    got = convlab_size(lambda: A.conv_transpose_output_shape(i, k, s, p, a, d))
    assert got == torch_conv_t(i, k, s, p, a, d)


@settings(max_examples=80, deadline=None)
@given(
    i=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    k=st.integers(1, 5) | st.tuples(st.integers(1, 5), st.integers(1, 5)),
    s=st.integers(1, 3),
    p=st.integers(0, 3),
    d=st.integers(1, 2),
    a=st.integers(0, 2),
    ceil=st.booleans(),
)
def test_2d_names_are_the_n_d_functions_in_2d(i, k, s, p, d, a, ceil):
    """The 2-D names keep their behaviour: the same sizes and the same refusals as the n-D functions."""
    pairs = [
        (lambda: A.conv2d_output_shape(i, k, s, p, d), lambda: A.conv_output_shape(i, k, s, p, d)),
        (lambda: A.pool2d_output_shape(i, k, s, p, d, ceil), lambda: A.pool_output_shape(i, k, s, p, d, ceil)),
        (lambda: A.conv_transpose2d_output_shape(i, k, s, p, a, d),
         lambda: A.conv_transpose_output_shape(i, k, s, p, a, d)),
    ]  # fmt: skip
    for two_d, n_d in pairs:
        assert convlab_size(two_d) == convlab_size(n_d)


@settings(max_examples=60, deadline=None)
@given(configurations(max_size=20), st.data())
def test_each_dimension_follows_the_1d_rule(config, data):
    """The n-D size is the 1-D size of each dimension on its own, as the chapter states."""
    n, i, _ = config
    k = data.draw(st.tuples(*[st.integers(1, 5)] * n))
    s = data.draw(st.tuples(*[st.integers(1, 3)] * n))
    p = data.draw(st.tuples(*[st.integers(0, 2)] * n))
    whole = convlab_size(lambda: A.conv_output_shape(i, k, s, p))
    alone = [convlab_size(lambda j=j: A.conv_output_shape((i[j],), k[j], s[j], p[j])) for j in range(n)]
    assert whole == (None if None in alone else tuple(o for (o,) in alone))


# ---------------------------------------------------------------- errors: the numbers and the fix


def test_error_tuple_of_the_wrong_length():
    with pytest.raises(ConvlabError) as info:
        A.conv_output_shape((100,), (3, 3))
    assert info.value.problem == (
        "conv_output_shape: kernel_size=(3, 3) has 2 entries, but the input (100,) has 1 dimension (length,), "
        "so a Conv1d needs one kernel_size per dimension."
    )
    assert "as one int for every dimension or as a 1-tuple (length,)" in info.value.fix
    assert "if the layer is Conv2d, give input_size 2 sizes" in info.value.fix
    # on 'meta' a Conv1d runs with a 2-D kernel (it never looks at the weight's dimension); the CPU refuses
    assert torch_size(lambda: nn.Conv1d(1, 1, (3, 3)), (100,), device="cpu") is None
    with pytest.raises(ConvlabError, match=r"stride=\(1, 2\) has 2 entries, but the input \(8, 64, 64\) has 3"):
        A.pool_output_shape((8, 64, 64), 2, (1, 2))
    assert torch_max_pool((8, 64, 64), 2, (1, 2)) is None
    with pytest.raises(ConvlabError, match=r"output_padding=\(1, 1, 1\) has 3 entries, but the input \(5, 5\)"):
        A.conv_transpose_output_shape((5, 5), 3, 2, output_padding=(1, 1, 1))


@pytest.mark.parametrize(
    ("input_size", "problem", "fix"),
    [
        (28, "needs input_size as a tuple with one size per dimension, got 28",
         "pass (28,) for a signal (Conv1d), (28, 28) for an image (Conv2d) or (28, 28, 28) for a volume"),
        ((1, 3, 28, 28), "got input_size=(1, 3, 28, 28) with 4 entries, but torch's convolutions slide over 1, 2",
         "for a tensor of shape (1, 3, 28, 28) that is input_size=(28, 28)."),
        ((), "got input_size=() with 0 entries", "(length,), (height, width) or (depth, height, width)"),
        ((8, 0, 8), "input_size must be at least 1 in each dimension, got input_size=(8, 0, 8)", "positive"),
        ((8.0,), "input_size must be an integer, got 8.0 (float)", "whole number"),
    ],
)  # fmt: skip
def test_error_input_size(input_size, problem, fix):
    with pytest.raises(ConvlabError) as info:
        A.conv_output_shape(input_size, 3)
    assert problem in info.value.problem and fix in info.value.fix


def test_error_messages_name_the_numbers_in_each_dimension():
    with pytest.raises(ConvlabError) as info:
        A.conv_output_shape((4,), 7)
    assert "the input is 4, padded to 4 (padding 0 per side), but kernel_size 7" in info.value.problem
    assert "padding of at least 2 per side" in info.value.fix
    assert torch_conv((4,), 7, 1, 2) == (2,) and torch_conv((4,), 7, 1, 1) is None  # the fix works
    with pytest.raises(ConvlabError, match=r"got padding 1×2×1 with kernel_size 3×3×3 \(at most 1×1×1\)"):
        A.pool_output_shape((8, 8, 8), 3, 1, (1, 2, 1))
    with pytest.raises(ConvlabError, match=r"(?s)the output would be 0×3×3.*Fix:.*ceil_mode=True"):
        A.pool_output_shape((2, 9, 9), 3)
    with pytest.raises(ConvlabError) as info:
        A.conv_transpose_output_shape((2, 3, 4), 3, (2, 1, 2), output_padding=(1, 1, 0))
    assert "output_padding 1×1×0, stride 2×1×2, dilation 1×1×1" in info.value.problem
    assert "use at most 1×0×1" in info.value.fix
    with pytest.raises(ConvlabError, match=r"padding='same' is not supported.*\n.*a \(d, h, w\) triple"):
        A.conv_transpose_output_shape((4, 4, 4), 3, padding="same")
    with pytest.raises(ConvlabError, match=r"padding='same' needs stride 1, got stride=\(1, 1, 2\)"):
        A.conv_output_shape((8, 8, 8), 3, (1, 1, 2), "same")


def test_error_words_per_dimension():
    with pytest.raises(ConvlabError) as info:
        A.conv_output_shape((8, 8, 8), "3")
    assert "kernel_size must be an integer or a (d, h, w) triple of integers, got '3' (str)" in info.value.problem
    assert "or a triple such as kernel_size=(3, 3, 3)" in info.value.fix
    with pytest.raises(ConvlabError) as info:
        A.conv_output_shape((100,), 3, padding=(0, -1)[1:])
    assert "got padding=(-1,), which is negative" in info.value.problem and "x[..., a:-a]" in info.value.fix
    with pytest.raises(ConvlabError) as info:
        A.conv_output_shape((8, 8, 8), 3, padding=(0, -1, 0))
    assert "x[..., a:-a, b:-b, c:-c]" in info.value.fix
    with pytest.raises(ConvlabError, match=r"use one of \['same', 'valid'\], an int, or a 1-tuple"):
        A.conv_output_shape((100,), 3, padding="full")


def test_effective_kernel_size_and_padding_in_n_d():
    assert A.effective_kernel_size((3, 3, 3), 2) == (5, 5, 5)
    assert A.effective_kernel_size(3, (1, 2, 3)) == (3, 5, 7)
    assert A.effective_kernel_size((4,), 2, ndim=1) == (7,)
    assert A.effective_kernel_size(3, 2) == (5, 5)  # ints alone: 2-D, as before
    assert A.conv_padding((1, 2, 3), 3) == ((1, 1), (2, 2), (3, 3))
    assert A.conv_padding("same", (4,), ndim=1) == ((1, 2),)
    assert A.conv2d_padding("same", 4) == ((1, 2), (1, 2))


def test_avg_pool_3d_refusal_and_its_fix():
    """AvgPool3d alone checks the unpadded input against the kernel; the suggested fix (F.pad, then
    padding=0) averages the same zeros where AvgPool3d accepts, and works where it refuses."""
    with pytest.raises(ConvlabError) as info:
        A.pool_output_shape((2, 9, 9), 3, 2, 1, kind="avg")
    assert "the input is 2×9×9, kernel_size 3×3×3" in info.value.problem
    assert "pad the input yourself (F.pad) and give AvgPool3d padding=0" in info.value.fix
    assert torch_avg_pool((2, 9, 9), 3, 2, 1) is None
    assert A.pool_output_shape((2, 9, 9), 3, 2, 1) == torch_max_pool((2, 9, 9), 3, 2, 1) == (1, 5, 5)
    torch.manual_seed(0)
    x = torch.rand(1, 1, 4, 9, 9, dtype=F64)
    padded = F.pad(x, (1,) * 6)
    torch.testing.assert_close(nn.AvgPool3d(3, 2)(padded), nn.AvgPool3d(3, 2, 1)(x))
    short = F.pad(torch.rand(1, 1, 2, 9, 9, dtype=F64), (1,) * 6)
    assert tuple(nn.AvgPool3d(3, 2)(short).shape[2:]) == A.pool_output_shape((2, 9, 9), 3, 2, 1)
    with pytest.raises(ConvlabError, match=r"Average pooling has no dilation, got dilation 2×2"):
        A.pool_output_shape((9, 9), 3, dilation=2, kind="avg")
    with pytest.raises(ConvlabError, match=r"kind='min' is not a pooling convlab knows.*\n.*\['avg', 'max'\]"):
        A.pool_output_shape((9,), 3, kind="min")
