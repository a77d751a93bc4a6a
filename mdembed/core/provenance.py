"""What a run's numbers depend on besides its settings: the software and the CPU's vector units.

The same seed gives the same numbers on the same machine. On another CPU,
torch's math libraries (oneDNN, MKL) may pick other vectorised kernels (AVX2,
AVX-512, ...), whose rounding differs, and a learner's training drifts apart:
on an AVX-512 machine, ``ONEDNN_MAX_CPU_ISA=AVX2`` alone changes a 2,000-step
DDPG run's results. So a summary names the machine it was computed on.
"""

from __future__ import annotations

import os
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


KERNEL_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY")
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile")


def _cpuinfo() -> dict[str, str]:
    """The first CPU's lines of /proc/cpuinfo, key to value (empty off Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for key, sep, value in (line.partition(":") for line in text.splitlines()):
        if sep:
            info.setdefault(key.strip(), value.strip())
    return info


def environment() -> dict[str, Any]:
    """Versions, CPU, its vector units, ATen's kernel choice and the variables that cap the kernels' ISA.

    torch is only asked when the run imported it: a run without torch does not depend on its kernels.
    """
    torch = sys.modules.get("torch")
    cpu = _cpuinfo()
    flags = cpu.get("flags")
    return {
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "cpu": cpu.get("model name") or platform.processor() or platform.machine(),
        "cpu_vector_units": None if flags is None else [f for f in VECTOR_FLAGS if f in flags.split()],
        "cpu_capability": torch.backends.cpu.get_cpu_capability() if torch is not None else None,
        "kernel_variables": {name: os.environ[name] for name in KERNEL_VARIABLES if name in os.environ},
        "platform": platform.platform(),
    }
