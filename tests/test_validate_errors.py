"""convlab.validate: the input guards every public function starts with."""

import pickle
import re

import numpy as np
import pytest
import torch

from convlab import ConvlabError
from convlab.errors import error, plural, show_shape, show_size
from convlab.validate import as_int, as_pair, nonnegative_pair, padding_arg, pool_stride, positive_pair, tensor_arg


def has(*parts):
    """A pattern matching a message that contains each part, in order (across lines)."""
    return "(?s)" + ".*".join(re.escape(p) for p in parts)


def test_error_words_problem_and_fix():
    e = error("The problem, with 3 numbers.", "do this instead.")
    assert isinstance(e, ConvlabError) and isinstance(e, ValueError)
    assert str(e) == "The problem, with 3 numbers.\n  Fix: do this instead."
    # the two parts are attributes: code that wants one reads it, never splits the message
    assert e.problem == "The problem, with 3 numbers." and e.fix == "do this instead."


def test_error_parts_survive_pickling_and_one_part_errors():
    e = pickle.loads(pickle.dumps(error("p, with 2.", "f.")))
    assert (e.problem, e.fix, str(e)) == ("p, with 2.", "f.", "p, with 2.\n  Fix: f.")

    class UsageError(ConvlabError):  # as convlab.grading.gradescope words its one-line errors
        pass

    one = UsageError("unknown chapter '11'")
    assert str(one) == "unknown chapter '11'" and one.problem == "unknown chapter '11'" and one.fix is None
    assert "UsageError" in one._render_traceback_()[0]


def test_one_formatter_for_sizes_and_shapes():
    assert show_size((3, 3)) == show_size(3) == show_size((3,)) == "3×3"
    assert show_size((3, 5)) == "3×5"
    assert show_shape(torch.Size([1, 3, 28, 28])) == "(1, 3, 28, 28)"
    assert show_shape((5,)) == "(5,)" and show_shape(()) == "()"
    assert show_shape(torch.zeros(2, 0, 4).shape) == "(2, 0, 4)"
    assert [plural(n, "channel") for n in (0, 1, 2)] == ["0 channels", "1 channel", "2 channels"]


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), torch.tensor(3), torch.tensor(3, dtype=torch.int8)])
def test_as_int_accepts_every_kind_of_integer(value):
    assert as_int(value, "k") == 3 and type(as_int(value, "k")) is int


@pytest.mark.parametrize(
    "value, message",
    [
        (True, "k must be an integer, got True (bool)"),
        (3.0, "k must be an integer, got 3.0 (float)"),
        (np.float64(3.0), "k must be an integer, got"),
        (np.float32(3.0), "k must be an integer or an (h, w) pair of integers, got"),
        (torch.tensor(3.0), "k must be an integer or an (h, w) pair of integers"),
        ("3", "got '3' (str)"),
        (None, "got None (NoneType)"),
    ],
)
def test_as_int_refuses_non_integers(value, message):
    with pytest.raises(ConvlabError, match=has(message, "Fix: pass")):
        as_int(value, "k")


def test_pairs():
    assert as_pair(3, "k") == (3, 3)
    # a 1-element tuple is one number for both sides, as torch reads it
    assert as_pair((3,), "k") == (3, 3) == as_pair([3], "k") == as_pair(torch.Size([3]), "k")
    with pytest.raises(ConvlabError, match=has("k must be an int or an (h, w) pair, got () with 0 entries")):
        as_pair((), "k")
    assert as_pair((2, 5), "k") == (2, 5) == as_pair([2, 5], "k") == as_pair(torch.Size([2, 5]), "k")
    with pytest.raises(ConvlabError, match=has("k must be an int or an (h, w) pair, got (1, 2, 3) with 3 entries")):
        as_pair((1, 2, 3), "k")
    with pytest.raises(ConvlabError, match=has("stride must be at least 1", "stride=(2, 0)", "move one pixel")):
        positive_pair((2, 0), "stride")
    with pytest.raises(ConvlabError, match=has("groups must be at least 1", "no grouping")):
        positive_pair(0, "groups")
    with pytest.raises(ConvlabError, match=has("padding=(-1, 0), which is negative", "crop the input first")):
        nonnegative_pair((-1, 0), "padding")
    assert nonnegative_pair(0, "padding") == (0, 0)


@pytest.mark.parametrize("value", [-1, (-1,), (-1, -1), (2, -3), [-1]])
def test_negative_sizes_are_called_negative(value):
    with pytest.raises(ConvlabError) as info:
        positive_pair(value, "dilation")
    assert "dilation must be at least 1 in each dimension" in info.value.problem
    assert "which is negative" in info.value.problem
    assert "(h, w) pair" not in str(info.value)


def test_zero_is_not_called_negative():
    with pytest.raises(ConvlabError) as info:
        positive_pair((2, 0), "stride")
    assert "negative" not in str(info.value)


def test_pool_stride_defaults_to_the_kernel():
    assert pool_stride(None, 3) == pool_stride((), 3) == pool_stride([], (3, 3)) == (3, 3)
    assert pool_stride((2,), 3) == (2, 2)


def test_padding_words():
    assert padding_arg("same") == "same" and padding_arg("valid") == "valid"
    assert padding_arg(2) == (2, 2)
    with pytest.raises(ConvlabError, match=has("padding='Same' is not a padding torch knows", "['same', 'valid']")):
        padding_arg("Same")


def test_tensor_arg():
    x = torch.zeros(2, 3)
    with pytest.raises(ConvlabError, match=has("x must be 3-D or 4-D, got shape (2, 3) (2-D)", "x[None, None]")):
        tensor_arg(x, "x", (3, 4))
    with pytest.raises(ConvlabError, match=has("weight must be 4-D", "(out_channels, in_channels/groups, kH, kW)")):
        tensor_arg(x, "weight", (4,))
    with pytest.raises(ConvlabError, match=has("x must be a torch.Tensor, got ndarray", "torch.as_tensor(x")):
        tensor_arg(np.zeros((1, 2, 2)), "x", (3, 4))
    assert tensor_arg(torch.zeros(1, 2, 2), "x", (3, 4)).shape == (1, 2, 2)
