"""DDPG's settings and its registry entry, apart from the learner so that a run imports torch only when it builds one."""

from __future__ import annotations

from dataclasses import dataclass

from mdembed.agents.registry import LEARNER, Algorithm, Context, register
from mdembed.config import ConfigError, set_whole

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


@register("ddpg", LEARNER, DDPGSettings)
def ddpg_pricing(context: Context, settings: DDPGSettings) -> Algorithm:
    from mdembed.agents.ddpg import DDPGPricing  # torch is imported here, when a learner is built

    return DDPGPricing(context, settings, int(context.rng.integers(2**31)))
