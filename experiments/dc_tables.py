"""Markdown tables of a data-centre study's dc_aggregate.csv, as in results/reference/dc/README.md.

    python experiments/dc_tables.py results/multirun/dc_study/dc_aggregate.csv
"""
import sys
import pandas as pd

t = pd.read_csv(sys.argv[1])
RULES = ["autoscaler", "predictive", "static_mean", "static_peak"]
POL = ["dqn"] + RULES
METRICS = [("acceptance_rate", "acceptance", 3, +1), ("sla_violation_rate", "SLA violations", 3, -1),
           ("resource_utilization", "resource utilization", 3, -1), ("instances", "instances", 1, -1),
           ("e2e_delay_ms_mean", "mean delay (ms)", 2, -1), ("e2e_delay_ms_p95", "p95 delay (ms)", 2, -1),
           ("reward_per_step", "reward / step", 3, +1)]
def cell(r, d):
    half = (r.ci95_high - r.ci95_low) / 2
    return f"{r['mean']:.{d}f} ± {half:.{d}f}"
for boot, g in t.groupby("boot_s"):
    g = g.set_index(["policy", "metric"])
    n = int(g.loc[("dqn", "acceptance_rate"), "n"])
    print(f"\n**Boot delay {boot:g} s** (mean ± 95% half-interval, n = {n} seeds)\n")
    print("| metric | " + " | ".join(POL) + " |")
    print("| --- |" + " --- |" * len(POL))
    for m, name, d, _ in METRICS:
        print(f"| {name} | " + " | ".join(cell(g.loc[(p, m)], d) for p in POL) + " |")
print("\n**DQN minus each rule, paired by seed** (mean [95% interval]; W: the DQN is better with the interval clear of 0, L: worse, T: the interval holds 0)\n")
print("| boot (s) | rule | " + " | ".join(name for _, name, _, _ in METRICS) + " |")
print("| --- | --- |" + " --- |" * len(METRICS))
for boot, g in t.groupby("boot_s"):
    g = g.set_index(["policy", "metric"])
    for rule in RULES:
        cells = []
        for m, _, d, sign in METRICS:
            r = g.loc[(f"dqn - {rule}", m)]
            verdict = "T" if r.ci95_low <= 0 <= r.ci95_high else ("W" if sign * r["mean"] > 0 else "L")
            cells.append(f"{r['mean']:+.{d}f} [{r.ci95_low:+.{d}f}, {r.ci95_high:+.{d}f}] {verdict}")
        print(f"| {boot:g} | {rule} | " + " | ".join(cells) + " |")
print("\n**The design's targets** (relative change of the DQN's mean against the rule's; target: acceptance +20%, resource utilization -50%, mean delay -42%; best rule: the rule with the highest reward per step at that boot delay)\n")
print("| boot (s) | against | acceptance | resource utilization | mean delay |")
print("| --- | --- | --- | --- | --- |")
for boot, g in t.groupby("boot_s"):
    g = g.set_index(["policy", "metric"])["mean"]
    best = max(RULES, key=lambda r: g[(r, "reward_per_step")])
    for label, rule in [(r + (" (best rule)" if r == best else ""), r) for r in RULES]:
        ch = [(g[("dqn", m)] - g[(rule, m)]) / g[(rule, m)] * 100 for m in ("acceptance_rate", "resource_utilization", "e2e_delay_ms_mean")]
        print(f"| {boot:g} | {label} | {ch[0]:+.1f}% | {ch[1]:+.1f}% | {ch[2]:+.1f}% |")
