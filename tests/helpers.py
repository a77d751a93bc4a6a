"""Shared builders and an independent embedding checker for the embedding tests.

A plain module (not a conftest): import what you need from ``helpers``.
Nothing here reuses the package's routing helpers, so the checker can catch
their mistakes.
"""

from __future__ import annotations

import re
import subprocess
from typing import Sequence

import numpy as np

from mdembed.network.substrate import BW_UNIT, NODE_UNIT, Substrate
from mdembed.workload.requests import Request


def make_substrate(
    num_nodes: int,
    links: Sequence[tuple[int, int]],
    *,
    node_domain: Sequence[int] | None = None,
    link_owner: Sequence[int] | None = None,
    node_capacity: np.ndarray | float = 1.0,
    bandwidth_mbps: Sequence[float] | float = 100.0,
    delay_ms: Sequence[float] | float = 1.0,
    loss: Sequence[float] | float = 0.0,
    num_domains: int | None = None,
) -> Substrate:
    """A hand-made substrate; ``links`` are (u, v) with u < v, in the order given (link index = position).

    Node capacities are in normalized units (scalar, or (N, 3)); bandwidth in Mbit/s.
    """
    e = len(links)
    ends = np.asarray(links, dtype=np.int64).reshape(e, 2)
    assert (ends[:, 0] < ends[:, 1]).all(), "links must be given as (u, v) with u < v"
    assert len({tuple(x) for x in ends.tolist()}) == e, "no parallel links"
    domain = np.zeros(num_nodes, dtype=np.int64) if node_domain is None else np.asarray(node_domain, dtype=np.int64)
    owner = domain[ends[:, 0]] if link_owner is None else np.asarray(link_owner, dtype=np.int64)
    cap = np.broadcast_to(np.asarray(node_capacity, dtype=np.float64), (num_nodes, 3))
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(num_nodes)]
    for link, (u, v) in enumerate(ends.tolist()):
        adjacency[u].append((v, 2 * link))
        adjacency[v].append((u, 2 * link + 1))
    return Substrate(
        name="hand",
        labels=tuple(str(i) for i in range(num_nodes)),
        num_domains=int(num_domains if num_domains is not None else domain.max() + 1),
        node_domain=domain,
        node_capacity=np.rint(cap * NODE_UNIT).astype(np.int64),
        link_ends=ends,
        link_owner=owner,
        link_bandwidth=np.rint(np.broadcast_to(np.asarray(bandwidth_mbps, dtype=float), (e,)) * BW_UNIT).astype(
            np.int64
        ),
        link_delay_ms=np.broadcast_to(np.asarray(delay_ms, dtype=float), (e,)).copy(),
        link_loss=np.broadcast_to(np.asarray(loss, dtype=float), (e,)).copy(),
        adjacency=tuple(tuple(a) for a in adjacency),
    )


def make_request(
    demands: Sequence[Sequence[float]],
    vls: Sequence[tuple[int, int, float, float, float]],
    *,
    id: int = 0,
    arrival: float = 0.0,
    lifetime: float = 1.0,
) -> Request:
    """``demands`` per VNF in normalized units; ``vls`` as (src, dst, bandwidth Mbit/s, delay bound ms, loss bound)."""
    m = len(vls)
    return Request(
        id=id,
        arrival=arrival,
        lifetime=lifetime,
        vnf_demand=np.rint(np.asarray(demands, dtype=float).reshape(-1, 3) * NODE_UNIT).astype(np.int64),
        vl_src=np.array([v[0] for v in vls], dtype=np.int64).reshape(m),
        vl_dst=np.array([v[1] for v in vls], dtype=np.int64).reshape(m),
        vl_bandwidth=np.rint(np.array([v[2] for v in vls], dtype=float) * BW_UNIT).astype(np.int64).reshape(m),
        vl_delay_ms=np.array([v[3] for v in vls], dtype=float).reshape(m),
        vl_loss=np.array([v[4] for v in vls], dtype=float).reshape(m),
    )


def arc_ends(substrate: Substrate, arc: int) -> tuple[int, int]:
    """(from, to) of an arc, straight from the definition: arc 2l is u->v, 2l+1 is v->u."""
    u, v = (int(x) for x in substrate.link_ends[arc // 2])
    return (u, v) if arc % 2 == 0 else (v, u)


def expected_revenue(substrate: Substrate, request: Request, prices, placement, paths) -> np.ndarray:
    """DESIGN 4.6 computed directly from the price tables."""
    revenue = np.zeros(substrate.num_domains)
    s_node = prices.node.shape[1]
    s_link = prices.link.shape[1]
    h = request.vnf_demand / NODE_UNIT
    for v, node in enumerate(placement):
        if node >= 0:
            slot = v if s_node > 1 else 0
            revenue[substrate.node_domain[node]] += float(np.dot(prices.node[node, slot, :], h[v]))
    for e, path in enumerate(paths):
        for arc in path or ():
            slot = e if s_link > 1 else 0
            link = arc // 2
            revenue[substrate.link_owner[link]] += prices.link[link, slot] * request.vl_bandwidth[e] / BW_UNIT
    return revenue


def check_embedding(
    substrate: Substrate,
    request: Request,
    embedding,
    node_residual: np.ndarray,
    arc_residual: np.ndarray,
    *,
    eps: float = 1e-9,
) -> None:
    """Assert that ``embedding`` is feasible against the residuals it was given.

    Per-node per-resource capacity, per-arc (direction-specific) bandwidth,
    each routed VL a simple walk between its end VNFs' nodes that meets its
    delay and loss bounds; consistency of ``accepted`` and ``reason``.
    """
    n_nodes = substrate.num_nodes
    placement = np.asarray(embedding.placement)
    assert placement.shape == (request.num_vnfs,)
    assert ((placement == -1) | ((placement >= 0) & (placement < n_nodes))).all(), placement
    assert len(embedding.paths) == request.num_vls

    used = np.zeros((n_nodes, 3), dtype=np.int64)
    for v, node in enumerate(placement.tolist()):
        if node >= 0:
            used[node] += request.vnf_demand[v]
    assert (used <= node_residual).all(), f"node capacity exceeded: used {used} residual {node_residual}"

    arc_used = np.zeros(2 * substrate.num_links, dtype=np.int64)
    for e, path in enumerate(embedding.paths):
        if path is None:
            continue
        a, b = int(request.vl_src[e]), int(request.vl_dst[e])
        src, dst = int(placement[a]), int(placement[b])
        assert src >= 0 and dst >= 0, f"vl {e} routed but an end VNF is not placed"
        walk = [src]
        delay = 0.0
        delivered = 1.0
        for arc in path:
            arc = int(arc)
            assert 0 <= arc < 2 * substrate.num_links
            frm, to = arc_ends(substrate, arc)
            assert frm == walk[-1], f"vl {e}: arc {arc} leaves {frm}, walk is at {walk[-1]}"
            walk.append(to)
            arc_used[arc] += int(request.vl_bandwidth[e])
            delay += float(substrate.link_delay_ms[arc // 2])
            delivered *= 1.0 - float(substrate.link_loss[arc // 2])
        assert walk[-1] == dst, f"vl {e}: walk {walk} does not end at {dst}"
        assert len(set(walk)) == len(walk), f"vl {e}: walk {walk} is not simple"
        assert delay <= request.vl_delay_ms[e] + eps, f"vl {e}: delay {delay} > {request.vl_delay_ms[e]}"
        assert 1.0 - delivered <= request.vl_loss[e] + eps, f"vl {e}: loss {1 - delivered} > {request.vl_loss[e]}"
    assert (arc_used <= np.asarray(arc_residual)).all(), (
        f"arc bandwidth exceeded: used {arc_used} residual {np.asarray(arc_residual)}"
    )

    complete = (placement >= 0).all() and all(p is not None for p in embedding.paths)
    assert (embedding.reason is None) == bool(complete), (embedding.reason, placement, embedding.paths)
    assert embedding.accepted == bool(complete)
    assert (np.asarray(embedding.domain_revenue) >= 0).all()


def crash_step_after(monkeypatch, env_class: type, calls: int) -> None:
    """Make ``env_class.step`` raise KeyboardInterrupt after ``calls`` steps, as a killed training run would.

    ``monkeypatch.undo()`` puts the real ``step`` back.
    """
    original = env_class.step
    count = {"n": 0}

    def step(self, action):
        count["n"] += 1
        if count["n"] > calls:
            raise KeyboardInterrupt
        return original(self, action)

    monkeypatch.setattr(env_class, "step", step)


def one_line(result: subprocess.CompletedProcess, pattern: str, status: int = 2, prefix: str = "mdembed: ") -> str:
    """The single stderr line of a refused (or stopped) command line, checked against ``prefix``, ``pattern`` and
    the exit status."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == status, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]
