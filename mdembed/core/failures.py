"""What became of each job of a sweep, gathered across the launcher's worker processes for the sweep's last lines.

A sweep goes on when one of its jobs fails (the job's error.txt says why),
but the command must not then exit 0 as if every job had finished. Each job
appends one line to ``SWEEP_DIR/.mdembed-failed-jobs`` (joblib runs jobs in
other processes: a file is what they share): a failed job its status and
why, any other what it did (finished, resumed, skipped). The sweep reads the
file back at its end, removes it and prints the counts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FAILED_JOBS = ".mdembed-failed-jobs"

_gathered: list[dict[str, object]] = []  # the failed jobs of the sweeps this process has finished
_open: set[Path] = set()  # the sweeps this process has started and not finished


def start(sweep_dir: Path) -> None:
    """A sweep begins: no failure yet (a file left by a killed sweep is this sweep's to replace)."""
    Path(sweep_dir, FAILED_JOBS).write_text("", encoding="utf-8")
    _open.add(Path(sweep_dir))


def record(sweep_dir: Path, job_dir: Path, status: int, reason: str) -> None:
    """One failed job: its directory, the exit status a single run would have had, and why."""
    line = json.dumps({"job": str(job_dir), "outcome": "failed", "status": status,
                       "reason": reason.splitlines()[0][:300] if reason else ""})  # fmt: skip
    _append(sweep_dir, line)


def _append(sweep_dir: Path, line: str) -> None:
    try:
        fd = os.open(Path(sweep_dir, FAILED_JOBS), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))  # one write with O_APPEND: lines of parallel jobs do not mix
        finally:
            os.close(fd)
    except OSError:
        _gathered.append(json.loads(line))  # a sweep directory that cannot be written: at least this process knows


def record_outcome(sweep_dir: Path, job_dir: Path, outcome: str) -> None:
    """A job that did not fail: ``finished``, ``resumed`` or ``skipped``."""
    _append(sweep_dir, json.dumps({"job": str(job_dir), "outcome": outcome}))


def finish(sweep_dir: Path) -> None:
    """The sweep has ended: gather its failures (see :func:`gathered`) and remove the file."""
    _open.discard(Path(sweep_dir))
    path = Path(sweep_dir, FAILED_JOBS)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        path.unlink()
    except OSError:
        lines = []
    for line in lines:
        try:
            _gathered.append(json.loads(line))
        except ValueError:
            _gathered.append({"job": "?", "status": 1, "reason": "a failure record cut short"})


def gathered() -> list[dict[str, object]]:
    """The failed jobs."""
    return [job for job in _gathered if job.get("outcome", "failed") == "failed"]


def counts() -> dict[str, int]:
    """How many jobs finished, resumed, were skipped and failed (a job counted once: a job run again counts as it ended)."""
    last = {str(job["job"]): str(job.get("outcome", "failed")) for job in _gathered}
    return {outcome: sum(1 for o in last.values() if o == outcome) for outcome in ("finished", "resumed", "skipped", "failed")}


def finish_open() -> None:
    """Finish the sweeps that ended without their end (a job that stopped the whole command): no file stays behind."""
    for sweep_dir in list(_open):
        finish(sweep_dir)
