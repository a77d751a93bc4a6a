"""Prioritized experience replay on a sum tree (Schaul et al. 2016, proportional variant).

A transition i is drawn with probability ``P(i) = p_i^alpha / sum_j p_j^alpha``,
``p_i = |TD error| + eps``; new transitions get the largest priority seen so
far, so each is replayed at least once soon. The loss of a drawn transition
is weighted by ``w_i = (N * P(i))^-beta``, normalized by the largest weight
in its batch so that weights only scale updates down.

:class:`SumTree` keeps the priorities in the leaves of a complete binary
tree (1-based heap layout over a power-of-two number of leaves, so every
leaf lies at the same depth); each internal node holds the sum of its two
children. Updating a priority and finding the leaf at a prefix sum both
walk one root-to-leaf path: O(log n), done for a whole batch at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mdembed.learning.transitions import TransitionBuffer


class SumTree:
    """Non-negative priorities of ``capacity`` slots with O(log n) update and prefix-sum search."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.depth = self.depth_for(capacity)
        self.leaves = 1 << self.depth
        self.tree = np.zeros(2 * self.leaves, dtype=np.float64)

    @staticmethod
    def depth_for(capacity: int) -> int:
        """Levels below the root: the leaves are the smallest power of two (at least 2) holding ``capacity`` slots."""
        return max(1, (int(capacity) - 1).bit_length())

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def priorities(self, index: np.ndarray | int) -> np.ndarray:
        return self.tree[self.leaves + np.asarray(index)]

    def update(self, index: np.ndarray | int, priority: np.ndarray | float) -> None:
        """Set the priorities of slots ``index`` and recompute their ancestors, level by level."""
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        priority = np.broadcast_to(np.asarray(priority, dtype=np.float64), index.shape)
        if (priority < 0).any() or not np.isfinite(priority).all():
            raise ValueError("priorities must be finite and non-negative")
        nodes = self.leaves + index
        self.tree[nodes] = priority  # a repeated index keeps its last priority
        for _ in range(self.depth):
            nodes = np.unique(nodes >> 1)
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]

    def find(self, values: np.ndarray) -> np.ndarray:
        """For each value in [0, total], the slot whose cumulative priority range holds it."""
        values = np.array(values, dtype=np.float64, copy=True)
        nodes = np.ones(len(values), dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * nodes
            right = values > self.tree[left]
            values = np.where(right, values - self.tree[left], values)
            nodes = np.where(right, left + 1, left)
        return nodes - self.leaves


class PrioritizedReplay(TransitionBuffer):
    """A ring buffer of (obs, action, reward, next_obs, terminated) sampled by priority."""

    def __init__(self, capacity: int, obs_dim: int, alpha: float, eps: float, device: torch.device | str = "cpu") -> None:
        super().__init__(capacity, (obs_dim,), action_dtype=torch.int64, device=device)
        self.alpha = alpha
        self.eps = eps
        self.tree = SumTree(capacity)
        self.max_priority = 1.0  # of |TD error| + eps, before the alpha exponent

    @staticmethod
    def nbytes(capacity: int, obs_dim: int) -> int:
        """Memory the buffer takes: per slot two float32 observations, an int64 action, a float32 reward and done flag;
        and the sum tree's float64 nodes, twice as many as its leaves."""
        return capacity * (2 * 4 * obs_dim + 8 + 4 + 4) + 2 * 8 * (1 << SumTree.depth_for(capacity))

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, done: bool) -> int:
        i = super().add(obs, action, reward, next_obs, done)
        self.tree.update(i, self.max_priority**self.alpha)
        return i

    def sample(self, batch_size: int, beta: float, rng: np.random.Generator) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """A batch drawn by priority (one draw per equal slice of the total: stratified), and its slots.

        The batch holds ``weights``, the normalized importance-sampling weights.
        """
        total = self.tree.total
        values = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        idx = np.minimum(self.tree.find(values), self.size - 1)  # float rounding at the very end of the range
        weights = importance_weights(self.tree.priorities(idx) / total, self.size, beta)
        batch = {**self.gather(idx), "weights": torch.from_numpy(weights.astype(np.float32)).to(self.device)}
        return batch, idx

    def update_priorities(self, idx: np.ndarray, td_errors: np.ndarray) -> None:
        priority = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.eps
        self.max_priority = max(self.max_priority, float(priority.max()))
        self.tree.update(idx, priority**self.alpha)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "tree": torch.from_numpy(self.tree.tree.copy()), "max_priority": self.max_priority}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["tree"].shape != self.tree.tree.shape:  # before the buffer is touched, as its own checks are
            raise ValueError("the saved replay buffer does not fit this agent's shapes")
        super().load_state_dict(state)
        self.tree.tree[:] = state["tree"].numpy()
        self.max_priority = float(state["max_priority"])


def importance_weights(probabilities: np.ndarray, size: int, beta: float) -> np.ndarray:
    """``(N * P(i))^-beta`` divided by the batch's largest weight."""
    weights = (size * np.asarray(probabilities, dtype=np.float64)) ** (-beta)
    return weights / weights.max()
