"""The data-centre scenario end to end: ``python -m mdembed.run experiment=dc_provisioning``.

:func:`run_dc` trains the DQN on the seed's ``dc/workload/train`` stream
(``dc.train.episodes`` episodes of ``episode_steps`` steps), then evaluates
the greedy DQN and every rule of :mod:`mdembed.dc.rules` (threshold and
predictive autoscalers, static provisioners sized for the mean and the peak)
on the same held-out workload (the ``dc/workload/eval`` stream,
``dc.eval.steps`` steps). With
``mode=eval checkpoint=PATH`` it skips training and evaluates a saved policy.

Files in the run directory: ``metrics.csv`` (one row per window of
``dc.window`` steps, phase and policy; see :mod:`mdembed.dc.metrics`),
``checkpoints/last.pt`` (at episode ends, every ``checkpoint_every``
episodes and after the last: networks, optimizer, replay buffer, random
states and metrics so far, so ``resume=true`` continues exactly; written by
the training loop every learner shares, :func:`mdembed.learning.loop.train`),
``policy.pt`` (the trained networks) and ``summary.json``, written last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch

from mdembed import __version__
from mdembed.learning.device import resolve_device
from mdembed.settings import DC_SCENARIO, Settings
from mdembed.dc.rules import make_rule
from mdembed.dc.dqn import DQNAgent, check_memory, epsilon
from mdembed.dc.env import DataCentreEnv, ObservationLayout
from mdembed.dc.metrics import DCRecorder
from mdembed.dc.settings import PHASES, POLICIES, RULES, DCSettings, DQNSettings, dc_settings_from_config
from mdembed.core.io import write_csv, write_summary
from mdembed.core.progress import Progress
from mdembed.core.provenance import environment
from mdembed.core.seeding import stream
from mdembed.learning.loop import load_policy, train

SCENARIO = DC_SCENARIO
COMPARED = ("acceptance_rate", "resource_utilization", "e2e_delay_ms_mean", "e2e_delay_ms_p95", "instances")
# What decides the action a saved DQN picks from an observation: dc.agent's settings, less the learner's TRAINING_ONLY
# ones. The data centre and the workload may differ: evaluating a policy under other conditions is an experiment.
POLICY_KEYS = ("dc.agent",)
TRAINING_ONLY = tuple(f"dc.agent.{key}" for key in DQNSettings.TRAINING_ONLY)


def make_env(dc: DCSettings, steps: int, workload_stream: str) -> DataCentreEnv:
    a = dc.agent
    return DataCentreEnv(dc.datacentre, dc.workload, steps, a.max_chains, a.max_pending, workload_stream)


def make_agent(dc: DCSettings, seed: int, device: torch.device | str = "cpu") -> DQNAgent:
    layout = make_env(dc, 1, "train").layout
    agent_seed = int(stream(seed, "dc/agent").integers(2**31))
    return DQNAgent(layout, dc.agent, agent_seed, dc.train.steps, dc.train, device)


class DCTrainingTask:
    """``dc.train.episodes`` episodes of ``episode_steps`` steps on the seed's training workload.

    Every episode starts with a fresh DC; the workload stream goes on, so
    every episode sees new requests. Checkpoints are due at episode ends.
    """

    scenario = SCENARIO
    fingerprint = None  # the DC's shapes come from the settings, which a resume already checks

    def __init__(self, dc: DCSettings, seed: int) -> None:
        self.dc = dc
        self.train = dc.train
        self.total_steps = dc.train.steps
        self.env = make_env(dc, dc.train.episode_steps, "train")
        self.env.reset(seed=seed)  # starts the training workload stream
        self.recorder = DCRecorder(dc.window, phase="train", policy="dqn")
        self.steps = 0
        self._obs: Any = None
        self._last: tuple[dict[str, Any], float] = ({}, 0.0)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.recorder.rows

    @property
    def position(self) -> int:
        return self.steps

    @property
    def episode(self) -> int:
        """The episode the next step belongs to."""
        return self.steps // self.train.episode_steps

    def observation(self) -> Any:
        if self.steps % self.train.episode_steps == 0:
            self._obs, _ = self.env.reset()
        return self._obs

    def step(self, action: int) -> tuple[Any, float, bool]:
        self._obs, reward, terminated, _, info = self.env.step(action)
        self._last = (info, reward)
        return self._obs, reward, terminated

    def record(self, losses: Mapping[str, float] | None) -> None:
        info, reward = self._last
        episode = self.episode
        self.recorder.record(
            info, reward, losses, episode=episode,
            epsilon=epsilon(self.dc.agent, self.train, episode), phase_name=PHASES[self.train.phase(episode)],
        )  # fmt: skip
        self.steps += 1
        if self.steps == self.total_steps:
            self.recorder.close_window()

    def checkpoint_due(self) -> bool:
        if self.steps % self.train.episode_steps:
            return False
        episodes = self.steps // self.train.episode_steps
        return episodes % self.train.checkpoint_every == 0 or episodes == self.train.episodes

    def status(self) -> dict[str, str]:
        return {"eps": f"{epsilon(self.dc.agent, self.train, self.episode):.2f}", "acceptance": f"{self.recorder.acceptance:.3f}"}

    def summary(self) -> dict[str, Any]:
        t = self.train
        return {
            "episodes": t.episodes,
            "final_epsilon": epsilon(self.dc.agent, t, t.episodes - 1),
            "last_window_acceptance_rate": self.rows[-1]["acceptance_rate"] if self.rows else None,
        }

    def table(self) -> pd.DataFrame:
        return self.recorder.table()

    def state_dict(self) -> dict[str, Any]:
        return {"recorder": self.recorder.state_dict(), "env_rng": self.env.rng_state()}

    def load_state_dict(self, state: dict[str, Any], position: int) -> None:
        if position % self.train.episode_steps or not 0 <= position <= self.total_steps:
            raise ValueError(f"step {position} is not the end of a training episode")
        self.recorder.load_state_dict(state["recorder"])
        self.env.set_rng_state(state["env_rng"])
        self.steps = position

    def close(self) -> None:
        self.recorder.close_window()


def evaluate(policy: str, agent: DQNAgent, dc: DCSettings, seed: int, progress: bool) -> DCRecorder:
    """Run one policy (the greedy DQN or a rule) over the held-out workload of ``seed``."""
    env = make_env(dc, dc.eval.steps, "eval")
    obs, _ = env.reset(seed=seed)
    recorder = DCRecorder(dc.window, phase="eval", policy=policy)
    rule = None if policy == "dqn" else make_rule(policy, env, dc.autoscaler, dc.provisioner)
    bar = Progress(dc.eval.steps, progress, desc=f"eval {policy}", unit="step")
    truncated = False
    while not truncated:
        action = agent.act(obs) if rule is None else rule.act(env)
        obs, reward, _, truncated, info = env.step(action)
        recorder.record(info, reward)
        bar.update()
    bar.close()
    recorder.close_window()
    return recorder


def relative_change(dqn: float | None, baseline: float | None) -> float | None:
    """(dqn - baseline) / baseline: +0.2 is 20% more than the rule; None where either is undefined or baseline is 0."""
    return float((dqn - baseline) / baseline) if dqn is not None and baseline else None


def run_dc(settings: Settings, dc: DCSettings, out_dir: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Train (unless ``mode=eval``), evaluate both policies, write metrics.csv and summary.json."""
    agent = make_agent(dc, settings.seed, device)
    tables, training = [], None
    if settings.mode == "eval":
        load_policy(agent, settings.checkpoint, SCENARIO, None, settings, POLICY_KEYS, TRAINING_ONLY)
    else:
        table, training = train(agent, DCTrainingTask(dc, settings.seed), settings, out_dir)
        tables.append(table)
    results = {}
    for policy in POLICIES:
        recorder = evaluate(policy, agent, dc, settings.eval_seed, settings.progress)
        tables.append(recorder.table())
        results[policy] = recorder.summary()
    summary = {
        "scenario": SCENARIO,
        "algorithm": "dqn",
        "topology": "datacentre",
        "seed": settings.seed,
        "eval_seed": settings.eval_seed,
        "mode": settings.mode,
        "eval_steps": dc.eval.steps,
        "conditions": conditions(dc),
        **results,
        **{f"dqn_vs_{rule}": {m: relative_change(results["dqn"][m], results[rule][m]) for m in COMPARED} for rule in RULES},
        "training": training,
        "mdembed_version": __version__,
        "environment": environment(),
    }
    report(summary, out_dir)  # the line printed after the run: a failure in it must come before summary.json marks it finished
    write_csv(out_dir / "metrics.csv", pd.concat(tables, ignore_index=True))
    write_summary(out_dir / "summary.json", summary)
    return summary


def conditions(dc: DCSettings) -> dict[str, float]:
    """The time scale and load a run was made under: what a study varies and its tables group by."""
    d, w = dc.datacentre, dc.workload
    return {"step_s": d.step_s, "boot_s": d.boot_s, "boot_steps": d.boot_steps, "arrival_rate": w.arrival_rate,
            "rate_amplitude": w.rate_amplitude, "rate_period_s": w.rate_period_s}  # fmt: skip


@dataclass(frozen=True, eq=False)
class DCJob:
    """A checked run of the data-centre scenario."""

    settings: Settings
    dc: DCSettings
    device: torch.device  # the resolved `device` setting

    def run(self, out_dir: Path) -> dict[str, Any]:
        return run_dc(self.settings, self.dc, out_dir, self.device)


def check(config: Mapping[str, Any], settings: Settings) -> DCSettings:
    """Check every ``dc.*`` setting and that the agent fits in memory, building nothing."""
    dc = dc_settings_from_config(config)
    check_memory(ObservationLayout(dc.agent.max_chains, dc.agent.max_pending), dc.agent)
    return dc


def plan(config: Mapping[str, Any], settings: Settings) -> DCJob:
    """Check every ``dc.*`` setting and the device; nothing is written."""
    return DCJob(settings, check(config, settings), resolve_device(settings.device))  # a missing GPU stops the run here


def _number(value: float | None, digits: int) -> str:
    """A metric for the report line: "n/a" where it is undefined (null in summary.json, e.g. no request decided yet)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def report(summary: Mapping[str, Any], out_dir: Path) -> str:
    """The line printed after a run: each policy's acceptance and resource utilization."""
    policies = [p for p in POLICIES if p in summary]
    boot = summary.get("conditions", {}).get("boot_s")
    return (
        f"dc_provisioning seed {summary['seed']}" + (f", boot {boot:g} s" if boot is not None else "") + ": "
        + ", ".join(f"{p} {_number(summary[p]['acceptance_rate'], 3)} / {_number(summary[p]['resource_utilization'], 3)}"
                    for p in policies)
        + f" (acceptance / resource utilization), results in {out_dir}"
    )
