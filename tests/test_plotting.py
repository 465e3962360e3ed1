"""convlab.plotting: structure and sizes of the figures, not pixels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from convlab import ConvlabError, plotting  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_show_images_draws_one_panel_per_image_with_its_title():
    images = torch.rand(5, 8, 6)
    fig = plotting.show_images(images, titles=list("abcde"), ncols=3)
    axes = visible_axes(fig)
    assert len(axes) == 5
    assert [ax.get_title() for ax in axes] == list("abcde")
    assert axes[0].images[0].get_array().shape == (8, 6)


def test_show_images_shows_rgb_channels_last():
    fig = plotting.show_images([torch.rand(3, 4, 5)])
    assert visible_axes(fig)[0].images[0].get_array().shape == (4, 5, 3)


def test_show_kernels_has_a_panel_per_slice_on_one_symmetric_scale():
    weight = torch.randn(4, 3, 3, 3)
    fig = plotting.show_kernels(weight)
    assert len(fig.axes) == 12
    low, high = fig.axes[0].images[0].get_clim()
    assert low == pytest.approx(-high)
    assert high == pytest.approx(weight.abs().max().item())


def test_show_kernels_puts_single_slice_kernels_in_one_row():
    fig = plotting.show_kernels(torch.randn(5, 1, 3, 3))
    assert [ax.get_title() for ax in fig.axes] == [f"kernel {i}" for i in range(5)]
    assert fig.get_figwidth() > fig.get_figheight()


def test_show_kernels_writes_values_of_small_kernels():
    weight = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]]])
    fig = plotting.show_kernels(weight)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(["1", "-2", "0.50", "0"])


def test_show_feature_maps_takes_a_batch_of_one():
    fig = plotting.show_feature_maps(torch.rand(1, 6, 10, 10))
    assert [ax.get_title() for ax in visible_axes(fig)] == [f"map {i}" for i in range(6)]


def test_show_conv_has_a_row_per_kernel():
    x, weight = torch.rand(1, 2, 12, 12), torch.randn(3, 2, 3, 3)
    out = torch.nn.functional.conv2d(x, weight)
    fig = plotting.show_conv(x, weight, out)
    titles = [ax.get_title() for ax in visible_axes(fig)]
    assert titles.count("input ch 0") == 1 and titles.count("input ch 1") == 1
    assert [t for t in titles if t.startswith("feature map")] == [f"feature map {i}" for i in range(3)]
    assert len(visible_axes(fig)) == 2 + 3 * 2 + 3


def test_plots_accept_numpy_and_tensors_that_need_grad():
    weight = torch.randn(2, 1, 3, 3, requires_grad=True)
    plotting.show_kernels(weight)
    plotting.show_images([np.zeros((4, 4))])


def test_bad_shapes_are_explained():
    with pytest.raises(ConvlabError, match=r"(?s)shape \(out, in, kH, kW\), got \(3, 3\).*Fix: pass layer.weight"):
        plotting.show_kernels(torch.zeros(3, 3))
    with pytest.raises(ConvlabError, match=r"(?s)Got 1 titles for 2 images"):
        plotting.show_images([np.zeros((2, 2))] * 2, titles=["one"])
    with pytest.raises(ConvlabError, match=r"(?s)x with 1 channels, a weight \(3, 2, 3, 3\)"):
        plotting.show_conv(torch.rand(1, 8, 8), torch.randn(3, 2, 3, 3), torch.rand(3, 6, 6))


def test_show_kernels_can_name_the_kernels():
    fig = plotting.show_kernels(torch.randn(2, 1, 3, 3), titles=["sobel", "blur"])
    assert [ax.get_title() for ax in fig.axes] == ["sobel", "blur"]
    with pytest.raises(ConvlabError, match=r"Got 1 titles for 2 images"):
        plotting.show_kernels(torch.randn(2, 1, 3, 3), titles=["one"])


def test_show_images_can_share_a_fixed_range():
    grey = [np.full((4, 4), 0.25), np.full((4, 4), 0.75)]
    fig = plotting.show_images(grey, vmin=0, vmax=1)
    assert all(ax.images[0].get_clim() == (0, 1) for ax in visible_axes(fig))
    colour = np.full((3, 2, 2), 0.5)
    shown = plotting.show_images([colour], vmin=0, vmax=1).axes[0].images[0].get_array()
    assert np.allclose(shown, 0.5)  # not stretched to its own (empty) range


def test_kernel_values_never_show_a_negative_zero():
    fig = plotting.show_kernels(torch.tensor([[[[-0.001, 0.5], [1.0, -1.0]]]]))
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(["0.00", "0.50", "1", "-1"])


def test_show_conv_names_the_slices_over_the_first_kernel():
    x, weight = torch.rand(1, 3, 8, 8), torch.randn(2, 3, 3, 3)
    titles = [ax.get_title() for ax in plotting.show_conv(x, weight, torch.rand(1, 2, 6, 6)).axes]
    assert [t for t in titles if t.startswith("slice")] == ["slice 0", "slice 1", "slice 2"]
