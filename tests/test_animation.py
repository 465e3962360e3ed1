"""convlab.animation: every drawn output size is the one torch computes, one frame per
output cell, and to_html gives a player that needs no kernel. Structure and sizes, not pixels."""

import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.animation import FuncAnimation
from torch import nn

from convlab import ConvlabError
from convlab.animation import (
    GUIDE_EXAMPLES,
    MAX_FRAMES,
    animate_channels,
    animate_conv,
    animate_groups,
    animate_guide,
    animate_pool,
    animate_transposed,
    to_html,
)

TORCH_REFUSES = (RuntimeError, ValueError)

# The guide's figures and the output size each shows (relationships 1-6, 15 and their transposes).
GUIDE_OUTPUTS = {
    "no_padding_no_strides": 2,
    "arbitrary_padding_no_strides": 6,
    "same_padding_no_strides": 5,
    "full_padding_no_strides": 7,
    "no_padding_strides": 2,
    "padding_strides": 3,
    "padding_strides_odd": 3,
    "dilation": 3,
    "no_padding_no_strides_transposed": 4,
    "arbitrary_padding_no_strides_transposed": 5,
    "same_padding_no_strides_transposed": 5,
    "full_padding_no_strides_transposed": 5,
    "no_padding_strides_transposed": 5,
    "padding_strides_transposed": 5,
    "padding_strides_odd_transposed": 6,
}


def torch_size(layer, input_size):
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    with torch.no_grad():
        return tuple(layer(torch.zeros(1, 1, h, w)).shape[-2:])


def conv_layer(kernel_size, stride=1, padding=0, dilation=1):
    return nn.Conv2d(1, 1, kernel_size, stride=stride, padding=padding, dilation=dilation)


def transposed_layer(kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return nn.ConvTranspose2d(1, 1, kernel_size, stride, padding, output_padding, dilation=dilation)


def layer_for(name, kwargs):
    make = transposed_layer if name.endswith("_transposed") else conv_layer
    return make(**{key: value for key, value in kwargs.items() if key != "input_size"})


def frame_count(anim):
    return len(list(anim.new_frame_seq()))


def check_sizes(anim, expected):
    assert anim.output_size == expected
    assert frame_count(anim) == anim.frame_count == math.prod(expected)


# ---------------------------------------------------------------- the guide's figures


def test_guide_examples_are_the_guides_fifteen_figures():
    assert set(GUIDE_EXAMPLES) == set(GUIDE_OUTPUTS)


@pytest.mark.parametrize("name", sorted(GUIDE_EXAMPLES))
def test_guide_example_draws_the_size_torch_computes(name):
    kwargs = GUIDE_EXAMPLES[name]
    anim = animate_guide(name)
    expected = torch_size(layer_for(name, kwargs), kwargs["input_size"])
    assert expected == (GUIDE_OUTPUTS[name],) * 2
    check_sizes(anim, expected)
    anim.update(0)
    anim.update(anim.frame_count - 1)
    anim.figure.canvas.draw()


@pytest.mark.parametrize("name", sorted(n for n in GUIDE_EXAMPLES if n.endswith("_transposed")))
def test_guide_transposed_example_undoes_its_conv(name):
    forward = GUIDE_EXAMPLES[name.removesuffix("_transposed")]
    backward = GUIDE_EXAMPLES[name]
    assert torch_size(layer_for("conv", forward), forward["input_size"]) == (backward["input_size"],) * 2
    assert torch_size(layer_for(name, backward), backward["input_size"]) == (forward["input_size"],) * 2


def kinds_along(grid, row):
    return "".join(kind[0] for kind in grid[row])  # i(nput) z(ero) p(adding) e(xtra) c(ropped)


def test_transposed_input_is_stretched_and_padded_as_the_guide_draws_it():
    # i=3, k=3, s=2, p=1, a=1: 3 pixels with 1 zero between them (5 cells), padded k-1-p=1
    # on every side, and output_padding a=1 more at the bottom and right: 8 cells.
    anim = animate_guide("padding_strides_odd_transposed")
    assert anim.grid.shape == (8, 8)
    assert kinds_along(anim.grid, 1) == "pizizipe"
    assert kinds_along(anim.grid, 0) == "ppppppp" + "e"
    assert kinds_along(anim.grid, 7) == "e" * 8
    assert (anim.grid == "input").sum() == 9
    assert "s−1=1 zeros" in anim.title and "d(k−1)−p=1" in anim.title and "+a=1" in anim.title
    assert anim.taps(0)[0] == (0, 0) and anim.taps(anim.frame_count - 1)[-1] == (7, 7)


def test_transposed_padding_larger_than_the_kernel_crops():
    # d(k-1) - p = 2 - 3 = -1: one stretched cell is cropped on each side; the window starts inside.
    anim = animate_transposed(5, 3, padding=3)
    check_sizes(anim, torch_size(transposed_layer(3, padding=3), 5))
    assert kinds_along(anim.grid, 2) == "ciiic"
    assert anim.taps(0)[0] == (1, 1)


def test_dilation_leaves_gaps_between_taps():
    anim = animate_guide("dilation")
    assert anim.taps(0) == [(r, c) for r in (0, 2, 4) for c in (0, 2, 4)]
    assert anim.taps(anim.frame_count - 1)[-1] == (6, 6)


def test_unknown_guide_name_lists_the_known_ones():
    with pytest.raises(ConvlabError, match="padding_strides_odd"):
        animate_guide("odd")


# ---------------------------------------------------------------- any small config agrees with torch

sizes = st.one_of(st.integers(1, 9), st.tuples(st.integers(1, 9), st.integers(1, 9)))
kernels = st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4)))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@settings(max_examples=25, deadline=None)
@given(size=sizes, kernel=kernels, stride=st.integers(1, 3), dilation=st.integers(1, 3),
       padding=st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"])))
def test_conv_draws_torchs_size_or_both_refuse(size, kernel, stride, padding, dilation):
    try:
        expected = torch_size(conv_layer(kernel, stride, padding, dilation), size)
    except TORCH_REFUSES:
        with pytest.raises(ConvlabError):
            animate_conv(size, kernel, stride, padding, dilation)
        return
    check_sizes(animate_conv(size, kernel, stride, padding, dilation), expected)


@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 5), kernel=kernels, stride=st.integers(1, 3), padding=st.integers(0, 3),
       output_padding=st.integers(0, 2), dilation=st.integers(1, 2))
def test_transposed_draws_torchs_size_or_both_refuse(size, kernel, stride, padding, output_padding, dilation):
    try:
        expected = torch_size(transposed_layer(kernel, stride, padding, output_padding, dilation), size)
    except TORCH_REFUSES:
        with pytest.raises(ConvlabError):
            animate_transposed(size, kernel, stride, padding, output_padding, dilation)
        return
    check_sizes(animate_transposed(size, kernel, stride, padding, output_padding, dilation), expected)


@settings(max_examples=25, deadline=None)
@given(size=sizes, kernel=kernels, stride=st.one_of(st.none(), st.integers(1, 3)), padding=st.integers(0, 2),
       dilation=st.integers(1, 2), ceil_mode=st.booleans())
def test_pool_draws_torchs_size_or_both_refuse(size, kernel, stride, padding, dilation, ceil_mode):
    try:
        expected = torch_size(nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode), size)
    except TORCH_REFUSES:
        with pytest.raises(ConvlabError):
            animate_pool(size, kernel, stride, padding, dilation, ceil_mode)
        return
    check_sizes(animate_pool(size, kernel, stride, padding, dilation, ceil_mode), expected)


def test_pool_ceil_mode_draws_the_partial_window_hanging_past_the_input():
    anim = animate_pool(5, 2, ceil_mode=True)  # windows at 0, 2, 4: the last one sticks out by one
    check_sizes(anim, (3, 3))
    assert anim.grid.shape == (5, 5)
    assert anim.taps(anim.frame_count - 1) == [(4, 4), (4, 5), (5, 4), (5, 5)]
    anim.update(anim.frame_count - 1)
    anim.figure.canvas.draw()


def test_same_padding_with_an_even_kernel_pads_bottom_right_more():
    anim = animate_conv((4, 6), (2, 4), padding="same")
    check_sizes(anim, torch_size(conv_layer((2, 4), padding="same"), (4, 6)))
    assert kinds_along(anim.grid, 0) == "piiiiiipp" and anim.grid.shape == (5, 9)
    assert kinds_along(anim.grid, 4) == "p" * 9
    assert "p='same'" in anim.title


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: animate_conv(3, 5), "kernel does not fit"),
        (lambda: animate_conv(5, 3, stride=2, padding="same"), "needs stride 1"),
        (lambda: animate_conv(30, 1), f"at most {MAX_FRAMES}"),
        (lambda: animate_conv(40, 20), "at most 32 per side"),
        (lambda: animate_conv(5, 3, interval=0), "milliseconds"),
        (lambda: animate_transposed(3, 3, stride=2, output_padding=2), "output_padding must be smaller"),
        (lambda: animate_transposed(3, 3, padding="same"), "not supported by transposed"),
        (lambda: animate_pool(5, 2, padding=2), "at most half the kernel size"),
        (lambda: animate_pool(5, 2, ceil_mode=1), "ceil_mode must be True or False"),
        (lambda: animate_conv(5, 0), "kernel_size must be at least 1"),
    ],
)
def test_bad_input_says_what_and_how_to_fix_it(call, match):
    with pytest.raises(ConvlabError, match=match) as caught:
        call()
    assert "Fix:" in str(caught.value)


# ---------------------------------------------------------------- channels and groups


def test_channels_draws_each_kernels_slices_and_torchs_numbers():
    anim = animate_channels(in_channels=3, out_channels=2, input_size=5, kernel_size=3)
    assert anim.output_size == (3, 3)
    assert frame_count(anim) == anim.frame_count == 2 * 3 * 3  # each kernel writes its own map
    assert anim.grid_shapes == {"input": (3, 5, 5), "kernel": (3, 3, 3), "output": (2, 3, 3)}
    expected = F.conv2d(torch.tensor(anim.inputs[None], dtype=torch.float32),
                        torch.tensor(anim.weight, dtype=torch.float32))[0]
    np.testing.assert_array_equal(anim.output, expected.numpy())
    anim.update(frame_count(anim) - 1)  # kernel 1's backdrop, last cell
    sum_line = f"map 1[2, 2] = {' + '.join(terms(anim, 1, 2, 2))} = {anim.output[1, 2, 2]}"
    assert anim.figure.texts[1].get_text() == sum_line
    anim.figure.canvas.draw()


def terms(anim, o, r, c):
    products = (anim.inputs[:, r:r + 3, c:c + 3] * anim.weight[o]).sum(axis=(1, 2))
    return [f"({v})" if v < 0 else str(v) for v in products]


def test_channels_with_rectangular_sizes():
    anim = animate_channels(1, 3, input_size=(4, 6), kernel_size=(2, 3))
    assert anim.output_size == (3, 4)
    assert frame_count(anim) == 3 * 12
    assert anim.grid_shapes == {"input": (1, 4, 6), "kernel": (1, 2, 3), "output": (3, 3, 4)}


@pytest.mark.parametrize(("c_in", "c_out", "groups"), [(4, 4, 2), (6, 3, 3), (4, 8, 4), (3, 6, 1)])
def test_groups_links_each_group_to_its_own_outputs(c_in, c_out, groups):
    anim = animate_groups(c_in, c_out, groups)
    assert frame_count(anim) == groups
    assert anim.boxes == {"in": c_in, "out": c_out}
    assert anim.weight_shape == (c_out, c_in // groups, 3, 3)
    assert anim.weight_shape == tuple(nn.Conv2d(c_in, c_out, 3, groups=groups).weight.shape)
    per_in, per_out = c_in // groups, c_out // groups
    for g, pairs in enumerate(anim.connections):
        assert {i for i, _ in pairs} == set(range(g * per_in, (g + 1) * per_in))
        assert {o for _, o in pairs} == set(range(g * per_out, (g + 1) * per_out))
        assert len(pairs) == per_in * per_out
    anim.update(groups - 1)
    assert f"in/groups = {c_in}/{groups} = {per_in}" in anim.figure.texts[1].get_text()


@pytest.mark.parametrize(("c_in", "c_out", "groups", "match"), [
    (4, 4, 3, "groups=3 must divide in_channels=4"),
    (4, 6, 4, "groups=4 must divide out_channels=6"),
    (4, 4, 0, "groups must be at least 1"),
])
def test_groups_that_do_not_divide_are_refused(c_in, c_out, groups, match):
    with pytest.raises(ConvlabError, match=match):
        animate_groups(c_in, c_out, groups)


# ---------------------------------------------------------------- HTML


@pytest.mark.parametrize("make", [
    lambda: animate_guide("padding_strides_odd"),
    lambda: animate_pool(5, 2, ceil_mode=True),
    lambda: animate_groups(4, 4, 2),
], ids=["conv", "pool", "groups"])
def test_to_html_is_a_player_with_every_frame_and_leaves_no_figure(make):
    anim = make()
    html = to_html(anim).data
    assert "<img" in html and "animation" in html.lower()
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', html)) == anim.frame_count
    assert re.search(r'value="loop" id="[^"]+"\s+checked', html)  # the player starts in loop mode
    assert plt.get_fignums() == []


def test_to_html_closes_a_pyplot_figure_too():
    fig = plt.figure()
    anim = FuncAnimation(fig, lambda frame: None, frames=2)
    to_html(anim)
    assert plt.get_fignums() == []


def test_to_html_refuses_what_is_not_an_animation():
    with pytest.raises(ConvlabError, match="needs a matplotlib animation"):
        to_html(plt.figure())
    plt.close("all")


def test_to_html_asks_no_other_host_for_anything():
    # The published book works offline: matplotlib's player links Font Awesome from a CDN.
    from convlab import animation as module

    html = module.to_html(module.animate_conv(4, 3)).data
    assert "https://" not in html and "http://" not in html
