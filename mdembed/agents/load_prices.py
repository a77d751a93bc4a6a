"""Load-following prices: each domain prices its own node resources and links by how much of them is in use.

The simplest rule a learned price has to beat (issue 23). For every request,
each domain reads its own residuals only (nothing crosses domains) and quotes,
for each own node resource and each own link,

    price = low + (high - low) x curve(used share),

with ``[low, high]`` a part of ``[market.price_min, market.price_max]``. CFF
then puts a request on the emptiest node that fits and Dijkstra steers around
loaded links. Three curves, one registered name each:

- ``load_linear``: curve(u) = u;
- ``load_power``: curve(u) = u ** exponent (flat while load is light, steep near full);
- ``load_exp``: curve(u) = (base ** u - 1) / (base - 1), the utilization-exponential price of
  Awerbuch, Azar and Plotkin's online routing ("Throughput-competitive on-line routing",
  FOCS 1993), O(log n)-competitive there for a base that grows with the network.

A link's used share is that of its busier direction (a VL uses one direction;
the price is one per link). The quotes go through the one pricing path every
price-quoting algorithm uses (:class:`~mdembed.env.quotes.PricingAdapter`): a price
vector per domain in a :class:`~mdembed.env.layout.DomainLayout` (per-node
granularity), then the client's embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from mdembed.agents.registry import RULE, Algorithm, Context, register
from mdembed.core.validate import pair
from mdembed.embedding.client import Embedding
from mdembed.env.layout import DomainLayout
from mdembed.env.quotes import PricingAdapter
from mdembed.core.errors import ConfigError
from mdembed.network.substrate import SubstrateState
from mdembed.workload.requests import Request

MAX_EXPONENT = 100.0  # u ** 100 is 0 until u is near 1: beyond it the curve is a step, not a price


Curve = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LinearSettings:
    """The part of the market's price range the rule uses; curve(u) = u."""

    range: tuple[float, float] = (0.0, 1.0)  # [low, high] as fractions of [price_min, price_max]: [0, 1] is all of it

    def __post_init__(self) -> None:
        lo, hi = pair("algorithm.range", self.range, low=0.0)
        if hi > 1.0:
            raise ConfigError(f"algorithm.range must lie within [0, 1] (fractions of the market's price range), got [{lo}, {hi}]")
        object.__setattr__(self, "range", (lo, hi))

    def curve(self) -> Curve:
        return lambda used: used


@dataclass(frozen=True)
class PowerSettings(LinearSettings):
    """curve(u) = u ** exponent."""

    exponent: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.exponent <= MAX_EXPONENT:
            raise ConfigError(f"algorithm.exponent must lie in (0, {MAX_EXPONENT:g}], got {self.exponent}")

    def curve(self) -> Curve:
        return lambda used: used**self.exponent


@dataclass(frozen=True)
class ExponentialSettings(LinearSettings):
    """curve(u) = (base ** u - 1) / (base - 1)."""

    base: float = 100.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 < self.base <= 1e12:
            raise ConfigError(f"algorithm.base must lie in (1, 1e12], got {self.base}")

    def curve(self) -> Curve:
        log_base, scale = math.log(self.base), self.base - 1.0
        return lambda used: np.expm1(used * log_base) / scale


class LoadFollowingPrices(Algorithm):
    """Each domain quotes from its own utilization; the client embeds as for every algorithm."""

    def __init__(self, context: Context, settings: LinearSettings) -> None:
        self.context = context
        market = context.market
        span = market.price_max - market.price_min
        self.low = market.price_min + span * settings.range[0]
        self.high = market.price_min + span * settings.range[1]
        self.shape = settings.curve()
        self.layout = DomainLayout(context.substrate, observe_own_state=False, prices="node")
        self.pricing = PricingAdapter(self.layout, context.workload, market, context.routing)

    def quotes(self, state: SubstrateState) -> list[np.ndarray]:
        """Each domain's price vector, from its own residuals only: its nodes' resources, then its links."""
        s = self.context.substrate
        vectors = []
        for nodes, links in zip(self.layout.nodes, self.layout.links):
            node_used = 1.0 - state.node_residual[nodes] / s.node_capacity[nodes]
            arcs = state.arc_residual.reshape(-1, 2)[links]  # both directions of each own link
            link_used = 1.0 - arcs.min(axis=1) / s.link_bandwidth[links]
            used = np.clip(np.concatenate([node_used.ravel(), link_used]), 0.0, 1.0)
            vectors.append(self.low + (self.high - self.low) * self.shape(used))
        return vectors

    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        embedding, self.quoted_prices = self.pricing.embed(self.quotes(state), request, state)
        return embedding


for _name, _settings in (("load_linear", LinearSettings), ("load_power", PowerSettings), ("load_exp", ExponentialSettings)):
    register(_name, RULE, _settings)(LoadFollowingPrices)
