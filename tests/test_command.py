"""The ``mdembed`` command as a user meets it: an installed wheel, --help, eval and resume from a run directory,
directory names, and a sweep stopped by SIGTERM that one re-run finishes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mdembed
from mdembed.config import CONF_DIR, compose, job_name, run_name
from mdembed.run import run, run_job

ROOT = Path(mdembed.__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY_DDPG = ["experiment=smoke", "algorithm=ddpg", "workload.num_requests=60", "metrics.window=30", "train.steps=300",
             "train.checkpoint_every=300", "algorithm.batch_size=16", "algorithm.learning_starts=50", "algorithm.buffer_size=1000",
             "algorithm.hidden=32", "progress=false"]  # fmt: skip


def mdembed_command(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mdembed", *args], capture_output=True, text=True, cwd=cwd,
                          env=env or ENV, timeout=timeout)  # fmt: skip


def test_a_wheel_carries_the_configs_and_topologies_and_runs_from_another_directory(tmp_path):
    """pip install . (not editable): the configs and the GML files travel inside the package."""
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info/ beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "mdembed", source / "mdembed", ignore=shutil.ignore_patterns("__pycache__", "local"))
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                            str(source)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("mdembed-*.whl")
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert install.returncode == 0, install.stderr
    assert (target / "mdembed" / "conf" / "config.yaml").is_file() and (target / "mdembed" / "topologies" / "BtEurope.gml").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**ENV, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import mdembed; print(mdembed.__file__)"], capture_output=True, text=True,
                           cwd=elsewhere, env=env)  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(target)  # the installed copy, not the checkout
    result = mdembed_command("run", "experiment=smoke", "progress=false", cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr
    (summary,) = (elsewhere / "results" / "runs").glob("abilene_3-domains_cff_3d_seed0/*/summary.json")
    assert json.loads(summary.read_text())["requests"] == 300


def test_help_lists_every_group_option_and_top_level_key():
    result = mdembed_command("--help")
    assert result.returncode == 0 and not result.stderr
    text = result.stdout
    for group in (p for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra"):
        options = ", ".join(sorted(f.stem for f in group.glob("*.yaml")))
        assert f"{group.name}" in text and options in text
    for key in compose([]):
        assert f"  {key}:" in text, key
    assert "seed: null" in text and "the evaluation requests' seed" in text  # eval.seed with its comment
    assert mdembed_command("run", "--help").stdout == text
    unknown = mdembed_command("nope")
    assert unknown.returncode == 2 and unknown.stderr.startswith("mdembed: error: unknown command 'nope'")


def test_directory_names_say_topology_file_domains_algorithm_seed(tmp_path):
    assert run_name("bteurope", None, 3, "bfs", "ddpg", 0) == "bteurope_3-domains_ddpg_seed0"
    assert run_name("bteurope", "~/nets/my_network.gml", 4, "kmeans", "cff_3d", 3) == "my_network_4-domains-kmeans_cff_3d_seed3"
    assert job_name("", 7) == "7"
    assert job_name("topology.path=/a/b.gml,seed=1", 0) == "topology.path=_a_b.gml,seed=1"  # no folders within folders
    long = ",".join(f"algorithm.key{i}={i}" for i in range(40))
    assert len(job_name(long, 0)) <= 120 and job_name(long, 0) != job_name(long + "1", 0)

    network = tmp_path / "my_network.gml"
    shutil.copy(CONF_DIR.parent / "topologies" / "Abilene.gml", network)
    result = mdembed_command("run", "experiment=smoke", f"topology.path={network}", "seed=3", "topology.num_domains=2",
                             "workload.num_requests=30", "progress=false", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "results" / "runs").iterdir()] == ["my_network_2-domains_cff_3d_seed3"]


def test_eval_from_a_run_directory_needs_no_overrides_and_takes_new_requests(tmp_path):
    trained = tmp_path / "trained"
    summary = run(compose(TINY_DDPG), trained)
    again = mdembed_command("eval", str(trained), "--out", str(tmp_path / "same"))
    assert again.returncode == 0, again.stderr
    same = json.loads((tmp_path / "same" / "summary.json").read_text())
    assert same["mode"] == "eval" and same["eval_seed"] == 0
    assert same["accepted"] == summary["accepted"] and same["revenue"] == summary["revenue"]  # the run's requests, the run's result

    new = mdembed_command("eval", str(trained), "--out", str(tmp_path / "new"), "eval.seed=7")  # --out among them, as --help writes it
    assert new.returncode == 0, new.stderr
    unseen = json.loads((tmp_path / "new" / "summary.json").read_text())
    assert unseen["eval_seed"] == 7 and unseen["seed"] == 0 and unseen["num_links"] == summary["num_links"]
    assert unseen["revenue"] != same["revenue"]  # other requests

    # eval.seed=7: the requests a run of seed 7 evaluates on, on the substrate of the run's seed
    from mdembed.market.build import make_run
    from mdembed.settings import settings_from_config

    def built(*overrides):
        return make_run(settings_from_config(compose(["experiment=smoke", "workload.num_requests=60", *overrides])))

    shifted, own, other = built("eval.seed=7"), built(), built("seed=7")
    assert [r.arrival for r in shifted.requests] == [r.arrival for r in other.requests] != [r.arrival for r in own.requests]
    assert (shifted.substrate.node_capacity == own.substrate.node_capacity).all()

    baseline = tmp_path / "baseline"
    run(compose(["experiment=smoke", "workload.num_requests=30", "progress=false"]), baseline)
    refused = mdembed_command("eval", str(baseline))
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        f"mdembed: error: {baseline} holds no policy.pt: only a finished run of a learning algorithm can be evaluated again (this one: cff_3d)"]
    changed = mdembed_command("eval", str(trained), "algorithm.hidden=16", "--out", str(tmp_path / "x"))
    assert changed.returncode == 2 and "was trained with algorithm.hidden" in changed.stderr
    assert not (tmp_path / "x" / "summary.json").exists()


def test_a_continuing_job_resumes_skips_or_runs(tmp_path, monkeypatch):
    from helpers import crash_step_after

    from mdembed.env.task import MarketTrainingTask

    config = compose([*TINY_DDPG, "train.checkpoint_every=100"])
    whole = run(config, tmp_path / "whole")
    crash_step_after(monkeypatch, MarketTrainingTask, 150)
    with pytest.raises(KeyboardInterrupt):
        run(config, tmp_path / "cut")
    monkeypatch.undo()
    summary, outcome = run_job(config, tmp_path / "cut", continuing=True)
    assert outcome == "resumed" and summary["training"]["resumed_at_step"] == 100
    assert summary["accepted"] == whole["accepted"] and summary["revenue"] == whole["revenue"]
    assert run_job(config, tmp_path / "cut", continuing=True)[1] == "skipped"
    assert run_job(compose(["experiment=smoke", "workload.num_requests=30", "resume=true"]), tmp_path / "b")[1] == "finished"


def test_resume_command_continues_a_run_in_its_directory(tmp_path, monkeypatch):
    from helpers import crash_step_after

    from mdembed.env.task import MarketTrainingTask

    config = compose([*TINY_DDPG, "train.checkpoint_every=100"])
    crash_step_after(monkeypatch, MarketTrainingTask, 150)
    with pytest.raises(KeyboardInterrupt):
        run(config, tmp_path / "cut")
    monkeypatch.undo()
    result = mdembed_command("resume", str(tmp_path / "cut"))
    assert result.returncode == 0, result.stderr
    assert "resuming from step 100 of 300" in result.stdout
    assert json.loads((tmp_path / "cut" / "summary.json").read_text())["training"]["resumed_at_step"] == 100


def test_a_sweep_stopped_by_sigterm_finishes_with_one_rerun(tmp_path):
    """SIGTERM to the sweep during a DDPG job: the job saves the step it is at, the baseline keeps its result; the
    same command run again skips the baseline, resumes the DDPG job from that step and finishes."""
    from mdembed.learning.checkpoints import load_checkpoint

    sweep = tmp_path / "sweep"
    args = [sys.executable, "-m", "mdembed", "sweep", "experiment=smoke", "algorithm=ddpg,cff_3d", "workload.num_requests=60",
            "metrics.window=30", "train.steps=1500", "train.checkpoint_every=200", "progress=false", "hydra/launcher=local",
            "hydra.launcher.n_jobs=2",
            "hydra.launcher.verbose=0", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 120
    while not list(sweep.glob("*algorithm=ddpg*/checkpoints/last.pt")) and time.monotonic() < deadline:
        time.sleep(0.1)
    (ddpg,) = sweep.glob("*algorithm=ddpg*")  # named after its overrides
    assert ddpg.name == "algorithm=ddpg,experiment=smoke,metrics.window=30,train.steps=1500,workload.num_requests=60"
    process.send_signal(signal.SIGTERM)  # inside training, past its first periodic checkpoint
    out, err = process.communicate(timeout=180)
    assert process.returncode == 143, err
    assert "the running jobs save their checkpoints before the sweep stops" in err
    assert f"run the same command again hydra.sweep.dir={sweep} to go on" in err
    assert "Traceback" not in err
    log = (ddpg / "run.log").read_text()
    step = int(log.split("stopped at step ")[1].split()[0])
    assert load_checkpoint(ddpg / "checkpoints" / "last.pt")["step"] == step < 1500
    assert not (ddpg / "summary.json").exists()

    again = subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resumed from step {step}: ddpg on abilene" in again.stdout
    assert "skipped (already finished): cff_3d on abilene" in again.stdout
    assert "mdembed: sweep ended: 2 jobs: 0 finished, 1 resumed, 1 skipped, 0 failed" in again.stdout
    assert json.loads((ddpg / "summary.json").read_text())["training"]["resumed_at_step"] == step


@pytest.mark.parametrize("launcher", ["slurm", "submitit_local"])
def test_a_slurm_launcher_without_its_extra_says_how_to_get_it(monkeypatch, launcher):
    from mdembed import run as run_module
    from mdembed.core.errors import ConfigError

    monkeypatch.setattr(run_module, "_submitit_installed", lambda: False)
    for args in ([f"hydra/launcher={launcher}", "-m", "seed=1,2"], [f"hydra/launcher={launcher}", "--cfg", "hydra"]):
        with pytest.raises(ConfigError, match=rf"hydra/launcher={launcher} needs the \[slurm\] extra .*pip install"):
            run_module.check_overrides(args)


def test_eval_of_a_data_centre_run_from_its_directory(tmp_path):
    trained = tmp_path / "dc"
    tiny = ["experiment=dc_provisioning", "dc.train.episodes=4", "dc.train.episode_steps=100", "dc.eval.steps=300",
            "progress=false"]  # fmt: skip
    summary = run(compose(tiny), trained)
    result = mdembed_command("eval", str(trained), "eval.seed=5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (again,) = (tmp_path / "results" / "evals").glob("dc_provisioning_seed0_eval-seed5/*/summary.json")
    evaluated = json.loads(again.read_text())
    assert evaluated["eval_seed"] == 5 and evaluated["seed"] == 0 and evaluated["mode"] == "eval"
    assert evaluated["autoscaler"] != summary["autoscaler"]  # other requests


def test_multirun_flag_anywhere_on_the_line(tmp_path):
    """`experiment=smoke -m seed=1,2`: Hydra's own parser refuses a flag between overrides; ours moves it first."""
    result = subprocess.run([sys.executable, "-m", "mdembed.run", "experiment=smoke", "workload.num_requests=30", "-m",
                             "seed=1,2", "progress=false", "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path}"],
                            capture_output=True, text=True, env=ENV, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "mdembed: sweep ended: 2 jobs: 2 finished" in result.stdout
