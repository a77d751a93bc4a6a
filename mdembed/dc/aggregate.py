"""The data-centre runs of a directory as one table, ``dc_aggregate.csv``: the scenario's part of ``mdembed aggregate``.

Per metric of the held-out evaluation, each policy's mean and 95% interval
over the runs and the paired difference DQN - each rule (every policy of a
run sees the same workload). Nothing is re-simulated.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from mdembed.core.errors import MdembedError
from mdembed.core.runs import Job, LeftOut, OtherScenario, require, require_finite, require_numbers
from mdembed.core.statistics import mean_interval
from mdembed.dc.settings import POLICIES
from mdembed.settings import DC_SCENARIO, scenario_of

DC_POLICIES = POLICIES  # runs before issue 25 hold the first two (dqn, autoscaler)
DC_METRICS = ("acceptance_rate", "sla_violation_rate", "resource_utilization", "instance_efficiency", "e2e_delay_ms_mean",
              "e2e_delay_ms_p95", "instances", "reward_per_step")  # fmt: skip
REQUIRED = {"seed": int, "dqn": dict, "autoscaler": dict}  # what the table and the figures read, and its type


def read_dc_job(directory: Path, summary: dict[str, Any]) -> Job:
    """A data-centre run, checked: :class:`LeftOut` naming the first value its table or figures cannot read."""
    if scenario_of(summary) != DC_SCENARIO:
        raise OtherScenario(scenario_of(summary))
    require(summary, REQUIRED)
    for policy in (p for p in DC_POLICIES if p in summary):
        if not isinstance(summary[policy], dict):
            raise LeftOut(f"summary.json's {policy} is {summary[policy]!r}, not a table of metrics")
        require_numbers(summary[policy], DC_METRICS, f"{policy}.")
    require_finite(summary)
    return Job(directory, DC_SCENARIO, summary)


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


def tables(directory: Path, jobs: list[Job], baseline: str | None) -> tuple[dict[str, pd.DataFrame], Callable[[], None]]:
    """The scenario's tables for ``mdembed aggregate`` (computed, not written) and what it prints once they are
    written (``baseline`` is the market's: a data-centre run compares its DQN with every rule)."""
    table = aggregate_dc([job.summary for job in jobs])
    return {"dc_aggregate.csv": table}, lambda: _print_dc(table, len(jobs), Path(directory) / "dc_aggregate.csv")


def _print_dc(table: pd.DataFrame, runs: int, path: Path) -> None:
    wide = table.pivot_table(index=["boot_s", "metric"], columns="policy", values="mean", sort=False, dropna=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(wide.round(4).to_string())
    print(f"{runs} data-centre runs -> {path}")
