"""Where the book's tensors live, and how runs are made repeatable."""

import os
import random

import numpy as np
import torch

from convlab.errors import error

DEVICE_VARIABLE = "CONVLAB_DEVICE"


def device() -> torch.device:
    """The device every chapter runs on: $CONVLAB_DEVICE if set, else cuda, mps, cpu."""
    wanted = os.environ.get(DEVICE_VARIABLE, "").strip()
    if wanted:
        return _requested(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _requested(name: str) -> torch.device:
    try:
        chosen = torch.device(name)
    except RuntimeError:
        raise error(
            f"{DEVICE_VARIABLE}={name!r} is not a device torch knows.",
            f"set {DEVICE_VARIABLE} to cpu, cuda, cuda:1 or mps, or unset it to choose automatically.",
        ) from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(chosen.type, False):
        raise error(
            f"{DEVICE_VARIABLE}={name!r} asks for {chosen.type}, which this machine does not have.",
            f"unset {DEVICE_VARIABLE}, or set it to cpu.",
        )
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise error(
            f"{DEVICE_VARIABLE}={name!r} asks for GPU {chosen.index}, but this machine has "
            f"{torch.cuda.device_count()}.",
            f"use an index below {torch.cuda.device_count()}.",
        )
    return chosen


def seed(n: int = 0) -> None:
    """Seed Python, NumPy and torch, and make GPU arithmetic match the CPU's.

    cuDNN uses TF32 for float32 convolutions by default on recent GPUs, which
    changes printed digits; seed() turns it off and asks for deterministic
    algorithms where torch has them.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise error(f"seed needs a whole number of 0 or more, got {n!r}.", "call convlab.seed(0).")
    # cuBLAS reads this before its first use; determinism needs it set.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(n)
    np.random.seed(n)
    torch.manual_seed(n)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    _deterministic_eager_ops()


def _deterministic_eager_ops() -> None:
    """torch.use_deterministic_algorithms(True, warn_only=True) for eager operations.

    The public call also imports torch._inductor's config to set its flag, which costs
    about a second per process; this book never compiles, so set the eager flag alone
    where torch exposes it, and fall back to the public call where it does not.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        setter(True, warn_only=True)
