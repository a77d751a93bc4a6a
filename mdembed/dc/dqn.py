"""Dueling double DQN with attention over the state's entities (DESIGN 7).

The Q-network reads the flat observation as entity tables
(:class:`~mdembed.dc.env.ObservationLayout`): one global token, one token per
VNF type, a token per active chain and per pending request. Each kind has
its own linear embedding; one transformer block (multi-head self-attention
with a key padding mask for absent chains and requests, then a feed-forward
layer, each with a residual connection and layer norm) mixes them. The
features are the global token, the mean over present tokens and the five
type tokens (each action belongs to one type). A dueling head gives
``Q = V + A - mean(A)``: the value from all the features; the advantages
from all of them too (``type_head: false``), or, with ``type_head``, each
type's three from one small network shared by the types, applied to that
type's token with the global token and the mean (a type's allocate then
means the same thing whichever type it is: what it learns for one type
carries to the others).

Learning: double DQN targets over ``n_step`` steps, ``R + gamma^n (1 -
terminated) Q_target(s', argmax_a Q_online(s', a))`` with R the discounted
sum of the n rewards (episode ends are truncations and keep bootstrapping),
a Huber loss weighted by prioritized replay's importance weights, priorities
set to the new |TD errors|, the target network copied every
``target_update_every`` steps, beta annealed linearly from ``beta_start`` to
1 over the training steps.

With ``mask_invalid`` the agent never picks an action the observation marks
invalid (allocate where the instance does not fit, uninstall where no
instance is idle): not greedily, not when exploring, not in the target's
argmax. Waiting is always valid.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mdembed.core import memory
from mdembed.dc.env import ALLOCATE, NUM_ACTIONS, UNINSTALL, ObservationLayout
from mdembed.dc.replay import PrioritizedReplay
from mdembed.dc.settings import NUM_TYPES, DCTrainSettings, DQNSettings
from mdembed.core.errors import ConfigError
from mdembed.core.io import InvalidResult
from mdembed.learning.checkpoints import random_state, restore_random_state


class AttentionEncoder(nn.Module):
    """Observation -> features, via self-attention over the entities."""

    def __init__(self, layout: ObservationLayout, dim: int, heads: int) -> None:
        super().__init__()
        self.layout = layout
        self.embed_global = nn.Linear(layout.global_dim, dim)
        self.embed_type = nn.Linear(layout.type_dim, dim)
        self.embed_chain = nn.Linear(layout.chain_dim - 1, dim)  # the presence flag becomes the mask
        self.embed_pending = nn.Linear(layout.pending_dim - 1, dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.out_dim = (2 + NUM_TYPES) * dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        glob, types, chains, pending = self.layout.split(obs)
        tokens = torch.cat(
            [self.embed_global(glob)[:, None], self.embed_type(types), self.embed_chain(chains[..., 1:]),
             self.embed_pending(pending[..., 1:])], dim=1,
        )  # fmt: skip
        always = torch.zeros(obs.shape[0], 1 + NUM_TYPES, dtype=torch.bool, device=obs.device)
        absent = torch.cat([always, chains[..., 0] < 0.5, pending[..., 0] < 0.5], dim=1)
        mixed, _ = self.attention(tokens, tokens, tokens, key_padding_mask=absent, need_weights=False)
        x = self.norm1(tokens + mixed)
        x = self.norm2(x + self.feed_forward(x))
        present = (~absent).unsqueeze(-1).float()
        pooled = (x * present).sum(dim=1) / present.sum(dim=1)
        return torch.cat([x[:, 0], pooled, x[:, 1 : 1 + NUM_TYPES].flatten(1)], dim=-1)


class DuelingHead(nn.Module):
    """Features -> Q-values: a state value V and advantages A, combined as V + A - mean(A)."""

    def __init__(self, in_dim: int, hidden: int, actions: int) -> None:
        super().__init__()
        self.value = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.advantage = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, actions))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return combine(self.value(features), self.advantage(features))


def combine(value: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """The dueling aggregation: (B, 1) values and (B, A) advantages -> (B, A) Q-values."""
    return value + advantage - advantage.mean(dim=-1, keepdim=True)


class TypeDuelingHead(nn.Module):
    """Features -> Q-values, with each type's advantages from one network shared by the types."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.dim = dim
        self.value = nn.Sequential(nn.Linear((2 + NUM_TYPES) * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.advantage = nn.Sequential(nn.Linear(3 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        shared = features[:, : 2 * self.dim]  # the global token and the mean over tokens
        types = features[:, 2 * self.dim :].reshape(-1, NUM_TYPES, self.dim)
        per_type = torch.cat([types, shared[:, None].expand(-1, NUM_TYPES, -1)], dim=-1)
        return combine(self.value(features), self.advantage(per_type).flatten(1))  # action 3 k + op


class QNetwork(nn.Module):
    def __init__(self, layout: ObservationLayout, settings: DQNSettings) -> None:
        super().__init__()
        self.encoder = AttentionEncoder(layout, settings.embed_dim, settings.heads)
        if settings.type_head:
            self.head: nn.Module = TypeDuelingHead(settings.embed_dim, settings.hidden)
        else:
            self.head = DuelingHead(self.encoder.out_dim, settings.hidden, NUM_ACTIONS)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(obs))


CAN_ALLOCATE, CAN_UNINSTALL = 9, 10  # the columns of a type's row in the observation that say which actions are valid


def valid_actions(layout: ObservationLayout, obs: torch.Tensor) -> torch.Tensor:
    """(B, 15) booleans: which actions the observations mark valid (the valid-action columns of each type's row)."""
    types = layout.split(obs)[1]
    valid = torch.ones(*obs.shape[:-1], NUM_TYPES, 3, dtype=torch.bool, device=obs.device)
    valid[..., ALLOCATE] = types[..., CAN_ALLOCATE] > 0.5
    valid[..., UNINSTALL] = types[..., CAN_UNINSTALL] > 0.5
    return valid.flatten(-2)


def double_dqn_target(
    reward: torch.Tensor, done: torch.Tensor, next_q_online: torch.Tensor, next_q_target: torch.Tensor, gamma: float
) -> torch.Tensor:
    """``r + gamma (1 - done) Q_target(s', argmax_a Q_online(s', a))``: the online net picks, the target net rates."""
    best = next_q_online.argmax(dim=-1, keepdim=True)
    return reward + gamma * (1.0 - done) * next_q_target.gather(-1, best).squeeze(-1)


def parameter_count(layout: ObservationLayout, settings: DQNSettings) -> float:
    """Weights of one Q-network, counted on torch's meta device (nothing is allocated)."""
    try:
        with torch.device("meta"):
            return float(sum(p.numel() for p in QNetwork(layout, settings).parameters()))
    except RuntimeError:  # a layer of more bytes than int64 counts: its attention projections alone hold 4 embed_dim^2
        return 4.0 * settings.embed_dim**2


def memory_needed(layout: ObservationLayout, settings: DQNSettings) -> dict[str, tuple[float, str]]:
    """Bytes the agent holds, by part, with the keys that set each part: a lower estimate (what it surely needs).

    The networks count five times (online, target, gradients and Adam's two
    moments); an update's activations about 12 (entities x embed_dim) tensors
    and two (heads x entities^2) attention maps per observation of the batch,
    plus the dueling streams.
    """
    s = settings
    weights = parameter_count(layout, s)
    entities = 1 + NUM_TYPES + layout.max_chains + layout.max_pending
    per_observation = 12 * entities * s.embed_dim + 2 * s.heads * entities**2 + 4 * s.hidden + 2 * layout.size
    return {
        f"the replay buffer ({s.buffer_size} transitions of {layout.size} features)":
            (PrioritizedReplay.nbytes(s.buffer_size, layout.size), "dc.agent.buffer_size, max_chains or max_pending"),
        f"the networks ({weights:.3g} weights each)": (5 * 4 * weights, "dc.agent.embed_dim or hidden"),
        f"an update's activations ({s.batch_size} observations x {entities} entities)":
            (4 * s.batch_size * per_observation, "dc.agent.batch_size, embed_dim, max_chains or max_pending"),
    }  # fmt: skip


def check_memory(layout: ObservationLayout, settings: DQNSettings) -> None:
    """Refuse, in one line naming the keys, an agent that cannot fit in this machine's memory (instead of a failed allocation)."""
    parts = memory_needed(layout, settings)
    total, ram = sum(b for b, _ in parts.values()), memory.physical_bytes()
    if ram is None or total <= ram:
        return
    what, (largest, keys) = max(parts.items(), key=lambda item: item[1][0])
    gib = 2.0**30
    raise ConfigError(
        f"dc.agent needs at least {total / gib:.3g} GiB of memory, more than this machine's {ram / gib:.3g} GiB: "
        f"{what} alone needs {largest / gib:.3g} GiB; lower {keys}"
    )


def epsilon(agent: DQNSettings, train: DCTrainSettings, episode: int) -> float:
    """Exploration rate of a training episode: ``epsilon_start x decay^episode`` (not below
    ``epsilon_min``), capped by the episode's phase (exploration, balanced, exploitation, fine-tuning)."""
    decayed = max(agent.epsilon_min, agent.epsilon_start * agent.epsilon_decay**episode)
    return min(decayed, train.phase_epsilon[train.phase(episode)])


class DQNAgent:
    """The online and target Q-networks, their optimizer and the prioritized replay (a
    :class:`~mdembed.agents.registry.Learner`).

    ``train``, when given, sets the exploration of ``act(obs, explore=True)``:
    :func:`epsilon` of the episode the agent's step count falls in. Networks,
    optimizer state and the replay's transitions live on ``device``; the sum
    tree of priorities stays on the CPU (sampling walks it with numpy).
    """

    def __init__(
        self, layout: ObservationLayout, settings: DQNSettings, seed: int, total_steps: int,
        train: DCTrainSettings | None = None, device: torch.device | str = "cpu",
    ) -> None:  # fmt: skip
        self.layout = layout
        self.pending: deque[tuple[np.ndarray, int, float]] = deque()  # the last n steps, until their n-step return is known
        self.last_next_obs: np.ndarray | None = None
        self.settings = settings
        self.train = train
        self.total_steps = max(1, total_steps)
        self.device = torch.device(device)
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.online = QNetwork(layout, settings).to(self.device)
        self.target = copy.deepcopy(self.online)
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=settings.lr)
        self.replay = PrioritizedReplay(
            settings.buffer_size, layout.size, settings.alpha, settings.priority_eps, self.device
        )
        self.steps = 0
        self.updates = 0
        self.last_loss = float("nan")

    @property
    def beta(self) -> float:
        s = self.settings
        return s.beta_start + (1.0 - s.beta_start) * min(1.0, self.steps / self.total_steps)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """(15,) Q-values of one observation, or (B, 15) of a batch; -inf where an action is masked as invalid."""
        with torch.no_grad():
            x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
            x = x.reshape(-1, x.shape[-1])
            return self._masked(self.online(x), x).cpu().numpy().reshape(*obs.shape[:-1], NUM_ACTIONS)

    def _masked(self, q: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        if not self.settings.mask_invalid:
            return q
        return q.masked_fill(~valid_actions(self.layout, obs), -math.inf)

    @property
    def exploration(self) -> float:
        """The exploration rate of the next training step (0 without a training schedule)."""
        if self.train is None:
            return 0.0
        return epsilon(self.settings, self.train, self.steps // self.train.episode_steps)

    def act(self, obs: np.ndarray, explore: bool = False) -> int:
        """The greedy action, or with ``explore`` the epsilon-greedy one at :attr:`exploration`."""
        return self.epsilon_greedy(obs, self.exploration if explore else 0.0)

    def epsilon_greedy(self, obs: np.ndarray, eps: float) -> int:
        """A random action with probability ``eps``, else the greedy one."""
        if eps > 0 and self.rng.random() < eps:
            if not self.settings.mask_invalid:
                return int(self.rng.integers(NUM_ACTIONS))
            valid = np.flatnonzero(valid_actions(self.layout, torch.as_tensor(obs).reshape(1, -1))[0].numpy())
            return int(valid[self.rng.integers(len(valid))])
        return int(self.q_values(obs).argmax())

    def observe(
        self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool
    ) -> dict[str, float] | None:
        """Store a transition (as an n-step one once its n rewards are known); update every ``update_every`` steps once
        learning has started. The update's diagnostics, if updated.

        A transition whose ``obs`` is not the last one's ``next_obs`` starts a new episode: the steps still waiting
        for their n rewards are dropped (at most n - 1 per episode), so no return runs across two episodes."""
        s = self.settings
        if self.last_next_obs is not None and not np.array_equal(obs, self.last_next_obs):
            self.pending.clear()
        self.pending.append((obs, action, reward))
        # the oldest step's n rewards are known; at a terminal step, every waiting step's return ends there (no bootstrap)
        while self.pending and (terminated or len(self.pending) == s.n_step):
            first, first_action, _ = self.pending[0]
            self.replay.add(first, first_action, self._n_step_return(), next_obs, terminated)
            self.pending.popleft()
        self.last_next_obs = None if terminated else next_obs
        self.steps += 1
        losses = None
        if self.steps >= s.learning_starts and self.replay.size >= s.batch_size and self.steps % s.update_every == 0:
            losses = self.update()
        if self.steps % s.target_update_every == 0:
            self.target.load_state_dict(self.online.state_dict())
        return losses

    def _n_step_return(self) -> float:
        gamma = self.settings.gamma
        return float(sum(gamma**i * r for i, (_, _, r) in enumerate(self.pending)))

    def diagnostics(self) -> dict[str, float]:
        """Updates so far, the last TD loss (None before the first update) and the importance-sampling exponent beta."""
        return {"updates": self.updates, "loss": self.last_loss if self.updates else None, "beta": self.beta}

    def update(self) -> dict[str, float]:
        """One gradient step on a prioritized batch: its TD loss, mean Q of the sampled actions, mean |TD error| and the
        gradient norm before clipping (the window's diagnostics)."""
        s = self.settings
        batch, idx = self.replay.sample(s.batch_size, self.beta, self.rng)
        q = self.online(batch["obs"]).gather(1, batch["action"][:, None]).squeeze(1)
        with torch.no_grad():
            next_online = self._masked(self.online(batch["next_obs"]), batch["next_obs"])
            target = double_dqn_target(batch["reward"], batch["done"], next_online, self.target(batch["next_obs"]),
                                       s.gamma**s.n_step)  # fmt: skip
        td = q - target
        loss = (batch["weights"] * F.smooth_l1_loss(q, target, reduction="none")).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(nn.utils.clip_grad_norm_(self.online.parameters(), s.grad_clip))
        self.optimizer.step()
        errors = td.detach().cpu().numpy()
        value = float(loss.item())
        if not (math.isfinite(value) and np.isfinite(errors).all()):  # NaN would poison the priorities and every later update
            raise InvalidResult(f"the DQN diverged at update {self.updates + 1} (TD loss {value}): lower dc.agent.lr or dc.agent.grad_clip")
        self.replay.update_priorities(idx, errors)
        self.updates += 1
        self.last_loss = value
        return {"loss": value, "q_mean": float(q.detach().mean()), "td_abs": float(np.abs(errors).mean()), "grad_norm": grad_norm}

    # --- checkpoints ----------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "steps": self.steps,
            "updates": self.updates,
            "last_loss": self.last_loss,
            **random_state(self.rng),
            "obs_dim": self.layout.size,
            "replay": self.replay.state_dict(),
            "n_step_pending": [(torch.as_tensor(o), a, r) for o, a, r in self.pending],
            "last_next_obs": None if self.last_next_obs is None else torch.as_tensor(self.last_next_obs),
        }

    def _check_size(self, state: dict[str, Any]) -> None:
        if int(state["obs_dim"]) != self.layout.size:
            raise ValueError(f"the checkpoint is for observations of size {state['obs_dim']}, not {self.layout.size}")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_size(state)
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = int(state["steps"])
        self.updates = int(state["updates"])
        self.last_loss = float(state["last_loss"])
        self.rng = restore_random_state(state)  # also a checkpoint of before, which held the state as a dict
        self.replay.load_state_dict(state["replay"])
        self.pending = deque((o.numpy(), int(a), float(r)) for o, a, r in state.get("n_step_pending", []))
        last = state.get("last_next_obs")
        self.last_next_obs = None if last is None else last.numpy()

    def policy_state_dict(self) -> dict[str, Any]:
        """The online Q-network alone: the greedy policy needs nothing else."""
        return {"online": self.online.state_dict(), "obs_dim": self.layout.size}

    def load_policy_state_dict(self, state: dict[str, Any]) -> None:
        self._check_size(state)
        self.online.load_state_dict(state["online"])
