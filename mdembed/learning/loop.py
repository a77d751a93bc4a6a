"""The training loop every learner goes through, with checkpoints and exact resume.

The loop drives a :class:`~mdembed.learning.protocol.Learner` against a
scenario's :class:`~mdembed.learning.protocol.TrainingTask` (the market environment, or the data
centre): act, step, learn, record, checkpoint. It knows neither a concrete
agent nor a concrete environment.

``checkpoints/last.pt`` holds everything needed to continue exactly: the
learner (networks, optimizers, replay buffer, noise, random states), the
task (environment position and state, the metrics so far), the settings
that decide the run's results and the time spent. ``policy.pt`` holds only
what the evaluated policy needs (``mode=eval``); a finished run deletes
``checkpoints/`` unless ``keep_checkpoint=true`` (see :mod:`mdembed.run`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from mdembed.learning.protocol import Learner, TrainingTask
from mdembed.learning.checkpoints import load_checkpoint, restoring, save_checkpoint
from mdembed.settings import Settings, differences
from mdembed.core.errors import ConfigError
from mdembed.core import stopping
from mdembed.core.progress import Progress

DIAGNOSTICS_PREFIX = "learner_"  # the learner's diagnostics in a metrics row: learner_<name>
log = logging.getLogger(__name__)


def train(learner: Learner, task: TrainingTask, settings: Settings, out_dir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train until the task's last step; the training metrics and a summary of the training.

    The summary's ``wall_time_s`` adds up every process of the run (resumes
    included); ``steps_per_s`` is the speed of this process's steps alone,
    None when it ran none (resumed from the checkpoint of the last step). Its
    learner diagnostics are those at the last step: a run resumed after the
    last step takes them from the last metrics window it restored, so a
    learner that does not save its diagnostics loses none of them.
    """
    path = out_dir / "checkpoints" / "last.pt"
    resumed = settings.resume and path.is_file()
    if settings.resume and not resumed:
        log.info("resume: no checkpoint in %s, training from step 0", path.parent)
    elapsed_before = _resume(path, learner, task, settings) if resumed else 0.0
    start_step = task.position
    if resumed:
        log.info("resuming from step %d of %d (%s)", start_step, task.total_steps, path)
    bar = Progress(task.total_steps, settings.progress, desc=f"train {task.scenario}", unit="step", done=start_step,
                   status=task.status)  # fmt: skip
    curves = None
    if settings.tensorboard:
        from mdembed.learning.tensorboard import CurveLogger

        curves = CurveLogger(out_dir / "tensorboard")
    started = time.perf_counter()

    def payload() -> dict[str, Any]:
        return {
            "scenario": task.scenario,
            "step": task.position,
            "settings": _settings_text(settings),
            "fingerprint": task.fingerprint,
            "learner": learner.state_dict(),
            "task": task.state_dict(),
            "elapsed_s": elapsed_before + time.perf_counter() - started,
        }

    def save_and_say() -> None:  # a stop signal came: the run resumes from this step
        save_checkpoint(path, payload())
        log.info("stopped at step %d of %d: saved %s to resume from", task.position, task.total_steps, path)

    with stopping.between_steps():
        while task.position < task.total_steps:
            obs = task.observation()
            action = learner.act(obs, explore=True)
            next_obs, reward, terminated = task.step(action)
            losses = learner.observe(obs, action, reward, next_obs, terminated)
            closed = len(task.rows)
            task.record(losses)
            if len(task.rows) > closed:
                diagnostics = {DIAGNOSTICS_PREFIX + k: v for k, v in learner.diagnostics().items()}
                for row in task.rows[closed:]:
                    row.update(diagnostics)
                if curves:
                    curves.log_new_rows(task.rows)
            bar.update()
            if task.checkpoint_due():
                save_checkpoint(path, payload())
            stopping.stop_if_asked(save_and_say)
    bar.close()
    if curves:
        curves.close()
    wall = time.perf_counter() - started
    save_checkpoint(out_dir / "policy.pt", {
        "scenario": task.scenario, "step": task.position, "settings": _settings_text(settings),
        "fingerprint": task.fingerprint, "learner": learner.policy_state_dict(),
    })  # fmt: skip
    task.close()
    done = task.position - start_step
    diagnostics = dict(learner.diagnostics())
    if not done and task.rows:  # resumed from the checkpoint of the last step: the diagnostics it recorded
        diagnostics.update(_recorded_diagnostics(task.rows[-1]))
    summary = {
        "steps": task.total_steps,
        "resumed_at_step": start_step if resumed else None,
        "wall_time_s": elapsed_before + wall,
        # the speed of this process's steps; None (JSON null) when it ran none (resumed after the last step)
        "steps_per_s": done / wall if wall > 0 and done else None,
        **diagnostics,
        **task.summary(),
    }
    return task.table(), summary


def _recorded_diagnostics(row: Mapping[str, Any]) -> dict[str, Any]:
    """The learner's diagnostics as a metrics row recorded them (its ``learner_*`` columns), unprefixed."""
    return {key[len(DIAGNOSTICS_PREFIX):]: value for key, value in row.items() if key.startswith(DIAGNOSTICS_PREFIX)}


def _settings_text(settings: Settings) -> str:
    return json.dumps(settings.results, sort_keys=True)


def _resume(path: Path, learner: Learner, task: TrainingTask, settings: Settings) -> float:
    """Put the learner and the task back where the run's last checkpoint left them; the time spent so far."""
    data = load_checkpoint(path)
    if data.get("scenario") != task.scenario:
        raise ConfigError(f"cannot resume from {path}: it is a {data.get('scenario')} run, not {task.scenario}")
    changed = differences(json.loads(data.get("settings", "{}")), dict(settings.results))
    if changed:
        raise ConfigError(f"cannot resume from {path}: it was saved with other settings ({', '.join(changed[:5])})")
    if data.get("fingerprint") != task.fingerprint:
        raise ConfigError(f"cannot resume from {path}: it was saved on another substrate")
    with restoring(f"cannot resume from {path}"):
        learner.load_state_dict(data["learner"])
        task.load_state_dict(data["task"], int(data["step"]))
    return float(data.get("elapsed_s", 0.0))


def load_policy(learner: Learner, path: str | Path, scenario: str, fingerprint: str | None,
                settings: Settings, policy_keys: tuple[str, ...], training_only: Iterable[str] = ()) -> None:  # fmt: skip
    """Put a saved policy into ``learner``; it must come from the same scenario (and from the substrate of
    ``fingerprint``; None: any, for a policy that fits any substrate) and have been trained under the same values
    of ``policy_keys``.

    ``policy_keys`` are the dotted settings (or whole sections) that decide
    what a trained policy computes from an observation, such as the actor's
    layers, its output bounding or the price range; ``training_only`` the keys
    among them that shaped learning alone (learning rates, noise), which an
    evaluation may leave at other values. A policy evaluated under other
    settings would act otherwise than it was trained to, silently.
    """
    data = load_checkpoint(path)
    if data.get("scenario") != scenario:
        raise ConfigError(f"checkpoint {path} is not a {scenario} policy")
    if fingerprint is not None and data.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"checkpoint {path} was trained on another substrate (topology, domains and resources come from "
            "the topology settings and the seed: use those of the training run)"
        )
    try:
        saved = json.loads(data.get("settings", ""))
    except (TypeError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        raise ConfigError(f"checkpoint {path} does not record the settings it was trained with; train again")
    skipped = set(training_only)
    changed = [key for key in differences(saved, dict(settings.results))
               if key not in skipped and any(key == p or key.startswith(p + ".") for p in policy_keys)]  # fmt: skip
    if changed:
        shown = ", ".join(f"{key}={_setting(saved, key)!r}" for key in changed[:5])
        raise ConfigError(f"checkpoint {path} was trained with {shown}: evaluate it with the same settings")
    with restoring(f"checkpoint {path} does not fit this agent"):
        learner.load_policy_state_dict(data["learner"])


def _setting(values: Mapping[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        values = values.get(part) if isinstance(values, Mapping) else None
    return values
