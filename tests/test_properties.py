"""Property tests of the client, the routing and the online loop on random substrates (DESIGN 1, 3, 4).

Every embedding is checked by an independent checker (``helpers.check_embedding``)
that walks each path arc by arc from the link table, without the package's
routing helpers.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import arc_ends, check_embedding, expected_revenue, make_substrate

from mdembed.agents import ALGORITHMS, Algorithm, Context
from mdembed.agents.static_price import StaticPriceCFF
from mdembed.settings import MAX_VNFS, MarketSettings, RoutingSettings, TopologySettings, WorkloadSettings
from mdembed.embedding.client import embed, routing_graph
from mdembed.embedding.prices import Prices
from mdembed.embedding.routing import k_least_price_paths, least_price_path, route_vl
from mdembed.records.metrics import MetricsRecorder
from mdembed.network.substrate import BW_UNIT, NODE_UNIT, Holding, SubstrateState, build_substrate
from mdembed.network.topology import Topology
from mdembed.records.occupancy import Occupancy
from mdembed.market.simulation import simulate
from mdembed.settings import MAX_VLS
from mdembed.workload.requests import Request, generate_workload

PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIM_PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

seeds = st.integers(0, 2**32 - 1)


def fixed(elements, size):
    """A list of exactly ``size`` draws."""
    return st.lists(elements, min_size=size, max_size=size)


# ---------------------------------------------------------------- strategies


@st.composite
def graphs(draw, min_nodes=4, max_nodes=12):
    """(num_nodes, sorted links u < v): a random spanning tree plus random extra edges."""
    n = draw(st.integers(min_nodes, max_nodes))
    edges = {(draw(st.integers(0, i - 1)), i) for i in range(1, n)}
    pairs = list(itertools.combinations(range(n), 2))
    edges |= set(draw(st.lists(st.sampled_from(pairs), max_size=2 * n)))
    return n, sorted(edges)


@st.composite
def substrates(draw):
    n, links = draw(graphs())
    e = len(links)
    num_domains = draw(st.integers(1, 3))
    node_domain = draw(fixed(st.integers(0, num_domains - 1), n))
    owner_rule = draw(st.sampled_from(["lower", "higher", "random"]))
    if owner_rule == "random":
        owner = draw(fixed(st.integers(0, num_domains - 1), e))
    else:
        owner = [node_domain[u if owner_rule == "lower" else v] for u, v in links]
    # coarse grids make exact fits and equal values frequent
    top = draw(st.sampled_from([6, 20]))  # 6: a node holds one or two VNFs, so VLs cross links
    capacity = np.array(draw(fixed(st.integers(1, top), 3 * n))).reshape(n, 3) * 0.05
    bandwidth = draw(fixed(st.sampled_from([5, 10, 20, 30, 50]), e))
    delay = draw(fixed(st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0, 10.0]), e))
    loss = draw(fixed(st.sampled_from([0.0, 0.0005, 0.001, 0.003]), e))
    return make_substrate(
        n, links, node_domain=node_domain, link_owner=owner, node_capacity=capacity,
        bandwidth_mbps=bandwidth, delay_ms=delay, loss=loss, num_domains=num_domains,
    )  # fmt: skip


@st.composite
def requests(draw):
    n = draw(st.integers(1, MAX_VNFS))
    demand = np.array(draw(fixed(st.integers(1, 4), 3 * n))).reshape(n, 3)
    vls = []
    for i, j in itertools.combinations(range(n), 2):
        if draw(st.booleans()):
            vls.append((j, i) if draw(st.booleans()) else (i, j))
    vls.sort()
    m = len(vls)
    return Request(
        id=0,
        arrival=0.0,
        lifetime=1.0,
        vnf_demand=demand.astype(np.int64) * (NODE_UNIT // 20),  # 0.05 .. 0.2 units
        vl_src=np.array([a for a, _ in vls], dtype=np.int64),
        vl_dst=np.array([b for _, b in vls], dtype=np.int64),
        vl_bandwidth=np.array(draw(fixed(st.integers(1, 30), m)), dtype=np.int64) * BW_UNIT,
        vl_delay_ms=np.array(draw(fixed(st.sampled_from([0.0, 2.0, 5.0, 10.0, 20.0, 100.0]), m)), dtype=float),
        vl_loss=np.array(draw(fixed(st.sampled_from([0.0, 0.0005, 0.001, 0.002, 0.01]), m)), dtype=float),
    )  # fmt: skip


@st.composite
def markets(draw):
    price_min = draw(st.sampled_from([0.0, 1.0, 2.5]))
    price_max = price_min + draw(st.sampled_from([0.0, 1.0, 9.0]))
    return MarketSettings(
        admission=draw(st.sampled_from(["all_or_nothing", "partial"])),
        price_min=price_min,
        price_max=price_max,
        tie_break=draw(st.sampled_from(["bandwidth", "index"])),
    )


routings = st.builds(
    RoutingSettings, fallback=st.sampled_from(["k_shortest", "none"]), k=st.integers(1, 6)
)


def random_prices(rng: np.random.Generator, substrate, market: MarketSettings, per_slot: bool, discrete: bool):
    """Prices in [price_min, price_max]; ``discrete`` draws only the two ends, so that costs tie."""
    s = MAX_VNFS if per_slot else 1
    m = MAX_VLS if per_slot else 1
    lo, hi = market.price_min, market.price_max

    def draw(shape):
        return rng.choice([lo, hi], size=shape) if discrete else rng.uniform(lo, hi, size=shape)

    return Prices(node=draw((substrate.num_nodes, s, 3)), link=draw((substrate.num_links, m)))


def random_residuals(rng: np.random.Generator, substrate, full: bool):
    if full:
        return substrate.node_capacity.copy(), substrate.arc_bandwidth.copy()
    node = rng.integers(0, substrate.node_capacity + 1)
    node = np.where(rng.random(node.shape) < 0.75, substrate.node_capacity, node)  # most entries untouched
    arc = rng.integers(0, substrate.arc_bandwidth + 1)
    arc = np.where(rng.random(arc.shape) < 0.75, substrate.arc_bandwidth, arc)
    return node.astype(np.int64), arc.astype(np.int64)


# ---------------------------------------------------------------- 1, 2: the client


@PROPS
@given(
    substrate=substrates(), request=requests(), market=markets(), routing=routings,
    seed=seeds, per_slot=st.booleans(), discrete=st.booleans(), full=st.booleans(),
)  # fmt: skip
def test_embed_is_feasible(substrate, request, market, routing, seed, per_slot, discrete, full):
    rng = np.random.default_rng(seed)
    prices = random_prices(rng, substrate, market, per_slot, discrete)
    node_res, arc_res = random_residuals(rng, substrate, full)
    node_before, arc_before = node_res.copy(), arc_res.copy()

    emb = embed(request, prices, substrate, node_res, arc_res, market, routing)

    assert np.array_equal(node_res, node_before) and np.array_equal(arc_res, arc_before)
    check_embedding(substrate, request, emb, node_res, arc_res)
    event(f"{market.admission}: " + ("accepted" if emb.accepted else emb.reason.value))
    event(f"longest routed VL: {min(3, max([len(p) for p in emb.paths if p is not None], default=-1))} hops")
    np.testing.assert_allclose(
        emb.domain_revenue, expected_revenue(substrate, request, prices, emb.placement, emb.paths), rtol=1e-9, atol=1e-9
    )
    if market.admission == "all_or_nothing":
        # 2: everything or nothing
        if emb.reason is None:
            assert (emb.placement >= 0).all() and all(p is not None for p in emb.paths)
        else:
            assert (emb.placement == -1).all()
            assert all(p is None for p in emb.paths)
            assert not emb.domain_revenue.any()
            assert not emb.holds_anything
    else:
        # partial: a VL between two placed VNFs is missing only when routing it failed, and then the reason says so
        if any(p is None for p in emb.paths) or (emb.placement < 0).any():
            assert emb.reason is not None


@PROPS
@given(
    substrate=substrates(), request=requests(), market=markets(), routing=routings, seed=seeds, per_slot=st.booleans()
)
def test_all_or_nothing_agrees_with_partial(substrate, request, market, routing, seed, per_slot):
    """The two admission modes make the same decisions; all_or_nothing keeps them only when complete."""
    rng = np.random.default_rng(seed)
    prices = random_prices(rng, substrate, market, per_slot, discrete=False)
    node_res, arc_res = random_residuals(rng, substrate, full=False)
    whole = embed(request, prices, substrate, node_res, arc_res, MarketSettings(admission="all_or_nothing"), routing)
    part = embed(request, prices, substrate, node_res, arc_res, MarketSettings(admission="partial"), routing)
    assert (whole.reason, whole.where) == (part.reason, part.where)
    if part.reason is None:
        assert whole.placement.tolist() == part.placement.tolist()
        assert whole.paths == part.paths
        np.testing.assert_array_equal(whole.domain_revenue, part.domain_revenue)
    else:
        assert (whole.placement == -1).all() and not whole.domain_revenue.any()


# ---------------------------------------------------------------- routing against networkx


def _digraph(substrate, weight, residual, bandwidth):
    g = nx.DiGraph()
    g.add_nodes_from(range(substrate.num_nodes))
    for arc in range(2 * substrate.num_links):
        if residual[arc] >= bandwidth:
            u, v = arc_ends(substrate, arc)
            g.add_edge(u, v, weight=weight[arc], arc=arc)
    return g


@PROPS
@given(graph=graphs(), data=st.data())
def test_least_price_and_yen_match_networkx(graph, data):
    n, links = graph
    substrate = make_substrate(n, links)
    arcs = 2 * len(links)
    weight = data.draw(fixed(st.integers(0, 5), arcs))  # integer: exact sums, many ties
    residual = data.draw(fixed(st.integers(0, 3), arcs))
    bandwidth = data.draw(st.integers(1, 3))
    src, dst = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
    g = _digraph(substrate, weight, residual, bandwidth)

    path = least_price_path(substrate.adjacency, weight, residual, bandwidth, src, dst)
    if src == dst:
        assert path == []
        return
    if not nx.has_path(g, src, dst):
        assert path is None
        arc_dst = substrate.arc_dst.tolist()
        assert list(k_least_price_paths(substrate.adjacency, weight, residual, bandwidth, src, dst, arc_dst)) == []
        return
    assert path is not None
    assert sum(weight[a] for a in path) == nx.dijkstra_path_length(g, src, dst)

    k = 6
    ours = list(itertools.islice(
        k_least_price_paths(substrate.adjacency, weight, residual, bandwidth, src, dst, substrate.arc_dst.tolist()), k
    ))  # fmt: skip
    theirs = list(itertools.islice(nx.shortest_simple_paths(g, src, dst, weight="weight"), k))
    assert ours[0] == path
    assert [sum(weight[a] for a in p) for p in ours] == [nx.path_weight(g, p, "weight") for p in theirs]
    walks = []
    for p in ours:
        walk = [src]
        for a in p:
            u, v = arc_ends(substrate, a)
            assert u == walk[-1] and residual[a] >= bandwidth
            walk.append(v)
        assert walk[-1] == dst and len(set(walk)) == len(walk)
        walks.append(tuple(walk))
    assert len(set(walks)) == len(walks)  # no path twice


@PROPS
@given(
    graph=graphs(), data=st.data(), seed=seeds, fallback=st.sampled_from(["k_shortest", "none"]), k=st.integers(1, 6)
)
def test_route_vl_matches_networkx_reference(graph, data, seed, fallback, k):
    """route_vl returns the first of the ``k`` (or 1) least-price paths that meets both bounds."""
    n, links = graph
    e = len(links)
    delay = data.draw(fixed(st.sampled_from([0.5, 1.0, 2.0, 5.0]), e))
    loss = data.draw(fixed(st.sampled_from([0.0, 0.001, 0.002]), e))
    substrate = make_substrate(n, links, delay_ms=delay, loss=loss)
    rng = np.random.default_rng(seed)
    # continuous prices (no two paths cost the same), cheaper on slow, lossy links, so the
    # least-price path tends to break the bounds that a dearer one meets
    slowness = np.repeat(np.asarray(delay) + 1000 * np.asarray(loss), 2)
    weight = (rng.uniform(1.0, 2.0, size=2 * e) * 10.0 / slowness).tolist()
    residual = rng.choice([0, 10, 20], size=2 * e, p=[0.1, 0.2, 0.7]).tolist()
    bandwidth = int(data.draw(st.sampled_from([10, 20])))
    src, dst = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
    g = _digraph(substrate, weight, residual, bandwidth)
    # bounds around what the fastest / safest usable path achieves
    if nx.has_path(g, src, dst):
        fastest = nx.dijkstra_path_length(g, src, dst, weight=lambda u, v, d: delay[d["arc"] // 2])
        safest = nx.dijkstra_path_length(g, src, dst, weight=lambda u, v, d: loss[d["arc"] // 2])
    else:
        fastest = safest = 0.0
    delay_bound = fastest * data.draw(st.sampled_from([0.9, 1.0, 1.3, 2.0, 100.0]))
    loss_bound = safest * data.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0]))
    loss_bound += data.draw(st.sampled_from([0.0, 0.001, 1.0]))

    graph_ = routing_graph(substrate)
    path, why = route_vl(graph_, weight, residual, bandwidth, src, dst, delay_bound, loss_bound, fallback, k)

    tried = 1 if fallback == "none" else k
    candidates = []
    if nx.has_path(g, src, dst):
        candidates = list(itertools.islice(nx.shortest_simple_paths(g, src, dst, weight="weight"), tried))

    def meets(nodes):
        arcs = [g.edges[u, v]["arc"] for u, v in zip(nodes, nodes[1:])]
        d = sum(delay[a // 2] for a in arcs)
        survive = 1.0
        for a in arcs:
            survive *= 1.0 - loss[a // 2]
        return d <= delay_bound and 1.0 - survive <= loss_bound

    expected = next((c for c in candidates if meets(c)), None)
    if expected is None:
        assert path is None and why is not None
        event(f"route_vl: none ({why.value})")
    else:
        assert why is None
        assert substrate.path_nodes(src, path) == expected
        event(f"route_vl: path #{candidates.index(expected) + 1}")


# ---------------------------------------------------------------- 3: the online loop


class CheckedAlgorithm(Algorithm):
    """Asserts on the state it is given, and on what the inner algorithm decides, before handing it on."""

    def __init__(self, inner: Algorithm, market: MarketSettings) -> None:
        self.inner = inner
        self.market = market
        self.decisions = 0
        self.accepted = 0

    def decide(self, request, state):
        s = state.substrate
        assert (state.node_residual >= 0).all(), "node residual went negative"
        assert (state.arc_residual >= 0).all(), "arc residual went negative"
        assert (state.node_residual <= s.node_capacity).all() and (state.arc_residual <= s.arc_bandwidth).all()
        assert (state.hosted_vnfs >= 0).all() and (state.hosted_vls >= 0).all()
        node_before, arc_before = state.node_residual.copy(), state.arc_residual.copy()
        emb = self.inner.decide(request, state)
        assert np.array_equal(state.node_residual, node_before) and np.array_equal(state.arc_residual, arc_before)
        check_embedding(s, request, emb, node_before, arc_before)
        if self.market.admission == "all_or_nothing":
            assert emb.accepted or not emb.holds_anything
        self.decisions += 1
        self.accepted += emb.accepted
        return emb


@st.composite
def topologies(draw):
    n, links = draw(graphs())
    if draw(st.booleans()):
        lat = np.array(draw(fixed(st.floats(35.0, 60.0), n)))
        lon = np.array(draw(fixed(st.floats(-10.0, 30.0), n)))
    else:
        lat = lon = np.full(n, np.nan)  # no coordinates: the default delay everywhere
    return Topology("random", tuple(str(i) for i in range(n)), np.array(links, dtype=np.int64), lat, lon)


@SIM_PROPS
@given(
    topology=topologies(), data=st.data(), market=markets(), routing=routings,
    algorithm=st.sampled_from(["cff_3d", "cff_sd", "static_per_slot"]), seed=seeds,
)  # fmt: skip
def test_online_loop_returns_every_resource(topology, data, market, routing, algorithm, seed):
    n = topology.num_nodes
    num_domains = data.draw(st.integers(1, 3))
    drawn = data.draw(fixed(st.integers(0, num_domains - 1), n))
    node_domain = np.unique(drawn, return_inverse=True)[1].astype(np.int64)  # domains 0..D-1, none empty
    link_owner = node_domain[topology.edges[:, 0]]
    topo_settings = TopologySettings(
        node_capacity=(0.3, 1.0), link_bandwidth_mbps=(10.0, 20.0, 50.0),
        loss_max=data.draw(st.sampled_from([0.0, 0.0005, 0.002])), default_delay_ms=1.0,
    )  # fmt: skip
    substrate = build_substrate(topology, node_domain, link_owner, topo_settings, np.random.default_rng(seed))
    lo = data.draw(st.integers(1, 3))
    workload = WorkloadSettings(
        num_requests=data.draw(st.integers(1, 120)),
        arrival_rate=data.draw(st.sampled_from([0.1, 1.0, 5.0])),
        mean_lifetime=data.draw(st.sampled_from([1.0, 10.0, 50.0])),
        num_vnfs=(lo, data.draw(st.integers(lo, MAX_VNFS))),
        vnf_demand=(0.02, data.draw(st.sampled_from([0.1, 0.3, 0.6]))),
        extra_vl_probability=data.draw(st.sampled_from([0.0, 0.5, 1.0])),
        vl_bandwidth_mbps=(1.0, data.draw(st.sampled_from([5.0, 30.0]))),
        vl_delay_ms=(data.draw(st.sampled_from([0.0, 5.0])), 50.0),
        vl_loss=(0.0, 0.005),
    )
    requests = generate_workload(workload, seed)
    context = Context(substrate, market, routing, workload, np.random.default_rng(seed + 1))
    if algorithm == "static_per_slot":
        rng = np.random.default_rng(seed + 2)
        prices = random_prices(rng, substrate, market, per_slot=True, discrete=data.draw(st.booleans()))
        inner = StaticPriceCFF(context, prices)
    else:
        inner = ALGORITHMS.get(algorithm)(context, {})
    checked = CheckedAlgorithm(inner, market)
    market = Occupancy(substrate)
    state = market.state
    recorder = MetricsRecorder(substrate, len(requests), window=data.draw(st.integers(1, 50)))

    simulate(requests, checked, market, recorder)

    assert checked.decisions == len(requests)
    event(f"acceptance ratio {round(checked.accepted / len(requests), 1)}")
    assert np.array_equal(state.node_residual, substrate.node_capacity)
    assert np.array_equal(state.arc_residual, substrate.arc_bandwidth)
    assert not state.hosted_vnfs.any() and not state.hosted_vls.any()
    assert state.num_hosted == 0
    assert recorder.count == len(requests)
    assert int(recorder.accepted.sum()) == checked.accepted


# ---------------------------------------------------------------- 4: allocate / release


@st.composite
def holdings(draw, substrate, max_units=400_000, max_bw=20_000):
    n, arcs, d = substrate.num_nodes, 2 * substrate.num_links, substrate.num_domains
    m = draw(st.integers(0, 6))
    p = draw(st.integers(0, 10))
    return Holding(
        nodes=np.array(draw(fixed(st.integers(0, n - 1), m)), dtype=np.int64),
        demands=np.array(
            draw(fixed(st.integers(0, max_units), 3 * m)), dtype=np.int64
        ).reshape(m, 3),
        arcs=np.array(draw(fixed(st.integers(0, arcs - 1), p)), dtype=np.int64),
        arc_bandwidth=np.array(draw(fixed(st.integers(0, max_bw), p)), dtype=np.int64),
        vnfs_per_domain=np.array(draw(fixed(st.integers(0, 3), d)), dtype=np.int64),
        vls_per_domain=np.array(draw(fixed(st.integers(0, 3), d)), dtype=np.int64),
    )


def _usage(substrate, held):
    node = np.zeros_like(substrate.node_capacity)
    arc = np.zeros_like(substrate.arc_bandwidth)
    vnfs = np.zeros(substrate.num_domains, dtype=np.int64)
    vls = np.zeros(substrate.num_domains, dtype=np.int64)
    for h in held:
        for v, dem in zip(h.nodes.tolist(), h.demands):
            node[v] += dem
        for a, bw in zip(h.arcs.tolist(), h.arc_bandwidth.tolist()):
            arc[a] += bw
        vnfs += h.vnfs_per_domain
        vls += h.vls_per_domain
    return node, arc, vnfs, vls


@PROPS
@given(substrate=substrates(), data=st.data())
def test_allocate_release_restores_exactly(substrate, data):
    state = SubstrateState(substrate)
    held: dict[int, Holding] = {}
    for rid in range(data.draw(st.integers(1, 8))):
        h = data.draw(holdings(substrate))
        node_use, arc_use, _, _ = _usage(substrate, [*held.values(), h])
        fits = (node_use <= substrate.node_capacity).all() and (arc_use <= substrate.arc_bandwidth).all()
        arrays = lambda: (state.node_residual, state.arc_residual, state.hosted_vnfs, state.hosted_vls)  # noqa: E731
        snapshot = [a.copy() for a in arrays()]
        if fits:
            state.allocate(rid, h)
            held[rid] = h
            with pytest.raises(RuntimeError):
                state.allocate(rid, h)  # a request cannot hold twice
        else:
            with pytest.raises(RuntimeError):
                state.allocate(rid, h)
            # a refused allocation leaves everything as it was
            for before, after in zip(snapshot, arrays()):
                assert np.array_equal(before, after)
            assert rid not in state
        node_use, arc_use, vnfs, vls = _usage(substrate, held.values())
        assert np.array_equal(state.node_residual, substrate.node_capacity - node_use)
        assert np.array_equal(state.arc_residual, substrate.arc_bandwidth - arc_use)
        assert np.array_equal(state.hosted_vnfs, vnfs) and np.array_equal(state.hosted_vls, vls)

    order = data.draw(st.permutations(sorted(held)))
    for rid in order:
        state.release(rid)
        del held[rid]
        node_use, arc_use, vnfs, vls = _usage(substrate, held.values())
        assert np.array_equal(state.node_residual, substrate.node_capacity - node_use)
        assert np.array_equal(state.arc_residual, substrate.arc_bandwidth - arc_use)
        assert np.array_equal(state.hosted_vnfs, vnfs) and np.array_equal(state.hosted_vls, vls)
    assert np.array_equal(state.node_residual, substrate.node_capacity)
    assert np.array_equal(state.arc_residual, substrate.arc_bandwidth)
    assert not state.hosted_vnfs.any() and not state.hosted_vls.any() and state.num_hosted == 0
