"""``sa_cff``: simulated annealing over the domains' static price vectors; CFF + Dijkstra embed every candidate
(DESIGN 5).

It starts from the run's static domain prices (what cff_3d quotes) and
maximizes what CFF + Dijkstra then embed minus ``payment_weight`` x what the
client would pay at the candidate prices, so it also drifts towards cheap
prices. A move shifts one random domain's node and link prices by Gaussian
noise; the search stops early once every VNF and VL of the request is placed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mdembed.agents.annealing import anneal, check_schedule
from mdembed.agents.registry import SEARCH, Algorithm, Context, register
from mdembed.agents.static_price import static_domain_prices
from mdembed.core.errors import ConfigError
from mdembed.core.validate import set_whole
from mdembed.embedding.client import Embedding, embed
from mdembed.embedding.prices import Prices
from mdembed.network.substrate import NUM_NODE_RESOURCES, Substrate, SubstrateState
from mdembed.workload.requests import Request


@dataclass(frozen=True)
class PriceAnnealingSettings:
    """``sa_cff``: maximize placed VNFs + placed VLs - payment_weight x payment over price vectors."""

    initial_temperature: float = 1.0
    cooling: float = 0.97  # geometric: T <- T x cooling after every move
    iterations: int = 200  # moves per request (each runs CFF + Dijkstra once), at most
    payment_weight: float = 0.01  # objective = placed VNFs + placed VLs - payment_weight x payment
    step: float = 0.2  # std of a price move, as a fraction of price_max - price_min
    patience: int = 60  # stop after this many moves without a new best

    def __post_init__(self) -> None:
        check_schedule(self)
        if not (math.isfinite(self.payment_weight) and self.payment_weight >= 0):
            raise ConfigError(f"algorithm.payment_weight must be non-negative, got {self.payment_weight}")
        if not (math.isfinite(self.step) and self.step > 0):
            raise ConfigError(f"algorithm.step must be positive, got {self.step}")
        set_whole(self, "algorithm", "patience")


def domain_price_vectors(prices: Prices, substrate: Substrate, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """(D, 3) node and (D,) link prices read back from a per-domain table.

    Every node (link) of a domain carries the same price, so one of each is
    enough; a domain that owns no link gets ``fill`` (it never matters).
    """
    d = substrate.num_domains
    node = np.full((d, NUM_NODE_RESOURCES), fill)
    link = np.full(d, fill)
    for k, (nodes, links) in enumerate(zip(substrate.domain_nodes, substrate.domain_links)):
        if len(nodes):
            node[k] = prices.node[nodes[0], 0, :]
        if len(links):
            link[k] = prices.link[links[0], 0]
    return node, link


def domain_prices(node: np.ndarray, link: np.ndarray, substrate: Substrate) -> Prices:
    """The price table in which every node and link quotes its domain's vector."""
    return Prices(node=node[substrate.node_domain][:, None, :], link=link[substrate.link_owner][:, None])


def objective(embedding: Embedding, payment_weight: float) -> float:
    """Placed VNFs + placed VLs - payment_weight x the payment (a rejected request places nothing, pays nothing)."""
    placed = embedding.num_vnfs_embedded + embedding.num_vls_embedded
    return placed - payment_weight * float(embedding.domain_revenue.sum())


def perturb(
    node: np.ndarray, link: np.ndarray, domain: int, noise: np.ndarray, scale: float, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """New vectors with one domain's 3 node prices and link price moved by ``noise`` x ``scale``."""
    node, link = node.copy(), link.copy()
    node[domain] = np.clip(node[domain] + scale * noise[:NUM_NODE_RESOURCES], lo, hi)
    link[domain] = min(hi, max(lo, link[domain] + scale * noise[NUM_NODE_RESOURCES]))
    return node, link


Vectors = tuple[np.ndarray, np.ndarray]  # (D, 3) node and (D,) link prices


class AnnealedPrices(Algorithm):
    """Simulated annealing over the domains' price vectors; every candidate is embedded by CFF + Dijkstra.

    Candidates are embedded against the live residual arrays, which
    ``embed`` only reads, so searching never changes the substrate.
    """

    def __init__(self, context: Context, settings: PriceAnnealingSettings) -> None:
        self.context = context
        self.settings = settings
        m = context.market
        self.node0, self.link0 = domain_price_vectors(static_domain_prices(context), context.substrate, m.price_min)

    def _embed(
        self, request: Request, state: SubstrateState, node: np.ndarray, link: np.ndarray
    ) -> tuple[Prices, Embedding]:
        c = self.context
        prices = domain_prices(node, link, c.substrate)
        return prices, embed(request, prices, c.substrate, state.node_residual, state.arc_residual, c.market, c.routing)

    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        c, cfg = self.context, self.settings
        lo, hi = c.market.price_min, c.market.price_max

        def energy(vectors: Vectors) -> tuple[float, tuple[Prices, Embedding]]:  # minus the objective
            prices, embedding = self._embed(request, state, *vectors)
            return -objective(embedding, cfg.payment_weight), (prices, embedding)

        first = (self.node0, self.link0)
        unplaceable = any(not (state.node_residual >= d).all(axis=1).any() for d in request.vnf_demand)
        if unplaceable or not lo < hi:
            _, (prices, embedding) = energy(first)
        else:
            iters = cfg.iterations
            domains = c.rng.integers(c.substrate.num_domains, size=iters).tolist()
            noise = c.rng.standard_normal((iters, NUM_NODE_RESOURCES + 1))
            coins = c.rng.random(iters).tolist()
            scale = cfg.step * (hi - lo)
            ceiling = request.num_vnfs + request.num_vls  # every VNF and VL placed, nothing paid: no better objective

            def propose(i: int, current: Vectors) -> Vectors:
                return perturb(*current, domains[i], noise[i], scale, lo, hi)

            _, _, (prices, embedding) = anneal(first, propose, energy, coins, cfg, lambda e: -e >= ceiling)
        self.quoted_prices = prices
        return embedding


@register("sa_cff", SEARCH, PriceAnnealingSettings)
def annealed_prices(context: Context, settings: PriceAnnealingSettings) -> Algorithm:
    return AnnealedPrices(context, settings)
