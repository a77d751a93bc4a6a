"""Learning checks: DDPG finds answers known in advance, and the evaluation reports whether prices follow load."""

from __future__ import annotations

import pytest
from scipy import stats

from mdembed.analysis.monopoly import monopoly_check

# A one-domain market on Abilene where every one of the domain's prices moves its revenue by a comparable
# amount (heavier VNFs on roomier nodes, thin VLs) and every request is accepted (low load, loose QoS), so a
# learner must raise each price to price_max to match the uniform price_max table. On the default workload,
# the link price moves revenue ~10x as much as the three node prices together (experiments/README.md, "DDPG study").
CHECK_WORKLOAD = [
    "topology=abilene", "workload.arrival_rate=0.01", "workload.vl_delay_ms=[100,200]", "workload.vl_loss=[0.01,0.02]",
    "workload.vl_bandwidth_mbps=[1,2]", "workload.vnf_demand=[0.2,0.4]", "topology.node_capacity=[4,6]",
    "workload.num_requests=500", "algorithm.learning_starts=100", "progress=false", "torch_threads=1",
]  # fmt: skip
TOLERANCE = 1e-5  # relative: an output a hair under its bound for a few requests (measured 5e-7 at 1,000 steps)


def _check(prices: str, steps: int) -> dict:
    return monopoly_check([*CHECK_WORKLOAD, f"algorithm.prices={prices}", f"train.steps={steps}"])


def test_ddpg_matches_the_uniform_max_price_table_in_a_monopoly():
    """The default DDPG (per-domain prices) learns that a monopolist charges the most it may."""
    result = _check("domain", 1000)
    assert result["table_acceptance_ratio"] == 1.0  # the check's workload: every request fits
    assert result["learner_acceptance_ratio"] == result["table_acceptance_ratio"]
    assert result["revenue_ratio"] >= 1 - TOLERANCE, result
    assert result["learner_mean_price"] > 9.99  # price_max is 10


@pytest.mark.slow
@pytest.mark.parametrize(("prices", "steps"), [("node", 3000), ("slot", 6000)])
def test_ddpg_matches_the_uniform_max_price_table_in_a_monopoly_at_finer_prices(prices, steps):
    result = _check(prices, steps)
    assert result["revenue_ratio"] >= 1 - TOLERANCE, result


def test_price_load_correlation_by_hand():
    from helpers import make_substrate

    from mdembed.records.metrics import MetricsRecorder

    sub = make_substrate(2, [(0, 1)], node_domain=[0, 1], link_owner=[0], node_capacity=2.0)
    recorder = MetricsRecorder(sub, 5, window=5)
    recorder.count = 5
    recorder.load[:5] = [[0.1, 0.5], [0.2, 0.4], [0.3, 0.3], [0.4, 0.2], [0.5, 0.5]]
    recorder.mean_price[:5] = [[1.0, 3.0], [2.0, 3.0], [4.0, 3.0], [3.0, 3.0], [5.0, 3.0]]
    rho = recorder.price_load_spearman()
    assert rho[0] == pytest.approx(stats.spearmanr([0.1, 0.2, 0.3, 0.4, 0.5], [1, 2, 4, 3, 5]).statistic)
    assert rho[0] == pytest.approx(0.9)
    assert rho[1] is None  # a price that never moves says nothing about load: undefined, null in summary.json


def test_evaluation_reports_each_domains_price_load_correlation(tmp_path):
    from mdembed.run import compose, run

    summary = run(compose(["experiment=smoke", "progress=false", "workload.arrival_rate=0.5"]), tmp_path / "static")
    assert len(summary["domain_price_load_spearman"]) == 3
    assert summary["domain_price_load_spearman"] == [None, None, None]  # cff_3d's prices are static


def test_price_by_load_bins_each_elements_quote_by_its_own_used_share():
    """Hand-computed: 2 domains, one node each; domain 0 owns the link. Node 0 is half used in CPU only, the link's
    busier direction three quarters; the quoted table is known, so every bin's mean is too."""
    import numpy as np
    from helpers import make_request, make_substrate

    from mdembed.embedding.client import Embedding
    from mdembed.embedding.reasons import Reason
    from mdembed.embedding.prices import Prices
    from mdembed.records.metrics import MetricsRecorder
    from mdembed.network.substrate import SubstrateState

    sub = make_substrate(2, [(0, 1)], node_domain=[0, 1], link_owner=[0], node_capacity=2.0, bandwidth_mbps=100.0)
    state = SubstrateState(sub)
    state.node_residual[0, 0] //= 2  # node 0's CPU: half used
    state.arc_residual[1] //= 4  # the link, 1 -> 0: three quarters used (0 -> 1 untouched)
    prices = Prices(node=np.array([[[2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0]]]), link=np.array([[9.0]]))
    recorder = MetricsRecorder(sub, 2, window=2)
    request = make_request([[0.1, 0.1, 0.1]], [])
    nothing = Embedding(placement=np.array([-1]), paths=(), domain_revenue=np.zeros(2), reason=Reason.NO_NODE_CAPACITY)
    for _ in range(2):  # the same quote twice: means stay, counts double
        recorder.record_load(state)
        recorder.record(request, nothing, 0, state, prices)
    curve = recorder.summary()["price_by_load"]
    assert curve["used_share_bins"][:3] == [0.0, 0.1, 0.2] and curve["used_share_bins"][-1] == 1.0
    # domain 0: RAM and storage of node 0 unused (bin 0: 3 and 4), CPU half used (bin 5: 2), the link (bin 7: 9)
    assert curve["mean_price"][0] == [3.5, None, None, None, None, 2.0, None, 9.0, None, None]
    assert curve["count"][0] == [4, 0, 0, 0, 0, 2, 0, 2, 0, 0]
    assert curve["mean_price"][1][0] == 6.0 and curve["count"][1] == [6] + [0] * 9  # node 1: all free


# The data centre's known answer: at a constant arrival rate with instances that serve one step after they are
# allocated, the reactive autoscaler is nearly optimal (it accepts all but a few requests), so a DQN that learns
# what the setting rewards must come within 0.02 of its acceptance. The full default training (60,000 steps,
# about 4 minutes on one core): a learner that cannot match the rule here has a bug.
DC_KNOWN_ANSWER = ["experiment=dc_provisioning", "dc.workload.rate_amplitude=0", "dc.datacentre.boot_s=1",
                   "progress=false", "torch_threads=1"]  # fmt: skip


NOT_REACHED = pytest.mark.xfail(strict=True, reason="measured at 4b4665e: DQN 0.977 against the autoscaler's 1.000 "
                                "(seed 1 passes: 0.994); strict, so a learner that fixes it turns this into a failure to remove")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=NOT_REACHED)])
def test_the_dqn_matches_the_autoscaler_where_the_rule_is_nearly_optimal(tmp_path, seed):
    from mdembed.run import compose, run

    summary = run(compose([*DC_KNOWN_ANSWER, f"seed={seed}"]), tmp_path)
    dqn, rule = summary["dqn"]["acceptance_rate"], summary["autoscaler"]["acceptance_rate"]
    assert rule > 0.98  # the premise: the rule is nearly optimal here
    assert dqn >= rule - 0.02, (dqn, rule)
