"""Typed, validated settings of the data-centre scenario, read from the ``dc:`` config section (DESIGN 7).

Like :mod:`mdembed.settings`, each subsection is a frozen dataclass checked in
``__post_init__``; an impossible value is one ConfigError line before any
work starts. Every value has a range the simulation runs with (amounts
within [MIN_AMOUNT, MAX_AMOUNT], arrival rates up to MAX_ARRIVAL_RATE, see
below); the scenario's ``check`` also holds the agent's sizes against the
machine's memory (:func:`mdembed.dc.dqn.check_memory`). The defaults here
equal ``mdembed/conf/experiment/dc_provisioning.yaml`` (a test checks it); the YAML
carries the comments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from mdembed.core.validate import checked, plain, positive, section, set_whole
from mdembed.core.errors import ConfigError

NUM_TYPES = 5  # VNF types; 3 actions each (allocate, uninstall, wait): 15 actions
RESOURCES = ("cpu", "memory", "bandwidth")
PHASES = ("exploration", "balanced", "exploitation", "fine_tuning")  # the four training phases, in order
RULES = ("autoscaler", "predictive", "static_mean", "static_peak")  # the rules the DQN is evaluated against (dc.rules)
POLICIES = ("dqn", *RULES)  # every policy a run evaluates, in that order, each on the seed's same held-out workload

# Every amount of the scenario (resources, bandwidths, delays, the step's length, the period of the arrival cycle,
# the service time, the type weights) lies in [MIN_AMOUNT, MAX_AMOUNT]. The simulator sums, multiplies and divides them with one
# another and with counts below 2**31 (instances, requests, steps); within these bounds each result is a normal,
# finite float64: no division by zero (a latency budget of 0 ms), no overflow to inf or NaN, no subnormal ratio.
# A millionth of a core, GB, Mbit/s, ms or second is finer than anything a data centre resolves; 1e9 is beyond all.
MIN_AMOUNT, MAX_AMOUNT = 1e-6, 1e9
# The largest mean arrival rate, in requests per step (dc.workload.arrival_rate x dc.datacentre.step_s). Every request is an object the environment scans and sorts
# each step it waits, so a step costs time in proportion to the pending queue (about the rate times the steps a
# latency budget lasts): with the default budgets a step takes ~0.1 s at 1e3 requests per step (the default
# 10,000 evaluation steps ~20 minutes per policy) and over 1 s at 1e4, while numpy cannot draw a Poisson count
# above ~1e19 at all. The DC serves a few requests per step, so a rate near the bound already drops nearly all.
MAX_ARRIVAL_RATE = 1e3
MAX_LR = 1.0  # Adam moves each weight by up to lr per update: above 1 an update outweighs the weights themselves


def steps_of(seconds: float, step_s: float) -> int:
    """A duration in whole steps, rounded up; a rounding residue (0.03 s / 0.01 s = 3.0000000000000004) is not a step."""
    return max(0, math.ceil(seconds / step_s - 1e-9))


def _within(key: str, value: float, low: float = MIN_AMOUNT, high: float = MAX_AMOUNT, *, above: bool = False) -> None:
    """Refuse a value outside [low, high] (or (low, high] with ``above``), naming the key, the value and the range."""
    if not ((low < value if above else low <= value) and value <= high):
        raise ConfigError(f"{key} must lie in {'(' if above else '['}{low:g}, {high:g}], got {value!r}")


def _per_type(name: str, values: Any) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if len(values) != NUM_TYPES:
        raise ConfigError(f"{name} must list {NUM_TYPES} values (one per VNF type), got {len(values)}")
    return values


def _amounts(name: str, values: Any) -> tuple[float, ...]:
    """One amount per VNF type, each within [MIN_AMOUNT, MAX_AMOUNT]."""
    values = _per_type(name, values)
    for v in values:
        _within(name, v)
    return values


def _range(name: str, value: Any, low: float = MIN_AMOUNT, high: float = MAX_AMOUNT) -> tuple[float, float]:
    """A pair [min, max] with low <= min <= max <= high."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a pair [min, max], got {value!r}") from None
    if not low <= lo <= hi <= high:
        raise ConfigError(f"{name} must be a pair [min, max] with {low:g} <= min <= max <= {high:g}, got [{lo!r}, {hi!r}]")
    return lo, hi


@dataclass(frozen=True)
class DataCentreSettings:
    """The data centre, its 5 VNF types and the time scale: a decision every ``step_s`` seconds, instances
    that serve ``boot_s`` seconds after they are allocated (DESIGN 7, "Time scale")."""

    capacity: tuple[float, float, float] = (96.0, 224.0, 48_000.0)  # CPU cores, memory GB, bandwidth Mbit/s
    cpu: tuple[float, ...] = (4.0, 8.0, 6.0, 2.0, 4.0)  # cores per instance, per type
    memory_gb: tuple[float, ...] = (8.0, 16.0, 8.0, 4.0, 16.0)
    bandwidth_mbps: tuple[float, ...] = (2000.0, 4000.0, 2000.0, 1000.0, 2000.0)  # NIC reserved per instance
    instance_capacity_mbps: tuple[float, ...] = (400.0, 800.0, 500.0, 300.0, 400.0)  # chain traffic one instance serves
    processing_ms: tuple[float, ...] = (1.0, 2.0, 1.5, 0.5, 1.0)  # per-type processing delay at zero load
    initial_instances: tuple[int, ...] = (1, 1, 1, 1, 1)
    step_s: float = 1.0  # seconds between two decisions: one step
    boot_s: float = 30.0  # seconds from allocate until an instance serves (rounded up to whole steps)
    efficiency_threshold: float = 0.8  # +0.3 reward when used / installed instance capacity exceeds it

    def __post_init__(self) -> None:
        s = "dc.datacentre"
        cap = tuple(float(c) for c in self.capacity)
        if len(cap) != len(RESOURCES):
            raise ConfigError(f"{s}.capacity must be 3 numbers (CPU cores, memory GB, bandwidth Mbit/s), got {list(self.capacity)}")
        for c in cap:
            _within(f"{s}.capacity", c)
        object.__setattr__(self, "capacity", cap)
        for key in ("cpu", "memory_gb", "bandwidth_mbps", "instance_capacity_mbps", "processing_ms"):
            object.__setattr__(self, key, _amounts(f"{s}.{key}", getattr(self, key)))
        counts = _per_type(f"{s}.initial_instances", self.initial_instances)
        if any(n < 0 or int(n) != n for n in counts):
            raise ConfigError(f"{s}.initial_instances must be non-negative whole numbers, got {list(self.initial_instances)}")
        object.__setattr__(self, "initial_instances", tuple(int(n) for n in counts))
        _within(f"{s}.step_s", self.step_s)
        _within(f"{s}.boot_s", self.boot_s, 0.0)
        _within(f"{s}.efficiency_threshold", self.efficiency_threshold, 0.0, 1.0)
        used = [sum(n * f for n, f in zip(self.initial_instances, self.footprint(r))) for r in range(len(RESOURCES))]
        if any(u > c for u, c in zip(used, cap)):
            raise ConfigError(f"{s}.initial_instances need {used}, more than the capacity {list(cap)}")

    @property
    def boot_steps(self) -> int:
        """Steps from allocate until an instance serves: ``boot_s`` in whole steps, rounded up (0: it serves in the
        step it is allocated)."""
        return steps_of(self.boot_s, self.step_s)

    @property
    def step_ms(self) -> float:
        return 1000.0 * self.step_s

    def footprint(self, resource: int) -> tuple[float, ...]:
        """Per-type use of one resource (0 CPU, 1 memory, 2 bandwidth) by one instance."""
        return (self.cpu, self.memory_gb, self.bandwidth_mbps)[resource]


@dataclass(frozen=True)
class DCWorkloadSettings:
    """SFC requests: Poisson arrivals per step, chains of distinct VNF types; rates and times in seconds."""

    arrival_rate: float = 0.4  # mean requests per second
    rate_amplitude: float = 0.6  # rate(t) = arrival_rate * (1 + amplitude * sin(2 pi t / period)); 0: homogeneous
    rate_period_s: float = 600.0  # seconds per cycle of the arrival rate
    chain_length: tuple[int, int] = (2, 4)  # VNF types per chain ~ U{min..max}, distinct
    type_weights: tuple[float, ...] = (0.3, 0.15, 0.2, 0.2, 0.15)  # how often each type appears in chains
    bandwidth_mbps: tuple[float, float] = (20.0, 100.0)  # ~ U(min, max)
    latency_budget_ms: tuple[float, float] = (6.0, 20.0)  # ~ U(min, max)
    priorities: int = 3  # priority ~ U{1..priorities}; higher is served first
    mean_service_s: float = 50.0  # mean service time in seconds (Geometric in steps, at least one step)

    def __post_init__(self) -> None:
        s = "dc.workload"
        _within(f"{s}.arrival_rate", self.arrival_rate, 0.0, MAX_AMOUNT, above=True)
        _within(f"{s}.rate_amplitude", self.rate_amplitude, 0.0, 1.0)
        _within(f"{s}.rate_period_s", self.rate_period_s)
        lo, hi = _range(f"{s}.chain_length", self.chain_length, 1, NUM_TYPES)
        if int(lo) != lo or int(hi) != hi:
            raise ConfigError(f"{s}.chain_length must be whole numbers within [1, {NUM_TYPES}], got [{lo!r}, {hi!r}]")
        object.__setattr__(self, "chain_length", (int(lo), int(hi)))
        object.__setattr__(self, "type_weights", _amounts(f"{s}.type_weights", self.type_weights))
        object.__setattr__(self, "bandwidth_mbps", _range(f"{s}.bandwidth_mbps", self.bandwidth_mbps))
        object.__setattr__(self, "latency_budget_ms", _range(f"{s}.latency_budget_ms", self.latency_budget_ms))
        set_whole(self, s, "priorities")
        _within(f"{s}.mean_service_s", self.mean_service_s)


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
    n_step: int = 1  # rewards summed into one transition's return before bootstrapping
    mask_invalid: bool = False  # never pick an action the observation marks invalid (greedy, exploring or in targets)
    type_head: bool = True  # each type's advantages from one network shared by the types (else one over all features)

    # Keys that shape learning only, not the action a trained network picks: an evaluation may set them otherwise.
    # Every other dc.agent key must match the checkpoint's (a new key is checked until it is listed here).
    TRAINING_ONLY: ClassVar[frozenset[str]] = frozenset({
        "lr", "batch_size", "buffer_size", "gamma", "target_update_every", "learning_starts", "update_every", "alpha",
        "beta_start", "priority_eps", "epsilon_start", "epsilon_min", "epsilon_decay", "grad_clip", "n_step",
    })  # fmt: skip

    def __post_init__(self) -> None:
        s = "dc.agent"
        _within(f"{s}.lr", self.lr, 0.0, MAX_LR, above=True)
        _within(f"{s}.priority_eps", self.priority_eps)
        _within(f"{s}.epsilon_decay", self.epsilon_decay, 0.0, 1.0, above=True)
        positive(f"{s}.grad_clip", self.grad_clip)
        for key in ("gamma", "alpha", "beta_start", "epsilon_start", "epsilon_min"):
            _within(f"{s}.{key}", getattr(self, key), 0.0, 1.0)
        if self.epsilon_min > self.epsilon_start:
            raise ConfigError(f"{s}.epsilon_min ({self.epsilon_min}) must not exceed {s}.epsilon_start ({self.epsilon_start})")
        for key in ("batch_size", "buffer_size", "target_update_every", "update_every", "embed_dim", "heads", "hidden", "max_chains",
                    "max_pending", "n_step"):
            set_whole(self, s, key)
        set_whole(self, s, "learning_starts", minimum=0)
        if self.embed_dim % self.heads:
            raise ConfigError(f"{s}.embed_dim ({self.embed_dim}) must be a multiple of {s}.heads ({self.heads})")
        if self.batch_size > self.buffer_size:
            raise ConfigError(f"{s}.batch_size must not exceed {s}.buffer_size")


@dataclass(frozen=True)
class DCTrainSettings:
    """Training length, checkpoints and the four phases of exploration."""

    episodes: int = 100
    episode_steps: int = 600  # an episode is truncated (time limit, not a terminal state) after this many steps
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
    """The threshold autoscaler (reactive, like a Kubernetes horizontal autoscaler with a utilization target)."""

    target_utilization: float = 0.6  # scale out when load + unmet demand exceeds this share of installed capacity
    idle_steps: int = 60  # scale in after the load has fit this share of one instance fewer this many steps in a row
    min_instances: int = 1  # never scale a type in below this many running instances

    def __post_init__(self) -> None:
        _within("dc.autoscaler.target_utilization", self.target_utilization, 0.0, 1.0, above=True)
        set_whole(self, "dc.autoscaler", "idle_steps")
        set_whole(self, "dc.autoscaler", "min_instances", minimum=0)


@dataclass(frozen=True)
class ProvisionerSettings:
    """The rules that size instances from the known workload model: static (mean, peak) and predictive."""

    quantile: float = 0.95  # each sizes a type for this quantile of its load (normal approximation)

    def __post_init__(self) -> None:
        _within("dc.provisioner.quantile", self.quantile, 0.5, 0.9999)


@dataclass(frozen=True)
class DCSettings:
    datacentre: DataCentreSettings = field(default_factory=DataCentreSettings)
    workload: DCWorkloadSettings = field(default_factory=DCWorkloadSettings)
    agent: DQNSettings = field(default_factory=DQNSettings)
    train: DCTrainSettings = field(default_factory=DCTrainSettings)
    eval: DCEvalSettings = field(default_factory=DCEvalSettings)
    autoscaler: AutoscalerSettings = field(default_factory=AutoscalerSettings)
    provisioner: ProvisionerSettings = field(default_factory=ProvisionerSettings)
    window: int = 600  # steps per row of metrics.csv

    def __post_init__(self) -> None:
        set_whole(self, "dc", "window")
        step, w = self.datacentre.step_s, self.workload
        if w.arrival_rate * step > MAX_ARRIVAL_RATE:
            raise ConfigError(f"dc.workload.arrival_rate x dc.datacentre.step_s must be at most {MAX_ARRIVAL_RATE:g} "
                              f"requests per step, got {w.arrival_rate:g} x {step:g}")  # fmt: skip
        if w.mean_service_s < step:
            raise ConfigError(f"dc.workload.mean_service_s ({w.mean_service_s:g}) must be at least one step "
                              f"(dc.datacentre.step_s = {step:g})")  # fmt: skip


_SECTIONS = {"datacentre": DataCentreSettings, "workload": DCWorkloadSettings, "agent": DQNSettings,
             "train": DCTrainSettings, "eval": DCEvalSettings, "autoscaler": AutoscalerSettings,
             "provisioner": ProvisionerSettings}  # fmt: skip


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
    return dc_settings(plain(cfg).get("dc"))
