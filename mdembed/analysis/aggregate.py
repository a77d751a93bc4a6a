"""Collect a sweep's jobs into tidy tables: ``python -m mdembed.analysis.aggregate DIR``.

Reads every finished job under DIR (a directory holding ``summary.json``, with
Hydra's ``.hydra/config.yaml`` and ``overrides.yaml`` beside it) and writes

- ``DIR/jobs.csv``: one row per job: algorithm, arrival rate, seed, its
  overrides, and the summary's scalar metrics;
- ``DIR/aggregate.csv``: one row per algorithm, variant, arrival rate and
  metric: the number of jobs, the mean and a 95% confidence interval (Student
  t over seeds; empty with a single job);
- ``DIR/paired.csv`` (``--baseline NAME``, default ``cff_3d`` when the
  directory holds it): per other algorithm, variant, arrival rate and metric,
  the per-seed differences to the baseline on the same workload (same seed,
  arrival rate and topology): their number, mean and 95% interval. Pairing
  removes the workload's share of the seed-to-seed spread.

A job's *variant* is what sets it apart from the directory's other jobs
besides the sweep axes (seed, arrival rate, algorithm): its overrides that
not every job shares, space-separated; a study's ``arm=NAME`` override
reads as NAME. Its *name*, the label of tables and
figures, is the arm, or the algorithm followed by the variant.

Jobs that failed (an ``error.txt`` and no ``summary.json``, or a summary.json cut short) are listed on
stderr and left out. Data-centre runs (``scenario=dc_provisioning``), whose summary
has its own shape, get a table of their own, ``dc_aggregate.csv``: per metric of the
held-out evaluation, each policy's mean and 95% interval over the runs and the paired
difference DQN - autoscaler. Nothing is re-simulated.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from scipy import stats

from mdembed.config import MARKET_SCENARIO
from mdembed.errors import MdembedError, exit_with
from mdembed.io import read_json, write_csv

METRICS = (
    "acceptance_ratio", "vnf_acceptance_ratio", "vl_acceptance_ratio", "revenue", "cost", "revenue_to_cost",
    "jain_index_mean", "decision_time_ms_median", "decision_time_ms_p95",
)  # fmt: skip
PER_DOMAIN = ("domain_revenue_d", "domain_mean_price_d", "domain_price_load_spearman_d")  # summary lists kept per domain
GROUP = ["algorithm", "variant", "arrival_rate"]
AXES = ("seed", "workload.arrival_rate", "algorithm")  # the overrides a sweep varies over seeds and loads
PAIR_KEY = ["arrival_rate", "seed", "topology"]  # two jobs with these equal ran the same workload


class OnlyDataCentreRuns(MdembedError):
    """A directory whose finished runs are all of the data-centre scenario."""


def variant_of(overrides: list[str], shared: frozenset[str] = frozenset()) -> str:
    """The overrides that set a job apart besides the sweep axes and the ``shared`` ones, space-separated."""
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in AXES and o not in shared]
    return " ".join(o.split("=", 1)[1] if o.startswith("arm=") else o for o in kept)


def name_of(algorithm: str, variant: str) -> str:
    """A job's label in tables and figures: its arm (a study's variant), else the algorithm and its variant."""
    if not variant:
        return algorithm
    return variant if variant.startswith(algorithm) else f"{algorithm} {variant}"


def _job_row(summary_path: Path, summary: dict[str, Any]) -> dict[str, Any]:
    job = summary_path.parent
    config_path, overrides_path = job / ".hydra" / "config.yaml", job / ".hydra" / "overrides.yaml"
    config = yaml.safe_load(config_path.read_text()) if config_path.exists() else {}
    overrides = yaml.safe_load(overrides_path.read_text()) if overrides_path.exists() else []
    row = {
        "job": str(job),
        "algorithm": summary["algorithm"],
        "arrival_rate": (config.get("workload") or {}).get("arrival_rate", math.nan),
        "seed": summary["seed"],
        "topology": summary["topology"],
        "overrides": list(overrides or []),
    }
    row.update({k: v for k, v in summary.items() if isinstance(v, (int, float)) and k not in row})
    for key, values in summary.items():  # per-domain lists (domain_revenue, ...) as one column per domain
        if key.startswith("domain_") and isinstance(values, list):
            row.update({f"{key}_d{d}": v for d, v in enumerate(values) if isinstance(v, (int, float)) or v is None})
    return row


def collect(root: Path) -> tuple[pd.DataFrame, list[Path]]:
    """One row per finished job, and the directories of failed jobs."""
    if not root.is_dir():
        raise MdembedError(f"{root} is not a directory")
    read = {p: read_json(p) for p in sorted(root.rglob("summary.json"))}
    summaries = {p: s for p, s in read.items() if s is not None}  # a corrupt summary.json: an unfinished job
    market = {p: s for p, s in summaries.items() if s.get("scenario", MARKET_SCENARIO) == MARKET_SCENARIO}
    rows = [_job_row(p, summary) for p, summary in market.items()]
    failed = sorted({p.parent for p in root.rglob("error.txt") if (p.parent / "summary.json") not in summaries}
                    | {p.parent for p, s in read.items() if s is None})  # fmt: skip
    if not rows and summaries:
        raise OnlyDataCentreRuns(f"no multi-domain run under {root}, only data-centre runs (python -m mdembed.plot draws theirs)")
    if not rows:
        raise MdembedError(f"no finished job (summary.json) under {root}")
    shared = frozenset.intersection(*(frozenset(r["overrides"]) for r in rows))
    for row in rows:
        row["variant"] = variant_of(row["overrides"], shared)
        row["name"] = name_of(row["algorithm"], row["variant"])
        row["overrides"] = " ".join(row["overrides"])
    return pd.DataFrame(rows), failed


def aggregate(jobs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% confidence interval of each metric (and each domain's revenue, mean quoted price and
    price-load correlation) per algorithm, variant and arrival rate (tidy, long)."""
    out = []
    if "variant" not in jobs:
        jobs = jobs.assign(variant="")
    metrics = [*METRICS, *sorted(c for c in jobs.columns if c.startswith(PER_DOMAIN))]
    for key, group in jobs.groupby(GROUP, dropna=False, sort=True):
        for metric in metrics:
            if metric in group:
                out.append({**dict(zip(GROUP, key)), "metric": metric, **mean_interval(group[metric])})
    table = pd.DataFrame(out)
    table.insert(0, "name", [name_of(a, v) for a, v in zip(table.algorithm, table.variant)])
    return table


def mean_interval(values: pd.Series) -> dict[str, float]:
    """n, mean and the 95% Student t interval of the mean (NaN bounds with fewer than 2 values)."""
    x = values.dropna().to_numpy(dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"n": n, "mean": mean, "ci95_low": mean - half, "ci95_high": mean + half}


def paired(jobs: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per name (other than ``baseline``), arrival rate and metric: the mean of the per-seed differences
    name - baseline over the workloads both ran, and its 95% interval."""
    if baseline not in set(jobs.name):
        raise MdembedError(f"no job named {baseline!r} to compare with (names: {', '.join(sorted(set(jobs.name)))})")
    base = jobs[jobs.name == baseline]
    if base.duplicated(PAIR_KEY).any():
        raise MdembedError(f"{baseline} ran some workload (seed, arrival rate, topology) more than once: cannot pair")
    out = []
    for name, group in jobs[jobs.name != baseline].groupby("name", sort=True):
        both = group.merge(base, on=PAIR_KEY, suffixes=("", "_baseline"))
        for rate, pairs in both.groupby("arrival_rate", sort=True):
            for metric in METRICS:
                if metric in pairs and f"{metric}_baseline" in pairs:
                    diff = pairs[metric] - pairs[f"{metric}_baseline"]
                    out.append({"name": name, "baseline": baseline, "arrival_rate": rate, "metric": metric,
                                **mean_interval(diff), "seeds": " ".join(str(s) for s in sorted(pairs.seed))})  # fmt: skip
    return pd.DataFrame(out)


DC_SCENARIO = "dc_provisioning"
DC_POLICIES = ("dqn", "autoscaler")
DC_METRICS = ("acceptance_rate", "sla_violation_rate", "resource_utilization", "instance_efficiency", "e2e_delay_ms_mean",
              "e2e_delay_ms_p95", "instances", "reward_per_step")  # fmt: skip


def collect_dc(root: Path) -> list[dict[str, Any]]:
    """The summaries of the finished data-centre runs under ``root`` (a corrupt summary.json is an unfinished run)."""
    summaries = [read_json(p) for p in sorted(Path(root).rglob("summary.json"))]
    return [s for s in summaries if s is not None and s.get("scenario") == DC_SCENARIO]


def aggregate_dc(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """Per metric of the held-out evaluation: each policy's mean and 95% interval over the runs, and the mean
    difference DQN - autoscaler paired by run (both policies see the run's same workload)."""
    out = []
    for metric in DC_METRICS:
        values = {p: pd.Series([s[p].get(metric) for s in summaries], dtype=float) for p in DC_POLICIES}
        for policy in DC_POLICIES:
            out.append({"policy": policy, "metric": metric, **mean_interval(values[policy])})
        out.append({"policy": "dqn - autoscaler", "metric": metric, **mean_interval(values["dqn"] - values["autoscaler"])})
    table = pd.DataFrame(out)
    table.insert(0, "seeds", " ".join(str(s["seed"]) for s in sorted(summaries, key=lambda s: s["seed"])))
    return table


def _main_dc(directory: Path, summaries: list[dict[str, Any]]) -> None:
    table = aggregate_dc(summaries)
    write_csv(directory / "dc_aggregate.csv", table)
    wide = table.pivot_table(index="metric", columns="policy", values="mean", sort=False)
    print(wide.round(4).to_string())
    print(f"{len(summaries)} data-centre runs -> {directory / 'dc_aggregate.csv'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--baseline", help="the name the paired comparison takes differences to (default: cff_3d when "
                        "the directory holds it; 'none': no paired comparison)")  # fmt: skip
    args = parser.parse_args()
    dc = collect_dc(args.directory) if args.directory.is_dir() else []
    if dc:
        _main_dc(args.directory, dc)
    try:
        jobs, failed = collect(args.directory)
        baseline = args.baseline or ("cff_3d" if "cff_3d" in set(jobs.name) else "none")
        pairs = paired(jobs, baseline) if baseline != "none" else None
    except OnlyDataCentreRuns:
        return  # their table is written
    except MdembedError as err:
        exit_with(err)
    table = aggregate(jobs)
    write_csv(args.directory / "jobs.csv", jobs)
    write_csv(args.directory / "aggregate.csv", table)
    written = [args.directory / "jobs.csv", args.directory / "aggregate.csv"]
    for job in failed:
        print(f"mdembed: failed job left out: {job}", file=sys.stderr)
    wide = table.pivot_table(index=["name", "arrival_rate"], columns="metric", values="mean")
    wide = wide.reindex(columns=[m for m in METRICS if m in set(table.metric)])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(wide.round(4).to_string())
        if pairs is not None and not pairs.empty:
            write_csv(args.directory / "paired.csv", pairs)
            written.append(args.directory / "paired.csv")
            accept = pairs[pairs.metric == "acceptance_ratio"].set_index(["name", "arrival_rate"])
            print(f"\nVNF-FG acceptance minus {baseline}'s on the same workloads (mean over seeds, 95% interval):")
            print(accept[["n", "mean", "ci95_low", "ci95_high"]].round(4).to_string())
    print(f"{len(jobs)} jobs -> {', '.join(str(p) for p in written)}")


if __name__ == "__main__":
    main()
