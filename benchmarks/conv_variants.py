"""Measure convolution variants on this machine's CPU (and GPU when present).

    python benchmarks/conv_variants.py [--samples 7] [--out _build/bench]

Prints a table, writes conv_<device>.json and a plot of time against
multiply-adds (conv_<device>.png) under --out. Not a test: figures vary by machine.
The book's chapter 10 draws its figures from a stored copy of the JSON
(convlab/data/bench_cpu.json); refresh it by copying a new result there.
"""

import argparse
import json
import platform
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import convlab  # noqa: E402
from convlab import reference  # noqa: E402
from convlab.arithmetic import conv2d_mult_adds  # noqa: E402
from convlab.bench import measure  # noqa: E402

N, C, SIZE, K = 8, 64, 56, 3  # the shape of a ResNet stage-1 convolution, batch 8


def cases(device):
    """(group, label, function, multiply-adds) for every variant on one device."""
    def rand(*shape):
        return torch.randn(*shape).to(device)

    x = rand(N, C, SIZE, SIZE)
    dense, grouped = rand(C, C, K, K), rand(C, C // 4, K, K)
    depthwise, pointwise = rand(C, 1, K, K), rand(C, C, 1, 1)
    small_x, small_w = rand(1, 8, 16, 16), rand(8, 8, K, K)
    up_x, up_w = rand(N, C, SIZE // 2, SIZE // 2), rand(C, C, 4, 4)
    x_last, dense_last = x.to(memory_format=torch.channels_last), dense.to(memory_format=torch.channels_last)

    def macs(groups=1, dilation=1, kernel=K, channels_in=C):
        return N * conv2d_mult_adds(SIZE, channels_in, C, kernel, 1, dilation * (kernel // 2), dilation, groups)

    dense_macs = macs()
    separable_macs = macs(groups=C) + macs(kernel=1)
    small_macs = conv2d_mult_adds(16, 8, 8, K, 1, 1)
    up_macs = N * C * (SIZE // 2) ** 2 * C * 16  # each input value stamps C kernels of 4×4
    return [
        ("implementation", "F.conv2d", lambda: F.conv2d(x, dense, padding=1), dense_macs),
        ("implementation", "reference.conv2d (im2col)", lambda: reference.conv2d(x, dense, padding=1), dense_macs),
        ("implementation", "F.conv2d, grouped (g=4)", lambda: F.conv2d(x, grouped, padding=1, groups=4), macs(4)),
        ("implementation", "reference.conv2d, grouped (g=4)",
         lambda: reference.conv2d(x, grouped, padding=1, groups=4), macs(4)),
        ("implementation", "F.conv2d, dilated (d=2)", lambda: F.conv2d(x, dense, padding=2, dilation=2), dense_macs),
        ("implementation", "reference.conv2d, dilated (d=2)",
         lambda: reference.conv2d(x, dense, padding=2, dilation=2), dense_macs),
        ("small", "F.conv2d, 1×8×16×16", lambda: F.conv2d(small_x, small_w, padding=1), small_macs),
        ("small", "reference.conv2d, 1×8×16×16", lambda: reference.conv2d(small_x, small_w, padding=1), small_macs),
        ("small", "reference.conv2d_loop, 1×8×16×16",
         lambda: reference.conv2d_loop(small_x, small_w, padding=1), small_macs),
        ("variant", "dense 3×3", lambda: F.conv2d(x, dense, padding=1), dense_macs),
        ("variant", "grouped 3×3 (g=4)", lambda: F.conv2d(x, grouped, padding=1, groups=4), macs(4)),
        ("variant", "depthwise 3×3", lambda: F.conv2d(x, depthwise, padding=1, groups=C), macs(C)),
        ("variant", "depthwise-separable",
         lambda: F.conv2d(F.conv2d(x, depthwise, padding=1, groups=C), pointwise), separable_macs),
        ("variant", "dilated 3×3 (d=2)", lambda: F.conv2d(x, dense, padding=2, dilation=2), dense_macs),
        ("variant", "transposed 4×4, stride 2", lambda: F.conv_transpose2d(up_x, up_w, stride=2, padding=1), up_macs),
        ("layout", "dense 3×3, contiguous (NCHW)", lambda: F.conv2d(x, dense, padding=1), dense_macs),
        ("layout", "dense 3×3, channels_last (NHWC)", lambda: F.conv2d(x_last, dense_last, padding=1), dense_macs),
        ("layout", "depthwise 3×3, contiguous (NCHW)", lambda: F.conv2d(x, depthwise, padding=1, groups=C), macs(C)),
        ("layout", "depthwise 3×3, channels_last (NHWC)",
         lambda: F.conv2d(x_last, depthwise.to(memory_format=torch.channels_last), padding=1, groups=C), macs(C)),
    ]


def run(device, samples):
    results = []
    measured = cases(device)
    with torch.no_grad():
        for _, _, fn, _ in measured:  # wake every kernel and allocator path once before timing any
            fn()
    for group, label, fn, macs in measured:
        with torch.no_grad():
            timing = measure(fn, device=device, samples=samples, mult_adds=macs, label=label)
        results.append({"group": group, **timing.as_dict()})
        print(f"  {label:36} {timing.median_s * 1e3:10.3f} ms   {timing.mult_adds_per_s / 1e9:7.2f} G mult-adds/s")
    return results


def ratios(results):
    by_label = {r["label"]: r["median_s"] for r in results}
    pairs = {
        "reference / F.conv2d, dense": ("reference.conv2d (im2col)", "F.conv2d"),
        "reference / F.conv2d, grouped": ("reference.conv2d, grouped (g=4)", "F.conv2d, grouped (g=4)"),
        "reference / F.conv2d, dilated": ("reference.conv2d, dilated (d=2)", "F.conv2d, dilated (d=2)"),
        "loop / F.conv2d, small": ("reference.conv2d_loop, 1×8×16×16", "F.conv2d, 1×8×16×16"),
        "depthwise-separable / dense": ("depthwise-separable", "dense 3×3"),
        "channels_last / contiguous": ("dense 3×3, channels_last (NHWC)", "dense 3×3, contiguous (NCHW)"),
        "channels_last / contiguous, depthwise": (
            "depthwise 3×3, channels_last (NHWC)", "depthwise 3×3, contiguous (NCHW)"),
    }
    return {name: by_label[a] / by_label[b] for name, (a, b) in pairs.items()}


def plot(results, path, device):
    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    for r in (r for r in results if r["group"] in ("variant", "implementation")):
        ax.scatter(r["mult_adds"], r["median_s"] * 1e3)
        ax.annotate(r["label"], (r["mult_adds"], r["median_s"] * 1e3), fontsize=7, xytext=(4, 2),
                    textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlabel="multiply-adds per call", ylabel="median time (ms)",
           title=f"Time against arithmetic on {device}")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cpu_name() -> str:
    """The processor's model name (Linux), else whatever platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("_build/bench"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    convlab.seed(0)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        print(f"\n{device}: N={N}, {C}→{C} channels, {SIZE}×{SIZE}, 3×3 kernels ({torch.get_num_threads()} threads)")
        results = run(torch.device(device), args.samples)
        summary = ratios(results)
        for name, value in summary.items():
            print(f"  {name:36} {value:8.2f}×")
        record = {
            "device": torch.cuda.get_device_name() if device == "cuda" else cpu_name(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "shape": {"batch": N, "channels": C, "size": SIZE, "kernel": K},
            "results": results,
            "ratios": summary,
        }
        (args.out / f"conv_{device}.json").write_text(json.dumps(record, indent=1))
        plot(results, args.out / f"conv_{device}.png", device)
        print(f"  wrote {args.out}/conv_{device}.json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
