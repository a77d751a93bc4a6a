"""The central client: CFF for VNFs, then constrained Dijkstra for VLs, then admission (DESIGN 4)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from mdembed.settings import MarketSettings, RoutingSettings
from mdembed.embedding.placement import cff_place
from mdembed.embedding.prices import Prices
from mdembed.embedding.reasons import Reason
from mdembed.embedding.routing import RoutingGraph, route_vl
from mdembed.network.substrate import BW_UNIT, NODE_UNIT, Holding, Substrate
from mdembed.workload.requests import Request


@dataclass(frozen=True, eq=False)
class Embedding:
    """What the client decided for one request.

    ``placement[v]`` is the node hosting VNF v, -1 where it is not embedded;
    ``paths[e]`` the arcs carrying VL e (``[]`` when both VNFs share a node),
    None where it is not embedded. ``reason`` says why the request is not
    fully embedded, None when it is; ``where`` names the element that failed
    ("vnf 3", "vl 0->1", "ilp"), None when no one element did.
    """

    placement: np.ndarray
    paths: tuple[list[int] | None, ...]
    domain_revenue: np.ndarray
    reason: Reason | None = None
    where: str | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is None

    @property
    def reason_text(self) -> str | None:
        """The reason as one line for people and events.jsonl, e.g. ``vnf 3: no node has the capacity``."""
        if self.reason is None:
            return None
        return self.reason.value if self.where is None else f"{self.where}: {self.reason.value}"

    @property
    def num_vnfs_embedded(self) -> int:
        return int((self.placement >= 0).sum())

    @property
    def num_vls_embedded(self) -> int:
        return sum(p is not None for p in self.paths)

    @property
    def holds_anything(self) -> bool:
        return self.num_vnfs_embedded > 0

    def cost(self, request: Request) -> float:
        """Resources consumed: VNF demand (normalized units) + VL bandwidth (Mbit/s) x hops."""
        placed = self.placement >= 0
        node_units = request.vnf_demand[placed].sum() / NODE_UNIT
        link_units = sum(
            len(p) * int(bw) for p, bw in zip(self.paths, request.vl_bandwidth) if p is not None
        ) / BW_UNIT
        return float(node_units + link_units)

    def holding(self, request: Request, substrate: Substrate) -> Holding:
        placed = self.placement >= 0
        nodes = self.placement[placed]
        arcs: list[int] = []
        arc_bw: list[int] = []
        vls_per_domain = np.zeros(substrate.num_domains, dtype=np.int64)
        arc_owner = substrate.arc_owner
        for e, path in enumerate(self.paths):
            if path is None:
                continue
            arcs.extend(path)
            arc_bw.extend([int(request.vl_bandwidth[e])] * len(path))
            if path:
                owners = {int(arc_owner[a]) for a in path}
            else:
                owners = {int(substrate.node_domain[self.placement[request.vl_src[e]]])}
            vls_per_domain[list(owners)] += 1
        return Holding(
            nodes=nodes,
            demands=request.vnf_demand[placed],
            arcs=np.asarray(arcs, dtype=np.int64),
            arc_bandwidth=np.asarray(arc_bw, dtype=np.int64),
            vnfs_per_domain=np.bincount(substrate.node_domain[nodes], minlength=substrate.num_domains),
            vls_per_domain=vls_per_domain,
        )


def rejected(request: Request, num_domains: int, reason: Reason, where: str | None = None) -> Embedding:
    return Embedding(
        placement=np.full(request.num_vnfs, -1, dtype=np.int64),
        paths=(None,) * request.num_vls,
        domain_revenue=np.zeros(num_domains),
        reason=reason,
        where=where,
    )


@lru_cache(maxsize=8)
def routing_graph(substrate: Substrate) -> RoutingGraph:
    return RoutingGraph(
        adjacency=substrate.adjacency,
        arc_dst=substrate.arc_dst.tolist(),
        delay_ms=substrate.arc_delay_ms.tolist(),
        survival=substrate.arc_survival.tolist(),
        neg_log_survival=substrate.arc_neg_log_survival.tolist(),
    )


@lru_cache(maxsize=16)
def tie_order(substrate: Substrate, rule: str) -> np.ndarray:
    """The order in which CFF tries nodes of equal charge.

    ``bandwidth``: most attached link capacity first (then node index), so a
    first-fit that spills over lands next to a well-connected node rather
    than a leaf; ``index``: node index order.
    """
    if rule == "index":
        return np.arange(substrate.num_nodes)
    attached = np.zeros(substrate.num_nodes, dtype=np.int64)
    np.add.at(attached, substrate.link_ends.reshape(-1), np.repeat(substrate.link_bandwidth, 2))
    return np.lexsort((np.arange(substrate.num_nodes), -attached))


def node_charges(prices: Prices, demand_units: np.ndarray) -> np.ndarray:
    """(n, N): what each node charges each VNF of the request, P = c[n, v, :] . h[v, :]."""
    if prices.node.shape[1] == 1:
        return demand_units @ prices.node[:, 0, :].T
    n = len(demand_units)
    return np.einsum("nvk,vk->vn", prices.node[:, :n, :], demand_units)


class ArcWeights:
    """Per-arc price lists for each VL slot, built once per distinct slot."""

    def __init__(self, prices: Prices, arc_link: np.ndarray) -> None:
        self._prices = prices
        self._arc_link = arc_link
        self._shared = prices.link.shape[1] == 1
        self._cache: dict[int, list[float]] = {}

    def __call__(self, slot: int) -> list[float]:
        key = 0 if self._shared else slot
        if key not in self._cache:
            self._cache[key] = self._prices.link_price(key)[self._arc_link].tolist()
        return self._cache[key]


def embed(
    request: Request,
    prices: Prices,
    substrate: Substrate,
    node_residual: np.ndarray,
    arc_residual: np.ndarray,
    market: MarketSettings,
    routing: RoutingSettings,
    weights: ArcWeights | None = None,
) -> Embedding:
    """Place, route and admit one request against the given residuals (left untouched)."""
    demand_units = request.vnf_demand_units
    charges = node_charges(prices, demand_units)
    placement = cff_place(charges, node_residual, request.vnf_demand, tie_order(substrate, market.tie_break))
    reason: Reason | None = None
    where: str | None = None
    missing = np.flatnonzero(placement < 0)
    if len(missing):
        reason, where = Reason.NO_NODE_CAPACITY, f"vnf {missing[0]}"

    weights = weights or ArcWeights(prices, substrate.arc_link)
    residual = arc_residual.tolist()
    graph = routing_graph(substrate)
    paths: list[list[int] | None] = []
    for e in range(request.num_vls):
        a, b = int(request.vl_src[e]), int(request.vl_dst[e])
        u, v = int(placement[a]), int(placement[b])
        if u < 0 or v < 0:
            paths.append(None)
            if reason is None:
                reason, where = Reason.END_VNF_NOT_PLACED, f"vl {a}->{b}"
            continue
        bw = int(request.vl_bandwidth[e])
        path, why = route_vl(
            graph, weights(e), residual, bw, u, v,
            float(request.vl_delay_ms[e]), float(request.vl_loss[e]), routing.fallback, routing.k,
        )  # fmt: skip
        if path is None:
            if reason is None:
                reason, where = why, f"vl {a}->{b}"
        else:
            for arc in path:
                residual[arc] -= bw
        paths.append(path)

    if reason is not None and market.admission == "all_or_nothing":
        return rejected(request, substrate.num_domains, reason, where)

    revenue = domain_revenue(request, substrate, prices, placement, paths, charges)
    return Embedding(placement=placement, paths=tuple(paths), domain_revenue=revenue, reason=reason, where=where)


def domain_revenue(
    request: Request,
    substrate: Substrate,
    prices: Prices,
    placement: np.ndarray,
    paths: Sequence[list[int] | None],
    charges: np.ndarray | None = None,
) -> np.ndarray:
    """(D,) what each domain earns (DESIGN 4.6): the price x demand of the VNFs on its nodes,
    plus its links' price x Mbit/s of every VL crossing them. ``charges`` are
    :func:`node_charges`, when the caller has them already."""
    if charges is None:
        charges = node_charges(prices, request.vnf_demand_units)
    revenue = np.zeros(substrate.num_domains)
    for v, node in enumerate(np.asarray(placement).tolist()):
        if node >= 0:
            revenue[substrate.node_domain[node]] += charges[v, node]
    owner = substrate.link_owner
    arc_link = substrate.arc_link_list
    for e, path in enumerate(paths):
        if path:
            price = prices.link_price(e)
            mbps = request.vl_bandwidth[e] / BW_UNIT
            for arc in path:
                link = arc_link[arc]
                revenue[owner[link]] += price[link] * mbps
    return revenue
