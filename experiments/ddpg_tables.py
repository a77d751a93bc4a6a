"""Markdown tables of the DDPG study, as in experiments/README.md, from the sweep's aggregate.

    python -m mdembed.analysis.aggregate results/multirun/ddpg_study
    python experiments/ddpg_tables.py results/multirun/ddpg_study
"""
import sys
from pathlib import Path

import pandas as pd

ARMS = ["ddpg", "ddpg_paper", "ddpg_node", "ddpg_tanh", "ddpg_slot", "ddpg_gamma99", "ddpg_td3",
        "ddpg_layernorm", "ddpg_penalty", "cff_3d", "cff_sd"]
BASELINE = "cff_3d"
STATIC = {"cff_3d", "cff_sd"}  # quote fixed prices: no price-load correlation
DOMAINS = range(3)

directory = Path(sys.argv[1])
agg = pd.read_csv(directory / "aggregate.csv").set_index(["name", "arrival_rate", "metric"])
paired = pd.read_csv(directory / "paired.csv").set_index(["name", "baseline", "arrival_rate", "metric"])


def interval(name, rate, metric, digits):
    r = agg.loc[(name, rate, metric)]
    return f"{r['mean']:.{digits}f} ± {(r.ci95_high - r.ci95_low) / 2:.{digits}f}"


def per_domain(name, rate, metric, digits):
    return " / ".join(f"{agg.loc[(name, rate, f'{metric}_d{d}'), 'mean']:.{digits}f}" for d in DOMAINS)


for rate in sorted(agg.index.get_level_values("arrival_rate").unique()):
    names = [a for a in ARMS if (a, rate, "acceptance_ratio") in agg.index]
    print(f"\n**Arrival rate {rate:g}** (mean ± 95% half-interval over seeds; n = seeds)\n")
    print("| arm | n | VNF-FG | VNF | VL | revenue (x1000) | revenue / cost | Jain's index "
          "| mean quoted price d0 / d1 / d2 | price-load rank corr. d0 / d1 / d2 "
          f"| VNF-FG minus {BASELINE}, paired (95% interval) |")
    print("| --- " * 11 + "|")
    for name in names:
        n = int(agg.loc[(name, rate, "acceptance_ratio"), "n"])
        corr = ("none (static prices)" if name in STATIC
                else per_domain(name, rate, "domain_price_load_spearman", 2))
        key = (name, BASELINE, rate, "acceptance_ratio")
        diff = ""
        if key in paired.index:
            p = paired.loc[key]
            diff = f"{p['mean']:+.3f} [{p.ci95_low:+.3f}, {p.ci95_high:+.3f}]"
        cells = [name, str(n), interval(name, rate, "acceptance_ratio", 3),
                 interval(name, rate, "vnf_acceptance_ratio", 3), interval(name, rate, "vl_acceptance_ratio", 3),
                 f"{agg.loc[(name, rate, 'revenue'), 'mean'] / 1000:.0f}", interval(name, rate, "revenue_to_cost", 2),
                 interval(name, rate, "jain_index_mean", 3), per_domain(name, rate, "domain_mean_price", 2), corr, diff]
        print("| " + " | ".join(cells) + " |")

jobs = pd.read_csv(directory / "jobs.csv")
print("\n**VNF-FG acceptance per seed**\n")
print("| arm | rate | " + " | ".join(f"seed {s}" for s in sorted(jobs.seed.unique())) + " |")
print("| --- | --- |" + " --- |" * jobs.seed.nunique())
for (name, rate), g in jobs.groupby(["name", "arrival_rate"], sort=False):
    by_seed = g.set_index("seed").acceptance_ratio
    print(f"| {name} | {rate:g} | " + " | ".join(
        f"{by_seed[s]:.4f}" if s in by_seed else "" for s in sorted(jobs.seed.unique())) + " |")
