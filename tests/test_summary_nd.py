"""convlab.summary and convlab.arithmetic.receptive_field for 1-D and 3-D models.

Every expected number is computed with torch: output shapes by running the layers
one at a time, parameters by counting the layers' own tensors, multiply-adds by the
textbook formula written out here, receptive fields by back-propagating from one
output value and measuring which inputs it reached. Golden files
(tests/golden/summary_1d.txt, summary_3d.txt) hold the printed tables; regenerate
them with CONVLAB_UPDATE_GOLDEN=1 (see tests/test_summary.py).
"""

import math
import os
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlab import arithmetic as A
from convlab.errors import ConvlabError
from convlab.summary import summary

GOLDEN = Path(__file__).parent / "golden"
F64 = torch.float64
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def signal_net() -> nn.Sequential:
    """A 1-D network for a 1-channel signal of length 128: conv blocks, then a classifier."""
    return nn.Sequential(
        nn.Conv1d(1, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(8, 16, 3, dilation=2), nn.ReLU(), nn.AvgPool1d(3, 2, 1, ceil_mode=True),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 3),
    )  # fmt: skip


def clip_net() -> nn.Sequential:
    """A 3-D network for a grey clip of 8 frames of 64×64."""
    return nn.Sequential(
        nn.Conv3d(1, 4, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2), bias=False), nn.BatchNorm3d(4), nn.ReLU(),
        nn.MaxPool3d((1, 2, 2)), nn.Conv3d(4, 8, 3, groups=2), nn.ReLU(), nn.AvgPool3d(2, ceil_mode=True),
        nn.ConvTranspose3d(8, 2, 2, 2), nn.Flatten(), nn.Linear(2 * 6 * 14 * 14, 5),
    )  # fmt: skip


def direct_mult_adds(layer, x, y) -> int:
    """The textbook formulas in any number of dimensions, written out independently of convlab."""
    if isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        return y.numel() * (layer.in_channels // layer.groups) * math.prod(layer.kernel_size)
    if isinstance(layer, nn.ConvTranspose3d):
        return x.numel() * (layer.out_channels // layer.groups) * math.prod(layer.kernel_size)
    if isinstance(layer, nn.Linear):
        return math.prod(x.shape[:-1]) * layer.in_features * layer.out_features
    if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d):
        return y.numel()
    return 0


def step_by_step(layers, x):
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
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")


# ---------------------------------------------------------------- measured receptive fields


def surrogate(layer):
    """The same geometry, no padding, and a gradient that reaches every input a window covers."""
    for n in (1, 2, 3):
        if isinstance(layer, CONV[n]) or (isinstance(layer, MAX_POOL[n]) and layer.dilation not in (1, (1,) * n)):
            conv = CONV[n](1, 1, layer.kernel_size, layer.stride, 0, layer.dilation, bias=False, dtype=F64)
            nn.init.ones_(conv.weight)
            return conv
        if isinstance(layer, MAX_POOL[n] | AVG_POOL[n]):  # max sends the gradient to one input: average
            return AVG_POOL[n](layer.kernel_size, layer.stride)
        if isinstance(layer, BATCH_NORM[n]):
            return BATCH_NORM[n](1, dtype=F64).eval()
    return layer


def measured_field(layers, n):
    """Extent, per dimension, of the inputs that one central output value depends on."""
    stack = nn.Sequential(*[surrogate(m) for m in layers])
    size = 8
    while True:
        x = torch.ones(1, 1, *(size,) * n, dtype=F64, requires_grad=True)
        try:
            y = stack(x)
        except RuntimeError:  # too small for the stack
            assert size < 512, "input grew too large"
            size *= 2
            continue
        y[(0, 0, *(d // 2 for d in y.shape[2:]))].backward()
        where = (x.grad[0, 0] != 0).nonzero()
        return tuple(int(c.max() - c.min() + 1) for c in where.T)


RF_CASES = [
    pytest.param(1, [nn.Conv1d(1, 1, 5)], id="1d conv5"),
    pytest.param(1, [nn.Conv1d(1, 1, 3), nn.MaxPool1d(2), nn.Conv1d(1, 1, 3, dilation=2)], id="1d conv pool conv"),
    pytest.param(1, [nn.Conv1d(1, 1, 7, 2, 3), nn.BatchNorm1d(1), nn.ReLU(), nn.AvgPool1d(3, 2, 1)], id="1d stem"),
    pytest.param(1, [nn.MaxPool1d(2, dilation=3), nn.Conv1d(1, 1, 3, 2)], id="1d dilated pool"),
    pytest.param(3, [nn.Conv3d(1, 1, 3)], id="3d conv3"),
    pytest.param(3, [nn.Conv3d(1, 1, (3, 5, 5), (1, 2, 2)), nn.MaxPool3d((1, 2, 2)), nn.Conv3d(1, 1, 3)], id="3d clip"),
    pytest.param(
        3, [nn.Conv3d(1, 1, (1, 3, 3), dilation=(1, 2, 1)), nn.AvgPool3d((2, 1, 2)), nn.ReLU()], id="3d mixed"
    ),
]


@pytest.mark.parametrize(("n", "layers"), RF_CASES)
def test_receptive_field_by_backprop(n, layers):
    field = A.receptive_field(layers)
    assert len(field) == n
    assert field == measured_field(layers, n)
    assert A.receptive_field(nn.Sequential(*layers)) == field


def test_receptive_field_tuples_take_the_dimension_of_the_stack():
    assert A.receptive_field([nn.Conv1d(1, 1, 3), (2, 2), (3, 1, 2)]) == (12,)  # 3, + 1·1, + 4·2
    assert A.receptive_field([((3, 3, 3), 1), (2, 2)]) == (4, 4, 4)
    assert A.receptive_field([(3, 1), (2, 2)]) == (4, 4)  # tuples of ints alone: 2-D, as before
    assert A.layer_geometry(nn.Conv1d(1, 1, 3, 2, dilation=2)) == ((5,), (2,))
    assert A.layer_geometry(nn.MaxPool3d((1, 2, 2))) == ((1, 2, 2), (1, 2, 2))
    assert A.layer_geometry(nn.AvgPool1d(3, 2)) == ((3,), (2,))
    assert A.receptive_field([nn.BatchNorm1d(1), nn.ReLU()]) == (1, 1)  # no window: 2-D, as before
    steps = list(A.receptive_field_steps([nn.ReLU(), nn.Conv3d(1, 1, 3), nn.MaxPool3d(2)]))
    assert steps == [((1, 1, 1), (1, 1, 1)), ((3, 3, 3), (1, 1, 1)), ((4, 4, 4), (2, 2, 2))]


def test_receptive_field_refuses_a_stack_that_changes_dimension():
    with pytest.raises(ConvlabError) as info:
        A.receptive_field([nn.Conv1d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3)])
    assert info.value.problem == (
        "receptive_field cannot follow a stack that changes dimension: layer 0 (Conv1d) slides over 1 "
        "dimension, layer 2 (Conv2d) over 2."
    )
    assert "Conv1d/MaxPool1d/AvgPool1d, or the 2d ones, or the 3d ones" in info.value.fix
    with pytest.raises(ConvlabError, match=r"layer 0 \(\(\(3, 3\), 1\)\) slides over 2 dimensions, layer 1"):
        A.receptive_field([((3, 3), 1), nn.MaxPool3d(2)])


# ---------------------------------------------------------------- summary of 1-D and 3-D models


@pytest.mark.parametrize(("make", "shape"), [(signal_net, (4, 1, 128)), (clip_net, (2, 1, 8, 64, 64))],
                         ids=["1d", "3d"])  # fmt: skip
def test_rows_match_running_the_layers(make, shape):
    net = make()
    result = summary(net, shape)
    pairs = step_by_step(net.eval(), torch.zeros(shape))
    assert [row.type for row in result.rows] == [type(layer).__name__ for layer in net]
    assert [row.output_shape for row in result.rows] == [tuple(y.shape) for _, y in pairs]
    assert [row.params for row in result.rows] == [sum(p.numel() for p in layer.parameters()) for layer in net]
    assert [row.mult_adds for row in result.rows] == [direct_mult_adds(m, x, y) for m, (x, y) in zip(net, pairs)]
    assert result.total_params == sum(p.numel() for p in net.parameters())


def test_1d_receptive_fields():
    net = signal_net()
    rows = summary(net, (4, 1, 128)).rows
    windows = list(net[:7])
    assert [(row.receptive_field, row.jump) for row in rows[:7]] == list(A.receptive_field_steps(windows))
    assert rows[6].receptive_field == measured_field(windows, 1) == (18,)
    assert rows[6].jump == (4,)
    assert all(row.receptive_field is None and row.jump is None for row in rows[7:])  # adaptive pool onwards


def test_3d_receptive_fields():
    net = clip_net()
    rows = summary(net, (2, 1, 8, 64, 64)).rows
    windows = list(net[:7])
    assert [(row.receptive_field, row.jump) for row in rows[:7]] == list(A.receptive_field_steps(windows))
    assert rows[6].receptive_field == measured_field(windows, 3)
    assert all(row.receptive_field is None for row in rows[7:])  # a transposed convolution is not followed


def test_golden_1d():
    check_golden("summary_1d.txt", str(summary(signal_net(), (4, 1, 128))))


def test_golden_3d():
    check_golden("summary_3d.txt", str(summary(clip_net(), (2, 1, 8, 64, 64))))


def test_a_window_in_another_dimension_breaks_the_chain():
    class Spectrogram(nn.Module):
        """A Conv1d over time, its channels read as the rows of an image, then a Conv2d."""

        def __init__(self):
            super().__init__()
            self.time = nn.Conv1d(1, 16, 9, stride=4)
            self.relu = nn.ReLU()
            self.image = nn.Conv2d(1, 4, 3)

        def forward(self, x):
            return self.image(self.relu(self.time(x)).unsqueeze(1))

    rows = summary(Spectrogram(), (1, 1, 256)).rows
    assert [row.receptive_field for row in rows] == [(9,), (9,), None]
    assert rows[2].output_shape == (1, 4, 14, 60)
    assert "Receptive field" in str(summary(Spectrogram(), (1, 1, 256)))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([1, 3]), st.lists(st.sampled_from(["conv", "max", "avg", "relu", "norm"]), min_size=1,
                                          max_size=4), st.integers(1, 2))  # fmt: skip
def test_random_stacks(n, kinds, stride):
    layers, channels = [], 2
    for kind in kinds:
        if kind == "conv":
            layers.append(CONV[n](channels, 3, 3, stride, padding=1))
            channels = 3
        elif kind == "max":
            layers.append(MAX_POOL[n](2, stride, ceil_mode=True))
        elif kind == "avg":
            layers.append(AVG_POOL[n](2, stride, ceil_mode=True))
        elif kind == "norm":
            layers.append(BATCH_NORM[n](channels))
        else:
            layers.append(nn.ReLU())
    stack = nn.Sequential(*layers)
    shape = (1, 2, *(9,) * n)
    result = summary(stack, shape)
    pairs = step_by_step(stack.eval(), torch.zeros(shape))
    assert [row.output_shape for row in result.rows] == [tuple(y.shape) for _, y in pairs]
    assert [row.mult_adds for row in result.rows] == [direct_mult_adds(m, x, y) for m, (x, y) in zip(stack, pairs)]
    assert [(row.receptive_field, row.jump) for row in result.rows] == list(A.receptive_field_steps(stack))
    if any(kind in ("conv", "max", "avg") for kind in kinds):  # a stack without any window is read as 2-D
        assert all(len(row.receptive_field) == n for row in result.rows)


# ---------------------------------------------------------------- failures of 1-D and 3-D models


def test_failures_are_explained_in_n_d():
    with pytest.raises(ConvlabError) as info:
        summary(signal_net(), (4, 2, 128))
    assert "Conv1d(in_channels=1) expects 1 channel (dimension 1), but the input has 2" in info.value.problem
    assert info.value.fix.startswith("build it as nn.Conv1d(2, 8, ...)")
    assert "Note" not in info.value.fix  # (4, 2, 128) is a batch: a 1-D model's input has 3 dimensions
    with pytest.raises(ConvlabError) as info:
        summary(signal_net(), (4, 1, 3))
    assert "layer 5, '4' (Conv1d(8, 16" in info.value.problem
    assert "The kernel does not fit: the input is 1, padded to 1 (padding 0 per side)" in info.value.problem
    with pytest.raises(ConvlabError) as info:
        summary(nn.AvgPool3d(3, padding=1), (1, 1, 2, 8, 8))
    assert "AvgPool3d needs an input at least as large as its kernel before padding" in info.value.problem
    with pytest.raises(ConvlabError) as info:
        summary(nn.Conv3d(1, 2, 3), (1, 8, 8))
    assert "Conv3d takes (batch, channels, depth, height, width) or (channels, depth, height, width), but the " \
           "input is 3-D" in info.value.problem
    with pytest.raises(ConvlabError) as info:  # 4-D is one unbatched volume: (channels, depth, height, width)
        summary(nn.Conv3d(1, 2, 3), (1, 1, 8, 8))
    assert "the input is 1×8×8" in info.value.problem
    assert "for a batch of one volume use (1, 1, 1, 8, 8)" in info.value.fix
    with pytest.raises(ConvlabError) as info:
        summary(nn.Sequential(nn.Conv1d(1, 8, 3), nn.BatchNorm1d(8)), (1, 128))
    assert "for a batch of one signal use (1, 1, 128)" in info.value.fix
