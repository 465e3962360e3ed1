"""Shared test settings: a deterministic hypothesis profile, no example database."""

from hypothesis import settings

settings.register_profile("convlab", derandomize=True, deadline=None, database=None, print_blob=False)
settings.load_profile("convlab")
