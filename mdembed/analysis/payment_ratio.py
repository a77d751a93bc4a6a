"""How far a heuristic's embeddings are from the exact optimum, request by request.

``python -m mdembed.analysis.payment_ratio [--heuristic cff_3d] [--requests N] [overrides ...]``

Runs the exact ``ilp`` online; at each arrival the heuristic also decides on the
very same substrate state (its decision is discarded), so the two payments are
comparable. Payments are at the static prices every one of these algorithms
shares (the client's payment: price x demand), so the heuristic is one of
the static or search algorithms: not ilp itself, not a learner, whose prices
are its own. Prints ``name value unit`` lines.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mdembed.agents import ALGORITHMS
from mdembed.agents.registry import SEARCH, STATIC
from mdembed.market.build import make_algorithm, make_run
from mdembed.core.cli import ArgumentParser, count
from mdembed.run import compose_one
from mdembed.settings import settings_from_config
from mdembed.core.errors import ConfigError, command
from mdembed.records.occupancy import Occupancy
from mdembed.core.progress import AcceptanceStatus, Progress


def heuristics() -> list[str]:
    """The algorithms whose payments compare with ilp's: those at the shared static prices."""
    return [name for name in ALGORITHMS.names() if ALGORITHMS.get(name).kind in (STATIC, SEARCH)]


def payment_ratios(overrides: list[str], heuristic: str = "cff_3d") -> dict[str, float]:
    """The heuristic's payments over ilp's on the same states; a bad name or override is one ConfigError, before any work."""
    if heuristic not in heuristics():
        raise ConfigError(f"--heuristic {heuristic!r} is not a heuristic at the static prices; choose one of {', '.join(heuristics())}")
    settings = settings_from_config(compose_one([*overrides, "algorithm=ilp"]))
    run = make_run(settings)
    shadow = make_algorithm(dataclasses.replace(settings, algorithm={"name": heuristic}), run.substrate)
    market = Occupancy(run.substrate)
    ratios, exact_only, heuristic_only = [], 0, 0
    statuses: dict[str, int] = {}
    acceptance = AcceptanceStatus()
    bar = Progress(len(run.requests), settings.progress, desc="ilp", status=acceptance)
    for request in run.requests:
        market.arrive(request)
        greedy = shadow.decide(request, market.state)
        exact = run.algorithm.decide(request, market.state)
        if exact.accepted and greedy.accepted:
            ratios.append(greedy.domain_revenue.sum() / exact.domain_revenue.sum())
        exact_only += exact.accepted and not greedy.accepted
        heuristic_only += greedy.accepted and not exact.accepted
        market.commit(request, exact)
        acceptance.add(exact.accepted)
        bar.update()
    bar.close()
    statuses = dict(getattr(run.algorithm, "status_counts", {}))
    ratios_array = np.array(ratios)
    return {
        "requests": len(run.requests),
        "both_accept": len(ratios),
        "only_ilp_accepts": exact_only,
        f"only_{heuristic}_accepts": heuristic_only,
        f"mean_payment_ratio_{heuristic}_over_ilp": float(ratios_array.mean()) if len(ratios) else float("nan"),
        f"median_payment_ratio_{heuristic}_over_ilp": float(np.median(ratios_array)) if len(ratios) else float("nan"),
        f"max_payment_ratio_{heuristic}_over_ilp": float(ratios_array.max()) if len(ratios) else float("nan"),
        **{f"ilp_status_{k}": v for k, v in sorted(statuses.items())},
    }


@command
def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heuristic", default="cff_3d", help=f"one of {', '.join(heuristics())}")
    parser.add_argument("--requests", type=count, default=10_000)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for python -m mdembed.run")
    args = parser.parse_args()
    results = payment_ratios([*args.overrides, f"eval.requests={args.requests}"], args.heuristic)
    for name, value in results.items():
        unit = "x" if "ratio" in name else "requests"
        print(f"{name} {value:.4g} {unit}" if isinstance(value, float) else f"{name} {value} {unit}")


if __name__ == "__main__":
    main()
