"""Routing a VL over price-weighted links under bandwidth, delay and loss bounds (DESIGN 4.4).

Paths are lists of arcs (see :mod:`mdembed.network.substrate`). The graph is
walked through plain Python lists: on networks of tens to hundreds of nodes
a heap-based Dijkstra in pure Python beats building a sparse matrix per VL.
"""

from __future__ import annotations

import heapq
from typing import Iterator, NamedTuple, Sequence

from mdembed.embedding.reasons import Reason

Adjacency = Sequence[Sequence[tuple[int, int]]]  # adjacency[u] = ((v, arc), ...)

_NO_ARCS: frozenset[int] = frozenset()
_INF = float("inf")


def least_price_path(
    adjacency: Adjacency,
    weight: Sequence[float],
    residual: Sequence[int],
    bandwidth: int,
    src: int,
    dst: int,
    banned_arcs: frozenset[int] | set[int] = _NO_ARCS,
    banned_nodes: frozenset[int] | set[int] = _NO_ARCS,
) -> list[int] | None:
    """Dijkstra over arcs with ``residual >= bandwidth``; the arcs of a cheapest path, or None.

    ``[]`` when ``src == dst``. Ties go to the path found first, which is
    fixed by the adjacency order, so results are deterministic.
    """
    if src == dst:
        return []
    n = len(adjacency)
    dist = [_INF] * n
    via_arc = [-1] * n
    via_node = [-1] * n
    done = [False] * n
    for b in banned_nodes:
        done[b] = True
    dist[src] = 0.0
    heap = [(0.0, src)]
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        d, u = pop(heap)
        if done[u]:
            continue
        if u == dst:
            break
        done[u] = True
        for v, arc in adjacency[u]:
            if done[v] or residual[arc] < bandwidth or (banned_arcs and arc in banned_arcs):
                continue
            nd = d + weight[arc]
            if nd < dist[v]:
                dist[v] = nd
                via_arc[v] = arc
                via_node[v] = u
                push(heap, (nd, v))
    else:
        return None
    arcs = []
    node = dst
    while node != src:
        arcs.append(via_arc[node])
        node = via_node[node]
    arcs.reverse()
    return arcs


def k_least_price_paths(
    adjacency: Adjacency,
    weight: Sequence[float],
    residual: Sequence[int],
    bandwidth: int,
    src: int,
    dst: int,
    arc_dst: Sequence[int],
) -> Iterator[list[int]]:
    """Loopless paths in ascending price (Yen's algorithm), generated lazily."""
    first = least_price_path(adjacency, weight, residual, bandwidth, src, dst)
    if first is None:
        return
    yield first
    found = [first]
    candidates: list[tuple[float, int, list[int]]] = []
    seen = {tuple(first)}
    tie = 0
    while True:
        last = found[-1]
        for i in range(len(last)):
            root = last[:i]
            root_nodes = [src] + [arc_dst[a] for a in root]
            spur_node = root_nodes[-1]
            banned_nodes = set(root_nodes[:-1])
            banned_arcs = {p[i] for p in found if len(p) > i and p[:i] == root}
            spur = least_price_path(
                adjacency, weight, residual, bandwidth, spur_node, dst, banned_arcs, banned_nodes
            )
            if spur is not None:
                path = root + spur
                key = tuple(path)
                if key not in seen:
                    seen.add(key)
                    tie += 1
                    heapq.heappush(candidates, (sum(weight[a] for a in path), tie, path))
        if not candidates:
            return
        _, _, best = heapq.heappop(candidates)
        found.append(best)
        yield best


def path_delay_ms(arcs: Sequence[int], arc_delay_ms: Sequence[float]) -> float:
    return sum(arc_delay_ms[a] for a in arcs)


def path_loss(arcs: Sequence[int], arc_survival: Sequence[float]) -> float:
    """1 - prod(1 - loss) along the path."""
    delivered = 1.0
    for a in arcs:
        delivered *= arc_survival[a]
    return 1.0 - delivered


def meets_qos(
    arcs: Sequence[int],
    delay_bound_ms: float,
    loss_bound: float,
    arc_delay_ms: Sequence[float],
    arc_survival: Sequence[float],
) -> bool:
    return (
        path_delay_ms(arcs, arc_delay_ms) <= delay_bound_ms
        and path_loss(arcs, arc_survival) <= loss_bound
    )


class RoutingGraph(NamedTuple):
    """The substrate as the lists the routing functions walk."""

    adjacency: Adjacency
    arc_dst: Sequence[int]
    delay_ms: Sequence[float]
    survival: Sequence[float]  # 1 - loss per arc
    neg_log_survival: Sequence[float]  # -log(1 - loss): additive along a path


def qos_reachable(graph: RoutingGraph, residual: Sequence[int], bandwidth: int, src: int, dst: int,
                  delay_bound_ms: float, loss_bound: float) -> bool:
    """Whether any path could meet each bound on its own: a cheap test before searching paths.

    False proves that no path meets both bounds; True does not prove one does.
    """
    args = (graph.adjacency,)
    fastest = least_price_path(*args, graph.delay_ms, residual, bandwidth, src, dst)
    if fastest is None or path_delay_ms(fastest, graph.delay_ms) > delay_bound_ms:
        return False
    safest = least_price_path(*args, graph.neg_log_survival, residual, bandwidth, src, dst)
    return safest is not None and path_loss(safest, graph.survival) <= loss_bound


def route_vl(
    graph: RoutingGraph,
    weight: Sequence[float],
    residual: Sequence[int],
    bandwidth: int,
    src: int,
    dst: int,
    delay_bound_ms: float,
    loss_bound: float,
    fallback: str = "k_shortest",
    k: int = 5,
) -> tuple[list[int] | None, Reason | None]:
    """The least-price path that meets both bounds, or None and why not.

    When the least-price path breaks a bound, ``fallback="k_shortest"`` tries
    the next ``k - 1`` least-price paths in order (skipped when the least-delay
    or least-loss path already breaks its bound, so no path can meet both);
    ``"none"`` gives up.
    """
    path = least_price_path(graph.adjacency, weight, residual, bandwidth, src, dst)
    if path is None:
        return None, Reason.NO_BANDWIDTH
    if meets_qos(path, delay_bound_ms, loss_bound, graph.delay_ms, graph.survival):
        return path, None
    why = Reason.DELAY_BOUND if path_delay_ms(path, graph.delay_ms) > delay_bound_ms else Reason.LOSS_BOUND
    if (
        fallback == "k_shortest"
        and k > 1
        and qos_reachable(graph, residual, bandwidth, src, dst, delay_bound_ms, loss_bound)
    ):
        paths = k_least_price_paths(graph.adjacency, weight, residual, bandwidth, src, dst, graph.arc_dst)
        next(paths)  # the least-price path, already rejected
        for _, candidate in zip(range(k - 1), paths):
            if meets_qos(candidate, delay_bound_ms, loss_bound, graph.delay_ms, graph.survival):
                return candidate, None
    return None, why
