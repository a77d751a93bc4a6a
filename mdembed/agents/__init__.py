"""Algorithms that decide how each request is embedded, registered by name."""

from mdembed.agents.registry import ALGORITHMS, Algorithm, Context
from mdembed.agents import ddpg, static_price  # noqa: F401  (registers ddpg, cff_sd, cff_3d)

__all__ = ["ALGORITHMS", "Algorithm", "Context"]
