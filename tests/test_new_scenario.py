"""A new scenario is a package of its own and one registry entry (docs/ARCHITECTURE.md, "Scenarios"): a toy one
runs end to end through the real entry points (run, aggregate, plot), beside a market run, with no other file
of mdembed edited. Its entry is added to the registry for the test only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mdembed.analysis.aggregate import aggregate_directory
from mdembed.config import compose
from mdembed.core.io import write_summary
from mdembed.core.runs import Job, LeftOut, OtherScenario, require
from mdembed.plot import plot
from mdembed.run import run
from mdembed.scenarios import SCENARIOS, Scenario, scan
from mdembed.settings import scenario_of

TOY = "toy_coin"


class CoinRun:
    """The toy's planned run: heads out of ``flips`` coin flips of the seed."""

    def __init__(self, seed: int, flips: int = 100) -> None:
        self.seed, self.flips = seed, flips

    def run(self, out_dir: Path) -> dict[str, Any]:
        import numpy as np

        heads = int(np.random.default_rng(self.seed).integers(0, 2, self.flips).sum())
        summary = {"scenario": TOY, "seed": self.seed, "heads": heads, "flips": self.flips}
        out_dir.mkdir(parents=True, exist_ok=True)
        write_summary(out_dir / "summary.json", summary)
        return summary


def _read(directory: Path, summary: dict[str, Any]) -> Job:
    if scenario_of(summary) != TOY:
        raise OtherScenario(scenario_of(summary))
    require(summary, {"seed": int, "heads": int})
    if not 0 <= summary["heads"] <= summary.get("flips", 0):
        raise LeftOut(f"summary.json's heads is {summary['heads']}, more than its flips")
    return Job(directory, TOY, summary)


def _tables(directory: Path, jobs: list[Job], baseline: str | None):
    table = pd.DataFrame([{"seed": j.summary["seed"], "heads": j.summary["heads"]} for j in jobs]).sort_values("seed")
    return {"coin.csv": table}, lambda: print(f"{len(jobs)} coin runs")


def _figures(directory: Path, jobs: list[Job], baseline: str | None, load: float | None):
    def draw() -> list[Path]:
        path = Path(directory) / "figures" / "coin.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(" ".join(str(j.summary["heads"]) for j in jobs))
        return [path]

    return draw


@pytest.fixture
def toy_scenario():
    entry = Scenario(TOY, check=lambda config, settings: None, plan=lambda config, settings: CoinRun(settings.seed),
                     report=lambda summary, out_dir: f"{summary['heads']} heads", read=_read, tables=_tables,
                     figures=_figures)  # fmt: skip
    SCENARIOS.register(TOY)(entry)
    yield entry
    SCENARIOS._entries.pop(TOY)  # the registry holds it for this test only


def test_a_toy_scenario_runs_aggregates_and_plots_through_the_registry(toy_scenario, tmp_path):
    for seed in (1, 2):
        summary = run(compose([f"scenario={TOY}", f"seed={seed}", "progress=false"]), tmp_path / f"coin{seed}")
        assert summary["scenario"] == TOY and 0 <= summary["heads"] <= 100
    run(compose(["experiment=smoke", "workload.num_requests=30", "metrics.window=10", "progress=false"]), tmp_path / "market")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text(json.dumps({"scenario": TOY, "seed": 3, "heads": 7, "flips": 5}))

    jobs, left_out = scan(tmp_path)
    assert sorted(j.scenario for j in jobs) == ["market", TOY, TOY]
    assert left_out == [(tmp_path / "broken", "summary.json's heads is 7, more than its flips")]

    written = aggregate_directory(tmp_path)
    assert {p.name for p in written} == {"coin.csv", "jobs.csv", "aggregate.csv"}  # each scenario its own tables
    coin = pd.read_csv(tmp_path / "coin.csv")
    assert coin.seed.tolist() == [1, 2]
    assert coin.heads.tolist() == [json.loads((tmp_path / f"coin{s}" / "summary.json").read_text())["heads"] for s in (1, 2)]

    drawn = {p.name for p in plot(tmp_path)}
    assert "coin.txt" in drawn and "domains.png" in drawn  # the toy's figure beside the market's


def test_an_unknown_scenario_is_refused_and_a_run_of_it_left_out(tmp_path):
    from mdembed.core.errors import ConfigError

    with pytest.raises(ConfigError, match=f"unknown scenario '{TOY}'"):
        run(compose([f"scenario={TOY}", "progress=false"]), tmp_path / "run")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text(json.dumps({"scenario": TOY, "seed": 1}))
    with pytest.raises(Exception, match=f"unknown scenario '{TOY}'"):
        scan(tmp_path)
