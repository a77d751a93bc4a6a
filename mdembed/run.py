"""Command-line entry point: ``python -m mdembed.run [experiment=NAME] [overrides]``.

``main`` is a thin Hydra wrapper; ``run(cfg, out_dir)`` does the work and is
what tests call. Errors a user can cause are printed as one line
(``mdembed: error: ...``) with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mdembed.core import failures, lock, progress, stopping
from mdembed.config import CONF_DIR, compose, register_resolvers
from mdembed.settings import Settings, differences, scenario_of, settings_from_config
from mdembed.core.errors import (EXIT_ENVIRONMENT, EXIT_USER_ERROR, ConfigError, EnvironmentFailure, MdembedError, command, exit_status, exit_with, output_failure)
from mdembed.core.io import RUN_SETTINGS, read_json, write_atomic, write_json
from mdembed.scenarios import SCENARIOS

register_resolvers()  # before Hydra composes: the default directory names use them

__all__ = ["CONF_DIR", "compose", "main", "run"]  # compose and CONF_DIR live in mdembed.config, kept here for scripts


# Everything a run writes into its directory (run_settings.json aside): a new run clears them first, so that no
# file of an earlier run is ever passed off as this one's. A resumed run keeps what it continues from.
RESULT_FILES = ("summary.json", "metrics.csv", "utilization.csv", "error.txt", "policy.pt", "substrate.json",
                "events.jsonl", "events.jsonl.partial", "checkpoints", "tensorboard", "figures")  # fmt: skip
RESUMED_FROM = ("checkpoints", "tensorboard")


def run(cfg: DictConfig | dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Check every setting, build the run, then run it into ``out_dir``; its summary.

    Nothing is written before every setting of the chosen scenario
    (:mod:`mdembed.scenarios`) has been checked and the run's objects built:
    bad input leaves the directory as it was. The directory is locked for the
    whole run (:mod:`mdembed.core.lock`).
    """
    return run_job(cfg, out_dir)[0]


OUTCOMES = ("finished", "resumed", "skipped", "failed")  # what became of a sweep's job, as its line and the count say


def run_job(cfg: DictConfig | dict[str, Any], out_dir: Path, continuing: bool = False) -> tuple[dict[str, Any], str]:
    """:func:`run`, and what it did: ``finished`` (ran from the start), ``resumed`` (from a checkpoint) or
    ``skipped`` (the directory held this run, finished).

    ``continuing`` (a sweep's job; ``skip_completed=true`` for a single run)
    carries on whatever the directory holds, unless ``overwrite=true``: a
    finished run with the same settings is kept, an unfinished one with a
    checkpoint resumes from it, anything else runs from the start. So running
    an interrupted sweep's command again finishes it.
    """
    settings = settings_from_config(cfg)
    out_dir = Path(out_dir)
    checkpoint = out_dir / "checkpoints" / "last.pt"
    if (continuing or settings.skip_completed) and not settings.overwrite and settings.mode == "train":
        settings = dataclasses.replace(settings, skip_completed=True, resume=settings.resume or checkpoint.is_file())
    scenario = SCENARIOS.get(settings.scenario)
    job = scenario.plan(cfg, settings)
    _check_checkpoint(settings)
    settings = _threads_in_effect(settings)
    with lock.holding(out_dir):
        resumable = settings.resume and checkpoint.is_file()
        finished = _prepare(out_dir, settings)
        if finished is not None:
            return finished, "skipped"
        summary = job.run(out_dir)
        try:
            scenario.report(summary, out_dir)  # the line printed after the run: a run whose report fails is not finished
        except Exception:
            (out_dir / "summary.json").unlink(missing_ok=True)
            raise
        if not settings.keep_checkpoint:  # the run is finished: its resume state is dead weight
            shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    return summary, "resumed" if resumable else "finished"


def _check_checkpoint(settings: Settings) -> None:
    if settings.mode == "eval" and Path(settings.checkpoint).is_dir():
        raise ConfigError(f"checkpoint {settings.checkpoint} is a directory, not a checkpoint file")
    if settings.mode == "eval" and not Path(settings.checkpoint).is_file():
        raise ConfigError(f"checkpoint {settings.checkpoint} does not exist")


def _threads_in_effect(settings: Settings) -> Settings:
    """Fix torch's thread count and record the count in effect among the settings that decide the results.

    The count changes how a network's sums round, so DDPG's numbers depend on
    it; ``torch_threads=null`` takes torch's default, which a sweep's workers
    set otherwise than a run alone does: run_settings.json then says which.
    A run without networks (torch not imported by its plan) keeps the setting
    as written.
    """
    if "torch" not in sys.modules:
        return settings
    import torch

    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    return dataclasses.replace(settings, results={**settings.results, "torch_threads": torch.get_num_threads()})


def _prepare(out_dir: Path, settings: Settings) -> dict[str, Any] | None:
    """Make ``out_dir`` ready for a run; a finished run's summary instead when ``skip_completed`` asks to keep it.

    A finished run is only kept if its run_settings.json says it was made with
    the same settings: a sweep re-run with other values into the same
    directories must not pass old results off as new ones. A summary.json that
    does not parse is an unfinished run (one killed while writing it). Only
    the files of an earlier run are ever removed (:func:`check_directory`).
    """
    check_directory(out_dir, settings.overwrite, settings.checkpoint if settings.mode == "eval" else None)
    summary_path, settings_path = out_dir / "summary.json", out_dir / RUN_SETTINGS
    finished = read_json(summary_path)
    if finished is not None and not settings.overwrite:
        if not settings.skip_completed:
            raise ConfigError(f"{out_dir} already holds a finished run; pass overwrite=true or choose another hydra.run.dir")
        previous = read_json(settings_path)
        if previous is None:
            raise ConfigError(
                f"{out_dir} holds a finished run without a readable {RUN_SETTINGS}, so its settings cannot be checked; "
                "pass overwrite=true to run it again"
            )
        changed = differences(previous, dict(settings.results))
        if changed:
            raise ConfigError(
                f"{out_dir} holds a finished run with other settings ({', '.join(changed[:5])}); "
                "pass overwrite=true or choose another directory"
            )
        return finished
    if finished is None and not settings.resume and not settings.overwrite and (out_dir / "checkpoints" / "last.pt").exists():
        raise ConfigError(
            f"{out_dir} holds an unfinished run that can be resumed; pass resume=true to continue it or overwrite=true to start again"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in RESULT_FILES:
        if settings.resume and name in RESUMED_FROM:
            continue
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    write_json(settings_path, dict(settings.results))
    return None


RUN_MARKS = (RUN_SETTINGS, "summary.json")  # files only a run writes: a directory holding one is a run's
# What Hydra (and a failed start of ours) leaves in a run directory before a run writes run_settings.json.
RUN_START_FILES = (".hydra", lock.LOCK_FILE, "error.txt")


def check_directory(out_dir: Path, overwrite: bool, checkpoint: str | None = None) -> None:
    """Refuse a directory a run would have to clear files from that it did not write.

    A run goes into a new or empty directory, or into one that holds a run of
    ours (its run_settings.json), whose result files it may replace. Anything
    else (a user's files, a sweep's root, a checkpoint this run is about to
    evaluate) is refused before a file is touched, with or without overwrite.
    """
    out_dir = Path(out_dir)
    if checkpoint is not None:
        source = Path(checkpoint).expanduser().resolve()
        if source.is_relative_to(out_dir.resolve()):
            raise ConfigError(
                f"checkpoint {checkpoint} lies in the run directory {out_dir}, whose result files this run would replace; "
                "evaluate into another hydra.run.dir"
            )
    if not out_dir.is_dir() or any((out_dir / name).is_file() for name in RUN_MARKS):
        return
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in RUN_START_FILES and not p.name.endswith(".log"))
    if foreign:
        what = "a sweep's directory" if (out_dir / "multirun.yaml").exists() else "files that no mdembed run wrote"
        shown = ", ".join(foreign[:4]) + (", ..." if len(foreign) > 4 else "")
        raise ConfigError(
            f"{out_dir} holds {what} ({shown}) and no run; a run would replace them"
            f"{' even with overwrite=true' if overwrite else ''}: choose a new or empty hydra.run.dir"
        )


class RunDirectoryGuard(Callback):
    """Locks the run directory before Hydra writes anything into it (``hydra.callbacks`` in mdembed/conf/config.yaml).

    Hydra creates the directory, its log and .hydra/ before calling the task:
    a second run into a busy directory must stop before that, with one line.
    A sweep locks its sweep directory the same way, and each job its own.
    Hydra imports this class from ``mdembed.run`` (a module apart from
    ``__main__``), so what it holds lives in :mod:`mdembed.core.lock`.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)  # the default run dir reads ${hydra:runtime.choices...}; Hydra sets it again
        directory = Path(str(config.hydra.run.dir))
        _lock_or_exit(directory)
        try:
            check_directory(directory, config.get("overwrite") is True,
                            config.get("checkpoint") if config.get("mode") == "eval" else None)  # fmt: skip
        except MdembedError as err:
            lock.release(directory)
            exit_with(err)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)
        directory = Path(str(config.hydra.sweep.dir))
        _lock_or_exit(directory)
        failures.start(directory)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        directory = Path(str(config.hydra.sweep.dir))
        failures.finish(directory)
        lock.release(directory)


def _lock_or_exit(directory: Path) -> None:
    try:
        lock.acquire(directory)
    except MdembedError as err:
        exit_with(err)
    except OSError as err:
        exit_with(EnvironmentFailure.from_os_error(err))


def interruption(stop: KeyboardInterrupt, out_dir: Path, sweeping: bool = False) -> str:
    """One line: which signal, where the run stopped and how to go on from there."""
    signal_name, _ = stopping.stopped_by(stop)
    where = progress.position()
    at = f" during {where}" if where else ""
    if sweeping:
        how = "running the sweep's command again continues it" + (
            " from its checkpoint" if (out_dir / "checkpoints" / "last.pt").is_file() else " from its start")
    elif (out_dir / "checkpoints" / "last.pt").is_file():
        how = f"the same command with resume=true hydra.run.dir={out_dir} continues it from its last checkpoint"
    else:
        how = f"nothing to resume from: run the same command again (no result was written to {out_dir})"
    return f"interrupted by {signal_name}{at}; {how}"


def _note_failure(out_dir: Path, text: str) -> None:
    """error.txt beside the run's files, if the directory takes it (the failure may be that it does not)."""
    try:
        write_atomic(out_dir / "error.txt", text)
    except OSError:
        pass


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    """One run; in a sweep (``-m``) a failing job is recorded in its error.txt and the sweep goes on."""
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    stopping.install()  # a sweep's worker process too: a stop signal during training leaves a checkpoint
    job_name = f"job {hydra_cfg.job.num}" if sweeping else "run"
    if sweeping and out_dir.name != str(hydra_cfg.job.num):
        job_name += f" ({out_dir.name})"

    def fail(err: MdembedError, status: int | None = None) -> None:
        if sweeping:
            print(f"mdembed: {job_name} failed: {err}", file=sys.stderr)
            failures.record(Path(hydra_cfg.sweep.dir), out_dir, status or exit_status(err), str(err))
            return
        exit_with(err)

    try:
        lock.acquire(out_dir)  # already held in a single run (RunDirectoryGuard); a sweep's job takes it here
    except MdembedError as err:
        return fail(err)  # not a word into the directory: it is another run's
    except OSError as err:
        return fail(EnvironmentFailure.from_os_error(err))
    try:
        summary, outcome = run_job(cfg, out_dir, continuing=sweeping)
        line = SCENARIOS.get(scenario_of(summary)).report(summary, out_dir)
        if sweeping:
            line = f"mdembed: {job_name} {_outcome_words(outcome, summary)}: {line}"
            failures.record_outcome(Path(hydra_cfg.sweep.dir), out_dir, outcome)
    except MdembedError as err:
        _note_failure(out_dir, f"{err}\n")
        return fail(err)
    except OSError as err:  # a full disk, a directory made read-only during the run
        failure = EnvironmentFailure.from_os_error(err)
        _note_failure(out_dir, f"{failure}\n")
        return fail(failure)
    except KeyboardInterrupt as stop:
        message = interruption(stop, out_dir, sweeping)
        _note_failure(out_dir, message + "\n")
        if sweeping:
            raise
        print(f"mdembed: {message}", file=sys.stderr)
        sys.exit(stopping.stopped_by(stop)[1])
    except Exception as err:
        if not sweeping:
            raise
        _note_failure(out_dir, traceback.format_exc())
        return fail(MdembedError(f"{type(err).__name__}: {err} (see {out_dir / 'error.txt'})"), EXIT_ENVIRONMENT)
    finally:
        lock.release(out_dir)
    try:
        print(line, flush=True)
    except OSError as err:  # standard output closed or full: the results are written, say so once
        exit_with(output_failure(err) or EnvironmentFailure.from_os_error(err))



HYDRA_FLAGS_CHECKED = ("-m", "--multirun")  # with any other flag (--cfg, --help, -cp ...) Hydra alone reads the line


def check_overrides(args: list[str]) -> None:
    """Compose the config of the line's first job as Hydra will, check its settings, and name any problem in one line.

    Hydra reports its own errors (an unknown key, a missing '=', an unknown
    launcher, a null group) in several lines with exit status 1; composing
    first turns each into one ``mdembed: error`` line with status 2, and a
    bad setting stops the line before Hydra creates a run directory. A
    sweep's first value of every swept key is composed; the rest are checked
    job by job.
    """
    _check_launcher_installed(args)
    if any(a.startswith("-") and a not in HYDRA_FLAGS_CHECKED for a in args):
        return
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException

    lines = [a for a in args if a not in HYDRA_FLAGS_CHECKED]
    parser = OverridesParser.create()
    overrides = []
    for line in lines:  # one by one, so that an error names the override it is about
        try:
            overrides += parser.parse_overrides([line])
        except OverrideParseException as err:
            raise ConfigError(f"cannot parse the override {line!r}: {_parse_problem(line, str(err))}") from None
    _check_group_choices(overrides)
    first = []
    for override in overrides:
        if override.is_sweep_override():
            first.append(f"{override.get_key_element()}={next(iter(override.sweep_string_iterator()))}")
        else:
            first.append(override.input_line)
    try:
        config = compose(first, return_hydra_config=True)
    except MissingConfigException as err:
        group, _, name = str(err.missing_cfg_file).rpartition("/")
        known = f"; known: {', '.join(err.options)}" if err.options else ""
        raise ConfigError(f"unknown {group} {name!r}{known}") from None
    except HydraException as err:
        text = str(err)
        if text.startswith("Could not override") and err.__cause__ is not None:
            key = text.split("'")[1]
            hint = " of the chosen launcher (hydra/launcher=local, joblib or slurm has it?)" if key.startswith("hydra.launcher.") else ""
            raise ConfigError(f"unknown key {key}{hint}") from None
        raise ConfigError(text.splitlines()[0]) from None
    job = OmegaConf.to_container(config, resolve=False)
    job.pop("hydra")
    job = OmegaConf.create(job)
    settings = settings_from_config(job)  # the run's own checks, before Hydra creates its directory
    SCENARIOS.get(settings.scenario).check(job, settings)
    _check_checkpoint(settings)


SUBMITIT_LAUNCHERS = ("slurm", "submitit_slurm", "submitit_local")  # hydra/launcher options of the [slurm] extra


def _submitit_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None
    except ImportError:
        return False


def _check_launcher_installed(args: list[str]) -> None:
    """A launcher of the [slurm] extra, named without the extra installed: say how to get it (with --cfg too)."""
    for arg in args:
        key, _, value = arg.partition("=")
        if key.lstrip("+") == "hydra/launcher" and value in SUBMITIT_LAUNCHERS and not _submitit_installed():
            raise ConfigError(
                f"hydra/launcher={value} needs the [slurm] extra (hydra-submitit-launcher), which is not installed: "
                "pip install -c constraints.txt -e '.[slurm]' in a checkout, or pip install 'mdembed[slurm]'"
            )


def compose_one(overrides: list[str]) -> DictConfig:
    """The config of ``overrides`` for a command that runs one configuration.

    The command line's own checks (:func:`check_overrides`) name an unknown key or option and a bad
    setting in one line; what is left for Hydra to refuse here is a sweep
    (``seed=1,2``), which one configuration cannot be.
    """
    from hydra.errors import HydraException

    check_overrides(overrides)
    try:
        return compose(overrides)
    except HydraException as err:
        raise ConfigError(f"{str(err).splitlines()[0]} (this command runs one configuration: no sweeps)") from None


def _parse_problem(line: str, error: str) -> str:
    """What is wrong with one override, in words (Hydra's lexer names a Java-style exception)."""
    key, equals, value = line.partition("=")
    if not equals:
        return "write key=value"
    odd = next((c for c in value if not c.isascii() or c.isspace() or c in "~'\"\\"), None)
    quoted = f"{key}='{value}'" if "'" not in value else f'{key}="{value}"'
    if odd is not None:
        return f"the value holds {odd!r}, which Hydra's override syntax takes only inside quotes: write {quoted}"
    why = (error.splitlines() + ["", ""])[1].strip(" ^") or "Hydra's override syntax refuses the value as written"
    return f"{why} (a value with special characters goes inside quotes: {quoted})"


def _check_group_choices(overrides: list[Any]) -> None:
    """Name an unknown or null config-group option with the options there are."""
    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    searched = any(o.key_or_group == "hydra.searchpath" for o in overrides)  # more options there: Hydra names them
    for override in overrides:
        group = override.key_or_group
        if group not in groups or override.is_delete():
            continue
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        values = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
        for value in values:
            if value is None:
                raise ConfigError(f"{group}=null is not a choice; choose one of {', '.join(options)} (or leave {group} out)")
            if isinstance(value, str) and value not in options and not searched:
                raise ConfigError(f"unknown {group} {value!r}; known: {', '.join(options)}")


@command  # a bad input or a failing machine (Hydra saving its config, standard output closed or full): one line
def main() -> None:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        from mdembed.help import print_help

        return print_help()
    stopping.install(before_stop=_let_jobs_save)
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra's own failures (a full disk as it saves .hydra/) reach us, not its report
    # A log line that cannot be written (standard output closed by `| head`, or full) is dropped instead of printing a
    # traceback per line: run.log keeps every line, and the report line at the end says stdout failed, in one line.
    logging.raiseExceptions = False
    try:
        sys.argv[1:] = _multirun_first(sys.argv[1:])
        check_overrides(sys.argv[1:])
        try:
            hydra_main()
        except HydraException as err:  # a later job of a sweep that cannot be composed (a key the chosen algorithm lacks)
            text = str(err).splitlines()[0]
            hint = "; keys of one algorithm do not apply to another: sweep them in separate commands" if "Could not override" in text else ""
            raise ConfigError(f"a job of the sweep cannot be composed: {text}{hint}") from None
        except Exception as err:  # submitit: a SLURM job that ended without its result (killed, out of requeues)
            if type(err).__name__ != "UncompletedJobError":
                raise
            where = "".join(f" {d}/.submitit/" for d in lock.held())
            raise EnvironmentFailure(f"a SLURM job of the sweep did not complete ({str(err).splitlines()[0][:200]}); its "
                                     f"logs are in{where or ' the sweep directory'}; running the same command again goes on "
                                     "from where the jobs stopped") from None  # fmt: skip
        sys.stdout.flush()  # here, so that a closed pipe is found before the sweep's last line
    except KeyboardInterrupt as stop:  # a sweep, stopped between or inside its jobs
        signal_name, status = stopping.stopped_by(stop)
        where = "".join(f" hydra.sweep.dir={d}" for d in lock.held())
        failures.finish_open()
        print(
            f"mdembed: sweep interrupted by {signal_name} ({_counted()}); run the same command again{where or ''} to "
            "go on: finished jobs are skipped, interrupted ones resume from their checkpoint, the rest run",
            file=sys.stderr,
        )
        sys.exit(status)
    finally:
        failures.finish_open()
        _release_all()
        stopping.uninstall()
    counts = failures.counts()
    if any(counts.values()):
        print(f"mdembed: sweep ended: {_counted()}", flush=True)
    failed = failures.gathered()
    if failed:
        jobs = ", ".join(f"{job['job']}" for job in failed[:3]) + (", ..." if len(failed) > 3 else "")
        status = EXIT_USER_ERROR if all(job["status"] == EXIT_USER_ERROR for job in failed) else EXIT_ENVIRONMENT
        print(f"mdembed: error: {len(failed)} job{'s' if len(failed) > 1 else ''} of the sweep failed ({jobs}); each one's "
              "error.txt says why, the other jobs keep their results", file=sys.stderr)  # fmt: skip
        sys.exit(status)


JOB_STOP_GRACE_S = 120  # how long a stopped sweep waits for its running jobs to save their checkpoints


def _let_jobs_save(signum: int) -> None:
    """A sweep on this machine is stopped: pass the signal to its jobs and wait (at most JOB_STOP_GRACE_S) until
    each has saved its checkpoint and given its directory up, so that running the command again resumes them."""
    jobs = [job for sweep in lock.held() for job in sweep.iterdir() if job.is_dir()]
    holders = {pid for pid in map(lock.holder_pid, jobs) if pid is not None and pid != os.getpid()}
    for pid in sorted(holders):
        try:
            os.kill(pid, signum)
        except OSError:
            holders.discard(pid)
    if not holders:
        return
    print(f"mdembed: {signal.Signals(signum).name}: the running jobs save their checkpoints before the sweep stops",
          file=sys.stderr, flush=True)  # fmt: skip
    deadline = time.monotonic() + JOB_STOP_GRACE_S
    while time.monotonic() < deadline and any(lock.holder_pid(job) in holders for job in jobs):
        time.sleep(0.2)


def _multirun_first(args: list[str]) -> list[str]:
    """``-m`` anywhere on the line (``experiment=smoke -m seed=1,2``): Hydra's parser takes it only before the
    overrides, since a flag between them splits its list of them."""
    flags = [a for a in args if a in HYDRA_FLAGS_CHECKED]
    return flags + [a for a in args if a not in HYDRA_FLAGS_CHECKED]


def _counted() -> str:
    counts = failures.counts()
    total = sum(counts.values())
    if not total:
        return "no job had ended"
    return f"{total} job{'s' if total > 1 else ''}: " + ", ".join(f"{n} {outcome}" for outcome, n in counts.items())


def _outcome_words(outcome: str, summary: dict[str, Any]) -> str:
    if outcome == "skipped":
        return "skipped (already finished)"
    if outcome == "resumed":
        step = (summary.get("training") or summary.get("train") or {}).get("resumed_at_step")
        return f"resumed from step {step}" if step is not None else "resumed"
    return "finished"


def _release_all() -> None:
    for directory in lock.held():
        lock.release(directory)


if __name__ == "__main__":
    main()
