"""Shared test settings: a deterministic hypothesis profile, no example database."""

import torch
from hypothesis import settings

settings.register_profile("convlab", derandomize=True, deadline=None, database=None, print_blob=False)
settings.load_profile("convlab")

# Tests run thousands of tiny ops: one thread avoids paying thread-pool overhead on each.
torch.set_num_threads(1)
