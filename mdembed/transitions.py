"""The transition memory both learners replay from (DDPG uniformly, the DQN by priority)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

FIELDS = ("obs", "next_obs", "action", "reward", "done")


class TransitionBuffer:
    """The last ``capacity`` transitions (obs, action, reward, next_obs, done); the oldest is overwritten first.

    Shapes are per transition: a learner for several domains at once stores
    a domain axis in ``obs_shape``, ``action_shape`` and ``reward_shape``.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...] = (),
        action_dtype: type = np.float32,
        reward_shape: tuple[int, ...] = (),
    ) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.action = np.zeros((capacity, *action_shape), dtype=action_dtype)
        self.reward = np.zeros((capacity, *reward_shape), dtype=np.float32)
        self.done = np.zeros(capacity, dtype=np.float32)
        self.size = 0
        self.position = 0

    def add(self, obs: Any, action: Any, reward: Any, next_obs: Any, done: bool) -> int:
        """Store one transition; the slot it went into."""
        i = self.position
        self.obs[i], self.action[i], self.reward[i], self.next_obs[i], self.done[i] = obs, action, reward, next_obs, done
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        return i

    def state_dict(self) -> dict[str, Any]:
        n = self.size
        return {**{key: torch.from_numpy(getattr(self, key)[:n].copy()) for key in FIELDS}, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = len(state["done"])
        if n > self.capacity or state["obs"].shape[1:] != self.obs.shape[1:]:
            raise ValueError("the saved replay buffer does not fit this agent's shapes")
        for key in FIELDS:
            getattr(self, key)[:n] = state[key].numpy()
        self.size = n
        self.position = int(state["position"])
