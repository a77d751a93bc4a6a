"""The substrate network as flat arrays, and its residual resources.

Resources are kept as integers (node resources in micro-units, bandwidth in
kbit/s) so that allocating and releasing are exact: after every request has
departed, every residual equals its capacity bit for bit.

Each undirected link ``l`` joining ``u < v`` gives two arcs: ``2l`` is
``u -> v`` and ``2l + 1`` is ``v -> u``; each direction has its own capacity.
"""

from __future__ import annotations

import hashlib

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mdembed.settings import BW_UNIT, NODE_UNIT, TopologySettings
from mdembed.network.topology import Topology, link_lengths_km

NUM_NODE_RESOURCES = 3  # CPU, RAM, storage
NODE_RESOURCES = ("cpu", "ram", "storage")


def to_node_units(values: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * NODE_UNIT).astype(np.int64)


def to_bw_units(values: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * BW_UNIT).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Substrate:
    """What never changes during a run: graph, domains, capacities, delays, losses."""

    name: str
    labels: tuple[str, ...]
    num_domains: int
    node_domain: np.ndarray  # (N,) domain of each node
    node_capacity: np.ndarray  # (N, 3) int64, micro-units
    link_ends: np.ndarray  # (E, 2) node pairs, u < v
    link_owner: np.ndarray  # (E,) domain that owns and prices each link
    link_bandwidth: np.ndarray  # (E,) int64 kbit/s, per direction
    link_delay_ms: np.ndarray  # (E,)
    link_loss: np.ndarray  # (E,) fraction
    adjacency: tuple[tuple[tuple[int, int], ...], ...]  # adjacency[u] = ((v, arc), ...)

    @property
    def num_nodes(self) -> int:
        return len(self.node_domain)

    @property
    def num_links(self) -> int:
        return len(self.link_ends)

    @cached_property
    def arc_src(self) -> np.ndarray:
        return self.link_ends.reshape(-1)  # arc 2l leaves u, arc 2l + 1 leaves v

    @cached_property
    def arc_dst(self) -> np.ndarray:
        return self.link_ends[:, ::-1].reshape(-1)

    @cached_property
    def arc_link(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_links), 2)

    @cached_property
    def arc_owner(self) -> np.ndarray:
        return np.repeat(self.link_owner, 2)

    @cached_property
    def arc_bandwidth(self) -> np.ndarray:
        return np.repeat(self.link_bandwidth, 2)

    @cached_property
    def arc_link_list(self) -> list[int]:
        """:attr:`arc_link` as Python ints: per-arc loops over paths index it far faster than an array."""
        return self.arc_link.tolist()

    @cached_property
    def arc_delay_ms(self) -> np.ndarray:
        """Each arc has its link's propagation delay: a path's delay is the sum over its arcs."""
        return np.repeat(self.link_delay_ms, 2)

    @cached_property
    def arc_survival(self) -> np.ndarray:
        """1 - loss of each arc: a path's loss is 1 - the product over its arcs (DESIGN 4.4)."""
        return np.repeat(1.0 - self.link_loss, 2)

    @cached_property
    def arc_neg_log_survival(self) -> np.ndarray:
        """-log(:attr:`arc_survival`): additive along a path, so Dijkstra can find the least-loss path.

        Differs from :attr:`arc_neg_log1p_loss` in the last bits: routing and
        the MILP each keep their own, so no result moves.
        """
        return -np.log(self.arc_survival)

    @cached_property
    def arc_neg_log1p_loss(self) -> np.ndarray:
        """-log(1 - loss) as -log1p(-loss), the form of the MILP's loss budgets, so its loss rows compare like with like."""
        return -np.log1p(-np.repeat(self.link_loss, 2))

    @cached_property
    def domain_nodes(self) -> tuple[np.ndarray, ...]:
        """Ascending nodes of each domain: what a domain sees of the substrate (DESIGN 2)."""
        return tuple(np.flatnonzero(self.node_domain == d) for d in range(self.num_domains))

    @cached_property
    def domain_links(self) -> tuple[np.ndarray, ...]:
        """Ascending links each domain owns and prices."""
        return tuple(np.flatnonzero(self.link_owner == d) for d in range(self.num_domains))

    @cached_property
    def domain_arcs(self) -> tuple[np.ndarray, ...]:
        """Ascending arcs of each domain's links: both directions of every link it owns."""
        return tuple(np.flatnonzero(self.arc_owner == d) for d in range(self.num_domains))

    def path_nodes(self, src: int, arcs: list[int]) -> list[int]:
        """Node sequence of a path given as arcs; ``[src]`` for an empty path."""
        dst = self.arc_dst
        nodes = [src]
        for a in arcs:
            nodes.append(int(dst[a]))
        return nodes


def build_substrate(
    topology: Topology,
    node_domain: np.ndarray,
    link_owner: np.ndarray,
    settings: TopologySettings,
    rng: np.random.Generator,
) -> Substrate:
    """Draw the resources of every node and link (DESIGN 1) from ``rng``."""
    n, e = topology.num_nodes, topology.num_links
    lo, hi = settings.node_capacity
    capacity = to_node_units(rng.uniform(lo, hi, size=(n, NUM_NODE_RESOURCES)))
    bandwidth = to_bw_units(rng.choice(np.asarray(settings.link_bandwidth_mbps), size=e))
    loss = rng.uniform(0.0, settings.loss_max, size=e)
    length = link_lengths_km(topology)
    delay = length / settings.propagation_km_per_ms
    unknown = ~np.isfinite(delay) | (delay <= 0.0)
    delay[unknown] = settings.default_delay_ms
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for link, (u, v) in enumerate(topology.edges.tolist()):
        adjacency[u].append((v, 2 * link))
        adjacency[v].append((u, 2 * link + 1))
    return Substrate(
        name=topology.name,
        labels=tuple(topology.labels),
        num_domains=int(node_domain.max()) + 1,
        node_domain=np.asarray(node_domain, dtype=np.int64),
        node_capacity=capacity,
        link_ends=np.asarray(topology.edges, dtype=np.int64),
        link_owner=np.asarray(link_owner, dtype=np.int64),
        link_bandwidth=bandwidth,
        link_delay_ms=delay,
        link_loss=loss,
        adjacency=tuple(tuple(a) for a in adjacency),
    )


@dataclass(frozen=True, eq=False)
class Holding:
    """What one request holds until it departs."""

    nodes: np.ndarray  # (m,) node of each embedded VNF
    demands: np.ndarray  # (m, 3) int64
    arcs: np.ndarray  # (p,) arcs used, one entry per VL crossing it
    arc_bandwidth: np.ndarray  # (p,) int64
    vnfs_per_domain: np.ndarray  # (D,)
    vls_per_domain: np.ndarray  # (D,)


class SubstrateState:
    """Residual resources and what each hosted request holds."""

    def __init__(self, substrate: Substrate) -> None:
        self.substrate = substrate
        self.node_residual = substrate.node_capacity.copy()
        self.arc_residual = substrate.arc_bandwidth.copy()
        self.hosted_vnfs = np.zeros(substrate.num_domains, dtype=np.int64)
        self.hosted_vls = np.zeros(substrate.num_domains, dtype=np.int64)
        self._held: dict[int, Holding] = {}

    def __contains__(self, request_id: int) -> bool:
        return request_id in self._held

    @property
    def num_hosted(self) -> int:
        return len(self._held)

    def allocate(self, request_id: int, holding: Holding) -> None:
        if request_id in self._held:
            raise RuntimeError(f"request {request_id} already holds resources")
        np.subtract.at(self.node_residual, holding.nodes, holding.demands)
        np.subtract.at(self.arc_residual, holding.arcs, holding.arc_bandwidth)
        if (self.node_residual[holding.nodes] < 0).any() or (self.arc_residual[holding.arcs] < 0).any():
            self._return(holding)
            raise RuntimeError(f"request {request_id} was embedded beyond the residual capacity")
        self.hosted_vnfs += holding.vnfs_per_domain
        self.hosted_vls += holding.vls_per_domain
        self._held[request_id] = holding

    def release(self, request_id: int) -> None:
        holding = self._held.pop(request_id)
        self._return(holding)
        self.hosted_vnfs -= holding.vnfs_per_domain
        self.hosted_vls -= holding.vls_per_domain

    def _return(self, holding: Holding) -> None:
        np.add.at(self.node_residual, holding.nodes, holding.demands)
        np.add.at(self.arc_residual, holding.arcs, holding.arc_bandwidth)

    def node_utilization(self) -> np.ndarray:
        """(N, 3) share of each node resource in use."""
        cap = self.substrate.node_capacity
        return (cap - self.node_residual) / cap

    def arc_utilization(self) -> np.ndarray:
        cap = self.substrate.arc_bandwidth
        return (cap - self.arc_residual) / cap

    # --- checkpoints ------------------------------------------------------

    def state_dict(self) -> dict[str, object]:
        """Residuals and every holding, as flat tensors (ragged parts as concatenations + counts)."""
        import torch

        ids = sorted(self._held)
        held = [self._held[i] for i in ids]

        def cat(name: str, width: int | None = None) -> torch.Tensor:
            parts = [getattr(h, name) for h in held]
            if not parts:
                shape = (0,) if width is None else (0, width)
                return torch.zeros(shape, dtype=torch.int64)
            return torch.from_numpy(np.concatenate(parts).astype(np.int64))

        return {
            "node_residual": torch.from_numpy(self.node_residual.copy()),
            "arc_residual": torch.from_numpy(self.arc_residual.copy()),
            "ids": torch.tensor(ids, dtype=torch.int64),
            "node_counts": torch.tensor([len(h.nodes) for h in held], dtype=torch.int64),
            "arc_counts": torch.tensor([len(h.arcs) for h in held], dtype=torch.int64),
            "nodes": cat("nodes"),
            "demands": cat("demands", NUM_NODE_RESOURCES),
            "arcs": cat("arcs"),
            "arc_bandwidth": cat("arc_bandwidth"),
            "vnfs_per_domain": torch.from_numpy(
                np.stack([h.vnfs_per_domain for h in held]) if held else np.zeros((0, self.substrate.num_domains), np.int64)
            ),
            "vls_per_domain": torch.from_numpy(
                np.stack([h.vls_per_domain for h in held]) if held else np.zeros((0, self.substrate.num_domains), np.int64)
            ),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Rebuild the holdings and check that they account for the saved residuals exactly."""
        fresh = SubstrateState(self.substrate)
        node_split = np.cumsum(state["node_counts"].numpy())[:-1]
        arc_split = np.cumsum(state["arc_counts"].numpy())[:-1]
        parts = zip(
            state["ids"].tolist(),
            np.split(state["nodes"].numpy(), node_split),
            np.split(state["demands"].numpy(), node_split),
            np.split(state["arcs"].numpy(), arc_split),
            np.split(state["arc_bandwidth"].numpy(), arc_split),
            state["vnfs_per_domain"].numpy(),
            state["vls_per_domain"].numpy(),
        )
        for rid, nodes, demands, arcs, bw, vnfs, vls in parts:
            fresh.allocate(rid, Holding(nodes, demands, arcs, bw, vnfs, vls))
        if not (
            np.array_equal(fresh.node_residual, state["node_residual"].numpy())
            and np.array_equal(fresh.arc_residual, state["arc_residual"].numpy())
        ):
            raise ValueError("the saved residuals do not match the saved holdings")
        self.node_residual, self.arc_residual = fresh.node_residual, fresh.arc_residual
        self.hosted_vnfs, self.hosted_vls = fresh.hosted_vnfs, fresh.hosted_vls
        self._held = fresh._held


def substrate_fingerprint(substrate: Substrate) -> str:
    """A digest of everything a market policy's shapes and meaning depend on."""
    digest = hashlib.sha256()
    for array in (substrate.node_domain, substrate.node_capacity, substrate.link_ends, substrate.link_owner,
                  substrate.link_bandwidth, substrate.link_delay_ms, substrate.link_loss):  # fmt: skip
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]
