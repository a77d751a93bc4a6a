"""The prices the domains quote for one request (DESIGN 4.2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdembed.settings import MAX_VNFS
from mdembed.network.substrate import NUM_NODE_RESOURCES, Substrate
from mdembed.settings import MAX_VLS


@dataclass(frozen=True, eq=False)
class Prices:
    """Per-node, per-VNF-slot, per-resource prices and per-link, per-VL-slot prices.

    A slot axis of length 1 means the same price for every slot, which is
    how static-price baselines avoid building a full table per request.
    """

    node: np.ndarray  # (N, S, 3), S = MAX_VNFS or 1
    link: np.ndarray  # (E, M), M = MAX_VLS or 1

    def node_cost(self, slot: int, demand_units: np.ndarray) -> np.ndarray:
        """(N,) what each node would charge for a VNF in ``slot`` with this demand."""
        table = self.node[:, slot if self.node.shape[1] > 1 else 0, :]
        return table @ demand_units

    def link_price(self, slot: int) -> np.ndarray:
        """(E,) each link's price per Mbit/s for the VL in ``slot``."""
        return self.link[:, slot if self.link.shape[1] > 1 else 0]

    def clipped(self, price_min: float, price_max: float) -> "Prices":
        return Prices(np.clip(self.node, price_min, price_max), np.clip(self.link, price_min, price_max))

    def domain_means(self, substrate: Substrate) -> np.ndarray:
        """(D,) each domain's mean price over its whole table: every own node, VNF slot and resource, every own link
        and VL slot (a shared price counts once per slot it covers); NaN for a domain with nothing to price.

        The one definition of a domain's mean quoted price, whatever the price
        granularity or the algorithm, so that figures compare like with like.
        """
        node_weight, link_weight = MAX_VNFS * NUM_NODE_RESOURCES, MAX_VLS
        node_mean, link_mean = self.node.mean(axis=(1, 2)), self.link.mean(axis=1)
        means = np.full(substrate.num_domains, np.nan)
        for d, (nodes, links) in enumerate(zip(substrate.domain_nodes, substrate.domain_links)):
            count = len(nodes) * node_weight + len(links) * link_weight
            if count:
                means[d] = (node_mean[nodes].sum() * node_weight + link_mean[links].sum() * link_weight) / count
        return means
