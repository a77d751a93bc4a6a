"""The submitit launchers of the [slurm] extra: a sweep through submitit end to end, the sbatch script that
conf/hydra/launcher/slurm.yaml makes (time limit, signal, requeue), and the message when the extra is missing.

A real SLURM cluster is not needed here: scripts/slurm_single_node.sh starts one and runs a sweep on it
(docs/slurm.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SUBMITIT_PLUGIN = "hydra_plugins.hydra_submitit_launcher"


def test_a_sweep_through_submitit_local_runs_every_job(tmp_path):
    """The real command line, with submitit's local executor: each job is a process submitit starts and waits for."""
    pytest.importorskip(SUBMITIT_PLUGIN, reason="the [slurm] extra is not installed")
    sweep = tmp_path / "sweep"
    command = [
        sys.executable, "-m", "mdembed.run", "-m",  # -m before the overrides: Hydra takes them as one list
        "experiment=smoke", "seed=1,2", "workload.num_requests=100", "metrics.window=50", "progress=false",
        "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    summaries = sorted(p for p in sweep.rglob("summary.json") if ".submitit" not in p.parts)
    seeds = sorted(json.loads(p.read_text())["seed"] for p in summaries)
    assert seeds == [1, 2], [str(p) for p in summaries]
    for path in summaries:
        summary = json.loads(path.read_text())
        assert (summary["requests"], summary["topology"]) == (100, "abilene")
    # it went through submitit: a folder per job with its logs and pickled result
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 2
    logs = [p.read_text() for p in (sweep / ".submitit").glob("*/*_log.out")]
    assert len(logs) == 2 and all("Job completed successfully" in log for log in logs)


def test_slurm_yaml_asks_for_a_signal_before_the_time_limit_and_a_requeue(tmp_path, monkeypatch):
    """The sbatch script submitit would submit for hydra/launcher=slurm (made here without a cluster)."""
    pytest.importorskip(SUBMITIT_PLUGIN, reason="the [slurm] extra is not installed")
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf
    from submitit.slurm.slurm import SlurmExecutor

    from mdembed.config import compose

    launcher = compose(["experiment=smoke", "hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path}"], return_hydra_config=True)
    params = OmegaConf.to_container(launcher.hydra.launcher, resolve=True)
    assert (params["partition"], params["account"]) == (None, None)  # the cluster's defaults
    assert (params["signal_delay_s"], params["max_num_timeout"], params["additional_parameters"]) == (120, 3, {"requeue": True})

    # The same mapping as BaseSubmititLauncher.launch: max_num_timeout goes to the executor, the rest to sbatch
    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 2))  # no srun on this machine needed
    executor = submitit.AutoExecutor(folder=params.pop("submitit_folder"), cluster="slurm",
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))  # fmt: skip
    params.pop("_target_")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    sbatch = executor._executor._make_submission_file_text("python -m submitit.core._submit FOLDER", "uid")
    lines = set(sbatch.splitlines())
    assert {"#SBATCH --time=240", "#SBATCH --signal=USR2@120", "#SBATCH --requeue", "#SBATCH --cpus-per-task=1",
            "#SBATCH --mem=4GB"} <= lines, sbatch  # fmt: skip
    assert not any(line.startswith(("#SBATCH --partition", "#SBATCH --account")) for line in lines), sbatch
    assert executor._executor.max_num_timeout == 3


# Runs mdembed.run with the submitit plugin hidden, as if the [slurm] extra were not installed: Hydra's plugin
# scan (pkgutil.walk_packages) does not see it, and importing it fails.
HIDE_SUBMITIT = textwrap.dedent(
    f"""
    import importlib.abc, pkgutil, runpy, sys
    HIDDEN = {SUBMITIT_PLUGIN!r}

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == HIDDEN or name.startswith(HIDDEN + "."):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    _walk = pkgutil.walk_packages
    pkgutil.walk_packages = lambda *a, **k: (m for m in _walk(*a, **k) if not m.name.startswith(HIDDEN))
    sys.argv = ["mdembed.run", *sys.argv[1:]]
    runpy.run_module("mdembed.run", run_name="__main__", alter_sys=True)
    """
)


@pytest.mark.parametrize("launcher", ["slurm", "submitit_local"])
def test_a_submitit_launcher_without_the_extra_is_one_line_naming_it(tmp_path, launcher):
    script = tmp_path / "hide_submitit.py"
    script.write_text(HIDE_SUBMITIT)
    done = subprocess.run(
        [sys.executable, str(script), "-m", "experiment=smoke", "seed=1,2", f"hydra/launcher={launcher}",
         f"hydra.sweep.dir={tmp_path / 'sweep'}"],  # fmt: skip
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("mdembed: error: "), done.stderr
    assert "[slurm]" in lines[0], lines[0]  # the extra to install: pip install -c constraints.txt -e '.[slurm]'
    assert not (tmp_path / "sweep").exists()
