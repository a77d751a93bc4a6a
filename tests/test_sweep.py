"""Multirun sweeps: a failing job is recorded and the others finish; finished jobs are not redone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _sweep(sweep_dir, *extra: str) -> subprocess.CompletedProcess:
    args = [
        "-m", "experiment=smoke", "workload.num_requests=60", "metrics.window=30", "progress=false",
        "topology.num_domains=3,30",  # job 1 asks for more domains than Abilene has nodes: it fails
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}", *extra,
    ]  # fmt: skip
    return subprocess.run([sys.executable, "-m", "mdembed.run", *args], capture_output=True, text=True, timeout=300)


def test_failing_job_is_recorded_and_finished_jobs_are_skipped(tmp_path):
    sweep_dir = tmp_path / "sweep"
    first = _sweep(sweep_dir)
    assert first.returncode == 0, first.stderr
    good, bad = sweep_dir / "0", sweep_dir / "1"
    assert json.loads((good / "summary.json").read_text())["requests"] == 60
    assert not (bad / "summary.json").exists()
    assert "exceeds the 11 nodes" in (bad / "error.txt").read_text()
    assert "mdembed: job 1 failed: topology.num_domains=30 exceeds" in first.stderr
    assert "Traceback" not in first.stderr

    finished = (good / "summary.json").stat().st_mtime_ns
    again = _sweep(sweep_dir, "skip_completed=true")
    assert again.returncode == 0, again.stderr
    assert (good / "summary.json").stat().st_mtime_ns == finished  # not run again
    assert (bad / "error.txt").exists()  # the failed job was tried again, and failed again


def test_aggregate_reads_the_jobs_of_a_sweep(tmp_path):
    import pandas as pd

    sweep_dir = tmp_path / "sweep"
    assert _sweep(sweep_dir).returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.analysis.aggregate", str(sweep_dir)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "failed job left out" in result.stderr and str(sweep_dir / "1") in result.stderr
    summary = json.loads((sweep_dir / "0" / "summary.json").read_text())
    jobs = pd.read_csv(sweep_dir / "jobs.csv")
    assert len(jobs) == 1
    job = jobs.iloc[0]
    assert (job.algorithm, job.seed, job.arrival_rate) == ("cff_3d", 0, 0.05)
    assert job.acceptance_ratio == pytest.approx(summary["acceptance_ratio"], rel=1e-9)  # CSV keeps 10 digits
    assert "topology.num_domains=3" in job.overrides
    table = pd.read_csv(sweep_dir / "aggregate.csv")
    assert list(table.columns) == ["algorithm", "arrival_rate", "metric", "n", "mean", "ci95_low", "ci95_high"]
    row = table[table.metric == "vl_acceptance_ratio"].iloc[0]
    assert row.n == 1 and row["mean"] == pytest.approx(summary["vl_acceptance_ratio"], rel=1e-9)
    assert pd.isna(row.ci95_low)


def test_confidence_interval_by_hand():
    import pandas as pd

    from mdembed.analysis.aggregate import aggregate

    jobs = pd.DataFrame({"algorithm": ["sa"] * 3, "arrival_rate": [0.1] * 3, "acceptance_ratio": [0.5, 0.7, 0.9]})
    row = aggregate(jobs).iloc[0]
    # mean 0.7, sample sd 0.2, t(0.975, 2) = 4.302653: half-width 4.302653 * 0.2 / sqrt(3) = 0.496828
    assert row["mean"] == pytest.approx(0.7)
    assert row.ci95_high - row["mean"] == pytest.approx(0.496828, abs=1e-6)
    assert row["mean"] - row.ci95_low == pytest.approx(0.496828, abs=1e-6)


def test_aggregate_of_an_empty_directory_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.analysis.aggregate", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"mdembed: error: no finished job (summary.json) under {tmp_path}"


def test_plot_writes_every_figure_from_the_result_files(tmp_path):
    from mdembed.plot import FIGURES, plot

    sweep_dir = tmp_path / "sweep"
    assert _sweep(sweep_dir).returncode == 0
    written = plot(sweep_dir)
    expected = {sweep_dir / "figures" / f"{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")}
    assert set(written) == expected
    assert all(path.stat().st_size > 1000 for path in expected)
