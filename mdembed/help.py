"""``mdembed --help`` and ``mdembed run --help``: the commands, the config groups and every key with its comment.

Written from the config tree itself (:data:`mdembed.config.CONF_DIR`): the
groups are its folders, the options their files, the keys and comments the
lines of ``config.yaml``, so the help cannot drift from what a run reads.
Hydra's own help stays at ``--hydra-help``.
"""

from __future__ import annotations

from mdembed.config import CONF_DIR

USAGE = """\
mdembed: multi-domain VNF-FG embedding with deep reinforcement learning

usage:
  mdembed run [group=option ...] [key=value ...]    one run (python -m mdembed.run is the same)
  mdembed sweep [key=a,b ...]                        a sweep over every combination (run -m)
  mdembed eval RUN_DIR [eval.seed=N ...]             evaluate a finished run's trained policy again
  mdembed resume RUN_DIR                             continue an interrupted run from its checkpoint
  mdembed aggregate DIR                              tables of a sweep's runs (jobs.csv, aggregate.csv)
  mdembed plot DIR                                   figures of a run or a sweep
  mdembed bench                                      how fast the simulator runs here
  mdembed COMMAND --help                             a command's own options (eval, resume, aggregate, plot, bench)

examples:
  mdembed run experiment=smoke                       a few seconds: checks an install
  mdembed run experiment=bteurope                    the main job: DDPG on BtEurope, 3 domains
  mdembed run experiment=bteurope seed=3 algorithm=cff_sd workload.arrival_rate=0.5
  mdembed run experiment=paper budget=small          the comparison, small (a sweep; run it again to go on)
  mdembed sweep experiment=smoke seed=1,2,3 algorithm=cff_3d,cff_sd
  mdembed eval results/runs/bteurope_3-domains_ddpg_seed0/DATE eval.seed=7
"""


def groups() -> list[tuple[str, list[str]]]:
    """Each config group (a folder of the config tree) and its options (its files), hydra's launchers included."""
    found = [(p.name, sorted(f.stem for f in p.glob("*.yaml"))) for p in sorted(CONF_DIR.iterdir()) if p.is_dir()]
    launchers = CONF_DIR / "hydra" / "launcher"
    found = [(name, options) for name, options in found if name != "hydra"]
    ours = sorted(f.stem for f in launchers.glob("*.yaml"))
    found.append(("hydra/launcher", ours + ["joblib", "basic", "submitit_local (slurm and submitit_local: the [slurm] extra)"]))
    return found


def settings_lines() -> list[str]:
    """The keys of config.yaml with their comments, as written there (the defaults list and hydra's section left out)."""
    lines, skipping = [], False
    for line in (CONF_DIR / "config.yaml").read_text(encoding="utf-8").splitlines():
        top = line[:1] not in ("", " ", "#")
        if top:
            skipping = line.startswith(("defaults:", "hydra:"))
        if not skipping and line.strip() and not line.startswith("#"):
            lines.append("  " + line)
    return lines


def text() -> str:
    parts = [USAGE, "config groups (group=option; a file of mdembed/conf/GROUP/):"]
    width = max(len(name) for name, _ in groups())
    parts += [f"  {name:<{width}}  {', '.join(options)}" for name, options in groups()]
    parts += ["", "settings (key=value; the defaults of mdembed/conf/config.yaml, which an experiment may change):"]
    parts += settings_lines()
    parts += ["  workload:                   # workload=default (mdembed/conf/workload/default.yaml)"]
    parts += ["    " + line for line in (CONF_DIR / "workload" / "default.yaml").read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    parts += ["  algorithm:                  # algorithm=NAME: its keys and their comments in mdembed/conf/algorithm/NAME.yaml"]
    parts += ["", "Each algorithm's keys: mdembed/conf/algorithm/NAME.yaml (algorithm.KEY=VALUE); "
              "the data-centre scenario's: mdembed/conf/experiment/dc_provisioning.yaml (dc.*).",
              "A bad key or value stops the command with one line before anything is written.", ""]
    return "\n".join(parts)


def print_help() -> None:
    print(text())
