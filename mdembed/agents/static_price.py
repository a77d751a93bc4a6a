"""Baselines whose prices never change: cff_sd and cff_3d (DESIGN 5)."""

from __future__ import annotations

import numpy as np

from mdembed.agents.registry import STATIC, Algorithm, Context, register
from mdembed.embedding.client import ArcWeights, Embedding, embed
from mdembed.embedding.prices import Prices
from mdembed.network.substrate import NUM_NODE_RESOURCES, SubstrateState
from mdembed.core.seeding import stream
from mdembed.workload.requests import Request


class StaticPriceCFF(Algorithm):
    """CFF + Dijkstra at one fixed price table."""

    def __init__(self, context: Context, prices: Prices) -> None:
        self.context = context
        self.prices = prices.clipped(context.market.price_min, context.market.price_max)
        self._weights = ArcWeights(self.prices, context.substrate.arc_link)
        self.quoted_prices = self.prices

    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        c = self.context
        return embed(
            request, self.prices, c.substrate, state.node_residual, state.arc_residual,
            c.market, c.routing, self._weights,
        )  # fmt: skip


@register("cff_sd", STATIC)
def cff_single_domain(context: Context, settings: None) -> Algorithm:
    """One domain holds the whole substrate and charges the mid-range price for everything.

    Every node costs the same, so CFF is plain first-fit in the
    ``market.tie_break`` order and Dijkstra finds min-hop paths.
    """
    s = context.substrate
    mid = (context.market.price_min + context.market.price_max) / 2
    return StaticPriceCFF(
        context,
        Prices(node=np.full((s.num_nodes, 1, NUM_NODE_RESOURCES), mid), link=np.full((s.num_links, 1), mid)),
    )


def static_domain_prices(context: Context) -> Prices:
    """Each domain's static prices: one per resource and one per Mbit/s of link.

    Drawn once per run from U(price_min, price_max), from the run seed's
    ``algorithm/cff_3d`` stream, so cff_3d and every algorithm that is scored
    "at static prices" (sa, sa_cff, ilp) use the very same table.
    """
    s = context.substrate
    rng = stream(context.seed, "algorithm/cff_3d")
    lo, hi = context.market.price_min, context.market.price_max
    node_price = rng.uniform(lo, hi, size=(s.num_domains, NUM_NODE_RESOURCES))
    link_price = rng.uniform(lo, hi, size=s.num_domains)
    prices = Prices(node=node_price[s.node_domain][:, None, :], link=link_price[s.link_owner][:, None])
    return prices.clipped(lo, hi)


@register("cff_3d", STATIC)
def cff_multi_domain(context: Context, settings: None) -> Algorithm:
    """Each domain quotes its static prices (:func:`static_domain_prices`); every node and
    link of a domain shares them."""
    return StaticPriceCFF(context, static_domain_prices(context))
