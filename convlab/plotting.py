"""Figures with one style for the whole book: images, kernels, feature maps.

Every function takes tensors on any device (or NumPy arrays), draws with
matplotlib and returns the Figure. Kernels use a diverging colour map centred
on zero (red positive, blue negative); images and feature maps use grey.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from convlab.errors import error

IMAGE_CMAP = "gray"
KERNEL_CMAP = "RdBu_r"
PANEL_INCHES = 1.6


def to_numpy(values) -> np.ndarray:
    """A detached float NumPy copy of a tensor (from any device) or array."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float32).numpy()
    return np.asarray(values, dtype=np.float32)


def show_images(images, titles=None, ncols=None, cmap=IMAGE_CMAP, panel=PANEL_INCHES, vmin=None, vmax=None):
    """A grid of images: a list of (H, W) or (3, H, W) images, or an (N, H, W) tensor.

    Grey images are scaled to their own range unless vmin / vmax fix a shared one;
    colour images are stretched to 0..1 unless vmin / vmax are given (then clipped to them).
    """
    fixed = vmin is not None or vmax is not None
    images = [_as_image(image, index, stretch=not fixed) for index, image in enumerate(_as_list(images, "images"))]
    titles = _titles(titles, len(images))
    ncols = ncols or min(len(images), 8)
    nrows = math.ceil(len(images) / ncols)
    fig, axes = _grid(nrows, ncols, panel)
    for ax, image, title in zip(axes.flat, images, titles):
        if image.ndim == 3:
            low, high = (0.0 if vmin is None else vmin), (1.0 if vmax is None else vmax)
            ax.imshow(np.clip((image - low) / (high - low), 0, 1) if fixed else image)
        else:
            ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(title, fontsize=9)
    _hide_unused(axes, len(images))
    return fig


def show_kernels(weight, annotate=None, panel=PANEL_INCHES, titles=None):
    """A conv weight (out, in, kH, kW) as a grid: one row per kernel, one column per slice.

    Colours share one scale centred on zero; small kernels also print their values.
    titles names the kernels (default "kernel 0", "kernel 1", ...).
    """
    w = to_numpy(weight)
    if w.ndim != 4:
        raise error(
            f"show_kernels needs a weight of shape (out, in, kH, kW), got {w.shape}.",
            "pass layer.weight of an nn.Conv2d.",
        )
    c_out, c_in, kh, kw = w.shape
    names = _titles(titles, c_out) if titles is not None else [f"kernel {o}" for o in range(c_out)]
    annotate = kh * kw <= 25 and c_out * c_in <= 24 if annotate is None else annotate
    limit = float(np.abs(w).max()) or 1.0
    # One input channel: the kernels side by side in one row reads better than a column.
    fig, axes = _grid(1, c_out, panel * 0.8) if c_in == 1 else _grid(c_out, c_in, panel * 0.8)
    for o in range(c_out):
        for i in range(c_in):
            ax = axes[0, o] if c_in == 1 else axes[o, i]
            ax.imshow(w[o, i], cmap=KERNEL_CMAP, vmin=-limit, vmax=limit)
            if annotate:
                _write_values(ax, w[o, i], limit)
            if c_in == 1:
                ax.set_title(names[o], fontsize=8)
                continue
            if o == 0:
                ax.set_title(f"slice {i}", fontsize=8)
            if i == 0:
                ax.set_ylabel(names[o], fontsize=8)
    return fig


def show_feature_maps(maps, titles=None, ncols=None, panel=PANEL_INCHES):
    """The channels of a conv output, (C, H, W) or (1, C, H, W), side by side."""
    m = to_numpy(maps)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3:
        raise error(
            f"show_feature_maps needs (C, H, W) or (1, C, H, W), got shape {m.shape}.",
            "pick one image of the batch first: out[0].",
        )
    titles = titles or [f"map {c}" for c in range(m.shape[0])]
    return show_images(list(m), titles=titles, ncols=ncols, panel=panel)


def show_conv(x, weight, out, panel=PANEL_INCHES):
    """Input channels → kernels → feature maps, one row per kernel.

    x: (C, H, W) or (1, C, H, W); weight: (out, C, kH, kW); out: (out, H', W') or
    (1, out, H', W'). Row o shows kernel o's slices and the map it produces.
    """
    x, out, w = _single(x, "x"), _single(out, "out"), to_numpy(weight)
    c_out, c_in = w.shape[:2]
    if x.shape[0] != c_in or out.shape[0] != c_out:
        raise error(
            f"show_conv got x with {x.shape[0]} channels, a weight {tuple(w.shape)} and an output "
            f"with {out.shape[0]} channels; the weight must be (out channels, input channels, kH, kW).",
            "pass the same x, layer.weight and layer(x).",
        )
    rows = max(c_out, c_in)
    fig, axes = _grid(rows, c_in + 2, panel * 0.9)  # inputs | one column per slice | maps
    limit = float(np.abs(w).max()) or 1.0
    for i in range(c_in):
        axes[i, 0].imshow(x[i], cmap=IMAGE_CMAP)
        axes[i, 0].set_title(f"input ch {i}", fontsize=8)
    for o in range(c_out):
        for i in range(c_in):
            axes[o, 1 + i].imshow(w[o, i], cmap=KERNEL_CMAP, vmin=-limit, vmax=limit)
            if o == 0:
                axes[o, 1 + i].set_title(f"slice {i}", fontsize=8)
        axes[o, 1].set_ylabel(f"kernel {o}", fontsize=8)
        axes[o, -1].imshow(out[o], cmap=IMAGE_CMAP)
        axes[o, -1].set_title(f"feature map {o}", fontsize=8)
    for row in range(rows):
        if row >= c_in:
            axes[row, 0].set_visible(False)
        if row >= c_out:
            for col in range(1, c_in + 2):
                axes[row, col].set_visible(False)
    return fig


def _single(t, name):
    a = to_numpy(t)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise error(f"{name} must be (C, H, W) or (1, C, H, W), got shape {a.shape}.", f"pass {name}[0] for one image.")
    return a


def _grid(nrows, ncols, panel):
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * panel, nrows * panel), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def _hide_unused(axes, used):
    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)


def _write_values(ax, values, limit):
    for (row, col), value in np.ndenumerate(values):
        colour = "white" if abs(value) > 0.6 * limit else "black"
        text = f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
        text = "0.00" if text == "-0.00" else text  # a tiny negative weight is not worth a sign
        ax.text(col, row, text, ha="center", va="center", fontsize=7, color=colour)


def _as_list(images, name):
    if isinstance(images, torch.Tensor | np.ndarray):
        if images.ndim == 2:
            return [images]
        return list(images)
    if isinstance(images, list | tuple) and images:
        return list(images)
    raise error(f"{name} must be a non-empty list of images or a tensor, got {type(images).__name__}.",
                "pass [image1, image2] or a tensor of shape (N, H, W).")


def _as_image(image, index, stretch=True):
    a = to_numpy(image)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))
    if a.ndim == 3 and a.shape[-1] == 3 and not stretch:
        return a
    if a.ndim == 3 and a.shape[-1] == 3:
        low, high = a.min(), a.max()
        return (a - low) / (high - low) if high > low else np.zeros_like(a)
    if a.ndim != 2:
        raise error(
            f"image {index} has shape {a.shape}; an image is (H, W), (1, H, W) or (3, H, W).",
            "pick one channel or one image of the batch first.",
        )
    return a


def _titles(titles, count):
    if titles is None:
        return [""] * count
    titles = list(titles)
    if len(titles) != count:
        raise error(f"Got {len(titles)} titles for {count} images.", "give one title per image, or none.")
    return titles
