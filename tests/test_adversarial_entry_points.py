"""The analysis command lines (aggregate, plot, payment_ratio, monopoly, bench) under bad input and a failing disk.

Each test runs the real command line as a user types it: bad input is one
``mdembed: error`` line and exit 2, a directory that cannot be written one
line naming the path and exit 1, never a traceback, and a job that cannot
be used is listed with why while the rest is used. Sweep directories are
built by hand from the committed fixture jobs: nothing is simulated.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import helpers
import pytest

from mdembed.dc.aggregate import DC_METRICS

FIXTURE = Path(__file__).parent / "fixtures" / "aggregate_sweep" / "jobs"
# one job per algorithm and load: enough to draw every market figure (those against the load need two loads)
GOOD = ("cff_3d_seed1_rate0.5", "cff_sd_seed1_rate0.5", "cff_3d_seed1_rate0.05", "cff_sd_seed1_rate0.05")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def command(module: str, *args: object, **kwargs) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` as a user types it, without a terminal."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=180, env=ENV, **kwargs)  # fmt: skip


def one_line(result: subprocess.CompletedProcess, pattern: str, status: int = 2) -> str:
    return helpers.one_line(result, pattern, status, prefix="mdembed: error: ")


def left_out(result: subprocess.CompletedProcess) -> dict[str, str]:
    """Each job listed as left out on stderr, by its directory's name, with the reason given."""
    found = {}
    for line in result.stderr.splitlines():
        match = re.fullmatch(r"mdembed: job left out: (.+?) \((.+)\)", line)
        if match:
            found[Path(match[1]).name] = match[2]
    return found


def files(directory: Path) -> dict[str, int]:
    """Every file under ``directory`` with its modification time: what a refused command must leave as it was."""
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file()}


def sweep(root: Path, names: tuple[str, ...] = GOOD) -> Path:
    for name in names:
        shutil.copytree(FIXTURE / name, root / name)
    return root


def broken_job(root: Path, name: str, summary: dict | None = None, drop: str | None = None,
               hydra: tuple[str, str] | None = None, source: str = GOOD[0]) -> None:  # fmt: skip
    """A copy of a fixture job with its summary changed (keys set, one key dropped) or a Hydra file replaced."""
    shutil.copytree(FIXTURE / source, root / name)
    path = root / name / "summary.json"
    data = json.loads(path.read_text()) | (summary or {})
    data.pop(drop, None)
    path.write_text(json.dumps(data))  # json writes NaN as the token NaN, which json reads back
    if hydra is not None:
        (root / name / ".hydra" / hydra[0]).write_text(hydra[1])


def dc_job(root: Path, name: str, **changes: object) -> None:
    """A finished data-centre run's summary, by hand (``changes``: keys set; None drops the key)."""
    summary = {"scenario": "dc_provisioning", "algorithm": "dqn", "topology": "datacentre", "seed": 0,
               "dqn": dict.fromkeys(DC_METRICS, 0.5), "autoscaler": dict.fromkeys(DC_METRICS, 0.4)}  # fmt: skip
    summary.update(changes)
    (root / name).mkdir(parents=True)
    (root / name / "summary.json").write_text(json.dumps({k: v for k, v in summary.items() if v is not None}))


# Jobs aggregate and plot cannot use: how each is broken, and what its left-out line must say.
BROKEN = {
    "no_algorithm": ({"drop": "algorithm"}, r"summary\.json has no algorithm"),
    "no_seed": ({"drop": "seed"}, r"summary\.json has no seed"),
    "seed_is_a_list": ({"summary": {"seed": [1]}}, r"seed is \[1\], not a whole number"),
    "algorithm_is_null": ({"summary": {"algorithm": None}}, r"algorithm is None, not a name"),
    "ratio_is_a_word": ({"summary": {"acceptance_ratio": "high"}}, r"acceptance_ratio is 'high', not a number"),
    "revenue_is_nan": ({"summary": {"revenue": math.nan}}, r"revenue is nan, not a finite number"),
    "domain_value_is_a_word": ({"summary": {"domain_revenue": [1.0, "x", 2.0]}}, r"domain_revenue\[1\] is 'x', not a number"),
    "unknown_scenario": ({"summary": {"scenario": "nosuch"}}, r"unknown scenario 'nosuch'; known: dc_provisioning, market"),
    "overrides_not_yaml": ({"hydra": ("overrides.yaml", "- seed=1\n- : [\n")}, r"overrides\.yaml is not valid YAML"),
    "overrides_a_mapping": ({"hydra": ("overrides.yaml", "seed: 1\n")}, r"overrides\.yaml holds a dict, not a list"),
    "config_a_list": ({"hydra": ("config.yaml", "- 1\n")}, r"config\.yaml holds a list, not a mapping"),
    "arrival_rate_a_word": ({"hydra": ("config.yaml", "workload:\n  arrival_rate: fast\n")}, r"arrival_rate is 'fast', not a number"),
}


def test_aggregate_and_plot_list_each_unusable_job_with_why_and_use_the_rest(tmp_path):
    """Issue 15: a summary lacking a key, a list or null or word or NaN where a number is needed, an unknown
    scenario, corrupt or misshapen Hydra files; a data-centre run without its autoscaler. Each is one
    left-out line, the same from aggregate and plot, and the usable jobs of both scenarios are aggregated and drawn."""
    root = sweep(tmp_path / "sweep")
    for name, (how, _) in BROKEN.items():
        broken_job(root, name, **how)
    dc_job(root, "dc_good")
    dc_job(root, "dc_no_autoscaler", autoscaler=None)
    dc_job(root, "dc_delay_a_word", dqn=dict.fromkeys(DC_METRICS, 0.5) | {"e2e_delay_ms_mean": "slow"})
    expected = {name: pattern for name, (_, pattern) in BROKEN.items()} | {
        "dc_no_autoscaler": r"summary\.json has no autoscaler", "dc_delay_a_word": r"dqn\.e2e_delay_ms_mean is 'slow'"}  # fmt: skip

    aggregated = command("mdembed.analysis.aggregate", root)
    assert aggregated.returncode == 0, aggregated.stderr
    reasons = left_out(aggregated)
    assert len(reasons) == len(aggregated.stderr.splitlines()), aggregated.stderr  # nothing else on stderr
    assert sorted(reasons) == sorted(expected), aggregated.stderr
    for name, pattern in expected.items():
        assert re.search(pattern, reasons[name]), (name, reasons[name])
    jobs = pd.read_csv(root / "jobs.csv")
    assert sorted(Path(j).name for j in jobs.job) == sorted(GOOD)
    assert (root / "dc_aggregate.csv").is_file()
    assert pd.read_csv(root / "dc_aggregate.csv").seeds.tolist()[0] == 0  # the good data-centre run alone

    plotted = command("mdembed.plot", root)
    assert plotted.returncode == 0, plotted.stderr
    assert sorted(plotted.stderr.splitlines()) == sorted(aggregated.stderr.splitlines())  # the same jobs, the same words
    drawn = {Path(line).stem for line in plotted.stdout.splitlines()}
    assert {"acceptance_vs_load", "paired_vs_load", "dc_comparison"} <= drawn
    assert "dc_learning_curves" not in drawn  # the data-centre runs here never trained: no empty figure


def test_no_usable_job_is_one_line_naming_those_left_out(tmp_path):
    """Issue 15: when every job is left out, aggregate and plot stop with one line, exit 2, and write nothing."""
    root = tmp_path / "sweep"
    root.mkdir()
    broken_job(root, "no_seed", drop="seed")
    broken_job(root, "overrides_not_yaml", hydra=("overrides.yaml", "[\n"))
    before = files(root)
    for module in ("mdembed.analysis.aggregate", "mdembed.plot"):
        line = one_line(command(module, root), r"no finished job \(summary\.json\) under .*; left out: ")
        assert "no_seed (summary.json has no seed)" in line and "overrides_not_yaml (" in line
        assert files(root) == before


def test_arguments_are_checked_before_anything_is_written(tmp_path):
    """Issue 20: an unknown --baseline, a baseline that cannot be paired (it ran a workload twice), a directory
    that does not exist: refused with one line before a table or a figure is written (data-centre figures too)."""
    root = sweep(tmp_path / "sweep")
    dc_job(root, "dc_run")
    before = files(root)
    for module in ("mdembed.plot", "mdembed.analysis.aggregate"):
        one_line(command(module, "--baseline", "nosuch", root), r"no job named 'nosuch' to compare with \(names: cff_3d, cff_sd\)")
        assert files(root) == before
    shutil.copytree(FIXTURE / GOOD[0], root / "cff_3d_again")
    before = files(root)
    for module in ("mdembed.plot", "mdembed.analysis.aggregate"):
        one_line(command(module, root), r"cff_3d ran some workload .* more than once: cannot pair")
        assert files(root) == before
    one_line(command("mdembed.plot", tmp_path / "nosuch"), r"nosuch is not a directory$")
    assert not (tmp_path / "nosuch").exists()
    dc_only = tmp_path / "dc"
    dc_job(dc_only, "dc_run")
    before = files(dc_only)
    refused = command("mdembed.plot", "--baseline", "cff_3d", dc_only)  # data-centre runs only: no name to compare with
    one_line(refused, r"no job named 'cff_3d' to compare with \(names: no multi-domain job\)")
    assert files(dc_only) == before


def _read_only_is_enforced(directory: Path) -> bool:
    """False where chmod does not stop this user (root): the read-only tests then have nothing to test."""
    try:
        (directory / ".probe").write_text("")
    except PermissionError:
        return True
    (directory / ".probe").unlink()
    return False


def test_a_read_only_directory_is_one_line_naming_the_path(tmp_path):
    """Issue 16: plot into a read-only figures/, aggregate and plot into a read-only sweep directory: one line
    naming the path, exit 1, nothing written (not even a .partial file)."""
    root = sweep(tmp_path / "sweep")
    figures = root / "figures"
    figures.mkdir()
    os.chmod(figures, 0o555)
    command = _without_root_override()
    try:
        if command is None:
            pytest.skip("chmod does not make a directory read-only for this user, and setpriv cannot drop root's override")
        one_line(command("mdembed.plot", root), rf"cannot write {re.escape(str(figures))}/acceptance_vs_load\.png: Permission denied$", 1)
        assert list(figures.iterdir()) == []
        os.chmod(figures, 0o755)
        figures.rmdir()
        before = files(root)
        os.chmod(root, 0o555)
        one_line(command("mdembed.analysis.aggregate", root), rf"cannot write {re.escape(str(root / 'jobs.csv'))}: Permission denied$", 1)
        one_line(command("mdembed.plot", root), rf"cannot write {re.escape(str(figures))}: Permission denied$", 1)
        assert files(root) == before
    finally:
        os.chmod(root, 0o755)
        if figures.exists():
            os.chmod(figures, 0o755)


def _without_root_override():
    """``command``, run so that a read-only directory is read-only: as root (CI runs as root), through setpriv without
    the capabilities that let root write anywhere; None where neither works."""
    probe = Path(tempfile.mkdtemp())
    try:
        os.chmod(probe, 0o555)
        if _read_only_is_enforced(probe):
            return command
    finally:
        os.chmod(probe, 0o755)
        probe.rmdir()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    drop = "-dac_override,-dac_read_search"
    prefix = [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        return None

    def without_override(module: str, *args: object) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=180, env=ENV)  # fmt: skip

    return without_override


def _file_size_limit(limit: int):
    """A child's files cannot grow past ``limit`` bytes: a write past it fails with EFBIG, as on a full disk
    (where the error, noticed at close, often carries no file name)."""

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_files


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_partial_file(tmp_path):
    """Issue 16: a write that fails halfway (files limited to 200 bytes): one line naming the table or the figure
    being written, exit 1, and no cut or .partial file left behind."""
    root = sweep(tmp_path / "sweep")
    before = files(root)
    result = command("mdembed.analysis.aggregate", root, preexec_fn=_file_size_limit(200))
    one_line(result, rf"cannot write {re.escape(str(root / 'jobs.csv'))}: File too large$", 1)
    assert files(root) == before
    result = command("mdembed.plot", root, preexec_fn=_file_size_limit(200))
    one_line(result, rf"cannot write {re.escape(str(root / 'figures'))}/acceptance_vs_load\.png: File too large$", 1)
    assert not any((root / "figures").iterdir())  # neither the figure nor its .partial


def test_a_file_where_the_figures_directory_goes_is_one_line(tmp_path):
    """Issue 16: plot never removes what it did not write: a file named figures stops it with one line, exit 1."""
    root = sweep(tmp_path / "sweep")
    (root / "figures").write_text("mine")
    one_line(command("mdembed.plot", root), rf"cannot use {re.escape(str(root / 'figures'))} as a directory", 1)
    assert (root / "figures").read_text() == "mine"


# Bad names, keys and counts for the other command lines, and argparse's own errors: one line, exit 2.
REFUSED = [
    ("mdembed.analysis.payment_ratio", ["--heuristic", "nosuch"], r"--heuristic 'nosuch' is not a heuristic .*; choose one of cff_3d, cff_sd"),
    ("mdembed.analysis.payment_ratio", ["--heuristic", "ilp"], r"--heuristic 'ilp' is not a heuristic"),
    ("mdembed.analysis.payment_ratio", ["--requests", "0"], r"argument --requests: expected a whole number >= 1, got 0$"),
    ("mdembed.analysis.payment_ratio", ["--requests", "5", "nosuch.key=1"], r"unknown key nosuch\.key$"),
    ("mdembed.analysis.payment_ratio", ["--requests", "5", "seed=1,2"], r"seed=1,2.*this command runs one configuration"),
    ("mdembed.analysis.monopoly", ["nosuch.key=1"], r"unknown key nosuch\.key$"),
    ("mdembed.bench", ["--repeats", "0"], r"argument --repeats: expected a whole number >= 1, got 0$"),
    ("mdembed.bench", ["--search-requests", "-5"], r"argument --search-requests: expected a whole number >= 1, got -5$"),
    ("mdembed.bench", ["--train-steps", "many"], r"argument --train-steps: expected a whole number >= 1, got 'many'$"),
    ("mdembed.plot", [], r"the following arguments are required: directory$"),
    ("mdembed.bench", ["--bogus"], r"unrecognized arguments: --bogus$"),
    ("mdembed.analysis.aggregate", [".", "--baseline"], r"argument --baseline: expected one argument$"),
]


@pytest.mark.parametrize(("module", "args", "pattern"), REFUSED, ids=[f"{m.rsplit('.', 1)[1]} {' '.join(a)}" for m, a, _ in REFUSED])
def test_bad_names_keys_and_counts_are_one_line(module, args, pattern, tmp_path):
    """Issue 23: refused before any work (the bench measures nothing, nothing is simulated), one line, exit 2."""
    result = command(module, *args, cwd=tmp_path)
    one_line(result, pattern)
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module", ["mdembed.analysis.aggregate", "mdembed.plot"])
def test_standard_output_full_or_closed_is_one_line_and_the_files_stay(tmp_path, module):
    """Issue 22, cause 10, for the analysis command lines: their tables and figures are written, then one line, exit 1."""
    root = sweep(tmp_path / "sweep")

    def into(stdout) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", module, str(root)], stdout=stdout, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, timeout=180, env=ENV)  # fmt: skip

    with open("/dev/full", "w") as full:
        result = into(full)
    one_line(result, r"error: cannot write to standard output \(No space left on device\); files already written are kept$", 1)
    written = root / ("aggregate.csv" if module.endswith("aggregate") else "figures/acceptance_vs_load.png")
    assert written.is_file()
    read, write = os.pipe()
    os.close(read)  # `| head -1` that has gone
    try:
        result = into(write)
    finally:
        os.close(write)
    one_line(result, r"error: cannot write to standard output \(Broken pipe\)", 1)
