"""Comparisons computed from runs."""

from __future__ import annotations

import subprocess
import sys

from mdembed.analysis.cost_ratio import cost_ratios


def test_cff_never_beats_the_exact_optimum_on_the_same_states():
    results = cost_ratios(["experiment=smoke", "eval.requests=80", "progress=false", "workload.arrival_rate=0.5"])
    assert results["requests"] == 80
    assert results["both_accept"] > 0
    assert results["both_accept"] + results["only_ilp_accepts"] + results["only_cff_3d_accepts"] <= 80
    # the ILP is the per-request optimum on the very same state: a heuristic is never cheaper
    assert results["median_cost_ratio_cff_3d_over_ilp"] >= 1.0 - 1e-9
    assert results["mean_cost_ratio_cff_3d_over_ilp"] >= 1.0 - 1e-9
    assert results["only_cff_3d_accepts"] == 0  # CFF accepting means a feasible embedding exists
    assert sum(v for k, v in results.items() if k.startswith("ilp_status_")) == 80


def test_cost_ratio_command_prints_name_value_unit_lines():
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.analysis.cost_ratio", "--requests", "30", "experiment=smoke", "progress=false"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["requests"] == "30 requests"
    assert lines["mean_cost_ratio_cff_3d_over_ilp"].endswith(" x")
