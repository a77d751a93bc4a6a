"""Simulated-annealing baselines (DESIGN 5): ``sa`` searches the VNF-to-node map,
``sa_cff`` searches the domains' static price vectors and lets CFF + Dijkstra embed.

``sa`` scores a map at the run's static domain prices (the table cff_3d
quotes), so its costs compare directly with cff_3d's and ilp's. ``sa_cff``
starts from those prices and scores a candidate price table by what CFF +
Dijkstra then embed, minus ``cost_weight`` x the cost at the candidate prices
(what the client would pay), so it also drifts towards cheap prices. All
randomness comes from ``Context.rng``: a fixed seed gives the same decisions
run to run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mdembed.agents.registry import SEARCH, Algorithm, Context, register
from mdembed.agents.static_price import static_domain_prices
from mdembed.core.validate import set_whole
from mdembed.embedding.client import (
    ArcWeights,
    Embedding,
    domain_revenue,
    embed,
    node_costs,
    rejected,
    routing_graph,
    tie_order,
)
from mdembed.embedding.placement import cff_place
from mdembed.embedding.prices import Prices
from mdembed.embedding.reasons import Reason
from mdembed.embedding.routing import RoutingGraph, route_vl
from mdembed.core.errors import ConfigError
from mdembed.network.substrate import BW_UNIT, NUM_NODE_RESOURCES, Substrate, SubstrateState
from mdembed.workload.requests import Request

T_FLOOR = 1e-3  # below this temperature an uphill move is never taken in practice: stop


def _check_schedule(settings: Any) -> None:
    """The checks both algorithms share: temperature, cooling, iterations."""
    if not (math.isfinite(settings.initial_temperature) and settings.initial_temperature > 0):
        raise ConfigError(f"algorithm.initial_temperature must be positive, got {settings.initial_temperature}")
    if not 0 < settings.cooling < 1:
        raise ConfigError(f"algorithm.cooling must lie in (0, 1), got {settings.cooling}")
    set_whole(settings, "algorithm", "iterations")


@dataclass(frozen=True)
class AnnealingSettings:
    """``sa``: energy = cost at static prices + penalty x (infeasible VNFs + unroutable VLs)."""

    initial_temperature: float = 10.0
    cooling: float = 0.99  # geometric: T <- T x cooling after every move
    iterations: int = 1000  # moves per request, at most
    penalty: float = 1000.0  # energy per VNF over its node's capacity and per unroutable VL
    patience: int = 300  # stop after this many moves without a new best

    def __post_init__(self) -> None:
        _check_schedule(self)
        if not (math.isfinite(self.penalty) and self.penalty > 0):
            raise ConfigError(f"algorithm.penalty must be positive, got {self.penalty}")
        set_whole(self, "algorithm", "patience")


@dataclass(frozen=True)
class PriceAnnealingSettings:
    """``sa_cff``: maximize placed VNFs + placed VLs - cost_weight x cost over price vectors."""

    initial_temperature: float = 1.0
    cooling: float = 0.97  # geometric: T <- T x cooling after every move
    iterations: int = 200  # moves per request (each runs CFF + Dijkstra once), at most
    cost_weight: float = 0.01  # objective = placed VNFs + placed VLs - cost_weight x cost
    step: float = 0.2  # std of a price move, as a fraction of price_max - price_min
    patience: int = 60  # stop after this many moves without a new best

    def __post_init__(self) -> None:
        _check_schedule(self)
        if not (math.isfinite(self.cost_weight) and self.cost_weight >= 0):
            raise ConfigError(f"algorithm.cost_weight must be non-negative, got {self.cost_weight}")
        if not (math.isfinite(self.step) and self.step > 0):
            raise ConfigError(f"algorithm.step must be positive, got {self.step}")
        set_whole(self, "algorithm", "patience")


# ------------------------------------------------------------------ shared


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


def metropolis(delta: float, temperature: float, u: float) -> bool:
    """Accept a move that changes the energy by ``delta`` (lower is better)."""
    return delta <= 0 or u < math.exp(-delta / temperature)


# ------------------------------------------------------------------ sa


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
        self, request: Request, costs: list[list[float]], node_residual: list[list[int]],
        arc_residual: list[int], graph: RoutingGraph, weights: ArcWeights,
        fallback: str, k: int, penalty: float,
    ) -> None:  # fmt: skip
        self.costs = costs
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
            energy += self.costs[v][node]
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


def anneal_map(
    start: tuple[int, ...], candidates: list[list[int]], evaluate: _MapEvaluator,
    settings: AnnealingSettings, rng: np.random.Generator, floor: float,
) -> tuple[tuple[int, ...], float, int, tuple[list[int] | None, ...]]:
    """The best map found: (map, energy, violations, paths).

    A move puts one random VNF on a random other node among those that could
    hold it alone. Stops early at the energy ``floor`` (nothing can beat it),
    when the temperature is negligible, or after ``patience`` moves without a
    new best.
    """
    n = len(start)
    movable = [v for v in range(n) if len(candidates[v]) > 1]
    if not movable:
        return (start, *evaluate(start))
    iters = settings.iterations
    pick_vnf = rng.integers(len(movable), size=iters).tolist()
    pick_node = rng.random(iters).tolist()
    coins = rng.random(iters).tolist()
    current = start
    energy, violations, paths = evaluate(current)
    best = (current, energy, violations, paths)
    temperature = settings.initial_temperature
    stale = 0
    for i in range(iters):
        if best[1] <= floor + 1e-9 or temperature < T_FLOOR or stale >= settings.patience:
            break
        v = movable[pick_vnf[i]]
        options = candidates[v]
        j = int(pick_node[i] * (len(options) - 1))
        node = options[j] if options[j] != current[v] else options[-1]  # a uniform draw among the others
        proposal = current[:v] + (node,) + current[v + 1:]
        e_new, viol_new, paths_new = evaluate(proposal)
        if metropolis(e_new - energy, temperature, coins[i]):
            current, energy = proposal, e_new
            if e_new < best[1] - 1e-12:
                best = (proposal, e_new, viol_new, paths_new)
                stale = 0
            else:
                stale += 1
        else:
            stale += 1
        temperature *= settings.cooling
    return best


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
        costs = node_costs(self.prices, request.vnf_demand_units)
        start = self._start(request, costs, state, fits)
        evaluate = _MapEvaluator(
            request, costs.tolist(), state.node_residual.tolist(), state.arc_residual.tolist(),
            routing_graph(s), self._weights, c.routing.fallback, c.routing.k, self.settings.penalty,
        )  # fmt: skip
        floor = float(sum(costs[v, f].min() for v, f in enumerate(fits)))
        candidates = [f.tolist() for f in fits]
        best, _, violations, paths = anneal_map(start, candidates, evaluate, self.settings, c.rng, floor)
        if violations:
            return rejected(request, s.num_domains, *_why(request, best, paths, state))
        placement = np.asarray(best, dtype=np.int64)
        return Embedding(
            placement=placement,
            paths=paths,
            domain_revenue=domain_revenue(request, s, self.prices, placement, paths, costs),
        )

    def _start(
        self, request: Request, costs: np.ndarray, state: SubstrateState, fits: list[np.ndarray]
    ) -> tuple[int, ...]:
        """CFF's map at the static prices; a random fitting node for each VNF CFF leaves out."""
        placement = cff_place(costs, state.node_residual, request.vnf_demand, self._order).tolist()
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


# ------------------------------------------------------------------ sa_cff


def price_objective(embedding: Embedding, cost_weight: float) -> float:
    """Placed VNFs + placed VLs - cost_weight x cost (a rejected request places nothing)."""
    placed = embedding.num_vnfs_embedded + embedding.num_vls_embedded
    return placed - cost_weight * float(embedding.domain_revenue.sum())


def perturb(
    node: np.ndarray, link: np.ndarray, domain: int, noise: np.ndarray, scale: float, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """New vectors with one domain's 3 node prices and link price moved by ``noise`` x ``scale``."""
    node, link = node.copy(), link.copy()
    node[domain] = np.clip(node[domain] + scale * noise[:NUM_NODE_RESOURCES], lo, hi)
    link[domain] = min(hi, max(lo, link[domain] + scale * noise[NUM_NODE_RESOURCES]))
    return node, link


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
        prices, embedding = self._embed(request, state, self.node0, self.link0)
        current = (self.node0, self.link0)
        score = price_objective(embedding, cfg.cost_weight)
        best = (score, prices, embedding)
        ceiling = request.num_vnfs + request.num_vls
        unplaceable = any(not (state.node_residual >= d).all(axis=1).any() for d in request.vnf_demand)
        if not unplaceable and lo < hi:
            iters = cfg.iterations
            domains = c.rng.integers(c.substrate.num_domains, size=iters).tolist()
            noise = c.rng.standard_normal((iters, NUM_NODE_RESOURCES + 1))
            coins = c.rng.random(iters).tolist()
            scale = cfg.step * (hi - lo)
            temperature, stale = cfg.initial_temperature, 0
            for i in range(iters):
                if temperature < T_FLOOR or stale >= cfg.patience or best[0] >= ceiling:
                    break
                node, link = perturb(*current, domains[i], noise[i], scale, lo, hi)
                prices, embedding = self._embed(request, state, node, link)
                new = price_objective(embedding, cfg.cost_weight)
                if metropolis(score - new, temperature, coins[i]):
                    current, score = (node, link), new
                if new > best[0] + 1e-12:
                    best, stale = (new, prices, embedding), 0
                else:
                    stale += 1
                temperature *= cfg.cooling
        _, prices, embedding = best
        self.quoted_prices = prices
        return embedding


@register("sa", SEARCH, AnnealingSettings, admissions=("all_or_nothing",))
def annealed_placement(context: Context, settings: AnnealingSettings) -> Algorithm:
    return AnnealedPlacement(context, settings)


@register("sa_cff", SEARCH, PriceAnnealingSettings)
def annealed_prices(context: Context, settings: PriceAnnealingSettings) -> Algorithm:
    return AnnealedPrices(context, settings)
