"""The multi-domain market as a PettingZoo ParallelEnv.

``from mdembed.env import parallel_env`` (PettingZoo's convention) builds it with the command line's settings
(:mod:`mdembed.env.factory`); importing this package alone loads neither PettingZoo nor Hydra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["parallel_env"]


def __getattr__(name: str) -> Any:
    if name == "parallel_env":
        from mdembed.env.factory import parallel_env

        return parallel_env
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
