"""DDPG agents, the market environment, checkpoints and the training entry point."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import crash_step_after
from pettingzoo.test import parallel_api_test

from mdembed.agents.td3 import TD3
from mdembed.agents.ddpg_settings import DDPGSettings
from mdembed.agents.replay import ReplayBuffer
from mdembed.agents.networks import StackedLinear, soft_update
from mdembed.market.build import make_substrate
from mdembed.settings import settings_from_config
from mdembed.env.layout import TENSOR_SIZE, DomainLayout
from mdembed.env.market import MarketEnv
from mdembed.core.errors import ConfigError
from mdembed.run import compose, run
from mdembed.learning.loop import load_checkpoint

TIMING_COLUMNS = ["decision_time_ms_median", "decision_time_ms_p95"]
TINY_DDPG = [
    "experiment=smoke",
    "algorithm=ddpg",
    "train.steps=300",
    "train.checkpoint_every=100",
    "metrics.window=100",
    "eval.requests=100",
    "algorithm.learning_starts=50",
    "algorithm.buffer_size=1000",
    "progress=false",
]


@pytest.fixture(scope="module")
def settings():
    return settings_from_config(compose(["topology=abilene", "workload.num_requests=200"]))


@pytest.fixture(scope="module")
def substrate(settings):
    return make_substrate(settings.topology, settings.seed)


def make_learner(substrate, **overrides) -> TD3:
    return TD3(DomainLayout(substrate), DDPGSettings(**overrides), seed=0)


def test_actor_prices_stay_inside_the_bounds(substrate):
    learner = make_learner(substrate)
    rng = np.random.default_rng(0)
    for scale in (1.0, 1e3, 1e6):  # saturate the tanh on purpose
        obs = (rng.standard_normal((learner.domains, learner.obs_dim)) * scale).astype(np.float32)
        for explore in (False, True):
            learner.steps = 10**6  # past learning_starts: the actor, plus noise when exploring
            for prices in learner.layout.price_vectors(learner.act(obs, explore), 2.0, 7.5):
                assert prices.min() >= 2.0 and prices.max() <= 7.5


def test_price_vectors_have_each_domains_own_length(substrate):
    learner = make_learner(substrate)
    obs = np.zeros((learner.domains, learner.obs_dim), dtype=np.float32)
    lengths = [len(p) for p in learner.layout.price_vectors(learner.act(obs, False), 1.0, 10.0)]
    assert lengths == learner.layout.action_dims


def test_soft_update_by_hand():
    source, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        source.weight[:] = torch.tensor([[1.0, 2.0]])
        source.bias[:] = 3.0
        target.weight[:] = torch.tensor([[-1.0, 0.0]])
        target.bias[:] = 1.0
    soft_update(target, source, tau=0.25)
    # target + 0.25 * (source - target)
    assert target.weight.tolist() == [[-0.5, 0.5]]
    assert target.bias.tolist() == [1.5]


def test_one_update_moves_every_network_and_targets_by_tau(substrate):
    learner = make_learner(substrate, learning_starts=0, batch_size=8, tau=0.5, gamma=0.99)
    rng = np.random.default_rng(1)
    before = {name: [p.detach().clone() for p in getattr(learner, name).parameters()]
              for name in ("actor", "critic", "actor_target", "critic_target")}  # fmt: skip
    for _ in range(8):
        obs = rng.random((learner.domains, learner.obs_dim), dtype=np.float32)
        learner.buffer.add(obs, learner.act(obs, True), rng.random(learner.domains), obs, False)
    learner.update(learner.buffer.sample(8, learner.rng))
    for name in ("actor", "critic"):
        moved = [not torch.equal(a, b) for a, b in zip(before[name], getattr(learner, name).parameters())]
        assert all(moved), name
    # target = tau * new online + (1 - tau) * old target
    for online, old_target, new_target in zip(learner.actor.parameters(), before["actor_target"], learner.actor_target.parameters()):
        assert torch.allclose(new_target, 0.5 * online.detach() + 0.5 * old_target, atol=1e-6)


def test_domains_do_not_share_weights_or_gradients():
    layer = StackedLinear(3, 4, 2)
    x = torch.randn(3, 5, 4)
    out = layer(x)
    out[0].sum().backward()
    assert layer.weight.grad[0].abs().sum() > 0
    assert layer.weight.grad[1:].abs().sum() == 0  # domain 0's loss leaves domains 1 and 2 alone
    y = x.clone()
    y[1] += 10.0
    assert torch.equal(layer(y)[0], layer(x)[0])  # another domain's input never reaches domain 0


def test_critic_and_actor_of_a_domain_ignore_the_other_domains(substrate):
    learner = make_learner(substrate)
    obs = torch.rand(learner.domains, 4, learner.obs_dim)
    action = torch.rand(learner.domains, 4, learner.action_dim)
    q, a = learner.critic(obs, action), learner.actor(obs)
    obs2, action2 = obs.clone(), action.clone()
    obs2[1:] = torch.rand_like(obs2[1:])
    action2[1:] = torch.rand_like(action2[1:])
    assert torch.equal(learner.critic(obs2, action2)[0], q[0])
    assert torch.equal(learner.actor(obs2)[0], a[0])


def test_replay_buffer_wraps_around_and_samples_stored_transitions():
    buffer = ReplayBuffer(capacity=5, domains=2, obs_dim=3, action_dim=2)
    for i in range(7):
        buffer.add(np.full((2, 3), i), np.full((2, 2), i), np.array([i, -i]), np.full((2, 3), i + 1), i == 6)
    assert buffer.size == 5 and buffer.position == 2
    assert sorted(buffer.reward[:, 0].tolist()) == [2, 3, 4, 5, 6]  # 0 and 1 were overwritten
    batch = buffer.sample(64, np.random.default_rng(0))
    assert batch["obs"].shape == (2, 64, 3) and batch["reward"].shape == (2, 64) and batch["done"].shape == (64,)
    rewards = batch["reward"][0]
    assert set(rewards.tolist()) <= {2.0, 3.0, 4.0, 5.0, 6.0}
    assert torch.equal(batch["reward"][1], -rewards)  # one index for all domains
    assert torch.equal(batch["next_obs"][0, :, 0], rewards + 1)
    assert torch.equal(batch["done"], (rewards == 6).float())


def test_parallel_api(substrate, settings):
    env = MarketEnv(substrate, dataclasses.replace(settings.workload, num_requests=300), settings.market, settings.routing)
    parallel_api_test(env, num_cycles=200)


def test_env_same_seed_same_steps(substrate, settings):
    def rollout(seed):
        env = MarketEnv(substrate, settings.workload, settings.market, settings.routing)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(5)
        trajectory = [obs]
        while env.agents:
            actions = {a: rng.uniform(1, 10, env.action_space(a).shape) for a in env.agents}
            obs, rewards, *_ = env.step(actions)
            trajectory.append((obs, rewards))
        return trajectory

    first, again, other = rollout(3), rollout(3), rollout(4)
    assert len(first) == 201
    assert repr(first) == repr(again)
    assert repr(first) != repr(other)


def test_rewards_are_each_domains_revenue(substrate, settings):
    env = MarketEnv(substrate, settings.workload, settings.market, settings.routing)
    env.reset(seed=0)
    total = 0.0
    while env.agents:
        _, rewards, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
        embedding = infos["domain_0"]["embedding"]
        assert [rewards[a] for a in env.possible_agents] == embedding.domain_revenue.tolist()
        assert all(info["embedding"] is embedding and info["accepted"] == embedding.accepted for info in infos.values())
        total += sum(rewards.values())
    assert total > 0


def test_request_only_observation(substrate, settings):
    env = MarketEnv(substrate, settings.workload, settings.market, settings.routing, observe_own_state=False)
    obs, _ = env.reset(seed=0)
    assert all(o.shape == (TENSOR_SIZE,) for o in obs.values())
    assert env.state().shape == env.state_space.shape


def test_save_load_gives_identical_actions(substrate):
    learner = make_learner(substrate, learning_starts=0, batch_size=4)
    rng = np.random.default_rng(2)
    for _ in range(6):
        obs = rng.random((learner.domains, learner.obs_dim), dtype=np.float32)
        learner.observe(obs, learner.act(obs, True), rng.random(learner.domains), obs, False)
    copy = TD3(learner.layout, learner.settings, seed=99)
    copy.load_state_dict(learner.state_dict())
    obs = rng.random((learner.domains, learner.obs_dim), dtype=np.float32)
    assert np.array_equal(copy.act(obs, explore=False), learner.act(obs, explore=False))
    # exploration continues identically too: same noise state, same random streams
    assert np.array_equal(copy.act(obs, explore=True), learner.act(obs, explore=True))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddpg")
    summary = run(compose(TINY_DDPG + ["keep_checkpoint=true"]), out)  # the resume tests copy its last.pt
    return out, summary


def test_training_entry_point_writes_curves_checkpoints_and_evaluation(trained):
    out, summary = trained
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["phase"].tolist() == ["train"] * 3 + ["eval"]
    assert metrics.loc[metrics.phase == "train", "requests"].tolist() == [100, 200, 300]
    for d in range(summary["num_domains"]):
        assert metrics[f"domain{d}_mean_price"].between(1.0, 10.0).all()
    assert (out / "checkpoints" / "last.pt").is_file() and (out / "policy.pt").is_file()
    assert summary["requests"] == 100
    assert summary["training"]["steps"] == 300
    assert summary["training"]["updates"] == 300 - 50 + 1
    assert json.loads((out / "summary.json").read_text())["algorithm"] == "ddpg"


def test_eval_mode_reproduces_the_evaluation_of_a_saved_policy(trained, tmp_path):
    out, summary = trained
    evaluated = run(compose(TINY_DDPG + ["mode=eval", f"checkpoint={out / 'policy.pt'}"]), tmp_path)
    for key in ("accepted", "vnfs_embedded", "vls_embedded", "revenue", "cost"):
        assert evaluated[key] == summary[key], key
    assert evaluated["training"] is None


def test_resume_continues_exactly(trained, tmp_path, monkeypatch):
    out, _ = trained
    crash_step_after(monkeypatch, MarketEnv, 250)  # after the checkpoint at step 200
    with pytest.raises(KeyboardInterrupt):
        run(compose(TINY_DDPG), tmp_path)
    assert not (tmp_path / "summary.json").exists()
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 200
    monkeypatch.undo()

    resumed = run(compose(TINY_DDPG + ["resume=true"]), tmp_path)
    assert resumed["training"]["resumed_at_step"] == 200
    expected = pd.read_csv(out / "metrics.csv").drop(columns=TIMING_COLUMNS)
    got = pd.read_csv(tmp_path / "metrics.csv").drop(columns=TIMING_COLUMNS)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_resume_with_other_settings_is_refused(trained, tmp_path):
    out, _ = trained
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes((out / "checkpoints" / "last.pt").read_bytes())
    (tmp_path / "run_settings.json").write_bytes((out / "run_settings.json").read_bytes())  # the run it continues
    with pytest.raises(ConfigError, match="other settings"):
        run(compose(TINY_DDPG + ["resume=true", "algorithm.tau=0.01"]), tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_ours"])
def test_broken_checkpoint_is_a_one_line_error(trained, tmp_path, damage):
    out, _ = trained
    good = (out / "policy.pt").read_bytes()
    bad = tmp_path / "bad.pt"
    if damage == "truncate":
        bad.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        bad.write_bytes(b"\x00not a checkpoint at all" * 100)
    else:
        torch.save({"weights": torch.zeros(3)}, bad)
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.run", *TINY_DDPG, "mode=eval", f"checkpoint={bad}", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mdembed: error: checkpoint ") and str(bad) in lines[0]
    assert "Traceback" not in result.stderr


def test_eval_needs_a_checkpoint_and_a_learner(tmp_path):
    with pytest.raises(ConfigError, match="needs checkpoint"):
        settings_from_config(compose(["mode=eval"]))
    with pytest.raises(ConfigError, match="does not learn"):
        run(compose(["experiment=smoke", "mode=eval", "checkpoint=x.pt"]), tmp_path)


def test_tensorboard_logs_the_curves_or_names_the_missing_extra(tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"\[tensorboard\]"):
            run(compose(TINY_DDPG + ["tensorboard=true"]), tmp_path)
        return
    run(compose(TINY_DDPG + ["tensorboard=true"]), tmp_path)
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_layout_maps_each_domains_action_onto_its_own_nodes_and_links():
    from helpers import make_substrate

    from mdembed.network.substrate import SubstrateState

    # nodes 0, 2 in domain 0; node 1 in domain 1; links 0-1 (owner 0), 1-2 (owner 1)
    sub = make_substrate(3, [(0, 1), (1, 2)], node_domain=[0, 1, 0], link_owner=[0, 1], node_capacity=2.0)
    layout = DomainLayout(sub, observe_own_state=True, prices="node")
    assert layout.action_dims == [2 * 3 + 1, 1 * 3 + 1]
    prices = layout.prices([np.array([1, 2, 3, 4, 5, 6, 7.0]), np.array([8, 9, 10, 11.0])], 1.0, 10.0)
    assert prices.node[:, 0, :].tolist() == [[1, 2, 3], [8, 9, 10], [4, 5, 6]]
    assert prices.link[:, 0].tolist() == [7, 10]  # 11 clipped to price_max
    per_slot = DomainLayout(sub, prices="slot")
    assert per_slot.action_dims == [2 * 18 + 15, 18 + 15]
    per_domain = DomainLayout(sub, prices="domain")  # one price per resource and one per Mbit/s, for the whole domain
    assert per_domain.action_dims == [4, 4]
    prices = per_domain.prices([np.array([1, 2, 3, 4.0]), np.array([5, 6, 7, 8.0])], 1.0, 10.0)
    assert prices.node[:, 0, :].tolist() == [[1, 2, 3], [5, 6, 7], [1, 2, 3]]
    assert prices.link[:, 0].tolist() == [4, 8]
    # one definition of a domain's mean price for every algorithm: the whole table, a shared price once per slot
    # (domain 0: nodes 0 and 2 at mean 2 over 6 slots x 3 resources, link 0 at 4 over 15 VL slots)
    assert prices.domain_means(sub) == pytest.approx([(2 * 36 + 4 * 15) / 51, (6 * 18 + 8 * 15) / 33])

    state = SubstrateState(sub)
    state.node_residual[2] //= 4  # a quarter left on node 2
    state.arc_residual[3] //= 2  # half left on 2 -> 1
    own = layout.own_states(state)
    assert own[0].tolist() == [1, 1, 1, 0.25, 0.25, 0.25, 1, 1]  # nodes 0, 2, then arcs of link 0
    assert own[1].tolist() == [1, 1, 1, 1, 0.5]  # node 1, then arcs 1->2 and 2->1


def test_a_finished_run_keeps_the_policy_and_drops_the_resume_state(trained, tmp_path):
    """By default a finished directory holds policy.pt (the actors only), not checkpoints/; mode=eval still reproduces."""
    out, summary = trained
    again = run(compose(TINY_DDPG), tmp_path / "default")
    assert not (tmp_path / "default" / "checkpoints").exists()
    policy = load_checkpoint(tmp_path / "default" / "policy.pt")
    assert set(policy["learner"]) == {"actor", "shapes"}
    assert (tmp_path / "default" / "policy.pt").stat().st_size < (out / "checkpoints" / "last.pt").stat().st_size / 5
    assert again["acceptance_ratio"] == summary["acceptance_ratio"]  # keep_checkpoint changes no number
    evaluated = run(compose(TINY_DDPG + ["mode=eval", f"checkpoint={tmp_path / 'default' / 'policy.pt'}"]), tmp_path / "eval")
    assert evaluated["revenue"] == summary["revenue"] and evaluated["accepted"] == summary["accepted"]


@pytest.mark.parametrize("granularity", ["domain", "node"])
def test_a_learned_and_a_static_price_table_report_the_same_mean_price(granularity):
    """Issue 22, cause 22: the metric was once the mean of DDPG's action vector but the mean of the whole table for the
    static baselines ([7.83 5.04 5.43] against [6.75 5.44 5.21] on one BtEurope table). Both now go through
    Prices.domain_means, so one table gives one figure whichever algorithm quoted it."""
    from mdembed.agents.registry import Context
    from mdembed.agents.static_price import StaticPriceCFF
    from mdembed.env.quotes import PricingAdapter
    from mdembed.network.substrate import SubstrateState
    from mdembed.core.seeding import stream
    from mdembed.workload.requests import generate_workload

    settings = settings_from_config(compose(["topology=bteurope", "workload.num_requests=1"]))
    substrate = make_substrate(settings.topology, 0)
    layout = DomainLayout(substrate, prices=granularity)
    rng = np.random.default_rng(0)
    vectors = [rng.uniform(1.0, 10.0, dim) for dim in layout.action_dims]
    request = generate_workload(settings.workload, 0)[0]
    pricing = PricingAdapter(layout, settings.workload, settings.market, settings.routing)
    _, table = pricing.embed(vectors, request, SubstrateState(substrate))
    learned = table.domain_means(substrate)
    context = Context(substrate=substrate, market=settings.market, routing=settings.routing, workload=settings.workload,
                      rng=stream(0, "test"), seed=0)  # fmt: skip
    static = StaticPriceCFF(context, layout.prices(vectors, settings.market.price_min, settings.market.price_max))
    np.testing.assert_allclose(learned, static.quoted_prices.domain_means(substrate))
    assert not np.allclose(learned, [v.mean() for v in vectors])  # not the mean of the action vector
