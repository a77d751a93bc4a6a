"""The Hydra config tree inside the package and composing it: what the command line builds, for tests and scripts,
and the names of run and sweep-job directories (the resolvers the configs use)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parent / "conf"  # the Hydra config tree (config.yaml and its groups), inside the package


def compose(overrides: list[str] | tuple[str, ...] = (), return_hydra_config: bool = False) -> DictConfig:
    """The config the command line would build from these overrides (for tests and scripts)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_resolvers()

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def run_name(topology: str, path: str | None, num_domains: Any, partition: str, algorithm: str, seed: Any) -> str:
    """A run directory's name: the topology really used (a GML file's stem when ``topology.path`` is set), its
    domains (and the partition when it is not the default, bfs), the algorithm and the seed."""
    stem = Path(os.path.expanduser(path)).stem if path else topology
    split = f"{num_domains}-domains" + ("" if partition == "bfs" else f"-{partition}")
    return _safe_name(f"{stem}_{split}_{algorithm}_seed{seed}")


JOB_NAME_MAX = 120  # characters of a sweep job's folder name before it is shortened (a file name holds 255 bytes)


def job_name(overrides: str, number: Any) -> str:
    """A sweep job's folder name: its overrides (``seed=1,workload.arrival_rate=0.5``), or its number when it has
    none; a slash would make folders within folders, and a long name is cut and given a hash of the whole."""
    if not overrides:
        return str(number)
    name = _safe_name(overrides)
    if len(name) > JOB_NAME_MAX:
        import hashlib

        name = f"{name[:JOB_NAME_MAX - 9]}-{hashlib.sha1(overrides.encode()).hexdigest()[:8]}"
    return name


def _safe_name(text: str) -> str:
    return re.sub(r"[/\\\x00-\x1f]", "_", text)


def register_resolvers() -> None:
    """The resolvers the configs' directory names use (``${mdembed.run_name:...}``, ``${mdembed.job_name:...}``)."""
    from omegaconf import OmegaConf

    for name, function in (("mdembed.run_name", run_name), ("mdembed.job_name", job_name)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)
