"""Algorithms that decide how each request is embedded, registered by name."""

from mdembed.agents.registry import ALGORITHMS, Algorithm, Context
from mdembed.agents import annealing, ddpg_settings, exact, load_prices, ppo_settings, static_price  # noqa: F401  (registers every algorithm)

__all__ = ["ALGORITHMS", "Algorithm", "Context"]
