"""Hand-computed behaviour of placement, routing, the client and the workload (DESIGN 3-4).

Every expected value below was worked out by hand; the comments show how.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from helpers import make_request, make_substrate

from mdembed.settings import MAX_VNFS, MarketSettings, RoutingSettings, WorkloadSettings
from mdembed.embedding.client import embed, routing_graph, tie_order
from mdembed.embedding.placement import cff_place, first_fit
from mdembed.embedding.prices import Prices
from mdembed.embedding.reasons import Reason
from mdembed.embedding.routing import k_least_price_paths, least_price_path, route_vl
from mdembed.records.metrics import MetricsRecorder
from mdembed.network.substrate import BW_UNIT, NODE_UNIT
from mdembed.agents.registry import Algorithm
from mdembed.records.occupancy import Occupancy
from mdembed.market.simulation import simulate
from mdembed.settings import MAX_VLS
from mdembed.workload.requests import forwarding_graph, generate_workload
from mdembed.workload.tensor import TENSOR_SHAPE, request_tensor

ALL_OR_NOTHING = MarketSettings(admission="all_or_nothing", price_min=0.0, price_max=100.0)
PARTIAL = MarketSettings(admission="partial", price_min=0.0, price_max=100.0)
K_SHORTEST = RoutingSettings(fallback="k_shortest", k=5)
NO_FALLBACK = RoutingSettings(fallback="none", k=5)


# ---------------------------------------------------------------- placement


# 4 nodes; node 2 is the cheapest but short of RAM; nodes 1 and 3 tie at cost 2.
RESIDUAL = np.array([[5, 5, 5], [10, 10, 10], [10, 1, 10], [10, 10, 10]], dtype=np.int64)
COST = np.array([3.0, 2.0, 1.0, 2.0])
INDEX_ORDER = np.arange(4)


def test_first_fit_skips_node_short_of_one_resource():
    # node 2 (cost 1) has RAM 1 < 4; next cost 2: nodes 1 and 3, index order -> 1
    assert first_fit(COST, RESIDUAL, np.array([4, 4, 4]), INDEX_ORDER) == 1
    # demand needing no RAM: node 2 fits and is the cheapest
    assert first_fit(COST, RESIDUAL, np.array([4, 1, 4]), INDEX_ORDER) == 2


def test_first_fit_equal_costs_follow_tie_order():
    assert first_fit(COST, RESIDUAL, np.array([4, 4, 4]), np.array([3, 2, 1, 0])) == 3
    assert first_fit(COST, RESIDUAL, np.array([4, 4, 4]), np.array([0, 1, 3, 2])) == 1
    # all equal costs: the first node of tie_order that fits
    flat = np.zeros(4)
    assert first_fit(flat, RESIDUAL, np.array([6, 6, 6]), np.array([0, 2, 3, 1])) == 3
    assert first_fit(flat, RESIDUAL, np.array([1, 1, 1]), np.array([2, 0, 3, 1])) == 2


def test_first_fit_exact_fit_and_nothing_fits():
    assert first_fit(COST, RESIDUAL, np.array([10, 10, 10]), INDEX_ORDER) == 1  # residual == demand fits
    assert first_fit(COST, RESIDUAL, np.array([11, 1, 1]), INDEX_ORDER) == -1


def test_cff_place_consumes_residual_and_leaves_caller_array():
    before = RESIDUAL.copy()
    demands = np.array([[6, 6, 6], [6, 6, 6], [6, 6, 6]], dtype=np.int64)
    costs = np.tile(COST, (3, 1))
    placement = cff_place(costs, RESIDUAL, demands, INDEX_ORDER)
    # v0 -> node 1 (node 2 lacks RAM), leaves [4, 4, 4]; v1 no longer fits node 1 -> node 3;
    # v2: node 1 has 4, node 3 has 4, node 0 has 5, node 2 RAM 1 -> nowhere
    assert placement.tolist() == [1, 3, -1]
    assert np.array_equal(RESIDUAL, before)


def test_cff_place_continues_after_a_failure():
    demands = np.array([[20, 1, 1], [1, 1, 1], [5, 5, 5], [5, 5, 5]], dtype=np.int64)
    costs = np.array([COST, [0.0, 9.0, 9.0, 9.0], [0.0, 9.0, 9.0, 9.0], [0.0, 9.0, 9.0, 9.0]])
    # v0 fits nowhere; v1 -> node 0 (cost 0) leaving [4, 4, 4]; v2 (5) no longer fits node 0
    # -> cost 9 nodes in index order: 1; v3 -> node 1 again (residual 5 left there)
    assert cff_place(costs, RESIDUAL, demands, INDEX_ORDER).tolist() == [-1, 0, 1, 1]


# ---------------------------------------------------------------- least_price_path

# 5 nodes: links l0 (0,1), l1 (0,4), l2 (1,2), l3 (2,3), l4 (3,4).
# arcs: l0 0:0->1 1:1->0 | l1 2:0->4 3:4->0 | l2 4:1->2 5:2->1 | l3 6:2->3 7:3->2 | l4 8:3->4 9:4->3
# The direct link 0-4 costs 10, the long way round 0-1-2-3-4 costs 1+1+1+1 = 4.
RING = make_substrate(5, [(0, 1), (0, 4), (1, 2), (2, 3), (3, 4)])
RING_WEIGHT = np.repeat([1.0, 10.0, 1.0, 1.0, 1.0], 2).tolist()
FULL = [100] * 10


def test_least_price_path_prefers_cheap_long_path():
    assert least_price_path(RING.adjacency, RING_WEIGHT, FULL, 10, 0, 4) == [0, 4, 6, 8]
    assert least_price_path(RING.adjacency, RING_WEIGHT, FULL, 10, 4, 0) == [9, 7, 5, 1]
    assert least_price_path(RING.adjacency, RING_WEIGHT, FULL, 10, 2, 2) == []
    # the residual may equal the bandwidth
    assert least_price_path(RING.adjacency, RING_WEIGHT, FULL, 100, 0, 4) == [0, 4, 6, 8]


def test_least_price_path_avoids_thin_arcs_per_direction():
    residual = list(FULL)
    residual[4] = 5  # 1->2 too thin for 10; 2->1 (arc 5) untouched
    assert least_price_path(RING.adjacency, RING_WEIGHT, residual, 10, 0, 4) == [2]
    assert least_price_path(RING.adjacency, RING_WEIGHT, residual, 10, 4, 0) == [9, 7, 5, 1]
    assert least_price_path(RING.adjacency, RING_WEIGHT, residual, 5, 0, 4) == [0, 4, 6, 8]


def test_least_price_path_none_when_cut_by_bandwidth():
    residual = list(FULL)
    residual[4] = 9
    residual[2] = 9  # both ways out of 0 towards 4 are cut in the 0->4 direction
    assert least_price_path(RING.adjacency, RING_WEIGHT, residual, 10, 0, 4) is None
    assert least_price_path(RING.adjacency, RING_WEIGHT, residual, 10, 4, 0) == [9, 7, 5, 1]


def test_least_price_path_respects_bans():
    adj = RING.adjacency
    assert least_price_path(adj, RING_WEIGHT, FULL, 10, 0, 4, banned_arcs={6}) == [2]
    assert least_price_path(adj, RING_WEIGHT, FULL, 10, 0, 4, banned_nodes={2}) == [2]
    assert least_price_path(adj, RING_WEIGHT, FULL, 10, 0, 4, banned_arcs={2, 8}) is None
    assert least_price_path(adj, RING_WEIGHT, FULL, 10, 0, 4, banned_arcs={7}) == [0, 4, 6, 8]  # 3->2 is not 2->3


# ---------------------------------------------------------------- Yen

# 6 nodes; links l0 (0,1) l1 (0,2) l2 (1,2) l3 (1,3) l4 (2,4) l5 (3,4) l6 (3,5) l7 (4,5)
# arc weights (forward / reverse):
YEN_LINKS = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 4), (3, 4), (3, 5), (4, 5)]
YEN_WEIGHT = [1, 10, 4.25, 10, 2, 2, 6.5, 10, 3, 10, 1, 1, 5, 10, 7, 10]
# simple paths 0 -> 5 by hand:
#   0-1-2-4-3-5  1+2+3+1+5   = 12     arcs 0 4 8 11 12
#   0-1-3-5      1+6.5+5     = 12.5   arcs 0 6 12
#   0-1-2-4-5    1+2+3+7     = 13     arcs 0 4 8 14
#   0-2-4-3-5    4.25+3+1+5  = 13.25
#   0-2-4-5      4.25+3+7    = 14.25
#   0-1-3-4-5    1+6.5+1+7   = 15.5
#   0-2-1-3-5    4.25+2+6.5+5 = 17.75
#   0-2-1-3-4-5  = 20.75
YEN_COSTS = [12, 12.5, 13, 13.25, 14.25, 15.5, 17.75, 20.75]


def test_yen_first_paths_by_hand_and_networkx():
    sub = make_substrate(6, YEN_LINKS)
    residual = [100] * 16
    paths = list(k_least_price_paths(sub.adjacency, YEN_WEIGHT, residual, 1, 0, 5, sub.arc_dst.tolist()))
    assert paths[:3] == [[0, 4, 8, 11, 12], [0, 6, 12], [0, 4, 8, 14]]
    costs = [sum(YEN_WEIGHT[a] for a in p) for p in paths]
    assert costs == YEN_COSTS  # all 8 simple paths, ascending

    g = nx.DiGraph()
    for arc, (u, v) in enumerate(zip(sub.arc_src.tolist(), sub.arc_dst.tolist())):
        g.add_edge(u, v, weight=YEN_WEIGHT[arc])
    nx_paths = list(nx.shortest_simple_paths(g, 0, 5, weight="weight"))
    assert [nx.path_weight(g, p, "weight") for p in nx_paths] == costs
    assert [sub.path_nodes(0, p) for p in paths] == nx_paths  # costs are distinct, so paths are unique


def test_yen_skips_thin_arcs():
    sub = make_substrate(6, YEN_LINKS)
    residual = [100] * 16
    residual[8] = 0  # 2->4 unusable: only 0-1-3-5 (12.5), 0-1-3-4-5 (15.5), 0-2-1-3-5, 0-2-1-3-4-5 remain
    paths = list(k_least_price_paths(sub.adjacency, YEN_WEIGHT, residual, 1, 0, 5, sub.arc_dst.tolist()))
    assert [sum(YEN_WEIGHT[a] for a in p) for p in paths] == [12.5, 15.5, 17.75, 20.75]


# ---------------------------------------------------------------- route_vl

# 5 nodes, three parallel two-hop routes 0 -> 4:
# l0 (0,1) l1 (0,2) l2 (0,3) l3 (1,4) l4 (2,4) l5 (3,4)
# via 1: arcs [0, 6] price 1+1 = 2;  via 2: arcs [2, 8] price 2+2 = 4;  via 3: arcs [4, 10] price 5+5 = 10
TRIPLE = [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)]
TRIPLE_WEIGHT = np.repeat([1.0, 2.0, 5.0, 1.0, 2.0, 5.0], 2).tolist()


def _route(sub, delay_bound, loss_bound, fallback, k=5, residual=None):
    residual = residual or [1000] * (2 * sub.num_links)
    return route_vl(routing_graph(sub), TRIPLE_WEIGHT, residual, 10, 0, 4, delay_bound, loss_bound, fallback, k)


def test_route_vl_delay_bound_fallback():
    # delays: via 1 10+10 = 20, via 2 5+5 = 10, via 3 1+1 = 2
    sub = make_substrate(5, TRIPLE, delay_ms=[10, 5, 1, 10, 5, 1])
    assert _route(sub, 25.0, 0.1, "none") == ([0, 6], None)
    assert _route(sub, 20.0, 0.1, "none") == ([0, 6], None)  # bound met with equality
    assert _route(sub, 15.0, 0.1, "k_shortest") == ([2, 8], None)
    path, why = _route(sub, 15.0, 0.1, "none")
    assert path is None and why is Reason.DELAY_BOUND
    assert _route(sub, 5.0, 0.1, "k_shortest") == ([4, 10], None)  # the 3rd-cheapest
    path, why = _route(sub, 5.0, 0.1, "k_shortest", k=2)  # only 2 paths tried
    assert path is None and why is Reason.DELAY_BOUND
    path, why = _route(sub, 1.5, 0.1, "k_shortest")  # fastest path takes 2 ms
    assert path is None and why is Reason.DELAY_BOUND
    # the fast route cut by bandwidth: nothing meets 5 ms
    residual = [1000] * 12
    residual[10] = 9
    path, why = _route(sub, 5.0, 0.1, "k_shortest", residual=residual)
    assert path is None and why is Reason.DELAY_BOUND


def test_route_vl_loss_bound_fallback():
    # losses: via 1: 1 - 0.99^2 = 0.0199; via 2: 1 - 0.999^2 = 0.001999 (the sum would be 0.002); via 3: 0
    sub = make_substrate(5, TRIPLE, loss=[0.01, 0.001, 0.0, 0.01, 0.001, 0.0])
    bound = 0.0019995  # met by 1 - prod(1 - loss) on via 2, not by the sum of losses
    assert _route(sub, 100.0, bound, "k_shortest") == ([2, 8], None)
    path, why = _route(sub, 100.0, bound, "none")
    assert path is None and why is Reason.LOSS_BOUND
    assert _route(sub, 100.0, 0.0199001, "none") == ([0, 6], None)
    assert _route(sub, 100.0, 0.0, "k_shortest") == ([4, 10], None)
    lossy = make_substrate(5, TRIPLE, loss=0.01)  # every path loses 0.0199
    path, why = route_vl(routing_graph(lossy), TRIPLE_WEIGHT, [1000] * 12, 10, 0, 4, 100.0, 0.019, "k_shortest", 5)
    assert path is None and why is Reason.LOSS_BOUND


def test_route_vl_no_bandwidth():
    sub = make_substrate(5, TRIPLE)
    path, why = route_vl(routing_graph(sub), TRIPLE_WEIGHT, [5] * 12, 10, 0, 4, 100.0, 0.1, "k_shortest", 5)
    assert path is None and why is Reason.NO_BANDWIDTH


# ---------------------------------------------------------------- the client

# Two domains: nodes 0, 1 in domain 0; nodes 2, 3 in domain 1.
# l0 (0,1) owner 0, l1 (0,2) owner 0, l2 (1,3) owner 1, l3 (2,3) owner 1.
# arcs: l0 0:0->1 1:1->0 | l1 2:0->2 3:2->0 | l2 4:1->3 5:3->1 | l3 6:2->3 7:3->2
TWO = dict(node_domain=[0, 0, 1, 1], link_owner=[0, 0, 1, 1], node_capacity=1.0, bandwidth_mbps=100.0)
TWO_LINKS = [(0, 1), (0, 2), (1, 3), (2, 3)]


def test_substrate_facts_by_hand():
    sub = make_substrate(4, TWO_LINKS, node_domain=[0, 0, 1, 1], link_owner=[0, 1, 0, 1],
                         delay_ms=[1.0, 2.0, 3.0, 4.0], loss=[0.0, 0.5, 0.1, 0.25])  # fmt: skip
    assert [n.tolist() for n in sub.domain_nodes] == [[0, 1], [2, 3]]
    assert [links.tolist() for links in sub.domain_links] == [[0, 2], [1, 3]]
    assert [a.tolist() for a in sub.domain_arcs] == [[0, 1, 4, 5], [2, 3, 6, 7]]
    for links, arcs in zip(sub.domain_links, sub.domain_arcs):
        assert np.array_equal(arcs, np.sort(np.concatenate([2 * links, 2 * links + 1])))
    assert sub.arc_link_list == [0, 0, 1, 1, 2, 2, 3, 3]
    assert sub.arc_delay_ms.tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]
    assert sub.arc_survival.tolist() == [1.0, 1.0, 0.5, 0.5, 0.9, 0.9, 0.75, 0.75]
    assert sub.arc_neg_log_survival[4] == -np.log(1.0 - 0.1)
    assert sub.arc_neg_log1p_loss[4] == -np.log1p(-0.1)
    assert sub.arc_neg_log_survival[4] != sub.arc_neg_log1p_loss[4]  # last bits: why both are kept
    assert sub.path_nodes(1, [1, 2, 6]) == [1, 0, 2, 3]


def _two_domain_prices() -> Prices:
    node = np.full((4, MAX_VNFS, 3), 9.0)
    # slot 0: v0 = [0.1, 0.2, 0.3]: node0 0.1+0.4+0.9 = 1.4, node1 1.8, node2 2.4, node3 3.0
    node[:, 0] = [[1, 2, 3], [3, 3, 3], [4, 4, 4], [5, 5, 5]]
    # slot 1: v1 = [0.5, 0.5, 0.9]: node0 9.5, node1 9.5, node2 3.8, node3 0.5+1.0+0.9 = 2.4
    node[:, 1] = [[5, 5, 5], [5, 5, 5], [2, 2, 2], [1, 2, 1]]
    # slot 2: v2 = [0.2, 0.1, 0.2]: node0 1.5, node1 2.0, node2 0.4+0.1+0.6 = 1.1, node3 0.5
    node[:, 2] = [[3, 3, 3], [4, 4, 4], [2, 1, 3], [1, 1, 1]]
    link = np.full((4, MAX_VLS), 9.0)
    link[:, 0] = [1, 2, 1, 3]
    link[:, 1] = [1, 9, 1, 1]
    link[:, 2] = [2, 2, 2, 2]
    return Prices(node=node, link=link)


def _three_vnf_request(v1_demand=(0.5, 0.5, 0.9)) -> tuple:
    return make_request(
        [[0.1, 0.2, 0.3], list(v1_demand), [0.2, 0.1, 0.2]],
        [(0, 1, 10.0, 50.0, 0.01), (0, 2, 5.0, 50.0, 0.01), (1, 2, 20.0, 50.0, 0.01)],
    )


def _fresh(sub):
    return sub.node_capacity.copy(), sub.arc_bandwidth.copy()


@pytest.mark.parametrize("market", [ALL_OR_NOTHING, PARTIAL])
def test_embed_full_request_by_hand(market):
    sub = make_substrate(4, TWO_LINKS, **TWO)
    request = _three_vnf_request()
    prices = _two_domain_prices()
    node_res, arc_res = _fresh(sub)
    node_before, arc_before = node_res.copy(), arc_res.copy()
    emb = embed(request, prices, sub, node_res, arc_res, market, K_SHORTEST)

    # v0 -> node 0 (1.4); v1 -> node 3 (2.4), leaving storage 0.1 there;
    # v2 cheapest on node 3 (0.5) but needs storage 0.2 -> node 2 (1.1)
    assert emb.placement.tolist() == [0, 3, 2]
    assert emb.reason is None and emb.accepted
    # e0 0->3 slot 0 prices [1,2,1,3]: via 1 costs 2, via 2 costs 5
    # e1 0->2 slot 1 prices [1,9,1,1]: direct 9, 0-1-3-2 costs 3
    # e2 3->2 slot 2 prices all 2: direct 2, 3-1-0-2 costs 6
    assert list(emb.paths) == [[0, 4], [0, 4, 7], [7]]
    assert sub.path_nodes(0, emb.paths[0]) == [0, 1, 3]
    assert sub.path_nodes(0, emb.paths[1]) == [0, 1, 3, 2]
    assert sub.path_nodes(3, emb.paths[2]) == [3, 2]
    # domain 0: node 1.4 + l0 1*10 (e0) + l0 1*5 (e1) = 16.4
    # domain 1: nodes 2.4 + 1.1 + l2 1*10 (e0) + l2 1*5 + l3 1*5 (e1) + l3 2*20 (e2) = 63.5
    assert emb.domain_revenue == pytest.approx([16.4, 63.5])
    # cost: demands 0.6 + 1.9 + 0.5 = 3.0; links 2 hops*10 + 3*5 + 1*20 = 55
    assert emb.cost(request) == pytest.approx(58.0)
    holding = emb.holding(request, sub)
    assert holding.vnfs_per_domain.tolist() == [1, 2]
    assert holding.vls_per_domain.tolist() == [2, 3]  # e0 {0,1}, e1 {0,1}, e2 {1}
    assert sorted(zip(holding.arcs.tolist(), holding.arc_bandwidth.tolist())) == sorted(
        [(0, 10_000), (4, 10_000), (0, 5_000), (4, 5_000), (7, 5_000), (7, 20_000)]
    )
    assert np.array_equal(node_res, node_before) and np.array_equal(arc_res, arc_before)


def test_embed_all_or_nothing_rejects_everything():
    sub = make_substrate(4, TWO_LINKS, **TWO)
    request = _three_vnf_request(v1_demand=(1.5, 0.5, 0.5))  # CPU 1.5 > 1.0 anywhere
    emb = embed(request, _two_domain_prices(), sub, *_fresh(sub), ALL_OR_NOTHING, K_SHORTEST)
    assert emb.placement.tolist() == [-1, -1, -1]
    assert emb.paths == (None, None, None)
    assert emb.domain_revenue.tolist() == [0.0, 0.0]
    assert not emb.accepted and not emb.holds_anything
    assert (emb.reason, emb.where) == (Reason.NO_NODE_CAPACITY, "vnf 1")
    assert emb.reason_text == "vnf 1: no node has the capacity"


def test_embed_partial_keeps_what_was_placed():
    sub = make_substrate(4, TWO_LINKS, **TWO)
    request = _three_vnf_request(v1_demand=(1.5, 0.5, 0.5))
    emb = embed(request, _two_domain_prices(), sub, *_fresh(sub), PARTIAL, K_SHORTEST)
    # v0 -> node 0 (1.4); v1 nowhere; v2 -> node 3 now that v1 is not there (0.5)
    assert emb.placement.tolist() == [0, -1, 3]
    # e1 0->3 at slot 1 prices [1,9,1,1]: via 1 costs 2, via 2 costs 10
    assert emb.paths == (None, [0, 4], None)
    assert (emb.reason, emb.where) == (Reason.NO_NODE_CAPACITY, "vnf 1") and not emb.accepted
    # domain 0: 1.4 + l0 1*5 = 6.4; domain 1: 0.5 + l2 1*5 = 5.5
    assert emb.domain_revenue == pytest.approx([6.4, 5.5])
    assert emb.cost(request) == pytest.approx(0.6 + 0.5 + 2 * 5)
    assert emb.num_vnfs_embedded == 2 and emb.num_vls_embedded == 1


# Three nodes in one domain: l0 (0,1) 30 Mbit/s, l1 (0,2), l2 (1,2).
# arcs: 0:0->1 1:1->0 | 2:0->2 3:2->0 | 4:1->2 5:2->1
SHARED_LINKS = [(0, 1), (0, 2), (1, 2)]


def _shared_prices() -> Prices:
    node = np.full((3, MAX_VNFS, 3), 5.0)
    node[0, 0] = node[1, 1] = node[0, 2] = 1.0  # v0 -> node 0, v1 -> node 1, v2 -> node 0
    return Prices(node=node, link=np.array([[1.0], [2.0], [2.0]]))


def _shared_request(second_vl):
    return make_request([[0.1] * 3] * 3, [(0, 1, 20.0, 50.0, 0.01), second_vl])


def test_embed_second_vl_routed_around_full_link():
    sub = make_substrate(3, SHARED_LINKS, bandwidth_mbps=[30, 100, 100])
    request = _shared_request((2, 1, 20.0, 50.0, 0.01))
    emb = embed(request, _shared_prices(), sub, *_fresh(sub), ALL_OR_NOTHING, K_SHORTEST)
    assert emb.placement.tolist() == [0, 1, 0]
    # e0 takes 0->1 (price 1); 10 Mbit/s left there, so e1 (also 0->1) goes 0->2->1 (price 4)
    assert emb.paths == ([0], [2, 5])
    assert emb.accepted
    # revenue: nodes 3 * 0.3 * 1 = 0.9 (v1 on node 1 at slot 1 also price 1), links 1*20 + (2+2)*20 = 100
    assert emb.domain_revenue == pytest.approx([100.9])


def test_embed_second_vl_fails_when_no_way_round():
    sub = make_substrate(3, SHARED_LINKS, bandwidth_mbps=[30, 10, 100])
    request = _shared_request((2, 1, 20.0, 50.0, 0.01))
    emb = embed(request, _shared_prices(), sub, *_fresh(sub), ALL_OR_NOTHING, K_SHORTEST)
    assert emb.placement.tolist() == [-1, -1, -1] and emb.paths == (None, None)
    assert emb.reason_text == "vl 2->1: no path has enough bandwidth"
    emb = embed(request, _shared_prices(), sub, *_fresh(sub), PARTIAL, K_SHORTEST)
    assert emb.placement.tolist() == [0, 1, 0]
    assert emb.paths == ([0], None)
    assert (emb.reason, emb.where) == (Reason.NO_BANDWIDTH, "vl 2->1")
    assert emb.domain_revenue == pytest.approx([0.9 + 20.0])


def test_embed_opposite_directions_do_not_compete():
    sub = make_substrate(3, SHARED_LINKS, bandwidth_mbps=[30, 10, 10])
    request = _shared_request((1, 2, 20.0, 50.0, 0.01))  # v1 (node 1) -> v2 (node 0): arc 1
    emb = embed(request, _shared_prices(), sub, *_fresh(sub), ALL_OR_NOTHING, K_SHORTEST)
    assert emb.paths == ([0], [1])
    assert emb.accepted


def test_embed_same_node_vl_has_empty_path_and_no_link_revenue():
    sub = make_substrate(3, SHARED_LINKS)
    prices = Prices(node=np.array([[[1.0] * 3], [[2.0] * 3], [[3.0] * 3]]), link=np.array([[1.0], [1.0], [1.0]]))
    request = make_request([[0.1] * 3, [0.2] * 3], [(0, 1, 20.0, 0.0, 0.0)])  # zero bounds: only [] meets them
    emb = embed(request, prices, sub, *_fresh(sub), ALL_OR_NOTHING, NO_FALLBACK)
    assert emb.placement.tolist() == [0, 0]
    assert emb.paths == ([],)
    assert emb.domain_revenue == pytest.approx([0.3 + 0.6])
    assert emb.cost(request) == pytest.approx(0.9)


# ---------------------------------------------------------------- request generation


def _check_forwarding_graph(vls, n):
    assert vls == sorted(vls)
    pairs = [tuple(sorted(vl)) for vl in vls]
    assert len(set(pairs)) == len(pairs), "a pair is joined twice"
    assert all(a != b and 0 <= a < n and 0 <= b < n for a, b in vls)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(vls)
    assert nx.is_connected(g)


@pytest.mark.parametrize("n", range(1, MAX_VNFS + 1))
def test_forwarding_graph_shape(n):
    rng = np.random.default_rng(n)
    for _ in range(100):
        keys, coins = rng.random(MAX_VNFS), rng.random(MAX_VLS)
        none = forwarding_graph(n, keys, coins, 0.0)
        _check_forwarding_graph(none, n)
        assert len(none) == n - 1
        full = forwarding_graph(n, keys, coins, 1.0)
        _check_forwarding_graph(full, n)
        assert len(full) == n * (n - 1) // 2
        some = forwarding_graph(n, keys, coins, 0.5)
        _check_forwarding_graph(some, n)
        assert set(none) <= set(some) <= set(full)


def test_forwarding_graph_chain_by_hand():
    keys = np.array([0.5, 0.1, 0.9, 0.3, 0.0, 0.0])  # chain order 1, 3, 0, 2
    coins = np.full(MAX_VLS, 0.7)
    coins[1] = 0.2  # pair (0, 2) joins the chain already (0->2), so no second VL
    coins[2] = 0.2  # pair (0, 3): already 3->0 in the chain
    coins[5] = 0.2  # pair (1, 2) (slot 5 in combinations order): a new VL 1->2
    assert forwarding_graph(4, keys, coins, 0.5) == [(0, 2), (1, 2), (1, 3), (3, 0)]


SMALL = dict(num_requests=300, arrival_rate=0.5, mean_lifetime=10.0, num_vnfs=(2, 5))


def _content(r):
    return (
        r.id, r.lifetime, r.vnf_demand.tolist(), r.vl_src.tolist(), r.vl_dst.tolist(),
        r.vl_bandwidth.tolist(), r.vl_delay_ms.tolist(), r.vl_loss.tolist(),
    )  # fmt: skip


def test_generate_workload_basic_properties():
    settings = WorkloadSettings(**SMALL)
    requests = generate_workload(settings, seed=7)
    assert len(requests) == 300
    arrivals = np.array([r.arrival for r in requests])
    assert (np.diff(arrivals) > 0).all() and arrivals[0] > 0
    sizes = {r.num_vnfs for r in requests}
    assert sizes == {2, 3, 4, 5}
    for i, r in enumerate(requests):
        assert r.id == i
        assert r.vnf_demand.dtype == np.int64 and r.vl_bandwidth.dtype == np.int64
        _check_forwarding_graph(list(zip(r.vl_src.tolist(), r.vl_dst.tolist())), r.num_vnfs)
        assert len(r.vl_bandwidth) == len(r.vl_delay_ms) == len(r.vl_loss) == r.num_vls
        lo, hi = settings.vnf_demand
        assert (r.vnf_demand >= lo * NODE_UNIT).all() and (r.vnf_demand <= hi * NODE_UNIT).all()
        lo, hi = settings.vl_bandwidth_mbps
        assert (r.vl_bandwidth >= lo * BW_UNIT).all() and (r.vl_bandwidth <= hi * BW_UNIT).all()


def test_generate_workload_reproducible_and_common_random_numbers():
    a = generate_workload(WorkloadSettings(**SMALL), seed=3)
    b = generate_workload(WorkloadSettings(**SMALL), seed=3)
    assert [_content(r) + (r.arrival,) for r in a] == [_content(r) + (r.arrival,) for r in b]
    c = generate_workload(WorkloadSettings(**{**SMALL, "arrival_rate": 2.0}), seed=3)
    assert [_content(r) for r in a] == [_content(r) for r in c]
    assert all(ra.arrival != rc.arrival for ra, rc in zip(a, c))
    # arrivals scale with 1 / rate: same exponential draws
    assert np.allclose([r.arrival * 0.5 for r in a], [r.arrival * 2.0 for r in c])
    d = generate_workload(WorkloadSettings(**SMALL), seed=4)
    assert [_content(r) for r in a] != [_content(r) for r in d]


def test_generate_workload_content_independent_of_num_vnfs_range():
    a = generate_workload(WorkloadSettings(**{**SMALL, "num_vnfs": (3, 6)}), seed=1)
    b = generate_workload(WorkloadSettings(**{**SMALL, "num_vnfs": (6, 6)}), seed=1)
    for ra, rb in zip(a, b):
        n = min(ra.num_vnfs, rb.num_vnfs)
        assert np.array_equal(ra.vnf_demand[:n], rb.vnf_demand[:n])


def test_generate_workload_ranges_that_draw_alike_share_content():
    a = generate_workload(WorkloadSettings(**{**SMALL, "num_vnfs": (3, 6)}), seed=1)
    b = generate_workload(WorkloadSettings(**{**SMALL, "num_vnfs": (2, 5)}), seed=1)
    for ra, rb in zip(a, b):
        assert rb.num_vnfs == ra.num_vnfs - 1
        assert np.array_equal(ra.vnf_demand[: rb.num_vnfs], rb.vnf_demand)


def test_generate_workload_statistics():
    settings = WorkloadSettings(num_requests=20_000, arrival_rate=0.25, mean_lifetime=40.0)
    requests = generate_workload(settings, seed=11)
    gaps = np.diff([0.0] + [r.arrival for r in requests])
    lifetimes = np.array([r.lifetime for r in requests])
    # standard error of the mean is ~0.7%; allow 5%
    assert gaps.mean() == pytest.approx(1 / 0.25, rel=0.05)
    assert lifetimes.mean() == pytest.approx(40.0, rel=0.05)
    sizes = np.array([r.num_vnfs for r in requests])
    assert sizes.min() == 3 and sizes.max() == 6
    assert np.bincount(sizes, minlength=7)[3:] / len(sizes) == pytest.approx([0.25] * 4, abs=0.02)
    # extra VLs w.p. 0.5: E[n-1] = 3.5, E[(n-1)(n-2)/2] = (1+3+6+10)/4 = 5 -> mean VLs 3.5 + 0.5*5 = 6
    assert np.mean([r.num_vls for r in requests]) == pytest.approx(6.0, rel=0.03)


# ---------------------------------------------------------------- request tensor


def test_request_tensor_by_hand():
    settings = WorkloadSettings()  # demand max 0.1, bandwidth max 30, delay max 50, loss max 0.005
    request = make_request(
        [[0.02, 0.05, 0.1], [0.1, 0.08, 0.04], [0.06, 0.06, 0.06]],
        [(0, 1, 15.0, 25.0, 0.001), (2, 1, 6.0, 40.0, 0.0025)],
    )
    t = request_tensor(request, settings)
    assert t.shape == TENSOR_SHAPE == (6, 6, 9)
    h0, h1, h2 = [0.2, 0.5, 1.0], [1.0, 0.8, 0.4], [0.6, 0.6, 0.6]
    np.testing.assert_allclose(t[0, 1], h0 + h1 + [0.5, 0.5, 0.2], rtol=1e-6)
    np.testing.assert_allclose(t[1, 0], h1 + h0 + [0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(t[2, 1], h2 + h1 + [0.2, 0.8, 0.5], rtol=1e-6)
    np.testing.assert_allclose(t[1, 2], h1 + h2 + [0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(t[0, 0], h0 + h0 + [0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(t[0, 2], h0 + h2 + [0, 0, 0], rtol=1e-6)
    assert not t[3:].any() and not t[:, 3:].any()
    vl = np.zeros((6, 6), dtype=bool)
    vl[0, 1] = vl[2, 1] = True
    assert not t[~vl][:, 6:].any()
    assert t.min() >= 0 and t.max() <= 1


def test_request_tensor_of_generated_requests_in_unit_box():
    settings = WorkloadSettings(num_requests=200)
    for r in generate_workload(settings, seed=0):
        t = request_tensor(r, settings)
        assert t.shape == (6, 6, 9) and t.min() >= 0 and t.max() <= 1 + 1e-6
        n = r.num_vnfs
        assert not t[n:].any() and not t[:, n:].any()
        assert (t[:n, :n, :6] > 0).all()
        assert np.count_nonzero(t[:, :, 6]) == r.num_vls


# ---------------------------------------------------------------- tie-break rule of the client


def test_client_tie_break_rules():
    # attached bandwidth: node0 20, node1 20+100+50 = 170, node2 100+30 = 130, node3 50+30 = 80
    sub = make_substrate(4, [(0, 1), (1, 2), (1, 3), (2, 3)], bandwidth_mbps=[20, 100, 50, 30])
    assert tie_order(sub, "bandwidth").tolist() == [1, 2, 3, 0]
    assert tie_order(sub, "index").tolist() == [0, 1, 2, 3]
    prices = Prices(node=np.full((4, 1, 3), 2.0), link=np.full((4, 1), 2.0))  # every node costs the same
    request = make_request([[0.6] * 3, [0.6] * 3], [])
    by_bw = MarketSettings(tie_break="bandwidth")
    by_index = MarketSettings(tie_break="index")
    # capacity 1.0: the second VNF no longer fits the first node and spills to the next in the order
    assert embed(request, prices, sub, *_fresh(sub), by_bw, K_SHORTEST).placement.tolist() == [1, 2]
    assert embed(request, prices, sub, *_fresh(sub), by_index, K_SHORTEST).placement.tolist() == [0, 1]


# ---------------------------------------------------------------- the online loop


class _FixedPrices(Algorithm):
    """A minimal algorithm: the client at one price table."""

    def __init__(self, sub, prices, market=ALL_OR_NOTHING):
        self.sub, self.prices, self.market = sub, prices, market

    def decide(self, request, state):
        return embed(request, self.prices, self.sub, state.node_residual, state.arc_residual, self.market, K_SHORTEST)


def test_simulate_releases_departures_before_a_simultaneous_arrival():
    sub = make_substrate(2, [(0, 1)], node_capacity=1.0)
    prices = Prices(node=np.full((2, 1, 3), 1.0), link=np.ones((1, 1)))
    big = [[0.8] * 3, [0.8] * 3]  # one VNF per node: the request fills the substrate
    reqs = [
        make_request(big, [(0, 1, 10.0, 50.0, 0.01)], id=0, arrival=1.0, lifetime=2.0),  # departs at 3.0
        make_request(big, [(0, 1, 10.0, 50.0, 0.01)], id=1, arrival=2.0, lifetime=5.0),  # substrate full: rejected
        make_request(big, [(0, 1, 10.0, 50.0, 0.01)], id=2, arrival=3.0, lifetime=1.0),  # request 0 left at 3.0
    ]
    market = Occupancy(sub)
    state = market.state
    recorder = MetricsRecorder(sub, len(reqs), window=10)
    simulate(reqs, _FixedPrices(sub, prices), market, recorder)
    assert recorder.accepted.tolist() == [True, False, True]
    # node revenue 2.4 per VNF + link 1 * 10 Mbit/s
    assert recorder.revenue[:, 0].tolist() == pytest.approx([14.8, 0.0, 14.8])
    assert np.array_equal(state.node_residual, sub.node_capacity)
    assert np.array_equal(state.arc_residual, sub.arc_bandwidth)
    assert state.num_hosted == 0
