"""Collect a sweep's jobs into tidy tables: ``python -m mdembed.analysis.aggregate DIR``.

Reads every finished job under DIR (a directory holding ``summary.json``, with
Hydra's ``.hydra/config.yaml`` and ``overrides.yaml`` beside it) and writes

- ``DIR/jobs.csv``: one row per job: algorithm, arrival rate, seed, its
  overrides, and the summary's scalar metrics;
- ``DIR/aggregate.csv``: one row per algorithm, arrival rate and metric: the
  number of jobs, the mean and a 95% confidence interval (Student t over seeds;
  empty with a single job).

Jobs that failed (an ``error.txt`` and no ``summary.json``) are listed on
stderr and left out, and so are data-centre runs (``scenario=dc_provisioning``,
whose summary has its own shape). Nothing is re-simulated.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from scipy import stats

from mdembed.config import MARKET_SCENARIO
from mdembed.errors import MdembedError
from mdembed.io import write_csv

METRICS = (
    "acceptance_ratio", "vnf_acceptance_ratio", "vl_acceptance_ratio", "revenue", "cost", "revenue_to_cost",
    "jain_index_mean", "decision_time_ms_median", "decision_time_ms_p95",
)  # fmt: skip
GROUP = ["algorithm", "arrival_rate"]


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
        "overrides": " ".join(overrides or []),
    }
    row.update({k: v for k, v in summary.items() if isinstance(v, (int, float)) and k not in row})
    return row


def collect(root: Path) -> tuple[pd.DataFrame, list[Path]]:
    """One row per finished job, and the directories of failed jobs."""
    if not root.is_dir():
        raise MdembedError(f"{root} is not a directory")
    summaries = {p: json.loads(p.read_text()) for p in sorted(root.rglob("summary.json"))}
    market = {p: s for p, s in summaries.items() if s.get("scenario", MARKET_SCENARIO) == MARKET_SCENARIO}
    rows = [_job_row(p, summary) for p, summary in market.items()]
    failed = sorted(p.parent for p in root.rglob("error.txt") if not (p.parent / "summary.json").exists())
    if not rows and summaries:
        raise MdembedError(f"no multi-domain run under {root}, only data-centre runs (python -m mdembed.plot draws theirs)")
    if not rows:
        raise MdembedError(f"no finished job (summary.json) under {root}")
    return pd.DataFrame(rows), failed


def aggregate(jobs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% confidence interval of each metric per algorithm and arrival rate (tidy, long)."""
    out = []
    for key, group in jobs.groupby(GROUP, dropna=False, sort=True):
        for metric in METRICS:
            if metric not in group:
                continue
            values = group[metric].dropna().to_numpy(dtype=float)
            n = len(values)
            mean = float(values.mean()) if n else math.nan
            half = math.nan
            if n > 1:
                half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
            out.append({**dict(zip(GROUP, key)), "metric": metric, "n": n, "mean": mean,
                        "ci95_low": mean - half, "ci95_high": mean + half})  # fmt: skip
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    try:
        jobs, failed = collect(args.directory)
    except MdembedError as err:
        print(f"mdembed: error: {err}", file=sys.stderr)
        sys.exit(2)
    table = aggregate(jobs)
    write_csv(args.directory / "jobs.csv", jobs)
    write_csv(args.directory / "aggregate.csv", table)
    for job in failed:
        print(f"mdembed: failed job left out: {job}", file=sys.stderr)
    wide = table.pivot_table(index=GROUP, columns="metric", values="mean").reindex(columns=[m for m in METRICS if m in set(table.metric)])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(wide.round(4).to_string())
    print(f"{len(jobs)} jobs -> {args.directory / 'jobs.csv'}, {args.directory / 'aggregate.csv'}")


if __name__ == "__main__":
    main()
