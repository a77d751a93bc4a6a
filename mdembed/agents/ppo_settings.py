"""Independent PPO's settings and its registry entry, apart from the learner so that a run imports torch only when it
builds one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mdembed.agents.registry import LEARNER, Algorithm, Context, register
from mdembed.core.errors import ConfigError
from mdembed.core.validate import set_whole
from mdembed.env.layout import PRICE_GRANULARITIES

POLICIES = ("flat", "element")  # one network over the domain's whole observation | one per node and per link, shared


def check_policy(policy: str, prices: str) -> None:
    """A per-element policy quotes per node resource and per link: the one granularity it can take."""
    if policy not in POLICIES:
        raise ConfigError(f"algorithm.policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if prices not in PRICE_GRANULARITIES:
        raise ConfigError(f"algorithm.prices must be one of {', '.join(PRICE_GRANULARITIES)}, got {prices!r}")
    if policy == "element" and prices != "node":
        raise ConfigError(f"algorithm.policy=element quotes one price per node resource and per link: it needs "
                          f"algorithm.prices=node, got {prices!r}")  # fmt: skip


@dataclass(frozen=True)
class PPOSettings:
    """Clipped PPO with GAE, one learner per domain (independent PPO), a Gaussian over normalized prices."""

    policy: str = "element"  # element (per node and per link, weights shared within a domain) | flat
    prices: str = "node"  # what one quoted price covers (element: node only)
    hidden: int = 64  # units of the policy's and the value network's hidden layers
    lr: float = 3e-4  # Adam, policy and value alike
    gamma: float = 0.9  # discount; 0 treats each request as a one-shot auction (0.9 won the study's tuning)
    gae_lambda: float = 0.95
    rollout: int = 512  # steps collected between updates
    epochs: int = 10  # passes over a rollout
    minibatch: int = 64  # transitions per gradient step
    clip: float = 0.2  # the probability ratio's clipping range
    entropy_coef: float = 0.0  # x the policy's entropy, subtracted from the loss
    value_coef: float = 0.5  # x the value loss, added to the loss
    max_grad_norm: float = 0.5  # each domain's gradient norm is clipped to this, apart
    log_std_init: float = -1.0  # the initial log standard deviation of the normalized price (state-independent)
    reward_scale: float = 0.01  # reward x this is what the value regresses
    normalize_reward: bool = True  # divide each domain's scaled rewards by the running std of its discounted return

    # Keys that shape learning only, not what a trained policy computes (see DDPGSettings.TRAINING_ONLY).
    TRAINING_ONLY: ClassVar[frozenset[str]] = frozenset({
        "lr", "gamma", "gae_lambda", "rollout", "epochs", "minibatch", "clip", "entropy_coef", "value_coef",
        "max_grad_norm", "log_std_init", "reward_scale", "normalize_reward",
    })  # fmt: skip

    def __post_init__(self) -> None:
        check_policy(self.policy, self.prices)
        if not isinstance(self.normalize_reward, bool):
            raise ConfigError(f"algorithm.normalize_reward must be true or false, got {self.normalize_reward!r}")
        for key in ("hidden", "rollout", "epochs", "minibatch"):
            set_whole(self, "algorithm", key)
        if self.minibatch > self.rollout:
            raise ConfigError(f"algorithm.minibatch ({self.minibatch}) must not exceed algorithm.rollout ({self.rollout})")
        for key in ("lr", "clip", "max_grad_norm", "reward_scale"):
            if not 0 < getattr(self, key) < float("inf"):
                raise ConfigError(f"algorithm.{key} must be a finite positive number, got {getattr(self, key)}")
        for key in ("gamma", "gae_lambda"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"algorithm.{key} must lie in [0, 1], got {getattr(self, key)}")
        for key in ("entropy_coef", "value_coef"):
            if not 0 <= getattr(self, key) < float("inf"):
                raise ConfigError(f"algorithm.{key} must be a finite non-negative number, got {getattr(self, key)}")
        if not -5 <= self.log_std_init <= 2:
            raise ConfigError(f"algorithm.log_std_init must lie in [-5, 2] (a std of 0.007 to 7.4 normalized units), got {self.log_std_init}")

    FIRST_UPDATE: ClassVar[str] = "algorithm.rollout: one full rollout"  # what sets it

    def first_update(self) -> int:
        """The training step of the first update: the first full rollout."""
        return self.rollout


@register("ppo", LEARNER, PPOSettings, quick=("train.steps=64", "algorithm.rollout=32", "algorithm.minibatch=16"))
def ppo_pricing(context: Context, settings: PPOSettings) -> Algorithm:
    from mdembed.agents.policy_pricing import PolicyPricing
    from mdembed.agents.ppo import PPO  # torch is imported here, when a learner is built

    return PolicyPricing.with_learner(context, settings, PPO)
