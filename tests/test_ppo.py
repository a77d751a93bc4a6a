"""Per-element policies, independent PPO and the cooperative reward (issue 24)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import crash_step_after, make_substrate, one_line

from mdembed.agents.element_policy import ElementActor, set_linear_rule
from mdembed.agents.ppo import PPO
from mdembed.agents.ppo_settings import PPOSettings
from mdembed.agents.registry import ALGORITHMS, Context
from mdembed.market.build import make_substrate as build_substrate
from mdembed.settings import MarketSettings, RoutingSettings, WorkloadSettings, settings_from_config
from mdembed.env.layout import DomainLayout
from mdembed.env.market import MarketEnv
from mdembed.env.task import MarketTrainingTask
from mdembed.core.errors import ConfigError
from mdembed.learning.checkpoints import load_checkpoint
from mdembed.learning.loop import train
from mdembed.learning.protocol import Learner
from mdembed.network.substrate import SubstrateState
from mdembed.run import compose
from mdembed.core.seeding import stream

MARKET = MarketSettings(price_min=1.0, price_max=10.0)


def context(sub) -> Context:
    return Context(substrate=sub, market=MARKET, routing=RoutingSettings(), workload=WorkloadSettings(),
                   rng=stream(0, "test"), seed=0)  # fmt: skip


def bteurope_state(seed: int = 0):
    settings = settings_from_config(compose(["topology=bteurope"]))
    sub = build_substrate(settings.topology, settings.seed)
    rng = np.random.default_rng(seed)
    state = SubstrateState(sub)
    state.node_residual = (sub.node_capacity * rng.uniform(0, 1, sub.node_capacity.shape)).astype(np.int64)
    state.arc_residual = (sub.arc_bandwidth * rng.uniform(0, 1, sub.arc_bandwidth.shape)).astype(np.int64)
    return sub, state


# --- the per-element policy ---------------------------------------------------------------


@pytest.mark.parametrize("low,high", [(0.0, 1.0), (0.2, 0.7)])
def test_the_element_policy_expresses_the_linear_load_rule_exactly(low, high):
    """Known answer: one setting of the weights is load_linear, on a loaded BtEurope, every domain and element."""
    sub, state = bteurope_state()
    rule = ALGORITHMS.get("load_linear")(context(sub), {"range": [low, high]})
    layout = DomainLayout(sub, True, "node")
    actor = ElementActor(layout, hidden=8)
    set_linear_rule(actor, low, high)
    tensor = np.random.default_rng(1).uniform(0, 1, (6, 6, 9)).astype(np.float32)  # the rule ignores the request
    obs = torch.from_numpy(layout.stack(layout.observations(tensor, state)))[:, None, :]
    vectors = layout.price_vectors(actor(obs)[:, 0].detach().numpy(), MARKET.price_min, MARKET.price_max)
    for ours, theirs in zip(vectors, rule.quotes(state)):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_the_element_policy_reads_only_its_own_elements_and_pads_with_zero():
    sub = make_substrate(3, [(0, 1), (1, 2)], node_domain=[0, 1, 0], link_owner=[0, 1], node_capacity=2.0, bandwidth_mbps=100.0)
    layout = DomainLayout(sub, True, "node")
    torch.manual_seed(0)
    actor = ElementActor(layout, hidden=4)
    state = SubstrateState(sub)
    obs = layout.stack(layout.observations(np.zeros((6, 6, 9), np.float32), state))
    base = actor(torch.from_numpy(obs)[:, None, :])[:, 0].detach().numpy()
    assert layout.action_dims == [7, 4] and np.all(base[1, 4:] == 0)  # domain 1: 1 node x 3 + 1 link; padding 0
    state.node_residual[1] //= 2  # domain 1's node: domain 0's prices must not move
    changed = actor(torch.from_numpy(layout.stack(layout.observations(np.zeros((6, 6, 9), np.float32), state)))[:, None, :])
    changed = changed[:, 0].detach().numpy()
    assert np.array_equal(changed[0], base[0]) and not np.array_equal(changed[1, :3], base[1, :3])


def test_the_element_policys_size_does_not_depend_on_the_topology():
    sizes = {}
    for name in ("abilene", "bteurope", "kdl"):
        settings = settings_from_config(compose([f"topology={name}"]))
        layout = DomainLayout(build_substrate(settings.topology, 0), True, "node")
        sizes[name] = {k: tuple(v.shape) for k, v in ElementActor(layout, 16).state_dict().items()}
    assert sizes["abilene"] == sizes["bteurope"] == sizes["kdl"]


# --- PPO's parts, by hand -----------------------------------------------------------------


def small_ppo(**params) -> PPO:
    sub = make_substrate(3, [(0, 1), (1, 2)], node_domain=[0, 1, 0], link_owner=[0, 1], node_capacity=2.0, bandwidth_mbps=100.0)
    return PPO(DomainLayout(sub, True, "node"), PPOSettings(**params), seed=0)


def test_gae_matches_the_hand_computed_recursion():
    ppo = small_ppo(gamma=0.5, gae_lambda=0.5)
    reward = torch.tensor([[1.0, 0.0, 2.0]])
    value = torch.tensor([[0.5, 1.0, 0.0]])
    next_value = torch.tensor([[1.0, 0.0, 4.0]])
    done = torch.tensor([0.0, 1.0, 0.0])
    # deltas: 1 + 0.5*1 - 0.5 = 1; 0 + 0 - 1 = -1 (done); 2 + 0.5*4 - 0 = 4
    # advantages from the end: A2 = 4; A1 = -1 (done cuts the sum); A0 = 1 + 0.25 * A1 = 0.75
    np.testing.assert_allclose(ppo.advantages(reward, value, next_value, done).numpy(), [[0.75, -1.0, 4.0]])


def test_log_prob_and_entropy_are_the_gaussians_on_real_entries_only():
    ppo = small_ppo(log_std_init=-0.7)
    mean = torch.randn(2, 5, ppo.action_dim)
    action = mean + torch.randn_like(mean)
    ours = ppo._log_prob(mean, action)
    for d, dim in enumerate(ppo.layout.action_dims):
        normal = torch.distributions.Normal(mean[d, :, :dim], torch.tensor(-0.7).exp())
        torch.testing.assert_close(ours[d], normal.log_prob(action[d, :, :dim]).sum(dim=-1))
        torch.testing.assert_close(ppo._entropy()[d], normal.entropy()[0].sum())


def test_each_domains_gradient_is_clipped_apart():
    ppo = small_ppo(max_grad_norm=1.0)
    for p in ppo.parameters:
        p.grad = torch.zeros_like(p)
    ppo.log_std.grad[0] = 100.0  # domain 0's gradient is huge, domain 1's small
    ppo.log_std.grad[1] = 0.1
    norms = ppo._clip_gradients()
    assert norms[0] > 100 and norms[1] == pytest.approx(0.2, rel=1e-4)
    assert float(ppo.log_std.grad[0].norm()) == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(ppo.log_std.grad[1].numpy(), 0.1)  # untouched by domain 0's


def test_ppo_learns_a_bandit_whose_best_prices_are_known():
    """Known answer: reward = -(a - target)^2 per entry, one state; the mean must reach the target."""
    ppo = small_ppo(policy="flat", rollout=64, minibatch=32, epochs=4, lr=3e-3, log_std_init=-1.0, reward_scale=1.0)
    assert isinstance(ppo, Learner)
    target = np.where(ppo.mask_np > 0, np.linspace(-0.6, 0.6, ppo.action_dim)[None, :], 0.0).astype(np.float32)
    obs = np.zeros((ppo.domains, ppo.obs_dim), np.float32)
    for _ in range(64 * 60):
        action = ppo.act(obs, explore=True)
        reward = -(((action - target) * ppo.mask_np) ** 2).sum(axis=1)
        ppo.observe(obs, action, reward, obs, False)
    greedy = ppo.act(obs, explore=False)
    assert np.abs((greedy - target) * ppo.mask_np).max() < 0.1
    assert ppo.diagnostics()["updates"] == 60


# --- the cooperative reward ---------------------------------------------------------------


def test_the_acceptance_reward_pays_every_domain_one_per_accepted_request():
    sub = make_substrate(3, [(0, 1), (1, 2)], node_domain=[0, 1, 0], link_owner=[0, 1], node_capacity=2.0, bandwidth_mbps=100.0)
    workload = WorkloadSettings(num_requests=40, arrival_rate=5.0)
    runs = {}
    for reward in ("revenue", "acceptance"):
        env = MarketEnv(sub, workload, MARKET, RoutingSettings(), prices="node", reward=reward)
        env.reset(seed=3)
        steps = []
        while env.agents:
            actions = {a: np.full(env.action_space(a).shape, 5.0) for a in env.agents}
            _, rewards, _, _, infos = env.step(actions)
            steps.append((infos["domain_0"]["accepted"], infos["domain_0"]["embedding"].domain_revenue, rewards))
        runs[reward] = steps
    accepted = [a for a, _, _ in runs["acceptance"]]
    assert any(accepted) and not all(accepted)  # the workload tells both cases apart
    for (a, revenue, paid), (_, _, cooperative) in zip(runs["revenue"], runs["acceptance"]):
        assert list(paid.values()) == pytest.approx(list(revenue))
        assert set(cooperative.values()) == {1.0 if a else 0.0}
    with pytest.raises(ConfigError, match="agent.reward must be one of revenue, acceptance, got 'welfare'"):
        settings_from_config(compose(["agent.reward=welfare"]))


# --- through the loop and the command line --------------------------------------------------

OVERRIDES = ["topology=abilene", "algorithm=ppo", "train.steps=96", "train.checkpoint_every=40", "metrics.window=24",
             "progress=false", "algorithm.rollout=32", "algorithm.minibatch=16", "algorithm.gamma=0.9"]  # fmt: skip


def setup_ppo(extra: list[str] = ()):
    from mdembed.market.build import make_run
    from mdembed.market.run import training_task

    settings = settings_from_config(compose([*OVERRIDES, *extra]))
    algorithm = make_run(settings).algorithm
    return algorithm.learner, training_task(algorithm, settings), settings


def test_ppo_resumes_mid_rollout_exactly(tmp_path, monkeypatch):
    learner, task, settings = setup_ppo(["agent.reward=acceptance"])
    whole, summary = train(learner, task, settings, tmp_path / "whole")
    assert summary["updates"] == 3 and {"learner_approx_kl", "learner_explained_variance"} <= set(whole.columns)

    learner, task, settings = setup_ppo(["agent.reward=acceptance"])
    crash_step_after(monkeypatch, MarketTrainingTask, 50)
    with pytest.raises(KeyboardInterrupt):
        train(learner, task, settings, tmp_path / "cut")
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["learner"]["filled"] == 8  # step 40: mid-rollout
    learner, task, settings = setup_ppo(["agent.reward=acceptance", "resume=true"])
    resumed, _ = train(learner, task, settings, tmp_path / "cut")
    timing = [c for c in whole.columns if c.startswith("decision_time")]
    pd.testing.assert_frame_equal(resumed.drop(columns=timing), whole.drop(columns=timing), check_exact=True)


def run_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mdembed.run", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("algorithm", [["algorithm=ppo"], ["algorithm=ddpg", "algorithm.policy=element", "algorithm.prices=node",
                                                           "algorithm.learning_starts=16", "algorithm.batch_size=16"]])  # fmt: skip
def test_a_per_element_policy_trained_on_one_topology_is_evaluated_on_another(tmp_path, algorithm):
    common = [*algorithm, "progress=false", "train.steps=64", "train.checkpoint_every=64", "metrics.window=16",
              *(["algorithm.rollout=32", "algorithm.minibatch=16"] if "algorithm=ppo" in algorithm else [])]  # fmt: skip
    trained = run_cli(*common, "topology=abilene", "eval.requests=20", f"hydra.run.dir={tmp_path / 'train'}", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    policy = tmp_path / "train" / "policy.pt"
    evaluated = run_cli(*common, "topology=bteurope", "eval.requests=50", "mode=eval", f"checkpoint={policy}",
                        "agent.reward=acceptance", f"hydra.run.dir={tmp_path / 'eval'}", cwd=tmp_path)  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["topology"] == "bteurope" and summary["mode"] == "eval" and summary["requests"] == 50
    # the same policy's prices on BtEurope: the evaluation quotes what the saved weights compute there
    assert len(summary["domain_mean_price"]) == 3


def test_a_flat_policy_is_still_refused_on_another_topology(tmp_path):
    common = ["algorithm=ppo", "algorithm.policy=flat", "progress=false", "train.steps=32", "algorithm.rollout=32",
              "algorithm.minibatch=16", "train.checkpoint_every=32", "eval.requests=10"]  # fmt: skip
    assert run_cli(*common, "topology=abilene", f"hydra.run.dir={tmp_path / 'train'}", cwd=tmp_path).returncode == 0
    result = run_cli(*common, "topology=bteurope", "mode=eval", f"checkpoint={tmp_path / 'train' / 'policy.pt'}",
                     f"hydra.run.dir={tmp_path / 'eval'}", cwd=tmp_path)  # fmt: skip
    one_line(result, r"trained on another substrate")
    assert not (tmp_path / "eval" / "summary.json").exists()


@pytest.mark.parametrize("override,message", [
    (["algorithm=ppo", "algorithm.prices=domain"], r"algorithm.policy=element quotes one price per node resource and per link: it needs algorithm.prices=node, got 'domain'"),
    (["algorithm=ddpg", "algorithm.policy=element"], r"it needs algorithm.prices=node, got 'domain'"),
    (["algorithm=ppo", "algorithm.minibatch=1024"], r"algorithm.minibatch \(1024\) must not exceed algorithm.rollout \(512\)"),
    (["algorithm=ppo", "agent.observe_own_state=false"], r"algorithm.policy=element reads each element's residual share"),
    (["algorithm=ppo", "train.steps=100"], r"ends before the learner.s first update, at step 512 \(algorithm.rollout: one full rollout\)"),
    (["algorithm=ppo", "algorithm.clip=nan"], r"algorithm.clip must be a finite number, got nan"),
    (["algorithm=ppo", "algorithm.clip=0"], r"algorithm.clip must be a finite positive number, got 0"),
])  # fmt: skip
def test_impossible_settings_are_refused_in_one_line(tmp_path, override, message):
    result = run_cli(*override, "progress=false", "eval.requests=10", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    one_line(result, message)
    assert not (tmp_path / "run" / "summary.json").exists()



@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_ppo_trains_and_acts_on_the_gpu():
    sub = make_substrate(3, [(0, 1), (1, 2)], node_domain=[0, 1, 0], link_owner=[0, 1], node_capacity=2.0, bandwidth_mbps=100.0)
    layout = DomainLayout(sub, True, "node")
    ppo = PPO(layout, PPOSettings(rollout=32, minibatch=16, gamma=0.9), seed=0, device="cuda")
    obs = np.random.default_rng(0).uniform(0, 1, (ppo.domains, ppo.obs_dim)).astype(np.float32)
    for _ in range(32):
        action = ppo.act(obs, explore=True)
        losses = ppo.observe(obs, action, np.ones(ppo.domains), obs, False)
    assert losses is not None and all(np.isfinite(list(losses.values())))
    assert ppo.act(obs, explore=False).shape == (ppo.domains, ppo.action_dim)
