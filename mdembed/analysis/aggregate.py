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

A job that cannot be used is listed on stderr, with why, and left out
(:func:`scan`, which ``python -m mdembed.plot`` shares): one that failed (an
``error.txt`` and no ``summary.json``), a summary.json cut short or lacking
a value the tables read (:func:`check_summary`), unreadable Hydra files. Every
table is computed, and ``--baseline`` checked, before the first file is
written. Data-centre runs (``scenario=dc_provisioning``), whose summary
has its own shape, get a table of their own, ``dc_aggregate.csv``: per metric of the
held-out evaluation, each policy's mean and 95% interval over the runs and the paired
difference DQN - autoscaler. Nothing is re-simulated.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mdembed.core.cli import ArgumentParser
from mdembed.settings import DC_SCENARIO, MARKET_SCENARIO, SCENARIO_NAMES
from mdembed.dc.settings import POLICIES
from mdembed.core.errors import MdembedError, command
from mdembed.core.io import leaves, read_json, write_csv

METRICS = (
    "acceptance_ratio", "vnf_acceptance_ratio", "vl_acceptance_ratio", "revenue", "cost", "revenue_to_cost",
    "jain_index_mean", "decision_time_ms_median", "decision_time_ms_p95",
)  # fmt: skip
PER_DOMAIN = ("domain_revenue_d", "domain_mean_price_d", "domain_price_load_spearman_d")  # summary lists kept per domain
GROUP = ["algorithm", "variant", "arrival_rate"]
AXES = ("seed", "workload.arrival_rate", "algorithm")  # the overrides a sweep varies over seeds and loads
PAIR_KEY = ["arrival_rate", "seed", "topology"]  # two jobs with these equal ran the same workload
DEFAULT_BASELINE = "cff_3d"  # the paired comparison's baseline when the directory holds it
DC_POLICIES = POLICIES  # runs before issue 25 hold the first two (dqn, autoscaler)
DC_METRICS = ("acceptance_rate", "sla_violation_rate", "resource_utilization", "instance_efficiency", "e2e_delay_ms_mean",
              "e2e_delay_ms_p95", "instances", "reward_per_step")  # fmt: skip


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


@dataclass(frozen=True, eq=False)
class Job:
    """A finished job whose files hold everything the tables and figures read, checked."""

    directory: Path
    scenario: str
    summary: dict[str, Any]
    arrival_rate: float = math.nan  # from .hydra/config.yaml; NaN for a run made without Hydra
    overrides: tuple[str, ...] = ()  # from .hydra/overrides.yaml


class LeftOut(MdembedError):
    """Why a job cannot be used (one line); scan lists it and goes on with the others."""


# The keys each scenario's tables and figures read from a summary, and their types.
REQUIRED: dict[str, dict[str, type]] = {
    MARKET_SCENARIO: {"algorithm": str, "seed": int, "topology": str},
    DC_SCENARIO: {"seed": int, "dqn": dict, "autoscaler": dict},
}
_KIND_NAMES = {str: "name", int: "whole number", dict: "table of metrics"}  # for the reason a job is left out


def scan(root: Path) -> tuple[list[Job], list[tuple[Path, str]]]:
    """Every job under ``root`` (itself included): the usable ones, and each other one with why it is left out.

    The one walk that aggregate and the figures of every scenario share, so
    that they use, and leave out, the same jobs. A job is left out when it
    failed (an error.txt and no summary.json), when its summary.json is cut
    short or fails :func:`check_summary`, or when its Hydra files cannot be
    read. No usable job at all is an error naming the first ones left out.
    """
    root = Path(root)
    if not root.is_dir():
        raise MdembedError(f"{root} is not a directory")
    jobs, left_out = [], []
    summaries = sorted(root.rglob("summary.json"))
    for path in summaries:
        try:
            jobs.append(read_job(path.parent))
        except LeftOut as why:
            left_out.append((path.parent, str(why)))
    finished = {p.parent for p in summaries}
    left_out += [(p.parent, _failure(p)) for p in root.rglob("error.txt") if p.parent not in finished]
    left_out.sort()
    if not jobs:
        raise MdembedError(f"no finished job (summary.json) under {root}{_first_left_out(left_out)}")
    return jobs, left_out


def read_job(directory: Path) -> Job:
    """The job in ``directory``, checked; :class:`LeftOut` with the reason when it cannot be used."""
    summary = _summary(directory / "summary.json")
    scenario = check_summary(summary)
    if scenario != MARKET_SCENARIO:
        return Job(directory, scenario, summary)
    config = _yaml(directory / ".hydra" / "config.yaml", dict, {})
    overrides = _yaml(directory / ".hydra" / "overrides.yaml", list, [])
    if not all(isinstance(o, str) for o in overrides):
        raise LeftOut(".hydra/overrides.yaml is not a list of key=value lines")
    workload = config.get("workload", {})
    rate = workload.get("arrival_rate", math.nan) if isinstance(workload, dict) else None
    if not _is_number(rate) or math.isinf(rate):  # NaN: the rate is unknown, as without a config.yaml
        raise LeftOut(f".hydra/config.yaml: workload.arrival_rate is {rate!r}, not a number")
    return Job(directory, scenario, summary, float(rate), tuple(overrides))


def check_summary(summary: dict[str, Any]) -> str:
    """The summary's scenario, once every key its tables and figures read holds a value of the right type and
    every number in it is finite; :class:`LeftOut` naming the first problem otherwise.

    A value aggregate cannot read (``"acceptance_ratio": "high"``, a NaN) would
    otherwise drop out of the means unseen. Undefined metrics are null, as
    :func:`mdembed.core.io.write_summary` writes them.
    """
    scenario = summary.get("scenario", MARKET_SCENARIO)
    if not isinstance(scenario, str) or scenario not in SCENARIO_NAMES:
        raise LeftOut(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIO_NAMES)}")
    for key, kind in REQUIRED.get(scenario, {}).items():
        if key not in summary:
            raise LeftOut(f"summary.json has no {key}")
        if not isinstance(summary[key], kind) or isinstance(summary[key], bool):
            raise LeftOut(f"summary.json's {key} is {summary[key]!r}, not a {_KIND_NAMES[kind]}")
    if scenario == MARKET_SCENARIO:
        _check_metrics(summary, METRICS, "")
        for key in (k for k in summary if k.startswith("domain_")):
            if not isinstance(summary[key], list):
                raise LeftOut(f"summary.json's {key} is {summary[key]!r}, not a list (one value per domain)")
            _check_metrics(dict(enumerate(summary[key])), range(len(summary[key])), key)
    elif scenario == DC_SCENARIO:
        for policy in (p for p in DC_POLICIES if p in summary):
            if not isinstance(summary[policy], dict):
                raise LeftOut(f"summary.json's {policy} is {summary[policy]!r}, not a table of metrics")
            _check_metrics(summary[policy], DC_METRICS, f"{policy}.")
    bad = next(((key, v) for key, v in leaves(summary) if isinstance(v, float) and not math.isfinite(v)), None)
    if bad is not None:
        raise LeftOut(f"summary.json's {bad[0]} is {bad[1]}, not a finite number")
    return scenario


def _check_metrics(values: dict[Any, Any], keys: Any, prefix: str) -> None:
    """Each of ``keys`` in ``values`` is a number, or null (undefined)."""
    for key in keys:
        if key not in values:
            raise LeftOut(f"summary.json has no {prefix}{key}")
        if values[key] is not None and not _is_number(values[key]):
            where = f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}{key}"
            raise LeftOut(f"summary.json's {where} is {values[key]!r}, not a number")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _summary(path: Path) -> dict[str, Any]:
    try:
        summary = read_json(path)
    except OSError as err:
        raise LeftOut(f"cannot read summary.json: {err.strerror or err}") from None
    if summary is None:
        raise LeftOut("summary.json is cut short or not a JSON object")
    return summary


def _yaml(path: Path, kind: type, missing: Any) -> Any:
    """A Hydra file's content, of type ``kind``; ``missing`` when the job has none (a run made without Hydra)."""
    name = f"{path.parent.name}/{path.name}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return missing
    except OSError as err:
        raise LeftOut(f"cannot read {name}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        where = f" (line {err.problem_mark.line + 1})" if getattr(err, "problem_mark", None) else ""
        raise LeftOut(f"{name} is not valid YAML: {getattr(err, 'problem', None) or err}{where}") from None
    except ValueError:  # UnicodeDecodeError
        raise LeftOut(f"{name} is not UTF-8 text") from None
    data = missing if data is None else data
    if not isinstance(data, kind):
        raise LeftOut(f"{name} holds a {type(data).__name__}, not a {'mapping' if kind is dict else 'list'}")
    return data


def _failure(error_path: Path) -> str:
    """A failed job's reason: the last line of its error.txt (the error itself, also after a traceback)."""
    try:
        lines = [line for line in error_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    return f"failed: {lines[-1].strip()[:200]}" if lines else "failed: error.txt and no summary.json"


def _first_left_out(left_out: list[tuple[Path, str]], shown: int = 3) -> str:
    if not left_out:
        return ""
    more = f" and {len(left_out) - shown} more" if len(left_out) > shown else ""
    return f"; left out: {'; '.join(f'{p} ({why})' for p, why in left_out[:shown])}{more}"


def report_left_out(left_out: list[tuple[Path, str]]) -> None:
    """One stderr line per job left out, with why, the same from aggregate and plot."""
    for path, why in left_out:
        print(f"mdembed: job left out: {path} ({why})", file=sys.stderr)


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


def of_scenario(jobs: list[Job], scenario: str) -> list[Job]:
    return [job for job in jobs if job.scenario == scenario]


def collect(root: Path) -> tuple[pd.DataFrame, list[Path]]:
    """One row per usable multi-domain job under ``root``, and the directories of the jobs left out (:func:`scan`
    says why)."""
    jobs, left_out = scan(root)
    market = of_scenario(jobs, MARKET_SCENARIO)
    if not market:
        raise OnlyDataCentreRuns(f"no multi-domain run under {root}, only data-centre runs (python -m mdembed.plot draws theirs)")
    return jobs_table(market), [path for path, _ in left_out]


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
    from scipy import stats  # here: a command refused for bad input answers without loading scipy

    x = values.dropna().to_numpy(dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"n": n, "mean": mean, "ci95_low": mean - half, "ci95_high": mean + half}


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


def boot_delay(summary: dict[str, Any]) -> float:
    """The boot delay (s) a data-centre run was made with; NaN for a run from before it was recorded."""
    return float(summary.get("conditions", {}).get("boot_s", math.nan))


def aggregate_dc(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """Per boot delay and metric of the held-out evaluation: each policy's mean and 95% interval over the runs,
    and the mean difference DQN - each rule paired by run (every policy sees the run's same workload).

    Runs of one boot delay must not repeat a seed (they would count one workload twice): that is an error."""
    out = []
    groups = pd.Series(range(len(summaries)), index=[boot_delay(s) for s in summaries], dtype=int)
    for boot, index in groups.groupby(level=0, dropna=False, sort=True):
        runs = [summaries[i] for i in index]
        seeds = sorted(s["seed"] for s in runs)
        if len(set(seeds)) < len(seeds):
            raise MdembedError(f"two data-centre runs with boot delay {boot:g} s have the same seed: aggregate them apart")
        policies = [p for p in DC_POLICIES if all(p in s for s in runs)]
        for metric in DC_METRICS:
            values = {p: pd.Series([s[p].get(metric) for s in runs], dtype=float) for p in policies}
            for policy in policies:
                out.append({"boot_s": boot, "policy": policy, "metric": metric, **mean_interval(values[policy]),
                            "seeds": " ".join(map(str, seeds))})  # fmt: skip
            for rule in policies[1:]:
                out.append({"boot_s": boot, "policy": f"dqn - {rule}", "metric": metric,
                            **mean_interval(values["dqn"] - values[rule]), "seeds": " ".join(map(str, seeds))})  # fmt: skip
    return pd.DataFrame(out)


def _print_dc(table: pd.DataFrame, runs: int, path: Path) -> None:
    wide = table.pivot_table(index=["boot_s", "metric"], columns="policy", values="mean", sort=False, dropna=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(wide.round(4).to_string())
    print(f"{runs} data-centre runs -> {path}")


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


@command
def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--baseline", help="the name(s) the paired comparison takes differences to, separated by commas "
                        "(default: cff_3d when the directory holds it; 'none': no paired comparison)")  # fmt: skip
    args = parser.parse_args()
    directory = args.directory
    jobs, left_out = scan(directory)
    market, dc = of_scenario(jobs, MARKET_SCENARIO), [job.summary for job in of_scenario(jobs, DC_SCENARIO)]
    table = jobs_table(market) if market else None
    _, pairs = comparison(table, args.baseline)
    tables = {"dc_aggregate.csv": aggregate_dc(dc)} if dc else {}  # every table computed before the first is written
    if table is not None:
        tables |= {"jobs.csv": table, "aggregate.csv": aggregate(table)}
        if pairs is not None and not pairs.empty:
            tables["paired.csv"] = pairs
    for name, frame in tables.items():
        write_csv(directory / name, frame)
    report_left_out(left_out)
    if dc:
        _print_dc(tables["dc_aggregate.csv"], len(dc), directory / "dc_aggregate.csv")
    if table is not None:
        written = [directory / name for name in tables if name != "dc_aggregate.csv"]
        _print_market(table, tables["aggregate.csv"], pairs, written)


if __name__ == "__main__":
    main()
