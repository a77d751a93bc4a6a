"""What a run's numbers depend on besides its settings: the software and the CPU kernels.

The same seed gives the same numbers on the same machine. On another CPU,
torch may pick other vectorised kernels (``cpu_capability``: AVX2, AVX512,
...), whose rounding differs; a learner's training then drifts apart, so a
summary names the machine it was computed on.
"""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Versions, CPU and torch's kernel choice; torch is only asked when the run already imported it."""
    torch = sys.modules.get("torch")
    return {
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability() if torch is not None else None,
        "platform": platform.platform(),
    }
