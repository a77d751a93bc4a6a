"""The data-centre environment: the gymnasium API, each reward term by hand, the time scale, the workload and the rules.

The hand-computed steps use the millisecond time scale (a step of 2 ms, instances that serve one step after they
are allocated), where requests wait in the queue; the default second-long steps make the loss system tested below."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mdembed.dc import env as env_module
from mdembed.dc.env import ALLOCATE, UNINSTALL, WAIT, DataCentreEnv
from mdembed.dc.rules import LoadModel, PredictiveAutoscaler, StaticProvisioner, ThresholdAutoscaler, make_rule
from mdembed.dc.settings import AutoscalerSettings, DataCentreSettings, DCWorkloadSettings, ProvisionerSettings
from mdembed.dc.workload import SFCRequest, arrival_rate, arrivals, type_shares

DC = DataCentreSettings(capacity=(64.0, 128.0, 40_000.0), step_s=0.002, boot_s=0.002)  # the millisecond scale
WORKLOAD = DCWorkloadSettings(arrival_rate=400.0, rate_period_s=0.8, latency_budget_ms=(10.0, 40.0), mean_service_s=0.05)
STEP_S = DC.step_s


def request(types, bandwidth, budget, *, id=0, arrival=0, priority=1, service=5) -> SFCRequest:
    return SFCRequest(id=id, arrival=arrival, types=tuple(types), bandwidth_mbps=bandwidth, budget_ms=budget,
                      priority=priority, service_steps=service)  # fmt: skip


@pytest.fixture
def scripted(monkeypatch):
    """An environment whose arrivals are given by hand: ``script[t]`` arrives in step t."""
    script: dict[int, list[SFCRequest]] = {}
    monkeypatch.setattr(env_module, "arrivals", lambda settings, step, first_id, rng, step_s: list(script.get(step, [])))

    def make(base=DC, **dc_overrides) -> tuple[DataCentreEnv, dict]:
        env = DataCentreEnv(dataclasses.replace(base, **dc_overrides), WORKLOAD, max_steps=100)
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

    autoscaler = ThresholdAutoscaler(AutoscalerSettings())
    first, obs1 = arrivals_seen(0, "eval", lambda env, rng: int(rng.integers(15)))
    again, obs2 = arrivals_seen(0, "eval", lambda env, rng: int(rng.integers(15)))
    other_policy, _ = arrivals_seen(0, "eval", lambda env, rng: autoscaler.act(env))
    training, _ = arrivals_seen(0, "train", lambda env, rng: WAIT)
    other_seed, _ = arrivals_seen(1, "eval", lambda env, rng: WAIT)
    assert first == again and np.array_equal(obs1, obs2)
    assert first == other_policy  # both policies are evaluated on the same requests
    assert first != training and first != other_seed
    expected = np.mean([arrival_rate(WORKLOAD, t, STEP_S) for t in range(300)])  # the cyclic rate's mean over these steps
    assert 0.85 * expected < np.mean(first) < 1.15 * expected


def test_requests_follow_the_workload_settings():
    rng = np.random.default_rng(0)
    reqs = [r for t in range(2000) for r in arrivals(WORKLOAD, t, 0, rng, STEP_S)]
    assert all(2 <= len(r.types) <= 4 and len(set(r.types)) == len(r.types) for r in reqs)
    assert all(20 <= r.bandwidth_mbps <= 100 and 10 <= r.budget_ms <= 40 and 1 <= r.priority <= 3 for r in reqs)
    assert np.mean([r.service_steps for r in reqs]) == pytest.approx(WORKLOAD.mean_service_s / STEP_S, rel=0.1)
    # type 0 is the most frequent (weight 0.3)
    counts = np.bincount([t for r in reqs for t in r.types], minlength=5)
    assert counts.argmax() == 0


def test_autoscaler_scales_out_on_demand_and_in_after_idling(scripted):
    env, script = scripted()
    auto = ThresholdAutoscaler(AutoscalerSettings(target_utilization=1.0, idle_steps=3, min_instances=1))
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
    assert ThresholdAutoscaler(AutoscalerSettings(idle_steps=3, min_instances=0)).min_instances == 0


def test_arrivals_per_step_are_poisson():
    flat = dataclasses.replace(WORKLOAD, rate_amplitude=0.0, arrival_rate=1.5 / STEP_S)
    rng = np.random.default_rng(3)
    counts = np.array([len(arrivals(flat, t, 0, rng, STEP_S)) for t in range(5000)])
    assert counts.mean() == pytest.approx(1.5, rel=0.05)
    assert counts.var() == pytest.approx(1.5, rel=0.1)  # Poisson: variance = mean
    assert np.mean(counts == 0) == pytest.approx(np.exp(-1.5), abs=0.02)


# --- the time scale in seconds --------------------------------------------------------------------------------

SECONDS = DataCentreSettings()  # the default: a decision a second, instances that boot in 30 s


def test_durations_in_seconds_become_whole_steps():
    assert SECONDS.step_s == 1.0 and SECONDS.boot_steps == 30
    assert dataclasses.replace(SECONDS, boot_s=2.5).boot_steps == 3  # rounded up: it is not ready before
    assert dataclasses.replace(SECONDS, step_s=0.01, boot_s=0.03).boot_steps == 3  # 0.03 / 0.01 = 3.0000000000000004
    assert dataclasses.replace(SECONDS, boot_s=0.0).boot_steps == 0
    assert DC.boot_steps == 1 and DC.step_ms == 2.0
    w = DCWorkloadSettings()
    assert arrival_rate(w, 150, 1.0) == pytest.approx(0.4 * 1.6)  # a quarter of the 600 s cycle: the peak
    assert arrival_rate(w, 75, 2.0) == pytest.approx(0.8 * 1.6)  # the same time in steps of 2 s, twice the requests


def test_an_instance_serves_boot_s_after_it_is_allocated(scripted):
    env, _ = scripted(base=SECONDS, boot_s=3.0)
    type_ready_in = 11  # the observation's column: steps until the next booting instance of the type serves
    env.step(3 * 2 + ALLOCATE)
    for left in (2, 1):
        assert env.running[2] == 1 and env.booting_counts()[2] == 1
        types = env.layout.split(env.observation())[1]
        assert types[2, type_ready_in] == pytest.approx(left / 3)
        env.step(WAIT)
    env.step(WAIT)
    assert env.running[2] == 2 and env.booting_counts()[2] == 0


def test_with_second_long_steps_a_request_is_served_when_it_arrives_or_dropped(scripted):
    env, script = scripted(base=SECONDS)
    script[0] = [request([3], 250.0, 20.0, id=0), request([3], 100.0, 20.0, id=1)]  # one type-3 instance: 300 Mbit/s
    _, reward, *_, info = env.step(WAIT)
    assert (info["satisfied"], info["dropped"]) == (1, 1) and not env.pending  # a loss system: no queue at 1 s
    assert reward == 2.0 - 1.5  # efficiency 250 / 2400 over all running instances: no +0.3
    assert env.unmet.tolist() == [0, 0, 0, 100.0, 0]  # what the rules and the observation see of it
    assert info["delays_ms"] == [pytest.approx(0.5 * (1 + 250 / 300))]  # no queueing


def test_type_shares_are_exact():
    shares = type_shares(DCWorkloadSettings())
    assert shares.sum() == pytest.approx(3.0)  # chains of 2, 3 or 4 types: 3 on average
    assert shares[2] == pytest.approx(shares[3]) and shares[1] == pytest.approx(shares[4])  # equal weights
    assert shares[0] > shares[2] > shares[1]
    one = type_shares(DCWorkloadSettings(chain_length=(1, 1)))  # chains of one type: the weights themselves
    assert one == pytest.approx(np.array(DCWorkloadSettings().type_weights) / 1.0)
    rng = np.random.default_rng(0)
    reqs = [r for t in range(20_000) for r in arrivals(DCWorkloadSettings(), t, 0, rng, 1.0)]
    seen = np.bincount([k for r in reqs for k in r.types], minlength=5) / len(reqs)
    assert seen == pytest.approx(shares, abs=0.015)


def _env(boot_s=30.0, **workload) -> DataCentreEnv:
    env = DataCentreEnv(dataclasses.replace(SECONDS, boot_s=boot_s), dataclasses.replace(DCWorkloadSettings(), **workload), 5000)
    env.reset(seed=0)
    return env


def test_the_load_model_is_the_sum_over_past_arrivals():
    env = _env()
    model = LoadModel(env, ProvisionerSettings())
    q = 1.0 - 1.0 / env.service_steps
    for step in (0, 37, 150, 451):
        direct = sum(arrival_rate(env.workload, step - j, 1.0) * q**j for j in range(5000))
        assert model.chains(step) == pytest.approx(direct, rel=1e-9)
    grid = model.chains(np.arange(600))
    assert model.peak_chains() == pytest.approx(grid.max(), rel=1e-4)
    for first, last in ((0, 30), (100, 160), (140, 200), (300, 420), (0, 900)):  # the peak is near step 175
        assert model.most_chains(first, last) == pytest.approx(model.chains(np.arange(first, last + 1)).max(), rel=1e-4)
    assert model.chains(0) == pytest.approx(0.4 * 50 + 0.4 * 0.6 * np.imag(model.gain))
    flat = LoadModel(_env(rate_amplitude=0.0), ProvisionerSettings())
    assert flat.chains(123) == pytest.approx(20.0) == flat.peak_chains()  # 0.4 per s x 50 s


def test_sizing_covers_the_quantile_and_fits_the_dc():
    env = _env()
    model = LoadModel(env, ProvisionerSettings(quantile=0.5))  # the mean load, no headroom
    counts = model.instances(20.0)[0]
    load = 20.0 * type_shares(env.workload) * 60.0  # chains x share x mean bandwidth
    assert counts.tolist() == np.ceil(load / env.instance_capacity).tolist()
    tight = DataCentreEnv(dataclasses.replace(SECONDS, capacity=(40.0, 224.0, 48_000.0)), env.workload, 10)
    fitted = LoadModel(tight, ProvisionerSettings()).instances(30.0)[0]
    assert fitted @ tight.footprint[:, 0] <= 40.0 and fitted.min() >= 1  # shrunk to the DC's 40 cores, every type kept


def test_static_provisioner_installs_its_counts_and_keeps_them():
    env = _env(boot_s=2.0)
    rule = StaticProvisioner(np.array([3, 1, 2, 4, 2]))
    for _ in range(40):
        env.step(rule.act(env))
    assert env.running.tolist() == [3, 1, 2, 4, 2] and not env.booting
    assert make_rule("static_peak", env, AutoscalerSettings(), ProvisionerSettings()).counts.sum() > \
        make_rule("static_mean", env, AutoscalerSettings(), ProvisionerSettings()).counts.sum()


def test_predictive_installs_what_the_cycle_needs_one_boot_delay_ahead():
    env = _env(boot_s=60.0)
    model = LoadModel(env, ProvisionerSettings())
    rule = PredictiveAutoscaler(model, ThresholdAutoscaler(AutoscalerSettings()))
    for _ in range(200):  # the rising half of the cycle
        env.step(rule.act(env))
        ahead = model.instances(model.chains(env.t + env.boot_steps))[0]
        if env.t > 20:  # once the start's single instances have been topped up, one action a step
            assert (env.instances() >= ahead - 1).all()  # at most one instance behind: it adds one a step
    assert (env.instances() >= model.instances(model.chains(env.t + env.boot_steps))[0]).all()


def test_the_reactive_autoscaler_scales_out_on_dropped_demand(scripted):
    env, script = scripted(base=SECONDS, boot_s=1.0)
    auto = ThresholdAutoscaler(AutoscalerSettings())
    script[0] = [request([3], 250.0, 20.0, id=0), request([3], 100.0, 20.0, id=1)]
    env.step(WAIT)
    assert auto.act(env) == 3 * 3 + ALLOCATE  # 250 carried + 100 dropped > 0.6 x 300


def test_the_millisecond_setting_is_reachable_by_config():
    from mdembed.config import compose
    from mdembed.dc.settings import dc_settings_from_config

    dc = dc_settings_from_config(compose(["experiment=dc_provisioning_ms"]))
    env = DataCentreEnv(dc.datacentre, dc.workload, 10)
    assert env.boot_steps == 1 and env.step_ms == 2.0 and env.service_steps == pytest.approx(25.0)
    assert env.mean_arrivals == pytest.approx(0.8) and dc.workload.rate_period_s / dc.datacentre.step_s == pytest.approx(400)
