"""The one pricing path: from what the domains see to the client's embedding of one request (DESIGN 4.2-4.5).

Every price-quoting algorithm goes through a :class:`PricingAdapter`: a
learned policy (the market environment's step in training, and its
``decide`` in evaluation) and a price rule alike. The request and the
substrate state become each domain's observation; a policy's normalized
action becomes each domain's price vector; the price vectors become the
client's price table and its embedding.
Nothing of this is written twice, so training and evaluation cannot drift
apart.
"""

from __future__ import annotations

import numpy as np

from mdembed.settings import MarketSettings, RoutingSettings, WorkloadSettings
from mdembed.embedding.client import Embedding, embed
from mdembed.embedding.prices import Prices
from mdembed.env.layout import DomainLayout
from mdembed.network.substrate import SubstrateState
from mdembed.workload.requests import Request
from mdembed.workload.tensor import request_tensor


class PricingAdapter:
    """Observations, price vectors and the embedding at those prices, over one :class:`DomainLayout`."""

    def __init__(self, layout: DomainLayout, workload: WorkloadSettings, market: MarketSettings, routing: RoutingSettings) -> None:
        self.layout = layout
        self.workload = workload
        self.market = market
        self.routing = routing

    def tensor(self, request: Request) -> np.ndarray:
        """The request as every domain receives it (DESIGN 3)."""
        return request_tensor(request, self.workload)

    def observations(self, tensor: np.ndarray, state: SubstrateState) -> list[np.ndarray]:
        """Each domain's observation: the request tensor and, if it observes it, its own residual resources."""
        return self.layout.observations(tensor, state)

    def vectors(self, action: np.ndarray) -> list[np.ndarray]:
        """Each domain's price vector from a policy's normalized action, (D, max_action_dim) in [-1, 1]."""
        return self.layout.price_vectors(action, self.market.price_min, self.market.price_max)

    def embed(self, vectors: list[np.ndarray], request: Request, state: SubstrateState) -> tuple[Embedding, Prices]:
        """The client's embedding at the domains' price vectors (left unallocated), and the price table it used."""
        prices = self.layout.prices(vectors, self.market.price_min, self.market.price_max)
        embedding = embed(request, prices, self.layout.substrate, state.node_residual, state.arc_residual, self.market, self.routing)
        return embedding, prices
