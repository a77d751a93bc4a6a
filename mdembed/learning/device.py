"""Where a learner's networks, optimizer state and replay buffer live (``device=cpu|cuda|auto``).

The environment, the embedding and the metrics always run on the CPU; a
learner moves an observation to its device to act and keeps its replay
buffer there, so a gradient update never crosses the bus.
"""

from __future__ import annotations

import torch

from mdembed.core.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (or ``cuda:N``) or ``auto`` (the GPU when torch sees one, else the CPU) as a torch device."""
    if name == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if name == "auto":
        return torch.device("cuda" if available else "cpu")
    if not available:
        raise ConfigError(
            f"device={name} needs a CUDA GPU and torch sees none (torch.cuda.is_available() is false); "
            "use device=cpu or device=auto"
        )
    device = torch.device(name)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device={name}: torch sees only {torch.cuda.device_count()} CUDA device(s)")
    return device
