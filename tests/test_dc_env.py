"""The data-centre environment: the gymnasium API, each reward term by hand, the workload and the autoscaler."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mdembed.dc import env as env_module
from mdembed.dc.autoscaler import ThresholdAutoscaler
from mdembed.dc.env import ALLOCATE, UNINSTALL, WAIT, DataCentreEnv
from mdembed.dc.settings import DataCentreSettings, DCWorkloadSettings
from mdembed.dc.workload import SFCRequest, arrival_rate, arrivals

DC = DataCentreSettings()
WORKLOAD = DCWorkloadSettings()


def request(types, bandwidth, budget, *, id=0, arrival=0, priority=1, service=5) -> SFCRequest:
    return SFCRequest(id=id, arrival=arrival, types=tuple(types), bandwidth_mbps=bandwidth, budget_ms=budget,
                      priority=priority, service_steps=service)  # fmt: skip


@pytest.fixture
def scripted(monkeypatch):
    """An environment whose arrivals are given by hand: ``script[t]`` arrives in step t."""
    script: dict[int, list[SFCRequest]] = {}
    monkeypatch.setattr(env_module, "arrivals", lambda settings, step, first_id, rng: list(script.get(step, [])))

    def make(**dc_overrides) -> tuple[DataCentreEnv, dict]:
        env = DataCentreEnv(dataclasses.replace(DC, **dc_overrides), WORKLOAD, max_steps=100)
        env.reset(seed=0)
        return env, script

    return make


def test_passes_the_gymnasium_checker():
    env = DataCentreEnv(DC, WORKLOAD, max_steps=50)
    check_env(env, skip_render_check=True)


def test_satisfied_chain_reward_and_delay_by_hand(scripted):
    env, script = scripted()
    script[0] = [request([0, 1], 100.0, 20.0)]
    _, reward, terminated, truncated, info = env.step(WAIT)
    # processing: type 0 1.0 ms x (1 + 100/400) + type 1 2.0 ms x (1 + 100/800); no queueing
    assert info["delays_ms"] == [pytest.approx(1.25 + 2.25)]
    assert (info["satisfied"], info["sla_violations"], info["dropped"]) == (1, 0, 0)
    # efficiency 200 Mbit/s carried / 2400 installed: no +0.3
    assert info["efficiency"] == pytest.approx(200 / 2400) and reward == 2.0
    assert not terminated and not truncated
    assert env.load.tolist() == [100.0, 100.0, 0.0, 0.0, 0.0]


def test_sla_violation_after_queueing_by_hand(scripted):
    env, script = scripted()
    # 350 Mbit/s does not fit one type-3 instance (300): it waits for a second one (boot 1 step)
    script[0] = [request([3], 350.0, 2.5)]
    _, reward, *_, info = env.step(3 * 3 + ALLOCATE)
    assert reward == 0.0 and len(env.pending) == 1 and info["instances"] == 6
    _, reward, *_, info = env.step(WAIT)
    e2e = 2.0 + 0.5 * (1 + 350 / 600)  # one step of queueing (2 ms) + processing at load 350/600
    assert info["delays_ms"] == [pytest.approx(e2e)] and e2e > 2.5
    assert info["sla_violations"] == 1 and info["satisfied"] == 0
    assert reward == -0.8


def test_dropped_when_the_budget_runs_out(scripted):
    env, script = scripted()
    script[0] = [request([3], 350.0, 4.0, id=0), request([3], 350.0, 4.1, id=1)]
    _, reward, *_, info = env.step(WAIT)
    assert info["dropped"] == 0 and reward == 0.0  # 2 ms waited at the next step: budget left
    _, reward, *_, info = env.step(WAIT)
    assert info["dropped"] == 1 and reward == -1.5  # 4 ms at the next step reaches 4.0, not 4.1
    _, reward, *_, info = env.step(WAIT)
    assert info["dropped"] == 1 and not env.pending


def test_invalid_and_unnecessary_actions_by_hand(scripted):
    env, script = scripted(initial_instances=(2, 1, 1, 0, 1))
    _, reward, *_, info = env.step(3 * 3 + UNINSTALL)  # type 3 has no instance
    assert info["invalid"] == 1 and reward == -1.0
    script[2] = [request([0, 3], 50.0, 40.0)]  # waits: type 3 has no instance
    _, reward, *_, info = env.step(3 * 0 + UNINSTALL)  # idle type-0 instance, no demand yet: fine
    assert info["invalid"] == 0 and info["unnecessary_uninstall"] == 0 and reward == 0.0
    assert env.running[0] == 1
    env.step(WAIT)
    assert len(env.pending) == 1
    _, reward, *_, info = env.step(3 * 0 + UNINSTALL)  # the pending request needs type 0
    assert info["unnecessary_uninstall"] == 1 and reward == -0.5 and env.running[0] == 0
    _, reward, *_, info = env.step(3 * 0 + UNINSTALL)  # nothing left to uninstall
    assert info["invalid"] == 1 and reward == -1.0


def test_allocate_is_invalid_when_the_dc_is_full(scripted):
    # the initial instances hold 4 + 8 + 6 + 2 + 4 = 24 cores: room for one type-3 instance (2 cores), exactly
    env, _ = scripted(capacity=(26.0, 128.0, 40_000.0))
    _, reward, *_, info = env.step(3 * 3 + ALLOCATE)  # 2 cores: fits exactly
    assert info["invalid"] == 0 and reward == 0.0
    _, reward, *_, info = env.step(3 * 3 + ALLOCATE)
    assert info["invalid"] == 1 and reward == -1.0
    assert info["utilization"] == pytest.approx(np.mean([26 / 26, 56 / 128, 12_000 / 40_000]))


def test_efficiency_bonus_and_a_step_with_several_terms(scripted):
    env, script = scripted(initial_instances=(0, 0, 0, 1, 0))
    script[0] = [request([3], 250.0, 10.0, id=0, priority=1), request([3], 100.0, 2.0, id=1, priority=3)]
    _, reward, *_, info = env.step(3 * 1 + UNINSTALL)  # invalid: no type-1 instance
    # priority 3 first: 100 served (efficiency 100/300), then 250 does not fit (200 left) and waits
    assert info["satisfied"] == 1 and len(env.pending) == 1
    assert reward == pytest.approx(2.0 - 1.0)
    env.chains[0].remaining = 1  # the served chain leaves in the next step
    _, reward, *_, info = env.step(WAIT)
    # now 250 fits: 2 ms queueing + 0.5 x (1 + 250/300) ms; efficiency 250/300 > 0.8
    assert info["delays_ms"] == [pytest.approx(2.0 + 0.5 * (1 + 250 / 300))]
    assert info["efficiency"] == pytest.approx(250 / 300)
    assert reward == pytest.approx(2.0 + 0.3)


def test_uninstall_needs_an_idle_instance(scripted):
    env, script = scripted(initial_instances=(2, 1, 1, 1, 1))
    script[0] = [request([0], 300.0, 40.0, service=50)]
    env.step(WAIT)
    assert env.can_uninstall(0)  # 300 fits on the remaining instance (400)
    script[1] = [request([0], 300.0, 40.0, id=1, service=50)]
    env.step(WAIT)
    assert env.load[0] == 600.0 and not env.can_uninstall(0)
    _, reward, *_, info = env.step(3 * 0 + UNINSTALL)
    assert info["invalid"] == 1 and env.running[0] == 2


def test_invariants_hold_under_random_actions():
    env = DataCentreEnv(DC, WORKLOAD, max_steps=3000)
    env.reset(seed=4)
    rng = np.random.default_rng(0)
    totals = dict.fromkeys(("arrived", "served", "dropped"), 0)
    for _ in range(3000):
        obs, reward, _, truncated, info = env.step(int(rng.integers(15)))
        assert env.observation_space.contains(obs)
        assert (env.used_resources() <= env.capacity + 1e-6).all()
        assert (env.load <= env.running * env.instance_capacity + 1e-6).all() and (env.load >= -1e-6).all()
        for key in totals:
            totals[key] += info[key]
    assert truncated
    assert totals["arrived"] == totals["served"] + totals["dropped"] + len(env.pending)
    assert totals["served"] > 0 and totals["dropped"] > 0  # the load is high enough to matter


def test_workload_is_seeded_by_named_streams_and_independent_of_actions():
    def arrivals_seen(seed, stream_name, policy):
        env = DataCentreEnv(DC, WORKLOAD, max_steps=300, workload_stream=stream_name)
        env.reset(seed=seed)
        rng = np.random.default_rng(7)
        seen = []
        for _ in range(300):
            before = env.next_id
            env.step(policy(env, rng))
            seen.append(env.next_id - before)
        return seen, env.observation()

    autoscaler = ThresholdAutoscaler(10, 1)
    first, obs1 = arrivals_seen(0, "eval", lambda env, rng: int(rng.integers(15)))
    again, obs2 = arrivals_seen(0, "eval", lambda env, rng: int(rng.integers(15)))
    other_policy, _ = arrivals_seen(0, "eval", lambda env, rng: autoscaler.act(env))
    training, _ = arrivals_seen(0, "train", lambda env, rng: WAIT)
    other_seed, _ = arrivals_seen(1, "eval", lambda env, rng: WAIT)
    assert first == again and np.array_equal(obs1, obs2)
    assert first == other_policy  # both policies are evaluated on the same requests
    assert first != training and first != other_seed
    expected = np.mean([arrival_rate(WORKLOAD, t) for t in range(300)])  # the cyclic rate's mean over these steps
    assert 0.85 * expected < np.mean(first) < 1.15 * expected


def test_requests_follow_the_workload_settings():
    rng = np.random.default_rng(0)
    reqs = [r for t in range(2000) for r in arrivals(WORKLOAD, t, 0, rng)]
    assert all(2 <= len(r.types) <= 4 and len(set(r.types)) == len(r.types) for r in reqs)
    assert all(20 <= r.bandwidth_mbps <= 100 and 10 <= r.budget_ms <= 40 and 1 <= r.priority <= 3 for r in reqs)
    assert np.mean([r.service_steps for r in reqs]) == pytest.approx(WORKLOAD.mean_service_steps, rel=0.1)
    # type 0 is the most frequent (weight 0.3)
    counts = np.bincount([t for r in reqs for t in r.types], minlength=5)
    assert counts.argmax() == 0


def test_autoscaler_scales_out_on_demand_and_in_after_idling(scripted):
    env, script = scripted()
    auto = ThresholdAutoscaler(idle_steps=3, min_instances=1)
    script[0] = [request([4], 350.0, 40.0, service=2), request([4], 300.0, 40.0, id=1, service=2)]
    env.step(WAIT)  # 350 served on the one type-4 instance; 300 waits (50 free)
    assert len(env.pending) == 1
    assert auto.act(env) == 3 * 4 + ALLOCATE  # demand 300 > 50 free
    env.step(3 * 4 + ALLOCATE)
    assert auto.act(env) == WAIT  # the booting instance already covers the demand
    actions = []
    for _ in range(15):
        action = auto.act(env)
        actions.append(action)
        env.step(action)
    assert 3 * 4 + UNINSTALL in actions  # idle again once the chains left: back to one instance
    assert env.running.tolist() == [1, 1, 1, 1, 1]  # never below min_instances
    assert ThresholdAutoscaler(idle_steps=3, min_instances=0).min_instances == 0


def test_arrivals_per_step_are_poisson():
    flat = dataclasses.replace(WORKLOAD, rate_amplitude=0.0, arrival_rate=1.5)
    rng = np.random.default_rng(3)
    counts = np.array([len(arrivals(flat, t, 0, rng)) for t in range(5000)])
    assert counts.mean() == pytest.approx(1.5, rel=0.05)
    assert counts.var() == pytest.approx(1.5, rel=0.1)  # Poisson: variance = mean
    assert np.mean(counts == 0) == pytest.approx(np.exp(-1.5), abs=0.02)
