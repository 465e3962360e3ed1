"""convlab.check_conv2d / check_conv_transpose2d against the real layers.

Where the real layer runs, the check returns exactly its output shape; where the
real layer raises, the check raises ConvlabError, with a message that names the
channel counts, the weight shape and the fix.
"""

import functools
import itertools
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from torch import nn

import convlab
from convlab import ConvlabError, check_conv2d, check_conv_transpose2d
from convlab import reference as R

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
    "shape, permute, moved",
    [
        pytest.param((28, 28, 3), (2, 0, 1), (3, 28, 28), id="(H, W, C)"),
        pytest.param((1, 28, 28, 3), (0, 3, 1, 2), (1, 3, 28, 28), id="(N, H, W, C)"),
        pytest.param((224, 224, 3), (2, 0, 1), (3, 224, 224), id="(224, 224, 3)"),
        pytest.param((1, 96, 96, 3), (0, 3, 1, 2), (1, 3, 96, 96), id="chapter 02's photo"),
    ],
)
def test_channels_last_image(shape, permute, moved):
    """The likely cause (an image stored height × width × channels) and its fix come first."""
    layer = nn.Conv2d(3, 8, 3)
    x = torch.rand(shape)
    with pytest.raises(RuntimeError):
        layer(x)
    with pytest.raises(ConvlabError) as info:
        check_conv2d(layer, x)
    e = info.value
    order = ", ".join(map(str, permute))
    assert f"the input has {shape[-3]} channels" in e.problem and "expects 3" in e.problem
    assert "the image is most likely stored" in e.problem
    assert e.fix.startswith(f"move the channels first with x = x.permute({order}), giving shape {moved}")
    # the in_channels change is offered only after, for the unlikely case
    assert e.fix.index("permute") < e.fix.index(f"in_channels={shape[-3]}")
    fixed = x.permute(*permute)  # the suggested fix runs, with the shape it announced
    assert check_conv2d(layer, fixed) == layer(fixed).shape and fixed.shape == moved


def test_no_channels_last_hint_when_it_cannot_help():
    with pytest.raises(ConvlabError) as info:
        check_conv2d(nn.Conv2d(64, 8, 3), torch.rand(1, 128, 8, 8))
    assert "permute" not in str(info.value)


def test_grouped_layer_keeps_its_groups():
    """Chapter 04's mistake: 4 channels, the per-group count, fed to Conv2d(12, 6, 3, groups=3)."""
    layer = nn.Conv2d(12, 6, 3, groups=3)
    x = torch.rand(1, 4, 10, 10)
    with pytest.raises(RuntimeError):
        layer(x)
    with pytest.raises(ConvlabError) as info:
        check_conv2d(layer, x)
    e = info.value
    assert "4 is the number of channels in one group" in e.problem
    assert e.fix.startswith("give it an input with 12 channels (3 groups of 4)")
    assert "groups=3 cannot split 4 channels" in e.fix and "[1, 2]" in e.fix
    assert "nn.Conv2d(4, 6, kernel_size=3, ...)" not in str(e)  # never a layer without its groups
    for g in (1, 2):  # the groups it lists work for 4 channels
        assert nn.Conv2d(4, 6, 3, groups=g)(x).shape == (1, 6, 8, 8)
    assert check_conv2d(layer, torch.rand(1, 12, 10, 10)) == layer(torch.rand(1, 12, 10, 10)).shape


def test_grouped_layer_fix_keeps_groups_when_it_can():
    layer = nn.Conv2d(12, 6, 3, groups=3)
    x = torch.rand(1, 6, 10, 10)
    with pytest.raises(ConvlabError) as info:
        check_conv2d(layer, x)
    fix = info.value.fix
    assert fix.startswith("give it an input with 12 channels (3 groups of 4), or ")
    assert "build the layer with in_channels=6 (nn.Conv2d(6, 6, kernel_size=3, groups=3, ...))" in fix
    assert nn.Conv2d(6, 6, 3, groups=3)(x).shape == (1, 6, 8, 8)  # the suggested layer runs
    # with a bare weight: the weight for 6 channels in 3 groups
    with pytest.raises(ConvlabError, match=has("Fix: give it an input with 12", "make the weight (6, 2, 3, 3)")):
        check_conv2d(layer.weight, x, groups=3)
    assert F.conv2d(x, torch.rand(6, 2, 3, 3), groups=3).shape == (1, 6, 8, 8)
    # a transposed layer keeps its groups too
    with pytest.raises(ConvlabError, match=has("nn.ConvTranspose2d(6, ..., groups=2)")):
        check_conv_transpose2d(nn.ConvTranspose2d(4, 8, 3, groups=2), x)


@pytest.mark.parametrize(
    "layer, x",
    [
        pytest.param(nn.Conv2d(1, 4, 3), torch.rand(1, 3, 96, 96), id="layer expects 1"),
        pytest.param(nn.Conv2d(3, 4, 3), torch.rand(1, 1, 9, 9), id="input has 1"),
        pytest.param(torch.rand(4, 1, 3, 3), torch.rand(1, 2, 9, 9), id="weight slices 1"),
        pytest.param(nn.ConvTranspose2d(1, 4, 3), torch.rand(1, 2, 9, 9), id="transposed reads 1"),
    ],
)
def test_one_channel_is_singular(layer, x):
    check = check_conv_transpose2d if isinstance(layer, nn.ConvTranspose2d) else check_conv2d
    with pytest.raises(ConvlabError) as info:
        check(layer, x)
    message = str(info.value)
    assert "1 channels" not in message and "1 slices" not in message and "1 input channels" not in message
    assert "1 channel" in message or "1 slice" in message or "1 input channel" in message


def test_grey_image_repeat_fits_the_layout():
    w = torch.rand(16, 3, 5, 5)
    grey = ((torch.rand(1, 28, 28), "x = x.repeat(3, 1, 1)"), (torch.rand(2, 1, 9, 9), "x = x.repeat(1, 3, 1, 1)"))
    for x, repeat in grey:
        with pytest.raises(ConvlabError, match=has(repeat)):
            check_conv2d(w, x)
        repeated = x.repeat(3, 1, 1) if x.dim() == 3 else x.repeat(1, 3, 1, 1)
        assert check_conv2d(w, repeated) == F.conv2d(repeated, w).shape


def test_dtype_mismatch_names_the_tensor_that_differs():
    x, w, b = torch.rand(1, 3, 8, 8), torch.rand(5, 3, 3, 3), torch.rand(5)
    cases = [
        ((x.double(), w, b), "x is torch.float64, weight is torch.float32, bias is torch.float32",
         "x = x.float() (or the weight to the input's: weight = weight.double() and bias = bias.double())"),
        ((x, w.double(), b), "weight is torch.float64", "weight is the odd one: convert it with weight = w"),
        ((x, w, b.double()), "bias is torch.float64", "bias is the odd one: convert it with bias = bias.float()"),
        ((x, w.half(), b.double()), "x is torch.float32, weight is torch.float16, bias is torch.float64",
         "x = x.half() and bias = bias.half()"),
        ((x.double(), w, None), "x is torch.float64, weight is torch.float32",
         "x = x.float() (or the weight to the input's: weight = weight.double())"),
    ]  # fmt: skip
    for (xx, ww, bb), problem, fix in cases:
        with pytest.raises(RuntimeError):
            F.conv2d(xx, ww, bb)
        with pytest.raises(ConvlabError) as info:
            check_conv2d(ww, xx, bias=bb)
        assert problem in info.value.problem and fix in info.value.fix
        if "odd one" in fix:
            assert "x = x" not in info.value.fix  # not the input, when the input is fine
    layer = nn.Conv2d(3, 5, 3)
    with pytest.raises(ConvlabError, match=has("x = x.float()", "(or the layer to the input's: layer.double())")):
        check_conv2d(layer, x.double())
    layer.bias.data = layer.bias.data.double()
    with pytest.raises(ConvlabError, match=has("the layer's bias is the odd one", "layer.float()")):
        check_conv2d(layer, x)


def test_zero_sized_inputs_accepted_and_refused_as_torch():
    """Every mix of empty batch, channels, rows, kernels and kernel slices, against torch."""
    for n, c, h, out, per, padding in itertools.product((0, 2), (0, 2), (0, 4), (0, 3), (0, 2), (0, 1)):
        case = (n, c, h, out, per, padding)
        x, w = torch.zeros(n, c, h, 5, dtype=F64), torch.zeros(out, per, 3, 3, dtype=F64)
        got = check_shape(functools.partial(check_conv2d, w, x, padding=padding))
        assert got == torch_shape(functools.partial(F.conv2d, x, w, padding=padding)), case
        if got is not None:
            assert R.conv2d(x, w, padding=padding).shape == got
        if n == 0 and h == 0:
            continue  # an empty batch of images without rows: torch's transposed answer is a reshape error
        wt = torch.zeros(c, out, 3, 3, dtype=F64)
        got = check_shape(functools.partial(check_conv_transpose2d, wt, x, padding=padding))
        assert got == torch_shape(functools.partial(F.conv_transpose2d, x, wt, padding=padding)), case


def test_errors_carry_problem_and_fix():
    with pytest.raises(ConvlabError) as info:
        check_conv2d(nn.Conv2d(2, 5, 3), torch.rand(1, 3, 28, 28))
    e = info.value
    assert str(e) == f"{e.problem}\n  Fix: {e.fix}"
    assert e.problem.startswith("Channel mismatch") and e.fix.startswith("build the layer with in_channels=3")


def test_an_empty_image_is_named_as_such():
    """(1, 0, 10) has no rows: the message says so, and never names a parameter the caller did not pass."""
    x = torch.rand(1, 0, 10)
    with pytest.raises(RuntimeError):
        F.conv2d(x, torch.rand(4, 1, 1, 1))
    with pytest.raises(ConvlabError) as info:
        check_conv2d(torch.rand(4, 1, 1, 1), x)
    assert "The input has height 0 (x.shape = (1, 0, 10))" in str(info.value)
    assert "input_hw" not in str(info.value)


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
    with pytest.raises(ConvlabError, match=has("check_conv_transpose2d takes an nn.ConvTranspose2d or a weight")):
        check_conv_transpose2d(nn.Conv2d(3, 5, 3), x)
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
