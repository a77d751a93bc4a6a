"""The data-centre scenario at the edges of its settings, as an adversarial user tries them.

Two kinds of case, each through the real command line:

- the smallest budgets (one evaluation step, one-step episodes and windows,
  an evaluation shorter than a window, a one-slot replay buffer) run, and
  the metrics they leave undefined are null in summary.json and "n/a" in the
  line printed after the run;
- every ``dc.*`` setting has a range the simulation runs with: a value
  outside it, or an agent too big for the machine's memory, is one line
  ``mdembed: error: ...`` naming the key, with exit status 2, before the run
  directory exists (so no summary.json either).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import typing

import numpy as np
import pandas as pd
import pytest

from mdembed.core import memory
from mdembed.dc.dqn import DQNAgent, check_memory, memory_needed
from mdembed.dc.env import ObservationLayout
from mdembed.dc.experiment import POLICIES, report
from mdembed.dc.replay import PrioritizedReplay
from mdembed.dc.settings import _SECTIONS, MAX_AMOUNT, MAX_ARRIVAL_RATE, MIN_AMOUNT, DQNSettings, dc_settings
from mdembed.core.errors import ConfigError
from mdembed.core.io import InvalidResult
from mdembed.run import compose, run

TINY = [
    "experiment=dc_provisioning", "dc.train.episodes=1", "dc.train.episode_steps=10", "dc.train.checkpoint_every=1",
    "dc.window=5", "dc.eval.steps=10", "dc.agent.learning_starts=2", "dc.agent.batch_size=2", "dc.agent.buffer_size=20",
    "dc.agent.embed_dim=4", "dc.agent.heads=1", "dc.agent.hidden=4", "progress=false", "torch_threads=1",
]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def cli(out, *overrides: str) -> subprocess.CompletedProcess:
    """``python -m mdembed.run`` with the tiny budgets, ``overrides`` and ``hydra.run.dir=out``."""
    return subprocess.run([sys.executable, "-m", "mdembed.run", *TINY, *overrides, f"hydra.run.dir={out}"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, env=ENV)  # fmt: skip


def finished(result: subprocess.CompletedProcess, out) -> tuple[dict, str]:
    """The summary of a run that worked (exit 0, no traceback or error) and the line it printed last."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "error" not in result.stderr, result.stderr
    line = result.stdout.splitlines()[-1]
    assert re.match(r"dc_provisioning seed 0, boot \S+ s: dqn ", line), result.stdout
    return json.loads((out / "summary.json").read_text()), line


def refused(result: subprocess.CompletedProcess, out, pattern: str) -> None:
    """One stderr line matching ``pattern``, exit 2, and nothing written: no summary.json, not even the directory."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mdembed: error: "), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    assert not (out / "summary.json").exists()
    assert not out.exists()


# ------------------------------------------------ 9: the smallest budgets run; undefined metrics are null and "n/a"


def test_one_evaluation_step_runs_and_reports_the_undefined_metrics_as_na(tmp_path):
    out = tmp_path / "x"
    summary, line = finished(cli(out, "dc.eval.steps=1"), out)
    for policy in POLICIES:  # one step decides no request: no acceptance rate, no delay
        assert summary[policy]["steps"] == 1
        assert summary[policy]["acceptance_rate"] is None and summary[policy]["e2e_delay_ms_p95"] is None
        assert re.search(rf"\b{policy} n/a / 0\.\d{{3}}\b", line), line  # the utilization of that step is defined


TINY_RUNS = {
    "dc.train.steps=1": ["dc.train.episodes=1", "dc.train.episode_steps=1"],
    "one-step windows": ["dc.window=1", "dc.eval.steps=3"],
    "eval shorter than a window": ["dc.eval.steps=3", "dc.window=10"],
    "one-slot replay, every step an update": ["dc.agent.buffer_size=1", "dc.agent.batch_size=1", "dc.agent.learning_starts=0",
                                              "dc.agent.update_every=1", "dc.agent.target_update_every=1"],
}  # fmt: skip


@pytest.mark.parametrize("overrides", TINY_RUNS.values(), ids=TINY_RUNS.keys())
def test_the_smallest_budgets_run_and_write_consistent_files(tmp_path, overrides):
    out = tmp_path / "x"
    summary, _ = finished(cli(out, *overrides), out)
    metrics = pd.read_csv(out / "metrics.csv")
    for policy in POLICIES:
        rows = metrics[(metrics.phase == "eval") & (metrics.policy == policy)]
        assert rows.steps.iloc[-1] == summary["eval_steps"] == summary[policy]["steps"]  # a partial window is a row
    assert metrics[metrics.phase == "train"].steps.iloc[-1] == summary["training"]["steps"]


def test_the_report_line_prints_each_undefined_metric_as_na():
    undefined = dict.fromkeys(("acceptance_rate", "resource_utilization", "e2e_delay_ms_mean"))
    line = report({"seed": 3, "conditions": {"boot_s": 10.0}, "dqn": undefined,
                   "autoscaler": {**undefined, "acceptance_rate": 0.5}}, "out")  # fmt: skip
    assert line == ("dc_provisioning seed 3, boot 10 s: dqn n/a / n/a, autoscaler 0.500 / n/a "
                    "(acceptance / resource utilization), results in out")  # fmt: skip


def test_the_report_line_is_made_before_summary_json_marks_the_run_finished(tmp_path, monkeypatch):
    def broken(summary, out_dir):
        raise RuntimeError("report")

    monkeypatch.setattr("mdembed.dc.experiment.report", broken)
    with pytest.raises(RuntimeError, match="report"):
        run(compose(TINY + ["dc.eval.steps=1"]), tmp_path)
    assert not (tmp_path / "summary.json").exists()


# ----------------------------------------- 12: every dc setting has a range the simulation runs with, checked first

LOW, HIGH = re.escape(f"{MIN_AMOUNT:g}"), re.escape(f"{MAX_AMOUNT:g}")
RANGE = rf"\[{LOW}, {HIGH}\]"
PAIR = rf"a pair \[min, max\] with {LOW} <= min <= max <= {HIGH}"
MEMORY = r"dc\.agent needs at least [\d.e+]+ GiB of memory, more than this machine's [\d.e+]+ GiB: "
REFUSED = [
    ("dc.workload.latency_budget_ms=[0,0]", rf"dc\.workload\.latency_budget_ms must be {PAIR}, got \[0\.0, 0\.0\]$"),
    ("dc.workload.latency_budget_ms=[10,1e308]", rf"dc\.workload\.latency_budget_ms must be {PAIR}, got \[10\.0, 1e\+308\]$"),
    ("dc.workload.arrival_rate=1e300", rf"dc\.workload\.arrival_rate must lie in \(0, {HIGH}\], got 1e\+300$"),
    ("dc.workload.arrival_rate=1e4", rf"dc\.workload\.arrival_rate x dc\.datacentre\.step_s must be at most {MAX_ARRIVAL_RATE:g} "
                                     r"requests per step, got 10000 x 1$"),
    ("dc.workload.mean_service_s=0.5", r"dc\.workload\.mean_service_s \(0\.5\) must be at least one step \(dc\.datacentre\.step_s = 1\)$"),
    ("dc.workload.bandwidth_mbps=[1e-320,1]", rf"dc\.workload\.bandwidth_mbps must be {PAIR}, got \[1e-320, 1\.0\]$"),
    ("dc.workload.rate_period_s=1e-320", rf"dc\.workload\.rate_period_s must lie in {RANGE}, got 1e-320$"),
    ("dc.workload.type_weights=[1e308,1,1,1,1]", rf"dc\.workload\.type_weights must lie in {RANGE}, got 1e\+308$"),
    ("dc.workload.mean_service_s=1e308", rf"dc\.workload\.mean_service_s must lie in {RANGE}, got 1e\+308$"),
    ("dc.datacentre.processing_ms=[1e308,1,1,1,1]", rf"dc\.datacentre\.processing_ms must lie in {RANGE}, got 1e\+308$"),
    ("dc.datacentre.instance_capacity_mbps=[1e-320,1,1,1,1]", rf"dc\.datacentre\.instance_capacity_mbps must lie in {RANGE}, got 1e-320$"),
    ("dc.datacentre.capacity=[1e308,128,40000]", rf"dc\.datacentre\.capacity must lie in {RANGE}, got 1e\+308$"),
    ("dc.datacentre.step_s=0", rf"dc\.datacentre\.step_s must lie in {RANGE}, got 0\.0$"),
    ("dc.datacentre.boot_s=-1", rf"dc\.datacentre\.boot_s must lie in \[0, {HIGH}\], got -1\.0$"),
    ("dc.agent.lr=1e10", r"dc\.agent\.lr must lie in \(0, 1\], got 10000000000\.0$"),
    ("dc.agent.priority_eps=1e308", rf"dc\.agent\.priority_eps must lie in {RANGE}, got 1e\+308$"),
    ("dc.agent.buffer_size=2147483647",
     MEMORY + r"the replay buffer \(2147483647 transitions of \d+ features\) alone .*; lower dc\.agent\.buffer_size, max_chains or max_pending$"),
    ("dc.agent.hidden=2147483647", MEMORY + r"the networks .* lower dc\.agent\.embed_dim or hidden$"),
    ("dc.agent.embed_dim=2147483646", MEMORY + r"the networks .* lower dc\.agent\.embed_dim or hidden$"),
    ("dc.agent.max_chains=2147483647", MEMORY + r"an update's activations \(2 observations x 2147483665 entities\) .*max_chains"),
    ("dc.agent.max_pending=2147483647", MEMORY + r"an update's activations .*max_pending$"),
]  # fmt: skip


# Through the real command line: the examples and one member of each other family; the rest through the
# same checks in-process (mdembed.run.check_overrides, what the command line runs before Hydra), which is faster.
THROUGH_THE_COMMAND_LINE = {"dc.workload.latency_budget_ms=[0,0]", "dc.workload.arrival_rate=1e300",
                            "dc.workload.arrival_rate=1e4", "dc.datacentre.step_s=0", "dc.agent.buffer_size=2147483647"}  # fmt: skip


@pytest.mark.parametrize("override,pattern", REFUSED, ids=[o for o, _ in REFUSED])
def test_a_dc_value_the_simulation_cannot_run_with_is_one_line_before_anything_is_written(tmp_path, override, pattern):
    if override in THROUGH_THE_COMMAND_LINE:
        out = tmp_path / "x"
        refused(cli(out, override), out, pattern)
        return
    from mdembed.run import check_overrides

    with pytest.raises(ConfigError) as err:
        check_overrides([*TINY, override])
    assert re.search(pattern, str(err.value)) and "\n" not in str(err.value), str(err.value)


def test_a_batch_as_large_as_a_huge_buffer_is_one_line(tmp_path):
    out = tmp_path / "x"
    refused(cli(out, "dc.agent.buffer_size=2147483647", "dc.agent.batch_size=2147483647"), out,
            MEMORY + r"an update's activations \(2147483647 observations .*lower dc\.agent\.batch_size")  # fmt: skip


def test_values_at_the_limits_run(tmp_path):
    """Each bound itself is a value the simulation runs with (a few steps of it: 1e3 arrivals a step are slow)."""
    out = tmp_path / "x"
    summary, _ = finished(cli(
        out, "dc.train.episode_steps=3", "dc.eval.steps=3", "dc.agent.lr=1", f"dc.workload.arrival_rate={MAX_ARRIVAL_RATE:g}",
        f"dc.workload.latency_budget_ms=[{MIN_AMOUNT:g},{MAX_AMOUNT:g}]", f"dc.workload.bandwidth_mbps=[{MIN_AMOUNT:g},{MAX_AMOUNT:g}]",
        f"dc.workload.type_weights=[{MIN_AMOUNT:g},{MAX_AMOUNT:g},1,1,1]", f"dc.workload.rate_period_s={MIN_AMOUNT:g}",
        f"dc.workload.mean_service_s={MAX_AMOUNT:g}", f"dc.datacentre.boot_s={MAX_AMOUNT:g}",
        f"dc.datacentre.capacity=[{MAX_AMOUNT:g},{MAX_AMOUNT:g},{MAX_AMOUNT:g}]", f"dc.datacentre.cpu=[{MIN_AMOUNT:g},1e6,1,1,1]",
        f"dc.datacentre.instance_capacity_mbps=[{MIN_AMOUNT:g},{MAX_AMOUNT:g},1,1,1]",
        f"dc.datacentre.processing_ms=[{MAX_AMOUNT:g},{MIN_AMOUNT:g},1,1,1]", f"dc.agent.priority_eps={MAX_AMOUNT:g}",
    ), out)  # fmt: skip
    assert summary["dqn"]["arrived"] > 1000  # 1e3 requests a second, a step a second


def test_the_shortest_step_runs(tmp_path):
    out = tmp_path / "x"
    summary, _ = finished(cli(out, "dc.train.episode_steps=3", "dc.eval.steps=3", f"dc.datacentre.step_s={MIN_AMOUNT:g}",
                              f"dc.workload.mean_service_s={MIN_AMOUNT:g}"), out)  # fmt: skip
    assert summary["conditions"]["boot_steps"] == 30_000_000  # 30 s in steps of a microsecond


# Every numeric dc key that is not a whole number (those are checked by kind, within 2**31 - 1, and the agent's
# sizes against the memory), with values beyond each end of its range.
OUT_OF_RANGE = {
    ("datacentre", "capacity"): [[0, 1, 1], [2e9, 1, 1]],
    ("datacentre", "cpu"): [[0, 1, 1, 1, 1], [2e9, 1, 1, 1, 1]],
    ("datacentre", "memory_gb"): [[1e-7, 1, 1, 1, 1], [2e9, 1, 1, 1, 1]],
    ("datacentre", "bandwidth_mbps"): [[0, 1, 1, 1, 1], [1, 1, 1, 1, 2e9]],
    ("datacentre", "instance_capacity_mbps"): [[0, 1, 1, 1, 1], [2e9, 1, 1, 1, 1]],
    ("datacentre", "processing_ms"): [[0, 1, 1, 1, 1], [2e9, 1, 1, 1, 1]],
    ("datacentre", "initial_instances"): [[-1, 1, 1, 1, 1]],
    ("datacentre", "step_s"): [0.0, 2e9],
    ("datacentre", "boot_s"): [-1.0, 2e9],
    ("datacentre", "efficiency_threshold"): [-0.1, 1.1],
    ("workload", "arrival_rate"): [0.0, 2e9],
    ("workload", "rate_amplitude"): [-0.1, 1.1],
    ("workload", "rate_period_s"): [0.0, 2e9],
    ("workload", "chain_length"): [[0, 2], [2, 6], [3, 2]],
    ("workload", "type_weights"): [[0, 1, 1, 1, 1], [2e9, 1, 1, 1, 1]],
    ("workload", "bandwidth_mbps"): [[0, 1], [1, 2e9], [5, 1]],
    ("workload", "latency_budget_ms"): [[0, 0], [1, 2e9], [5, 1]],
    ("workload", "mean_service_s"): [0.0, 2e9],
    ("agent", "lr"): [0.0, 1.5],
    ("agent", "gamma"): [-0.1, 1.1],
    ("agent", "alpha"): [-0.1, 1.1],
    ("agent", "beta_start"): [-0.1, 1.1],
    ("agent", "priority_eps"): [0.0, 2e9],
    ("agent", "epsilon_start"): [-0.1, 1.1],
    ("agent", "epsilon_min"): [-0.1, 1.1],
    ("agent", "epsilon_decay"): [0.0, 1.1],
    ("agent", "grad_clip"): [0.0],
    ("train", "phase_epsilon"): [[1.5, 1, 1, 1]],
    ("train", "phase_fractions"): [[0.5, 0.5, 0.5, 0.5], [-0.5, 0.5, 0.5, 0.5]],
    ("autoscaler", "target_utilization"): [0.0, 1.1],
    ("provisioner", "quantile"): [0.4, 1.0],
}
CASES = [(section, key, value) for (section, key), values in OUT_OF_RANGE.items() for value in values]


@pytest.mark.parametrize("section,key,value", CASES, ids=[f"dc.{s}.{k}={v}" for s, k, v in CASES])
def test_every_numeric_dc_key_refuses_values_beyond_its_range_naming_itself(section, key, value):
    with pytest.raises(ConfigError, match=re.escape(f"dc.{section}.{key}")):
        dc_settings({section: {key: value}})


def test_the_range_table_covers_every_numeric_dc_key():
    numeric = {(name, key) for name, cls in _SECTIONS.items() for key, kind in typing.get_type_hints(cls).items()
               if kind is float or typing.get_origin(kind) is tuple}  # fmt: skip
    assert numeric - {("datacentre", "initial_instances")} <= set(OUT_OF_RANGE), numeric - set(OUT_OF_RANGE)


def test_the_replay_estimate_is_what_the_buffer_allocates():
    replay = PrioritizedReplay(37, 11, 0.6, 1e-3)
    allocated = sum(getattr(replay, k).nbytes for k in ("obs", "next_obs", "action", "reward", "done")) + replay.tree.tree.nbytes
    assert PrioritizedReplay.nbytes(37, 11) == allocated


def test_the_memory_check_names_the_largest_part_and_passes_the_defaults(monkeypatch):
    settings = DQNSettings()
    layout = ObservationLayout(settings.max_chains, settings.max_pending)
    check_memory(layout, settings)  # the defaults fit any machine this runs on
    needed = sum(b for b, _ in memory_needed(layout, settings).values())
    monkeypatch.setattr(memory, "physical_bytes", lambda: needed / 2)
    with pytest.raises(ConfigError, match=r"the replay buffer \(10000 transitions of 396 features\) alone .*lower dc\.agent\.buffer_size"):
        check_memory(layout, settings)
    monkeypatch.setattr(memory, "physical_bytes", lambda: None)  # a system that does not say: nothing to check against
    check_memory(layout, DQNSettings(buffer_size=2**31 - 1))


def test_a_diverged_update_is_one_line_not_a_traceback_from_the_priorities():
    settings = DQNSettings(embed_dim=4, heads=1, hidden=4, batch_size=1, buffer_size=4, learning_starts=0, update_every=1,
                           max_chains=2, max_pending=2)  # fmt: skip
    layout = ObservationLayout(settings.max_chains, settings.max_pending)
    agent = DQNAgent(layout, settings, seed=0, total_steps=10)
    obs = np.zeros(layout.size, dtype=np.float32)
    with pytest.raises(InvalidResult, match=r"^the DQN diverged at update 1 \(TD loss (nan|inf)\): lower dc\.agent\.lr"):
        agent.observe(obs, 0, math.inf, obs, False)
