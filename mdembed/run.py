"""Command-line entry point: ``python -m mdembed.run [experiment=NAME] [overrides]``.

``main`` is a thin Hydra wrapper; ``run(cfg, out_dir)`` does the work and is
what tests call. Errors a user can cause are printed as one line
(``mdembed: error: ...``) with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mdembed import __version__
from mdembed.build import make_run
from mdembed.config import Settings, settings_from_config
from mdembed.errors import ConfigError, MdembedError
from mdembed.io import write_atomic, write_csv, write_json
from mdembed.metrics import MetricsRecorder
from mdembed.simulation import OnlineMarket, simulate
from mdembed.trace import TraceWriter
from mdembed.training import load_policy, train

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
EXIT_USER_ERROR = 2


def compose(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The config the command line would build from these overrides (for tests and scripts)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


def run(cfg: DictConfig | dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Simulate one configuration and write its results into ``out_dir``.

    A learning algorithm first trains (phase ``train``) on a workload of its
    own; then every algorithm is evaluated (phase ``eval``) on the run's
    workload. Files: metrics.csv (one row per window and phase), summary.json
    (the evaluation; written last, its presence marks a finished run), with
    ``trace=true`` substrate.json and events.jsonl of the evaluation, and for
    a learner checkpoints/last.pt and policy.pt. ``scenario=dc_provisioning``
    runs the data-centre scenario instead (:func:`mdembed.dc.experiment.run_dc`).
    """
    settings = settings_from_config(cfg)
    out_dir = Path(out_dir)
    dc = None
    if settings.scenario == "dc_provisioning":
        from mdembed.dc.settings import dc_settings_from_config

        dc = dc_settings_from_config(cfg)  # every setting is checked before the directory is touched
    finished = _prepare(out_dir, settings, _run_settings(cfg))
    if finished is not None:
        return finished
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    if dc is not None:
        from mdembed.dc.experiment import run_dc

        return run_dc(settings, dc, out_dir)
    summary_path = out_dir / "summary.json"
    run_objects = make_run(settings)
    substrate, algorithm = run_objects.substrate, run_objects.algorithm
    name = settings.algorithm["name"]
    learns = getattr(algorithm, "trainable", False)
    if not learns and (settings.mode == "eval" or settings.resume):
        raise ConfigError(f"algorithm {name} does not learn: mode=eval and resume=true are for ddpg")
    tables, training = [], None
    if learns and settings.mode == "eval":
        load_policy(algorithm, settings.checkpoint)
    elif learns:
        train_recorder, training = train(algorithm, settings, out_dir)
        tables.append(train_recorder.table())

    trace = TraceWriter(out_dir, substrate) if settings.trace else None
    market = OnlineMarket(substrate, trace)
    recorder = MetricsRecorder(substrate, len(run_objects.requests), settings.metrics.window, phase="eval")
    try:
        simulate(run_objects.requests, algorithm, market, recorder, settings.progress)
    except BaseException:
        if trace:
            trace.abandon()
        raise
    if trace:
        trace.close()
    tables.append(recorder.table())

    summary = {
        "algorithm": name,
        "topology": substrate.name,
        "num_nodes": substrate.num_nodes,
        "num_links": substrate.num_links,
        "num_domains": substrate.num_domains,
        "seed": settings.seed,
        "admission": settings.market.admission,
        "mode": settings.mode,
        **recorder.summary(),
        **algorithm.report(),
        "training": training,
        "mdembed_version": __version__,
    }
    write_csv(out_dir / "metrics.csv", pd.concat(tables, ignore_index=True))
    write_json(summary_path, summary)
    return summary


# Keys that change how a run is carried out or reported, not the numbers it produces.
_CONTROL_KEYS = ("skip_completed", "overwrite", "progress", "resume", "tensorboard", "checkpoint", "hydra")
RUN_SETTINGS = "run_settings.json"


def _run_settings(cfg: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """The resolved config minus the control keys: what decides a run's results."""
    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    return json.loads(json.dumps({k: v for k, v in data.items() if k not in _CONTROL_KEYS}, default=str))


def _prepare(out_dir: Path, settings: Settings, run_settings: dict[str, Any]) -> dict[str, Any] | None:
    """Make ``out_dir`` ready for a run; a finished run's summary instead when ``skip_completed`` asks to keep it.

    A finished run is only kept if it was made with the same settings (its
    run_settings.json): a sweep re-run with other values into the same
    directories must not pass old results off as new ones.
    """
    summary_path, settings_path = out_dir / "summary.json", out_dir / RUN_SETTINGS
    if summary_path.exists() and settings.skip_completed and not settings.overwrite:
        previous = json.loads(settings_path.read_text()) if settings_path.exists() else run_settings
        changed = _differences(previous, run_settings)
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
    write_json(settings_path, run_settings)
    return None


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested settings."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


def _report(summary: dict[str, Any], out_dir: Path) -> None:
    if summary.get("scenario") == "dc_provisioning":
        dqn, auto = summary["dqn"], summary["autoscaler"]
        print(
            f"dc_provisioning seed {summary['seed']}: acceptance dqn {dqn['acceptance_rate']:.3f} / autoscaler "
            f"{auto['acceptance_rate']:.3f}, resource utilization {dqn['resource_utilization']:.3f} / "
            f"{auto['resource_utilization']:.3f}, mean e2e delay {dqn['e2e_delay_ms_mean']:.2f} / "
            f"{auto['e2e_delay_ms_mean']:.2f} ms, results in {out_dir}"
        )
        return
    print(
        f"{summary['algorithm']} on {summary['topology']}: {summary['accepted']}/{summary['requests']} VNF-FGs accepted "
        f"({summary['acceptance_ratio']:.3f}; VNFs {summary['vnf_acceptance_ratio']:.3f}, "
        f"VLs {summary['vl_acceptance_ratio']:.3f}), results in {out_dir}"
    )


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
        print(f"mdembed: error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except Exception as err:
        if not sweeping:
            raise
        write_atomic(out_dir / "error.txt", traceback.format_exc())
        print(f"mdembed: job {hydra_cfg.job.num} failed: {type(err).__name__}: {err} (see {out_dir / 'error.txt'})", file=sys.stderr)
        return
    _report(summary, out_dir)


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
        print(f"mdembed: error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    hydra_main()


if __name__ == "__main__":
    main()
