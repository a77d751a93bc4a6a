"""``ilp``: each request embedded at its exact least cost, at the static domain prices (DESIGN 5).

Not an online-optimal policy (it never looks ahead), but the per-request
optimum that CFF + Dijkstra approximates: the gap between the two is what
the greedy client leaves on the table.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mdembed.agents.registry import EXACT, Algorithm, Context, register
from mdembed.agents.static_price import quoted_means, static_domain_prices
from mdembed.embedding.client import Embedding
from mdembed.embedding.milp import milp_embed
from mdembed.embedding.prices import Prices
from mdembed.errors import ConfigError
from mdembed.network.substrate import SubstrateState
from mdembed.workload.requests import Request


@dataclass(frozen=True)
class IlpSettings:
    """Per-request HiGHS time limit; past it the best incumbent is used, or the request is rejected."""

    time_limit_s: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time_limit_s) and self.time_limit_s > 0):
            raise ConfigError(f"algorithm.time_limit_s must be a positive number of seconds, got {self.time_limit_s}")


class ExactEmbedding(Algorithm):
    """The MILP optimum of every request against the current residuals."""

    def __init__(self, context: Context, prices: Prices, settings: IlpSettings) -> None:
        self.context = context
        self.prices = prices.clipped(context.market.price_min, context.market.price_max)
        self.settings = settings
        self.status_counts: Counter[str] = Counter()
        self.quoted_mean_prices = quoted_means(self.prices, context.substrate)

    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        result = milp_embed(
            request, self.prices, self.context.substrate, state.node_residual, state.arc_residual,
            self.settings.time_limit_s,
        )  # fmt: skip
        self.status_counts[result.status] += 1
        return result.embedding

    def report(self) -> dict[str, Any]:
        return {"ilp_status": dict(sorted(self.status_counts.items()))}


@register("ilp", EXACT, IlpSettings)
def exact(context: Context, settings: IlpSettings) -> Algorithm:
    return ExactEmbedding(context, static_domain_prices(context), settings)
