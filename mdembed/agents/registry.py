"""The algorithm contract and the registry every algorithm joins.

An entry (:class:`AlgorithmSpec`) says what kind of algorithm a name is and
carries its settings class, so every ``algorithm.*`` key is validated before
a run touches its directory. A learning algorithm also exposes a
:class:`Learner`, the protocol the training loop drives: the loop knows no
concrete agent.

An entry also carries what the package's tests need to cover it without a
hand edit (``quick``: the overrides that make a run of it take seconds); what
else a new algorithm provides is listed in docs/ARCHITECTURE.md ("Algorithms").
Besides the import lines of :mod:`mdembed.agents`, a distribution of its own may
register algorithms through the ``mdembed.algorithms`` entry point group
(:data:`PLUGIN_GROUP`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from mdembed.settings import ADMISSION_MODES, AgentSettings, MarketSettings, RoutingSettings, WorkloadSettings
from mdembed.core.validate import section
from mdembed.embedding.client import Embedding
from mdembed.embedding.prices import Prices
from mdembed.core.errors import ConfigError
from mdembed.learning.protocol import Learner
from mdembed.network.substrate import Substrate, SubstrateState
from mdembed.core.registry import Registry
from mdembed.workload.requests import Request

STATIC = "static"  # fixed prices, CFF + Dijkstra
RULE = "rule"  # prices from a fixed rule of each domain's own state, CFF + Dijkstra
SEARCH = "search"  # searches each decision (annealing)
EXACT = "exact"  # solves each decision to optimality
LEARNER = "learner"  # trains on a workload of its own, then is evaluated
KINDS = (STATIC, RULE, SEARCH, EXACT, LEARNER)


@dataclass(frozen=True, eq=False)
class Context:
    """What an algorithm may know when it is built."""

    substrate: Substrate
    market: MarketSettings
    routing: RoutingSettings
    workload: WorkloadSettings
    rng: np.random.Generator  # the algorithm's own stream of the run's seed
    agent: AgentSettings = AgentSettings()
    seed: int = 0  # the run's seed, for streams shared between algorithms (e.g. static prices)
    device: str = "cpu"  # where a learner computes (the `device` setting)


class Algorithm(ABC):
    """Decides the embedding of one request against the current substrate state."""

    #: the price table of the last decision, where the algorithm has one: what the metrics take each domain's mean
    #: quoted price (Prices.domain_means) and each element's price against its load from
    quoted_prices: Prices | None = None

    @abstractmethod
    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        """Return the embedding; the simulator allocates it, the algorithm must not."""

    def report(self) -> dict[str, Any]:
        """What the algorithm has to add to summary.json after a run (e.g. solver statuses)."""
        return {}


class LearningAlgorithm(Algorithm):
    """A market algorithm whose decisions come from a trained :class:`Learner`.

    ``layout`` is the one :class:`~mdembed.env.layout.DomainLayout` the
    learner and its training environment share.
    """

    learner: Learner
    layout: Any
    portable: bool = False  # its saved policy acts on another substrate with as many domains (per-element policies)


Factory = Callable[[Context, Any], Algorithm]


@dataclass(frozen=True)
class AlgorithmSpec:
    """A registry entry: the algorithm's name, kind, settings class and factory."""

    name: str
    kind: str
    settings: type | None  # a frozen dataclass checked in __post_init__; None: the algorithm takes no keys
    factory: Factory
    admissions: tuple[str, ...] = ADMISSION_MODES  # the market.admission modes its embeddings implement
    quick: tuple[str, ...] = ()  # overrides that make a run of it (with experiment=smoke) take seconds: what tests run

    @property
    def learns(self) -> bool:
        return self.kind == LEARNER

    def parse(self, params: Mapping[str, Any]) -> Any:
        """The validated settings of ``algorithm.*`` (without ``name``); a one-line ConfigError otherwise."""
        if self.settings is None:
            if params:
                raise ConfigError(f"algorithm {self.name} takes no parameters, got {', '.join(sorted(params))}")
            return None
        return section(self.settings, params, "algorithm")

    def build(self, context: Context, settings: Any) -> Algorithm:
        """The algorithm, from settings :meth:`parse` returned."""
        return self.factory(context, settings)

    def __call__(self, context: Context, params: Mapping[str, Any]) -> Algorithm:
        """Parse ``params``, then build (for scripts and tests)."""
        return self.build(context, self.parse(params))


ALGORITHMS: Registry[AlgorithmSpec] = Registry("algorithm")
PLUGIN_GROUP = "mdembed.algorithms"  # entry points naming modules (of other distributions) that register algorithms


def register(name: str, kind: str, settings: type | None = None,
             admissions: tuple[str, ...] = ADMISSION_MODES, quick: tuple[str, ...] = ()) -> Callable[[Factory], Factory]:  # fmt: skip
    """Add ``factory(context, settings) -> Algorithm`` to :data:`ALGORITHMS` under ``name``.

    ``admissions``: the admission modes the algorithm implements; a run with
    another is refused before it starts (an exact or searched embedding of a
    whole request has no partial result to keep). ``quick``: Hydra overrides
    that, added to ``experiment=smoke``, make a run of it take seconds (a
    learner's shorter training, e.g. ``train.steps=60``); the end-to-end tests
    run every registered algorithm with them.
    """
    if kind not in KINDS:
        raise ValueError(f"algorithm kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if isinstance(quick, str) or not all(isinstance(o, str) and "=" in o for o in quick):
        raise ValueError(f"quick must be a tuple of key=value overrides, got {quick!r}")

    def decorator(factory: Factory) -> Factory:
        ALGORITHMS.register(name)(AlgorithmSpec(name, kind, settings, factory, admissions, tuple(quick)))
        return factory

    return decorator
