"""The environment as a library: ``parallel_env(...)`` builds what the command line's learners train in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from mdembed.market.build import make_algorithm, make_run, make_substrate
from mdembed.config import compose
from mdembed.settings import settings_from_config
from mdembed.env import parallel_env
from mdembed.env.layout import PRICE_GRANULARITIES, DomainLayout
from mdembed.core.errors import ConfigError
from mdembed.network.substrate import substrate_fingerprint

REPO = Path(__file__).resolve().parents[1]


def test_the_defaults_are_the_command_lines_main_job():
    env = parallel_env()
    settings = settings_from_config(compose(["experiment=bteurope"]))
    assert env.settings == settings  # every setting, the algorithm's included: nothing written twice can drift
    assert settings.algorithm["name"] == "ddpg" and settings.algorithm["prices"] == "domain"
    assert env.possible_agents == ["domain_0", "domain_1", "domain_2"]
    for agent in env.possible_agents:  # prices=domain: one price per node resource (3) and one per Mbit/s
        assert env.action_space(agent).shape == (4,)
        box = env.action_space(agent)
        assert (box.low == settings.market.price_min).all() and (box.high == settings.market.price_max).all()
    # an episode is the seed's training workload, as the command line's learner trains on
    assert env.workload_stream == "train" and env.workload_settings.num_requests == settings.train.steps
    assert env.layout.observe_own_state and env.reward == settings.agent.reward


def test_the_agents_get_the_layout_and_the_steps_of_the_command_lines_ddpg():
    from mdembed.market.run import training_task

    env = parallel_env(steps=40, overrides=["algorithm.buffer_size=100"])
    settings = env.settings
    algorithm = make_algorithm(settings, make_substrate(settings.topology, settings.seed))  # the command line's DDPG
    layout = algorithm.layout
    assert [env.action_space(a).shape[0] for a in env.possible_agents] == layout.action_dims
    assert [env.observation_space(a).shape[0] for a in env.possible_agents] == layout.obs_dims
    task = training_task(algorithm, settings)  # what the command line trains it in
    observations, _ = env.reset(seed=settings.seed)
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert np.array_equal(layout.stack([observations[a] for a in env.possible_agents]), task.observation())
        action = rng.uniform(-1.0, 1.0, (layout.num_domains, layout.max_action_dim))  # the learner's normalized action
        _, reward, _ = task.step(action)
        prices = layout.price_vectors(action, settings.market.price_min, settings.market.price_max)
        observations, rewards, *_ = env.step(dict(zip(env.possible_agents, prices)))
        assert np.allclose([rewards[a] for a in env.possible_agents], reward)
    task.close()


@pytest.mark.parametrize("topology,num_domains,seed", [("bteurope", 3, 0), ("abilene", 2, 7)])
def test_the_substrate_is_the_one_a_run_builds(topology, num_domains, seed):
    env = parallel_env(topology=topology, num_domains=num_domains, seed=seed, steps=10)
    assert (env.settings.topology.name, env.settings.topology.num_domains, env.settings.seed) == (topology, num_domains, seed)
    expected = make_substrate(env.settings.topology, seed)
    assert substrate_fingerprint(env.substrate) == substrate_fingerprint(expected)
    assert np.array_equal(env.substrate.node_capacity, expected.node_capacity)
    assert env.substrate.num_domains == num_domains == len(env.possible_agents)


@pytest.mark.parametrize("prices", PRICE_GRANULARITIES)
def test_pettingzoos_parallel_api_test_passes(prices):
    env = parallel_env(prices=prices, steps=60)
    expected = DomainLayout(env.substrate, True, prices)
    assert [env.action_space(a).shape[0] for a in env.possible_agents] == expected.action_dims
    parallel_api_test(env, num_cycles=80)


def test_a_random_episode_runs_to_its_end_and_repeats_with_its_seed():
    def episode() -> list:
        env = parallel_env(seed=1, steps=8)
        observations, _ = env.reset(seed=1)
        seen = []
        while env.agents:
            for i, agent in enumerate(env.possible_agents):
                env.action_space(agent).seed(i)
            actions = {a: env.action_space(a).sample() for a in env.agents}
            observations, rewards, terminations, truncations, infos = env.step(actions)
            for agent in env.possible_agents:
                assert env.observation_space(agent).contains(observations[agent])
                assert np.isfinite(rewards[agent]) and rewards[agent] >= 0
                assert isinstance(infos[agent]["accepted"], bool)
            seen.append((observations, rewards))
        assert not any(terminations.values()) and all(truncations.values())  # the workload's end is a time limit
        env.close()
        return seen

    first, second = episode(), episode()
    assert len(first) == 8
    for (obs_a, rew_a), (obs_b, rew_b) in zip(first, second):
        assert rew_a == rew_b
        assert all(np.array_equal(obs_a[a], obs_b[a]) for a in obs_a)


def test_overrides_and_the_evaluation_workload():
    env = parallel_env(phase="eval", steps=30, seed=2, overrides=["market.price_max=20", "eval.seed=5", "algorithm.buffer_size=100"])
    assert env.action_space("domain_0").high.max() == 20
    assert env.workload_stream == "workload" and env.settings.eval_seed == 5
    env.reset(seed=env.settings.eval_seed)
    expected = make_run(env.settings).requests  # the evaluation workload every algorithm of that run is measured on
    assert len(env.requests) == len(expected) == 30
    assert [r.arrival for r in env.requests] == [r.arrival for r in expected]
    assert all(np.array_equal(a.vnf_demand, b.vnf_demand) for a, b in zip(env.requests, expected))


@pytest.mark.parametrize("kwargs,message", [
    ({"prices": "bogus"}, "algorithm.prices must be one of"),
    ({"algorithm": "cff_3d"}, "quotes no learned prices"),
    ({"overrides": ["market.bogus=1"]}, "unknown key market.bogus"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"phase": "test"}, "phase must be one of"),
])  # fmt: skip
def test_a_bad_setting_is_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        parallel_env(**kwargs)


def test_the_usage_example_of_docs_library_runs(capsys):
    text = (REPO / "docs" / "library.md").read_text()
    example = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    exec(compile(example, "docs/library.md", "exec"), {})
    assert "domain_0" in capsys.readouterr().out


@pytest.mark.slow
def test_the_stable_baselines3_example_trains_and_reports(tmp_path):
    pytest.importorskip("stable_baselines3")
    script = REPO / "examples" / "sb3_one_domain.py"
    result = subprocess.run(
        [sys.executable, str(script), "--steps", "64", "--requests", "50", "--eval-requests", "30"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    fixed = re.search(r"^fixed price: mean reward (-?[0-9.]+)$", result.stdout, re.MULTILINE)
    learned = re.search(r"^PPO \(64 steps\): mean reward (-?[0-9.]+)$", result.stdout, re.MULTILINE)
    assert fixed and learned, result.stdout
    assert float(fixed.group(1)) >= 0 and float(learned.group(1)) >= 0
