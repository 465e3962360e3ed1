"""Input guards shared by every public function: ints, (h, w) pairs, tensors.

Each guard returns the cleaned value or raises a ConvlabError that names the
argument, the value it got, and what it accepts. The *_sizes guards take the
number of dimensions (1, 2 or 3, as for Conv1d, Conv2d and Conv3d); the *_pair
guards are their 2-D forms.
"""

import operator

import torch

from convlab.errors import error, show_shape

PADDING_WORDS = {"same", "valid"}


# How each number of dimensions is named in messages: (the tuple, an example, a short name).
SIZE_FORMS = {
    1: ("a 1-tuple (length,)", "(3,)", "a 1-tuple"),
    2: ("an (h, w) pair", "(3, 3)", "a pair"),
    3: ("a (d, h, w) triple", "(3, 3, 3)", "a triple"),
}


def as_int(value, name: str, ndim: int = 2) -> int:
    """An int (numpy and torch integers too), never a bool or a float.

    ndim only words the message: the tuple form the argument could also take.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise error(
            f"{name} must be an integer, got {value!r} ({type(value).__name__}).",
            f"pass a whole number such as {name}=3.",
        )
    try:
        return operator.index(value)
    except TypeError:
        form, example, short = SIZE_FORMS[ndim]
        raise error(
            f"{name} must be an integer or {form} of integers, "
            f"got {value!r} ({type(value).__name__}).",
            f"pass a whole number such as {name}=3, or {short} such as {name}={example}.",
        ) from None


def as_sizes(value, name: str, ndim: int) -> tuple[int, ...]:
    """An int, a 1-tuple (as torch takes it: (3,) means 3 in every dimension) or ndim ints, as an ndim-tuple."""
    if isinstance(value, torch.Size | tuple | list):
        if len(value) not in (1, ndim):
            raise error(
                f"{name} must be an int or {SIZE_FORMS[ndim][0]}, got {value!r} with {len(value)} entries.",
                _length_fix(name, ndim),
            )
        if len(value) == 1:
            return (as_int(value[0], name, ndim),) * ndim
        return tuple(as_int(v, name, ndim) for v in value)
    return (as_int(value, name, ndim),) * ndim


def _length_fix(name: str, ndim: int) -> str:
    if ndim == 2:
        return f"pass one number for both sides, or exactly two: {name}=(h, w)."
    if ndim == 1:
        return f"pass one number: {name}=3 or {name}=(3,)."
    return f"pass one number for all three dimensions, or exactly three: {name}=(d, h, w)."


def as_pair(value, name: str) -> tuple[int, int]:
    """An int, a 1-tuple (as torch takes it: (3,) means 3) or an (h, w) pair of ints, as an (h, w) tuple."""
    return as_sizes(value, name, 2)


def positive_sizes(value, name: str, ndim: int) -> tuple[int, ...]:
    sizes = as_sizes(value, name, ndim)
    if min(sizes) <= 0:
        negative = ", which is negative" if min(sizes) < 0 else ""
        raise error(
            f"{name} must be at least 1 in each dimension, got {name}={show_shape(sizes)}{negative}.",
            f"use a positive {name}; 1 means {_meaning_of_one(name)}.",
        )
    return sizes


def positive_pair(value, name: str) -> tuple[int, int]:
    return positive_sizes(value, name, 2)


def nonnegative_sizes(value, name: str, ndim: int) -> tuple[int, ...]:
    sizes = as_sizes(value, name, ndim)
    if min(sizes) < 0:
        crop = ", ".join(f"{a}:-{a}" for a in "abc"[:ndim])
        raise error(
            f"{name} must be 0 or more in each dimension, got {name}={show_shape(sizes)}, which is negative; "
            "PyTorch does not support negative padding.",
            f"use {name}=0 or more, or crop the input first (x[..., {crop}]).",
        )
    return sizes


def nonnegative_pair(value, name: str) -> tuple[int, int]:
    return nonnegative_sizes(value, name, 2)


def pool_stride(stride, kernel_size, ndim: int = 2) -> tuple[int, ...]:
    """A pooling stride: None, or an empty tuple as torch allows, means the kernel size."""
    if stride is None or (isinstance(stride, torch.Size | tuple | list) and len(stride) == 0):
        return positive_sizes(kernel_size, "kernel_size", ndim)
    return positive_sizes(stride, "stride", ndim)


def padding_arg(value, ndim: int = 2) -> tuple[int, ...] | str:
    """Per-side padding: an int, ndim ints (an (h, w) pair in 2-D), or 'same' / 'valid' as torch allows."""
    if isinstance(value, str):
        if value not in PADDING_WORDS:
            raise error(
                f"padding={value!r} is not a padding torch knows.",
                f"use one of {sorted(PADDING_WORDS)}, an int, or {SIZE_FORMS[ndim][0]}.",
            )
        return value
    return nonnegative_sizes(value, "padding", ndim)


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
