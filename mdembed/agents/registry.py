"""The algorithm interface and the registry every algorithm joins."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from mdembed.config import AgentSettings, MarketSettings, RoutingSettings, WorkloadSettings
from mdembed.embedding.client import Embedding
from mdembed.network.substrate import Substrate, SubstrateState
from mdembed.registry import Registry
from mdembed.workload.requests import Request


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


class Algorithm(ABC):
    """Decides the embedding of one request against the current substrate state."""

    #: (D,) each domain's mean quoted price for the last decision, where the algorithm has prices
    quoted_mean_prices: np.ndarray | None = None

    @abstractmethod
    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        """Return the embedding; the simulator allocates it, the algorithm must not."""

    def report(self) -> dict[str, Any]:
        """What the algorithm has to add to summary.json after a run (e.g. solver statuses)."""
        return {}


AlgorithmFactory = Callable[[Context, Mapping[str, Any]], Algorithm]
ALGORITHMS: Registry[AlgorithmFactory] = Registry("algorithm")
