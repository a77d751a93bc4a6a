"""DC scenario learner parts: the sum tree, importance weights, double-DQN targets, the dueling head, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from mdembed.dc.dqn import DQNAgent, combine, double_dqn_target, epsilon, valid_actions
from mdembed.dc.env import ALLOCATE, NUM_ACTIONS, UNINSTALL, ObservationLayout
from mdembed.dc.replay import PrioritizedReplay, SumTree, importance_weights
from mdembed.dc.settings import DCTrainSettings, DQNSettings

LAYOUT = ObservationLayout(max_chains=4, max_pending=3)
SMALL = DQNSettings(embed_dim=16, heads=2, hidden=16, batch_size=4, buffer_size=64, learning_starts=0,
                    max_chains=4, max_pending=3)  # fmt: skip


def test_sum_tree_sums_and_finds_by_prefix():
    tree = SumTree(5)  # not a power of two: 8 leaves, 3 unused
    tree.update(np.arange(5), [1.0, 2.0, 0.0, 3.0, 4.0])
    assert tree.total == 10.0
    # cumulative ranges: slot 0 (0, 1], slot 1 (1, 3], slot 2 empty, slot 3 (3, 6], slot 4 (6, 10]
    found = tree.find(np.array([0.0, 0.5, 1.0, 1.01, 3.0, 3.5, 6.0, 6.5, 10.0]))
    assert found.tolist() == [0, 0, 0, 1, 1, 3, 3, 4, 4]
    tree.update([4, 4], [0.5, 0.5])  # a repeated slot in one update
    assert tree.total == 6.5
    assert tree.tree[1] == tree.tree[2] + tree.tree[3]


def test_sum_tree_samples_in_proportion_to_priority():
    """Chi-square goodness of fit of 200,000 draws against p_i / sum p."""
    rng = np.random.default_rng(0)
    priorities = rng.uniform(0.05, 5.0, size=37)
    priorities[[3, 20]] = [10.0, 0.01]
    tree = SumTree(len(priorities))
    tree.update(np.arange(len(priorities)), priorities)
    draws = tree.find(rng.uniform(0, tree.total, size=200_000))
    counts = np.bincount(draws, minlength=len(priorities))
    expected = priorities / priorities.sum() * len(draws)
    assert counts.sum() == len(draws) and len(counts) == len(priorities)
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # and the test has power: uniform sampling would be rejected outright
    assert stats.chisquare(np.full(len(priorities), len(draws) / len(priorities)), expected).pvalue < 1e-12


def test_prioritized_replay_stratifies_and_weights_by_hand():
    replay = PrioritizedReplay(capacity=4, obs_dim=1, alpha=0.5, eps=0.0)
    for i in range(4):
        replay.add(np.array([i], dtype=np.float32), i, float(i), np.array([i], dtype=np.float32), False)
    replay.update_priorities(np.arange(4), np.array([1.0, 4.0, 9.0, 16.0]))  # p^alpha = 1, 2, 3, 4; total 10
    batch, idx = replay.sample(batch_size=2, beta=0.5, rng=np.random.default_rng(0))
    # stratified: one draw in [0, 5) (slots 0-1 and the start of 2), one in [5, 10) (slots 2-3)
    assert idx[0] in (0, 1, 2) and idx[1] in (2, 3)
    probs = np.array([1.0, 2.0, 3.0, 4.0])[idx] / 10.0
    expected = (4 * probs) ** -0.5
    np.testing.assert_allclose(batch["weights"].numpy(), expected / expected.max(), rtol=1e-6)
    assert batch["action"].tolist() == idx.tolist()
    assert replay.max_priority == 16.0


def test_importance_weights_by_hand():
    # N = 4, P = (0.1, 0.2, 0.3, 0.4), beta = 1: w = 1 / (4 P) = 2.5, 1.25, 0.8333, 0.625; / max
    w = importance_weights(np.array([0.1, 0.2, 0.3, 0.4]), 4, beta=1.0)
    np.testing.assert_allclose(w, [1.0, 0.5, 1 / 3, 0.25])
    # beta = 0: no correction
    np.testing.assert_allclose(importance_weights(np.array([0.1, 0.9]), 2, beta=0.0), [1.0, 1.0])


def test_double_dqn_target_by_hand():
    reward = torch.tensor([1.0, -1.5, 2.0])
    done = torch.tensor([0.0, 0.0, 1.0])
    online = torch.tensor([[0.0, 5.0, 1.0], [3.0, 2.0, 1.0], [9.0, 0.0, 0.0]])  # picks actions 1, 0, 0
    target = torch.tensor([[10.0, 2.0, 30.0], [4.0, 8.0, 9.0], [7.0, 7.0, 7.0]])  # rates them 2, 4, (ignored)
    got = double_dqn_target(reward, done, online, target, gamma=0.5)
    assert got.tolist() == [1.0 + 0.5 * 2.0, -1.5 + 0.5 * 4.0, 2.0]
    # not the max of the target network (that would be plain DQN: 1 + 15, -1.5 + 4.5)
    assert got[0] != 1.0 + 0.5 * 30.0


def test_dueling_head_mean_advantage_identity():
    value = torch.tensor([[2.0], [-1.0]])
    advantage = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]])
    q = combine(value, advantage)
    assert q.tolist() == [[1.0, 2.0, 3.0], [-3.0, -3.0, 3.0]]
    # in the real network too: the mean over actions of Q is V, and Q - V has zero mean
    agent = DQNAgent(LAYOUT, DQNSettings(**{**SMALL.__dict__, "type_head": False}), seed=0, total_steps=100)
    obs = torch.rand(5, LAYOUT.size)
    features = agent.online.encoder(obs)
    v = agent.online.head.value(features)
    q = agent.online(obs)
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), v)
    torch.testing.assert_close(q - v, agent.online.head.advantage(features) - agent.online.head.advantage(features).mean(1, keepdim=True))


def test_attention_ignores_absent_entities():
    agent = DQNAgent(LAYOUT, SMALL, seed=0, total_steps=100)
    obs = torch.rand(1, LAYOUT.size)
    glob, types, chains, pending = LAYOUT.split(obs)
    chains[..., 0] = 0.0  # no chain present: their rows must not matter
    pending[:, 1:, 0] = 0.0  # one pending request present
    pending[:, 0, 0] = 1.0
    base = agent.online(obs.clone())
    noisy = obs.clone()
    _, _, c2, p2 = LAYOUT.split(noisy)
    c2[..., 1:] = 7.0
    p2[:, 1:, 1:] = -3.0
    torch.testing.assert_close(agent.online(noisy), base)
    p2[:, 0, 1] += 1.0  # the present one does
    assert not torch.allclose(agent.online(noisy), base)


def test_epsilon_decays_per_episode_under_the_phase_caps():
    agent = DQNSettings(epsilon_decay=0.9)
    train = DCTrainSettings(episodes=20, phase_epsilon=(1.0, 0.8, 0.5, 0.2), phase_fractions=(0.25, 0.25, 0.25, 0.25))
    values = [epsilon(agent, train, e) for e in range(20)]
    assert values[0] == 1.0 and values[1] == pytest.approx(0.9)
    assert [train.phase(e) for e in (0, 4, 5, 9, 10, 14, 15, 19)] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert values[5] == pytest.approx(min(0.8, 0.9**5)) and values[10] == pytest.approx(min(0.5, 0.9**10))
    assert values[15] == 0.2 and values[19] == pytest.approx(0.9**19)  # the decay goes on under the cap
    assert all(a >= b for a, b in zip(values, values[1:]))
    floor = DQNSettings(epsilon_decay=0.5, epsilon_min=0.05)
    assert epsilon(floor, DCTrainSettings(episodes=100), 90) == 0.05


def _trained_agent() -> DQNAgent:
    agent = DQNAgent(LAYOUT, SMALL, seed=3, total_steps=50)
    rng = np.random.default_rng(1)
    for _ in range(20):
        obs = rng.random(LAYOUT.size, dtype=np.float32)
        agent.observe(obs, int(rng.integers(NUM_ACTIONS)), float(rng.normal()), rng.random(LAYOUT.size, dtype=np.float32), False)
    return agent


def test_learning_moves_the_q_values_and_priorities():
    agent = _trained_agent()
    fresh = DQNAgent(LAYOUT, SMALL, seed=3, total_steps=50)
    obs = np.random.default_rng(2).random(LAYOUT.size, dtype=np.float32)
    assert agent.updates == 9  # every second step once the buffer holds a batch: steps 4, 6, ..., 20
    assert not np.allclose(agent.q_values(obs), fresh.q_values(obs))
    leaves = agent.replay.tree.priorities(np.arange(20))
    assert len(set(np.round(leaves, 9))) > 2  # updated from TD errors, no longer all the initial max
    assert 0.4 < agent.beta < 1.0


def test_save_load_round_trip_gives_identical_q_values(tmp_path):
    from mdembed.learning.loop import load_checkpoint, save_checkpoint

    agent = _trained_agent()
    save_checkpoint(tmp_path / "a.pt", {"agent": agent.state_dict()})
    copy = DQNAgent(LAYOUT, SMALL, seed=99, total_steps=50)
    copy.load_state_dict(load_checkpoint(tmp_path / "a.pt")["agent"])  # weights_only=True
    obs = np.random.default_rng(5).random((7, LAYOUT.size), dtype=np.float32)
    assert np.array_equal(copy.q_values(obs), agent.q_values(obs))
    assert np.array_equal(copy.target(torch.from_numpy(obs)).detach().numpy(), agent.target(torch.from_numpy(obs)).detach().numpy())
    # and learning continues identically: same replay, priorities, random streams and optimizer state
    assert copy.update() == agent.update()
    assert np.array_equal(copy.q_values(obs), agent.q_values(obs))
    assert [copy.act(o, 0.5) for o in obs] == [agent.act(o, 0.5) for o in obs]


def test_n_step_transitions_sum_the_discounted_rewards_and_stop_at_an_episode_start():
    settings = DQNSettings(**{**SMALL.__dict__, "n_step": 3, "gamma": 0.5, "learning_starts": 10_000})
    agent = DQNAgent(LAYOUT, settings, seed=0, total_steps=100)
    states = [np.full(LAYOUT.size, i, dtype=np.float32) for i in range(8)]
    for i, reward in enumerate([1.0, 2.0, 4.0, 8.0]):  # one episode: s0 -> s1 -> ... -> s4
        agent.observe(states[i], i, reward, states[i + 1], False)
    assert agent.replay.size == 2  # (s0, 3 rewards, s3) and (s1, 3 rewards, s4); s2 and s3 wait for more
    assert agent.replay.reward[:2].tolist() == [1.0 + 0.5 * 2.0 + 0.25 * 4.0, 2.0 + 0.5 * 4.0 + 0.25 * 8.0]
    assert agent.replay.next_obs[0, 0] == 3 and agent.replay.next_obs[1, 0] == 4
    agent.observe(states[6], 6, 16.0, states[7], False)  # a new episode (s6 is not s4): s2 and s3 are dropped
    assert agent.replay.size == 2 and len(agent.pending) == 1
    agent.observe(states[7], 7, 32.0, states[0], True)  # a terminal step: the waiting returns end there
    assert agent.replay.size == 4
    assert agent.replay.reward[2:4].tolist() == [16.0 + 0.5 * 32.0, 32.0] and agent.replay.done[2:4].tolist() == [1.0, 1.0]


def test_masked_agents_never_pick_an_invalid_action():
    from mdembed.dc.env import DataCentreEnv
    from mdembed.dc.settings import DataCentreSettings, DCWorkloadSettings

    dc = DataCentreSettings(initial_instances=(3, 1, 0, 0, 1), capacity=(26.0, 224.0, 48_000.0))  # 24 cores held: 2 left
    env = DataCentreEnv(dc, DCWorkloadSettings(), 10, LAYOUT.max_chains, LAYOUT.max_pending)
    obs, _ = env.reset(seed=0)
    valid = valid_actions(LAYOUT, torch.as_tensor(obs)[None])[0].numpy()
    by_hand = [env.can_allocate(k) if op == ALLOCATE else env.can_uninstall(k) if op == UNINSTALL else True
               for k in range(5) for op in range(3)]  # fmt: skip
    assert valid.tolist() == by_hand and by_hand.count(False) == 6  # allocate: only type 3 fits; uninstall: 0, 1, 4
    masked = DQNAgent(LAYOUT, DQNSettings(**{**SMALL.__dict__, "mask_invalid": True}), seed=0, total_steps=10)
    assert all(by_hand[masked.epsilon_greedy(obs, eps)] for eps in (0.0, 1.0) for _ in range(200))
    assert np.isneginf(masked.q_values(obs)[~valid]).all() and np.isfinite(masked.q_values(obs)[valid]).all()


def test_the_type_head_gives_each_type_its_advantages_from_one_shared_network():
    agent = DQNAgent(LAYOUT, SMALL, seed=0, total_steps=100)  # type_head: the default
    features = torch.rand(3, agent.online.encoder.out_dim)
    q = agent.online.head(features)
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), agent.online.head.value(features))
    dim = SMALL.embed_dim
    swapped = features.clone()  # exchange the tokens of types 1 and 3: their three advantages exchange too
    swapped[:, 2 * dim + dim : 2 * dim + 2 * dim], swapped[:, 2 * dim + 3 * dim : 2 * dim + 4 * dim] = \
        features[:, 2 * dim + 3 * dim : 2 * dim + 4 * dim], features[:, 2 * dim + dim : 2 * dim + 2 * dim]
    advantage = q - agent.online.head.value(features)
    advantage_swapped = agent.online.head(swapped) - agent.online.head.value(swapped)
    torch.testing.assert_close(advantage_swapped[:, 3:6], advantage[:, 9:12])
    torch.testing.assert_close(advantage_swapped[:, 9:12], advantage[:, 3:6])
    torch.testing.assert_close(advantage_swapped[:, [0, 1, 2, 6, 7, 8, 12, 13, 14]], advantage[:, [0, 1, 2, 6, 7, 8, 12, 13, 14]])


def test_a_checkpoint_holding_the_random_state_as_a_dict_still_resumes_identically(tmp_path):
    """DQN checkpoints written before the learners shared one format kept the numpy Generator's state as a dict."""
    from mdembed.learning.loop import load_checkpoint, save_checkpoint

    agent = _trained_agent()
    state = agent.state_dict()
    assert isinstance(state["rng"], torch.Tensor)  # today's format, as TD3's and PPO's
    state["rng"] = agent.rng.bit_generator.state  # the format of before
    save_checkpoint(tmp_path / "old.pt", {"agent": state})
    copy = DQNAgent(LAYOUT, SMALL, seed=99, total_steps=50)
    copy.load_state_dict(load_checkpoint(tmp_path / "old.pt")["agent"])
    assert copy.update() == agent.update()
    obs = np.random.default_rng(5).random((7, LAYOUT.size), dtype=np.float32)
    assert [copy.act(o, 0.5) for o in obs] == [agent.act(o, 0.5) for o in obs]
