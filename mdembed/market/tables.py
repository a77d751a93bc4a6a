"""A sweep's multi-domain runs as tidy tables: the market's part of ``mdembed aggregate``.

- ``jobs.csv``: one row per run: algorithm, arrival rate, seed, its
  overrides, and the summary's scalar metrics;
- ``aggregate.csv``: one row per algorithm, variant, arrival rate and
  metric: the number of runs, the mean and a 95% confidence interval (Student
  t over seeds; empty with a single run);
- ``paired.csv`` (``--baseline NAME``, default ``cff_3d`` when the
  directory holds it): per other algorithm, variant, arrival rate and metric,
  the per-seed differences to the baseline on the same workload (same seed,
  arrival rate and topology): their number, mean and 95% interval. Pairing
  removes the workload's share of the seed-to-seed spread.

A run's *variant* is what sets it apart from the directory's other runs
besides the sweep axes (seed, arrival rate, algorithm): its overrides that
not every run shares, space-separated; a study's ``arm=NAME`` override
reads as NAME. Its *name*, the label of tables and figures, is the arm, or
the algorithm followed by the variant.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from mdembed.core.errors import MdembedError
from mdembed.core.runs import Job, LeftOut, OtherScenario, read_hydra, require, require_finite, require_numbers, scan
from mdembed.core.statistics import mean_interval
from mdembed.core.validate import is_number
from mdembed.settings import MARKET_SCENARIO, scenario_of

METRICS = (
    "acceptance_ratio", "vnf_acceptance_ratio", "vl_acceptance_ratio", "revenue", "cost", "revenue_to_cost",
    "jain_index_mean", "decision_time_ms_median", "decision_time_ms_p95",
)  # fmt: skip
PER_DOMAIN = ("domain_revenue_d", "domain_mean_price_d", "domain_price_load_spearman_d")  # summary lists kept per domain
GROUP = ["algorithm", "variant", "arrival_rate"]
AXES = ("seed", "workload.arrival_rate", "algorithm")  # the overrides a sweep varies over seeds and loads
PAIR_KEY = ["arrival_rate", "seed", "topology"]  # two runs with these equal ran the same workload
DEFAULT_BASELINE = "cff_3d"  # the paired comparison's baseline when the directory holds it
REQUIRED = {"algorithm": str, "seed": int, "topology": str}  # what the tables and figures read, and its type


def variant_of(overrides: list[str], shared: frozenset[str] = frozenset()) -> str:
    """The overrides that set a job apart besides the sweep axes and the ``shared`` ones, space-separated."""
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in AXES and o not in shared]
    return " ".join(o.split("=", 1)[1] if o.startswith("arm=") else o for o in kept)


def name_of(algorithm: str, variant: str) -> str:
    """A job's label in tables and figures: its arm (a study's variant), else the algorithm and its variant."""
    if not variant:
        return algorithm
    return variant if variant.startswith(algorithm) else f"{algorithm} {variant}"


def read_market_job(directory: Path, summary: dict[str, Any]) -> Job:
    """The multi-domain run in ``directory`` with its ``summary``, checked, with its arrival rate and overrides from
    its Hydra files; :class:`LeftOut` naming the first value its tables or figures cannot read."""
    directory = Path(directory)
    if scenario_of(summary) != MARKET_SCENARIO:
        raise OtherScenario(scenario_of(summary))
    require(summary, REQUIRED)
    require_numbers(summary, METRICS, "")
    for key in (k for k in summary if k.startswith("domain_")):
        if not isinstance(summary[key], list):
            raise LeftOut(f"summary.json's {key} is {summary[key]!r}, not a list (one value per domain)")
        require_numbers(dict(enumerate(summary[key])), range(len(summary[key])), key)
    require_finite(summary)
    config = read_hydra(directory / ".hydra" / "config.yaml", dict, {})
    overrides = read_hydra(directory / ".hydra" / "overrides.yaml", list, [])
    if not all(isinstance(o, str) for o in overrides):
        raise LeftOut(".hydra/overrides.yaml is not a list of key=value lines")
    workload = config.get("workload", {})
    rate = workload.get("arrival_rate", math.nan) if isinstance(workload, dict) else None
    if not is_number(rate) or math.isinf(rate):  # NaN: the rate is unknown, as without a config.yaml
        raise LeftOut(f".hydra/config.yaml: workload.arrival_rate is {rate!r}, not a number")
    return Job(directory, MARKET_SCENARIO, summary, float(rate), tuple(overrides))


def _job_row(job: Job) -> dict[str, Any]:
    summary = job.summary
    row = {
        "job": str(job.directory),
        "algorithm": summary["algorithm"],
        "arrival_rate": job.arrival_rate,
        "seed": summary["seed"],
        "topology": summary["topology"],
        "overrides": list(job.overrides),
    }
    row.update({k: v for k, v in summary.items() if isinstance(v, (int, float)) and k not in row})
    for key, values in summary.items():  # per-domain lists (domain_revenue, ...) as one column per domain
        if key.startswith("domain_"):
            row.update({f"{key}_d{d}": v for d, v in enumerate(values)})
    return row


def jobs_table(jobs: list[Job]) -> pd.DataFrame:
    """One row per multi-domain job (at least one), with its variant and name (see the module's docstring)."""
    rows = [_job_row(job) for job in jobs]
    shared = frozenset.intersection(*(frozenset(r["overrides"]) for r in rows))
    for row in rows:
        row["variant"] = variant_of(row["overrides"], shared)
        row["name"] = name_of(row["algorithm"], row["variant"])
        row["overrides"] = " ".join(row["overrides"])
    return pd.DataFrame(rows)


def collect(root: Path) -> tuple[pd.DataFrame, list[Path]]:
    """One row per usable multi-domain run under ``root``, and the directories of the runs left out (other
    scenarios' runs among them)."""
    jobs, left_out = scan(root, read_market_job)
    return jobs_table(jobs), [path for path, _ in left_out]


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


def comparison(jobs: pd.DataFrame | None, requested: str | None) -> tuple[str | None, pd.DataFrame | None]:
    """The paired comparison's first baseline and table: ``requested`` (names separated by commas: one table with a
    ``baseline`` column), by default cff_3d when the jobs hold it; (None, None) for ``none`` or without a default.
    A name no job has, or a baseline that ran a workload twice, is an error, raised before any file is written."""
    jobs = pd.DataFrame({"name": []}) if jobs is None else jobs  # no multi-domain job: no name to compare with
    baseline = requested if requested is not None else (DEFAULT_BASELINE if DEFAULT_BASELINE in set(jobs.name) else "none")
    if baseline == "none":
        return None, None
    baselines = [b.strip() for b in baseline.split(",") if b.strip()]
    return baselines[0], pd.concat([paired(jobs, b) for b in baselines], ignore_index=True)


def paired(jobs: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per name (other than ``baseline``), arrival rate and metric: the mean of the per-seed differences
    name - baseline over the workloads both ran, and its 95% interval."""
    if baseline not in set(jobs.name):
        names = ", ".join(sorted(set(jobs.name))) or "no multi-domain job"
        raise MdembedError(f"no job named {baseline!r} to compare with (names: {names})")
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


def tables(directory: Path, jobs: list[Job], baseline: str | None) -> tuple[dict[str, pd.DataFrame], Callable[[], None]]:
    """The scenario's tables for ``mdembed aggregate`` (computed and the baseline checked, nothing written) and
    what it prints once they are written."""
    table = jobs_table(jobs)
    _, pairs = comparison(table, baseline)
    out = {"jobs.csv": table, "aggregate.csv": aggregate(table)}
    if pairs is not None and not pairs.empty:
        out["paired.csv"] = pairs
    return out, lambda: _print_market(table, out["aggregate.csv"], pairs, [Path(directory) / name for name in out])


def _print_market(jobs: pd.DataFrame, table: pd.DataFrame, pairs: pd.DataFrame | None,
                  written: list[Path]) -> None:  # fmt: skip
    wide = table.pivot_table(index=["name", "arrival_rate"], columns="metric", values="mean")
    wide = wide.reindex(columns=[m for m in METRICS if m in set(table.metric)])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(wide.round(4).to_string())
        for name, against in ([] if pairs is None or pairs.empty else pairs.groupby("baseline", sort=False)):
            accept = against[against.metric == "acceptance_ratio"].set_index(["name", "arrival_rate"])
            print(f"\nVNF-FG acceptance minus {name}'s on the same workloads (mean over seeds, 95% interval):")
            print(accept[["n", "mean", "ci95_low", "ci95_high"]].round(4).to_string())
    print(f"{len(jobs)} jobs -> {', '.join(str(p) for p in written)}")
