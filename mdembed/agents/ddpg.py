"""DDPG pricing agents, one per domain, trained side by side (DESIGN 5).

Every domain has its own actor, critic, target networks, optimizer state
and exploration noise; no weight, gradient or observation crosses domains.
For speed the D domains' networks are stored stacked (a leading domain
axis on every weight) so one batched matrix product, or one grouped
convolution, runs all of them: the math is exactly D independent networks.

Domains have different numbers of nodes and links, so observations and
actions are zero-padded to the largest domain; padded action entries are
masked to zero before the critic sees them and are never sent to the market.

The actor's tanh output a in [-1, 1] is the normalized action; the price
is ``price_min + (a + 1) / 2 * (price_max - price_min)``.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mdembed.agents.registry import LEARNER, Algorithm, Context, LearningAlgorithm, register
from mdembed.config import ConfigError, set_whole
from mdembed.embedding.client import Embedding
from mdembed.env.layout import TENSOR_SIZE, DomainLayout
from mdembed.env.quotes import embed_quotes
from mdembed.network.substrate import SubstrateState
from mdembed.transitions import TransitionBuffer
from mdembed.workload.requests import Request
from mdembed.workload.tensor import TENSOR_SHAPE, request_tensor

NOISE_KINDS = ("gaussian", "ou")


@dataclass(frozen=True)
class DDPGSettings:
    """Hyperparameters; the paper's where it gives them (Adam, lrs, gamma, tau, batch, 300 units)."""

    actor_lr: float = 1e-4
    critic_lr: float = 1e-3
    gamma: float = 0.99
    tau: float = 0.001
    batch_size: int = 32
    hidden: int = 300  # units of every fully connected layer
    conv_channels: tuple[int, int, int] = (8, 16, 16)  # the critic's 3 conv layers, kernels (4,4), (2,2), (5,5)
    buffer_size: int = 20_000
    learning_starts: int = 500  # random prices and no updates before this many steps
    reward_scale: float = 0.01  # revenue x this is what the critic regresses
    noise: str = "gaussian"  # gaussian | ou (Ornstein-Uhlenbeck), on the normalized action
    noise_sigma: float = 0.3
    noise_sigma_min: float = 0.02
    noise_decay: float = 0.9999  # sigma x this per step, down to noise_sigma_min
    ou_theta: float = 0.15
    slot_prices: bool = True  # a price per VNF/VL slot (DESIGN 4.2); false: one per node resource and per link

    def __post_init__(self) -> None:
        for key in ("actor_lr", "critic_lr", "tau", "reward_scale"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"algorithm.{key} must be positive, got {getattr(self, key)}")
        if not 0 <= self.gamma <= 1:
            raise ConfigError(f"algorithm.gamma must lie in [0, 1], got {self.gamma}")
        if self.tau > 1:
            raise ConfigError(f"algorithm.tau must lie in (0, 1], got {self.tau}")
        for key in ("batch_size", "hidden", "buffer_size"):
            set_whole(self, "algorithm", key)
        set_whole(self, "algorithm", "learning_starts", minimum=0)
        channels = tuple(int(c) for c in self.conv_channels)
        if len(channels) != 3 or min(channels) < 1:
            raise ConfigError(f"algorithm.conv_channels must be 3 positive integers, got {list(self.conv_channels)}")
        object.__setattr__(self, "conv_channels", channels)
        if self.noise not in NOISE_KINDS:
            raise ConfigError(f"algorithm.noise must be one of {', '.join(NOISE_KINDS)}, got {self.noise!r}")
        for key in ("noise_decay", "ou_theta"):
            if not 0 < getattr(self, key) <= 1:
                raise ConfigError(f"algorithm.{key} must lie in (0, 1], got {getattr(self, key)}")
        if not 0 <= self.noise_sigma_min <= self.noise_sigma:
            raise ConfigError("algorithm.noise_sigma_min must lie in [0, noise_sigma]")


class StackedLinear(nn.Module):
    """D independent linear layers: (D, B, in) -> (D, B, out)."""

    def __init__(self, domains: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(domains, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(domains, 1, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class StackedConv2d(nn.Module):
    """D independent 'same'-padded convolutions as one grouped convolution: (B, D*C_in, H, W) -> (B, D*C_out, H, W)."""

    def __init__(self, domains: int, in_channels: int, out_channels: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.domains = domains
        bound = 1.0 / math.sqrt(in_channels * kernel[0] * kernel[1])
        self.weight = nn.Parameter(torch.empty(domains * out_channels, in_channels, *kernel).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(domains * out_channels).uniform_(-bound, bound))
        (kh, kw) = kernel  # 'same' padding; an even kernel gets the extra row/column after (as PyTorch does)
        self.padding = ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, self.padding), self.weight, self.bias, groups=self.domains)


class Actor(nn.Module):
    """Observation -> 300 -> 300 -> normalized prices in [-1, 1], per domain."""

    def __init__(self, domains: int, obs_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [StackedLinear(domains, obs_dim, hidden), StackedLinear(domains, hidden, hidden)]
        )
        self.out = StackedLinear(domains, hidden, action_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        for layer in self.layers:
            x = F.relu(layer(x))
        return torch.tanh(self.out(x))


class Critic(nn.Module):
    """Q(observation, action) per domain: 3 convs on the request tensor, average pooling,
    then a 300-unit layer that also takes the own state and the action."""

    KERNELS = ((4, 4), (2, 2), (5, 5))

    def __init__(self, domains: int, state_dim: int, action_dim: int, hidden: int, channels: tuple[int, int, int]) -> None:
        super().__init__()
        self.domains = domains
        rows, cols, depth = TENSOR_SHAPE
        sizes = (depth, *channels)
        self.convs = nn.ModuleList(
            [StackedConv2d(domains, sizes[i], sizes[i + 1], k) for i, k in enumerate(self.KERNELS)]
        )
        pooled = channels[-1] * (rows // 2) * (cols // 2)
        self.hidden = StackedLinear(domains, pooled + state_dim + action_dim, hidden)
        self.out = StackedLinear(domains, hidden, 1)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """(D, B, F): the pooled conv features of the request tensor, then the own state."""
        d, b, _ = obs.shape
        rows, cols, depth = TENSOR_SHAPE
        tensor = obs[..., :TENSOR_SIZE].reshape(d, b, rows, cols, depth)
        x = tensor.permute(1, 0, 4, 2, 3).reshape(b, d * depth, rows, cols)  # channels first, domains grouped
        for conv in self.convs:
            x = F.relu(conv(x))
        x = F.avg_pool2d(x, 2)
        x = x.reshape(b, d, -1).transpose(0, 1)
        return torch.cat([x, obs[..., TENSOR_SIZE:]], dim=-1)

    def head(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(D, B) Q-values from features and actions."""
        x = torch.cat([features, action], dim=-1)
        return self.out(F.relu(self.hidden(x))).squeeze(-1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(obs), action)


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- tau * source + (1 - tau) * target, parameter by parameter."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters()):
            t.mul_(1.0 - tau).add_(s, alpha=tau)


class ReplayBuffer(TransitionBuffer):
    """A ring buffer of transitions for all domains at once, sampled uniformly."""

    def __init__(self, capacity: int, domains: int, obs_dim: int, action_dim: int) -> None:
        super().__init__(capacity, (domains, obs_dim), (domains, action_dim), np.float32, (domains,))

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """A batch with a domain axis first: obs (D, B, obs_dim), reward (D, B), done (B,)."""
        idx = rng.integers(0, self.size, size=batch_size)
        return {
            "obs": torch.from_numpy(self.obs[idx].swapaxes(0, 1).copy()),
            "action": torch.from_numpy(self.action[idx].swapaxes(0, 1).copy()),
            "reward": torch.from_numpy(self.reward[idx].T.copy()),
            "next_obs": torch.from_numpy(self.next_obs[idx].swapaxes(0, 1).copy()),
            "done": torch.from_numpy(self.done[idx]),
        }


class DDPG:
    """D independent DDPG learners over one layout of domains (a :class:`~mdembed.agents.registry.Learner`).

    Observations are the layout's stacked ones, (D, max_obs_dim); actions are
    normalized, (D, max_action_dim) in [-1, 1].
    """

    def __init__(self, layout: DomainLayout, settings: DDPGSettings, seed: int) -> None:
        self.layout = layout
        self.settings = settings
        d = layout.num_domains
        self.domains = d
        self.obs_dim = layout.max_obs_dim
        self.action_dim = layout.max_action_dim
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.actor = Actor(d, self.obs_dim, self.action_dim, settings.hidden)
        self.critic = Critic(d, self.obs_dim - TENSOR_SIZE, self.action_dim, settings.hidden, settings.conv_channels)
        self.actor_target = copy.deepcopy(self.actor)
        self.critic_target = copy.deepcopy(self.critic)
        for net in (self.actor_target, self.critic_target):
            net.requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=settings.actor_lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=settings.critic_lr, fused=True)
        mask = np.zeros((d, 1, self.action_dim), dtype=np.float32)
        for i, dim in enumerate(layout.action_dims):
            mask[i, :, :dim] = 1.0
        self.action_mask = torch.from_numpy(mask)
        self.buffer = ReplayBuffer(settings.buffer_size, d, self.obs_dim, self.action_dim)
        self.sigma = settings.noise_sigma
        self.ou_state = np.zeros((d, self.action_dim), dtype=np.float32)
        self.steps = 0
        self.updates = 0
        self.losses: dict[str, float] = {}  # of the last update

    # --- acting -------------------------------------------------------------

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """(D, action_dim) normalized actions for stacked observations (D, obs_dim)."""
        if explore and self.steps < self.settings.learning_starts:
            action = self.rng.uniform(-1.0, 1.0, size=(self.domains, self.action_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                action = self.actor(torch.from_numpy(obs)[:, None, :])[:, 0, :].numpy()
            if explore:
                action = np.clip(action + self._noise(), -1.0, 1.0)
        return action * self.action_mask[:, 0, :].numpy()

    def _noise(self) -> np.ndarray:
        shape = (self.domains, self.action_dim)
        if self.settings.noise == "ou":
            theta = self.settings.ou_theta
            self.ou_state += -theta * self.ou_state + self.sigma * self.rng.standard_normal(shape).astype(np.float32)
            return self.ou_state
        return (self.sigma * self.rng.standard_normal(shape)).astype(np.float32)

    # --- learning -----------------------------------------------------------

    def observe(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray, done: bool) -> dict[str, float] | None:
        """Store a transition, decay the noise, and update once learning has started; the losses if it updated."""
        self.buffer.add(obs, action, reward * self.settings.reward_scale, next_obs, done)
        self.steps += 1
        self.sigma = max(self.settings.noise_sigma_min, self.sigma * self.settings.noise_decay)
        if self.steps < self.settings.learning_starts or self.buffer.size < self.settings.batch_size:
            return None
        return self.update(self.buffer.sample(self.settings.batch_size, self.rng))

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One gradient step of every domain's critic and actor, then the soft target update.

        Both losses are taken at the same critic parameters (as in the original
        DDPG implementations), so the conv features of the batch are computed
        once; the actor's gradient only flows through the critic's head.
        """
        s = self.settings
        mask = self.action_mask
        with torch.no_grad():
            next_action = self.actor_target(batch["next_obs"]) * mask
            next_q = self.critic_target(batch["next_obs"], next_action)
            target = batch["reward"] + s.gamma * (1.0 - batch["done"]) * next_q
        features = self.critic.features(batch["obs"])
        q = self.critic.head(features, batch["action"] * mask)
        critic_loss = F.mse_loss(q, target, reduction="none").mean(dim=1).sum()  # sum over independent domains

        policy_q = self.critic.head(features.detach(), self.actor(batch["obs"]) * mask)
        actor_loss = -policy_q.mean(dim=1).sum()
        actor_grads = torch.autograd.grad(actor_loss, list(self.actor.parameters()))

        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        for param, grad in zip(self.actor.parameters(), actor_grads):
            param.grad = grad
        self.actor_opt.step()

        soft_update(self.actor_target, self.actor, s.tau)
        soft_update(self.critic_target, self.critic, s.tau)
        self.updates += 1
        self.losses = {
            "critic_loss": critic_loss.item() / self.domains,
            "actor_loss": actor_loss.item() / self.domains,
        }
        return self.losses

    def diagnostics(self) -> dict[str, float]:
        """Updates so far, the exploration noise and the last update's losses (mean over domains)."""
        return {"updates": self.updates, "noise_sigma": self.sigma, **self.losses}

    # --- checkpoints --------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "sigma": self.sigma,
            "ou_state": torch.from_numpy(self.ou_state.copy()),
            "steps": self.steps,
            "updates": self.updates,
            "losses": dict(self.losses),
            "rng": _rng_to_tensor(self.rng),
            "torch_rng": torch.get_rng_state(),
            "shapes": [self.domains, self.obs_dim, self.action_dim],
            "buffer": self.buffer.state_dict(),
        }

    def _check_shapes(self, state: dict[str, Any]) -> None:
        if list(state["shapes"]) != [self.domains, self.obs_dim, self.action_dim]:
            raise ValueError(
                f"the checkpoint is for {state['shapes'][0]} domains with observation/action sizes "
                f"{state['shapes'][1]}/{state['shapes'][2]}, not {self.domains} with {self.obs_dim}/{self.action_dim}"
            )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_shapes(state)
        for name in ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt"):
            getattr(self, name).load_state_dict(state[name])
        self.sigma = float(state["sigma"])
        self.ou_state = state["ou_state"].numpy().copy()
        self.steps = int(state["steps"])
        self.updates = int(state["updates"])
        self.losses = {str(k): float(v) for k, v in state["losses"].items()}
        self.rng = _rng_from_tensor(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.buffer.load_state_dict(state["buffer"])

    def policy_state_dict(self) -> dict[str, Any]:
        """The actors alone: acting without exploration needs nothing else."""
        return {"actor": self.actor.state_dict(), "shapes": [self.domains, self.obs_dim, self.action_dim]}

    def load_policy_state_dict(self, state: dict[str, Any]) -> None:
        self._check_shapes(state)
        self.actor.load_state_dict(state["actor"])


def _rng_to_tensor(rng: np.random.Generator) -> torch.Tensor:
    """A numpy Generator's state as bytes in a tensor, so checkpoints stay weights-only loadable."""
    return torch.frombuffer(bytearray(json.dumps(rng.bit_generator.state).encode()), dtype=torch.uint8)


def _rng_from_tensor(tensor: torch.Tensor) -> np.random.Generator:
    state = json.loads(bytes(tensor.numpy()).decode())
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


class DDPGPricing(LearningAlgorithm):
    """The market with DDPG-priced domains: each domain's actor quotes its prices, the client embeds.

    ``decide`` acts without exploration (evaluation); training goes through
    :func:`mdembed.training.train` and the PettingZoo environment.
    """

    def __init__(self, context: Context, settings: DDPGSettings, seed: int) -> None:
        self.context = context
        self.layout = DomainLayout(context.substrate, context.agent.observe_own_state, settings.slot_prices)
        self.learner = DDPG(self.layout, settings, seed)

    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        c = self.context
        obs = self.layout.stack(self.layout.observations(request_tensor(request, c.workload), state))
        vectors = self.layout.price_vectors(self.learner.act(obs, explore=False), c.market.price_min, c.market.price_max)
        embedding, self.quoted_mean_prices = embed_quotes(self.layout, vectors, request, state, c.market, c.routing)
        return embedding


@register("ddpg", LEARNER, DDPGSettings)
def ddpg_pricing(context: Context, settings: DDPGSettings) -> Algorithm:
    return DDPGPricing(context, settings, int(context.rng.integers(2**31)))
