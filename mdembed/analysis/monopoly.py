"""The monopoly check: does a pricing learner find an answer known in advance?

``python -m mdembed.analysis.monopoly [overrides ...]`` (e.g. ``topology=abilene
algorithm.prices=domain train.steps=2000 eval.requests=1000``)

With a single domain the client can only buy from one seller. Scaling that
seller's whole price table up changes no CFF or Dijkstra choice and raises
its revenue, so the uniform ``price_max`` table earns a revenue any
revenue-maximising policy must at least match (and may beat, by quoting
prices that make requests use more of its links). The check trains the
run's learner (``algorithm=ddpg`` by default) in the one-domain market
(``topology.num_domains=1``), then evaluates its policy and the uniform
``price_max`` table on the same evaluation workload. Prints ``name value
unit`` lines; ``revenue_ratio`` >= 1 passes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mdembed.agents.static_price import StaticPriceCFF
from mdembed.market.build import algorithm_spec, make_run
from mdembed.core.cli import ArgumentParser
from mdembed.run import compose_one
from mdembed.settings import settings_from_config
from mdembed.embedding.prices import Prices
from mdembed.core.errors import ConfigError, command
from mdembed.records.metrics import MetricsRecorder
from mdembed.network.substrate import NUM_NODE_RESOURCES
from mdembed.records.occupancy import Occupancy
from mdembed.market.simulation import simulate


def monopoly_check(overrides: list[str]) -> dict[str, Any]:
    """Train the learner in a one-domain market; its evaluation against the uniform price_max table's."""
    from mdembed.market.run import training_task
    from mdembed.learning.loop import train

    settings = settings_from_config(compose_one(["algorithm=ddpg", *overrides, "topology.num_domains=1"]))
    if not algorithm_spec(settings)[0].learns:
        raise ConfigError(f"algorithm {settings.algorithm['name']} does not learn: the monopoly check is for learners")
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    run = make_run(settings)
    learner = run.algorithm
    with tempfile.TemporaryDirectory() as tmp:
        _, training = train(learner.learner, training_task(learner, settings), settings, Path(tmp))
    s, top = run.substrate, settings.market.price_max
    table = StaticPriceCFF(learner.context, Prices(node=np.full((s.num_nodes, 1, NUM_NODE_RESOURCES), top),
                                                   link=np.full((s.num_links, 1), top)))  # fmt: skip
    results = {name: _evaluate(algorithm, run, settings) for name, algorithm in (("learner", learner), ("table", table))}
    out: dict[str, Any] = {"requests": len(run.requests), "training_steps": settings.train.steps}
    for name, summary in results.items():
        out[f"{name}_revenue"] = summary["revenue"]
        out[f"{name}_acceptance_ratio"] = summary["acceptance_ratio"]
        out[f"{name}_mean_price"] = summary["domain_mean_price"][0]
    out["revenue_ratio"] = out["learner_revenue"] / out["table_revenue"]
    out["learner_at_bounds"] = training.get("domain0_at_bounds", float("nan"))
    return out


def _evaluate(algorithm, run, settings) -> dict[str, Any]:
    recorder = MetricsRecorder(run.substrate, len(run.requests), settings.metrics.window)
    simulate(run.requests, algorithm, Occupancy(run.substrate), recorder)
    return recorder.summary()


@command
def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for python -m mdembed.run")
    args = parser.parse_args()
    results = monopoly_check(args.overrides)
    units = {"acceptance_ratio": "", "revenue": "price units", "ratio": "x", "mean_price": "price units"}
    for name, value in results.items():
        unit = next((u for k, u in units.items() if name.endswith(k)), "")
        print(f"{name} {value:.6g} {unit}".rstrip() if isinstance(value, float) else f"{name} {value} {unit}".rstrip())


if __name__ == "__main__":
    main()
