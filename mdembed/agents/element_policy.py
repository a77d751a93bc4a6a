"""Per-element pricing policies: each domain's network prices each of its own nodes and links (issue 24).

A flat actor maps a domain's whole observation to its whole price vector,
so its size grows with the domain and it has to learn the same thing once
per element. Here each domain holds two small networks, one applied to
every own node and one to every own link (weights shared across the
domain's elements, never across domains). Each reads the element's own
features and a learned summary of the request:

- a node: the residual share of each resource (from the observation) and
  its capacity per resource relative to the domain's largest;
- a link: the residual share of each direction and of the busier one (from
  the observation), its bandwidth, delay and loss relative to the domain's
  largest, and whether it leaves the domain.

The node network outputs the node's 3 resource prices, the link network
the link's price (per-node granularity, ``prices=node``), as normalized
actions. The weights do not depend on the domain's size, so a policy
trained on one topology acts on another with the same number of domains;
and the load-following rule is one exact setting of the weights (a price
linear in the used share: :func:`set_linear_rule`).

Features that come from the substrate are buffers rebuilt from the layout,
not saved with the weights.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mdembed.agents.networks import StackedLinear
from mdembed.env.layout import TENSOR_SIZE, DomainLayout
from mdembed.network.substrate import NUM_NODE_RESOURCES

NODE_FEATURES = 2 * NUM_NODE_RESOURCES  # residual share and relative capacity, per resource
LINK_FEATURES = 7  # residual share forward, backward, of the busier direction; bandwidth, delay, loss; leaves the domain
BUSIER_SHARE = 2  # the link feature holding the busier direction's residual share
REQUEST_SUMMARY = 16  # units of the learned request summary every element reads


def _relative(values: np.ndarray) -> np.ndarray:
    """Values over their largest (columns apart); 0 where the largest is 0."""
    top = values.max(axis=0, keepdims=True) if len(values) else np.ones((1,) + values.shape[1:])
    return np.divide(values, top, out=np.zeros_like(values, dtype=np.float64), where=top > 0)


class ElementMLP(nn.Module):
    """D domains' networks over E elements each: [element features | request summary] -> hidden -> hidden -> out.

    The summary's term of the first layer is computed once per request and
    broadcast to the elements, not once per element.
    """

    def __init__(self, domains: int, features: int, hidden: int, out: int) -> None:
        super().__init__()
        self.first = StackedLinear(domains, features + REQUEST_SUMMARY, hidden)
        self.features = features
        self.second = StackedLinear(domains, hidden, hidden)
        self.out = StackedLinear(domains, hidden, out)

    def forward(self, elements: torch.Tensor, summary: torch.Tensor) -> torch.Tensor:
        """(D, B, E, features), (D, B, S) -> (D, B, E, out)."""
        d, b, e, f = elements.shape
        w = self.first.weight
        own = torch.bmm(elements.reshape(d, b * e, f), w[:, :f]).reshape(d, b, e, -1)
        shared = torch.baddbmm(self.first.bias, summary, w[:, f:])  # (D, B, hidden)
        x = F.relu(own + shared[:, :, None, :]).reshape(d, b * e, -1)
        x = F.relu(self.second(x))
        return self.out(x).reshape(d, b, e, -1)


class ElementActor(nn.Module):
    """Normalized per-node prices for stacked observations (D, B, obs_dim) -> (D, B, action_dim), per element.

    The same interface as :class:`~mdembed.agents.networks.Actor`
    (``preactivation``, ``bound``, ``forward``): padding entries of the
    action are zero.
    """

    def __init__(self, layout: DomainLayout, hidden: int, bounding: str = "invert") -> None:
        super().__init__()
        if layout.granularity != "node":
            raise ValueError("a per-element policy quotes per node resource and per link (prices=node)")
        if not layout.observe_own_state:
            raise ValueError("a per-element policy reads each element's residual share: it needs observe_own_state")
        d = layout.num_domains
        self.bounding = bounding
        self.request = StackedLinear(d, TENSOR_SIZE, REQUEST_SUMMARY)
        self.nodes = ElementMLP(d, NODE_FEATURES, hidden, NUM_NODE_RESOURCES)
        self.links = ElementMLP(d, LINK_FEATURES, hidden, 1)
        for name, value in _layout_buffers(layout).items():
            self.register_buffer(name, value, persistent=False)

    def preactivation(self, obs: torch.Tensor) -> torch.Tensor:
        d, b, _ = obs.shape
        n, links = self.node_static.shape[1], self.link_static.shape[1]
        summary = F.relu(self.request(obs[..., :TENSOR_SIZE]))
        node_share = torch.gather(obs, 2, self.node_index.expand(d, b, -1)).reshape(d, b, n, NUM_NODE_RESOURCES)
        node_x = torch.cat([node_share, self.node_static[:, None].expand(d, b, n, -1)], dim=-1)
        arcs = torch.gather(obs, 2, self.arc_index.expand(d, b, -1)).reshape(d, b, links, 2)
        link_x = torch.cat([arcs, arcs.amin(dim=-1, keepdim=True), self.link_static[:, None].expand(d, b, links, -1)], dim=-1)
        flat = torch.cat([
            self.nodes(node_x, summary).reshape(d, b, -1),
            self.links(link_x, summary).reshape(d, b, -1),
            obs.new_zeros(d, b, 1),  # what padding entries of the action read
        ], dim=-1)  # fmt: skip
        return torch.gather(flat, 2, self.action_index.expand(d, b, -1))

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z) if self.bounding == "tanh" else z.clamp(-1.0, 1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.bound(self.preactivation(obs))


def _layout_buffers(layout: DomainLayout) -> dict[str, torch.Tensor]:
    """Where each element's residual shares sit in a domain's observation, its substrate features, and where
    each entry of the action comes from in [node outputs | link outputs | a zero]."""
    s = layout.substrate
    d = layout.num_domains
    n_max = max(max(len(n) for n in layout.nodes), 1)
    l_max = max(max(len(l) for l in layout.links), 1)
    node_index = np.zeros((d, n_max * NUM_NODE_RESOURCES), dtype=np.int64)
    arc_index = np.zeros((d, l_max * 2), dtype=np.int64)
    node_static = np.zeros((d, n_max, NUM_NODE_RESOURCES), dtype=np.float32)
    link_static = np.zeros((d, l_max, LINK_FEATURES - 3), dtype=np.float32)
    action_index = np.full((d, layout.max_action_dim), n_max * NUM_NODE_RESOURCES + l_max, dtype=np.int64)
    for i, (nodes, links) in enumerate(zip(layout.nodes, layout.links)):
        own = len(nodes) * NUM_NODE_RESOURCES
        node_index[i, :own] = TENSOR_SIZE + np.arange(own)
        arc_index[i, : 2 * len(links)] = TENSOR_SIZE + own + np.arange(2 * len(links))  # arcs 2l, 2l + 1 per own link
        node_static[i, : len(nodes)] = _relative(s.node_capacity[nodes].astype(np.float64))
        ends = s.link_ends[links]
        leaves = (s.node_domain[ends] != i).any(axis=1) if len(links) else np.zeros(0, dtype=bool)
        link_static[i, : len(links)] = np.column_stack([
            _relative(s.link_bandwidth[links].astype(np.float64)), _relative(s.link_delay_ms[links]),
            _relative(s.link_loss[links]), leaves,
        ]) if len(links) else np.zeros((0, LINK_FEATURES - 3))  # fmt: skip
        action_index[i, :own] = np.arange(own)
        action_index[i, own : own + len(links)] = n_max * NUM_NODE_RESOURCES + np.arange(len(links))
    return {
        "node_index": torch.from_numpy(node_index)[:, None, :],
        "arc_index": torch.from_numpy(arc_index)[:, None, :],
        "node_static": torch.from_numpy(node_static),
        "link_static": torch.from_numpy(link_static),
        "action_index": torch.from_numpy(action_index)[:, None, :],
    }


def output_kinds(layout: DomainLayout) -> torch.Tensor:
    """(D, action_dim): which output each action entry is, 0-2 a node resource and 3 a link (padding: 3)."""
    kinds = np.full((layout.num_domains, layout.max_action_dim), NUM_NODE_RESOURCES, dtype=np.int64)
    for i, nodes in enumerate(layout.nodes):
        kinds[i, : len(nodes) * NUM_NODE_RESOURCES] = np.tile(np.arange(NUM_NODE_RESOURCES), len(nodes))
    return torch.from_numpy(kinds)


def set_linear_rule(actor: ElementActor, low: float = 0.0, high: float = 1.0) -> None:
    """Set the weights to the load-following rule ``price = low + (high - low) x used share`` (fractions of the
    price range), every request alike: a known answer the architecture can express exactly."""
    hidden = actor.nodes.second.weight.shape[1]
    if hidden < NUM_NODE_RESOURCES:
        raise ValueError(f"the rule needs at least {NUM_NODE_RESOURCES} hidden units, got {hidden}")
    # normalized action a = 2 x price fraction - 1, price fraction = low + (high - low) x (1 - share)
    slope, offset = -2.0 * (high - low), 2.0 * high - 1.0
    with torch.no_grad():
        for p in actor.parameters():
            p.zero_()
        for net, inputs in ((actor.nodes, list(range(NUM_NODE_RESOURCES))), (actor.links, [BUSIER_SHARE])):
            for unit, feature in enumerate(inputs):
                net.first.weight[:, feature, unit] = 1.0  # relu(share) = share: shares are non-negative
                net.second.weight[:, unit, unit] = 1.0
                net.out.weight[:, unit, unit] = slope
            net.out.bias.fill_(offset)
