"""One domain of the market learns its prices with Stable-Baselines3 PPO; the other domains quote mid-range prices.

    pip install -e '.[sb3]'
    python examples/sb3_one_domain.py --steps 4096
"""

import argparse

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env

from mdembed.env import parallel_env


class OneDomain(gym.Env):
    """Domain ``domain`` of parallel_env(): normalized prices in [-1, 1] (0: mid-range), rewarded with its revenue."""

    def __init__(self, domain: int = 0, requests: int = 500, seed: int = 0):
        self.market = parallel_env(seed=seed, steps=requests)  # the command line's defaults: BtEurope, 3 domains, DDPG's layout
        self.me = self.market.possible_agents[domain]
        box = self.market.action_space(self.me)
        self.low, self.high = box.low, box.high
        self.observation_space = self.market.observation_space(self.me)
        self.action_space = gym.spaces.Box(-1.0, 1.0, box.shape, np.float32)
        mid = {a: (self.market.action_space(a).low + self.market.action_space(a).high) / 2 for a in self.market.possible_agents}
        self.others = {a: p for a, p in mid.items() if a != self.me}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        observations, _ = self.market.reset(seed=int(self.np_random.integers(2**31)))  # a new workload each episode
        return observations[self.me], {}

    def step(self, action):
        prices = self.low + (np.clip(action, -1.0, 1.0) + 1.0) / 2.0 * (self.high - self.low)
        observations, rewards, _, truncations, _ = self.market.step({**self.others, self.me: prices})
        return observations[self.me], rewards[self.me], False, truncations[self.me], {}


def mean_reward(env: OneDomain, act, seed: int) -> float:
    """Mean revenue per request of the domain over one episode of workload seed ``seed``."""
    obs, _ = env.reset(seed=seed)
    rewards, done = [], False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        rewards.append(reward)
        done = terminated or truncated
    return float(np.mean(rewards))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4096, help="PPO training steps (requests)")
    parser.add_argument("--requests", type=int, default=500, help="requests per training episode")
    parser.add_argument("--eval-requests", type=int, default=1000, help="requests of the evaluation episode")
    args = parser.parse_args()
    torch.set_num_threads(1)
    check_env(OneDomain(requests=args.requests))
    n_steps = min(256, args.steps)
    model = PPO("MlpPolicy", OneDomain(requests=args.requests, seed=0), n_steps=n_steps, batch_size=min(64, n_steps), seed=0, verbose=0)
    model.learn(total_timesteps=args.steps)
    test = OneDomain(requests=args.eval_requests)
    fixed = mean_reward(test, lambda obs: np.zeros(test.action_space.shape, np.float32), seed=12345)
    learned = mean_reward(test, lambda obs: model.predict(obs, deterministic=True)[0], seed=12345)
    print(f"fixed price: mean reward {fixed:.3f}")
    print(f"PPO ({args.steps} steps): mean reward {learned:.3f}")
