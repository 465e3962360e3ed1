"""convlab.device() and convlab.seed(): the device choice and repeatability."""

import random

import numpy as np
import pytest
import torch

import convlab
from convlab import ConvlabError


def test_device_follows_the_environment_variable(monkeypatch):
    monkeypatch.setenv("CONVLAB_DEVICE", "cpu")
    assert convlab.device() == torch.device("cpu")


def test_device_without_the_variable_is_the_best_available(monkeypatch):
    monkeypatch.delenv("CONVLAB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert convlab.device().type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_is_explained(monkeypatch):
    monkeypatch.setenv("CONVLAB_DEVICE", "cuda")
    with pytest.raises(ConvlabError, match=r"(?s)CONVLAB_DEVICE='cuda'.*does not have.*Fix: unset CONVLAB_DEVICE"):
        convlab.device()


def test_an_unknown_device_name_is_explained(monkeypatch):
    monkeypatch.setenv("CONVLAB_DEVICE", "gpu0")
    with pytest.raises(ConvlabError, match=r"(?s)'gpu0' is not a device torch knows.*Fix: set CONVLAB_DEVICE to cpu"):
        convlab.device()


def test_seed_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3).tolist(), torch.nn.Conv2d(1, 2, 3).weight.sum()

    convlab.seed(7)
    first = draw()
    convlab.seed(7)
    assert draw() == first
    convlab.seed(8)
    assert draw() != first


def test_seed_turns_tf32_off_and_asks_for_determinism():
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        convlab.seed(0)
        assert not torch.backends.cudnn.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.deterministic
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_seed_rejects_what_is_not_a_whole_number(bad):
    with pytest.raises(ConvlabError, match=r"(?s)seed needs a whole number.*Fix: call convlab.seed\(0\)"):
        convlab.seed(bad)


def test_seed_falls_back_to_the_public_call_where_torch_lacks_the_eager_setter(monkeypatch):
    calls = []
    monkeypatch.delattr(torch._C, "_set_deterministic_algorithms")
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda mode, warn_only: calls.append((mode, warn_only)))
    convlab.seed(0)
    assert calls == [(True, True)]
