"""Independent PPO pricing agents, one per domain (issue 24).

CFF consumes prices through a sort, so a domain's revenue is a step
function of its prices: a deterministic policy gradient (DDPG's) follows
the critic's smooth fit of that step function, a score-function gradient
needs none (Suh et al., "Do differentiable simulators give better policy
gradients?", ICML 2022). Each domain has its own Gaussian policy over
normalized prices (a mean from its network, a state-independent standard
deviation per kind of output), its own value network, and its own Adam
state and gradient clipping; nothing crosses domains. As for DDPG, the D
domains' networks are stored stacked and computed at once.

Training collects ``rollout`` steps, computes advantages with GAE from the
value estimates (Schulman et al. 2016), and takes ``epochs`` passes of
clipped-ratio updates (Schulman et al. 2017) in minibatches. Advantages are
normalized per domain and minibatch. The sampled action goes to the market
unclipped (the price table clips it to the price range), so its
log-probability is exactly that of the Gaussian; the evaluated policy is
the mean, clipped.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mdembed.core import memory
from mdembed.agents.element_policy import ElementActor, output_kinds
from mdembed.agents.networks import Actor, StackedLinear
from mdembed.env.layout import DomainLayout
from mdembed.learning.checkpoints import random_state, restore_random_state
from mdembed.learning.moments import running_std

if TYPE_CHECKING:
    from mdembed.agents.ppo_settings import PPOSettings

BOUND = 0.98  # a normalized mean at |a| >= this lies within 1% of the price range from a bound
LOG_2PI = math.log(2 * math.pi)


class ValueNet(nn.Module):
    """V(observation) per domain: observation -> hidden -> hidden -> 1."""

    def __init__(self, domains: int, obs_dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([StackedLinear(domains, obs_dim, hidden), StackedLinear(domains, hidden, hidden)])
        self.out = StackedLinear(domains, hidden, 1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.out(x).squeeze(-1)


class PPO:
    """D independent PPO learners over one layout of domains (a :class:`~mdembed.learning.protocol.Learner`).

    Observations are the layout's stacked ones, (D, max_obs_dim); actions are
    normalized prices, (D, max_action_dim), zero on padding.
    """

    def __init__(self, layout: DomainLayout, settings: PPOSettings, seed: int, device: torch.device | str = "cpu") -> None:
        self.layout = layout
        self.TRAINING_ONLY = settings.TRAINING_ONLY  # settings an evaluation of a saved policy may change
        self.settings = settings
        self.device = torch.device(device)
        d = self.domains = layout.num_domains
        self.obs_dim, self.action_dim = layout.max_obs_dim, layout.max_action_dim
        t = settings.rollout
        memory.require(memory.FLOAT_BYTES * t * d * (2 * self.obs_dim + self.action_dim + 2),
                       f"algorithm.rollout={t} transitions of {d} domains")  # fmt: skip
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.noise = torch.Generator(device=self.device)
        self.noise.manual_seed(seed)
        if settings.policy == "element":
            self.actor: nn.Module = ElementActor(layout, settings.hidden)
            kinds = output_kinds(layout)
        else:
            self.actor = Actor(d, self.obs_dim, self.action_dim, settings.hidden, bounding="invert")
            kinds = torch.arange(self.action_dim).expand(d, -1)
        self.kinds = kinds.to(self.device)
        self.log_std = nn.Parameter(torch.full((d, int(kinds.max()) + 1), settings.log_std_init))
        self.value = ValueNet(d, self.obs_dim, settings.hidden)
        self.actor.to(self.device)
        self.value.to(self.device)
        self.log_std.data = self.log_std.data.to(self.device)
        self.parameters = [*self.actor.parameters(), self.log_std, *self.value.parameters()]
        self.optimizer = torch.optim.Adam(self.parameters, lr=settings.lr, eps=1e-5)
        mask = np.zeros((d, self.action_dim), dtype=np.float32)
        for i, dim in enumerate(layout.action_dims):
            mask[i, :dim] = 1.0
        self.mask_np = mask
        self.mask = torch.from_numpy(mask).to(self.device)
        self.storage = {
            "obs": torch.zeros(t, d, self.obs_dim, device=self.device),
            "next_obs": torch.zeros(t, d, self.obs_dim, device=self.device),
            "action": torch.zeros(t, d, self.action_dim, device=self.device),
            "reward": torch.zeros(t, d, device=self.device),
            "done": torch.zeros(t, device=self.device),
        }
        self.filled = 0
        self.running_return = np.zeros(d)  # each domain's discounted return so far (reward normalization)
        self.return_moments = np.zeros((3, d))  # count, mean, sum of squared deviations of those returns
        self.steps = 0
        self.updates = 0
        self.figures: dict[str, float] = {}  # of the last update

    # --- acting -------------------------------------------------------------

    def _std(self) -> torch.Tensor:
        """(D, action_dim) each action entry's standard deviation."""
        return torch.gather(self.log_std, 1, self.kinds).exp()

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """(D, action_dim) normalized prices: sampled (explore) or the mean, clipped (the evaluated policy)."""
        with torch.no_grad():
            mean = self.actor.preactivation(torch.from_numpy(obs).to(self.device)[:, None, :])[:, 0, :]
            if explore:
                noise = torch.randn(mean.shape, generator=self.noise, device=self.device)
                action = mean + self._std() * noise
            else:
                action = mean.clamp(-1.0, 1.0)
        return action.cpu().numpy() * self.mask_np

    def _log_prob(self, mean: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(D, B) each domain's log-density of its actions (D, B, A), padding excluded."""
        log_std = torch.gather(self.log_std, 1, self.kinds)[:, None, :]
        z = (action - mean) / log_std.exp()
        return ((-0.5 * z.square() - log_std - 0.5 * LOG_2PI) * self.mask[:, None, :]).sum(dim=-1)

    def _entropy(self) -> torch.Tensor:
        """(D,) each domain's policy entropy (state-independent)."""
        log_std = torch.gather(self.log_std, 1, self.kinds)
        return ((log_std + 0.5 * (1.0 + LOG_2PI)) * self.mask).sum(dim=-1)

    # --- learning -----------------------------------------------------------

    def observe(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray, done: bool) -> Mapping[str, float] | None:
        """Store a transition; at the end of a rollout, update and return the losses."""
        i = self.filled
        store = self.storage
        store["obs"][i] = torch.from_numpy(obs)
        store["next_obs"][i] = torch.from_numpy(next_obs)
        store["action"][i] = torch.from_numpy(np.asarray(action, dtype=np.float32))
        scaled = np.asarray(reward, dtype=np.float64) * self.settings.reward_scale
        if self.settings.normalize_reward:
            scaled = scaled / self._track_return(scaled, done)
        store["reward"][i] = torch.from_numpy(scaled.astype(np.float32))
        store["done"][i] = float(done)
        self.filled += 1
        self.steps += 1
        if self.filled < self.settings.rollout:
            return None
        self.filled = 0
        return self.update()

    def _track_return(self, reward: np.ndarray, done: bool) -> np.ndarray:
        """Each domain's running standard deviation of its discounted return, updated with ``reward``: what rewards
        are divided by, so the value and the advantages have a scale whatever the reward's unit."""
        self.running_return = self.running_return * self.settings.gamma * (1.0 - float(done)) + reward
        return running_std(self.return_moments, self.running_return)

    def advantages(self, reward: torch.Tensor, value: torch.Tensor, next_value: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """(D, T) GAE(gamma, lambda) advantages from rewards and value estimates (D, T), done (T,)."""
        s = self.settings
        alive = 1.0 - done
        delta = reward + s.gamma * alive * next_value - value
        advantage = torch.zeros_like(delta)
        running = torch.zeros_like(delta[:, 0])
        for t in range(delta.shape[1] - 1, -1, -1):
            running = delta[:, t] + s.gamma * s.gae_lambda * alive[t] * running
            advantage[:, t] = running
        return advantage

    def update(self) -> dict[str, float]:
        """Clipped PPO on the rollout just collected."""
        s = self.settings
        store = self.storage
        obs = store["obs"].transpose(0, 1)  # (D, T, obs_dim)
        action = store["action"].transpose(0, 1)
        reward = store["reward"].transpose(0, 1)
        with torch.no_grad():
            old_mean = self.actor.preactivation(obs)
            old_log_prob = self._log_prob(old_mean, action)
            value = self.value(obs)
            next_value = self.value(store["next_obs"].transpose(0, 1)) if s.gamma > 0 else torch.zeros_like(value)
            advantage = self.advantages(reward, value, next_value, store["done"])
            returns = advantage + value
        t = obs.shape[1]
        sums = {key: 0.0 for key in ("policy_loss", "value_loss", "approx_kl", "clip_fraction", "grad_norm")}
        steps = 0
        for _ in range(s.epochs):
            order = torch.from_numpy(self.rng.permutation(t)).to(self.device)
            for start in range(0, t - s.minibatch + 1, s.minibatch):
                idx = order[start : start + s.minibatch]
                adv = advantage[:, idx]
                adv = (adv - adv.mean(dim=1, keepdim=True)) / (adv.std(dim=1, keepdim=True) + 1e-8)
                log_ratio = self._log_prob(self.actor.preactivation(obs[:, idx]), action[:, idx]) - old_log_prob[:, idx]
                ratio = log_ratio.exp()
                policy_loss = -torch.minimum(ratio * adv, ratio.clamp(1 - s.clip, 1 + s.clip) * adv).mean(dim=1)
                value_loss = F.mse_loss(self.value(obs[:, idx]), returns[:, idx], reduction="none").mean(dim=1)
                loss = (policy_loss + s.value_coef * value_loss - s.entropy_coef * self._entropy()).sum()  # over domains
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = self._clip_gradients()
                self.optimizer.step()
                with torch.no_grad():
                    sums["policy_loss"] += float(policy_loss.mean())
                    sums["value_loss"] += float(value_loss.mean())
                    sums["approx_kl"] += float(((ratio - 1) - log_ratio).mean())  # Schulman's low-variance estimator
                    sums["clip_fraction"] += float(((ratio - 1).abs() > s.clip).float().mean())
                    sums["grad_norm"] += float(norm.mean())
                steps += 1
        self.updates += 1
        with torch.no_grad():
            mean = self.actor.preactivation(obs)
            real = self.mask[:, None, :].expand_as(mean)
            residual = (returns - value).var() / returns.var().clamp_min(1e-12)
            self.figures = {
                **{key: value / max(steps, 1) for key, value in sums.items()},
                "explained_variance": float(1.0 - residual),
                "entropy": float(self._entropy().mean()),
                "std": float(self._std()[self.mask.bool()].mean()),
                "at_bounds": float(((mean.abs() >= BOUND) & real.bool()).sum() / real.sum()),
                "value": float(value.mean()),
            }
        return {"policy_loss": self.figures["policy_loss"], "value_loss": self.figures["value_loss"]}

    def _clip_gradients(self) -> torch.Tensor:
        """Clip each domain's gradient norm to ``max_grad_norm`` apart (every parameter has the domain axis first),
        so a domain's large gradient never scales another's; (D,) the norms before clipping."""
        grads = [p.grad for p in self.parameters if p.grad is not None]
        norms = torch.stack([g.reshape(self.domains, -1).square().sum(dim=1) for g in grads]).sum(dim=0).sqrt()
        scale = (self.settings.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.reshape(-1, *([1] * (g.dim() - 1))))
        return norms

    def diagnostics(self) -> dict[str, float]:
        """Updates so far and the last update's figures: losses, approximate KL, clipped share, explained variance
        of the value, policy entropy and std, share of mean prices within 1% of a bound, gradient norm."""
        return {"updates": self.updates, **self.figures}

    # --- checkpoints --------------------------------------------------------

    def _shapes(self) -> list[int]:
        return [self.domains, self.obs_dim, self.action_dim]

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "log_std": self.log_std.detach().cpu().clone(),
            "value": self.value.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "storage": {key: value.cpu().clone() for key, value in self.storage.items()},
            "filled": self.filled,
            "running_return": torch.from_numpy(self.running_return.copy()),
            "return_moments": torch.from_numpy(self.return_moments.copy()),
            "steps": self.steps,
            "updates": self.updates,
            "figures": dict(self.figures),
            **random_state(self.rng),
            "noise": self.noise.get_state(),
            "shapes": self._shapes(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state["shapes"]) != self._shapes():
            raise ValueError(f"the checkpoint is for shapes {list(state['shapes'])}, not {self._shapes()}")
        self.actor.load_state_dict(state["actor"])
        self.value.load_state_dict(state["value"])
        with torch.no_grad():
            self.log_std.copy_(state["log_std"])
        self.optimizer.load_state_dict(state["optimizer"])
        for key, value in state["storage"].items():
            self.storage[key].copy_(value)
        self.filled = int(state["filled"])
        self.running_return = state["running_return"].numpy().copy()
        self.return_moments = state["return_moments"].numpy().copy()
        self.steps = int(state["steps"])
        self.updates = int(state["updates"])
        self.figures = {str(k): float(v) for k, v in state["figures"].items()}
        self.rng = restore_random_state(state)
        self.noise.set_state(state["noise"])

    def policy_state_dict(self) -> dict[str, Any]:
        """The policy's means alone (the evaluated policy acts without sampling); a per-element one fits any layout
        with as many domains."""
        return {"actor": self.actor.state_dict(), "shapes": self._shapes(), "policy": self.settings.policy}

    def load_policy_state_dict(self, state: dict[str, Any]) -> None:
        shapes = list(state["shapes"])
        portable = self.settings.policy == "element"
        if shapes[0] != self.domains or (not portable and shapes != self._shapes()):
            raise ValueError(f"the policy is for shapes {shapes}, not {self._shapes()}")
        self.actor.load_state_dict(state["actor"])
