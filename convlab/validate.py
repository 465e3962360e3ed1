"""Input guards shared by every public function: ints, (h, w) pairs, tensors.

Each guard returns the cleaned value or raises a ConvlabError that names the
argument, the value it got, and what it accepts.
"""

import operator

import torch

from convlab.errors import error, show_shape

PADDING_WORDS = {"same", "valid"}


def as_int(value, name: str) -> int:
    """An int (numpy and torch integers too), never a bool or a float."""
    if isinstance(value, bool) or isinstance(value, float):
        raise error(
            f"{name} must be an integer, got {value!r} ({type(value).__name__}).",
            f"pass a whole number such as {name}=3.",
        )
    try:
        return operator.index(value)
    except TypeError:
        raise error(
            f"{name} must be an integer or an (h, w) pair of integers, "
            f"got {value!r} ({type(value).__name__}).",
            f"pass a whole number such as {name}=3, or a pair such as {name}=(3, 3).",
        ) from None


def as_pair(value, name: str) -> tuple[int, int]:
    """An int, a 1-tuple (as torch takes it: (3,) means 3) or an (h, w) pair of ints, as an (h, w) tuple."""
    if isinstance(value, torch.Size | tuple | list):
        if len(value) not in (1, 2):
            raise error(
                f"{name} must be an int or an (h, w) pair, got {value!r} with {len(value)} entries.",
                f"pass one number for both sides, or exactly two: {name}=(h, w).",
            )
        if len(value) == 1:
            number = as_int(value[0], name)
            return number, number
        return as_int(value[0], name), as_int(value[1], name)
    number = as_int(value, name)
    return number, number


def positive_pair(value, name: str) -> tuple[int, int]:
    pair = as_pair(value, name)
    if min(pair) <= 0:
        negative = ", which is negative" if min(pair) < 0 else ""
        raise error(
            f"{name} must be at least 1 in each dimension, got {name}={show_shape(pair)}{negative}.",
            f"use a positive {name}; 1 means {_meaning_of_one(name)}.",
        )
    return pair


def nonnegative_pair(value, name: str) -> tuple[int, int]:
    pair = as_pair(value, name)
    if min(pair) < 0:
        raise error(
            f"{name} must be 0 or more in each dimension, got {name}={show_shape(pair)}, which is negative; "
            "PyTorch does not support negative padding.",
            f"use {name}=0 or more, or crop the input first (x[..., a:-a, b:-b]).",
        )
    return pair


def pool_stride(stride, kernel_size) -> tuple[int, int]:
    """A pooling stride: None, or an empty tuple as torch allows, means the kernel size."""
    if stride is None or (isinstance(stride, torch.Size | tuple | list) and len(stride) == 0):
        return positive_pair(kernel_size, "kernel_size")
    return positive_pair(stride, "stride")


def padding_arg(value) -> tuple[int, int] | str:
    """Per-side padding: an int, an (h, w) pair, or 'same' / 'valid' as torch allows."""
    if isinstance(value, str):
        if value not in PADDING_WORDS:
            raise error(
                f"padding={value!r} is not a padding torch knows.",
                f"use one of {sorted(PADDING_WORDS)}, an int, or an (h, w) pair.",
            )
        return value
    return nonnegative_pair(value, "padding")


def tensor_arg(value, name: str, dims: tuple[int, ...]) -> torch.Tensor:
    """A tensor with one of the allowed numbers of dimensions."""
    if not isinstance(value, torch.Tensor):
        raise error(
            f"{name} must be a torch.Tensor, got {type(value).__name__}.",
            f"convert it first: {name} = torch.as_tensor({name}, dtype=torch.float32).",
        )
    if value.dim() not in dims:
        allowed = " or ".join(f"{d}-D" for d in dims)
        raise error(
            f"{name} must be {allowed}, got shape {show_shape(value.shape)} ({value.dim()}-D).",
            _dims_fix(name, dims),
        )
    return value


def _dims_fix(name: str, dims: tuple[int, ...]) -> str:
    if 4 in dims and 3 in dims:
        return (
            f"give {name} the layout (batch, channels, height, width) or (channels, height, width); "
            f"a single grey image of shape (H, W) becomes {name}[None, None]."
        )
    if dims == (4,):
        return f"give {name} the layout (out_channels, in_channels/groups, kH, kW)."
    return f"reshape {name} to have {dims} dimensions."


def _meaning_of_one(name: str) -> str:
    return {
        "stride": "move one pixel at a time",
        "dilation": "no gaps between kernel taps",
        "groups": "no grouping",
    }.get(name, "the smallest size")
