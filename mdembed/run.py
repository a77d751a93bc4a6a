"""Command-line entry point: ``python -m mdembed.run [experiment=NAME] [overrides]``.

``main`` is a thin Hydra wrapper; ``run(cfg, out_dir)`` does the work and is
what tests call. Errors a user can cause are printed as one line
(``mdembed: error: ...``) with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mdembed.config import CONF_DIR, MARKET_SCENARIO, Settings, compose, differences, settings_from_config
from mdembed.errors import ConfigError, MdembedError, exit_with
from mdembed.io import write_atomic, write_json
from mdembed.scenarios import SCENARIOS

RUN_SETTINGS = "run_settings.json"

__all__ = ["CONF_DIR", "compose", "main", "run"]  # compose and CONF_DIR live in mdembed.config, kept here for scripts


def run(cfg: DictConfig | dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Check every setting, build the run, then run it into ``out_dir``; its summary.

    Nothing is written before every setting of the chosen scenario
    (:mod:`mdembed.scenarios`) has been checked and the run's objects built:
    bad input leaves the directory as it was.
    """
    settings = settings_from_config(cfg)
    scenario = SCENARIOS.get(settings.scenario)
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    job = scenario.plan(cfg, settings)
    if settings.mode == "eval" and not Path(settings.checkpoint).is_file():
        raise ConfigError(f"checkpoint {settings.checkpoint} does not exist")
    out_dir = Path(out_dir)
    finished = _prepare(out_dir, settings)
    if finished is not None:
        return finished
    summary = job.run(out_dir)
    if not settings.keep_checkpoint:  # the run is finished: its resume state is dead weight
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    return summary


def _prepare(out_dir: Path, settings: Settings) -> dict[str, Any] | None:
    """Make ``out_dir`` ready for a run; a finished run's summary instead when ``skip_completed`` asks to keep it.

    A finished run is only kept if it was made with the same settings (its
    run_settings.json): a sweep re-run with other values into the same
    directories must not pass old results off as new ones.
    """
    summary_path, settings_path = out_dir / "summary.json", out_dir / RUN_SETTINGS
    if summary_path.exists() and settings.skip_completed and not settings.overwrite:
        previous = json.loads(settings_path.read_text()) if settings_path.exists() else settings.results
        changed = differences(previous, dict(settings.results))
        if changed:
            raise ConfigError(
                f"{out_dir} holds a finished run with other settings ({', '.join(changed[:5])}); "
                "pass overwrite=true or choose another directory"
            )
        return json.loads(summary_path.read_text())
    if summary_path.exists() and not settings.overwrite:
        raise ConfigError(f"{out_dir} already holds a finished run; pass overwrite=true or choose another hydra.run.dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path.unlink(missing_ok=True)
    (out_dir / "error.txt").unlink(missing_ok=True)
    write_json(settings_path, dict(settings.results))
    return None


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    """One run; in a sweep (``-m``) a failing job is recorded in its error.txt and the sweep goes on."""
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        summary = run(cfg, out_dir)
    except MdembedError as err:
        write_atomic(out_dir / "error.txt", f"{err}\n")
        if sweeping:
            print(f"mdembed: job {hydra_cfg.job.num} failed: {err}", file=sys.stderr)
            return
        exit_with(err)
    except Exception as err:
        if not sweeping:
            raise
        write_atomic(out_dir / "error.txt", traceback.format_exc())
        print(f"mdembed: job {hydra_cfg.job.num} failed: {type(err).__name__}: {err} (see {out_dir / 'error.txt'})", file=sys.stderr)
        return
    print(SCENARIOS.get(summary.get("scenario", MARKET_SCENARIO)).report(summary, out_dir))


def check_group_choices(args: list[str]) -> None:
    """Name an unknown config-group option in one line, before Hydra composes anything."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    candidates = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except Exception as err:
        raise ConfigError(f"cannot parse the overrides: {str(err).splitlines()[0]}") from None
    for override in overrides:
        group = override.key_or_group
        if group not in groups or override.is_delete():
            continue
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        values = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
        for value in values:
            if isinstance(value, str) and value not in options:
                raise ConfigError(f"unknown {group} {value!r}; known: {', '.join(options)}")


def main() -> None:
    try:
        check_group_choices(sys.argv[1:])
    except MdembedError as err:
        exit_with(err)
    hydra_main()


if __name__ == "__main__":
    main()
