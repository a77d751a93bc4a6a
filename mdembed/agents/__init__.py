"""Algorithms that decide how each request is embedded, registered by name.

A new algorithm of this package joins with one import line below; one of another distribution joins through an
entry point of the ``mdembed.algorithms`` group naming its module (docs/ARCHITECTURE.md, "Algorithms").
"""

from importlib.metadata import entry_points

from mdembed.agents.registry import ALGORITHMS, PLUGIN_GROUP, Algorithm, Context
from mdembed.agents import ddpg_settings, exact, load_prices, ppo_settings, sa, sa_cff, static_price  # noqa: F401  (registers every algorithm)

__all__ = ["ALGORITHMS", "Algorithm", "Context"]


def _load_plugins() -> None:
    """Import the module of every ``mdembed.algorithms`` entry point: it registers its algorithms as it is imported."""
    for point in entry_points(group=PLUGIN_GROUP):
        try:
            point.load()
        except Exception as err:
            raise ImportError(f"the {PLUGIN_GROUP} entry point {point.name} = {point.value} failed to load: {err}") from err


_load_plugins()
