"""What a run's sizes cost in memory, checked before anything is allocated.

A size near 2**31 (a replay buffer, a layer, a workload) would otherwise end
in an allocator's traceback, or worse, in hours of swapping before the
kernel kills the run. The estimates are rough (within a factor of about 2),
enough to tell a run that fits from one that cannot.
"""

from __future__ import annotations

import os

from mdembed.core.errors import ConfigError

REQUEST_BYTES = 2_000  # one generated VNF-FG with its metrics (measured: 1.3 kB with tracemalloc)
FLOAT_BYTES = 4  # the learners' tensors are float32


def physical_bytes() -> int | None:
    """The machine's memory, which a run may use at most; None where the system does not say (then nothing is
    refused: no check rather than a false refusal)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def require(needed: float, what: str) -> None:
    """Refuse, naming ``what`` (the settings that ask for it), a need beyond the machine's memory."""
    total = physical_bytes()
    if total is not None and needed > total:
        raise ConfigError(f"{what} needs about {_size(needed)} of memory, more than this machine's {_size(total)}")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")
