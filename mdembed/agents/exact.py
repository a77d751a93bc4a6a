"""``ilp``: each request embedded at its exact least cost, at the static domain prices (DESIGN 5).

Not an online-optimal policy (it never looks ahead), but the per-request
optimum that CFF + Dijkstra approximates: the gap between the two is what
the greedy client leaves on the table.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mdembed.agents.registry import EXACT, Algorithm, Context, register
from mdembed.agents.static_price import static_domain_prices
from mdembed.embedding.client import Embedding
from mdembed.embedding.milp import TIME_LIMIT_S, milp_embed
from mdembed.embedding.prices import Prices
from mdembed.core.errors import ConfigError
from mdembed.network.substrate import SubstrateState
from mdembed.workload.requests import Request

log = logging.getLogger(__name__)
TIMED_OUT = ("feasible", "timeout")  # statuses that the wall clock decided, not HiGHS' proof


@dataclass(frozen=True)
class IlpSettings:
    """Per-request HiGHS time limit; past it the best incumbent is used, or the request is rejected.

    A safety net, not a budget: a request solved to optimality gives the same
    embedding on every machine, one cut off by the clock does not, and every
    later request inherits its residuals. The default is far above what
    BtEurope's requests need (the slowest take about 1 s on 2 cores).
    """

    time_limit_s: float = TIME_LIMIT_S

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
        self.quoted_prices = self.prices

    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        result = milp_embed(
            request, self.prices, self.context.substrate, state.node_residual, state.arc_residual,
            self.settings.time_limit_s,
        )  # fmt: skip
        self.status_counts[result.status] += 1
        if result.status in TIMED_OUT and sum(self.status_counts[s] for s in TIMED_OUT) == 1:
            log.warning(
                "ilp: request %d reached the %g s time limit (%s); from here on the results depend on this "
                "machine's speed and will not reproduce exactly: raise algorithm.time_limit_s",
                request.id, self.settings.time_limit_s, result.status,
            )  # fmt: skip
        return result.embedding

    def report(self) -> dict[str, Any]:
        return {"ilp_status": dict(sorted(self.status_counts.items()))}


@register("ilp", EXACT, IlpSettings, admissions=("all_or_nothing",))
def exact(context: Context, settings: IlpSettings) -> Algorithm:
    return ExactEmbedding(context, static_domain_prices(context), settings)
