"""Comparisons computed from runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from mdembed.analysis.payment_ratio import payment_ratios

FIXTURE = Path(__file__).parent / "fixtures" / "aggregate_sweep"


def test_cff_never_beats_the_exact_optimum_on_the_same_states():
    results = payment_ratios(["experiment=smoke", "eval.requests=80", "progress=false", "workload.arrival_rate=0.5"])
    assert results["requests"] == 80
    assert results["both_accept"] > 0
    assert results["both_accept"] + results["only_ilp_accepts"] + results["only_cff_3d_accepts"] <= 80
    # the ILP is the per-request optimum on the very same state: a heuristic is never cheaper
    assert results["median_payment_ratio_cff_3d_over_ilp"] >= 1.0 - 1e-9
    assert results["mean_payment_ratio_cff_3d_over_ilp"] >= 1.0 - 1e-9
    assert results["only_cff_3d_accepts"] == 0  # CFF accepting means a feasible embedding exists
    assert sum(v for k, v in results.items() if k.startswith("ilp_status_")) == 80


def test_payment_ratio_command_prints_name_value_unit_lines():
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.analysis.payment_ratio", "--requests", "30", "experiment=smoke", "progress=false"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["requests"] == "30 requests"
    assert lines["mean_payment_ratio_cff_3d_over_ilp"].endswith(" x")


def test_aggregate_reproduces_the_committed_tables_of_a_fixture_sweep(tmp_path):
    """The real command on a copy of committed job directories gives the committed tables: aggregation cannot drift."""
    jobs = tmp_path / "jobs"
    shutil.copytree(FIXTURE / "jobs", jobs)
    result = subprocess.run([sys.executable, "-m", "mdembed.analysis.aggregate", str(jobs)], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(result.stderr.splitlines()) == [
        f"mdembed: job left out: {jobs / 'cut_short'} (summary.json is cut short or not a JSON object)",
        f"mdembed: job left out: {jobs / 'failed_job'} (failed: topology.num_domains: 30 exceeds the 11 nodes of abilene)",
    ]
    for name in ("aggregate.csv", "paired.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(jobs / name), pd.read_csv(FIXTURE / "expected" / name), rtol=1e-9)

    # and two of the numbers by hand, from the fixture's summaries
    def summary(job: str) -> dict:
        return json.loads((jobs / job / "summary.json").read_text())

    table = pd.read_csv(FIXTURE / "expected" / "aggregate.csv").set_index(["name", "arrival_rate", "metric"])
    a, b = (summary(f"cff_3d_seed{s}_rate0.05")["acceptance_ratio"] for s in (1, 2))
    row = table.loc[("cff_3d", 0.05, "acceptance_ratio")]
    half = stats.t.ppf(0.975, 1) * abs(a - b) / 2  # t interval of 2 values: s = |a - b| / sqrt(2), / sqrt(n = 2)
    assert (row.n, row["mean"], row.ci95_high) == (2, pytest.approx((a + b) / 2), pytest.approx((a + b) / 2 + half))
    pairs = pd.read_csv(FIXTURE / "expected" / "paired.csv").set_index(["name", "arrival_rate", "metric"])
    diffs = [summary(f"cff_sd_seed{s}_rate0.5")["revenue"] - summary(f"cff_3d_seed{s}_rate0.5")["revenue"] for s in (1, 2)]
    paired_row = pairs.loc[("cff_sd", 0.5, "revenue")]
    assert (paired_row.baseline, paired_row.seeds, paired_row["mean"]) == ("cff_3d", "1 2", pytest.approx(sum(diffs) / 2))


def test_the_data_centre_table_by_hand():
    from mdembed.dc.aggregate import DC_METRICS, aggregate_dc

    def summary(seed: int, dqn: float, auto: float) -> dict:
        return {"scenario": "dc_provisioning", "seed": seed, "dqn": {m: dqn for m in DC_METRICS} | {"e2e_delay_ms_p95": None},
                "autoscaler": {m: auto for m in DC_METRICS}}  # fmt: skip

    table = aggregate_dc([summary(2, 0.9, 0.8), summary(1, 0.7, 0.8)]).set_index(["policy", "metric"])
    assert set(table.seeds) == {"1 2"}
    assert table.loc[("dqn", "acceptance_rate"), "mean"] == pytest.approx(0.8)
    assert table.loc[("autoscaler", "acceptance_rate"), ["mean", "ci95_low"]].tolist() == pytest.approx([0.8, 0.8])
    diff = table.loc[("dqn - autoscaler", "acceptance_rate")]
    half = stats.t.ppf(0.975, 1) * 0.2 / 2 ** 0.5 / 2 ** 0.5  # differences +0.1 and -0.1: s = 0.1 * sqrt(2)
    assert (diff.n, diff["mean"], diff.ci95_high) == (2, pytest.approx(0.0), pytest.approx(half))
    assert table.loc[("dqn", "e2e_delay_ms_p95"), "n"] == 0  # undefined (null) in every run: no number made up


def test_the_data_centre_table_groups_by_boot_delay_and_pairs_the_dqn_with_every_rule():
    from mdembed.dc.aggregate import DC_METRICS, DC_POLICIES, aggregate_dc
    from mdembed.core.errors import MdembedError

    def summary(seed: int, boot: float, dqn: float) -> dict:
        rules = {p: {m: 0.5 + 0.1 * i for m in DC_METRICS} for i, p in enumerate(DC_POLICIES[1:])}
        return {"scenario": "dc_provisioning", "seed": seed, "conditions": {"boot_s": boot},
                "dqn": {m: dqn for m in DC_METRICS}, **rules}  # fmt: skip

    runs = [summary(1, 60.0, 0.6), summary(2, 60.0, 0.8), summary(1, 1.0, 0.9)]
    table = aggregate_dc(runs).set_index(["boot_s", "policy", "metric"])
    assert sorted(set(table.index.get_level_values("boot_s"))) == [1.0, 60.0]
    assert table.loc[(60.0, "dqn", "acceptance_rate"), ["n", "mean"]].tolist() == [2, pytest.approx(0.7)]
    assert table.loc[(60.0, "dqn", "acceptance_rate"), "seeds"] == "1 2" and table.loc[(1.0, "dqn", "reward_per_step"), "seeds"] == "1"
    for i, rule in enumerate(DC_POLICIES[1:]):  # the rules hold 0.5, 0.6, 0.7, 0.8
        assert table.loc[(60.0, f"dqn - {rule}", "instances"), "mean"] == pytest.approx(0.7 - (0.5 + 0.1 * i))
        assert table.loc[(1.0, f"dqn - {rule}", "instances"), "n"] == 1
    with pytest.raises(MdembedError, match="two data-centre runs with boot delay 60 s have the same seed"):
        aggregate_dc([*runs, summary(2, 60.0, 0.1)])


def test_paired_differences_to_several_baselines_in_one_table(tmp_path):
    """--baseline A,B: the differences to each, told apart by the baseline column; to A, the same as --baseline A."""
    jobs = tmp_path / "jobs"
    shutil.copytree(FIXTURE / "jobs", jobs)
    result = subprocess.run([sys.executable, "-m", "mdembed.analysis.aggregate", str(jobs), "--baseline", "cff_3d,cff_sd"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    both = pd.read_csv(jobs / "paired.csv")
    assert set(both.baseline) == {"cff_3d", "cff_sd"}
    alone = pd.read_csv(FIXTURE / "expected" / "paired.csv")
    pd.testing.assert_frame_equal(both[both.baseline == "cff_3d"].reset_index(drop=True), alone, rtol=1e-9)
    mirrored = both[(both.baseline == "cff_sd") & (both.name == "cff_3d")].set_index(["arrival_rate", "metric"])["mean"]
    direct = alone[alone.name == "cff_sd"].set_index(["arrival_rate", "metric"])["mean"]
    pd.testing.assert_series_equal(mirrored, -direct, check_names=False)  # cff_3d - cff_sd = -(cff_sd - cff_3d)
    assert "minus cff_3d's" in result.stdout and "minus cff_sd's" in result.stdout
