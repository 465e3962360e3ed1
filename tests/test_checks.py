"""convlab.check_conv2d / check_conv_transpose2d against the real layers.

Where the real layer runs, the check returns exactly its output shape; where the
real layer raises, the check raises ConvlabError, with a message that names the
channel counts, the weight shape and the fix.
"""

import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from torch import nn

import convlab
from convlab import ConvlabError, check_conv2d, check_conv_transpose2d

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

F64 = torch.float64


def has(*parts):
    """A pattern matching a message that contains each part, in order (across lines)."""
    return "(?s)" + ".*".join(re.escape(p) for p in parts)


def torch_shape(run):
    """The shape torch produces, or None where it raises."""
    try:
        return run().shape
    except Exception:
        return None


def note_outcome(label):
    """Record refused / accepted in hypothesis statistics (--hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(label)


def check_shape(run):
    """check_*'s shape, or None where it raises ConvlabError (anything else fails the test)."""
    try:
        shape = run()
    except ConvlabError as e:
        note_outcome("refused: " + " ".join(str(e).split()[:2]))
        return None
    note_outcome("accepted")
    return shape


# ---------------------------------------------------------------- the shape the layer produces

LAYER_CASES = [
    pytest.param(nn.Conv2d(1, 5, 3), (1, 1, 28, 28), id="seed000 Conv2d(1, 5, 3) -> 1x5x26x26"),
    pytest.param(nn.Conv2d(12, 6, 3, groups=3), (2, 12, 7, 7), id="seed001 groups=3"),
    pytest.param(nn.Conv2d(3, 64, 7, 2, 3, bias=False), (1, 3, 304, 228), id="seed001 stem"),
    pytest.param(nn.Conv2d(3, 6, 3), (64, 3, 32, 32), id="seed003 cifar batch 64"),
    pytest.param(nn.Conv2d(1, 64, 4, 2, 1), (1, 1, 28, 28), id="seed004 discriminator"),
    pytest.param(nn.Conv2d(3, 2, 3, 2, 1), (3, 5, 5), id="seed004 cs231n unbatched"),
    pytest.param(nn.Conv2d(4, 4, 3, groups=4, padding="same"), (2, 4, 6, 5), id="depthwise same"),
    pytest.param(nn.Conv2d(2, 3, (3, 2), (2, 1), (1, 0), (1, 2)), (1, 2, 9, 8), id="asymmetric"),
    pytest.param(nn.Conv2d(2, 3, 3, padding=2, padding_mode="reflect"), (1, 2, 3, 3), id="reflect at limit"),
    pytest.param(nn.Conv2d(2, 3, 3, padding=3, padding_mode="circular"), (1, 2, 3, 3), id="circular at limit"),
    pytest.param(nn.Conv2d(2, 3, 3, padding=5, padding_mode="replicate"), (1, 2, 2, 2), id="replicate any padding"),
    pytest.param(nn.Conv2d(2, 3, 4, padding="same", padding_mode="reflect"), (1, 2, 5, 5), id="same reflect"),
]


@pytest.mark.parametrize("layer, shape", LAYER_CASES)
def test_check_conv2d_returns_the_layer_output_shape(layer, shape):
    x = torch.zeros(shape)
    assert check_conv2d(layer, x) == layer(x).shape
    # the same through the functional form, with the layer's weight
    if layer.padding_mode == "zeros":
        kwargs = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
        assert (
            check_conv2d(layer.weight, x, bias=layer.bias, **kwargs)
            == F.conv2d(x, layer.weight, layer.bias, **kwargs).shape
        )


def test_seed000_functional_form_works_once_channels_agree():
    w = torch.rand(16, 3, 5, 5)
    x = torch.rand(1, 3, 28, 28)
    assert check_conv2d(w, x, padding=1) == F.conv2d(x, w, padding=1).shape == torch.Size([1, 16, 26, 26])


TRANSPOSED_CASES = [
    pytest.param(nn.ConvTranspose2d(4, 2, 4, 2, 1), (1, 4, 7, 7), id="gan generator"),
    pytest.param(nn.ConvTranspose2d(4, 6, 3, 2, 1, output_padding=1, groups=2), (2, 4, 3, 3), id="groups"),
    pytest.param(nn.ConvTranspose2d(1, 1, 3, dilation=2), (1, 3, 3), id="dilation unbatched"),
    pytest.param(nn.ConvTranspose2d(2, 3, (2, 3), (2, 1), (0, 1), (1, 1), dilation=(1, 2)), (1, 2, 3, 5), id="asym"),
]


@pytest.mark.parametrize("layer, shape", TRANSPOSED_CASES)
def test_check_conv_transpose2d_returns_the_layer_output_shape(layer, shape):
    x = torch.zeros(shape)
    assert check_conv_transpose2d(layer, x) == layer(x).shape
    kwargs = dict(
        stride=layer.stride,
        padding=layer.padding,
        output_padding=layer.output_padding,
        groups=layer.groups,
        dilation=layer.dilation,
    )
    want = F.conv_transpose2d(x, layer.weight, layer.bias, **kwargs).shape
    assert check_conv_transpose2d(layer.weight, x, bias=layer.bias, **kwargs) == want


# ---------------------------------------------------------------- seed 000's errors, and the fixes


def test_seed000_layer_with_wrong_in_channels():
    layer = nn.Conv2d(2, 5, 3)
    x = torch.rand(1, 3, 28, 28)
    with pytest.raises(RuntimeError):
        layer(x)  # torch refuses too
    with pytest.raises(
        ConvlabError,
        match=has(
            "the input has 3 channels",
            "expects 2",
            "(5, 2, 3, 3) = (out_channels, in_channels/groups, kH, kW)",
            "5 kernels, each with 2 slices of 3×3",
            "Fix: build the layer with in_channels=3 (nn.Conv2d(3, 5, kernel_size=3, ...))",
            "or give it an input with 2 channels",
        ),
    ):
        check_conv2d(layer, x)
    fixed = nn.Conv2d(3, 5, 3)  # the fix, applied
    assert check_conv2d(fixed, x) == fixed(x).shape


def test_seed000_functional_weight_on_grey_image():
    w = torch.rand(16, 3, 5, 5)
    x = torch.rand(1, 1, 28, 28)
    with pytest.raises(RuntimeError):
        F.conv2d(x, w, padding=1)
    with pytest.raises(
        ConvlabError,
        match=has(
            "the input has 1 channel ",
            "expects 3",
            "(16, 3, 5, 5)",
            "16 kernels, each with 3 slices of 5×5",
            "Fix: make the weight (16, 1, 5, 5)",
            "x.repeat(1, 3, 1, 1)",
        ),
    ):
        check_conv2d(w, x, padding=1)
    # both suggested fixes work in torch and the check agrees
    for x2, w2 in ((x.repeat(1, 3, 1, 1), w), (x, torch.rand(16, 1, 5, 5))):
        assert check_conv2d(w2, x2, padding=1) == F.conv2d(x2, w2, padding=1).shape == (1, 16, 26, 26)


def test_groups_mismatch_messages():
    layer = nn.Conv2d(12, 6, 3, groups=3)
    x = torch.rand(1, 6, 8, 8)
    with pytest.raises(RuntimeError):
        layer(x)
    with pytest.raises(
        ConvlabError,
        match=has(
            "the input has 6 channels",
            "expects 12",
            "(6, 4, 3, 3)",
            "with groups=3 the input needs 4 × 3 = 12 channels",
            "Fix:",
            "input with 12 channels",
        ),
    ):
        check_conv2d(layer, x)
    # a weight whose out_channels groups does not divide
    w = torch.rand(6, 4, 3, 3)
    x = torch.rand(1, 16, 8, 8)
    with pytest.raises(RuntimeError):
        F.conv2d(x, w, groups=4)
    with pytest.raises(
        ConvlabError,
        match=has("groups=4 must divide the weight's out_channels", "(6, 4, 3, 3)", "6 is not a multiple of 4", "Fix:"),
    ):
        check_conv2d(w, x, groups=4)
    with pytest.raises(ConvlabError, match=has("groups must be at least 1, got 0", "Fix: use groups=1")):
        check_conv2d(w, x, groups=0)


@pytest.mark.parametrize(
    "shape, permute",
    [
        pytest.param((28, 28, 3), (2, 0, 1), id="(H, W, C)"),
        pytest.param((1, 28, 28, 3), (0, 3, 1, 2), id="(N, H, W, C)"),
        pytest.param((224, 224, 3), (2, 0, 1), id="(224, 224, 3)"),
    ],
)
def test_channels_last_image(shape, permute):
    layer = nn.Conv2d(3, 8, 3)
    x = torch.rand(shape)
    with pytest.raises(RuntimeError):
        layer(x)
    with pytest.raises(
        ConvlabError,
        match=has(
            f"the input has {shape[-3]} channels",
            "expects 3",
            "(8, 3, 3, 3)",
            "Fix:",
            f"move channels first with x.permute({', '.join(map(str, permute))})",
        ),
    ):
        check_conv2d(layer, x)
    fixed = x.permute(*permute)  # the suggested fix runs
    assert check_conv2d(layer, fixed) == layer(fixed).shape


def test_no_channels_last_hint_when_it_cannot_help():
    with pytest.raises(ConvlabError) as info:
        check_conv2d(nn.Conv2d(64, 8, 3), torch.rand(1, 128, 8, 8))
    assert "permute" not in str(info.value)


def test_transposed_mismatch_message():
    layer = nn.ConvTranspose2d(4, 8, 3)
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(RuntimeError):
        layer(x)
    with pytest.raises(
        ConvlabError,
        match=has(
            "the input has 3 channels",
            "expects 4",
            "(4, 8, 3, 3) = (in_channels, out_channels/groups, kH, kW)",
            "Fix: build the layer with in_channels=3 (nn.ConvTranspose2d(3, ...))",
        ),
    ):
        check_conv_transpose2d(layer, x)


def test_other_errors():
    x = torch.rand(1, 3, 8, 8)
    w = torch.rand(5, 3, 3, 3)
    with pytest.raises(
        ConvlabError, match=has("bias has 4 values", "5 output channels", "Fix: give a bias of shape (5,)")
    ):
        check_conv2d(w, x, bias=torch.rand(4))
    with pytest.raises(ConvlabError, match=has("x is torch.float64, weight is torch.float32", "x.float()")):
        check_conv2d(w, x.double())
    with pytest.raises(ConvlabError, match=has("takes an nn.Conv2d or a weight tensor, got Linear", "model.conv1")):
        check_conv2d(nn.Linear(3, 5), x)
    with pytest.raises(ConvlabError, match=has("x must be a torch.Tensor, got list")):
        check_conv2d(w, [[1.0]])
    with pytest.raises(ConvlabError, match=has("weight has shape (0, 3, 3, 3)", "at least 1")):
        check_conv2d(torch.rand(0, 3, 3, 3), x)
    reflect = nn.Conv2d(3, 3, 3, padding=3, padding_mode="reflect")
    with pytest.raises(RuntimeError):
        reflect(x[..., :3, :3])
    with pytest.raises(
        ConvlabError, match=has("padding_mode='reflect'", "at most 2 for a height of 3; got 3", "padding_mode='zeros'")
    ):
        check_conv2d(reflect, x[..., :3, :3])


def test_public_names():
    assert convlab.check_conv2d is check_conv2d and convlab.check_conv_transpose2d is check_conv_transpose2d


# ---------------------------------------------------------------- hypothesis: the check predicts torch


def now_and_then(draw, usual, other):
    """usual four times in five, other the fifth."""
    return draw(st.sampled_from([usual] * 4 + [other]))


@st.composite
def conv_setups(draw):
    """Channel, group and geometry configurations; each part is broken now and then."""
    groups = draw(st.integers(1, 4))
    c_in = now_and_then(draw, groups * draw(st.integers(1, 3)), draw(st.integers(1, 8)))
    c_out = now_and_then(draw, groups * draw(st.integers(1, 3)), draw(st.integers(1, 8)))
    x_channels = now_and_then(draw, c_in, draw(st.integers(1, 9)))
    hw = draw(st.tuples(st.integers(1, 8), st.integers(1, 8)))
    batched = draw(st.booleans())
    k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    stride = draw(st.integers(1, 3))
    padding = now_and_then(draw, draw(st.integers(0, 3)), draw(st.sampled_from(["same", "valid"])))
    dilation = draw(st.integers(1, 2))
    bias = draw(st.sampled_from([None, "right"])) if draw(st.integers(0, 4)) else "wrong"
    return dict(
        c_in=c_in, c_out=c_out, groups=groups, x_channels=x_channels, hw=hw, batched=batched,
        k=k, stride=stride, padding=padding, dilation=dilation, bias=bias,
    )  # fmt: skip


def x_of(s):
    return torch.zeros((2, s["x_channels"], *s["hw"]) if s["batched"] else (s["x_channels"], *s["hw"]), dtype=F64)


@settings(max_examples=150)
@given(s=conv_setups(), mode=st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
def test_check_conv2d_layer_predicts_torch(s, mode):
    try:
        layer = nn.Conv2d(
            s["c_in"], s["c_out"], s["k"], s["stride"], s["padding"], s["dilation"], s["groups"],
            bias=s["bias"] is not None, padding_mode=mode, dtype=F64,
        )  # fmt: skip
    except ValueError:
        return  # torch refuses to build it (groups, 'same' with stride): nothing to check
    x = x_of(s)
    assert check_shape(lambda: check_conv2d(layer, x)) == torch_shape(lambda: layer(x))


@settings(max_examples=150)
@given(s=conv_setups())
def test_check_conv2d_weight_predicts_torch(s):
    """With a bare weight, groups may not divide anything: torch and the check must agree."""
    per_group = max(1, s["c_in"] // s["groups"])  # the weight reads c_in channels when groups divides it
    w = torch.zeros(s["c_out"], per_group, *s["k"], dtype=F64)
    b = None if s["bias"] is None else torch.zeros(s["c_out"] + (s["bias"] == "wrong"), dtype=F64)
    x = x_of(s)
    kwargs = dict(stride=s["stride"], padding=s["padding"], dilation=s["dilation"], groups=s["groups"])
    assert check_shape(lambda: check_conv2d(w, x, bias=b, **kwargs)) == torch_shape(lambda: F.conv2d(x, w, b, **kwargs))


@settings(max_examples=150)
@given(s=conv_setups(), output_padding=st.integers(0, 2))
def test_check_conv_transpose2d_predicts_torch(s, output_padding):
    padding = 1 if isinstance(s["padding"], str) else s["padding"]
    # weight (in_channels, out_channels/groups, kH, kW). float64 throughout: torch's batched
    # float32 (oneDNN) path lets a zero-sized output through where the others raise.
    per_group = max(1, s["c_out"] // s["groups"])
    w = torch.zeros(s["c_in"], per_group, *s["k"], dtype=F64)
    out_channels = per_group * s["groups"]
    b = None if s["bias"] is None else torch.zeros(out_channels + (s["bias"] == "wrong"), dtype=F64)
    x = x_of(s)
    kwargs = dict(
        stride=s["stride"], padding=padding, output_padding=output_padding, groups=s["groups"], dilation=s["dilation"]
    )
    got = check_shape(lambda: check_conv_transpose2d(w, x, bias=b, **kwargs))
    assert got == torch_shape(lambda: F.conv_transpose2d(x, w, b, **kwargs))


@settings(max_examples=60)
@given(s=conv_setups(), output_padding=st.integers(0, 2))
def test_check_conv_transpose2d_layer_predicts_torch(s, output_padding):
    padding = 1 if isinstance(s["padding"], str) else s["padding"]
    try:
        layer = nn.ConvTranspose2d(
            s["c_in"], s["c_out"], s["k"], s["stride"], padding, output_padding, s["groups"],
            bias=s["bias"] is not None, dilation=s["dilation"], dtype=F64,
        )  # fmt: skip
    except ValueError:
        return
    x = x_of(s)
    assert check_shape(lambda: check_conv_transpose2d(layer, x)) == torch_shape(lambda: layer(x))
