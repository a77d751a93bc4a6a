"""Training a learning algorithm on a workload of its own, with checkpoints and resume.

Training requests come from the run seed's ``train`` workload stream, so the
evaluation workload (the ``workload`` stream, the one every algorithm is
measured on) is never seen in training. A checkpoint holds everything needed
to continue exactly: networks, optimizers, replay buffer, noise and random
states, the market (residuals, holdings, departures) and the metrics so far.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mdembed.agents.ddpg import DDPG, DDPGPricing
from mdembed.config import Settings
from mdembed.env.market import MarketEnv
from mdembed.errors import ConfigError
from mdembed.metrics import MetricsRecorder
from mdembed.network.substrate import Substrate
from mdembed.simulation import Progress
from mdembed.tensorboard import CurveLogger
from mdembed.workload.tensor import request_tensor

CHECKPOINT_FORMAT = "mdembed-checkpoint-1"
# settings that may differ between a run and its resumption
_RUN_CONTROL = ("progress", "overwrite", "skip_completed", "mode", "checkpoint", "resume", "trace", "eval", "tensorboard", "torch_threads")


def substrate_fingerprint(substrate: Substrate) -> str:
    """A digest of everything the policy's shapes and meaning depend on."""
    digest = hashlib.sha256()
    for array in (substrate.node_domain, substrate.node_capacity, substrate.link_ends, substrate.link_owner,
                  substrate.link_bandwidth, substrate.link_delay_ms, substrate.link_loss):  # fmt: skip
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _training_settings(settings: Settings) -> str:
    values = dataclasses.asdict(settings)
    for key in _RUN_CONTROL:
        values.pop(key)
    return json.dumps(values, sort_keys=True, default=list)


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load with ``weights_only=True``; anything unreadable is a one-line ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, wrong magic, unpickling refused ...
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise ConfigError(f"checkpoint {path} is truncated or corrupt ({reason})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"checkpoint {path} is not an mdembed checkpoint")
    return data


@contextmanager
def restoring(failure: str) -> Iterator[None]:
    """Report state that does not fit (a missing key, a wrong shape or type) as one line: ``failure: reason``."""
    try:
        yield
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise ConfigError(f"{failure}: {reason}") from None


def load_policy(algorithm: DDPGPricing, path: str | Path) -> dict[str, Any]:
    """Put a saved policy into ``algorithm``; the checkpoint must come from the same substrate."""
    data = load_checkpoint(path)
    if data.get("substrate") != substrate_fingerprint(algorithm.context.substrate):
        raise ConfigError(
            f"checkpoint {path} was trained on another substrate (topology, domains and resources come from "
            "the topology settings and the seed: use those of the training run)"
        )
    with restoring(f"checkpoint {path} does not fit this agent"):
        algorithm.learner.load_state_dict(data["agent"])
    return data


def train(algorithm: DDPGPricing, settings: Settings, out_dir: Path) -> tuple[MetricsRecorder, dict[str, Any]]:
    """Train for ``train.steps`` requests; returns the training metrics and a summary of the training."""
    context = algorithm.context
    learner = algorithm.learner
    substrate = context.substrate
    steps = settings.train.steps
    env = MarketEnv(
        substrate,
        dataclasses.replace(settings.workload, num_requests=steps),
        context.market,
        context.routing,
        settings.agent.observe_own_state,
        workload_stream="train",
        slot_prices=learner.layout.vnf_slots > 1,
    )
    recorder = MetricsRecorder(substrate, steps, settings.metrics.window, phase="train")
    observations, _ = env.reset(seed=settings.seed)
    checkpoint_path = out_dir / "checkpoints" / "last.pt"
    fingerprint = substrate_fingerprint(substrate)
    config = _training_settings(settings)
    elapsed_before = 0.0
    if settings.resume:
        observations, elapsed_before = _resume(checkpoint_path, env, learner, recorder, fingerprint, config, settings)

    agents = env.possible_agents
    obs = learner.stack([observations[a] for a in agents])
    pmin, pmax = context.market.price_min, context.market.price_max
    bar = Progress(steps, settings.progress, desc="train", unit="step")
    bar.bar.update(env.index)
    clock = time.perf_counter_ns
    started = time.perf_counter()
    start_step = env.index
    losses: dict[str, float] = {}

    def checkpoint() -> None:
        save_checkpoint(
            checkpoint_path,
            {
                "step": env.index,
                "agent": learner.state_dict(with_buffer=True),
                "market": env.market.state_dict(),
                "recorder": recorder.state_dict(),
                "substrate": fingerprint,
                "settings": config,
                "elapsed_s": elapsed_before + time.perf_counter() - started,
            },
        )

    curves = CurveLogger(out_dir / "tensorboard") if settings.tensorboard else None
    while env.agents:
        start = clock()
        action = learner.act(obs, explore=True)
        vectors = learner.prices(action, pmin, pmax)
        next_observations, rewards, terminations, _, _ = env.step(dict(zip(agents, vectors)))
        decision_ns = clock() - start
        next_obs = learner.stack([next_observations[a] for a in agents])
        reward = np.array([rewards[a] for a in agents], dtype=np.float32)
        # the workload's end is a truncation (a time limit): keep bootstrapping
        losses = learner.observe(obs, action, reward, next_obs, any(terminations.values())) or losses
        recorder.record(env.last_request, env.last_embedding, decision_ns, env.market.state, env.last_mean_prices)
        obs = next_obs
        bar.update(env.last_embedding.accepted)
        if env.index == steps:
            recorder.finish(env.market.state)
        if curves:
            curves.log_new_rows(recorder.rows)
        if env.index % settings.train.checkpoint_every == 0 or env.index == steps:
            checkpoint()
    bar.close()
    if curves:
        curves.close()
    wall = time.perf_counter() - started
    save_checkpoint(
        out_dir / "policy.pt",
        {"step": env.index, "agent": learner.state_dict(with_buffer=False), "substrate": fingerprint, "settings": config},
    )
    env.close()
    last = recorder.rows[-1] if recorder.rows else {}
    summary = {
        "steps": steps,
        "resumed_at_step": start_step if settings.resume else None,
        "wall_time_s": elapsed_before + wall,
        "steps_per_s": (steps - start_step) / wall if wall > 0 and steps > start_step else float("nan"),
        "last_window_acceptance_ratio": last.get("acceptance_ratio"),
        "exploration_sigma": learner.sigma,
        "updates": learner.updates,
        **{f"last_{k}": v for k, v in losses.items()},
    }
    return recorder, summary


def _resume(
    path: Path,
    env: MarketEnv,
    learner: DDPG,
    recorder: MetricsRecorder,
    fingerprint: str,
    config: str,
    settings: Settings,
) -> tuple[dict[str, np.ndarray], float]:
    """Put the run back where its last checkpoint left it; the observations and time spent so far."""
    data = load_checkpoint(path)
    if data.get("substrate") != fingerprint or data.get("settings") != config:
        raise ConfigError(f"cannot resume from {path}: it was saved with other settings (seed, topology, workload, train or algorithm)")
    with restoring(f"cannot resume from {path}"):
        learner.load_state_dict(data["agent"])
        recorder.load_state_dict(data["recorder"])
        env.restore(settings.seed, int(data["step"]), data["market"])
    return env.observations(), float(data.get("elapsed_s", 0.0))
