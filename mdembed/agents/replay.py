"""DDPG's and TD3's replay buffer: the transitions of every domain at once, saved compactly.

Every domain sees the same request tensor and the smaller domains' rows are
zero-padded to the largest one, so a saved buffer keeps the request once per
transition and drops the padding (:func:`_pack`); loading restores the rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mdembed.env.layout import TENSOR_SIZE
from mdembed.learning.transitions import TransitionBuffer


class ReplayBuffer(TransitionBuffer):
    """A ring buffer of transitions for all domains at once, sampled uniformly.

    Given each domain's observation and action sizes, its saved state keeps
    the request tensor once per transition (every domain sees the same one)
    and drops the zero padding of the smaller domains; a buffer whose
    padding is not zero (filled by hand) is saved whole.
    """

    def __init__(
        self, capacity: int, domains: int, obs_dim: int, action_dim: int, device: torch.device | str = "cpu",
        obs_dims: list[int] | None = None, action_dims: list[int] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(capacity, (domains, obs_dim), (domains, action_dim), torch.float32, (domains,), device)
        self.obs_dims = obs_dims or [obs_dim] * domains
        self.action_dims = action_dims or [action_dim] * domains

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """A batch with a domain axis first: obs (D, B, obs_dim), reward (D, B), done (B,)."""
        return self.batch(rng.integers(0, self.size, size=batch_size))

    def batch(self, idx: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """The transitions in slots ``idx``, domain axis first."""
        batch = self.gather(idx)
        return {key: value if key == "done" else value.transpose(0, 1).contiguous() for key, value in batch.items()}

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        for key, dims in (("obs", self.obs_dims), ("next_obs_own", self.obs_dims), ("action", self.action_dims)):
            state[key] = _pack(state[key], dims, key != "action")
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        obs_width, action_width = self.obs.shape[2], self.action.shape[2]
        unpacked = dict(state)
        for key, dims, width in (("obs", self.obs_dims, obs_width), ("next_obs_own", self.obs_dims, obs_width),
                                 ("action", self.action_dims, action_width)):  # fmt: skip
            unpacked[key] = _unpack(state[key], dims, width)
        super().load_state_dict(unpacked)


def _pack(x: torch.Tensor, dims: list[int], shared_request: bool) -> dict[str, torch.Tensor]:
    """(n, D, W) rows -> each domain's first dims[d] columns, side by side, and the request tensor once.

    Falls back to the whole array when what it would drop is not exactly
    zero padding (or the domains' request parts differ).
    """
    start = TENSOR_SIZE if shared_request else 0
    padding_is_zero = all(not x[:, d, dim:].any() for d, dim in enumerate(dims))
    same_request = not shared_request or bool((x[:, :, :start] == x[:, :1, :start]).all())
    if not (padding_is_zero and same_request):
        return {"whole": x}
    own = torch.cat([x[:, d, start:dim] for d, dim in enumerate(dims)], dim=1)
    return {"request": x[:, 0, :start].clone(), "own": own}


def _unpack(packed: dict[str, torch.Tensor], dims: list[int], width: int) -> torch.Tensor:
    if "whole" in packed:
        return packed["whole"]
    request, own = packed["request"], packed["own"]
    start = request.shape[1]
    out = torch.zeros(own.shape[0], len(dims), width, dtype=own.dtype)
    out[:, :, :start] = request[:, None, :]
    offset = 0
    for d, dim in enumerate(dims):
        out[:, d, start:dim] = own[:, offset : offset + dim - start]
        offset += dim - start
    return out
