"""The exact MILP embedding (``ilp``): hand-computed optima, infeasibility, and CFF as a bound.

The hand cases are small enough to enumerate by hand; the comments show the
arithmetic. The property tests use the MILP as an oracle: CFF + Dijkstra
can never beat it, and whatever it returns must pass the independent
checker of ``helpers``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from helpers import check_embedding, expected_revenue, make_request, make_substrate

import mdembed.agents.exact  # noqa: F401  (registers ilp)
from mdembed.agents.exact import ExactEmbedding, IlpSettings
from mdembed.agents.registry import ALGORITHMS, Algorithm, Context
from mdembed.settings import MAX_VNFS, MarketSettings, RoutingSettings, WorkloadSettings
from mdembed.embedding.client import embed
from mdembed.embedding.milp import embedding_cost, milp_embed
from mdembed.embedding.prices import Prices
from mdembed.embedding.reasons import Reason
from mdembed.core.errors import ConfigError
from mdembed.records.metrics import MetricsRecorder
from mdembed.network.substrate import SubstrateState
from mdembed.records.occupancy import Occupancy
from mdembed.market.simulation import simulate
from mdembed.settings import MAX_VLS
from mdembed.workload.requests import generate_workload

MARKET = MarketSettings(admission="all_or_nothing", price_min=0.0, price_max=100.0)
ROUTING = RoutingSettings(fallback="k_shortest", k=5)


def shared_prices(node: list[list[float]], link: list[float]) -> Prices:
    """Prices with one slot: ``node`` (N, 3) per resource, ``link`` (E,) per Mbit/s."""
    return Prices(node=np.asarray(node, dtype=float)[:, None, :], link=np.asarray(link, dtype=float)[:, None])


def residuals(substrate) -> tuple[np.ndarray, np.ndarray]:
    state = SubstrateState(substrate)
    return state.node_residual, state.arc_residual


# ------------------------------------------------------------ hand-computed


def test_ilp_colocates_where_cff_spills_over():
    # Node 0 (domain 0) costs 1 per resource but holds one VNF (0.15 < 0.1 + 0.1);
    # node 1 (domain 1) costs 2. Link 0-1 costs 1 per Mbit/s, owned by domain 0.
    # CFF: VNF 0 -> node 0 (0.3), VNF 1 -> node 1 (0.6), VL over arc 0 (10 Mbit/s x 1 = 10): 10.9.
    # Optimum: both on node 1, no link: 0.6 + 0.6 = 1.2.
    sub = make_substrate(2, [(0, 1)], node_domain=[0, 1], link_owner=[0],
                         node_capacity=np.array([[0.15] * 3, [1.0] * 3]))  # fmt: skip
    req = make_request([[0.1] * 3, [0.1] * 3], [(0, 1, 10.0, 10.0, 0.01)])
    prices = shared_prices([[1.0] * 3, [2.0] * 3], [1.0])
    nodes, arcs = residuals(sub)

    result = milp_embed(req, prices, sub, nodes, arcs, time_limit_s=10.0)
    cff = embed(req, prices, sub, nodes, arcs, MARKET, ROUTING)

    assert result.status == "optimal"
    assert result.embedding.accepted
    assert result.embedding.placement.tolist() == [1, 1]
    assert result.embedding.paths == ([],)
    assert result.objective == pytest.approx(1.2)
    np.testing.assert_allclose(result.embedding.domain_revenue, [0.0, 1.2])
    assert cff.placement.tolist() == [0, 1] and cff.paths == ([0],)
    np.testing.assert_allclose(cff.domain_revenue, [10.3, 0.6])
    assert result.objective < cff.domain_revenue.sum()
    assert embedding_cost(req, cff, prices, sub) == pytest.approx(10.9)
    assert (nodes == sub.node_capacity).all() and (arcs == sub.arc_bandwidth).all()  # untouched


def _triangle():
    """Links 0: (0,1) delay 10 price 1; 1: (0,2) and 2: (1,2) delay 1 price 5, loss 0.001.

    Nodes 0 and 1 hold one VNF each (capacity 0.15); node 2 holds none (0.05).
    """
    sub = make_substrate(
        3, [(0, 1), (0, 2), (1, 2)], node_domain=[0, 1, 2], link_owner=[0, 0, 1],
        node_capacity=np.array([[0.15] * 3, [0.15] * 3, [0.05] * 3]),
        delay_ms=[10.0, 1.0, 1.0], loss=[0.0, 0.001, 0.001],
    )  # fmt: skip
    prices = shared_prices([[1.0] * 3, [2.0] * 3, [3.0] * 3], [1.0, 5.0, 5.0])
    return sub, prices


def test_ilp_takes_the_dearer_path_that_meets_the_bounds_exactly():
    # VNF 0 demand 0.1, VNF 1 demand 0.12; VL 0->1, 1 Mbit/s, delay bound 2, loss bound
    # exactly that of two 0.001 links. The direct link is too slow (10 > 2), so the VL
    # goes through node 2: delay 1 + 1 = 2, price 5 + 5 = 10. Placements on {0, 1}:
    #   [0, 1]: 0.3 + 0.72 = 1.02;  [1, 0]: 0.6 + 0.36 = 0.96  <- cheaper.
    # Path from node 1 to node 0: arc 4 (1->2, link 2 = (1, 2) forward), then arc 3 (2->0, link 1 reversed).
    # Revenue: domain 0 = 0.36 + 5 (link 1), domain 1 = 0.6 + 5 (link 2).
    sub, prices = _triangle()
    bound = 1.0 - (1.0 - 0.001) * (1.0 - 0.001)
    req = make_request([[0.1] * 3, [0.12] * 3], [(0, 1, 1.0, 2.0, bound)])
    nodes, arcs = residuals(sub)

    result = milp_embed(req, prices, sub, nodes, arcs, time_limit_s=10.0)

    assert result.status == "optimal"
    assert result.embedding.placement.tolist() == [1, 0]
    assert result.embedding.paths == ([4, 3],)
    assert result.objective == pytest.approx(10.96)
    np.testing.assert_allclose(result.embedding.domain_revenue, [5.36, 5.6, 0.0])
    check_embedding(sub, req, result.embedding, nodes, arcs, eps=0.0)


def test_a_loss_bound_just_below_the_only_path_is_infeasible():
    sub, prices = _triangle()
    bound = 1.0 - (1.0 - 0.001) * (1.0 - 0.001)
    req = make_request([[0.1] * 3, [0.12] * 3], [(0, 1, 1.0, 2.0, bound * (1 - 1e-6))])
    nodes, arcs = residuals(sub)
    assert milp_embed(req, prices, sub, nodes, arcs, time_limit_s=10.0).status == "infeasible"


def _assert_nothing(result, req, num_domains):
    assert result.status == "infeasible"
    assert result.objective is None
    assert (result.embedding.reason, result.embedding.where) == (Reason.INFEASIBLE, "ilp")
    assert result.embedding.reason_text == "ilp: infeasible"
    assert not result.embedding.accepted
    assert result.embedding.placement.tolist() == [-1] * req.num_vnfs
    assert result.embedding.paths == (None,) * req.num_vls
    assert np.array_equal(result.embedding.domain_revenue, np.zeros(num_domains))


def test_demand_above_every_node_is_infeasible():
    sub = make_substrate(3, [(0, 1), (1, 2)], node_capacity=0.5)
    req = make_request([[0.1] * 3, [0.2, 0.6, 0.1]], [(0, 1, 1.0, 50.0, 0.01)])
    prices = shared_prices([[1.0] * 3] * 3, [1.0, 1.0])
    _assert_nothing(milp_embed(req, prices, sub, *residuals(sub)), req, sub.num_domains)


def test_a_delay_bound_no_path_meets_is_infeasible():
    # Each node holds one VNF, so the VL must cross the 5 ms link; its bound is 4 ms.
    sub = make_substrate(2, [(0, 1)], node_capacity=0.15, delay_ms=5.0)
    req = make_request([[0.1] * 3, [0.1] * 3], [(0, 1, 1.0, 4.0, 0.01)])
    prices = shared_prices([[1.0] * 3] * 2, [1.0])
    _assert_nothing(milp_embed(req, prices, sub, *residuals(sub)), req, sub.num_domains)


def test_bandwidth_is_per_direction():
    # Two VLs 0->1 and 1->0 of 60 Mbit/s on a 100 Mbit/s link: each direction carries one.
    sub = make_substrate(2, [(0, 1)], node_capacity=0.15)
    req = make_request([[0.1] * 3, [0.1] * 3], [(0, 1, 60.0, 10.0, 0.0), (1, 0, 60.0, 10.0, 0.0)])
    prices = shared_prices([[1.0] * 3, [1.0] * 3], [1.0])
    nodes, arcs = residuals(sub)
    result = milp_embed(req, prices, sub, nodes, arcs, time_limit_s=10.0)
    assert result.status == "optimal"
    assert sorted(map(tuple, result.embedding.paths)) == [(0,), (1,)]
    check_embedding(sub, req, result.embedding, nodes, arcs, eps=0.0)
    # With one direction already half used, nothing fits.
    arcs = arcs.copy()
    arcs[0] = 50_000
    assert milp_embed(req, prices, sub, nodes, arcs).status == "infeasible"


def test_time_limit_is_validated():
    with pytest.raises(ConfigError, match="algorithm.time_limit_s"):
        IlpSettings(time_limit_s=0.0)
    context = Context(make_substrate(2, [(0, 1)]), MARKET, ROUTING, WorkloadSettings(), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="algorithm.time_limit_s"):
        ALGORITHMS.get("ilp")(context, {"time_limit_s": -1.0})
    with pytest.raises(ConfigError, match="algorithm.time_limit"):
        ALGORITHMS.get("ilp")(context, {"time_limit": 1.0})
    assert isinstance(ALGORITHMS.get("ilp")(context, {}), ExactEmbedding)


# ------------------------------------------------------------ properties


@st.composite
def instances(draw):
    """A connected substrate of 4-8 nodes with part of its resources in use, prices and a request."""
    n = draw(st.integers(4, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    links = {tuple(sorted((int(rng.integers(v)), v))) for v in range(1, n)}  # a random spanning tree
    extra = draw(st.integers(0, n))
    for _ in range(extra):
        u, v = sorted(rng.choice(n, size=2, replace=False).tolist())
        links.add((u, v))
    links = sorted(links)
    e = len(links)
    domains = int(rng.integers(1, 4))
    sub = make_substrate(
        n, links, node_domain=rng.integers(0, domains, size=n).tolist(), num_domains=domains,
        node_capacity=rng.uniform(0.1, 0.8, size=(n, 3)),
        bandwidth_mbps=rng.choice([5.0, 10.0, 30.0], size=e).tolist(),
        delay_ms=rng.uniform(0.5, 3.0, size=e).tolist(),
        loss=(rng.uniform(0.0, 0.001, size=e) * (rng.random(e) < 0.7)).tolist(),
    )  # fmt: skip
    node_residual = (sub.node_capacity * rng.uniform(0.3, 1.0, size=(n, 3))).astype(np.int64)
    arc_residual = (sub.arc_bandwidth * rng.uniform(0.3, 1.0, size=2 * e)).astype(np.int64)

    slots_node = MAX_VNFS if draw(st.booleans()) else 1
    slots_link = MAX_VLS if draw(st.booleans()) else 1
    prices = Prices(
        node=rng.uniform(0.0, 10.0, size=(n, slots_node, 3)), link=rng.uniform(0.0, 10.0, size=(e, slots_link))
    )

    k = draw(st.integers(2, 4))
    order = rng.permutation(k).tolist()
    vls = {(a, b) for a, b in zip(order[:-1], order[1:])}
    for i in range(k):
        for j in range(i + 1, k):
            if (i, j) not in vls and (j, i) not in vls and rng.random() < 0.4:
                vls.add((i, j))
    def vl(a: int, b: int) -> tuple[int, int, float, float, float]:
        loss = float(rng.uniform(0, 0.005)) if rng.random() < 0.9 else 0.0
        return a, b, float(rng.uniform(1, 10)), float(rng.uniform(2, 20)), loss

    req = make_request(rng.uniform(0.02, 0.2, size=(k, 3)), [vl(a, b) for a, b in sorted(vls)])
    return sub, req, prices, node_residual, arc_residual


@settings(max_examples=40, deadline=None)
@given(instances())
def test_ilp_is_feasible_and_never_dearer_than_cff(instance):
    sub, req, prices, nodes, arcs = instance
    result = milp_embed(req, prices, sub, nodes, arcs, time_limit_s=10.0)
    cff = embed(req, prices, sub, nodes, arcs, MARKET, ROUTING)
    check_embedding(sub, req, result.embedding, nodes, arcs)
    assert (nodes >= 0).all() and (arcs >= 0).all()
    if cff.accepted:
        assert result.status in ("optimal", "feasible")
    assume(result.status == "optimal")  # infeasible examples check the line above only
    ilp = result.embedding
    assert ilp.accepted and ilp.reason is None
    assert result.objective == embedding_cost(req, ilp, prices, sub) == ilp.domain_revenue.sum()
    np.testing.assert_allclose(
        ilp.domain_revenue, expected_revenue(sub, req, prices, ilp.placement, ilp.paths), rtol=1e-12, atol=1e-12
    )
    if cff.accepted:
        cff_cost = cff.domain_revenue.sum()
        assert cff_cost == pytest.approx(embedding_cost(req, cff, prices, sub), rel=1e-12)
        # HiGHS proves optimality up to a relative gap of 1e-7 (MIP_REL_GAP)
        assert cff_cost >= result.objective - 1e-6 * max(1.0, result.objective)


# ------------------------------------------------------------ online


class _Checked(Algorithm):
    """Checks every decision against the state it was made on."""

    def __init__(self, inner: ExactEmbedding) -> None:
        self.inner = inner
        self.quoted_prices = inner.quoted_prices

    def decide(self, request, state):
        embedding = self.inner.decide(request, state)
        check_embedding(state.substrate, request, embedding, state.node_residual, state.arc_residual)
        return embedding


def test_ilp_runs_online_and_returns_every_resource():
    sub = make_substrate(
        6, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5), (1, 4)], node_domain=[0, 0, 1, 1, 2, 2],
        node_capacity=0.4, bandwidth_mbps=[30.0, 50.0, 20.0, 30.0, 100.0, 30.0, 20.0], delay_ms=2.0, loss=0.0002,
    )  # fmt: skip
    workload = WorkloadSettings(num_requests=30, arrival_rate=1.0, mean_lifetime=8.0, num_vnfs=(2, 5))
    requests = generate_workload(workload, seed=3)
    market_settings = MarketSettings(admission="all_or_nothing", price_min=1.0, price_max=10.0)
    context = Context(sub, market_settings, ROUTING, workload, np.random.default_rng(4), seed=3)
    algorithm = ALGORITHMS.get("ilp")(context, {"time_limit_s": 5.0})
    assert isinstance(algorithm, ExactEmbedding)
    market = Occupancy(sub)
    recorder = MetricsRecorder(sub, len(requests), window=10)

    simulate(requests, _Checked(algorithm), market, recorder)

    counts = algorithm.status_counts
    assert sum(counts.values()) == len(requests)
    assert set(counts) <= {"optimal", "feasible", "infeasible", "timeout"}
    assert counts["optimal"] > 0
    assert recorder.count == len(requests)
    assert algorithm.quoted_prices.domain_means(sub).shape == (sub.num_domains,)
    state = market.state
    assert np.array_equal(state.node_residual, sub.node_capacity)
    assert np.array_equal(state.arc_residual, sub.arc_bandwidth)
    assert state.num_hosted == 0 and not state.hosted_vnfs.any() and not state.hosted_vls.any()


def test_a_path_past_a_bound_by_solver_tolerance_is_solved_again_tighter(monkeypatch):
    # HiGHS may accept a row violated within its tolerance; the client's own check then
    # fails and the model is solved once more with the QoS rows tightened.
    import mdembed.embedding.milp as milp

    sub = make_substrate(2, [(0, 1)], node_capacity=0.15)
    req = make_request([[0.1] * 3, [0.1] * 3], [(0, 1, 1.0, 10.0, 0.01)])
    prices = shared_prices([[1.0] * 3] * 2, [1.0])
    margins = []
    build = milp.build_model

    def recording(*args):
        margins.append(args[-1])
        return build(*args)

    verdicts = iter([False, True])
    monkeypatch.setattr(milp, "build_model", recording)
    monkeypatch.setattr(milp, "_meets_qos", lambda *args: next(verdicts))
    result = milp_embed(req, prices, sub, *residuals(sub))
    assert result.status == "optimal" and result.embedding.accepted
    assert margins == [0.0, milp.RETRY_MARGIN]

    monkeypatch.setattr(milp, "_meets_qos", lambda *args: False)
    assert milp_embed(req, prices, sub, *residuals(sub)).status == "infeasible"


def test_a_request_cut_off_by_the_time_limit_is_counted_and_warned_of_once(monkeypatch, caplog):
    # An incumbent chosen by the wall clock differs between machines: the run says so, once.
    import mdembed.agents.exact as exact
    from mdembed.embedding.client import rejected
    from mdembed.embedding.milp import MilpResult

    sub = make_substrate(3, [(0, 1), (1, 2)], node_domain=[0, 1, 2], node_capacity=0.4)
    workload = WorkloadSettings(num_requests=3, arrival_rate=1.0, mean_lifetime=8.0, num_vnfs=(2, 3))
    requests = generate_workload(workload, seed=1)
    market = MarketSettings(admission="all_or_nothing", price_min=1.0, price_max=10.0)
    context = Context(sub, market, ROUTING, workload, np.random.default_rng(0), seed=1)
    algorithm = ALGORITHMS.get("ilp")(context, {})
    assert algorithm.settings.time_limit_s == 60.0  # a safety net far above what a request needs

    def cut_off(request, prices, substrate, nodes, arcs, time_limit_s):
        return MilpResult("timeout", rejected(request, substrate.num_domains, Reason.TIME_LIMIT, "ilp"), None, time_limit_s)

    state = Occupancy(sub).state
    algorithm.decide(requests[0], state)
    assert not caplog.records
    monkeypatch.setattr(exact, "milp_embed", cut_off)
    with caplog.at_level("WARNING", logger="mdembed.agents.exact"):
        for request in requests[1:]:
            algorithm.decide(request, state)
    assert algorithm.status_counts["timeout"] == 2 and algorithm.status_counts["optimal"] + algorithm.status_counts["infeasible"] == 1
    assert len(caplog.records) == 1
    assert f"request {requests[1].id} reached the 60 s time limit (timeout)" in caplog.records[0].getMessage()
    assert "algorithm.time_limit_s" in caplog.records[0].getMessage()
