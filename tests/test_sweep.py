"""Multirun sweeps: a failing job is recorded and the others finish; finished jobs are not redone."""

from __future__ import annotations

import json
import subprocess
import sys


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
