"""TD3 pricing learners, one per domain, trained side by side (DESIGN 5); DDPG is TD3 with its remedies off.

TD3 (Fujimoto et al. 2018) is DDPG (Lillicrap et al. 2016) with twin
critics, target policy smoothing and a delayed actor: with one critic, no
target noise and a policy delay of 1 (``algorithm=ddpg``'s defaults) this
learner is DDPG, as Stable-Baselines3 defines it; ``algorithm=td3`` turns the
three on.

Every domain has its own actor, critic(s), target networks, optimizer state
and exploration noise; no weight, gradient or observation crosses domains.
For speed the D domains' networks are stored stacked (a leading domain
axis on every weight) so one batched matrix product, or one grouped
convolution, runs all of them: the math is exactly D independent networks.

Domains have different numbers of nodes and links, so observations and
actions are zero-padded to the largest domain; padded action entries are
masked to zero before the critic sees them and are never sent to the market.

The actor's output a in [-1, 1] is the normalized action; the price
is ``price_min + (a + 1) / 2 * (price_max - price_min)``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mdembed.core import memory
from mdembed.agents.element_policy import ElementActor
from mdembed.agents.networks import Actor, Critic, soft_update
from mdembed.env.layout import TENSOR_SIZE, DomainLayout
from mdembed.agents.replay import ReplayBuffer
from mdembed.learning.checkpoints import random_state, restore_random_state
from mdembed.learning.moments import running_std

if TYPE_CHECKING:
    from mdembed.agents.ddpg_settings import DDPGSettings

INVERT_EDGE = 1.05  # bounding=invert inverts gradients at +-this: an output the critic wants at a bound settles
# just past it and acts exactly at it (clipped), yet turns back as soon as the critic's gradient changes sign
BOUND = 0.98  # a normalized action at |a| >= this lies within 1% of the price range from a bound
WINDOW_FIGURES = (
    "at_bounds",  # share of the actor's real outputs (padding excluded) within 1% of a price bound, on the batch
    "dq_da",  # mean |dQ/da| over the actor's real outputs: what the critic tells the actor (0 when the critic is flat)
    "dq_dz",  # mean |dQ/dz| at the output's pre-activation z: what reaches the actor's weights (0 when a tanh saturates)
    "q",  # mean Q(s, a) of the batch: the critic's estimate of the (scaled) return
    "critic_loss",  # the domain's TD loss
    "actor_loss",  # the domain's -mean Q(s, actor(s))
)


def inverted(grad: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Inverting gradients (Hausknecht & Stone 2016): the loss gradient ``grad`` at ``action``, scaled by the room
    left toward the edge (+-INVERT_EDGE) the descent step heads for, so it fades at the edge and reverses past it."""
    room_up, room_down = (INVERT_EDGE - action) / (2 * INVERT_EDGE), (action + INVERT_EDGE) / (2 * INVERT_EDGE)
    return torch.where(grad < 0, grad * room_up, grad * room_down)  # grad < 0: the step raises the action


class Losses(Mapping[str, float]):
    """The last update's losses (mean over domains), read from the device only when asked for."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def __getitem__(self, key: str) -> float:
        return float(self.tensors[key].item())

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)


class TD3:
    """D independent TD3 (or DDPG) learners over one layout of domains (a :class:`~mdembed.agents.registry.Learner`).

    Observations are the layout's stacked ones, (D, max_obs_dim); actions are
    normalized, (D, max_action_dim) in [-1, 1]. Networks, optimizer state and
    the replay buffer live on ``device``; on a GPU the whole update (batch
    gather, both losses, both backward passes, Adam and the target updates)
    is captured once as a CUDA graph and replayed, so it is not launch-bound.
    """

    GRAPH_WARMUP = 3  # eager updates on a side stream before the capture (CUDA only)

    def __init__(self, layout: DomainLayout, settings: DDPGSettings, seed: int, device: torch.device | str = "cpu") -> None:
        self.layout = layout
        self.settings = settings
        self.TRAINING_ONLY = settings.TRAINING_ONLY  # settings an evaluation of a saved policy may change
        self.device = torch.device(device)
        d = layout.num_domains
        self.domains = d
        self.obs_dim = layout.max_obs_dim
        self.action_dim = layout.max_action_dim
        memory.require(self.memory_needed(d, self.obs_dim, self.action_dim, settings),
                       f"algorithm.hidden={settings.hidden}, buffer_size={settings.buffer_size}, batch_size={settings.batch_size}")  # fmt: skip
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        if settings.policy == "element":
            self.actor: nn.Module = ElementActor(layout, settings.element_hidden, settings.bounding).to(self.device)
        else:
            self.actor = Actor(d, self.obs_dim, self.action_dim, settings.hidden, settings.bounding,
                               settings.layer_norm).to(self.device)  # fmt: skip
        self.critics = nn.ModuleList([
            Critic(d, self.obs_dim - TENSOR_SIZE, self.action_dim, settings.hidden, settings.conv_channels,
                   settings.layer_norm) for _ in range(2 if settings.twin_critics else 1)
        ]).to(self.device)  # fmt: skip
        self.critic = self.critics[0]  # the one the actor follows
        self.actor_target = copy.deepcopy(self.actor)
        self.critic_targets = copy.deepcopy(self.critics)
        for net in (self.actor_target, self.critic_targets):
            net.requires_grad_(False)
        graphs = self.device.type == "cuda"
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=settings.actor_lr, fused=True, capturable=graphs)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=settings.critic_lr, fused=True, capturable=graphs)
        mask = np.zeros((d, 1, self.action_dim), dtype=np.float32)
        for i, dim in enumerate(layout.action_dims):
            mask[i, :, :dim] = 1.0
        self.mask_np = mask[:, 0, :]
        self.action_mask = torch.from_numpy(mask).to(self.device)
        self.buffer = ReplayBuffer(settings.buffer_size, d, self.obs_dim, self.action_dim, self.device,
                                   layout.obs_dims, layout.action_dims)  # fmt: skip
        self.sigma = settings.noise_sigma
        self.reward_moments = np.zeros((3, d))  # count, mean, sum of squared deviations of the scaled rewards
        self.reward_std = torch.ones(d, 1, device=self.device)  # what the batch's rewards are divided by
        self.ou_state = np.zeros((d, self.action_dim), dtype=np.float32)
        self.steps = 0
        self.updates = 0
        self.losses: Mapping[str, float] = {}  # of the last update
        self._window = torch.zeros(len(WINDOW_FIGURES), d, device=self.device)  # summed over the window's updates
        self._window_updates = 0
        self._window_figures: dict[str, float] = {}  # of the last window that had updates
        self._graph: Any = None  # the captured update (CUDA)
        self._graph_index = torch.zeros(settings.batch_size, dtype=torch.int64, device=self.device)

    @property
    def critic_target(self) -> Critic:
        """The target of the critic the actor follows."""
        return self.critic_targets[0]

    # --- acting -------------------------------------------------------------

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """(D, action_dim) normalized actions for stacked observations (D, obs_dim)."""
        if explore and self.steps < self.settings.learning_starts:
            action = self.rng.uniform(-1.0, 1.0, size=(self.domains, self.action_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                x = torch.from_numpy(obs).to(self.device)[:, None, :]
                action = self.actor(x)[:, 0, :].cpu().numpy()
            if explore:
                action = np.clip(action + self._noise(), -1.0, 1.0)
        return action * self.mask_np

    def _noise(self) -> np.ndarray:
        shape = (self.domains, self.action_dim)
        if self.settings.noise == "ou":
            theta = self.settings.ou_theta
            self.ou_state += -theta * self.ou_state + self.sigma * self.rng.standard_normal(shape).astype(np.float32)
            return self.ou_state
        return (self.sigma * self.rng.standard_normal(shape)).astype(np.float32)

    @staticmethod
    def memory_needed(domains: int, obs_dim: int, action_dim: int, settings: DDPGSettings) -> float:
        """Bytes for the replay buffer and the networks (online, target, gradient and Adam's two moments), roughly."""
        h = settings.hidden
        critics = 2 if settings.twin_critics else 1
        per_domain = (obs_dim + h + action_dim) * h + critics * (obs_dim + action_dim + h + 1) * h
        transitions = (settings.buffer_size + 4 * settings.batch_size) * (2 * obs_dim + action_dim + 2)  # + a batch's copies
        return memory.FLOAT_BYTES * domains * (5 * per_domain + transitions)

    # --- learning -----------------------------------------------------------

    def observe(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray, done: bool) -> Mapping[str, float] | None:
        """Store a transition, decay the noise, and update once learning has started; the losses if it updated."""
        scaled = reward * self.settings.reward_scale
        self.buffer.add(obs, action, scaled, next_obs, done)
        if self.settings.reward_norm:
            self._track_reward(np.asarray(scaled, dtype=np.float64))
        self.steps += 1
        self.sigma = max(self.settings.noise_sigma_min, self.sigma * self.settings.noise_decay)
        if self.steps < self.settings.learning_starts or self.buffer.size < self.settings.batch_size:
            return None
        return self.update_slots(self.rng.integers(0, self.buffer.size, size=self.settings.batch_size))

    def _track_reward(self, reward: np.ndarray) -> None:
        """Each domain's running std of its scaled reward: what the critic's targets are divided by."""
        std = running_std(self.reward_moments, reward)
        self.reward_std.copy_(torch.from_numpy(std[:, None].astype(np.float32)))

    def update_slots(self, idx: np.ndarray) -> Mapping[str, float]:
        """:meth:`update` on the transitions in buffer slots ``idx`` (on a GPU, through the captured graph)."""
        if self.device.type == "cuda" and self.settings.policy_delay == 1:
            return self._graphed_update(idx)
        return self.update(self.buffer.batch(idx))

    def update(self, batch: dict[str, torch.Tensor]) -> Mapping[str, float]:
        """One gradient step of every domain's critic and actor, then the soft target update."""
        return self._counted(self._learn(batch))

    def _counted(self, losses: dict[str, torch.Tensor]) -> Mapping[str, float]:
        """Record one update done (eager or replayed) and its losses."""
        self.losses = Losses(losses)
        self.updates += 1
        self._window_updates += 1
        return self.losses

    def _learn(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The update itself, tensor operations only (so a CUDA graph can capture it); the losses as tensors.

        Both losses are taken at the same critic parameters (as in the original
        DDPG implementations), so the critic's action-free part of the batch
        (conv features, own state) is computed once; the actor's gradient only
        flows through the critic's action term. With ``gamma=0`` (each request
        a one-shot auction) the target is the reward and no target network runs.
        """
        s = self.settings
        mask = self.action_mask
        reward = batch["reward"] / self.reward_std
        if s.gamma > 0:
            with torch.no_grad():
                next_action = self.actor_target(batch["next_obs"])
                if s.target_noise > 0:  # TD3's target policy smoothing
                    noise = (torch.randn_like(next_action) * s.target_noise).clamp(-2.5 * s.target_noise, 2.5 * s.target_noise)
                    next_action = (next_action + noise).clamp(-1.0, 1.0)
                next_action = next_action * mask
                next_q = self.critic_targets[0](batch["next_obs"], next_action)
                for target_critic in self.critic_targets[1:]:  # TD3: the smaller of the twin estimates
                    next_q = torch.minimum(next_q, target_critic(batch["next_obs"], next_action))
                target = reward + s.gamma * (1.0 - batch["done"]) * next_q
        else:
            target = reward
        action = batch["action"] * mask
        bases = [critic.base(batch["obs"]) for critic in self.critics]
        q = self.critic.head(bases[0], action)
        domain_critic_loss = F.mse_loss(q, target, reduction="none").mean(dim=1)
        for critic, base in zip(self.critics[1:], bases[1:]):
            domain_critic_loss = domain_critic_loss + F.mse_loss(critic.head(base, action), target, reduction="none").mean(dim=1)
        critic_loss = domain_critic_loss.sum()  # over independent domains

        actor_step = self.updates % s.policy_delay == 0
        z = self.actor.preactivation(batch["obs"])
        policy = torch.tanh(z) if s.bounding == "tanh" else z  # inverted gradients keep an unclipped output in range
        policy_action = policy * mask
        policy_q = self.critic.head(bases[0].detach(), policy_action)
        domain_actor_loss = -policy_q.mean(dim=1)
        (action_grad,) = torch.autograd.grad(domain_actor_loss.sum(), policy_action)
        if s.bounding == "invert":
            step_grad = inverted(action_grad, policy)
            z_grad = step_grad
        else:
            step_grad = action_grad
            z_grad = action_grad * (1.0 - policy.square())  # through the tanh
        per_action = mask.sum(dim=(1, 2)) * policy.shape[1]  # (D,) real action entries in the batch
        actor_grads: tuple[torch.Tensor, ...] = ()
        if actor_step:  # a delayed actor (TD3) skips its backward pass between steps
            surrogate = (policy_action * step_grad.detach()).sum()
            if s.preactivation_penalty > 0:
                surrogate = surrogate + s.preactivation_penalty * ((z * mask).square().sum(dim=(1, 2)) / per_action).sum()
            actor_grads = torch.autograd.grad(surrogate, list(self.actor.parameters()))

        with torch.no_grad():  # this update's health, per domain, summed into the window's
            self._window.add_(torch.stack([
                ((policy.abs() >= BOUND) * mask).sum(dim=(1, 2)) / per_action,
                (action_grad.abs() * mask).sum(dim=(1, 2)) * policy.shape[1] / per_action,  # the loss is -mean_b Q
                (z_grad.abs() * mask).sum(dim=(1, 2)) * policy.shape[1] / per_action,
                q.mean(dim=1),
                domain_critic_loss,
                domain_actor_loss,
            ]))  # fmt: skip

        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        if actor_step:
            for param, grad in zip(self.actor.parameters(), actor_grads):
                param.grad = grad
            self.actor_opt.step()
            if s.gamma > 0:
                soft_update(self.actor_target, self.actor, s.tau)
                soft_update(self.critic_targets, self.critics, s.tau)
        return {"critic_loss": critic_loss.detach() / self.domains, "actor_loss": domain_actor_loss.detach().sum() / self.domains}

    def _graphed_update(self, idx: np.ndarray) -> Mapping[str, float]:
        """:meth:`update` on the batch in slots ``idx``, through the captured CUDA graph (captured on first use)."""
        self._graph_index.copy_(torch.from_numpy(idx))
        if self._graph is None and self.updates < self.GRAPH_WARMUP:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                losses = self._learn(self.buffer.batch(self._graph_index))
            torch.cuda.current_stream(self.device).wait_stream(side)
        else:
            if self._graph is None:
                self.critic_opt.zero_grad(set_to_none=True)
                self.actor_opt.zero_grad(set_to_none=True)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    self._graph_losses = self._learn(self.buffer.batch(self._graph_index))
                self._graph = graph
            self._graph.replay()
            losses = self._graph_losses
        return self._counted(losses)

    def diagnostics(self) -> dict[str, float]:
        """Updates so far, the exploration noise, the last update's losses (mean over domains), and per
        domain the :data:`WINDOW_FIGURES` averaged over the updates since the previous call (those of the
        last window with updates when there were none since)."""
        if self._window_updates:
            means = (self._window / self._window_updates).cpu().numpy()
            self._window_figures = {
                f"domain{d}_{name}": float(means[i, d]) for i, name in enumerate(WINDOW_FIGURES) for d in range(self.domains)
            }
            self._window.zero_()
            self._window_updates = 0
        return {"updates": self.updates, "noise_sigma": self.sigma, **dict(self.losses), **self._window_figures}

    # --- checkpoints --------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critics.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "critic_target": self.critic_targets.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "sigma": self.sigma,
            "ou_state": torch.from_numpy(self.ou_state.copy()),
            "steps": self.steps,
            "updates": self.updates,
            "losses": dict(self.losses),
            **random_state(self.rng),
            "shapes": [self.domains, self.obs_dim, self.action_dim],
            "buffer": self.buffer.state_dict(),
            "window": self._window.cpu().clone(),
            "window_updates": self._window_updates,
            "window_figures": dict(self._window_figures),
            "reward_moments": torch.from_numpy(self.reward_moments.copy()),
            "reward_std": self.reward_std.cpu().clone(),
        }

    def _check_shapes(self, state: dict[str, Any]) -> None:
        if list(state["shapes"]) != [self.domains, self.obs_dim, self.action_dim]:
            raise ValueError(
                f"the checkpoint is for {state['shapes'][0]} domains with observation/action sizes "
                f"{state['shapes'][1]}/{state['shapes'][2]}, not {self.domains} with {self.obs_dim}/{self.action_dim}"
            )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_shapes(state)
        nets = {"actor": self.actor, "critic": self.critics, "actor_target": self.actor_target,
                "critic_target": self.critic_targets, "actor_opt": self.actor_opt, "critic_opt": self.critic_opt}  # fmt: skip
        for name, net in nets.items():
            net.load_state_dict(state[name])
        self.reward_moments = state["reward_moments"].numpy().copy()
        self.reward_std.copy_(state["reward_std"])
        self.sigma = float(state["sigma"])
        self.ou_state = state["ou_state"].numpy().copy()
        self.steps = int(state["steps"])
        self.updates = int(state["updates"])
        self.losses = {str(k): float(v) for k, v in state["losses"].items()}
        self.rng = restore_random_state(state)
        self.buffer.load_state_dict(state["buffer"])
        self._window.copy_(state["window"])
        self._window_updates = int(state["window_updates"])
        self._window_figures = {str(k): float(v) for k, v in state["window_figures"].items()}
        self._graph = None  # the optimizers' state tensors were replaced: capture again

    def policy_state_dict(self) -> dict[str, Any]:
        """The actors alone: acting without exploration needs nothing else."""
        return {"actor": self.actor.state_dict(), "shapes": [self.domains, self.obs_dim, self.action_dim]}

    def load_policy_state_dict(self, state: dict[str, Any]) -> None:
        """A per-element actor fits any layout with as many domains; a flat one only its own shapes."""
        if self.settings.policy == "element":
            if state["shapes"][0] != self.domains:
                raise ValueError(f"the policy is for {state['shapes'][0]} domains, not {self.domains}")
        else:
            self._check_shapes(state)
        self.actor.load_state_dict(state["actor"])
