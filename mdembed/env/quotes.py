"""From the domains' quoted prices to the client's embedding of one request (DESIGN 4.2-4.5).

The one place where quotes become a decision: the market environment's
step (training) and a pricing algorithm's evaluation decision both call
:func:`embed_quotes`, so the two can never drift apart.
"""

from __future__ import annotations

import numpy as np

from mdembed.config import MarketSettings, RoutingSettings
from mdembed.embedding.client import Embedding, embed
from mdembed.env.layout import DomainLayout
from mdembed.network.substrate import SubstrateState
from mdembed.workload.requests import Request


def embed_quotes(
    layout: DomainLayout,
    vectors: list[np.ndarray],
    request: Request,
    state: SubstrateState,
    market: MarketSettings,
    routing: RoutingSettings,
) -> tuple[Embedding, np.ndarray]:
    """The client's embedding at the domains' price vectors (left unallocated), and each domain's mean quoted price."""
    prices = layout.prices(vectors, market.price_min, market.price_max)
    embedding = embed(request, prices, layout.substrate, state.node_residual, state.arc_residual, market, routing)
    return embedding, prices.domain_means(layout.substrate)
