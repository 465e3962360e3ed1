"""convlab: the helper package of the convlab book.

    import convlab
    convlab.seed(0)
    device = convlab.device()
"""

import importlib

from convlab import arithmetic, reference
from convlab.checks import check_conv2d, check_conv_transpose2d
from convlab.demos import expect_error
from convlab.devices import device, seed
from convlab.errors import ConvlabError
from convlab.exercises.core import check
from convlab.summary import Summary, summary

__version__ = "0.1.0"
_LAZY = ("animation", "plotting")  # they import matplotlib: loaded on first use, not with every `import convlab`


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"convlab.{name}")
    raise AttributeError(f"module 'convlab' has no attribute {name!r}")

__all__ = [
    "ConvlabError",
    "animation",
    "check",
    "arithmetic",
    "check_conv2d",
    "check_conv_transpose2d",
    "device",
    "expect_error",
    "plotting",
    "reference",
    "seed",
    "summary",
    "Summary",
]
