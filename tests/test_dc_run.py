"""The data-centre scenario through the real entry point: outputs, determinism, resume, checkpoints, errors, plots."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import crash_step_after

from mdembed.dc.env import DataCentreEnv
from mdembed.dc.experiment import POLICIES
from mdembed.dc.settings import DCSettings, dc_settings_from_config
from mdembed.core.errors import ConfigError, MdembedError
from mdembed.run import compose, run
from mdembed.learning.loop import load_checkpoint

TINY = [
    "experiment=dc_provisioning",
    "dc.train.episodes=4",
    "dc.train.episode_steps=100",
    "dc.train.checkpoint_every=2",
    "dc.window=100",
    "dc.eval.steps=200",
    "dc.agent.learning_starts=50",
    "dc.agent.buffer_size=500",
    "dc.agent.embed_dim=16",
    "dc.agent.hidden=32",
    "progress=false",
    "torch_threads=1",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("dc")
    return out, run(compose(TINY + ["keep_checkpoint=true"]), out)  # the resume tests copy its last.pt


def test_yaml_defaults_match_the_dataclass_defaults():
    assert dc_settings_from_config(compose(["experiment=dc_provisioning"])) == DCSettings()


def test_overrides_reach_the_settings_and_bad_values_are_one_line():
    dc = dc_settings_from_config(compose(["experiment=dc_provisioning", "dc.agent.gamma=0.9", "dc.workload.arrival_rate=2"]))
    assert dc.agent.gamma == 0.9 and dc.workload.arrival_rate == 2.0
    with pytest.raises(ConfigError, match="dc.agent.gamma must lie in"):
        dc_settings_from_config(compose(["experiment=dc_provisioning", "dc.agent.gamma=1.5"]))
    with pytest.raises(ConfigError, match="one per VNF type"):
        dc_settings_from_config(compose(["experiment=dc_provisioning", "dc.datacentre.cpu=[1,2]"]))
    with pytest.raises(ConfigError, match="sum to 1"):
        dc_settings_from_config(compose(["experiment=dc_provisioning", "dc.train.phase_fractions=[0.5,0.5,0.5,0.5]"]))
    with pytest.raises(ConfigError, match="unknown key dc.agent.gama"):
        dc_settings_from_config(compose(["experiment=dc_provisioning", "+dc.agent.gama=0.9"]))


def test_unknown_scenario_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.run", "scenario=warehouse", f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mdembed: error: unknown scenario 'warehouse'; known: dc_provisioning, market"
    ]


def test_run_trains_evaluates_and_writes_its_files(trained):
    out, summary = trained
    assert {"checkpoints", "metrics.csv", "policy.pt", "summary.json"} <= {p.name for p in out.iterdir()}
    metrics = pd.read_csv(out / "metrics.csv")
    train = metrics[metrics.phase == "train"]
    assert train.steps.tolist() == [100, 200, 300, 400]
    assert train.epsilon.tolist() == [1.0, 0.8, 0.5, 0.2]  # one episode per phase at 4 episodes
    assert train.phase_name.tolist() == ["exploration", "balanced", "exploitation", "fine_tuning"]
    for policy in POLICIES:
        rows = metrics[(metrics.phase == "eval") & (metrics.policy == policy)]
        assert rows.steps.tolist() == [100, 200]
        assert rows.acceptance_rate.between(0, 1).all() and rows.resource_utilization.between(0, 1).all()
        s = summary[policy]
        assert s["steps"] == 200
        assert s["acceptance_rate"] == pytest.approx(s["served"] / (s["served"] + s["dropped"]))
        assert s["served"] == rows.served.sum() and s["dropped"] == rows.dropped.sum()
        assert s["resource_utilization"] == pytest.approx(rows.resource_utilization.mean())
        assert s["e2e_delay_ms_p95"] >= s["e2e_delay_ms_mean"] > 0
    # every policy saw the same held-out requests
    assert len({summary[p]["arrived"] for p in POLICIES}) == 1 and summary["dqn"]["arrived"] > 0
    assert summary["conditions"] == {"step_s": 1.0, "boot_s": 30.0, "boot_steps": 30, "arrival_rate": 0.4,
                                     "rate_amplitude": 0.6, "rate_period_s": 600.0}  # fmt: skip
    assert train[["loss", "q_mean", "td_abs", "grad_norm"]].iloc[1:].notna().all().all()  # the diagnostics per window
    shares = metrics[["allocate_share", "uninstall_share", "wait_share"]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    assert summary["environment"]["cpu_capability"]  # the DQN ran on torch's CPU kernels: which ones is recorded
    assert summary["training"]["updates"] == (400 - 50) // 2 + 1
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    change = summary["dqn_vs_autoscaler"]["acceptance_rate"]
    assert change == pytest.approx(summary["dqn"]["acceptance_rate"] / summary["autoscaler"]["acceptance_rate"] - 1)


def test_same_seed_same_metrics_other_seed_other_metrics(trained, tmp_path):
    out, summary = trained
    again = run(compose(TINY), tmp_path / "again")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again" / "metrics.csv"), pd.read_csv(out / "metrics.csv"), check_exact=True)
    assert all(again[p] == summary[p] for p in POLICIES)
    other = run(compose(TINY + ["seed=1"]), tmp_path / "other")
    assert other["autoscaler"] != summary["autoscaler"]


def test_resume_continues_exactly(trained, tmp_path, monkeypatch):
    out, _ = trained
    crash_step_after(monkeypatch, DataCentreEnv, 250)  # in episode 3, after the checkpoint at the end of episode 2
    with pytest.raises(KeyboardInterrupt):
        run(compose(TINY), tmp_path)
    assert not (tmp_path / "summary.json").exists()
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 2 * 100  # the end of episode 2
    monkeypatch.undo()

    resumed = run(compose(TINY + ["resume=true"]), tmp_path)
    assert resumed["training"]["resumed_at_step"] == 2 * 100
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "metrics.csv"), pd.read_csv(out / "metrics.csv"), check_exact=True)


def test_resume_with_other_settings_is_refused(trained, tmp_path):
    out, _ = trained
    (tmp_path / "checkpoints").mkdir()  # an interrupted run: its settings and its checkpoint
    (tmp_path / "run_settings.json").write_bytes((out / "run_settings.json").read_bytes())
    (tmp_path / "checkpoints" / "last.pt").write_bytes((out / "checkpoints" / "last.pt").read_bytes())
    with pytest.raises(ConfigError, match="other settings"):
        run(compose(TINY + ["resume=true", "dc.agent.lr=0.01"]), tmp_path)


def test_eval_mode_reproduces_the_evaluation_of_the_saved_policy(trained, tmp_path):
    out, summary = trained
    evaluated = run(compose(TINY + ["mode=eval", f"checkpoint={out / 'policy.pt'}"]), tmp_path)
    assert evaluated["dqn"] == summary["dqn"] and evaluated["training"] is None


def test_finished_run_is_kept_unless_overwrite(trained):
    out, summary = trained
    with pytest.raises(ConfigError, match="already holds a finished run"):
        run(compose(TINY), out)
    assert run(compose(TINY + ["skip_completed=true"]), out) == json.loads(json.dumps(summary))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_ours"])
def test_broken_checkpoint_is_a_one_line_error(trained, tmp_path, damage):
    out, _ = trained
    good = (out / "policy.pt").read_bytes()
    bad = tmp_path / "bad.pt"
    if damage == "truncate":
        bad.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        bad.write_bytes(b"\x00not a checkpoint at all" * 100)
    else:
        torch.save({"weights": torch.zeros(3)}, bad)
    with pytest.raises(ConfigError, match=r"checkpoint .*bad\.pt") as err:
        run(compose(TINY + ["mode=eval", f"checkpoint={bad}"]), tmp_path / "run")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_policy_with_non_finite_weights_is_refused_naming_the_tensor(trained, tmp_path, value):
    out, _ = trained
    data = load_checkpoint(out / "policy.pt")
    name = next(iter(data["learner"]["online"]))
    data["learner"]["online"][name].view(-1)[0] = value
    bad = tmp_path / "diverged.pt"
    torch.save(data, bad)
    with pytest.raises(ConfigError) as err:
        run(compose(TINY + ["mode=eval", f"checkpoint={bad}"]), tmp_path / "run")
    assert str(err.value) == (
        f"checkpoint {bad} holds non-finite values in learner.online.{name} "
        "(NaN or infinity: the training diverged); it cannot be used"
    )
    assert not (tmp_path / "run" / "summary.json").exists()


def test_command_line_end_to_end_and_a_corrupt_checkpoint(trained, tmp_path):
    """The real entry point: a tiny run, then resume from a truncated checkpoint: one line, exit 2."""
    args = [sys.executable, "-m", "mdembed.run", *TINY, "dc.train.episodes=2", "dc.eval.steps=100"]
    result = subprocess.run([*args, "keep_checkpoint=true", f"hydra.run.dir={tmp_path / 'ok'}"], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("dc_provisioning seed 0, boot 30 s: dqn ")  # after the progress lines
    assert (tmp_path / "ok" / "summary.json").is_file()
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)  # an interrupted run whose checkpoint was cut short
    (broken / "run_settings.json").write_bytes((tmp_path / "ok" / "run_settings.json").read_bytes())
    data = (tmp_path / "ok" / "checkpoints" / "last.pt").read_bytes()
    (broken / "checkpoints" / "last.pt").write_bytes(data[: len(data) // 3])
    result = subprocess.run([*args, "resume=true", f"hydra.run.dir={broken}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mdembed: error: checkpoint ") and "truncated or corrupt" in lines[0]


def test_plot_draws_the_dc_figures(trained):
    from mdembed.plot import plot

    out, _ = trained
    written = plot(out)
    names = sorted(p.name for p in written)
    assert names == ["dc_comparison.pdf", "dc_comparison.png", "dc_learning_curves.pdf", "dc_learning_curves.png"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_runs_of_several_boot_delays_draw_the_metrics_against_boot_delay(trained, tmp_path):
    import shutil

    from mdembed.plot import plot

    for boot, seed in ((1.0, 0), (1.0, 1), (30.0, 0)):  # the trained run, relabelled as a study's three jobs
        job = tmp_path / f"boot{boot:g}_seed{seed}"
        shutil.copytree(trained[0], job, ignore=shutil.ignore_patterns("figures", "checkpoints"))
        summary = json.loads((job / "summary.json").read_text())
        summary["conditions"]["boot_s"], summary["seed"] = boot, seed
        (job / "summary.json").write_text(json.dumps(summary))
    names = sorted(p.name for p in plot(tmp_path))
    assert names == ["dc_learning_curves.pdf", "dc_learning_curves.png", "dc_vs_boot.pdf", "dc_vs_boot.png"]


def test_a_directory_of_both_scenarios_gets_both_figure_sets_and_aggregates_the_market_runs(trained, tmp_path):
    import shutil

    from mdembed.market.tables import collect
    from mdembed.plot import plot

    shutil.copytree(trained[0], tmp_path / "dc_run", ignore=shutil.ignore_patterns("figures", "checkpoints"))
    market = run(compose(["experiment=smoke", "workload.num_requests=30", "metrics.window=10", "progress=false"]), tmp_path / "market_run")
    jobs, _ = collect(tmp_path)
    assert list(jobs.job) == [str(tmp_path / "market_run")] and jobs.acceptance_ratio[0] == market["acceptance_ratio"]
    names = {p.stem for p in plot(tmp_path)}
    # one cff_3d run: nothing against the load, nothing to compare or pair it with, no training curves (no empty
    # or one-dot figure files)
    assert names == {"price_vs_load", "decision_time", "domains"} | {"dc_learning_curves", "dc_comparison",
                                                                     "domain_map_cff_3d"}  # fmt: skip
    with pytest.raises(MdembedError, match="only dc_provisioning runs"):
        collect(tmp_path / "dc_run")


@pytest.mark.parametrize("override,named", [("dc.agent.hidden=64", r"dc\.agent\.hidden=32"),
                                            ("dc.agent.max_pending=6", r"dc\.agent\.max_pending=12")])  # fmt: skip
def test_a_dqn_policy_evaluated_under_other_network_settings_is_refused_naming_them(trained, tmp_path, override, named):
    """Issue 22, cause 3 for the DQN: a policy evaluated under settings it was not trained with would act otherwise."""
    out, _ = trained
    result = subprocess.run([sys.executable, "-m", "mdembed.run", *TINY, override, "mode=eval", f"checkpoint={out / 'policy.pt'}",
                             f"hydra.run.dir={tmp_path / 'eval'}"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert re.fullmatch(rf"mdembed: error: checkpoint .*policy\.pt was trained with {named}: evaluate it with the same settings",
                        result.stderr.strip()), result.stderr  # fmt: skip
    assert not (tmp_path / "eval" / "summary.json").exists()


def test_a_dqn_policy_evaluates_the_same_under_other_training_only_settings(trained, tmp_path):
    out, summary = trained
    evaluated = run(compose(TINY + ["dc.agent.lr=0.5", "dc.agent.gamma=0.5", "mode=eval", f"checkpoint={out / 'policy.pt'}"]), tmp_path)
    assert evaluated["dqn"] == summary["dqn"]
