"""Splitting the substrate into administrative domains, and who owns each link.

Every strategy returns one domain index per node. :func:`partition` then
renumbers domains canonically (domain 0 holds node 0, domain 1 holds the
lowest node not in domain 0, ...) so the same split always gets the same
numbers, and checks what the rest of the simulator relies on: D non-empty
domains, each a connected subgraph (a domain must route inside itself).

Both built-in strategies grow regions from seeds through graph edges, which
makes each region connected by construction, whatever the coordinates say.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from typing import Callable

import numpy as np

from mdembed.core.errors import ConfigError
from mdembed.network.positions import estimated_positions, to_unit_vectors
from mdembed.network.topology import Topology, neighbour_lists
from mdembed.core.registry import Registry

PartitionFn = Callable[[Topology, int, np.random.Generator], np.ndarray]

PARTITIONS: Registry[PartitionFn] = Registry("partition strategy")

LINK_OWNER_RULES = ("lower_id", "higher_id")

_LLOYD_MAX_ITER = 100


def partition(
    topology: Topology, num_domains: int, strategy: str, rng: np.random.Generator
) -> np.ndarray:
    """(N,) int64 domain per node, canonically numbered, each domain connected."""
    if isinstance(num_domains, bool) or not isinstance(num_domains, (int, np.integer)):
        raise ConfigError(f"topology.num_domains must be an integer, got {num_domains!r}")
    num_domains = int(num_domains)
    if num_domains < 1:
        raise ConfigError(f"topology.num_domains must be at least 1, got {num_domains}")
    if num_domains > topology.num_nodes:
        raise ConfigError(
            f"topology.num_domains={num_domains} exceeds the {topology.num_nodes} nodes of {topology.name}"
        )
    split = PARTITIONS.get(strategy)
    raw = np.asarray(split(topology, num_domains, rng), dtype=np.int64)
    if raw.size and raw.min() < 0:
        raise AssertionError(f"partition strategy {strategy!r} left nodes of {topology.name} unassigned")
    domain = canonical_domains(raw)
    _check_partition(topology, domain, num_domains, strategy)
    return domain


def canonical_domains(domain: np.ndarray) -> np.ndarray:
    """Renumber domains in order of their lowest node index."""
    labels, first = np.unique(domain, return_index=True)
    mapping = {int(label): rank for rank, label in enumerate(labels[np.argsort(first)])}
    return np.array([mapping[int(d)] for d in domain], dtype=np.int64)


def link_owners(edges: np.ndarray, node_domain: np.ndarray, rule: str = "lower_id") -> np.ndarray:
    """(E,) owning domain per link.

    An intra-domain link belongs to its domain under either rule; an
    inter-domain link belongs to the domain of its lower (``lower_id``) or
    higher (``higher_id``) node index.
    """
    if rule not in LINK_OWNER_RULES:
        raise ConfigError(f"unknown link owner rule {rule!r}; known: {', '.join(LINK_OWNER_RULES)}")
    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    owner_node = pairs.min(axis=1) if rule == "lower_id" else pairs.max(axis=1)
    return np.asarray(node_domain, dtype=np.int64)[owner_node]


# --- checks -----------------------------------------------------------------


def _connected_within(adj: list[list[int]], members: np.ndarray, domain: np.ndarray) -> bool:
    """Whether ``members`` (all of one domain) induce a connected subgraph."""
    d = domain[members[0]]
    seen = {int(members[0])}
    stack = [int(members[0])]
    while stack:
        for m in adj[stack.pop()]:
            if domain[m] == d and m not in seen:
                seen.add(m)
                stack.append(m)
    return len(seen) == len(members)


def _check_partition(topology: Topology, domain: np.ndarray, num_domains: int, strategy: str) -> None:
    """Raise AssertionError (a bug in the strategy, not user input) on a bad split."""
    where = f"partition strategy {strategy!r} on {topology.name} with {num_domains} domains"
    if domain.shape != (topology.num_nodes,):
        raise AssertionError(
            f"{where}: expected {topology.num_nodes} domain indices, got shape {domain.shape}"
        )
    if domain.min() != 0 or domain.max() != num_domains - 1:
        raise AssertionError(f"{where}: domains are not numbered 0..{num_domains - 1}")
    sizes = np.bincount(domain, minlength=num_domains)
    if (sizes == 0).any():
        raise AssertionError(f"{where}: domain {int(np.argmin(sizes))} is empty")
    adj = neighbour_lists(topology)
    for d in range(num_domains):
        if not _connected_within(adj, np.flatnonzero(domain == d), domain):
            raise AssertionError(f"{where}: domain {d} is not connected")


# --- kmeans -----------------------------------------------------------------


def _sq_dists(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N, K) squared Euclidean distances."""
    return ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)


def _kmeans_pp_centres(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding; when every point already sits on a centre, pick uniformly."""
    n = len(points)
    chosen = [int(rng.integers(n))]
    d2 = _sq_dists(points, points[chosen])[:, 0]
    for _ in range(1, k):
        total = float(d2.sum())
        if total > 0.0:
            # side="right" never lands on a zero-weight point
            idx = int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right"))
            idx = min(idx, n - 1)
        else:
            idx = int(rng.choice(np.setdiff1d(np.arange(n), chosen)))
        chosen.append(idx)
        d2 = np.minimum(d2, _sq_dists(points, points[[idx]])[:, 0])
    return points[chosen].copy()


def _lloyd(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Lloyd iterations until assignments settle; an emptied centre stays put."""
    centres = centres.copy()
    labels = None
    for _ in range(_LLOYD_MAX_ITER):
        new = np.argmin(_sq_dists(points, centres), axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        for j in range(len(centres)):
            members = points[labels == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    return centres


def _pieces(adj: list[list[int]], members: set[int]) -> list[list[int]]:
    """Connected pieces of the subgraph induced by ``members``, in node order."""
    seen: set[int] = set()
    pieces = []
    for start in sorted(members):
        if start in seen:
            continue
        seen.add(start)
        piece, stack = [start], [start]
        while stack:
            for v in adj[stack.pop()]:
                if v in members and v not in seen:
                    seen.add(v)
                    piece.append(v)
                    stack.append(v)
        pieces.append(piece)
    return pieces


def _cluster_seeds(adj: list[list[int]], dist: np.ndarray) -> list[int]:
    """One distinct seed per centre: its node nearest the centre, within the
    largest connected piece of its k-means cluster.

    The plain nearest node can be a leaf hanging off another cluster (GtsCe's
    Minsk), whose region then never grows past the seed. A centre left
    without nodes (coinciding positions) takes the nearest free node; ties
    go to the lowest node index.
    """
    cluster = np.argmin(dist, axis=1)
    taken: set[int] = set()
    seeds = []
    for r in range(dist.shape[1]):
        members = set(np.flatnonzero(cluster == r).tolist()) - taken
        pieces = _pieces(adj, members)
        if pieces:
            biggest = max(pieces, key=len)  # first of equal size: lowest node
            seed = min(biggest, key=lambda i: (dist[i, r], i))
        else:
            free = np.array([np.inf if i in taken else dist[i, r] for i in range(len(adj))])
            seed = int(np.argmin(free))
        taken.add(seed)
        seeds.append(seed)
    return seeds


def _grow_best_first(adj: list[list[int]], dist: np.ndarray, seeds: list[int]) -> np.ndarray:
    """Regions claim nodes nearest their centre first, but only across an edge.

    One heap for all regions, keyed by (distance of candidate to the region's
    centre, insertion order); ties (coinciding positions) thus grow in
    breadth-first, round-robin order.
    """
    domain = np.full(dist.shape[0], -1, dtype=np.int64)
    heap: list[tuple[float, int, int, int]] = []
    order = itertools.count()

    def push_neighbours(region: int, node: int) -> None:
        for m in adj[node]:
            if domain[m] < 0:
                heapq.heappush(heap, (float(dist[m, region]), next(order), m, region))

    for region, s in enumerate(seeds):
        domain[s] = region
    for region, s in enumerate(seeds):
        push_neighbours(region, s)
    while heap:
        _, _, node, region = heapq.heappop(heap)
        if domain[node] < 0:
            domain[node] = region
            push_neighbours(region, node)
    return domain


@PARTITIONS.register("kmeans")
def kmeans_partition(topology: Topology, num_domains: int, rng: np.random.Generator) -> np.ndarray:
    """Geographic regions: k-means centres, then connected best-first growth.

    Points are the estimated positions as 3-D unit vectors, so distances are
    chord lengths (monotone in great-circle distance) with no wrap-around at
    the antimeridian; centres are plain Euclidean means in 3-D. Each region
    starts at the node nearest its centre within the largest connected piece
    of its cluster (see :func:`_cluster_seeds`).
    """
    points = to_unit_vectors(estimated_positions(topology))
    centres = _lloyd(points, _kmeans_pp_centres(points, num_domains, rng))
    dist = np.sqrt(_sq_dists(points, centres))
    adj = neighbour_lists(topology)
    return _grow_best_first(adj, dist, _cluster_seeds(adj, dist))


# --- bfs --------------------------------------------------------------------


def _hop_distances(adj: list[list[int]], source: int) -> np.ndarray:
    """Hops from ``source``; unreachable nodes get N (farther than anything reachable)."""
    n = len(adj)
    hops = np.full(n, n, dtype=np.int64)
    hops[source] = 0
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if hops[v] == n:
                hops[v] = hops[u] + 1
                queue.append(v)
    return hops


def _farthest_point_seeds(adj: list[list[int]], k: int, rng: np.random.Generator) -> list[int]:
    """First seed drawn by ``rng``; each next one is the node farthest (in hops) from all seeds so far."""
    seeds = [int(rng.integers(len(adj)))]
    nearest = _hop_distances(adj, seeds[0])
    while len(seeds) < k:
        candidates = nearest.copy()
        candidates[seeds] = -1
        nxt = int(np.argmax(candidates))  # ties: lowest index
        seeds.append(nxt)
        nearest = np.minimum(nearest, _hop_distances(adj, nxt))
    return seeds


def _grow_balanced(adj: list[list[int]], seeds: list[int]) -> np.ndarray:
    """Multi-source BFS that always extends the smallest region that can still grow."""
    domain = np.full(len(adj), -1, dtype=np.int64)
    for region, s in enumerate(seeds):
        domain[s] = region
    frontiers = [deque(adj[s]) for s in seeds]
    sizes = [1] * len(seeds)
    growing = set(range(len(seeds)))
    while growing:
        region = min(growing, key=lambda r: (sizes[r], r))
        frontier = frontiers[region]
        while frontier and domain[frontier[0]] >= 0:
            frontier.popleft()
        if not frontier:
            growing.discard(region)  # no unassigned neighbour now, nor later
            continue
        node = frontier.popleft()
        domain[node] = region
        sizes[region] += 1
        frontier.extend(m for m in adj[node] if domain[m] < 0)
    return domain


@PARTITIONS.register("bfs")
def bfs_partition(topology: Topology, num_domains: int, rng: np.random.Generator) -> np.ndarray:
    """Graph regions of similar size, ignoring coordinates.

    Seeds are spread by farthest-point sampling on hop distance from a first
    seed drawn with ``rng`` (so different run seeds give different, equally
    valid splits), then grown by balanced multi-source BFS.
    """
    adj = neighbour_lists(topology)
    return _grow_balanced(adj, _farthest_point_seeds(adj, num_domains, rng))
