"""Typed, validated settings of the data-centre scenario, read from the ``dc:`` config section (DESIGN 7).

Like :mod:`mdembed.config`, each subsection is a frozen dataclass checked in
``__post_init__``; an impossible value is one ConfigError line before any
work starts. The defaults here equal ``conf/experiment/dc_provisioning.yaml``
(a test checks it); the YAML carries the comments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from mdembed.config import checked, section, set_whole
from mdembed.errors import ConfigError

NUM_TYPES = 5  # VNF types; 3 actions each (allocate, uninstall, wait): 15 actions
RESOURCES = ("cpu", "memory", "bandwidth")
PHASES = ("exploration", "balanced", "exploitation", "fine_tuning")  # the four training phases, in order


def _positive(key: str, value: float, *, strict: bool = True) -> None:
    bad = value <= 0 if strict else value < 0
    if bad or not math.isfinite(value):
        raise ConfigError(f"{key} must be {'positive' if strict else 'non-negative'}, got {value}")


def _per_type(name: str, values: Any, *, whole: bool = False, strict: bool = True) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if len(values) != NUM_TYPES:
        raise ConfigError(f"{name} must list {NUM_TYPES} values (one per VNF type), got {len(values)}")
    for v in values:
        _positive(name, v, strict=strict)
        if whole and int(v) != v:
            raise ConfigError(f"{name} must be whole numbers, got {list(values)}")
    return tuple(int(v) for v in values) if whole else values


def _range(name: str, value: Any, *, low: float = 0.0) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a pair [min, max], got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or lo < low:
        raise ConfigError(f"{name} must be a finite pair [min, max] with {low} <= min <= max, got [{lo}, {hi}]")
    return lo, hi


@dataclass(frozen=True)
class DataCentreSettings:
    """The data centre, its 5 VNF types and the time step."""

    capacity: tuple[float, float, float] = (64.0, 128.0, 40_000.0)  # CPU cores, memory GB, bandwidth Mbit/s
    cpu: tuple[float, ...] = (4.0, 8.0, 6.0, 2.0, 4.0)  # cores per instance, per type
    memory_gb: tuple[float, ...] = (8.0, 16.0, 8.0, 4.0, 16.0)
    bandwidth_mbps: tuple[float, ...] = (2000.0, 4000.0, 2000.0, 1000.0, 2000.0)  # NIC reserved per instance
    instance_capacity_mbps: tuple[float, ...] = (400.0, 800.0, 500.0, 300.0, 400.0)  # chain traffic one instance serves
    processing_ms: tuple[float, ...] = (1.0, 2.0, 1.5, 0.5, 1.0)  # per-type processing delay at zero load
    initial_instances: tuple[int, ...] = (1, 1, 1, 1, 1)
    boot_steps: int = 1  # steps from allocate until an instance serves
    step_ms: float = 2.0  # wall-clock length of one step (one decision)
    efficiency_threshold: float = 0.8  # +0.3 reward when used / installed instance capacity exceeds it

    def __post_init__(self) -> None:
        s = "dc.datacentre"
        cap = tuple(float(c) for c in self.capacity)
        if len(cap) != len(RESOURCES) or min(cap) <= 0:
            raise ConfigError(f"{s}.capacity must be 3 positive numbers (CPU cores, memory GB, bandwidth Mbit/s), got {list(self.capacity)}")
        object.__setattr__(self, "capacity", cap)
        for key in ("cpu", "memory_gb", "bandwidth_mbps", "instance_capacity_mbps", "processing_ms"):
            object.__setattr__(self, key, _per_type(f"{s}.{key}", getattr(self, key)))
        object.__setattr__(self, "initial_instances", _per_type(f"{s}.initial_instances", self.initial_instances, whole=True, strict=False))
        set_whole(self, s, "boot_steps", minimum=0)
        _positive(f"{s}.step_ms", self.step_ms)
        if not 0 <= self.efficiency_threshold <= 1:
            raise ConfigError(f"{s}.efficiency_threshold must lie in [0, 1], got {self.efficiency_threshold}")
        used = [sum(n * f for n, f in zip(self.initial_instances, self.footprint(r))) for r in range(len(RESOURCES))]
        if any(u > c for u, c in zip(used, cap)):
            raise ConfigError(f"{s}.initial_instances need {used}, more than the capacity {list(cap)}")

    def footprint(self, resource: int) -> tuple[float, ...]:
        """Per-type use of one resource (0 CPU, 1 memory, 2 bandwidth) by one instance."""
        return (self.cpu, self.memory_gb, self.bandwidth_mbps)[resource]


@dataclass(frozen=True)
class DCWorkloadSettings:
    """SFC requests: Poisson arrivals per step, chains of distinct VNF types."""

    arrival_rate: float = 0.8  # mean requests per step
    rate_amplitude: float = 0.6  # rate(t) = arrival_rate * (1 + amplitude * sin(2 pi t / period)); 0: homogeneous
    rate_period: float = 400.0  # steps
    chain_length: tuple[int, int] = (2, 4)  # VNF types per chain ~ U{min..max}, distinct
    type_weights: tuple[float, ...] = (0.3, 0.15, 0.2, 0.2, 0.15)  # how often each type appears in chains
    bandwidth_mbps: tuple[float, float] = (20.0, 100.0)  # ~ U(min, max)
    latency_budget_ms: tuple[float, float] = (10.0, 40.0)  # ~ U(min, max)
    priorities: int = 3  # priority ~ U{1..priorities}; higher is served first
    mean_service_steps: float = 25.0  # service time in steps ~ Geometric (at least 1) with this mean

    def __post_init__(self) -> None:
        s = "dc.workload"
        _positive(f"{s}.arrival_rate", self.arrival_rate)
        if not 0 <= self.rate_amplitude <= 1:
            raise ConfigError(f"{s}.rate_amplitude must lie in [0, 1], got {self.rate_amplitude}")
        _positive(f"{s}.rate_period", self.rate_period)
        lo, hi = _range(f"{s}.chain_length", self.chain_length, low=1)
        if int(lo) != lo or int(hi) != hi or hi > NUM_TYPES:
            raise ConfigError(f"{s}.chain_length must be whole numbers within [1, {NUM_TYPES}], got [{lo}, {hi}]")
        object.__setattr__(self, "chain_length", (int(lo), int(hi)))
        object.__setattr__(self, "type_weights", _per_type(f"{s}.type_weights", self.type_weights))
        object.__setattr__(self, "bandwidth_mbps", _range(f"{s}.bandwidth_mbps", self.bandwidth_mbps))
        if self.bandwidth_mbps[0] <= 0:
            raise ConfigError(f"{s}.bandwidth_mbps must be positive")
        object.__setattr__(self, "latency_budget_ms", _range(f"{s}.latency_budget_ms", self.latency_budget_ms))
        set_whole(self, s, "priorities")
        if not self.mean_service_steps >= 1:
            raise ConfigError(f"{s}.mean_service_steps must be at least 1, got {self.mean_service_steps}")


@dataclass(frozen=True)
class DQNSettings:
    """The dueling double DQN with attention and prioritized replay (DESIGN 7)."""

    lr: float = 1e-3
    batch_size: int = 32
    buffer_size: int = 10_000
    gamma: float = 0.99
    target_update_every: int = 100  # environment steps between hard target-network copies
    learning_starts: int = 1_000  # steps of acting before the first update
    update_every: int = 2  # environment steps per gradient step
    alpha: float = 0.6  # priority exponent
    beta_start: float = 0.4  # importance-sampling exponent, annealed linearly to 1 over training
    priority_eps: float = 1e-3  # added to |TD error| so no transition gets priority 0
    epsilon_start: float = 1.0
    epsilon_min: float = 0.01
    epsilon_decay: float = 0.995  # epsilon x this per episode, then capped by the phase
    embed_dim: int = 32  # entity embedding width
    heads: int = 2  # attention heads
    hidden: int = 128  # units of the dueling streams
    grad_clip: float = 10.0  # max gradient norm
    max_chains: int = 16  # active-chain rows in the observation (most recent first)
    max_pending: int = 12  # pending-request rows in the observation (in serving order)

    def __post_init__(self) -> None:
        s = "dc.agent"
        for key in ("lr", "priority_eps", "epsilon_decay", "grad_clip"):
            _positive(f"{s}.{key}", getattr(self, key))
        for key in ("gamma", "alpha", "beta_start", "epsilon_start", "epsilon_min"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"{s}.{key} must lie in [0, 1], got {getattr(self, key)}")
        if self.epsilon_min > self.epsilon_start or self.epsilon_decay > 1:
            raise ConfigError(f"{s}: need epsilon_min <= epsilon_start and epsilon_decay <= 1")
        for key in ("batch_size", "buffer_size", "target_update_every", "update_every", "embed_dim", "heads", "hidden", "max_chains", "max_pending"):
            set_whole(self, s, key)
        set_whole(self, s, "learning_starts", minimum=0)
        if self.embed_dim % self.heads:
            raise ConfigError(f"{s}.embed_dim ({self.embed_dim}) must be a multiple of {s}.heads ({self.heads})")
        if self.batch_size > self.buffer_size:
            raise ConfigError(f"{s}.batch_size must not exceed {s}.buffer_size")


@dataclass(frozen=True)
class DCTrainSettings:
    """Training length, checkpoints and the four phases of exploration."""

    episodes: int = 120
    episode_steps: int = 500  # an episode is truncated (time limit, not a terminal state) after this many steps
    checkpoint_every: int = 20  # episodes between checkpoints (one more at the end)
    phase_epsilon: tuple[float, ...] = (1.0, 0.8, 0.5, 0.2)  # epsilon cap in each phase
    phase_fractions: tuple[float, ...] = (0.15, 0.25, 0.35, 0.25)  # share of the training episodes

    def __post_init__(self) -> None:
        s = "dc.train"
        for key in ("episodes", "episode_steps", "checkpoint_every"):
            set_whole(self, s, key)
        caps = tuple(float(c) for c in self.phase_epsilon)
        fractions = tuple(float(f) for f in self.phase_fractions)
        if not len(caps) == len(fractions) == len(PHASES):
            raise ConfigError(f"{s}.phase_epsilon and phase_fractions need {len(PHASES)} values each ({', '.join(PHASES)})")
        if any(not 0 <= c <= 1 for c in caps):
            raise ConfigError(f"{s}.phase_epsilon must lie in [0, 1], got {list(caps)}")
        if any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
            raise ConfigError(f"{s}.phase_fractions must be non-negative and sum to 1, got {list(fractions)}")
        object.__setattr__(self, "phase_epsilon", caps)
        object.__setattr__(self, "phase_fractions", fractions)

    @property
    def steps(self) -> int:
        return self.episodes * self.episode_steps

    def phase(self, episode: int) -> int:
        """Index of the phase an episode (0-based) belongs to."""
        bound = 0.0
        for i, fraction in enumerate(self.phase_fractions):
            bound += fraction * self.episodes
            if episode < bound - 1e-9:
                return i
        return len(self.phase_fractions) - 1


@dataclass(frozen=True)
class DCEvalSettings:
    """The held-out evaluation: one workload, the same for the DQN and the autoscaler."""

    steps: int = 10_000

    def __post_init__(self) -> None:
        set_whole(self, "dc.eval", "steps")


@dataclass(frozen=True)
class AutoscalerSettings:
    """The threshold autoscaler the DQN is compared with."""

    idle_steps: int = 10  # uninstall an instance of a type that has had a whole idle instance this many steps in a row
    min_instances: int = 1  # never scale a type in below this many running instances

    def __post_init__(self) -> None:
        set_whole(self, "dc.autoscaler", "idle_steps")
        set_whole(self, "dc.autoscaler", "min_instances", minimum=0)


@dataclass(frozen=True)
class DCSettings:
    datacentre: DataCentreSettings = field(default_factory=DataCentreSettings)
    workload: DCWorkloadSettings = field(default_factory=DCWorkloadSettings)
    agent: DQNSettings = field(default_factory=DQNSettings)
    train: DCTrainSettings = field(default_factory=DCTrainSettings)
    eval: DCEvalSettings = field(default_factory=DCEvalSettings)
    autoscaler: AutoscalerSettings = field(default_factory=AutoscalerSettings)
    window: int = 500  # steps per row of metrics.csv

    def __post_init__(self) -> None:
        set_whole(self, "dc", "window")


_SECTIONS = {"datacentre": DataCentreSettings, "workload": DCWorkloadSettings, "agent": DQNSettings,
             "train": DCTrainSettings, "eval": DCEvalSettings, "autoscaler": AutoscalerSettings}  # fmt: skip


def dc_settings(values: Mapping[str, Any] | None) -> DCSettings:
    """Validate the ``dc`` section of a resolved config (a plain mapping)."""
    values = dict(values or {})
    known = set(_SECTIONS) | {"window"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key dc.{unknown[0]}; known: {', '.join(sorted(known))}")
    parts = {name: section(cls, values.get(name), f"dc.{name}") for name, cls in _SECTIONS.items()}
    return DCSettings(**parts, window=checked("dc.window", int, values.get("window", DCSettings.window)))


def dc_settings_from_config(cfg: Mapping[str, Any]) -> DCSettings:
    """The ``dc`` section of a config (a plain dict or an OmegaConf container), validated."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        try:
            cfg = OmegaConf.to_container(cfg, resolve=True)
        except Exception as err:  # an interpolation the user wrote that cannot resolve
            raise ConfigError(f"cannot resolve the config: {str(err).splitlines()[0]}") from None
    return dc_settings(dict(cfg).get("dc"))
