"""The helpers in convlab.exercises.core that every chapter's checks share."""

import pytest
import torch
from torch import nn

from convlab.exercises.core import Wrong, as_tensor, expect_shape, leaves, place, run_recording_sizes


def test_place_follows_the_models_parameters():
    assert place(nn.Conv2d(1, 1, 3).double()) == {"device": torch.device("cpu"), "dtype": torch.float64}
    assert place(nn.ReLU()) == {}


def test_leaves_opens_nested_blocks():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten())
    assert [type(m).__name__ for m in leaves(model)] == ["Conv2d", "ReLU", "Flatten"]


def test_as_tensor_accepts_tensor_likes_and_refuses_the_rest():
    assert torch.equal(as_tensor([[1, 2]], "f"), torch.tensor([[1.0, 2.0]], dtype=torch.float64))
    with pytest.raises(Wrong, match="f returned a str; it should return a tensor"):
        as_tensor("nope", "f")


def test_run_recording_sizes_records_each_layer_and_removes_its_hooks():
    convs = [nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, padding=1)]
    out, sizes, failed = run_recording_sizes(nn.Sequential(*convs), convs, torch.zeros(1, 1, 8, 8), "model")
    assert tuple(out.shape) == (1, 1, 6, 6) and sizes == [(6, 6), (6, 6)] and failed is None
    assert all(not conv._forward_hooks for conv in convs)


def test_run_recording_sizes_returns_a_failure_after_the_sizes_it_saw():
    convs = [nn.Conv2d(1, 2, 3), nn.Conv2d(3, 1, 3)]  # the second expects 3 channels, gets 2
    out, sizes, failed = run_recording_sizes(nn.Sequential(*convs), convs, torch.zeros(1, 1, 8, 8), "model")
    assert out is None and sizes == [(6, 6)]
    assert isinstance(failed, Wrong) and "model(" in str(failed)
    assert all(not conv._forward_hooks for conv in convs)


def test_expect_shape_names_what_ran_and_what_it_gave():
    expect_shape(torch.zeros(2, 10), (2, 10), "the model")
    with pytest.raises(Wrong, match=r"for 2 images the model gives \(2, 5\); it should give \(2, 10\)"):
        expect_shape(torch.zeros(2, 5), (2, 10), "for 2 images the model")
    with pytest.raises(Wrong, match=r"the model gives list; it should give \(2, 10\)"):
        expect_shape([1, 2], (2, 10), "the model")
