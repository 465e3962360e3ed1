"""convlab.bench: the statistics and the guards, with calls of known duration."""

import time

import pytest
import torch

from convlab import ConvlabError
from convlab.bench import SHORTEST_SAMPLE_S, measure


def test_median_of_a_known_duration():
    timing = measure(lambda: time.sleep(0.01), warmup=1, samples=5)
    assert 0.009 < timing.median_s < 0.03
    assert timing.q1_s <= timing.median_s <= timing.q3_s
    assert timing.calls_per_sample == 1 and timing.samples == 5


def test_short_calls_are_repeated_until_a_sample_is_long_enough():
    calls = []
    timing = measure(lambda: calls.append(1), warmup=2, samples=3)
    assert timing.calls_per_sample > 1
    assert timing.calls_per_sample * timing.median_s < 10 * SHORTEST_SAMPLE_S
    assert len(calls) >= 2 + 3 * timing.calls_per_sample


def test_rate_is_work_over_median_time():
    timing = measure(lambda: time.sleep(0.005), warmup=0, samples=3, mult_adds=10**6, label="nap")
    assert timing.mult_adds_per_s == pytest.approx(10**6 / timing.median_s)
    assert timing.as_dict()["mult_adds"] == 10**6
    assert str(timing).startswith("nap on cpu: median")


def test_without_work_there_is_no_rate():
    timing = measure(lambda: None, samples=2)
    assert timing.mult_adds_per_s is None and "mult-adds" not in str(timing)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_timing_waits_for_the_gpu():
    x = torch.randn(2048, 2048, device="cuda")
    timing = measure(lambda: x @ x, device="cuda", samples=3, mult_adds=2048**3)
    assert timing.device.startswith("cuda") and timing.median_s > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fn": 3}, r"(?s)needs something to call, got int.*Fix: pass a function"),
        ({"fn": print, "samples": 0}, r"(?s)samples=0.*Fix: use warmup >= 0 and samples >= 1"),
        ({"fn": print, "warmup": -1}, r"(?s)warmup=-1"),
        ({"fn": print, "mult_adds": -5}, r"(?s)mult_adds must be 0 or more, got -5"),
        ({"fn": print, "samples": 2.5}, r"(?s)samples must be an integer, got 2.5"),
    ],
)
def test_bad_arguments_are_explained(kwargs, message):
    fn = kwargs.pop("fn")
    with pytest.raises(ConvlabError, match=message):
        measure(fn, **kwargs)
