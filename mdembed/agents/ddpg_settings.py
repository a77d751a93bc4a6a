"""DDPG's and TD3's settings and their registry entries, apart from the learner so that a run imports torch only when it builds one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mdembed.agents.registry import LEARNER, Algorithm, Context, register
from mdembed.core.errors import ConfigError
from mdembed.core.validate import set_whole
from mdembed.agents.ppo_settings import check_policy

NOISE_KINDS = ("gaussian", "ou")
BOUNDINGS = ("tanh", "invert")  # how the actor keeps its output in [-1, 1]
MAX_NOISE_SIGMA = 10.0  # the action lies in [-1, 1]: more noise than this only ever quotes the bounds


@dataclass(frozen=True)
class DDPGSettings:
    """Hyperparameters: the paper's (Adam, lrs, tau, batch, 300 units) with the study's prices, gamma and bounding."""

    actor_lr: float = 1e-4
    critic_lr: float = 1e-3
    gamma: float = 0.0  # each request is nearly a one-shot auction (the paper: 0.99)
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
    prices: str = "domain"  # slot | node | domain: what one quoted price covers (DESIGN 4.2; env/layout.py)
    policy: str = "flat"  # flat: one actor over the domain's whole observation | element: one per node and per link
    element_hidden: int = 64  # units of the per-element actor's hidden layers (policy=element)
    # Remedies for a saturating actor (tanh and the rest off: the paper's DDPG):
    bounding: str = "invert"  # tanh: squash the output; invert: linear output clipped, gradients inverted at the bounds
    preactivation_penalty: float = 0.0  # x mean squared pre-activation of the actor's output, added to its loss
    layer_norm: bool = False  # layer normalization (no affine) after every hidden layer of actor and critic
    reward_norm: bool = False  # divide each domain's rewards by their running standard deviation
    twin_critics: bool = False  # TD3: two critics per domain, the target takes their minimum
    target_noise: float = 0.0  # TD3: Gaussian noise on the target action (normalized units), clipped at 2x this
    policy_delay: int = 1  # TD3: one actor and target update per this many critic updates

    # Keys that shape learning only, not what a trained actor computes: an evaluation may set them otherwise.
    # Every other key must match the checkpoint's (a new key is checked until it is listed here).
    TRAINING_ONLY: ClassVar[frozenset[str]] = frozenset({
        "actor_lr", "critic_lr", "gamma", "tau", "batch_size", "conv_channels", "buffer_size", "learning_starts",
        "reward_scale", "noise", "noise_sigma", "noise_sigma_min", "noise_decay", "ou_theta", "preactivation_penalty",
        "reward_norm", "twin_critics", "target_noise", "policy_delay",
    })  # fmt: skip

    def __post_init__(self) -> None:
        for key in ("actor_lr", "critic_lr", "tau", "reward_scale"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"algorithm.{key} must be positive, got {getattr(self, key)}")
        check_policy(self.policy, self.prices)
        set_whole(self, "algorithm", "element_hidden")
        if self.bounding not in BOUNDINGS:
            raise ConfigError(f"algorithm.bounding must be one of {', '.join(BOUNDINGS)}, got {self.bounding!r}")
        for key in ("preactivation_penalty", "target_noise"):
            value = getattr(self, key)
            if not 0 <= value < float("inf"):
                raise ConfigError(f"algorithm.{key} must be a finite non-negative number, got {value}")
        for key in ("layer_norm", "reward_norm", "twin_critics"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"algorithm.{key} must be true or false, got {getattr(self, key)!r}")
        set_whole(self, "algorithm", "policy_delay")
        if not 0 <= self.gamma <= 1:
            raise ConfigError(f"algorithm.gamma must lie in [0, 1], got {self.gamma}")
        if self.tau > 1:
            raise ConfigError(f"algorithm.tau must lie in (0, 1], got {self.tau}")
        for key in ("batch_size", "hidden", "buffer_size"):
            set_whole(self, "algorithm", key)
        set_whole(self, "algorithm", "learning_starts", minimum=0)
        if self.batch_size > self.buffer_size:
            raise ConfigError(
                f"algorithm.batch_size ({self.batch_size}) must not exceed algorithm.buffer_size ({self.buffer_size}): "
                "the learner would never hold a batch and never update"
            )
        channels = tuple(self.conv_channels)
        if len(channels) != 3 or min(channels) < 1 or any(int(c) != c for c in channels):
            raise ConfigError(f"algorithm.conv_channels must be 3 positive integers, got {list(self.conv_channels)}")
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in channels))
        if self.noise not in NOISE_KINDS:
            raise ConfigError(f"algorithm.noise must be one of {', '.join(NOISE_KINDS)}, got {self.noise!r}")
        for key in ("noise_decay", "ou_theta"):
            if not 0 < getattr(self, key) <= 1:
                raise ConfigError(f"algorithm.{key} must lie in (0, 1], got {getattr(self, key)}")
        if not 0 <= self.noise_sigma <= MAX_NOISE_SIGMA:
            raise ConfigError(f"algorithm.noise_sigma must lie in [0, {MAX_NOISE_SIGMA}] (normalized action units), got {self.noise_sigma}")
        if not 0 <= self.noise_sigma_min <= self.noise_sigma:
            raise ConfigError(f"algorithm.noise_sigma_min must lie in [0, noise_sigma], got {self.noise_sigma_min}")


    FIRST_UPDATE: ClassVar[str] = "algorithm.learning_starts, or algorithm.batch_size transitions"  # what sets it

    def first_update(self) -> int:
        """The training step of the first update: learning has started and the buffer holds a batch."""
        return max(self.learning_starts, self.batch_size)


@dataclass(frozen=True)
class TD3Settings(DDPGSettings):
    """TD3's defaults (Fujimoto et al. 2018, as Stable-Baselines3 sets them) on top of DDPG's: twin critics, target
    policy smoothing, a delayed actor, and the discount they need (with gamma 0 no target network runs)."""

    gamma: float = 0.99
    twin_critics: bool = True
    target_noise: float = 0.2
    policy_delay: int = 2


QUICK = ("train.steps=60", "algorithm.learning_starts=40", "algorithm.buffer_size=100")  # a run in seconds, for the tests


def td3_pricing(context: Context, settings: DDPGSettings) -> Algorithm:
    """Every domain prices with its own TD3 (or DDPG) learner; the client embeds."""
    from mdembed.agents.policy_pricing import PolicyPricing
    from mdembed.agents.td3 import TD3  # torch is imported here, when a learner is built

    return PolicyPricing.with_learner(context, settings, TD3)


register("ddpg", LEARNER, DDPGSettings, quick=QUICK)(td3_pricing)
register("td3", LEARNER, TD3Settings, quick=QUICK)(td3_pricing)
