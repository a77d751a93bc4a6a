"""Every random stream of a run, derived from the run's one seed.

Streams are named, not drawn in sequence, so adding a new consumer never
shifts the numbers an existing one sees: the workload of seed 3 is the same
whichever algorithm embeds it, and changing the arrival rate leaves the
request contents untouched.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator for the named stream of ``seed``."""
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"a seed is a non-negative integer, got {seed!r}")
    key = zlib.crc32(name.encode("utf-8"))
    # SeedSequence takes integers of any size (split into 32-bit words), so no two seeds share a
    # stream; below 2**32 the words are the ones earlier versions drew from.
    return np.random.default_rng(np.random.SeedSequence([int(seed), key]))
