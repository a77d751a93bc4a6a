"""Bad input, busy directories and faults, as an adversarial user tries them: the whole list in one file.

Every case ends one of two ways: a finished run whose files are all its own,
or one line ``mdembed: error: ...`` (exit 2 for bad input, 1 for a machine
that failed the run, 130/143 for Ctrl-C/SIGTERM) with nothing left that
looks finished. The next adversarial pass starts from these tables: add a
row, not a new file. Two neighbours hold the same kind of cases for what
this file does not run: ``test_adversarial_entry_points.py`` (aggregate,
plot, payment_ratio, monopoly, bench) and ``test_adversarial_dc.py`` (the
data-centre scenario's settings).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import typing
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import one_line

from mdembed.core import lock
from mdembed.agents.registry import ALGORITHMS
from mdembed.market.tables import collect
from mdembed.learning.checkpoints import load_checkpoint, save_checkpoint
from mdembed.settings import (MAX_BANDWIDTH_MBPS, MAX_NODE_RESOURCE, AgentSettings, EvalSettings, MarketSettings, MetricsSettings, RoutingSettings, TopologySettings, TrainSettings, WorkloadSettings, settings_from_config)
from mdembed.core.validate import section
from mdembed.dc.settings import _SECTIONS as DC_SECTIONS
from mdembed.core.errors import ConfigError
from mdembed.core.io import InvalidResult, write_summary
from mdembed.network.substrate import BW_UNIT, NODE_UNIT
from mdembed.network.topology import topologies_dir
from mdembed.run import RESULT_FILES, compose, run
from mdembed.core.seeding import stream

SMOKE = ["experiment=smoke", "workload.num_requests=120", "metrics.window=50"]
TINY = SMOKE + ["progress=false"]
LEARNER = ["algorithm=ddpg", "train.steps=40", "algorithm.learning_starts=10", "algorithm.batch_size=8",
           "algorithm.hidden=16", "algorithm.buffer_size=100"]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def cli(*args: str, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    """``python -m mdembed.run ARGS`` as a user types it, without a terminal."""
    return subprocess.run([sys.executable, "-m", "mdembed.run", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, env=kwargs.pop("env", ENV), **kwargs)  # fmt: skip




def looks_finished(directory: Path) -> bool:
    return (directory / "summary.json").exists()


def refused(out: Path, overrides: list[str], message: str) -> None:
    """``run`` refuses these overrides with ``message`` before it touches its directory."""
    with pytest.raises(ConfigError, match=message):
        run(compose(TINY + overrides), out)
    assert not out.exists()


# ---------------------------------------------------------------- Hydra and the command line: one line, exit 2

HYDRA_ERRORS = [
    (["foo=1"], r"error: unknown key foo$"),
    (["workload.foo=1"], r"error: unknown key workload\.foo$"),
    (["+foo=1"], r"error: unknown key foo; known: "),
    (["+workload.foo=1"], r"error: unknown key workload\.foo; known: "),
    (["seed"], r"error: cannot parse the override 'seed': write key=value$"),
    (["topology.path=/tmp/réseau.gml"], r"the value holds 'é', which Hydra's override syntax takes only inside quotes: "
                                        r"write topology.path='/tmp/réseau.gml'$"),
    (["checkpoint=~/p.pt"], r"the value holds '~', .* write checkpoint='~/p.pt'$"),
    (["hydra/launcher=nope"], r"error: unknown hydra/launcher 'nope'; known: .*joblib"),
    (["algorithm=null"], r"error: algorithm=null is not a choice"),
    (["topology=null"], r"error: topology=null is not a choice"),
    (["~algorithm"], r"error: algorithm must be chosen"),
    (["algorithm=nope"], r"error: unknown algorithm 'nope'"),
    (["-m", "seed=0,1", "foo=1"], r"error: unknown key foo$"),
    (["-m", "algorithm=cff_3d,nope"], r"error: unknown algorithm 'nope'"),
]


@pytest.mark.parametrize("args,pattern", HYDRA_ERRORS, ids=[" ".join(a) for a, _ in HYDRA_ERRORS])
def test_a_hydra_error_is_one_line_with_status_2(tmp_path, args, pattern):
    result = cli(*SMOKE, f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sweep'}", *args)
    one_line(result, pattern)
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


# ---------------------------------------------------------------- settings: strict kinds, finite values, ranges

BAD_TOP_LEVEL = [
    ("overwrite=no", "overwrite must be true or false, got 'no'"),
    ("trace=maybe", "trace must be true or false, got 'maybe'"),
    ("resume=yes", "resume must be true or false"),
    ("skip_completed=1", "skip_completed must be true or false, got 1"),
    ("progress=off", "progress must be true or false"),
    ("keep_checkpoint=0", "keep_checkpoint must be true or false"),
    ("tensorboard=null", "tensorboard must be true or false"),
    ("seed=abc", "seed must be a non-negative integer, got 'abc'"),
    ("seed=null", "seed must be a non-negative integer, got None"),
    ("seed=[1,2]", "seed must be a non-negative integer, got \\[1, 2\\]"),
    ("seed=inf", "seed must be a non-negative integer, got inf"),
    ("seed=nan", "seed must be a non-negative integer, got nan"),
    ("seed=-1", "seed must be a non-negative integer, got -1"),
    ("seed=2.5", "seed must be a non-negative integer, got 2.5"),
    ("seed=1e300", "seed 1e\\+300 is a float"),
    ("torch_threads=abc", "torch_threads must be a whole number in \\[1, 1024\\] or null, got 'abc'"),
    ("torch_threads=true", "torch_threads must be a whole number in \\[1, 1024\\] or null, got True"),
    ("torch_threads=1e300", "torch_threads must be a whole number in \\[1, 1024\\] or null, got 1e\\+300"),
    ("torch_threads=5000", "torch_threads must be a whole number in \\[1, 1024\\] or null, got 5000"),
    ("torch_threads=0", "torch_threads must be a whole number in \\[1, 1024\\] or null, got 0"),
    ("torch_threads=2.5", "torch_threads must be a whole number in \\[1, 1024\\] or null, got 2.5"),
    ("mode=123", "mode must be a string"),
]


@pytest.mark.parametrize("override,message", BAD_TOP_LEVEL, ids=[o for o, _ in BAD_TOP_LEVEL])
def test_a_bad_top_level_setting_is_refused_before_the_directory_is_touched(tmp_path, override, message):
    refused(tmp_path / "run", [override], message)


def test_a_string_never_turns_a_switch_on_through_the_command_line(tmp_path):
    """overwrite=no once overwrote a finished run: now it is refused and the run stays as it was."""
    out = tmp_path / "run"
    run(compose(TINY), out)
    before = (out / "summary.json").read_text()
    one_line(cli(*SMOKE, f"hydra.run.dir={out}", "overwrite=no"), r"error: overwrite must be true or false, got 'no'$")
    assert (out / "summary.json").read_text() == before


def _settings_classes() -> list[tuple[str, type]]:
    market = [("topology", TopologySettings), ("workload", WorkloadSettings), ("market", MarketSettings),
              ("routing", RoutingSettings), ("metrics", MetricsSettings), ("agent", AgentSettings),
              ("train", TrainSettings), ("eval", EvalSettings)]  # fmt: skip
    specs = [ALGORITHMS.get(name) for name in ALGORITHMS.names()]
    algorithms = [(f"algorithm {spec.name}", spec.settings) for spec in specs if spec.settings]
    return market + algorithms + [(f"dc.{name}", cls) for name, cls in DC_SECTIONS.items()]


def _bad_values() -> list[tuple[str, type, str, object]]:
    """Every key of every settings class with the values its kind refuses: inf, nan, fractions, strings for switches."""
    cases = []
    for where, cls in _settings_classes():
        for key, kind in typing.get_type_hints(cls).items():
            args = [a for a in typing.get_args(kind) if a is not type(None)]
            if kind is bool:
                cases += [(where, cls, key, v) for v in ("no", "true", 1)]
            elif kind is int:
                cases += [(where, cls, key, v) for v in (math.inf, math.nan, 2.5, "3", True, 1e300)]
            elif kind is float:
                cases += [(where, cls, key, v) for v in (math.inf, -math.inf, math.nan, "0.5", True)]
            elif typing.get_origin(kind) is tuple:
                whole = all(a is int for a in args if a is not Ellipsis)
                bad = [[math.inf, 1], [1, math.nan], "1,2"] + ([[1.5, 2]] if whole else [])
                cases += [(where, cls, key, v) for v in bad]
    return cases


BAD_VALUES = _bad_values()


@pytest.mark.parametrize("where,cls,key,value", BAD_VALUES, ids=[f"{w}.{k}={v!r}" for w, _, k, v in BAD_VALUES])
def test_every_key_of_every_settings_class_refuses_values_of_the_wrong_kind(where, cls, key, value):
    with pytest.raises(ConfigError, match=re.escape(f"x.{key} ")):
        section(cls, {key: value}, "x")


INT_KEYS = [
    "workload.num_requests", "train.steps", "train.checkpoint_every", "metrics.window", "routing.k",
    "topology.num_domains", "eval.requests",
]  # fmt: skip
ALGORITHM_INT_KEYS = [("ddpg", k) for k in ("batch_size", "hidden", "buffer_size", "learning_starts", "policy_delay")] + [
    ("sa", "iterations"), ("sa", "patience"), ("sa_cff", "iterations"), ("sa_cff", "patience")]  # fmt: skip


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
@pytest.mark.parametrize("key", INT_KEYS)
def test_inf_or_nan_for_an_integer_key_is_one_line(tmp_path, key, value):
    refused(tmp_path / "run", [f"{key}={value}"], f"{key} must be a whole number, got {value}")


@pytest.mark.parametrize("value", ["inf", "nan"])
@pytest.mark.parametrize("algorithm,key", ALGORITHM_INT_KEYS)
def test_inf_or_nan_for_an_algorithm_integer_is_one_line(tmp_path, algorithm, key, value):
    refused(tmp_path / "run", [f"algorithm={algorithm}", f"algorithm.{key}={value}"], f"algorithm.{key} must be a whole number, got {value}")


LEARNER_CHECKS = [
    ("actor_lr=inf", "algorithm.actor_lr must be a finite number, got inf"),
    ("critic_lr=inf", "algorithm.critic_lr must be a finite number, got inf"),
    ("reward_scale=inf", "algorithm.reward_scale must be a finite number, got inf"),
    ("actor_lr=nan", "algorithm.actor_lr must be a finite number, got nan"),
    ("ou_theta=2", "algorithm.ou_theta must lie in \\(0, 1\\], got 2.0"),
    ("ou_theta=0", "algorithm.ou_theta must lie in \\(0, 1\\], got 0.0"),
    ("noise_decay=1.5", "algorithm.noise_decay must lie in \\(0, 1\\], got 1.5"),
    ("noise_sigma=inf", "algorithm.noise_sigma must be a finite number, got inf"),
    ("noise_sigma=1e6", "algorithm.noise_sigma must lie in \\[0, 10.0\\]"),
    ("conv_channels=[8,16.5,16]", "algorithm.conv_channels must be a whole number, got 16.5"),
    ("conv_channels=[8,16]", "algorithm.conv_channels must be 3 positive integers"),
    ("layer_norm=yes", "algorithm.layer_norm must be true or false, got 'yes'"),
]


@pytest.mark.parametrize("override,message", LEARNER_CHECKS, ids=[o for o, _ in LEARNER_CHECKS])
def test_a_bad_ddpg_setting_is_refused(tmp_path, override, message):
    refused(tmp_path / "run", ["algorithm=ddpg", f"algorithm.{override}"], message)


def test_the_command_line_refuses_an_infinite_learning_rate_in_one_line(tmp_path):
    """actor_lr=inf once finished with "revenue": NaN. Now refused before Hydra creates the directory."""
    one_line(cli(*SMOKE, "algorithm=ddpg", "algorithm.actor_lr=inf", f"hydra.run.dir={tmp_path / 'run'}"),
             r"error: algorithm\.actor_lr must be a finite number, got inf$")  # fmt: skip
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- seeds and resources: no aliasing, no overflow


def test_seeds_above_2_to_the_32_do_not_alias():
    """seed=4294967296 once silently equalled seed=0 (seeds were reduced mod 2**32)."""
    draws = {seed: stream(seed, "workload").random(4).tolist() for seed in (0, 1, 2**32, 2**32 + 1, 2**64, 10**30)}
    assert len({tuple(d) for d in draws.values()}) == len(draws)
    assert settings_from_config(compose(TINY + ["seed=4294967296"])).seed == 4294967296
    assert settings_from_config(compose(TINY + ["seed=123456789012345678901234567890"])).seed == 123456789012345678901234567890


def test_small_seeds_keep_the_streams_of_earlier_versions():
    """Results committed before the change must reproduce: below 2**32 the seed words are unchanged."""
    old = np.random.default_rng(np.random.SeedSequence([7 & 0xFFFFFFFF, zlib.crc32(b"workload")])).random(3)
    np.testing.assert_array_equal(stream(7, "workload").random(3), old)


def test_a_huge_seed_runs_and_is_recorded_exactly(tmp_path):
    seed = 2**70 + 3
    summary = run(compose(TINY + [f"seed={seed}"]), tmp_path / "run")
    assert summary["seed"] == seed
    assert json.loads((tmp_path / "run" / "run_settings.json").read_text())["seed"] == seed


RESOURCES = [
    ("topology.link_bandwidth_mbps=[inf]", "topology.link_bandwidth_mbps must be a finite number, got inf"),
    ("topology.link_bandwidth_mbps=[nan]", "topology.link_bandwidth_mbps must be a finite number, got nan"),
    ("topology.link_bandwidth_mbps=[1e300]", "topology.link_bandwidth_mbps: 1e\\+300 is above the largest resource"),
    ("topology.node_capacity=[1e300,1e300]", "topology.node_capacity: 1e\\+300 is above the largest resource"),
    ("workload.vnf_demand=[1,1e12]", "workload.vnf_demand: 1e\\+12 is above the largest resource"),
    ("workload.vl_bandwidth_mbps=[1,1e13]", "workload.vl_bandwidth_mbps: 1e\\+13 is above the largest resource"),
]


@pytest.mark.parametrize("override,message", RESOURCES, ids=[o for o, _ in RESOURCES])
def test_a_resource_beyond_the_integer_units_is_refused_naming_the_limit(tmp_path, override, message):
    refused(tmp_path / "run", [override], message)


def test_the_resource_limits_cannot_overflow_int64_over_a_large_topology():
    nodes = 8192  # far more than any Zoo topology
    assert MAX_NODE_RESOURCE * NODE_UNIT * nodes < 2**63
    assert MAX_BANDWIDTH_MBPS * BW_UNIT * nodes * 4 < 2**63  # a node's links, both directions, over every node


# ---------------------------------------------------------------- one directory, one run


def _hold_lock(directory: Path) -> subprocess.Popen:
    """Another process holding ``directory``'s lock, as a running run does."""
    code = f"import sys, time; from mdembed.core import lock; lock.acquire({str(directory)!r}); print('held', flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_run_into_a_busy_directory_stops_at_once_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    holder = _hold_lock(out)
    try:
        line = one_line(cli(*SMOKE, f"hydra.run.dir={out}"), rf"error: {re.escape(str(out))} is in use by another run \(pid {holder.pid} ")
        assert "mdembed.core.lock" not in line
        assert sorted(p.name for p in out.iterdir()) == [lock.LOCK_FILE]  # Hydra wrote nothing: no .hydra, no run.log
        with pytest.raises(lock.DirectoryBusy, match=f"pid {holder.pid}"):
            run(compose(TINY), out)
    finally:
        holder.kill()
        holder.wait()
    summary = run(compose(TINY), out)  # the dead holder's lock file does not block
    assert summary["requests"] == 120
    assert not (out / lock.LOCK_FILE).exists()


def test_two_concurrent_runs_the_second_stops_the_first_finishes_consistent(tmp_path):
    """The case that mixed a seed-0 summary.json with a seed-1 run_settings.json and interleaved events.jsonl."""
    out = tmp_path / "run"
    args = [*SMOKE, *LEARNER, "train.steps=400", "trace=true", f"hydra.run.dir={out}"]
    first = subprocess.Popen([sys.executable, "-m", "mdembed.run", *args, "seed=0"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=ENV)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / "run_settings.json").exists():
        assert first.poll() is None and time.monotonic() < deadline, "the first run never started"
        time.sleep(0.1)
    first.send_signal(signal.SIGSTOP)  # held mid-run, however fast it trains, while the second one tries
    try:
        second = cli(*args, "seed=1")
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    one_line(second, "is in use by another run")
    assert json.loads((out / "summary.json").read_text())["seed"] == 0
    assert json.loads((out / "run_settings.json").read_text())["seed"] == 0
    assert "seed: 0" in (out / ".hydra" / "config.yaml").read_text()
    events = (out / "events.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in events) and len(events) > 0
    assert not (out / "events.jsonl.partial").exists()


def test_overwrite_clears_every_file_of_the_previous_run(tmp_path):
    """overwrite=true once left the previous run's events.jsonl and substrate.json beside the new summary."""
    out = tmp_path / "run"
    run(compose(TINY + ["trace=true"]), out)
    (out / "figures").mkdir()
    (out / "figures" / "old.png").write_bytes(b"old")
    (out / "error.txt").write_text("old failure\n")
    run(compose(TINY + ["overwrite=true", "seed=1"]), out)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "run_settings.json", "summary.json", "utilization.csv"]
    assert set(RESULT_FILES) >= {"events.jsonl", "substrate.json", "figures", "checkpoints", "policy.pt"}


def test_a_new_run_clears_the_leftovers_of_an_unfinished_one(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run_settings.json").write_text("{}\n")  # written first by every run: the leftovers are a run's
    (out / "events.jsonl.partial").write_text("{}\n")
    (out / "substrate.json").write_text("{}")
    run(compose(TINY), out)
    assert not (out / "events.jsonl.partial").exists() and not (out / "substrate.json").exists()


def test_an_unfinished_run_with_a_checkpoint_is_not_silently_restarted(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "last.pt").write_bytes(b"resume state")
    (out / "run_settings.json").write_text("{}\n")
    with pytest.raises(ConfigError, match="holds an unfinished run that can be resumed; pass resume=true"):
        run(compose(TINY + LEARNER), out)
    assert (out / "checkpoints" / "last.pt").read_bytes() == b"resume state"


def test_skip_completed_needs_the_run_settings_of_the_finished_run(tmp_path):
    """skip_completed=true with run_settings.json missing once returned another seed's result."""
    out = tmp_path / "run"
    run(compose(TINY + ["seed=0"]), out)
    (out / "run_settings.json").unlink()
    with pytest.raises(ConfigError, match="without a readable run_settings.json"):
        run(compose(TINY + ["seed=1", "skip_completed=true"]), out)
    (out / "run_settings.json").write_text('{"seed": ')  # cut short
    with pytest.raises(ConfigError, match="without a readable run_settings.json"):
        run(compose(TINY + ["seed=1", "skip_completed=true"]), out)


def test_skip_completed_refuses_a_finished_run_of_other_settings(tmp_path):
    out = tmp_path / "run"
    run(compose(TINY + ["seed=0"]), out)
    with pytest.raises(ConfigError, match=r"with other settings \(seed\)"):
        run(compose(TINY + ["seed=1", "skip_completed=true"]), out)
    assert run(compose(TINY + ["seed=0", "skip_completed=true"]), out)["seed"] == 0


@pytest.mark.parametrize("content", ['{"acceptance_ratio": 0.5', "", "[1, 2]", "\xff\xfe"])
def test_a_corrupt_summary_is_an_unfinished_run(tmp_path, content):
    """Under skip_completed, and for aggregate: a summary.json cut short is a run to do again, not a crash."""
    out = tmp_path / "sweep" / "0"
    run(compose(TINY), out)
    expected = json.loads((out / "summary.json").read_text())["acceptance_ratio"]
    (out / "summary.json").write_text(content, encoding="latin-1")
    jobs_missing = tmp_path / "sweep"
    with pytest.raises(Exception, match="no finished job"):
        collect(jobs_missing)
    run(compose(TINY), tmp_path / "sweep" / "1")
    jobs, failed = collect(jobs_missing)
    assert len(jobs) == 1 and failed == [out]
    summary = run(compose(TINY + ["skip_completed=true"]), out)
    assert summary["acceptance_ratio"] == expected
    assert json.loads((out / "summary.json").read_text())["acceptance_ratio"] == expected


# ---------------------------------------------------------------- results that are not numbers are not results


def test_a_summary_with_nan_or_infinity_is_not_written(tmp_path):
    path = tmp_path / "summary.json"
    with pytest.raises(InvalidResult, match=r"the run's domain_revenue\[1\] is nan"):
        write_summary(path, {"revenue": 1.0, "domain_revenue": [1.0, math.nan], "training": None})
    with pytest.raises(InvalidResult, match=r"the run's training\.q is inf: .*the learner diverged"):
        write_summary(path, {"revenue": 1.0, "training": {"q": math.inf}})
    assert not path.exists() and not (tmp_path / "summary.json.partial").exists()
    write_summary(path, {"revenue": 1.0, "domain_price_load_spearman": [None, 0.5]})  # undefined is null, fine
    assert json.loads(path.read_text())["domain_price_load_spearman"] == [None, 0.5]


def test_a_diverging_learner_fails_naming_the_metric_and_leaves_no_summary(tmp_path):
    """Huge learning rates (finite, so allowed) make the weights NaN: the run says so instead of finishing."""
    out = tmp_path / "run"
    result = cli(*SMOKE, *LEARNER, "train.steps=100", "algorithm.actor_lr=1e30", "algorithm.critic_lr=1e30", f"hydra.run.dir={out}")
    one_line(result, r"error: the run's \S+ is nan: not a valid result, summary.json not written \(the learner diverged")
    assert not looks_finished(out)


def test_a_static_baseline_summary_is_valid_json_with_nulls_for_undefined_metrics(tmp_path):
    """cff_3d's prices never move: their correlation with load is undefined, written as null, not NaN."""
    out = tmp_path / "run"
    run(compose(TINY), out)
    summary = json.loads((out / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in summary.json"))
    assert summary["domain_price_load_spearman"] == [None, None, None]


def test_a_policy_with_nan_weights_is_refused_on_the_command_line(tmp_path):
    trained = tmp_path / "trained"
    run(compose(TINY + LEARNER), trained)
    policy = load_checkpoint(trained / "policy.pt")
    first = next(t for t in _tensors(policy["learner"]) if t.is_floating_point())
    first.view(-1)[0] = math.nan
    save_checkpoint(tmp_path / "nan.pt", {k: v for k, v in policy.items() if k != "format"})
    one_line(cli(*SMOKE, *LEARNER, "mode=eval", f"checkpoint={tmp_path / 'nan.pt'}", f"hydra.run.dir={tmp_path / 'eval'}"),
             r"error: checkpoint \S+nan\.pt holds non-finite values in learner\.")  # fmt: skip
    assert not looks_finished(tmp_path / "eval")


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def test_a_directory_given_as_checkpoint_is_named_as_such(tmp_path):
    one_line(cli(*SMOKE, *LEARNER, "mode=eval", f"checkpoint={tmp_path}", f"hydra.run.dir={tmp_path / 'eval'}"),
             rf"error: checkpoint {re.escape(str(tmp_path))} is a directory, not a checkpoint file$")  # fmt: skip


# ---------------------------------------------------------------- the machine fails the run: one line, exit 1


def test_a_file_in_the_way_of_the_run_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    one_line(cli(*SMOKE, f"hydra.run.dir={blocker}"), rf"error: cannot use {re.escape(str(blocker))} as a directory", status=1)
    one_line(cli(*SMOKE, f"hydra.run.dir={blocker / 'run'}"), "error: cannot use .* as a directory: a file is in the way", status=1)
    assert blocker.read_text() == "not a directory"


def test_a_directory_that_cannot_be_created(tmp_path):
    target = Path("/sys/mdembed-test/run")  # sysfs: not writable, even for root
    try:
        target.parent.mkdir()
    except OSError:
        pass
    else:
        target.parent.rmdir()
        pytest.skip("this machine lets /sys be written")
    one_line(cli(*SMOKE, f"hydra.run.dir={target}"), r"error: cannot write /sys/mdembed-test: ", status=1)


FULL_DISK = {
    "trace": ("mdembed.records.trace", "write_json", ["trace=true"]),
    "checkpoint": ("mdembed.learning.checkpoints", "open", [*LEARNER, "train.checkpoint_every=20"]),
}


@pytest.mark.parametrize("where", sorted(FULL_DISK))
def test_a_full_disk_is_one_line_and_leaves_nothing_that_looks_finished(tmp_path, where):
    module, name, extra = FULL_DISK[where]
    out = tmp_path / "run"
    code = textwrap.dedent(f"""
        import builtins, errno, sys
        import {module} as target
        def full(path, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        target.{name} = full
        sys.argv = ["run.py", *{[*SMOKE, *extra, f"hydra.run.dir={out}"]!r}]
        from mdembed.run import main
        main()
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=ENV)
    one_line(result, rf"error: cannot write {re.escape(str(out))}/\S+: No space left on device$", status=1)
    assert not looks_finished(out)
    assert not list(out.rglob("*.partial"))


# ---------------------------------------------------------------- interrupted: one line, where, how to go on


@pytest.mark.parametrize("sig,status,name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_an_interrupted_run_says_where_it_stopped_and_how_to_resume(tmp_path, sig, status, name):
    out = tmp_path / "run"
    args = [*SMOKE, *LEARNER, "train.steps=3000", "train.checkpoint_every=50", f"hydra.run.dir={out}"]  # ~30 s left at the signal
    proc = subprocess.Popen([sys.executable, "-m", "mdembed.run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, env=ENV,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip (a suite started
    # in the background, `cmd &`, inherits SIGINT ignored: the run would never see Ctrl-C)
    deadline = time.monotonic() + 120
    while not (out / "checkpoints" / "last.pt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
    line = one_line(result, rf"^mdembed: interrupted by {name} during train market, step \d+ of 3000; ", status=status)
    assert f"the same command with resume=true hydra.run.dir={out} continues it" in line
    assert not looks_finished(out)
    assert (out / "error.txt").read_text().strip() == line.removeprefix("mdembed: ")
    assert not (out / lock.LOCK_FILE).exists() or not _locked(out)


def _locked(directory: Path) -> bool:
    try:
        lock.acquire(directory)
    except lock.DirectoryBusy:
        return True
    lock.release(directory)
    return False


# ---------------------------------------------------------------- inputs that must simply work


def test_a_gml_file_with_a_byte_order_mark_runs(tmp_path):
    original = next(p for p in topologies_dir().glob("*.gml") if p.stem.lower() == "abilene")
    copy = tmp_path / "abilene.gml"
    copy.write_bytes(b"\xef\xbb\xbf" + original.read_bytes())
    result = cli(*SMOKE, f"topology.path={copy}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr
    assert looks_finished(tmp_path / "run")


def test_a_run_without_a_terminal_logs_progress_to_run_log(tmp_path):
    out = tmp_path / "run"
    result = cli(*SMOKE, f"hydra.run.dir={out}", env={**ENV, "CI": "true"})
    assert result.returncode == 0, result.stderr
    assert sum("[mdembed.progress][INFO] - eval: " in line for line in (out / "run.log").read_text().splitlines()) >= 2


# ================================================================ the second outside pass (issue 22), cause by cause
# Each section names its cause; every one runs the real command line on the example and another member of its class.


def refused_cli(tmp_path: Path, overrides: list[str], pattern: str, status: int = 2) -> str:
    """The command line refuses ``overrides`` in one line before Hydra creates the run directory."""
    out = tmp_path / "refused"
    line = one_line(cli(*SMOKE, *overrides, f"hydra.run.dir={out}"), pattern, status)
    assert not out.exists(), sorted(p.name for p in out.iterdir())
    return line


def refused_first(tmp_path: Path, overrides: list[str], pattern: str, through_the_command_line: bool) -> None:
    """``overrides`` are refused in one line: by the real command line, or in-process by the very checks it runs
    before Hydra creates a directory (:func:`mdembed.run.check_overrides`: faster, for the other rows of a table)."""
    if through_the_command_line:
        refused_cli(tmp_path, overrides, pattern)
        return
    from mdembed.run import check_overrides

    with pytest.raises(ConfigError) as err:
        check_overrides([*SMOKE, *overrides])
    assert re.search(pattern, str(err.value)) and "\n" not in str(err.value), str(err.value)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny DDPG run with its policy.pt and checkpoints/last.pt, trained with non-default policy settings."""
    out = tmp_path_factory.mktemp("trained") / "run"
    result = cli(*SMOKE, *LEARNER, *POLICY_SETTINGS, "keep_checkpoint=true", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr
    return out


POLICY_SETTINGS = ["algorithm.layer_norm=true", "algorithm.bounding=tanh"]


def _contents(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# ---- cause 1: evaluating a policy into its own run directory once deleted the policy first


@pytest.mark.parametrize("checkpoint", ["policy.pt", "checkpoints/last.pt"])
def test_evaluating_a_policy_into_its_own_run_directory_is_refused_and_deletes_nothing(trained, checkpoint):
    before = _contents(trained)
    result = cli(*SMOKE, *LEARNER, *POLICY_SETTINGS, "mode=eval", f"checkpoint={trained / checkpoint}", "overwrite=true",
                 f"hydra.run.dir={trained}")  # fmt: skip
    one_line(result, rf"checkpoint {re.escape(str(trained / checkpoint))} lies in the run directory .* evaluate into another")
    assert _contents(trained) == before


def test_a_checkpoint_reached_through_a_link_into_the_run_directory_is_refused_too(trained, tmp_path):
    link = tmp_path / "elsewhere.pt"
    link.symlink_to(trained / "policy.pt")
    before = _contents(trained)
    result = cli(*SMOKE, *LEARNER, *POLICY_SETTINGS, "mode=eval", f"checkpoint={link}", "overwrite=true", f"hydra.run.dir={trained}")
    one_line(result, "lies in the run directory")
    assert _contents(trained) == before


# ---- cause 2: a run once deleted files it did not write


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_run_into_a_directory_of_someone_elses_files_is_refused_and_they_stay(tmp_path, overwrite):
    out = tmp_path / "mine"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "plot.png").write_bytes(b"a user's figure")
    (out / "metrics.csv").write_text("a user's table\n")
    before = _contents(out)
    result = cli(*SMOKE, f"overwrite={str(overwrite).lower()}", f"hydra.run.dir={out}")
    one_line(result, r"holds files that no mdembed run wrote \(figures, metrics.csv\) and no run")
    assert _contents(out) == before and sorted(p.name for p in out.iterdir()) == ["figures", "metrics.csv"]


def test_a_single_run_into_a_sweeps_directory_is_refused(tmp_path):
    sweep = tmp_path / "sweep"
    assert cli("-m", *SMOKE, "seed=0,1", f"hydra.sweep.dir={sweep}").returncode == 0
    (sweep / "figures").mkdir()
    (sweep / "figures" / "acceptance.png").write_bytes(b"the sweep's figure")
    before = _contents(sweep)
    one_line(cli(*SMOKE, "overwrite=true", f"hydra.run.dir={sweep}"), r"holds a sweep's directory \(experiment=smoke,.*,seed=0,.*, figures, multirun.yaml\)")
    assert _contents(sweep) == before and not (sweep / "summary.json").exists()


def test_overwrite_replaces_the_files_of_an_earlier_run_and_keeps_anything_else(tmp_path):
    out = tmp_path / "run"
    assert cli(*SMOKE, "trace=true", f"hydra.run.dir={out}").returncode == 0
    (out / "notes.txt").write_text("mine\n")
    assert cli(*SMOKE, "overwrite=true", "seed=1", f"hydra.run.dir={out}").returncode == 0
    assert (out / "notes.txt").read_text() == "mine\n" and not (out / "events.jsonl").exists()
    assert json.loads((out / "summary.json").read_text())["seed"] == 1


# ---- cause 3: a policy evaluated under learner settings it was not trained with


@pytest.mark.parametrize("settings,named", [
    ([], r"algorithm\.bounding='tanh', algorithm\.layer_norm=True"),
    (["algorithm.layer_norm=true"], r"algorithm\.bounding='tanh': evaluate it with the same settings$"),
    ([*POLICY_SETTINGS, "market.price_max=20"], r"market\.price_max=10\.0"),
    ([*POLICY_SETTINGS, "agent.observe_own_state=false"], r"agent\.observe_own_state=True"),
])  # fmt: skip
def test_a_policy_evaluated_under_other_policy_settings_is_refused_naming_them(trained, tmp_path, settings, named):
    result = cli(*SMOKE, *LEARNER, *settings, "mode=eval", f"checkpoint={trained / 'policy.pt'}", f"hydra.run.dir={tmp_path / 'eval'}")
    one_line(result, rf"checkpoint .*policy\.pt was trained with {named}")
    assert not looks_finished(tmp_path / "eval")


def test_a_policy_evaluates_under_other_training_only_settings_and_another_load(trained, tmp_path):
    out = tmp_path / "eval"
    result = cli(*SMOKE, *LEARNER, *POLICY_SETTINGS, "algorithm.actor_lr=0.5", "algorithm.noise_sigma=0.5", "workload.arrival_rate=1",
                 "mode=eval", f"checkpoint={trained / 'policy.pt'}", f"hydra.run.dir={out}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert looks_finished(out)


# ---- cause 4: an algorithm that cannot honour market.admission=partial


@pytest.mark.parametrize("algorithm", ["ilp", "sa"])
def test_an_all_or_nothing_algorithm_refuses_partial_admission_before_starting(tmp_path, algorithm):
    refused_cli(tmp_path, [f"algorithm={algorithm}", "market.admission=partial"],
                rf"algorithm {algorithm} embeds whole requests only: it supports market.admission=all_or_nothing, got 'partial'$")  # fmt: skip


# ---- cause 5: the thread count decided the numbers but was neither fixed nor recorded


def test_a_learner_gives_the_same_numbers_alone_and_in_a_parallel_sweep(tmp_path):
    alone = tmp_path / "alone"
    assert cli(*TINY, *LEARNER, f"hydra.run.dir={alone}").returncode == 0
    sweep = tmp_path / "sweep"
    result = cli("-m", *TINY, *LEARNER, "seed=0,1", "hydra/launcher=local", "hydra.launcher.n_jobs=2", "hydra.launcher.verbose=0",
                 f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=${hydra.job.num}")  # fmt: skip (jobs in 0, 1)
    assert result.returncode == 0, result.stderr
    timing = ("decision_time", "wall_time", "steps_per_s", "provenance", "elapsed")
    def numbers(directory: Path) -> dict:
        summary = json.loads((directory / "summary.json").read_text())
        return {k: v for k, v in summary.items() if not any(t in k for t in timing) and k != "training"} | {
            k: v for k, v in (summary.get("training") or {}).items() if not any(t in k for t in timing)}
    assert numbers(sweep / "0") == numbers(alone)
    settings = [json.loads((d / "run_settings.json").read_text()) for d in (alone, sweep / "0")]
    assert settings[0]["torch_threads"] == settings[1]["torch_threads"] == 1


def test_torch_threads_null_records_the_count_in_effect(tmp_path):
    out = tmp_path / "run"
    assert cli(*TINY, *LEARNER, "torch_threads=null", f"hydra.run.dir={out}", env={**ENV, "OMP_NUM_THREADS": "2"}).returncode == 0
    assert json.loads((out / "run_settings.json").read_text())["torch_threads"] == 2


# ---- causes 6, 7, 19: values the simulator cannot represent, refused before they become wrong numbers

UNREPRESENTABLE = [  # (overrides, message, through the real command line)
    (["topology.node_capacity=[1e-6,1e-6]", "workload.vnf_demand=[4e-7,4e-7]"],
     r"topology\.node_capacity: 1e-06 is below the smallest resource the simulator resolves, 0\.0001 normalized units", True),
    (["topology.link_bandwidth_mbps=[0.001]", "workload.vl_bandwidth_mbps=[0.0004,0.0004]"],
     r"topology\.link_bandwidth_mbps: 0\.001 is below the smallest resource the simulator resolves, 0\.1 Mbit/s", True),
    (["workload.vnf_demand=[0,4e-7]"], r"workload\.vnf_demand: 4e-07 is below the smallest resource", False),
    (["workload.arrival_rate=1e-320"], r"workload\.arrival_rate must put the mean gap between arrivals, 1 / arrival_rate, "
                                        r"within \[1e-06, 1e\+09\] time units; it is inf$", True),
    (["workload.arrival_rate=1e300"], r"workload\.arrival_rate must put the mean gap .* it is 1e-300$", False),
    (["workload.mean_lifetime=1e300"], r"workload\.mean_lifetime must put the mean lifetime within", True),
    (["market.price_max=1e308"], r"market\.price_max must be at most 1e\+12, got 1e\+308$", True),
    (["market.price_min=1e300", "market.price_max=1e300"], r"market\.price_max must be at most 1e\+12", False),
]  # fmt: skip


@pytest.mark.parametrize("overrides,pattern,line", UNREPRESENTABLE, ids=[" ".join(o) for o, _, _ in UNREPRESENTABLE])
def test_a_value_the_simulator_cannot_represent_is_refused_in_one_line(tmp_path, overrides, pattern, line):
    refused_first(tmp_path, overrides, pattern, line)  # one line: no numpy warning before it


def test_json_result_files_never_hold_bare_infinity_or_nan(tmp_path):
    from mdembed.core.io import write_json

    with pytest.raises(InvalidResult, match=r"events\.jsonl: t is not a finite number"):
        from mdembed.core.io import to_json

        to_json(tmp_path / "events.jsonl", {"t": math.inf})
    with pytest.raises(InvalidResult, match=r"x\.json: a\[1\] is not a finite number"):
        write_json(tmp_path / "x.json", {"a": [1.0, math.nan]})
    assert not list(tmp_path.iterdir())


# ---- causes 8, 13: a learner that would never update, and sizes no machine holds


NEVER_OR_TOO_BIG = [  # (overrides, message, through the real command line)
    (["algorithm.batch_size=64", "algorithm.buffer_size=32"], r"algorithm\.batch_size \(64\) must not exceed algorithm\.buffer_size \(32\)", True),
    (["algorithm.buffer_size=1"], r"algorithm\.batch_size \(8\) must not exceed algorithm\.buffer_size \(1\)", True),
    (["train.steps=9"], r"train\.steps \(9\) ends before the learner's first update, at step 10", True),
    (["algorithm.learning_starts=0", "train.steps=7"], r"train\.steps \(7\) ends before the learner's first update, at step 8", False),
    (["workload.num_requests=2147483647"], r"an evaluation workload of 2147483647 requests .* needs about 4\.3 TB of memory, more than", True),
    (["train.steps=2147483647"], r"a training workload of 2147483647 requests \(train\.steps\) needs about", False),
]  # fmt: skip


@pytest.mark.parametrize("overrides,pattern,line", NEVER_OR_TOO_BIG, ids=[" ".join(o) for o, _, _ in NEVER_OR_TOO_BIG])
def test_a_learner_that_would_never_update_or_a_workload_beyond_memory_is_refused(tmp_path, overrides, pattern, line):
    refused_first(tmp_path, [*LEARNER, *overrides], pattern, line)


@pytest.mark.parametrize("override", ["algorithm.hidden=2147483647", "algorithm.buffer_size=2147483647", "algorithm.hidden=100000"])
def test_a_network_or_buffer_beyond_memory_is_one_line_and_no_result(tmp_path, override):
    out = tmp_path / "run"
    one_line(cli(*SMOKE, *LEARNER, override, f"hydra.run.dir={out}"), r"needs about .* of memory, more than this machine's")
    assert not looks_finished(out)


# ---- cause 9: a run whose report line failed after its summary was written


def test_requests_of_one_vnf_run_and_report_their_undefined_ratio(tmp_path):
    out = tmp_path / "run"
    result = cli(*TINY, "workload.num_vnfs=[1,1]", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(f"VLs n/a), results in {out}")
    assert json.loads((out / "summary.json").read_text())["vl_acceptance_ratio"] is None
    sweep = tmp_path / "sweep"
    assert cli("-m", *TINY, "workload.num_vnfs=[1,1]", "seed=0,1", f"hydra.sweep.dir={sweep}").returncode == 0
    assert not list(sweep.rglob(lock.LOCK_FILE))


def test_a_report_that_fails_takes_the_summary_back(tmp_path):
    import mdembed.scenarios as scenarios

    out = tmp_path / "run"
    entry = scenarios.SCENARIOS.get("market")
    broken = dataclasses.replace(entry, report=lambda summary, out_dir: 1 / 0)
    scenarios.SCENARIOS._entries["market"] = broken
    try:
        with pytest.raises(ZeroDivisionError):
            run(compose(TINY), out)
    finally:
        scenarios.SCENARIOS._entries["market"] = entry
    assert not looks_finished(out)


# ---- cause 10: standard output closed or full


def test_a_closed_pipe_or_a_full_device_on_stdout_is_one_line_and_the_results_stay(tmp_path):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "mdembed.run", *SMOKE, f"hydra.run.dir={tmp_path / 'full'}"],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=180, env=ENV)  # fmt: skip
    one_line(result, r"error: cannot write to standard output \(No space left on device\); files already written are kept$", 1)
    assert looks_finished(tmp_path / "full")
    read, write = os.pipe()
    os.close(read)  # `| head -1` that has gone
    try:
        result = subprocess.run([sys.executable, "-m", "mdembed.run", *SMOKE, f"hydra.run.dir={tmp_path / 'pipe'}"],
                                stdout=write, stderr=subprocess.PIPE, text=True, timeout=180, env=ENV)  # fmt: skip
    finally:
        os.close(write)
    one_line(result, r"error: cannot write to standard output \(Broken pipe\)", 1)
    assert looks_finished(tmp_path / "pipe") and not (tmp_path / "pipe" / lock.LOCK_FILE).exists()


# ---- cause 11: a sweep whose jobs failed once exited 0


@pytest.mark.parametrize("domains,failed", [("50,60", 2), ("2,50", 1)])
def test_a_sweep_with_failed_jobs_exits_non_zero_naming_them(tmp_path, domains, failed):
    sweep = tmp_path / "sweep"
    result = cli("-m", *TINY, f"topology.num_domains={domains}", "hydra/launcher=local", "hydra.launcher.n_jobs=2",
                 "hydra.launcher.verbose=0", f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"mdembed: error: {failed} jobs? of the sweep failed \(.*\); each one's error\.txt says why.*", last), last
    assert sum(1 for _ in sweep.rglob("error.txt")) == failed
    assert not any(p.name.startswith(".mdembed") for p in sweep.iterdir())


# ---- cause 14: a topology path that is not a regular file


@pytest.mark.parametrize("path,kind", [("/dev/zero", "not a regular file"), ("FIFO", "not a regular file"), ("DIR", "a directory")])
def test_a_topology_path_that_is_not_a_regular_file_is_refused_at_once(tmp_path, path, kind):
    if path == "FIFO":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    elif path == "DIR":
        path = str(tmp_path)
    refused_cli(tmp_path, [f"topology.path={path}"], rf"topology file '{re.escape(path)}': it is {kind}")


# ---- cause 16 (the run's part): Hydra failing to save the config on a full disk


@pytest.mark.parametrize("target", ["hydra.core.utils._save_config", "hydra.core.utils.configure_log"])
def test_a_full_disk_as_hydra_prepares_the_run_is_one_line_and_no_stale_lock(tmp_path, target):
    out = tmp_path / "run"
    module, name = target.rsplit(".", 1)
    code = textwrap.dedent(f"""
        import errno, sys
        import {module} as target
        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", {str(out / ".hydra" / "config.yaml")!r})
        target.{name} = full
        sys.argv = ["run.py", *{[*SMOKE, f"hydra.run.dir={out}"]!r}]
        from mdembed.run import main
        main()
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=ENV)
    one_line(result, rf"error: cannot write {re.escape(str(out))}/\.hydra/config\.yaml: No space left on device$", status=1)
    assert not looks_finished(out) and not (out / lock.LOCK_FILE).exists()


# ---- cause 17: the default run directory once skipped the early lock with a 5-line warning


def test_an_interpolated_run_directory_is_locked_before_hydra_writes_and_warns_nothing(tmp_path):
    base = tmp_path / "runs"
    result = cli(*SMOKE, f"hydra.run.dir={base}/${{hydra:runtime.choices.algorithm}}")
    assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr
    holder = _hold_lock(base / "again" / "cff_3d")
    try:
        result = cli(*SMOKE, f"hydra.run.dir={base}/again/${{hydra:runtime.choices.algorithm}}")
    finally:
        holder.kill()
        holder.wait()
    one_line(result, r"is in use by another run")
    assert not (base / "again" / "cff_3d" / ".hydra").exists()


def test_the_default_run_directory_warns_nothing(tmp_path):
    result = cli(*SMOKE, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(list((tmp_path / "results" / "runs").glob("*/*/summary.json"))) == 1


# ---- cause 18: disk-full errors that did not name the file


@pytest.mark.parametrize("where", ["table", "trace"])
def test_a_full_disk_inside_an_open_file_names_that_file(tmp_path, where):
    out = tmp_path / "run"
    patch = {  # a write into an open file on a full disk raises an OSError without a file name
        "table": "import pathlib; pathlib.Path.write_text = lambda self, *a, **k: full()",
        "trace": "import mdembed.records.trace as t; init = t.TraceWriter.__init__; t.TraceWriter.__init__ = opened_full(init)",
    }[where]
    code = textwrap.dedent(f"""
        import errno, sys
        def full(*args):
            raise OSError(errno.ENOSPC, "No space left on device")
        class Full:
            write = staticmethod(full)
            close = staticmethod(lambda: None)
        def opened_full(init):
            def patched(self, *args, **kwargs):
                init(self, *args, **kwargs)
                self._file.close()
                self._file = Full()
            return patched
        {patch}
        sys.argv = ["run.py", *{[*SMOKE, "trace=true", f"hydra.run.dir={out}"]!r}]
        from mdembed.run import main
        main()
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=ENV)
    one_line(result, rf"error: cannot write {re.escape(str(out))}/[a-z_.]+(json|jsonl|csv): No space left on device$", status=1)
    assert not looks_finished(out)


# ---- cause 21: ~ in a path


def test_a_tilde_in_a_quoted_path_is_the_home_directory(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    original = next(p for p in topologies_dir().glob("*.gml") if p.stem.lower() == "abilene")
    (home / "net.gml").write_bytes(original.read_bytes())
    result = cli(*SMOKE, "topology.path='~/net.gml'", f"hydra.run.dir={tmp_path / 'run'}", env={**ENV, "HOME": str(home)})
    assert result.returncode == 0, result.stderr
    one_line(cli(*SMOKE, *LEARNER, "mode=eval", "checkpoint='~/p.pt'", f"hydra.run.dir={tmp_path / 'eval'}",
                 env={**ENV, "HOME": str(home)}), rf"checkpoint {re.escape(str(home))}/p\.pt does not exist$")  # fmt: skip
    assert not (tmp_path / "eval").exists()
