"""The entry point end to end at tiny scale, its outputs, its errors and its determinism."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdembed.settings import Settings, settings_from_config
from mdembed.core.errors import ConfigError
from mdembed.run import CONF_DIR, compose, run

TINY = ["experiment=smoke", "workload.num_requests=120", "metrics.window=50", "progress=false"]
TIMING_COLUMNS = ["decision_time_ms_median", "decision_time_ms_p95"]
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_into_valid_settings(experiment):
    settings = settings_from_config(compose([f"experiment={experiment}"]))
    assert settings.workload.num_requests > 0


def test_yaml_defaults_match_the_dataclass_defaults():
    """The YAML files are the source of truth; the dataclass defaults must not drift from them."""
    composed = settings_from_config(compose(["topology=bteurope"]))
    assert composed == Settings(algorithm={"name": "cff_3d"})


def test_bteurope_experiment_is_the_paper_setting():
    cfg = compose(["experiment=bteurope"])
    assert cfg.topology.name == "bteurope"
    assert cfg.topology.num_domains == 3
    assert cfg.workload.num_requests == 10_000


def test_command_line_choice_wins_over_the_experiment():
    cfg = compose(["experiment=bteurope", "algorithm=cff_sd", "topology=kdl"])
    assert cfg.algorithm.name == "cff_sd"
    assert cfg.topology.name == "kdl"


def test_run_writes_metrics_summary_and_trace(tmp_path):
    summary = run(compose(TINY + ["trace=true"]), tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["events.jsonl", "metrics.csv", "run_settings.json", "substrate.json", "summary.json", "utilization.csv"]

    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics["requests"].tolist() == [50, 100, 120]
    assert metrics["window"].tolist() == [0, 1, 2]
    for column in ["acceptance_ratio", "vnf_acceptance_ratio", "vl_acceptance_ratio", "jain_index"]:
        assert metrics[column].between(0, 1).all(), column
    assert {"domain0_revenue", "domain2_hosted_vnfs", "domain1_node_utilization"} <= set(metrics.columns)

    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert summary["requests"] == 120
    assert 0 < summary["accepted"] <= 120
    assert summary["acceptance_ratio"] == pytest.approx(summary["accepted"] / 120)
    for key in ["vnf_acceptance_ratio", "vl_acceptance_ratio", "revenue", "cost",
                "decision_time_ms_median", "decision_time_ms_p95"]:  # fmt: skip
        assert key in summary
    # the per-window revenue adds up to the run's revenue
    assert metrics["revenue"].sum() == pytest.approx(summary["revenue"])


def test_trace_replays_within_capacity_and_matches_the_summary(tmp_path):
    """Replay events.jsonl on substrate.json with independent code: capacities hold, counts agree."""
    summary = run(compose(TINY + ["trace=true"]), tmp_path)
    substrate = json.loads((tmp_path / "substrate.json").read_text())
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]

    cap = {n["id"]: np.array(n["capacity"]) for n in substrate["nodes"]}
    used = {n: np.zeros(3) for n in cap}
    link = {}
    for l in substrate["links"]:
        for a, b in [(l["u"], l["v"]), (l["v"], l["u"])]:
            link[(a, b)] = l
    bw_used: dict[tuple[int, int], float] = {}
    arrivals, held = {}, {}
    times = [e["t"] for e in events]
    assert times == sorted(times)
    for e in events:
        if e["event"] == "arrival":
            arrivals[e["request"]] = e
        elif e["event"] == "accept":
            req = arrivals[e["request"]]
            assert None not in e["placement"]  # all-or-nothing admission
            for node, demand in zip(e["placement"], req["vnfs"]):
                used[node] += demand
                assert np.all(used[node] <= cap[node] + 1e-9)
            for vl, path in zip(req["vls"], e["paths"]):
                assert path[0] == e["placement"][vl["src"]] and path[-1] == e["placement"][vl["dst"]]
                hops = list(zip(path[:-1], path[1:]))
                assert sum(link[h]["delay_ms"] for h in hops) <= vl["delay_ms"] + 1e-9
                assert 1 - np.prod([1 - link[h]["loss"] for h in hops]) <= vl["loss"] + 1e-12
                for h in hops:
                    bw_used[h] = bw_used.get(h, 0.0) + vl["bandwidth"]
                    assert bw_used[h] <= link[h]["bandwidth"] + 1e-9
            held[e["request"]] = (e, req)
        elif e["event"] == "depart":
            accept, req = held.pop(e["request"])
            assert e["t"] == pytest.approx(req["t"] + req["lifetime"])
            for node, demand in zip(accept["placement"], req["vnfs"]):
                used[node] -= demand
            for vl, path in zip(req["vls"], accept["paths"]):
                for h in zip(path[:-1], path[1:]):
                    bw_used[h] -= vl["bandwidth"]
        else:
            assert e["event"] == "reject" and e["reason"]
    assert not held  # every accepted request departed by the end of the trace
    accepted = sum(e["event"] == "accept" for e in events)
    assert accepted == summary["accepted"]
    assert len(arrivals) == summary["requests"]


def test_same_seed_same_metrics_other_seed_other_metrics(tmp_path):
    def metrics(seed: int, name: str) -> pd.DataFrame:
        run(compose(TINY + [f"seed={seed}"]), tmp_path / name)
        # decision times are wall-clock measurements: the only columns that may differ
        return pd.read_csv(tmp_path / name / "metrics.csv").drop(columns=TIMING_COLUMNS)

    first, again, other = metrics(7, "a"), metrics(7, "b"), metrics(8, "c")
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert not first.equals(other)


def test_partial_admission_keeps_what_was_placed(tmp_path):
    overrides = ["market.admission=partial", "workload.arrival_rate=1.0", "trace=true"]
    summary = run(compose(TINY + overrides), tmp_path)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    accepts = [e for e in events if e["event"] == "accept"]
    incomplete = [e for e in accepts if None in e["placement"] or None in e["paths"]]
    assert incomplete and all(e["reason"] for e in incomplete)
    assert len(accepts) - len(incomplete) == summary["accepted"]
    # what incomplete requests hold counts towards the VNF acceptance ratio
    assert summary["vnfs_embedded"] > sum(len(e["placement"]) for e in accepts if e not in incomplete)


def test_refuses_to_overwrite_a_finished_run(tmp_path):
    run(compose(TINY), tmp_path)
    with pytest.raises(ConfigError, match="already holds a finished run"):
        run(compose(TINY), tmp_path)
    run(compose(TINY + ["overwrite=true"]), tmp_path)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mdembed.run", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_command_line_runs_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = _cli(*TINY, f"hydra.run.dir={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "VNF-FGs accepted" in result.stdout
    assert json.loads((out / "summary.json").read_text())["requests"] == 120


def test_command_line_without_a_terminal_logs_progress_lines_to_run_log(tmp_path):
    """No terminal (stdin and stdout not a tty, as in CI or a cluster job): no bar, but progress lines in run.log."""
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.run", "experiment=smoke", "workload.num_requests=120", "metrics.window=50",
         f"hydra.run.dir={out}"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CI": "true"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    log = (out / "run.log").read_text().splitlines()
    progress = [line for line in log if "[mdembed.progress][INFO] - " in line]
    assert len(progress) == 10, log  # each tenth of the 120 evaluation requests, then the final line
    assert "eval: 12/120 req (10%), " in progress[0] and " req/s, acceptance=" in progress[0] and ", ETA " in progress[0]
    assert "eval: done, 120/120 req (100%), " in progress[-1]
    assert "\r" not in result.stderr  # no bar drawn


BAD_GML = "graph [\n  node [ id 0 label \"a\" \n  edge [ source 0 target 1 ]\n"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("topology=atlantis", "unknown topology 'atlantis'"),
        ("topology.path={bad}", "bad.gml"),
        ("topology.num_domains=40", "exceeds the 11 nodes"),
        ("market.price_min=50", "market.price_min (50"),
        ("workload.arrival_rate=-1", "workload.arrival_rate must be positive"),
        ("algorithm=oracle", "unknown algorithm 'oracle'"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, override, expected):
    bad = tmp_path / "bad.gml"
    bad.write_text(BAD_GML)
    out = tmp_path / "run"
    result = _cli(*TINY, override.format(bad=bad), f"hydra.run.dir={out}", cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mdembed: error: ") and expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (out / "summary.json").exists()


def test_settings_reject_impossible_values():
    for bad in [
        {"workload": {"num_requests": 0}},
        {"workload": {"vnf_demand": [0.3, 0.1]}},
        {"workload": {"num_vnfs": [3, 9]}},
        {"market": {"admission": "some"}},
        {"routing": {"fallback": "teleport"}},
        {"metrics": {"window": 0}},
        {"topology": {"num_domains": 0}},
        {"topology": {"loss_max": 1.5}},
        {"workload": {"arrival_rate": "fast"}},
        {"workload": {"speed": 3}},
    ]:
        with pytest.raises(ConfigError):
            settings_from_config({"algorithm": {"name": "cff_3d"}, **bad})


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 3  # type: ignore[misc]


def _own_algorithms() -> list[str]:
    """The registered algorithms of this package (those another distribution registers keep their configs elsewhere)."""
    from mdembed.agents import ALGORITHMS

    return [name for name in ALGORITHMS.names() if ALGORITHMS.get(name).factory.__module__.startswith("mdembed.")]


@pytest.mark.parametrize("algorithm", _own_algorithms())
def test_every_algorithm_runs_end_to_end_with_the_same_outputs(tmp_path, algorithm):
    """Every registered algorithm, at tiny scale: the registry entry's ``quick`` overrides shorten a learner's training."""
    from mdembed.agents import ALGORITHMS

    spec = ALGORITHMS.get(algorithm)
    overrides = TINY + [f"algorithm={algorithm}", "eval.requests=60", "metrics.window=30", *spec.quick]
    summary = run(compose(overrides), tmp_path)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics.loc[metrics.phase == "eval", "requests"].tolist() == [30, 60]
    assert summary["algorithm"] == algorithm and summary["requests"] == 60
    assert 0 <= summary["acceptance_ratio"] <= 1
    if spec.learns:
        assert (metrics.phase == "train").any()
    if algorithm == "ilp":
        assert sum(summary["ilp_status"].values()) == 60
    machine = summary["environment"]  # a result names the software and CPU kernels it came from
    assert machine["numpy"] and machine["scipy"] and machine["python"] and machine["cpu"]
    assert isinstance(machine["kernel_variables"], dict)
    if spec.learns:  # the training loop's checkpoints import torch
        import torch

        assert machine["torch"] and machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_all_registered_algorithms_are_covered():
    """Nothing to edit by hand for a new algorithm: the tests of every algorithm take their list from the registry,
    and this one checks what the registry and the configs must agree on. Each algorithm of the package has its
    conf/algorithm/NAME.yaml and each config an algorithm; the config names it and lists its settings at the settings
    class's defaults (the YAML is the source of truth, the dataclass must not drift from it)."""
    from mdembed.agents import ALGORITHMS

    configs = sorted(p.stem for p in (CONF_DIR / "algorithm").glob("*.yaml"))
    assert _own_algorithms() == configs
    for name in configs:
        spec = ALGORITHMS.get(name)
        params = settings_from_config(compose([f"algorithm={name}"])).algorithm
        assert params.pop("name") == name
        if spec.settings is None:
            assert params == {}, name
        else:
            assert spec.parse(params) == spec.settings(), name
            assert set(params) == {f.name for f in dataclasses.fields(spec.settings)}, name
        assert isinstance(spec.quick, tuple) and all("=" in o for o in spec.quick), name


def _bad_value(default):
    """A value of the right kind but outside every setting's range (or of the wrong kind, for text and flags).

    What every algorithm's settings must refuse, naming ``algorithm.KEY`` (docs/ARCHITECTURE.md, "Algorithms"):
    keep the two in step."""
    if isinstance(default, bool):
        return "maybe"
    if isinstance(default, (int, float)):
        return -1_000_000  # below every range, those that admit negative values included (log_std_init)
    if isinstance(default, tuple):
        return [-1] * len(default)
    return "bogus"


def _learner_settings():
    from mdembed.agents import ALGORITHMS

    specs = [ALGORITHMS.get(name) for name in _own_algorithms()]
    return [(spec.name, f.name, _bad_value(f.default)) for spec in specs if spec.settings
            for f in dataclasses.fields(spec.settings)]  # fmt: skip


@pytest.mark.parametrize("algorithm,key,value", _learner_settings())
def test_a_bad_algorithm_setting_writes_nothing(tmp_path, algorithm, key, value):
    """Every algorithm.* key is checked before the run directory is touched."""
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=f"algorithm.{key}"):
        run(compose(TINY + ["train.steps=5", f"algorithm={algorithm}", f"algorithm.{key}={json.dumps(value)}"]), out)
    assert not out.exists()


def _dc_settings():
    from mdembed.dc.settings import _SECTIONS, DCSettings

    values = [(f"dc.{name}.{f.name}", _bad_value(f.default)) for name, cls in _SECTIONS.items() for f in dataclasses.fields(cls)]
    return values + [("dc.window", _bad_value(DCSettings.window))]


@pytest.mark.parametrize("key,value", _dc_settings())
def test_a_bad_dc_setting_writes_nothing(tmp_path, key, value):
    out = tmp_path / "run"
    small = {"dc.train.episodes": 1, "dc.train.episode_steps": 10, "dc.eval.steps": 10}  # quick, should a value pass
    overrides = [f"{k}={v}" for k, v in small.items() if k != key]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        run(compose(["experiment=dc_provisioning", *overrides, f"{key}={json.dumps(value)}"]), out)
    assert not out.exists()


def test_the_command_line_writes_no_result_file_on_a_bad_learner_setting(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.run", "experiment=smoke", "algorithm=ddpg", "algorithm.gamma=2",
         f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["mdembed: error: algorithm.gamma must lie in [0, 1], got 2.0"]
    left = {p.name for p in tmp_path.iterdir()}
    assert left <= {".hydra", "run.log", "error.txt"}, left


def test_the_environment_names_the_variables_that_change_the_kernels(monkeypatch):
    # ONEDNN_MAX_CPU_ISA=AVX2 changes a DDPG run's numbers on an AVX-512 machine: a summary must say it was set
    from mdembed.core.provenance import KERNEL_VARIABLES, environment

    for name in KERNEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    seen = environment()
    assert seen["kernel_variables"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert "ONEDNN_MAX_CPU_ISA" not in environment()["kernel_variables"]
    if Path("/proc/cpuinfo").exists():
        assert isinstance(seen["cpu_vector_units"], list)
