"""The load-following price rules: hand-computed quotes, nothing read across domains, and the real command line."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from helpers import check_embedding, make_request, make_substrate

from mdembed.agents.registry import ALGORITHMS, Context
from mdembed.settings import MarketSettings, RoutingSettings, WorkloadSettings
from mdembed.core.errors import ConfigError
from mdembed.network.substrate import SubstrateState
from mdembed.core.seeding import stream

MARKET = MarketSettings(price_min=1.0, price_max=10.0)


def substrate():
    # nodes 0, 2 in domain 0; node 1 in domain 1; links 0-1 (owner 0), 1-2 (owner 1); capacity 2, 100 Mbit/s
    return make_substrate(3, [(0, 1), (1, 2)], node_domain=[0, 1, 0], link_owner=[0, 1], node_capacity=2.0, bandwidth_mbps=100.0)


def rule(name: str, sub, **params):
    context = Context(substrate=sub, market=MARKET, routing=RoutingSettings(), workload=WorkloadSettings(),
                      rng=stream(0, "test"), seed=0)  # fmt: skip
    return ALGORITHMS.get(name)(context, params)


def loaded(sub) -> SubstrateState:
    state = SubstrateState(sub)
    state.node_residual[0] = state.node_residual[0] // 2  # node 0: half of each resource used
    state.node_residual[1, 0] = 0  # node 1: all of its CPU used
    state.arc_residual[0] = state.arc_residual[0] // 4  # link 0, 0 -> 1: three quarters used
    state.arc_residual[3] = state.arc_residual[3] // 2  # link 1, 2 -> 1: half used
    return state


@pytest.mark.parametrize("name,params,f", [
    ("load_linear", {}, lambda u: u),
    ("load_power", {"exponent": 3.0}, lambda u: u**3),
    ("load_exp", {"base": 10.0}, lambda u: (10.0**u - 1) / 9.0),
])  # fmt: skip
def test_each_domain_quotes_from_its_own_used_shares(name, params, f):
    sub = substrate()
    domain0, domain1 = rule(name, sub, **params).quotes(loaded(sub))
    price = lambda u: 1.0 + 9.0 * f(u)  # noqa: E731
    # domain 0: node 0 (half used), node 2 (empty), then link 0 (its busier direction: 3/4 used)
    np.testing.assert_allclose(domain0, [price(0.5)] * 3 + [price(0.0)] * 3 + [price(0.75)])
    # domain 1: node 1 (CPU full, the rest empty), then link 1 (1/2 used one way)
    np.testing.assert_allclose(domain1, [price(1.0), price(0.0), price(0.0), price(0.5)])


def test_a_domain_never_reads_another_domains_resources():
    sub = substrate()
    algorithm = rule("load_linear", sub)
    state = loaded(sub)
    before = algorithm.quotes(state)
    state.node_residual[1] = 0  # only domain 1's node changes
    state.arc_residual[2:] = 0  # and domain 1's link
    after = algorithm.quotes(state)
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.array_equal(after[1], before[1])


def test_the_range_is_a_part_of_the_markets():
    sub = substrate()
    quotes = rule("load_linear", sub, range=[8 / 9, 1.0]).quotes(loaded(sub))  # [9, 10] of [1, 10]
    np.testing.assert_allclose(quotes[0], [9.5] * 3 + [9.0] * 3 + [9.75])
    for bad, message in [([0.5, 1.5], r"algorithm\.range must lie within \[0, 1\]"), ([0.9, 0.1], "above max")]:
        with pytest.raises(ConfigError, match=message):
            rule("load_linear", sub, range=bad)
    with pytest.raises(ConfigError, match=r"algorithm\.base must lie in \(1, 1e12\]"):
        rule("load_exp", sub, base=1.0)
    with pytest.raises(ConfigError, match=r"algorithm\.exponent must lie in \(0, 100\]"):
        rule("load_power", sub, exponent=0)


def test_a_request_goes_to_the_emptiest_node_that_fits():
    # a square 0-1-2-3-0 in one domain; nodes 0 and 1 and link 0-1 loaded: the whole request lands on an empty node,
    # where its VL needs no bandwidth
    sub = make_substrate(4, [(0, 1), (1, 2), (2, 3), (0, 3)], node_capacity=1.0, bandwidth_mbps=100.0)
    state = SubstrateState(sub)
    state.node_residual[0] //= 10
    state.node_residual[1] //= 2
    state.arc_residual[:2] //= 10  # link 0-1, both ways
    request = make_request([[0.2, 0.2, 0.2], [0.6, 0.6, 0.6]], [(0, 1, 10.0, 100.0, 0.01)])
    embedding = rule("load_linear", sub).decide(request, state)
    assert embedding.accepted
    assert embedding.placement.tolist() == [2, 2]  # both on node 2, empty and tied with 3 (tie: bandwidth, then index)
    check_embedding(sub, request, embedding, state.node_residual, state.arc_residual)


def test_the_rules_run_end_to_end_with_a_trace_that_replays(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "mdembed.run", "experiment=smoke", "algorithm=load_exp", "trace=true",
                             "progress=false", f"hydra.run.dir={out}"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algorithm"] == "load_exp" and 0 < summary["acceptance_ratio"] <= 1
    prices = summary["domain_mean_price"]
    assert all(1.0 <= p <= 10.0 for p in prices) and not math.isclose(min(prices), max(prices))
    assert (out / "events.jsonl").is_file() and (out / "substrate.json").is_file()
