"""convlab.summary: shapes, parameter and multiply-add counts, receptive fields, errors, hygiene.

Golden files: tests/golden/summary_*.txt hold the printed tables. After a deliberate
change to the table, regenerate them with

    CONVLAB_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_summary.py -k golden

and read the diff before committing: every number in them is checked here by formula.
"""

import math
import os
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlab import arithmetic
from convlab.arithmetic import conv2d_params, receptive_field, receptive_field_steps
from convlab.errors import ConvlabError
from convlab.summary import Summary, summary

GOLDEN = Path(__file__).parent / "golden"


def cifar_net() -> nn.Sequential:
    """Seed 003's CIFAR-10 network."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, 1, 2), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 5, 1, 2), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, 1, 2), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1024, 64), nn.Linear(64, 10),
    )


class Net(nn.Module):
    """Nested: a Sequential inside a custom module, a grouped and a dilated conv, a functional flatten."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(12, 6, 3, groups=3),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.Conv2d(6, 8, 3, dilation=2, bias=False),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(8 * 5 * 5, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def direct_mult_adds(layer: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """The textbook formulas, written out independently of convlab."""
    if isinstance(layer, nn.Conv2d):
        n, c_out, h_out, w_out = y.shape
        kh, kw = layer.kernel_size
        return n * c_out * h_out * w_out * (layer.in_channels // layer.groups) * kh * kw
    if isinstance(layer, nn.ConvTranspose2d):
        n, c_in, h_in, w_in = x.shape
        kh, kw = layer.kernel_size
        return n * c_in * h_in * w_in * (layer.out_channels // layer.groups) * kh * kw
    if isinstance(layer, nn.Linear):
        return math.prod(x.shape[:-1]) * layer.in_features * layer.out_features
    if isinstance(layer, nn.BatchNorm2d):
        return y.numel()
    return 0


def step_by_step(layers, x):
    """(input, output) of each layer of a flat stack, running them one at a time."""
    pairs = []
    with torch.no_grad():
        for layer in layers:
            y = layer(x)
            pairs.append((x, y))
            x = y
    return pairs


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CONVLAB_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")


# --- seed 003's network -----------------------------------------------------------------------


@pytest.mark.parametrize("batch", [64, 1])
def test_cifar_rows_match_running_the_layers(batch):
    net = cifar_net()
    result = summary(net, (batch, 3, 32, 32))
    pairs = step_by_step(net, torch.zeros(batch, 3, 32, 32))
    assert [row.name for row in result.rows] == [str(i) for i in range(9)]
    assert [row.type for row in result.rows] == [type(layer).__name__ for layer in net]
    assert [row.input_shape for row in result.rows] == [tuple(x.shape) for x, _ in pairs]
    assert [row.output_shape for row in result.rows] == [tuple(y.shape) for _, y in pairs]
    assert [row.params for row in result.rows] == [sum(p.numel() for p in layer.parameters()) for layer in net]
    assert [row.mult_adds for row in result.rows] == [
        direct_mult_adds(layer, x, y) for layer, (x, y) in zip(net, pairs)
    ]
    assert result.total_params == sum(p.numel() for p in net.parameters()) == 145_578
    assert result.trainable_params == 145_578 and result.non_trainable_params == 0
    assert result.total_mult_adds == sum(row.mult_adds for row in result.rows)
    assert result.input_size == batch * 3 * 32 * 32
    assert result.input_bytes == batch * 3 * 32 * 32 * 4


def test_cifar_numbers_by_hand():
    rows = summary(cifar_net(), (1, 3, 32, 32)).rows
    # conv1: 32 kernels of 3×5×5 plus 32 biases; each of 32·32·32 outputs costs 3·5·5 multiply-adds
    assert rows[0].params == 32 * 3 * 5 * 5 + 32 == conv2d_params(3, 32, 5)
    assert rows[0].mult_adds == 32 * 32 * 32 * 75 == 2_457_600
    assert rows[6].output_shape == (1, 64 * 4 * 4)
    assert rows[7].mult_adds == 1024 * 64
    assert [row.receptive_field for row in rows[:6]] == [(5, 5), (6, 6), (14, 14), (16, 16), (32, 32), (36, 36)]
    assert [row.jump for row in rows[:6]] == [(1, 1), (2, 2), (2, 2), (4, 4), (4, 4), (8, 8)]
    assert all(row.receptive_field is None and row.jump is None for row in rows[6:])


def test_cifar_golden():
    result = summary(cifar_net(), (64, 3, 32, 32))
    assert str(result) == repr(result)
    check_golden("summary_cifar.txt", str(result))


def test_nested_golden():
    check_golden("summary_nested.txt", str(summary(Net(), (2, 12, 16, 16))))


# --- grouped, dilated, nested -----------------------------------------------------------------


def test_nested_names_are_dotted_paths_and_counts_are_right():
    net = Net()
    result = summary(net, (2, 12, 16, 16))
    names = [row.name for row in result.rows]
    assert names == ["features.0", "features.1", "features.2", "features.3", "features.4", "classifier"]
    grouped, norm, relu, dilated, pool, linear = result.rows
    assert grouped.params == 222 == conv2d_params(12, 6, 3, groups=3)  # 3 groups · 2 kernels · 4·3·3 + 6
    assert grouped.output_shape == (2, 6, 14, 14)
    assert grouped.mult_adds == 2 * 6 * 14 * 14 * (12 // 3) * 3 * 3
    assert norm.params == 12 and norm.mult_adds == 2 * 6 * 14 * 14  # one multiply-add per element
    assert relu.params == 0 and relu.mult_adds == 0
    assert dilated.params == 8 * 6 * 3 * 3 and dilated.output_shape == (2, 8, 10, 10)
    assert dilated.receptive_field == (7, 7)  # a 3×3 kernel with dilation 2 spans 5×5: 3 + 4
    assert (pool.receptive_field, pool.jump) == ((8, 8), (2, 2))
    assert linear.receptive_field is None  # torch.flatten in forward() breaks the chain
    assert result.total_params == sum(p.numel() for p in net.parameters()) == sum(r.params for r in result.rows)


def test_dilated_conv_receptive_field():
    stack = nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2), nn.Conv2d(1, 1, 3, dilation=4))
    rows = summary(stack, (1, 1, 20, 20)).rows
    assert [row.receptive_field for row in rows] == [(5, 5), (13, 13)]
    assert rows[-1].output_shape == (1, 1, 8, 8)


@pytest.mark.parametrize(
    "stack",
    [
        lambda: cifar_net()[:6],
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, (3, 5), stride=(1, 2), dilation=(2, 1)), nn.ReLU(), nn.AvgPool2d(2),
            nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.MaxPool2d(3, 1, 1),
        ),
    ],
    ids=["cifar", "mixed"],
)
def test_receptive_field_column_agrees_with_arithmetic(stack):
    layers = stack()
    rows = summary(layers, (1, 3, 33, 33)).rows
    assert [(row.receptive_field, row.jump) for row in rows] == list(receptive_field_steps(layers))
    assert rows[-1].receptive_field == receptive_field(layers)


def test_activations_known_to_one_table():
    """ReLU6, Hardswish and Mish: free, and the receptive field passes through, in summary and
    receptive_field alike, because both read convlab.arithmetic.LAYER_FACTS."""
    layers = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU6(), nn.Conv2d(4, 4, 3, stride=2), nn.Hardswish(), nn.MaxPool2d(2),
        nn.Mish(), nn.Conv2d(4, 4, 3), nn.PReLU(), nn.SELU(), nn.Softplus(), nn.Hardsigmoid(),
    )  # fmt: skip
    rows = summary(layers, (1, 3, 40, 40)).rows
    assert [(row.receptive_field, row.jump) for row in rows] == list(receptive_field_steps(layers))
    assert all(row.receptive_field is not None for row in rows)
    free = {"ReLU6", "Hardswish", "Mish", "MaxPool2d", "SELU", "Softplus", "Hardsigmoid"}
    assert all(row.mult_adds == 0 for row in rows if row.type in free)
    assert [row for row in rows if row.type == "PReLU"][0].mult_adds is None  # no formula: "?"


def test_summary_reads_the_same_table(monkeypatch):
    class Swish(nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(x)

    layers = nn.Sequential(nn.Conv2d(1, 1, 3), Swish(), nn.Conv2d(1, 1, 3))
    before = summary(layers, (1, 1, 9, 9)).rows
    assert before[1].receptive_field is None and before[1].mult_adds is None
    monkeypatch.setitem(arithmetic.LAYER_FACTS, Swish, arithmetic.LayerFacts(pointwise=True, free=True))
    after = summary(layers, (1, 1, 9, 9)).rows
    assert [row.receptive_field for row in after] == [(3, 3), (3, 3), (5, 5)] and after[1].mult_adds == 0
    assert after[-1].receptive_field == receptive_field(list(layers))


def test_other_mult_add_conventions():
    up = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2)
    x = torch.zeros(2, 4, 5, 5)
    (row,) = summary(up, tuple(x.shape)).rows
    assert row.output_shape == (2, 6, 11, 11)
    assert row.mult_adds == direct_mult_adds(up, x, up(x)) == 2 * 4 * 5 * 5 * 3 * 9
    assert row.receptive_field is None
    (row,) = summary(nn.Linear(7, 5), (2, 3, 7)).rows  # every leading dimension counts
    assert row.mult_adds == 2 * 3 * 7 * 5


def test_shared_layer_is_counted_once():
    conv = nn.Conv2d(4, 4, 3, padding=1)
    net = nn.Sequential(conv, nn.ReLU(), conv)
    result = summary(net, (1, 4, 8, 8))
    assert [row.params for row in result.rows] == [148, 0, 0]
    assert result.rows[2].params_shared and "(shared)" in str(result)
    assert result.rows[2].mult_adds == result.rows[0].mult_adds
    assert result.total_params == 148


def test_frozen_and_unused_parameters_are_reported():
    net = Net()
    net.features[0].requires_grad_(False)
    net.spare = nn.Linear(3, 3)  # never called in forward()
    result = summary(net, (1, 12, 16, 16))
    assert result.total_params == sum(p.numel() for p in net.parameters())
    assert result.non_trainable_params == 222
    assert "12 params are in no row" in str(result)


# --- failures ---------------------------------------------------------------------------------


def test_wrong_flatten_size_names_the_linear_layer():
    with pytest.raises(ConvlabError, match=r"layer 8, '7' \(Linear\(in_features=1024") as info:
        summary(cifar_net(), (8, 3, 64, 64))
    message = str(info.value)
    assert "received shape (8, 4096)" in message
    assert "needs 1024 values in the last dimension, but got 4096" in message
    assert "6  Flatten    (8, 4096)" in message  # the layers that ran, with their shapes
    assert "64 × 8 × 8 = 4096" in message
    assert "nn.Linear(4096, 64)" in message


def test_channel_mismatch_uses_check_conv2d():
    with pytest.raises(ConvlabError, match=r"layer 1, '0' \(Conv2d\(3, 32") as info:
        summary(cifar_net(), (1, 1, 32, 32))
    message = str(info.value)
    assert "received shape (1, 1, 32, 32)" in message
    assert "the input has 1 channel" in message and "expects 3" in message
    assert "No layer ran before it." in message
    assert info.value.__suppress_context__ and info.value.__cause__ is None


def test_failure_explained_by_convlab_keeps_its_fix():
    """summary() takes a check's problem and fix from the error's attributes, never from its text."""
    with pytest.raises(ConvlabError) as info:
        summary(nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(3)), (1, 1, 3, 3))
    e = info.value
    assert "Pooling leaves nothing: the input is 1×1" in e.problem and "ceil_mode=True" in e.fix
    assert "Fix:" not in e.problem


def test_failure_names_no_parameter_the_caller_did_not_pass():
    class Crop(nn.Module):
        def forward(self, x):
            return x[..., :0, :]  # a slice that leaves no rows

    with pytest.raises(ConvlabError) as info:
        summary(nn.Sequential(nn.Conv2d(1, 2, 1), Crop(), nn.MaxPool2d(2)), (1, 1, 6, 6))
    assert "MaxPool2d got an input of shape (1, 2, 0, 6), with height 0" in str(info.value)
    assert "input_hw" not in str(info.value)
    with pytest.raises(ConvlabError) as info:
        summary(nn.Sequential(Crop(), nn.Conv2d(1, 2, 1)), (1, 1, 6, 6))
    assert "The input has height 0 (shape (1, 1, 0, 6))" in str(info.value)
    with pytest.raises(ConvlabError) as info:
        summary(nn.Conv2d(3, 4, 3), (1, 32, 32, 3))
    assert "(shape (1, 32, 32, 3), read as" in info.value.problem and "x.shape" not in str(info.value)
    assert info.value.fix.startswith("move the channels first with .permute(0, 3, 1, 2) on the input")


def test_missing_batch_dimension_is_pointed_out():
    with pytest.raises(ConvlabError, match=r"received shape \(64, 16\)") as info:
        summary(cifar_net(), (3, 32, 32))
    assert "use (1, 3, 32, 32)" in str(info.value)


def test_failure_in_forward_code_between_layers():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x).view(5, -1)

    with pytest.raises(ConvlabError, match=r"forward\(\) code of the model \(Bad\)") as info:
        summary(Bad(), (1, 3, 8, 8))
    assert "conv  Conv2d  (1, 4, 6, 6)" in str(info.value)
    assert "torch said: shape '[5, -1]' is invalid" in str(info.value)


@pytest.mark.parametrize(
    ("model", "shape", "match"),
    [
        ("net", (1, 3, 32, 32), "needs a model"),
        (nn.Conv2d, (1, 3, 32, 32), "the class Conv2d itself"),
        (nn.ReLU(), "1, 3, 32, 32", "tuple of positive ints"),
        (nn.ReLU(), (), "tuple of positive ints"),
        (nn.ReLU(), (1, 0, 32), "0 is not a positive integer"),
        (nn.ReLU(), (1, 3.0), "3.0 is not a positive integer"),
        (nn.ReLU(), (True, 3), "True is not a positive integer"),
    ],
)
def test_bad_arguments(model, shape, match):
    with pytest.raises(ConvlabError, match=match):
        summary(model, shape)


def test_device_argument():
    assert summary(nn.ReLU(), [1, 2], device="cpu").rows[0].output_shape == (1, 2)
    with pytest.raises(ConvlabError, match="not a device torch knows"):
        summary(nn.ReLU(), (1, 2), device="nonsense")


# --- leaves the model as it found it ----------------------------------------------------------


def hook_counts(model):
    return [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 3, 64, 64)], ids=["success", "failure"])
def test_modes_restored_and_hooks_removed(shape):
    net = nn.Sequential(cifar_net()[:2], nn.BatchNorm2d(32), nn.Dropout(), *cifar_net()[2:])
    net.train()
    net[0].eval()  # a mix of modes comes back as it was
    modes = [m.training for m in net.modules()]
    mean = net[1].running_mean.clone()
    own = net[3].register_forward_hook(lambda *args: None)  # the user's own hook survives
    try:
        summary(net, shape)
    except ConvlabError:
        assert shape == (2, 3, 64, 64)
    assert [m.training for m in net.modules()] == modes
    assert torch.equal(net[1].running_mean, mean)  # ran in eval mode: statistics untouched
    counts = hook_counts(net)
    assert counts[list(net.modules()).index(net[3])] == (1, 0) and sum(f + p for f, p in counts) == 1
    own.remove()


# --- property: any small conv stack -----------------------------------------------------------


@st.composite
def conv_stacks(draw):
    first = channels = draw(st.integers(1, 4))
    size, layers = 12, []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "relu", "norm"]))
        if kind == "conv":
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
            out = groups * draw(st.integers(1, 3))
            k, d, s = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
            bias = draw(st.booleans())
            pad = d * (k - 1) // 2
            layers.append(nn.Conv2d(channels, out, k, s, padding=pad, dilation=d, groups=groups, bias=bias))
            channels, size = out, (size - 1) // s + 1
        elif kind == "pool" and size >= 2:
            layers.append(draw(st.sampled_from([nn.MaxPool2d(2), nn.AvgPool2d(2, 1)])))
            size = size // 2 if isinstance(layers[-1], nn.MaxPool2d) else size - 1
        elif kind == "norm":
            layers.append(nn.BatchNorm2d(channels))
        else:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers), first


@settings(max_examples=25, deadline=None)
@given(conv_stacks(), st.integers(1, 2))
def test_random_conv_stacks(stack_and_channels, batch):
    stack, channels = stack_and_channels
    result = summary(stack, (batch, channels, 12, 12))
    assert isinstance(result, Summary)
    assert result.total_params == sum(p.numel() for p in stack.parameters()) == sum(r.params for r in result.rows)
    pairs = step_by_step(stack.eval(), torch.zeros(batch, channels, 12, 12))
    assert [row.output_shape for row in result.rows] == [tuple(y.shape) for _, y in pairs]
    assert [row.mult_adds for row in result.rows] == [direct_mult_adds(m, x, y) for m, (x, y) in zip(stack, pairs)]
    assert [(row.receptive_field, row.jump) for row in result.rows] == list(receptive_field_steps(stack))
