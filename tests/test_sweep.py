"""Multirun sweeps: a failing job is recorded and the others finish; finished jobs are not redone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mdembed.core.errors import MdembedError


def _sweep(sweep_dir, *extra: str) -> subprocess.CompletedProcess:
    args = [
        "-m", "experiment=smoke", "workload.num_requests=60", "metrics.window=30", "progress=false",
        "topology.num_domains=3,30",  # job 1 asks for more domains than Abilene has nodes: it fails
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}", *extra,
    ]  # fmt: skip
    return subprocess.run([sys.executable, "-m", "mdembed.run", *args], capture_output=True, text=True, timeout=300)


# each job's folder is named after its overrides (experiment=smoke included; progress, a control key, left out)
GOOD = "experiment=smoke,metrics.window=30,topology.num_domains=3,workload.num_requests=60"
BAD = GOOD.replace("num_domains=3", "num_domains=30")


def test_failing_job_is_recorded_and_finished_jobs_are_skipped(tmp_path):
    sweep_dir = tmp_path / "sweep"
    first = _sweep(sweep_dir)
    assert first.returncode == 2, first.stderr  # one job failed: the sweep says so in its status and last line
    assert first.stderr.strip().splitlines()[-1].startswith(f"mdembed: error: 1 job of the sweep failed ({sweep_dir / BAD})")
    assert "mdembed: sweep ended: 2 jobs: 1 finished, 0 resumed, 0 skipped, 1 failed" in first.stdout
    good, bad = sweep_dir / GOOD, sweep_dir / BAD
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == sorted([GOOD, BAD])
    assert json.loads((good / "summary.json").read_text())["requests"] == 60
    assert not (bad / "summary.json").exists()
    assert "exceeds the 11 nodes" in (bad / "error.txt").read_text()
    assert f"mdembed: job 1 ({BAD}) failed: topology.num_domains=30 exceeds" in first.stderr
    assert f"mdembed: job 0 ({GOOD}) finished: cff_3d on abilene: " in first.stdout
    assert "Traceback" not in first.stderr

    finished = (good / "summary.json").stat().st_mtime_ns
    again = _sweep(sweep_dir)  # the same command again: a sweep goes on from where it is
    assert again.returncode == 2, again.stderr
    assert (good / "summary.json").stat().st_mtime_ns == finished  # not run again
    assert f"mdembed: job 0 ({GOOD}) skipped (already finished): cff_3d on abilene" in again.stdout
    assert "mdembed: sweep ended: 2 jobs: 0 finished, 0 resumed, 1 skipped, 1 failed" in again.stdout
    assert (bad / "error.txt").exists()  # the failed job was tried again, and failed again


def test_aggregate_reads_the_jobs_of_a_sweep(tmp_path):
    import pandas as pd

    sweep_dir = tmp_path / "sweep"
    assert _sweep(sweep_dir).returncode == 2  # its job 1 fails on purpose
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.analysis.aggregate", str(sweep_dir)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"mdembed: job left out: {sweep_dir / BAD} (failed: " in result.stderr
    summary = json.loads((sweep_dir / GOOD / "summary.json").read_text())
    jobs = pd.read_csv(sweep_dir / "jobs.csv")
    assert len(jobs) == 1
    job = jobs.iloc[0]
    assert (job.algorithm, job.seed, job.arrival_rate) == ("cff_3d", 0, 0.05)
    assert job.acceptance_ratio == pytest.approx(summary["acceptance_ratio"], rel=1e-9)  # CSV keeps 10 digits
    assert "topology.num_domains=3" in job.overrides
    table = pd.read_csv(sweep_dir / "aggregate.csv")
    assert list(table.columns) == ["name", "algorithm", "variant", "arrival_rate", "metric", "n", "mean", "ci95_low",
                                   "ci95_high"]  # fmt: skip
    assert table.name.iloc[0] == "cff_3d"  # the one finished job: no override sets it apart
    row = table[table.metric == "vl_acceptance_ratio"].iloc[0]
    assert row.n == 1 and row["mean"] == pytest.approx(summary["vl_acceptance_ratio"], rel=1e-9)
    assert pd.isna(row.ci95_low)


def test_confidence_interval_by_hand():
    import pandas as pd

    from mdembed.market.tables import aggregate

    jobs = pd.DataFrame({"algorithm": ["sa"] * 3, "arrival_rate": [0.1] * 3, "acceptance_ratio": [0.5, 0.7, 0.9]})
    row = aggregate(jobs).iloc[0]
    # mean 0.7, sample sd 0.2, t(0.975, 2) = 4.302653: half-width 4.302653 * 0.2 / sqrt(3) = 0.496828
    assert row["mean"] == pytest.approx(0.7)
    assert row.ci95_high - row["mean"] == pytest.approx(0.496828, abs=1e-6)
    assert row["mean"] - row.ci95_low == pytest.approx(0.496828, abs=1e-6)


def test_paired_differences_by_hand():
    import pandas as pd

    from mdembed.market.tables import paired

    jobs = pd.DataFrame({
        "name": ["cff_3d"] * 3 + ["ddpg"] * 3 + ["ddpg arm=x"],
        "seed": [1, 2, 3, 1, 2, 3, 4], "arrival_rate": [0.5] * 7, "topology": ["bteurope"] * 7,
        "acceptance_ratio": [0.5, 0.6, 0.7, 0.6, 0.8, 0.8, 0.9],
    })  # fmt: skip
    table = paired(jobs, "cff_3d").set_index("name")
    row = table.loc["ddpg"]
    # differences 0.1, 0.2, 0.1: mean 0.13333, sd 0.057735, t(0.975, 2) = 4.302653: half-width 0.143422
    assert (row.n, row.seeds, row.metric) == (3, "1 2 3", "acceptance_ratio")
    assert row["mean"] == pytest.approx(0.133333, abs=1e-6)
    assert row.ci95_low == pytest.approx(0.133333 - 0.143422, abs=1e-6)
    assert row.ci95_high == pytest.approx(0.133333 + 0.143422, abs=1e-6)
    assert "ddpg arm=x" not in table.index  # seed 4 has no cff_3d run: nothing to pair with


def test_a_variant_is_the_overrides_besides_the_sweep_axes_and_those_all_jobs_share():
    from mdembed.market.tables import name_of, variant_of

    assert variant_of(["algorithm=ddpg", "seed=3", "workload.arrival_rate=0.5"]) == ""
    assert variant_of(["arm=ddpg_domain", "seed=1", "+algorithm.gamma=0"]) == "ddpg_domain +algorithm.gamma=0"
    assert variant_of(["arm=ddpg_domain", "seed=1", "progress=false"], frozenset({"progress=false"})) == "ddpg_domain"
    assert name_of("ddpg", "ddpg_domain") == "ddpg_domain"
    assert name_of("cff_3d", "cff_3d") == "cff_3d"
    assert name_of("ddpg", "algorithm.prices=node") == "ddpg algorithm.prices=node"


def test_aggregate_of_an_empty_directory_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.analysis.aggregate", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"mdembed: error: no finished job (summary.json) under {tmp_path}"


def test_plot_writes_every_figure_from_the_result_files(tmp_path):
    from mdembed.market.figures import FIGURES
    from mdembed.plot import plot

    sweep_dir = tmp_path / "sweep"
    # two loads (the figures against the load need several); the jobs with 30 domains fail on purpose
    assert _sweep(sweep_dir, "algorithm=cff_3d,cff_sd", "workload.arrival_rate=0.05,0.1").returncode == 2
    written = plot(sweep_dir)
    drawn = set(FIGURES) - {"learning_curves"}  # no training run: no learning-curve figure, rather than an empty one
    drawn |= {"domain_map_cff_3d", "domain_map_cff_sd"}  # and a map of the domains per algorithm (issue 27)
    expected = {sweep_dir / "figures" / f"{name}.{ext}" for name in drawn for ext in ("png", "pdf")}
    assert set(written) == expected
    assert all(path.stat().st_size > 1000 for path in expected)
    with pytest.raises(MdembedError, match="no job named 'sa'"):
        plot(sweep_dir, baseline="sa")


def test_figures_give_an_algorithm_one_colour_and_log_spaced_loads_a_log_axis():
    import matplotlib.pyplot as plt

    from mdembed.market.figures import _load_axis, colours

    palette = colours({"ddpg", "cff_3d", "ddpg_tanh", "ddpg_node"})
    assert palette["ddpg"] == colours({"ddpg", "sa"})["ddpg"] == "tab:red"  # the same whatever else is drawn
    assert len(set(palette.values())) == 4
    fig, (log, linear) = plt.subplots(1, 2)
    _load_axis(log, [0.025, 0.05, 0.5, 2.0])
    _load_axis(linear, [0.05, 0.1, 0.2])
    assert (log.get_xscale(), linear.get_xscale()) == ("log", "linear")
    assert "log scale" in log.get_xlabel() and "log scale" not in linear.get_xlabel()
    plt.close(fig)


def _paper_config(*overrides: str):
    from hydra import compose, initialize_config_dir

    from mdembed.run import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=["experiment=paper", *overrides], return_hydra_config=True)


def test_the_paper_sweep_file_and_its_budgets():
    full = _paper_config()
    assert str(full.hydra.mode) == "RunMode.MULTIRUN"
    params = full.hydra.sweeper.params
    assert params.algorithm.split(",") == ["ddpg", "cff_sd", "cff_3d", "load_linear", "load_power", "load_exp", "sa", "sa_cff", "ilp"]
    assert params.seed.split(",") == ["1", "2", "3", "4", "5"]
    assert params["workload.arrival_rate"].split(",") == ["0.025", "0.05", "0.1", "0.2", "0.5", "1", "2"]
    assert (full.workload.num_requests, full.train.steps, full.topology.name) == (10000, 20000, "bteurope")
    assert full.skip_completed and full.torch_threads == 1

    for budget, requests, steps in (("small", 1000, 3000), ("medium", 1000, 20000)):
        cut = _paper_config(f"budget={budget}")
        assert cut.hydra.sweeper.params.seed.split(",") == ["1", "2", "3"]
        assert cut.hydra.sweeper.params.algorithm == params.algorithm
        assert cut.hydra.sweeper.params["workload.arrival_rate"].split(",") == ["0.05", "0.5", "2"]
        assert (cut.workload.num_requests, cut.train.steps) == (requests, steps)
        assert cut.hydra.sweep.dir == f"results/multirun/paper_{budget}"


def test_paper_sweep_names_jobs_by_their_overrides_and_resumes(tmp_path):
    """The real sweep file, cut down on the command line; re-running it finishes nothing twice."""
    args = [
        sys.executable, "-m", "mdembed.run", "experiment=paper", "budget=small", "algorithm=cff_3d,cff_sd", "seed=1",
        "workload.arrival_rate=0.1", "workload.num_requests=40", "metrics.window=20", "hydra/launcher=basic",
        f"hydra.sweep.dir={tmp_path}",
    ]  # fmt: skip
    first = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    jobs = sorted(p.parent for p in tmp_path.glob("*/summary.json"))
    assert [j.name for j in jobs] == [
        f"algorithm={name},metrics.window=20,seed=1,workload.arrival_rate=0.1,workload.num_requests=40" for name in ("cff_3d", "cff_sd")
    ]
    for job in jobs:
        summary = json.loads((job / "summary.json").read_text())
        assert (summary["algorithm"], summary["seed"], summary["requests"]) == (job.name.split(",")[0][10:], 1, 40)
    finished = [(j / "summary.json").stat().st_mtime_ns for j in jobs]
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert [(j / "summary.json").stat().st_mtime_ns for j in jobs] == finished


def test_slurm_launcher_config_composes_onto_submitit():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the [slurm] extra is not installed")
    launcher = _paper_config("budget=small", "hydra/launcher=slurm").hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.cpus_per_task, launcher.mem_gb, launcher.timeout_min) == (1, 4, 240)


def test_skip_completed_keeps_a_finished_run_only_if_its_settings_match(tmp_path):
    from mdembed.core.errors import ConfigError
    from mdembed.run import compose, run

    base = ["experiment=smoke", "workload.num_requests=30", "metrics.window=10", "progress=false"]
    first = json.dumps(run(compose(base), tmp_path))  # as text: NaN != NaN
    kept = run(compose([*base, "skip_completed=true", "progress=true"]), tmp_path)  # a control key may differ
    assert json.dumps(kept) == first
    with pytest.raises(ConfigError, match=r"other settings \(workload.arrival_rate\)"):
        run(compose([*base, "skip_completed=true", "workload.arrival_rate=0.2"]), tmp_path)
    assert json.dumps(json.loads((tmp_path / "summary.json").read_text())) == first  # left as it was


def test_the_ddpg_study_file_and_every_arm_it_names():
    """Every arm of the study is a valid algorithm with valid settings; the sweep pairs them by seed and load."""
    from hydra import compose, initialize_config_dir

    from mdembed.market.build import algorithm_spec
    from mdembed.settings import settings_from_config
    from mdembed.run import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        study = compose("config", overrides=["experiment=ddpg_study"], return_hydra_config=True)
    params = study.hydra.sweeper.params
    arms = params.arm.split(",")
    assert arms[:3] == ["ddpg", "cff_3d", "cff_sd"] and len(set(arms)) == len(arms)
    assert params.seed.split(",") == ["1", "2", "3", "4", "5"]
    assert params["workload.arrival_rate"].split(",") == ["0.05", "0.5"]
    assert (study.workload.num_requests, study.train.steps, study.skip_completed) == (10000, 20000, True)
    for arm in arms:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            settings = settings_from_config(compose("config", overrides=["experiment=ddpg_study", f"arm={arm}"]))
        spec, parsed = algorithm_spec(settings)
        assert spec.name == ("ddpg" if arm.startswith("ddpg") else arm)
        if arm == "ddpg_paper":  # the paper's DDPG, the default before the study
            assert (parsed.prices, parsed.bounding, parsed.gamma) == ("slot", "tanh", 0.99)
        if arm == "ddpg":
            assert (parsed.prices, parsed.bounding, parsed.gamma) == ("domain", "invert", 0.0)
