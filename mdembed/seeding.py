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
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, key]))
