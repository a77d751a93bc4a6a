"""How far a heuristic's embeddings are from the exact optimum, request by request.

``python -m mdembed.analysis.cost_ratio [--heuristic cff_3d] [--requests N] [overrides ...]``

Runs the exact ``ilp`` online; at each arrival the heuristic also decides on the
very same substrate state (its decision is discarded), so the two costs are
comparable. Costs are at the static prices every one of these algorithms
shares (the client's payment: price x demand). Prints ``name value unit`` lines.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from mdembed.build import make_algorithm, make_run
from mdembed.config import compose, settings_from_config
from mdembed.occupancy import Occupancy
from mdembed.progress import AcceptanceStatus, Progress


def cost_ratios(overrides: list[str], heuristic: str = "cff_3d") -> dict[str, float]:
    settings = settings_from_config(compose([*overrides, "algorithm=ilp"]))
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
        f"mean_cost_ratio_{heuristic}_over_ilp": float(ratios_array.mean()) if len(ratios) else float("nan"),
        f"median_cost_ratio_{heuristic}_over_ilp": float(np.median(ratios_array)) if len(ratios) else float("nan"),
        f"max_cost_ratio_{heuristic}_over_ilp": float(ratios_array.max()) if len(ratios) else float("nan"),
        **{f"ilp_status_{k}": v for k, v in sorted(statuses.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heuristic", default="cff_3d")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for python -m mdembed.run")
    args = parser.parse_args()
    results = cost_ratios([*args.overrides, f"eval.requests={args.requests}"], args.heuristic)
    for name, value in results.items():
        unit = "x" if "ratio" in name else "requests"
        print(f"{name} {value:.4g} {unit}" if isinstance(value, float) else f"{name} {value} {unit}")


if __name__ == "__main__":
    main()
