"""The training loop drives any Learner: a toy pricing learner goes through it like DDPG does."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import crash_step_after

from mdembed.agents.td3 import TD3
from mdembed.learning.protocol import Learner
from mdembed.market.build import make_substrate
from mdembed.learning.checkpoints import load_checkpoint
from mdembed.settings import settings_from_config
from mdembed.dc.dqn import DQNAgent
from mdembed.env.layout import DomainLayout
from mdembed.env.task import MarketTrainingTask
from mdembed.core.errors import ConfigError
from mdembed.run import compose
from mdembed.learning.loop import load_policy, train

OVERRIDES = ["topology=abilene", "train.steps=60", "train.checkpoint_every=25", "metrics.window=20", "progress=false"]


class DriftingPrices:
    """A learner with no network: quotes its running mean reward, scaled into [-1, 1], plus noise."""

    def __init__(self, layout: DomainLayout, seed: int) -> None:
        self.shape = (layout.num_domains, layout.max_action_dim)
        self.rng = np.random.default_rng(seed)
        self.mean_reward = np.zeros(layout.num_domains)
        self.steps = 0

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        level = np.tanh(self.mean_reward / 100.0)[:, None] * np.ones(self.shape)
        noise = self.rng.uniform(-0.5, 0.5, self.shape) if explore else 0.0
        return np.clip(level + noise, -1.0, 1.0).astype(np.float32)

    def observe(self, obs: Any, action: Any, reward: np.ndarray, next_obs: Any, terminated: bool) -> dict[str, float]:
        self.steps += 1
        self.mean_reward += (reward - self.mean_reward) / self.steps
        return {"mean_reward": float(self.mean_reward.mean())}

    def diagnostics(self) -> dict[str, float]:
        return {"steps": self.steps, "mean_reward": float(self.mean_reward.mean())}

    def policy_state_dict(self) -> dict[str, Any]:
        return {"mean_reward": torch.from_numpy(self.mean_reward.copy())}

    def load_policy_state_dict(self, state: dict[str, Any]) -> None:
        self.mean_reward = state["mean_reward"].numpy().copy()

    def state_dict(self) -> dict[str, Any]:
        rng = json.dumps(self.rng.bit_generator.state).encode()
        return {"mean_reward": torch.from_numpy(self.mean_reward.copy()), "steps": self.steps,
                "rng": torch.frombuffer(bytearray(rng), dtype=torch.uint8)}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean_reward = state["mean_reward"].numpy().copy()
        self.steps = int(state["steps"])
        self.rng.bit_generator.state = json.loads(bytes(state["rng"].numpy()).decode())


class ForgetfulLoss(DriftingPrices):
    """Reports the last step's loss, which its saved state does not keep (nothing in the protocol asks it to)."""

    last_loss = float("nan")

    def observe(self, obs: Any, action: Any, reward: np.ndarray, next_obs: Any, terminated: bool) -> dict[str, float]:
        losses = super().observe(obs, action, reward, next_obs, terminated)
        self.last_loss = float(np.abs(reward).mean())
        return losses

    def diagnostics(self) -> dict[str, float]:
        return {**super().diagnostics(), "loss": self.last_loss}


def setup(extra: list[str] = ()) -> tuple[DriftingPrices, MarketTrainingTask, Any]:
    settings = settings_from_config(compose([*OVERRIDES, *extra]))
    layout = DomainLayout(make_substrate(settings.topology, settings.seed), prices="node")
    task = MarketTrainingTask(layout, settings.workload, settings.market, settings.routing, settings.metrics,
                              settings.train.steps, settings.train.checkpoint_every, settings.seed)  # fmt: skip
    return DriftingPrices(layout, 0), task, settings


def test_learners_follow_the_protocol():
    assert isinstance(DriftingPrices(setup()[1].layout, 0), Learner)
    protocol = {"act", "observe", "diagnostics", "state_dict", "load_state_dict", "policy_state_dict", "load_policy_state_dict"}
    assert protocol <= set(dir(TD3)) & set(dir(DQNAgent))


def test_a_new_learner_trains_through_the_loop_with_checkpoints_and_diagnostics(tmp_path):
    learner, task, settings = setup()
    table, summary = train(learner, task, settings, tmp_path)
    assert learner.steps == 60 and summary["steps"] == 60 and summary["resumed_at_step"] is None
    assert list(table.window) == [0, 1, 2] and (table.phase == "train").all()
    assert list(table.learner_steps) == [20, 40, 60]  # the learner's diagnostics at each window's end
    assert summary["mean_reward"] == pytest.approx(learner.mean_reward.mean())
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert last["step"] == 60 and last["scenario"] == "market" and last["learner"]["steps"] == 60
    policy = load_checkpoint(tmp_path / "policy.pt")
    fresh, task2, _ = setup()
    load_policy(fresh, tmp_path / "policy.pt", "market", task2.fingerprint, settings, ("algorithm",))
    assert np.array_equal(fresh.mean_reward, learner.mean_reward) and policy["fingerprint"] == task.fingerprint
    assert set(policy["learner"]) == {"mean_reward"}  # what the policy needs, not the resume state


def test_a_policy_from_another_substrate_or_scenario_is_refused(tmp_path):
    learner, task, settings = setup()
    train(learner, task, settings, tmp_path)
    with pytest.raises(ConfigError, match="trained on another substrate"):
        load_policy(learner, tmp_path / "policy.pt", "market", "0123456789abcdef", settings, ())
    with pytest.raises(ConfigError, match="not a dc_provisioning policy"):
        load_policy(learner, tmp_path / "policy.pt", "dc_provisioning", None, settings, ())


def test_a_directory_given_as_checkpoint_is_named_as_such(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_checkpoint(tmp_path)
    assert str(err.value) == f"checkpoint {tmp_path} is a directory, not a checkpoint file"
    with pytest.raises(ConfigError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_from_a_diverged_checkpoint_is_refused_naming_the_tensor(tmp_path):
    learner, task, settings = setup()
    train(learner, task, settings, tmp_path)
    path = tmp_path / "checkpoints" / "last.pt"
    data = load_checkpoint(path)
    data["learner"]["mean_reward"][1] = float("-inf")
    torch.save(data, path)
    learner, task, settings = setup(["resume=true"])
    with pytest.raises(ConfigError, match=r"holds non-finite values in learner\.mean_reward \(NaN or infinity") as err:
        train(learner, task, settings, tmp_path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_resume_under_other_result_settings_names_them(tmp_path):
    learner, task, settings = setup()
    train(learner, task, settings, tmp_path)
    learner, task, settings = setup(["resume=true", "market.price_max=20", "train.checkpoint_every=10"])
    with pytest.raises(ConfigError, match=r"other settings \(market.price_max\)"):
        train(learner, task, settings, tmp_path)


def test_resume_gives_the_uninterrupted_metrics(tmp_path, monkeypatch):
    learner, task, settings = setup()
    whole, _ = train(learner, task, settings, tmp_path / "whole")

    learner, task, settings = setup()
    crash_step_after(monkeypatch, MarketTrainingTask, 30)
    with pytest.raises(KeyboardInterrupt):
        train(learner, task, settings, tmp_path / "cut")
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["step"] == 25
    learner, task, settings = setup(["resume=true"])
    resumed, summary = train(learner, task, settings, tmp_path / "cut")
    assert summary["resumed_at_step"] == 25
    timing = [c for c in whole.columns if c.startswith("decision_time")]
    pd.testing.assert_frame_equal(resumed.drop(columns=timing), whole.drop(columns=timing), check_exact=True)


def test_resume_from_the_checkpoint_of_the_last_step_keeps_the_final_summary(tmp_path):
    """No step left to run: no NaN speed, and the last window's diagnostics come back from the checkpoint."""
    _, task, settings = setup()
    whole, summary = train(ForgetfulLoss(task.layout, 0), task, settings, tmp_path)
    assert summary["steps_per_s"] > 0 and math.isfinite(summary["loss"])
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 60  # saved at the last step

    _, task, settings = setup(["resume=true"])
    table, resumed = train(ForgetfulLoss(task.layout, 0), task, settings, tmp_path)
    assert resumed["resumed_at_step"] == 60
    assert resumed["steps_per_s"] is None  # this process ran no step
    assert json.loads(json.dumps(resumed, allow_nan=False))["steps_per_s"] is None
    assert resumed["wall_time_s"] > 0
    for key in ("loss", "mean_reward", "steps", "last_window_acceptance_ratio"):
        assert resumed[key] == summary[key], key
    pd.testing.assert_frame_equal(table, whole)


def test_a_stop_signal_during_training_saves_that_step_and_resume_gives_the_uninterrupted_metrics(tmp_path, monkeypatch):
    """SIGTERM (a cluster's time limit, scancel) in step 33: the loop ends the step, saves it, stops; resuming from
    step 33 (not the periodic checkpoint of step 25) gives the same metrics as a run never stopped."""
    import os
    import signal

    from mdembed.core import stopping

    learner, task, settings = setup()
    whole, _ = train(learner, task, settings, tmp_path / "whole")

    learner, task, settings = setup()
    step = MarketTrainingTask.step

    def step_signalled(self, action):
        if self.position == 32:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the step runs
        return step(self, action)

    monkeypatch.setattr(MarketTrainingTask, "step", step_signalled)
    stopping.install()
    try:
        with pytest.raises(stopping.Terminated, match="SIGTERM"):
            train(learner, task, settings, tmp_path / "cut")
    finally:
        stopping.uninstall()
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["step"] == 33
    learner, task, settings = setup(["resume=true"])
    resumed, summary = train(learner, task, settings, tmp_path / "cut")
    assert summary["resumed_at_step"] == 33
    timing = [c for c in whole.columns if c.startswith("decision_time")]
    pd.testing.assert_frame_equal(resumed.drop(columns=timing), whole.drop(columns=timing), check_exact=True)


def test_resume_without_a_checkpoint_trains_from_the_start(tmp_path):
    learner, task, settings = setup(["resume=true"])
    _, summary = train(learner, task, settings, tmp_path)
    assert summary["resumed_at_step"] is None and (tmp_path / "policy.pt").is_file()


def test_a_launcher_handler_gets_the_signal_after_the_step_is_saved(tmp_path, monkeypatch):
    """Under submitit, SIGUSR2 is its handler's (requeue): ours saves the step, takes itself off and hands over."""
    import os
    import signal

    from mdembed.core import stopping

    seen = []

    def launcher(signum, frame):
        seen.append((signum, signal.getsignal(signal.SIGUSR2) is launcher))

    previous = signal.signal(signal.SIGUSR2, launcher)
    learner, task, settings = setup()
    step = MarketTrainingTask.step

    def step_signalled(self, action):
        if self.position == 40:
            os.kill(os.getpid(), signal.SIGUSR2)
        return step(self, action)

    monkeypatch.setattr(MarketTrainingTask, "step", step_signalled)
    try:
        stopping.install()
        train(learner, task, settings, tmp_path)  # the launcher's handler returned: training goes on to its end
    finally:
        stopping.uninstall()
        signal.signal(signal.SIGUSR2, previous)
    assert seen == [(signal.SIGUSR2, True)]  # called once, with ours already off
    assert (tmp_path / "policy.pt").is_file()


def test_after_the_launcher_handler_returns_a_later_signal_is_ours_again():
    import os
    import signal

    from mdembed.core import stopping

    seen = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: seen.append(signum))
    try:
        stopping.install()
        os.kill(os.getpid(), signal.SIGUSR2)  # outside training: handed over, the handler returns, the run goes on
        assert seen == [signal.SIGUSR2] and signal.getsignal(signal.SIGUSR2) is stopping._handle
        with stopping.between_steps():
            os.kill(os.getpid(), signal.SIGUSR2)  # inside training: noted, the step is saved, then handed over again
            saved = []
            stopping.stop_if_asked(lambda: saved.append(True))
        assert saved == [True] and seen == [signal.SIGUSR2, signal.SIGUSR2]
    finally:
        stopping.uninstall()
        signal.signal(signal.SIGUSR2, previous)
