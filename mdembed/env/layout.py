"""What each domain owns: its prices (the action) and its view of the substrate (the observation).

A domain's action is its price vector: for each own node, VNF slot and
resource a price c[n, v, k], then for each own link and VL slot a price
c[l, e] (DESIGN 4.2), laid out node-major: granularity ``slot``. Coarser
granularities share prices: ``node`` quotes one price per node and resource
and one per link, for every VNF and VL slot; ``domain`` quotes one price per
node resource and one per Mbit/s for all of the domain's nodes and links (4
numbers). Its observation is the request
tensor, flattened, followed (with ``observe_own_state``) by the residual
share of each own node resource and of each direction of each own link. A
domain never sees another domain's nodes, links or prices.

A learner for all domains at once works on stacked arrays: observations
zero-padded to the largest domain, ``(D, max_obs_dim)``, and normalized
actions in [-1, 1], ``(D, max_action_dim)``; :meth:`DomainLayout.stack` and
:meth:`DomainLayout.price_vectors` convert between those and each domain's
own vectors.
"""

from __future__ import annotations

import numpy as np

from mdembed.settings import MAX_VNFS
from mdembed.embedding.prices import Prices
from mdembed.network.substrate import NUM_NODE_RESOURCES, Substrate, SubstrateState
from mdembed.settings import MAX_VLS
from mdembed.workload.tensor import TENSOR_SHAPE

TENSOR_SIZE = int(np.prod(TENSOR_SHAPE))
PRICE_GRANULARITIES = ("slot", "node", "domain")  # what one quoted price covers, finest first


class DomainLayout:
    """Index maps between the substrate and each domain's action and observation vectors."""

    def __init__(self, substrate: Substrate, observe_own_state: bool = True, prices: str = "slot") -> None:
        if prices not in PRICE_GRANULARITIES:
            raise ValueError(f"prices must be one of {', '.join(PRICE_GRANULARITIES)}, got {prices!r}")
        self.substrate = substrate
        self.observe_own_state = observe_own_state
        self.granularity = prices
        self.vnf_slots = MAX_VNFS if prices == "slot" else 1
        self.vl_slots = MAX_VLS if prices == "slot" else 1
        self.num_domains = substrate.num_domains
        self.nodes = substrate.domain_nodes
        self.links = substrate.domain_links
        self.arcs = substrate.domain_arcs
        if prices == "domain":
            self.action_dims = [NUM_NODE_RESOURCES + 1] * self.num_domains
        else:
            node_prices = self.vnf_slots * NUM_NODE_RESOURCES  # prices per own node
            self.action_dims = [len(n) * node_prices + len(l) * self.vl_slots for n, l in zip(self.nodes, self.links)]
        self.state_dims = [
            (len(n) * NUM_NODE_RESOURCES + len(a)) if observe_own_state else 0 for n, a in zip(self.nodes, self.arcs)
        ]
        self.obs_dims = [TENSOR_SIZE + s for s in self.state_dims]

    @property
    def max_action_dim(self) -> int:
        return max(self.action_dims)

    @property
    def max_state_dim(self) -> int:
        return max(self.state_dims)

    @property
    def max_obs_dim(self) -> int:
        return max(self.obs_dims)

    def stack(self, observations: list[np.ndarray]) -> np.ndarray:
        """(D, max_obs_dim) the domains' observations, zero-padded."""
        out = np.zeros((self.num_domains, self.max_obs_dim), dtype=np.float32)
        for i, o in enumerate(observations):
            out[i, : len(o)] = o
        return out

    def price_vectors(self, action: np.ndarray, price_min: float, price_max: float) -> list[np.ndarray]:
        """Each domain's price vector (its own length) from normalized actions (D, max_action_dim) in [-1, 1]."""
        prices = price_min + (action + 1.0) * 0.5 * (price_max - price_min)
        return [prices[i, :dim].astype(np.float64) for i, dim in enumerate(self.action_dims)]

    def own_states(self, state: SubstrateState) -> list[np.ndarray]:
        """Per domain: residual / capacity of its node resources, then of its arcs."""
        if not self.observe_own_state:
            return [np.zeros(0, dtype=np.float32) for _ in range(self.num_domains)]
        s = self.substrate
        node_share = state.node_residual / s.node_capacity
        arc_share = state.arc_residual / s.arc_bandwidth
        return [
            np.concatenate([node_share[n].ravel(), arc_share[a]]).astype(np.float32)
            for n, a in zip(self.nodes, self.arcs)
        ]

    def observations(self, tensor: np.ndarray, state: SubstrateState) -> list[np.ndarray]:
        flat = tensor.reshape(-1).astype(np.float32, copy=False)
        return [np.concatenate([flat, own]) for own in self.own_states(state)]

    def global_state(self, tensor: np.ndarray, state: SubstrateState) -> np.ndarray:
        """The client's view: the request and every residual share."""
        s = self.substrate
        return np.concatenate(
            [
                tensor.reshape(-1),
                (state.node_residual / s.node_capacity).ravel(),
                state.arc_residual / s.arc_bandwidth,
            ]
        ).astype(np.float32)

    def global_state_dim(self) -> int:
        s = self.substrate
        return TENSOR_SIZE + s.num_nodes * NUM_NODE_RESOURCES + 2 * s.num_links

    def prices(self, actions: list[np.ndarray], price_min: float, price_max: float) -> Prices:
        """Assemble every domain's price vector into the client's price table (clipped to the bounds)."""
        s = self.substrate
        node = np.empty((s.num_nodes, self.vnf_slots, NUM_NODE_RESOURCES))
        link = np.empty((s.num_links, self.vl_slots))
        for nodes, links, action in zip(self.nodes, self.links, actions):
            if self.granularity == "domain":
                node[nodes] = action[:NUM_NODE_RESOURCES]
                link[links] = action[NUM_NODE_RESOURCES]
                continue
            split = len(nodes) * self.vnf_slots * NUM_NODE_RESOURCES
            node[nodes] = action[:split].reshape(len(nodes), self.vnf_slots, NUM_NODE_RESOURCES)
            link[links] = action[split : split + len(links) * self.vl_slots].reshape(len(links), self.vl_slots)
        return Prices(node=node, link=link).clipped(price_min, price_max)
