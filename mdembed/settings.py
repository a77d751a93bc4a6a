"""Typed, validated settings of a run, read from the composed Hydra config.

Each section of the config becomes a frozen dataclass whose checks run in
``__post_init__``, so an impossible value is reported once, as one line,
before any work starts. Code below the run never reads the raw config. Also
here: which keys decide a run's results (:data:`CONTROL_KEYS` do not).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from mdembed.core.errors import ConfigError
from mdembed.core.validate import checked, flag, is_number, pair, plain, positive, section, set_whole

MAX_VNFS = 6  # |N'|max: the request tensor is MAX_VNFS x MAX_VNFS x 9
MAX_VLS = MAX_VNFS * (MAX_VNFS - 1) // 2  # VL slots of a request: one per pair of its VNFs
ADMISSION_MODES = ("all_or_nothing", "partial")
TIE_BREAKS = ("bandwidth", "index")
ROUTING_FALLBACKS = ("none", "k_shortest")

# The substrate counts resources in int64 units, so that capacity checks are exact sums, not float ones.
NODE_UNIT = 1_000_000  # integer units per normalized node-resource unit
BW_UNIT = 1_000  # integer units (kbit/s) per Mbit/s
# The largest resource a setting may ask for: these bounds keep a topology's sums of units far from 2**63.
MAX_NODE_RESOURCE = 1e9  # normalized units, per node and resource
MAX_BANDWIDTH_MBPS = 1e11  # Mbit/s, per link or virtual link
# The smallest positive one: 100 units, so that rounding to units moves a value by at most 0.5%. Below it, a
# demand would round to 0 units (or a capacity to far less than it says) and the checks would pass requests
# that do not fit.
RESOLUTION_UNITS = 100
MIN_NODE_RESOURCE = RESOLUTION_UNITS / NODE_UNIT  # 1e-4 normalized units
MIN_BANDWIDTH_MBPS = RESOLUTION_UNITS / BW_UNIT  # 0.1 Mbit/s
# Times: the arrival process's mean gap (1 / arrival_rate) and the mean lifetime lie in [1e-6, 1e9] time units,
# so that arrival times (a sum of up to 2**31 gaps) stay finite and lifetimes are not lost in their rounding.
TIME_RANGE = (1e-6, 1e9)
MAX_PRICE = 1e12  # prices x demands x requests must stay far from float overflow


def _at_most(section: str, key: str, values: tuple[float, ...], limit: float) -> None:
    if max(values) > limit:
        raise ConfigError(
            f"{section}.{key}: {max(values):g} is above the largest resource the simulator can count, {limit:g} "
            "(resources are int64 units)"
        )


def _resolved(section: str, key: str, values: tuple[float, ...], smallest: float, unit: str) -> None:
    """Refuse a positive resource the simulator's integer units cannot tell from 0 (or resolve to 0.5%)."""
    small = [v for v in values if 0 < v < smallest]
    if small:
        raise ConfigError(
            f"{section}.{key}: {small[0]:g} is below the smallest resource the simulator resolves, {smallest:g} {unit} "
            f"({RESOLUTION_UNITS} of its integer units); scale the topology's and the workload's values up together"
        )


def _in_time_range(section: str, key: str, value: float, what: str) -> None:
    lo, hi = TIME_RANGE
    if not lo <= value <= hi:
        raise ConfigError(f"{section}.{key} must put {what} within [{lo:g}, {hi:g}] time units; it is {value:g}")


@dataclass(frozen=True)
class TopologySettings:
    """Where the substrate comes from and how it is split and dimensioned (DESIGN 1-2)."""

    name: str = "bteurope"
    path: str | None = None
    num_domains: int = 3
    partition: str = "bfs"
    link_owner: str = "lower_id"
    node_capacity: tuple[float, float] = (0.3, 2.0)
    link_bandwidth_mbps: tuple[float, ...] = (20.0, 30.0, 50.0, 100.0)
    loss_max: float = 0.0005
    propagation_km_per_ms: float = 200.0
    default_delay_ms: float = 1.0

    def __post_init__(self) -> None:
        s = "topology"
        set_whole(self, s, "num_domains")
        object.__setattr__(self, "node_capacity", pair(f"{s}.node_capacity", self.node_capacity, low=0.0))
        if self.node_capacity[0] <= 0:
            raise ConfigError(f"{s}.node_capacity must be positive, got {list(self.node_capacity)}")
        try:
            bws = tuple(float(b) for b in self.link_bandwidth_mbps)
        except (TypeError, ValueError):
            raise ConfigError(f"{s}.link_bandwidth_mbps must be a list of numbers") from None
        if not bws or min(bws) <= 0:
            raise ConfigError(f"{s}.link_bandwidth_mbps must be a non-empty list of positive values")
        _at_most(s, "node_capacity", self.node_capacity, MAX_NODE_RESOURCE)
        _at_most(s, "link_bandwidth_mbps", bws, MAX_BANDWIDTH_MBPS)
        _resolved(s, "node_capacity", self.node_capacity, MIN_NODE_RESOURCE, "normalized units")
        _resolved(s, "link_bandwidth_mbps", bws, MIN_BANDWIDTH_MBPS, "Mbit/s")
        object.__setattr__(self, "link_bandwidth_mbps", bws)
        if not 0.0 <= self.loss_max < 1.0:
            raise ConfigError(f"{s}.loss_max must lie in [0, 1), got {self.loss_max}")
        positive(f"{s}.propagation_km_per_ms", self.propagation_km_per_ms)
        positive(f"{s}.default_delay_ms", self.default_delay_ms, strict=False)
        if self.path is not None:
            object.__setattr__(self, "path", os.path.expanduser(self.path))  # ~ as a shell would expand it


@dataclass(frozen=True)
class WorkloadSettings:
    """The VNF-FG generator and the arrival process (DESIGN 3)."""

    num_requests: int = 10_000
    arrival_rate: float = 0.05
    mean_lifetime: float = 100.0
    num_vnfs: tuple[int, int] = (3, 6)
    vnf_demand: tuple[float, float] = (0.02, 0.1)
    extra_vl_probability: float = 0.5
    vl_bandwidth_mbps: tuple[float, float] = (1.0, 30.0)
    vl_delay_ms: tuple[float, float] = (10.0, 50.0)
    vl_loss: tuple[float, float] = (0.0, 0.005)

    def __post_init__(self) -> None:
        s = "workload"
        set_whole(self, s, "num_requests")
        positive(f"{s}.arrival_rate", self.arrival_rate)
        positive(f"{s}.mean_lifetime", self.mean_lifetime)
        _in_time_range(s, "arrival_rate", 1.0 / self.arrival_rate, "the mean gap between arrivals, 1 / arrival_rate,")
        _in_time_range(s, "mean_lifetime", self.mean_lifetime, "the mean lifetime")
        lo, hi = pair(f"{s}.num_vnfs", self.num_vnfs, low=1)
        if int(lo) != lo or int(hi) != hi or hi > MAX_VNFS:
            raise ConfigError(f"{s}.num_vnfs must be whole numbers within [1, {MAX_VNFS}], got [{lo}, {hi}]")
        object.__setattr__(self, "num_vnfs", (int(lo), int(hi)))
        object.__setattr__(self, "vnf_demand", pair(f"{s}.vnf_demand", self.vnf_demand, low=0.0))
        if not 0.0 <= self.extra_vl_probability <= 1.0:
            raise ConfigError(f"{s}.extra_vl_probability must lie in [0, 1], got {self.extra_vl_probability}")
        object.__setattr__(self, "vl_bandwidth_mbps", pair(f"{s}.vl_bandwidth_mbps", self.vl_bandwidth_mbps, low=0.0))
        object.__setattr__(self, "vl_delay_ms", pair(f"{s}.vl_delay_ms", self.vl_delay_ms, low=0.0))
        _at_most(s, "vnf_demand", self.vnf_demand, MAX_NODE_RESOURCE)
        _at_most(s, "vl_bandwidth_mbps", self.vl_bandwidth_mbps, MAX_BANDWIDTH_MBPS)
        _resolved(s, "vnf_demand", self.vnf_demand, MIN_NODE_RESOURCE, "normalized units")
        _resolved(s, "vl_bandwidth_mbps", self.vl_bandwidth_mbps, MIN_BANDWIDTH_MBPS, "Mbit/s")
        lo, hi = pair(f"{s}.vl_loss", self.vl_loss, low=0.0)
        if hi >= 1.0:
            raise ConfigError(f"{s}.vl_loss must lie in [0, 1), got [{lo}, {hi}]")
        object.__setattr__(self, "vl_loss", (lo, hi))


@dataclass(frozen=True)
class MarketSettings:
    """How the client admits requests and the range every price lies in (DESIGN 4)."""

    admission: str = "all_or_nothing"
    price_min: float = 1.0
    price_max: float = 10.0
    tie_break: str = "bandwidth"

    def __post_init__(self) -> None:
        if self.tie_break not in TIE_BREAKS:
            raise ConfigError(f"market.tie_break must be one of {', '.join(TIE_BREAKS)}, got {self.tie_break!r}")
        if self.admission not in ADMISSION_MODES:
            raise ConfigError(
                f"market.admission must be one of {', '.join(ADMISSION_MODES)}, got {self.admission!r}"
            )
        positive("market.price_min", self.price_min, strict=False)
        positive("market.price_max", self.price_max, strict=False)
        if self.price_max > MAX_PRICE:
            raise ConfigError(f"market.price_max must be at most {MAX_PRICE:g}, got {self.price_max:g}")
        if self.price_min > self.price_max:
            raise ConfigError(
                f"market.price_min ({self.price_min}) is above market.price_max ({self.price_max})"
            )


@dataclass(frozen=True)
class RoutingSettings:
    """What the client does when the least-price path breaks a delay or loss bound.

    ``none`` rejects the VL; ``k_shortest`` tries the next least-price paths
    (Yen's algorithm), up to ``k`` of them, and takes the first that meets
    both bounds.
    """

    fallback: str = "k_shortest"
    k: int = 5

    def __post_init__(self) -> None:
        if self.fallback not in ROUTING_FALLBACKS:
            raise ConfigError(
                f"routing.fallback must be one of {', '.join(ROUTING_FALLBACKS)}, got {self.fallback!r}"
            )
        set_whole(self, "routing", "k")


@dataclass(frozen=True)
class MetricsSettings:
    """How many requests make one row of metrics.csv."""

    window: int = 500

    def __post_init__(self) -> None:
        set_whole(self, "metrics", "window")


MODES = ("train", "eval")
SCENARIO_SECTIONS = {"dc"}  # top-level config sections a scenario reads itself (dc: mdembed.dc.settings)
MAX_TORCH_THREADS = 1024
MARKET_SCENARIO = "market"  # the multi-domain scenario; a summary.json without "scenario" is one of its runs
DC_SCENARIO = "dc_provisioning"  # the data-centre scenario (DESIGN 7)


def scenario_of(summary: Mapping[str, Any]) -> Any:
    """A run summary's scenario; one without the key is a multi-domain run (written before there were two)."""
    return summary.get("scenario", MARKET_SCENARIO)

# Keys that change how a run is carried out or reported, never the numbers it produces. Every
# other key decides the results: it goes into run_settings.json, a finished run is kept by
# skip_completed only if those match, and a checkpoint resumes only under the same.
CONTROL_KEYS = (
    "progress", "overwrite", "skip_completed", "resume", "tensorboard", "keep_checkpoint", "hydra",
    "train.checkpoint_every", "dc.train.checkpoint_every",
)  # fmt: skip


def result_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved config minus :data:`CONTROL_KEYS`: what decides a run's results, as plain JSON values."""
    import json

    values = json.loads(json.dumps(dict(config), default=str))
    for key in CONTROL_KEYS:
        *parents, last = key.split(".")
        node = values
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return values


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two settings (control keys ignored on both sides, so a
    file written when other keys counted as control still compares)."""
    return _differences(result_settings(old), result_settings(new), "")


def _differences(old: Any, new: Any, prefix: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


# What a learning domain is rewarded with in training (DESIGN 4, item 6). "acceptance" is cooperative, a departure
# from the paper's non-cooperative model: every domain gets 1 when the request is accepted, 0 otherwise.
REWARDS = ("revenue", "acceptance")


@dataclass(frozen=True)
class AgentSettings:
    """What a learning domain observes, and what it is rewarded with in training."""

    observe_own_state: bool = True  # false: the request tensor only, as in the paper
    reward: str = "revenue"  # revenue: the domain's own (the paper's) | acceptance: 1 for every domain when the request is accepted

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ConfigError(f"agent.reward must be one of {', '.join(REWARDS)}, got {self.reward!r}")


@dataclass(frozen=True)
class TrainSettings:
    """How long a learning algorithm trains, on a workload of its own, before it is evaluated."""

    steps: int = 20_000  # training requests (one step each)
    checkpoint_every: int = 5_000  # steps between checkpoints (one more at the end)

    def __post_init__(self) -> None:
        set_whole(self, "train", "steps")
        set_whole(self, "train", "checkpoint_every")


@dataclass(frozen=True)
class EvalSettings:
    """The held-out evaluation: the run's own workload, without exploration.

    ``seed`` (None: the run's) draws the evaluation's requests from another
    seed on the same substrate: the requests a run of that seed evaluates on,
    which a policy trained under the run's seed has never seen.
    """

    requests: int = 10_000
    seed: int | None = None

    def __post_init__(self) -> None:
        set_whole(self, "eval", "requests")
        if self.seed is not None:
            set_whole(self, "eval", "seed", minimum=0)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated."""

    seed: int = 0
    scenario: str = MARKET_SCENARIO  # a name of mdembed.scenarios: market (multi-domain VNF-FG embedding) | dc_provisioning
    trace: bool = False
    progress: bool = True
    overwrite: bool = False
    skip_completed: bool = False
    mode: str = "train"  # train (then evaluate) | eval (evaluate `checkpoint` only)
    checkpoint: str | None = None
    resume: bool = False
    keep_checkpoint: bool = False  # keep checkpoints/last.pt (resume state: replay buffer, optimizers) after a run finishes
    tensorboard: bool = False
    torch_threads: int | None = 1  # None: torch's default (one per core); the count decides DDPG's numbers
    device: str = "cpu"  # where learners compute: cpu | cuda | cuda:N | auto (the GPU when there is one)
    topology: TopologySettings = field(default_factory=TopologySettings)
    workload: WorkloadSettings = field(default_factory=WorkloadSettings)
    market: MarketSettings = field(default_factory=MarketSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    algorithm: Mapping[str, Any] = field(default_factory=lambda: {"name": "cff_3d"})
    results: Mapping[str, Any] = field(default_factory=dict, compare=False)  # result_settings() of the config: what decides the results

    @property
    def eval_seed(self) -> int:
        """The seed of the evaluation's requests: ``eval.seed``, or the run's."""
        return self.seed if self.eval.seed is None else self.eval.seed

    def __post_init__(self) -> None:
        if not re.fullmatch(r"cpu|auto|cuda(:[0-9]+)?", str(self.device)):
            raise ConfigError(f"device must be cpu, cuda, cuda:N or auto, got {self.device!r}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "eval" and not self.checkpoint:
            raise ConfigError("mode=eval needs checkpoint=PATH")
        if self.mode == "eval" and self.resume:
            raise ConfigError("resume=true continues training; it does not go with mode=eval")
        if self.checkpoint is not None:
            object.__setattr__(self, "checkpoint", os.path.expanduser(self.checkpoint))  # ~ as a shell would expand it
        if "name" not in self.algorithm:
            raise ConfigError("algorithm.name is missing")


def settings_from_config(cfg: Mapping[str, Any]) -> Settings:
    """Validate a resolved config (a plain dict or an OmegaConf container)."""
    cfg = plain(cfg)
    known = {f.name for f in dataclasses.fields(Settings)} - {"results"} | SCENARIO_SECTIONS
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]}; known: {', '.join(sorted(known))}")
    sections = {
        "topology": TopologySettings, "workload": WorkloadSettings, "market": MarketSettings, "routing": RoutingSettings,
        "metrics": MetricsSettings, "agent": AgentSettings, "train": TrainSettings, "eval": EvalSettings,
    }  # fmt: skip
    algorithm = cfg.get("algorithm")
    if not isinstance(algorithm, Mapping):  # algorithm=null
        raise ConfigError(f"algorithm must be chosen (algorithm=NAME), got {algorithm!r}")
    torch_threads = cfg.get("torch_threads", 1)
    if torch_threads is not None and not (is_number(torch_threads) and torch_threads in range(1, MAX_TORCH_THREADS + 1)):
        raise ConfigError(f"torch_threads must be a whole number in [1, {MAX_TORCH_THREADS}] or null, got {torch_threads!r}")
    return Settings(
        seed=_seed(cfg.get("seed", 0)),
        scenario=checked("scenario", str, cfg.get("scenario", MARKET_SCENARIO)),
        trace=flag("trace", cfg.get("trace", False)),
        progress=flag("progress", cfg.get("progress", True)),
        overwrite=flag("overwrite", cfg.get("overwrite", False)),
        skip_completed=flag("skip_completed", cfg.get("skip_completed", False)),
        mode=checked("mode", str, cfg.get("mode", "train")),
        checkpoint=checked("checkpoint", str | None, cfg.get("checkpoint")),
        resume=flag("resume", cfg.get("resume", False)),
        keep_checkpoint=flag("keep_checkpoint", cfg.get("keep_checkpoint", False)),
        tensorboard=flag("tensorboard", cfg.get("tensorboard", False)),
        torch_threads=None if torch_threads is None else int(torch_threads),
        device=checked("device", str, cfg.get("device", "cpu")),
        **{name: section(cls, cfg.get(name), name) for name, cls in sections.items()},
        algorithm=dict(algorithm),
        results=result_settings(cfg),
    )


def _seed(value: Any) -> int:
    """Any non-negative integer, exactly (no reduction modulo 2**32: two seeds never share their streams)."""
    if not is_number(value) or not math.isfinite(value) or int(value) != value or value < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {value!r}")
    if isinstance(value, float) and value > 2**53:  # 1e300 is not the integer it reads as
        raise ConfigError(f"seed {value!r} is a float, exact only below 2**53; write the integer's digits")
    return int(value)
