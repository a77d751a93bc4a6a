"""``sa``: simulated annealing over a request's VNF-to-node map, scored at the run's static domain prices
(DESIGN 5).

The energy of a map is what the client pays at the static prices (the table
cff_3d quotes, so its payments compare directly with cff_3d's and ilp's) plus
``penalty`` x (VNFs over their node's capacity + unroutable VLs). A move puts
one random VNF on a random other node among those that could hold it alone;
the search starts from CFF's map and stops early at the lowest payment any
map could reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mdembed.agents.annealing import anneal, check_schedule
from mdembed.agents.registry import SEARCH, Algorithm, Context, register
from mdembed.agents.static_price import static_domain_prices
from mdembed.core.errors import ConfigError
from mdembed.core.validate import set_whole
from mdembed.embedding.client import ArcWeights, Embedding, domain_revenue, node_charges, rejected, routing_graph, tie_order
from mdembed.embedding.placement import cff_place
from mdembed.embedding.prices import Prices
from mdembed.embedding.reasons import Reason
from mdembed.embedding.routing import RoutingGraph, route_vl
from mdembed.network.substrate import BW_UNIT, SubstrateState
from mdembed.workload.requests import Request


@dataclass(frozen=True)
class AnnealingSettings:
    """``sa``: energy = payment at static prices + penalty x (infeasible VNFs + unroutable VLs)."""

    initial_temperature: float = 10.0
    cooling: float = 0.99  # geometric: T <- T x cooling after every move
    iterations: int = 1000  # moves per request, at most
    penalty: float = 1000.0  # energy per VNF over its node's capacity and per unroutable VL
    patience: int = 300  # stop after this many moves without a new best

    def __post_init__(self) -> None:
        check_schedule(self)
        if not (math.isfinite(self.penalty) and self.penalty > 0):
            raise ConfigError(f"algorithm.penalty must be positive, got {self.penalty}")
        set_whole(self, "algorithm", "patience")


class _MapEvaluator:
    """Energy of VNF-to-node maps of one request, with its routes cached.

    A VL's route on the live residual is cached per (VL, src node, dst
    node). Routed sequentially, a VL sees less residual than the live one:
    the cached route still holds when every one of its arcs keeps enough
    bandwidth (a subgraph cannot offer a cheaper path), and is recomputed
    on the tentative residual otherwise. "No route" on the live residual
    stays "no route" on any tentative one.
    """

    def __init__(
        self, request: Request, charges: list[list[float]], node_residual: list[list[int]],
        arc_residual: list[int], graph: RoutingGraph, weights: ArcWeights,
        fallback: str, k: int, penalty: float,
    ) -> None:  # fmt: skip
        self.charges = charges
        self.node_residual = node_residual
        self.arc_residual = arc_residual
        self.graph = graph
        self.weights = [weights(e) for e in range(request.num_vls)]  # per VL slot
        self.fallback, self.k = fallback, k
        self.penalty = penalty
        self.demand = request.vnf_demand.tolist()
        self.vls = list(zip(
            request.vl_src.tolist(), request.vl_dst.tolist(), request.vl_bandwidth.tolist(),
            request.vl_delay_ms.tolist(), request.vl_loss.tolist(),
        ))  # fmt: skip
        self.mbps = [bw / BW_UNIT for bw in request.vl_bandwidth.tolist()]
        self._routes: dict[tuple[int, int, int], list[int] | None] = {}
        self._energy: dict[tuple[int, ...], tuple[float, int, tuple[list[int] | None, ...]]] = {}

    def _route(self, e: int, u: int, v: int, residual: list[int]) -> list[int] | None:
        if u == v:
            return []
        key = (e, u, v)
        if key not in self._routes:
            self._routes[key] = self._search(self.arc_residual, e, u, v)
        path = self._routes[key]
        bw = self.vls[e][2]
        if path is None or residual is self.arc_residual or all(residual[a] >= bw for a in path):
            return path
        return self._search(residual, e, u, v)

    def _search(self, residual: list[int], e: int, u: int, v: int) -> list[int] | None:
        _, _, bw, delay, loss = self.vls[e]
        path, _ = route_vl(self.graph, self.weights[e], residual, bw, u, v, delay, loss, self.fallback, self.k)
        return path

    def __call__(self, placement: tuple[int, ...]) -> tuple[float, int, tuple[list[int] | None, ...]]:
        """(energy, violations, paths) of a map; violations 0 means a feasible embedding."""
        hit = self._energy.get(placement)
        if hit is not None:
            return hit
        energy = 0.0
        violations = 0
        used: dict[int, list[int]] = {}
        for v, node in enumerate(placement):
            energy += self.charges[v][node]
            total = used.setdefault(node, [0, 0, 0])
            d = self.demand[v]
            total[0] += d[0]
            total[1] += d[1]
            total[2] += d[2]
            cap = self.node_residual[node]
            if total[0] > cap[0] or total[1] > cap[1] or total[2] > cap[2]:
                violations += 1
        residual = self.arc_residual  # copied on the first allocation only
        paths: list[list[int] | None] = []
        for e, (a, b, bw, _, _) in enumerate(self.vls):
            path = self._route(e, placement[a], placement[b], residual)
            paths.append(path)
            if path is None:
                violations += 1
                continue
            if path:
                if residual is self.arc_residual:
                    residual = list(residual)
                w = self.weights[e]
                price = 0.0
                for arc in path:
                    residual[arc] -= bw
                    price += w[arc]
                energy += price * self.mbps[e]
        result = (energy + self.penalty * violations, violations, tuple(paths))
        self._energy[placement] = result
        return result


Map = tuple[int, ...]


def anneal_map(
    start: Map, candidates: list[list[int]], evaluate: _MapEvaluator, settings: AnnealingSettings,
    rng: np.random.Generator, floor: float,
) -> tuple[Map, float, int, tuple[list[int] | None, ...]]:
    """The best map found: (map, energy, violations, paths); the search ends at the energy ``floor``."""
    movable = [v for v in range(len(start)) if len(candidates[v]) > 1]
    if not movable:
        return (start, *evaluate(start))
    iters = settings.iterations
    pick_vnf = rng.integers(len(movable), size=iters).tolist()
    pick_node = rng.random(iters).tolist()
    coins = rng.random(iters).tolist()

    def propose(i: int, current: Map) -> Map:
        v = movable[pick_vnf[i]]
        options = candidates[v]
        j = int(pick_node[i] * (len(options) - 1))
        node = options[j] if options[j] != current[v] else options[-1]  # a uniform draw among the others
        return current[:v] + (node,) + current[v + 1:]

    def energy(placement: Map) -> tuple[float, tuple[int, tuple[list[int] | None, ...]]]:
        value, violations, paths = evaluate(placement)
        return value, (violations, paths)

    best, value, (violations, paths) = anneal(start, propose, energy, coins, settings, lambda e: e <= floor + 1e-9)
    return best, value, violations, paths


class AnnealedPlacement(Algorithm):
    """Simulated annealing over the VNF-to-node map, scored at the static domain prices."""

    def __init__(self, context: Context, settings: AnnealingSettings, prices: Prices | None = None) -> None:
        """``prices`` defaults to the run's static domain prices (what cff_3d quotes)."""
        self.context = context
        self.settings = settings
        self.prices = static_domain_prices(context) if prices is None else prices
        self.quoted_prices = self.prices
        self._weights = ArcWeights(self.prices, context.substrate.arc_link)
        self._order = tie_order(context.substrate, context.market.tie_break)

    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        c, s = self.context, self.context.substrate
        demand = request.vnf_demand
        fits = [np.flatnonzero((state.node_residual >= d).all(axis=1)) for d in demand]
        if any(len(f) == 0 for f in fits):
            v = next(i for i, f in enumerate(fits) if len(f) == 0)
            return rejected(request, s.num_domains, Reason.NO_NODE_CAPACITY, f"vnf {v}")
        charges = node_charges(self.prices, request.vnf_demand_units)
        start = self._start(request, charges, state, fits)
        evaluate = _MapEvaluator(
            request, charges.tolist(), state.node_residual.tolist(), state.arc_residual.tolist(),
            routing_graph(s), self._weights, c.routing.fallback, c.routing.k, self.settings.penalty,
        )  # fmt: skip
        floor = float(sum(charges[v, f].min() for v, f in enumerate(fits)))
        candidates = [f.tolist() for f in fits]
        best, _, violations, paths = anneal_map(start, candidates, evaluate, self.settings, c.rng, floor)
        if violations:
            return rejected(request, s.num_domains, *_why(request, best, paths, state))
        placement = np.asarray(best, dtype=np.int64)
        return Embedding(
            placement=placement,
            paths=paths,
            domain_revenue=domain_revenue(request, s, self.prices, placement, paths, charges),
        )

    def _start(
        self, request: Request, charges: np.ndarray, state: SubstrateState, fits: list[np.ndarray]
    ) -> tuple[int, ...]:
        """CFF's map at the static prices; a random fitting node for each VNF CFF leaves out."""
        placement = cff_place(charges, state.node_residual, request.vnf_demand, self._order).tolist()
        for v, node in enumerate(placement):
            if node < 0:
                placement[v] = int(fits[v][self.context.rng.integers(len(fits[v]))])
        return tuple(placement)


def _why(
    request: Request, placement: tuple[int, ...], paths: Sequence[list[int] | None], state: SubstrateState
) -> tuple[Reason, str | None]:
    """A rejection reason in the client's words, and where, for the best (still infeasible) map."""
    used: dict[int, np.ndarray] = {}
    for v, node in enumerate(placement):
        used[node] = used.get(node, 0) + request.vnf_demand[v]
        if (used[node] > state.node_residual[node]).any():
            return Reason.NO_NODE_CAPACITY, f"vnf {v}"
    for e, path in enumerate(paths):
        if path is None:
            return Reason.NO_PATH_FOR_MAP, f"vl {int(request.vl_src[e])}->{int(request.vl_dst[e])}"
    return Reason.NO_FEASIBLE_MAP, None


@register("sa", SEARCH, AnnealingSettings, admissions=("all_or_nothing",))
def annealed_placement(context: Context, settings: AnnealingSettings) -> Algorithm:
    return AnnealedPlacement(context, settings)
