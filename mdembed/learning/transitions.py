"""The transition memory both learners replay from (DDPG uniformly, the DQN by priority).

The transitions live as torch tensors on the learner's device, so a batch
is gathered where the networks are. Its saved state (for exact resume) is
compact: a transition's next observation is almost always the observation
of the transition written after it, and is then stored as that link, not
copied; only the others (an episode's last step, the newest transition)
keep their own copy. The links are checked value by value, so the
restored buffer is identical whatever the environment does.
"""

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
        action_dtype: torch.dtype = torch.float32,
        reward_shape: tuple[int, ...] = (),
        device: torch.device | str = "cpu",
    ) -> None:
        self.capacity = capacity
        self.device = torch.device(device)

        def zeros(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.zeros((capacity, *shape), dtype=dtype, device=self.device)

        self.obs = zeros(obs_shape)
        self.next_obs = zeros(obs_shape)
        self.action = zeros(action_shape, action_dtype)
        self.reward = zeros(reward_shape)
        self.done = zeros(())
        self.size = 0
        self.position = 0

    def add(self, obs: Any, action: Any, reward: Any, next_obs: Any, done: bool) -> int:
        """Store one transition; the slot it went into."""
        i = self.position
        for key, value in (("obs", obs), ("action", action), ("reward", reward), ("next_obs", next_obs)):
            slot = getattr(self, key)[i]
            slot.copy_(torch.as_tensor(np.asarray(value), dtype=slot.dtype))
        self.done[i] = float(done)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        return i

    def gather(self, idx: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """The transitions in slots ``idx`` (an array, or an index tensor already on the device), on the buffer's device."""
        if not isinstance(idx, torch.Tensor):
            idx = torch.from_numpy(np.asarray(idx, dtype=np.int64)).to(self.device)
        return {key: getattr(self, key).index_select(0, idx) for key in FIELDS}

    def _linked(self) -> torch.Tensor:
        """(size,) whether slot i's next observation equals the observation of the slot written after it."""
        n = self.size
        following = torch.arange(1, n + 1, device=self.device) % self.capacity
        linked = (self.next_obs[:n] == self.obs[following]).flatten(1).all(dim=1)
        if n:
            linked[(self.position - 1) % self.capacity] = False  # the slot after the newest holds the oldest, or nothing
        return linked

    def state_dict(self) -> dict[str, Any]:
        """The stored transitions on the CPU, next observations by link where they can be."""
        n = self.size
        linked = self._linked()
        state = {key: getattr(self, key)[:n].cpu().clone() for key in ("obs", "action", "reward", "done")}
        state["next_obs_linked"] = linked.cpu()
        state["next_obs_own"] = self.next_obs[:n][~linked].cpu()
        return {**state, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "next_obs_linked" not in state:
            raise ValueError("its replay buffer was saved by an older mdembed (before compact buffers); train again")
        n = len(state["done"])
        if n > self.capacity or tuple(state["obs"].shape[1:]) != tuple(self.obs.shape[1:]):
            raise ValueError("the saved replay buffer does not fit this agent's shapes")
        for key in ("obs", "action", "reward", "done"):
            getattr(self, key)[:n] = state[key].to(self.device)
        linked = state["next_obs_linked"].to(self.device)
        following = torch.arange(1, n + 1, device=self.device) % self.capacity
        next_obs = self.obs[following].clone()
        next_obs[~linked] = state["next_obs_own"].to(self.device)
        self.next_obs[:n] = next_obs
        self.size = n
        self.position = int(state["position"])
