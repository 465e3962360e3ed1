"""Time a callable on a device properly, and report how fast it does arithmetic.

    timing = convlab.bench.measure(lambda: F.conv2d(x, w, padding=1), mult_adds=n)
    print(timing)   # median, spread, and multiply-adds per second

What "properly" means: a few warm-up calls first (caches, lazy initialisation,
cuDNN's algorithm choice); on a GPU, CUDA events around the calls and a
synchronisation before reading them, since kernel launches return before the
work is done; several calls per sample when one call is too short for the
clock; and the median of several samples with the spread between the
quartiles, which one slow outlier cannot move.
"""

import statistics
import time
from dataclasses import dataclass

import torch

from convlab.errors import error
from convlab.validate import as_int

SHORTEST_SAMPLE_S = 0.005  # below this, timer resolution and call overhead dominate


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and quartiles over `samples` samples of `calls_per_sample` calls."""

    label: str
    device: str
    median_s: float
    q1_s: float
    q3_s: float
    samples: int
    calls_per_sample: int
    mult_adds: int | None = None

    @property
    def mult_adds_per_s(self) -> float | None:
        return None if self.mult_adds is None else self.mult_adds / self.median_s

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "device": self.device,
            "median_s": self.median_s,
            "q1_s": self.q1_s,
            "q3_s": self.q3_s,
            "samples": self.samples,
            "calls_per_sample": self.calls_per_sample,
            "mult_adds": self.mult_adds,
            "mult_adds_per_s": self.mult_adds_per_s,
        }

    def __str__(self) -> str:
        rate = "" if self.mult_adds is None else f", {self.mult_adds_per_s / 1e9:.2f} G mult-adds/s"
        return (
            f"{self.label or 'call'} on {self.device}: median {_ms(self.median_s)} "
            f"(quartiles {_ms(self.q1_s)}–{_ms(self.q3_s)}, {self.samples} samples){rate}"
        )


def measure(fn, *, device=None, warmup=3, samples=7, mult_adds=None, label="") -> Timing:
    """Median time of one call of fn() on device (default: CPU unless a CUDA device is given)."""
    if not callable(fn):
        raise error(
            f"measure needs something to call, got {type(fn).__name__}.", "pass a function: lambda: F.conv2d(x, w)."
        )
    warmup, samples = as_int(warmup, "warmup"), as_int(samples, "samples")
    if warmup < 0 or samples < 1:
        raise error(
            f"Got warmup={warmup}, samples={samples}.", "use warmup >= 0 and samples >= 1 (5 or more is better)."
        )
    if mult_adds is not None and as_int(mult_adds, "mult_adds") < 0:
        raise error(f"mult_adds must be 0 or more, got {mult_adds}.", "count the multiply-adds of one call.")
    device = torch.device(device) if device is not None else torch.device("cpu")
    clock = _cuda_clock if device.type == "cuda" else _wall_clock
    for _ in range(warmup):
        fn()
    calls = _calls_per_sample(fn, clock, device)
    times = sorted(clock(fn, calls, device) / calls for _ in range(samples))
    q1, _, q3 = statistics.quantiles(times, n=4) if samples > 1 else (times[0],) * 3
    return Timing(label, str(device), statistics.median(times), q1, q3, samples, calls, mult_adds)


def _calls_per_sample(fn, clock, device) -> int:
    """Double the calls per sample until one sample lasts long enough to time reliably."""
    calls = 1
    while clock(fn, calls, device) < SHORTEST_SAMPLE_S and calls < 1 << 16:
        calls *= 2
    return calls


def _wall_clock(fn, calls, device) -> float:
    _wait_for(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    _wait_for(device)
    return time.perf_counter() - start


def _wait_for(device) -> None:
    """Apple's GPU also runs asynchronously; the CPU needs no wait."""
    if device.type == "mps":
        torch.mps.synchronize()


def _cuda_clock(fn, calls, device) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(device)
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    torch.cuda.synchronize(device)
    return start.elapsed_time(end) / 1000  # elapsed_time is in milliseconds


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.3f} s"


def stored_benchmark() -> dict:
    """The benchmark stored with the book (one quiet CPU run of benchmarks/conv_variants.py), as a dict.

    It ships inside the package, so chapter 10 reads it on Colab and Binder too.
    """
    import json
    from importlib import resources

    return json.loads(resources.files("convlab").joinpath("data/bench_cpu.json").read_text(encoding="utf-8"))
