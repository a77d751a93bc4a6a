"""The data-centre scenario end to end: ``python -m mdembed.run experiment=dc_provisioning``.

:func:`run_dc` trains the DQN on the seed's ``dc/workload/train`` stream
(``dc.train.episodes`` episodes of ``episode_steps`` steps), then evaluates
the greedy DQN and the threshold autoscaler on the same held-out workload
(the ``dc/workload/eval`` stream, ``dc.eval.steps`` steps). With
``mode=eval checkpoint=PATH`` it skips training and evaluates a saved policy.

Files in the run directory: ``metrics.csv`` (one row per window of
``dc.window`` steps, phase and policy; see :mod:`mdembed.dc.metrics`),
``checkpoints/last.pt`` (at episode ends, every ``checkpoint_every``
episodes and after the last: networks, optimizer, replay buffer, random
states and metrics so far, so ``resume=true`` continues exactly),
``policy.pt`` (the trained networks) and ``summary.json``, written last.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from mdembed import __version__
from mdembed.config import Settings
from mdembed.dc.autoscaler import ThresholdAutoscaler
from mdembed.dc.dqn import DQNAgent, epsilon
from mdembed.dc.env import DataCentreEnv
from mdembed.dc.metrics import DCRecorder
from mdembed.dc.settings import PHASES, DCSettings
from mdembed.errors import ConfigError
from mdembed.io import write_csv, write_json
from mdembed.seeding import stream
from mdembed.training import load_checkpoint, restoring, save_checkpoint

SCENARIO = "dc_provisioning"
BAR_EVERY = 100  # steps between progress-bar refreshes
COMPARED = ("acceptance_rate", "resource_utilization", "e2e_delay_ms_mean", "e2e_delay_ms_p95", "instances")


def make_env(dc: DCSettings, steps: int, workload_stream: str) -> DataCentreEnv:
    a = dc.agent
    return DataCentreEnv(dc.datacentre, dc.workload, steps, a.max_chains, a.max_pending, workload_stream)


def make_agent(dc: DCSettings, seed: int) -> DQNAgent:
    layout = make_env(dc, 1, "train").layout
    return DQNAgent(layout, dc.agent, int(stream(seed, "dc/agent").integers(2**31)), dc.train.steps)


def _training_fingerprint(dc: DCSettings, seed: int) -> str:
    """Everything training depends on; a checkpoint resumes only under the same."""
    values = dataclasses.asdict(dc)
    for key in ("eval", "autoscaler"):
        values.pop(key)
    values["train"].pop("checkpoint_every")
    return json.dumps({"seed": seed, **values}, sort_keys=True, default=list)


def _bar(total: int, enabled: bool, desc: str) -> tqdm:
    return tqdm(total=total, disable=None if enabled else True, unit="step", smoothing=0.05, desc=desc)


def train(agent: DQNAgent, dc: DCSettings, settings: Settings, out_dir: Path) -> tuple[DCRecorder, dict[str, Any]]:
    """Train for ``dc.train.episodes`` episodes; the training metrics and a summary of the training."""
    t = dc.train
    env = make_env(dc, t.episode_steps, "train")
    env.reset(seed=settings.seed)  # starts the training workload stream
    recorder = DCRecorder(dc.window, phase="train", policy="dqn")
    path = out_dir / "checkpoints" / "last.pt"
    fingerprint = _training_fingerprint(dc, settings.seed)
    start_episode, elapsed_before = 0, 0.0
    if settings.resume:
        start_episode, elapsed_before = _resume(path, fingerprint, agent, recorder, env)
    bar = _bar(t.steps, settings.progress, "train dqn")
    bar.update(start_episode * t.episode_steps)
    started = time.perf_counter()
    for episode in range(start_episode, t.episodes):
        eps = epsilon(dc.agent, t, episode)
        obs, _ = env.reset()  # the stream goes on: every episode sees new requests
        for step in range(t.episode_steps):
            action = agent.act(obs, eps)
            next_obs, reward, terminated, _, info = env.step(action)
            loss = agent.observe(obs, action, reward, next_obs, terminated)
            recorder.record(info, reward, loss, episode=episode, epsilon=eps, phase_name=PHASES[t.phase(episode)])
            obs = next_obs
            if (step + 1) % BAR_EVERY == 0:
                bar.set_postfix(eps=f"{eps:.2f}", acceptance=f"{recorder.acceptance:.3f}", refresh=False)
                bar.update(BAR_EVERY)
        bar.update(t.episode_steps % BAR_EVERY)
        if (episode + 1) % t.checkpoint_every == 0 or episode + 1 == t.episodes:
            if episode + 1 == t.episodes:
                recorder.close_window()
            save_checkpoint(path, {
                "scenario": SCENARIO, "episode": episode + 1, "settings": fingerprint,
                "agent": agent.state_dict(with_buffer=True), "recorder": recorder.state_dict(),
                "env_rng": env.rng_state(), "elapsed_s": elapsed_before + time.perf_counter() - started,
            })  # fmt: skip
    bar.close()
    recorder.close_window()
    wall = time.perf_counter() - started
    save_checkpoint(out_dir / "policy.pt", {"scenario": SCENARIO, "settings": fingerprint, "agent": agent.state_dict(with_buffer=False)})
    done_steps = (t.episodes - start_episode) * t.episode_steps
    summary = {
        "episodes": t.episodes,
        "steps": t.steps,
        "resumed_at_episode": start_episode if settings.resume else None,
        "wall_time_s": elapsed_before + wall,
        "steps_per_s": done_steps / wall if wall > 0 and done_steps else float("nan"),
        "updates": agent.updates,
        "final_epsilon": epsilon(dc.agent, t, t.episodes - 1),
        "last_loss": agent.last_loss,
        "last_window_acceptance_rate": recorder.rows[-1]["acceptance_rate"] if recorder.rows else None,
    }
    return recorder, summary


def _resume(path: Path, fingerprint: str, agent: DQNAgent, recorder: DCRecorder, env: DataCentreEnv) -> tuple[int, float]:
    data = load_checkpoint(path)
    if data.get("scenario") != SCENARIO or data.get("settings") != fingerprint:
        raise ConfigError(f"cannot resume from {path}: it was saved with other settings (seed or dc settings)")
    with restoring(f"cannot resume from {path}"):
        agent.load_state_dict(data["agent"])
        recorder.load_state_dict(data["recorder"])
        env.set_rng_state(data["env_rng"])
    return int(data["episode"]), float(data.get("elapsed_s", 0.0))


def load_policy(agent: DQNAgent, path: str | Path) -> None:
    data = load_checkpoint(path)
    if data.get("scenario") != SCENARIO:
        raise ConfigError(f"checkpoint {path} is not a dc_provisioning policy")
    with restoring(f"checkpoint {path} does not fit this agent"):
        agent.load_state_dict(data["agent"])


def evaluate(policy: str, agent: DQNAgent, dc: DCSettings, seed: int, progress: bool) -> DCRecorder:
    """Run one policy greedily over the held-out workload of ``seed``."""
    env = make_env(dc, dc.eval.steps, "eval")
    obs, _ = env.reset(seed=seed)
    recorder = DCRecorder(dc.window, phase="eval", policy=policy)
    autoscaler = ThresholdAutoscaler(dc.autoscaler.idle_steps, dc.autoscaler.min_instances)
    bar = _bar(dc.eval.steps, progress, f"eval {policy}")
    truncated = False
    while not truncated:
        action = agent.act(obs) if policy == "dqn" else autoscaler.act(env)
        obs, reward, _, truncated, info = env.step(action)
        recorder.record(info, reward)
        if env.steps % BAR_EVERY == 0:
            bar.update(BAR_EVERY)
    bar.update(env.steps % BAR_EVERY)
    bar.close()
    recorder.close_window()
    return recorder


def relative_change(dqn: float, baseline: float) -> float:
    """(dqn - baseline) / baseline: +0.2 is 20% more than the autoscaler."""
    return float((dqn - baseline) / baseline) if baseline else float("nan")


def run_dc(settings: Settings, dc: DCSettings, out_dir: Path) -> dict[str, Any]:
    """Train (unless ``mode=eval``), evaluate both policies, write metrics.csv and summary.json."""
    agent = make_agent(dc, settings.seed)
    tables, training = [], None
    if settings.mode == "eval":
        load_policy(agent, settings.checkpoint)
    else:
        recorder, training = train(agent, dc, settings, out_dir)
        tables.append(recorder.table())
    results = {}
    for policy in ("dqn", "autoscaler"):
        recorder = evaluate(policy, agent, dc, settings.seed, settings.progress)
        tables.append(recorder.table())
        results[policy] = recorder.summary()
    summary = {
        "scenario": SCENARIO,
        "algorithm": "dqn",
        "topology": "datacentre",
        "seed": settings.seed,
        "mode": settings.mode,
        "eval_steps": dc.eval.steps,
        **results,
        "dqn_vs_autoscaler": {m: relative_change(results["dqn"][m], results["autoscaler"][m]) for m in COMPARED},
        "training": training,
        "mdembed_version": __version__,
    }
    write_csv(out_dir / "metrics.csv", pd.concat(tables, ignore_index=True))
    write_json(out_dir / "summary.json", summary)
    return summary
