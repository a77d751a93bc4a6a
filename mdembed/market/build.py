"""The one place that turns validated settings into the objects of a run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mdembed.agents import ALGORITHMS, Algorithm, Context
from mdembed.agents.registry import AlgorithmSpec
from mdembed.settings import Settings
from mdembed.network.make import make_substrate
from mdembed.network.substrate import Substrate
from mdembed.core.seeding import stream
from mdembed.workload.requests import Request, generate_workload


@dataclass(frozen=True, eq=False)
class Run:
    substrate: Substrate
    requests: list[Request]
    algorithm: Algorithm


def algorithm_spec(settings: Settings) -> tuple[AlgorithmSpec, Any]:
    """The registry entry of ``algorithm.name`` and its validated settings (one-line errors, nothing built)."""
    params = dict(settings.algorithm)
    spec = ALGORITHMS.get(str(params.pop("name")))
    return spec, spec.parse(params)


def make_algorithm(settings: Settings, substrate: Substrate) -> Algorithm:
    return _build_algorithm(*algorithm_spec(settings), settings, substrate)


def _build_algorithm(spec: AlgorithmSpec, params: Any, settings: Settings, substrate: Substrate) -> Algorithm:
    context = Context(
        substrate=substrate,
        market=settings.market,
        routing=settings.routing,
        workload=settings.workload,
        rng=stream(settings.seed, f"algorithm/{spec.name}"),
        agent=settings.agent,
        seed=settings.seed,
        device=settings.device,
    )
    return spec.build(context, params)


def make_run(settings: Settings) -> Run:
    spec, params = algorithm_spec(settings)  # an unknown name or a bad algorithm.* key fails before any work
    substrate = make_substrate(settings.topology, settings.seed)
    algorithm = _build_algorithm(spec, params, settings, substrate)
    evaluation = dataclasses.replace(settings.workload, num_requests=settings.eval.requests)
    requests = generate_workload(evaluation, settings.eval_seed)  # substrate and algorithm: the run's seed
    return Run(substrate=substrate, requests=requests, algorithm=algorithm)
