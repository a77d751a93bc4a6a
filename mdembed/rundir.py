"""Work from a run directory alone: ``mdembed eval RUN_DIR`` and ``mdembed resume RUN_DIR``.

A run's directory holds the settings that decided it (``run_settings.json``;
a trained policy, ``policy.pt``, carries them too, with the substrate's
fingerprint), so evaluating a policy again or continuing an interrupted run
needs no retyped overrides. ``eval`` writes a new directory (never into the
run's own), by default ``results/evals/<run name>_eval-seed<S>/<time>``;
``eval.seed=S`` evaluates on requests the policy has never seen, on the same
substrate. A few ``key=value`` overrides may follow (``eval.seed``,
``eval.requests``, ``workload.arrival_rate``, ``trace``, ``progress``); a
policy evaluated under settings that change what it computes is refused.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from mdembed.core.cli import ArgumentParser
from mdembed.core.errors import ConfigError, command
from mdembed.core.io import RUN_SETTINGS, read_json

POLICY_FILE = "policy.pt"


def saved_settings(run_dir: Path) -> dict[str, Any]:
    """The settings a run was made with: its run_settings.json (its policy.pt's for a directory holding only that)."""
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a directory")
    settings = read_json(run_dir / RUN_SETTINGS)
    if isinstance(settings, dict):
        return settings
    policy = run_dir / POLICY_FILE
    if policy.is_file():
        from mdembed.learning.checkpoints import load_checkpoint

        try:
            settings = json.loads(load_checkpoint(policy).get("settings", ""))
        except (TypeError, ValueError):
            settings = None
        if isinstance(settings, dict):
            return settings
    raise ConfigError(f"{run_dir} holds no readable {RUN_SETTINGS} or {POLICY_FILE}: it is not an mdembed run directory")


def with_overrides(settings: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``settings`` with ``key=value`` overrides applied (values read as YAML, as Hydra reads them)."""
    from omegaconf import OmegaConf

    for line in overrides:
        key, equals, _ = line.partition("=")
        if not equals or not key or key.startswith(("+", "~", "hydra")):
            raise ConfigError(f"cannot apply the override {line!r}: write key=value (hydra's keys do not apply here)")
    try:
        merged = OmegaConf.merge(OmegaConf.create(settings), OmegaConf.from_dotlist(overrides))
    except Exception as err:
        raise ConfigError(f"cannot apply the overrides: {str(err).splitlines()[0]}") from None
    return OmegaConf.to_container(merged, resolve=True)


def _name(settings: dict[str, Any]) -> str:
    """The run's name, as its scenario gives it (the data centre has no topology or market algorithm)."""
    from mdembed.scenarios import SCENARIOS
    from mdembed.settings import scenario_of

    return SCENARIOS.get(scenario_of(settings)).name_of_run(settings)


def evaluate(run_dir: Path, overrides: list[str], out_dir: Path | None = None) -> tuple[dict[str, Any], Path]:
    """Evaluate the trained policy of ``run_dir`` under its own settings (and ``overrides``); the summary and where it went."""
    from mdembed.run import run

    run_dir = Path(run_dir).expanduser()
    settings = saved_settings(run_dir)
    policy = run_dir / POLICY_FILE
    if not policy.is_file():
        algorithm = (settings.get("algorithm") or {}).get("name", "?")
        raise ConfigError(f"{run_dir} holds no {POLICY_FILE}: only a finished run of a learning algorithm can be "
                          f"evaluated again (this one: {algorithm})")  # fmt: skip
    config = with_overrides({**settings, "mode": "eval", "checkpoint": str(policy.resolve())}, overrides)
    seed = (config.get("eval") or {}).get("seed")
    if out_dir is None:
        label = f"eval-seed{config.get('seed') if seed is None else seed}"
        out_dir = Path("results", "evals", f"{_name(config)}_{label}", time.strftime("%Y-%m-%d_%H-%M-%S"))
    return run(config, out_dir), out_dir


def resume(run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Continue an interrupted run in its own directory from its checkpoint (or keep it, finished), under its settings."""
    from mdembed.run import run

    run_dir = Path(run_dir).expanduser()
    config = with_overrides({**saved_settings(run_dir), "skip_completed": True}, overrides)
    return run(config, run_dir)


def _report(summary: dict[str, Any], out_dir: Path) -> str:
    from mdembed.settings import scenario_of
    from mdembed.scenarios import SCENARIOS

    return SCENARIOS.get(scenario_of(summary)).report(summary, out_dir)


@command
def eval_main() -> None:
    """``mdembed eval RUN_DIR [--out DIR] [key=value ...]``."""
    _main("eval")


@command
def resume_main() -> None:
    """``mdembed resume RUN_DIR [key=value ...]``."""
    _main("resume")


def _main(action: str) -> None:
    from mdembed.core import stopping

    descriptions = {
        "eval": "Evaluate a finished run's trained policy again, under the run's saved settings, into a new directory "
                "(eval.seed=S: on requests of seed S, which it never saw, on the same substrate).",
        "resume": "Continue an interrupted run in its own directory from its checkpoint, under its saved settings "
                  "(a finished run is kept as it is).",
    }  # fmt: skip
    parser = ArgumentParser(prog=f"mdembed {action}", description=descriptions[action])
    parser.add_argument("run_dir", type=Path, help="a run's directory (results/runs/NAME/TIME, or a sweep's job)")
    parser.add_argument("overrides", nargs="*", help="key=value, e.g. eval.seed=7 eval.requests=2000 progress=false")
    if action == "eval":
        parser.add_argument("--out", type=Path, help="where to write the evaluation (default results/evals/NAME/TIME)")
    args = parser.parse_intermixed_args()  # --out may stand between the run directory and the overrides
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s", stream=sys.stdout)
    stopping.install()
    out_dir = args.run_dir
    try:
        if action == "eval":
            summary, out_dir = evaluate(args.run_dir, args.overrides, args.out)
        else:
            summary = resume(args.run_dir, args.overrides)
    except KeyboardInterrupt as stop:
        from mdembed.run import interruption

        print(f"mdembed: {interruption(stop, out_dir)}", file=sys.stderr)
        sys.exit(stopping.stopped_by(stop)[1])
    finally:
        stopping.uninstall()
    print(_report(summary, out_dir), flush=True)


if __name__ == "__main__":
    eval_main()
