"""The promise of docs/ARCHITECTURE.md ("Algorithms"): a new algorithm is three files, and the tests cover it unedited.

A toy learner (each domain quotes the price level with the best mean revenue so far) is added both ways the docs
describe, into tmp_path: inside a copy of the package (its module under agents/, its conf/algorithm/toy.yaml, one
import line in agents/__init__.py), where test_run.py's registry-derived tests must run it and check its settings
without a line of theirs changed; and from a distribution of its own (its module, its YAML in a config directory
given to Hydra's search path, an entry point of the ``mdembed.algorithms`` group), run end to end through
``mdembed.run.run``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

import mdembed

PACKAGE = Path(mdembed.__file__).resolve().parent
REPO = PACKAGE.parent
TESTS = Path(__file__).resolve().parent

# File 1: the settings class (every field refuses the bad value test_run.py derives for it), the learner and the
# registry entry. Written once for both ways.
TOY_MODULE = '''
"""A toy learner: each domain quotes one price level for all it owns, the level of the best mean revenue so far."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mdembed.agents.policy_pricing import PolicyPricing
from mdembed.agents.registry import LEARNER, Algorithm, Context, register
from mdembed.core.errors import ConfigError
from mdembed.core.validate import set_whole
from mdembed.env.layout import PRICE_GRANULARITIES


@dataclass(frozen=True)
class ToySettings:
    prices: str = "domain"  # what one quoted price covers
    levels: int = 3  # price levels, evenly spaced over [market.price_min, market.price_max]
    explore_steps: int = 10  # training steps before the first update (the levels are tried in turn throughout)

    FIRST_UPDATE: ClassVar[str] = "algorithm.explore_steps"  # what sets first_update(), for the run's check

    def __post_init__(self) -> None:
        if self.prices not in PRICE_GRANULARITIES:
            raise ConfigError(f"algorithm.prices must be one of {', '.join(PRICE_GRANULARITIES)}, got {self.prices!r}")
        set_whole(self, "algorithm", "levels", minimum=2)
        set_whole(self, "algorithm", "explore_steps")

    def first_update(self) -> int:
        return self.explore_steps


class ToyLearner:
    TRAINING_ONLY = ("explore_steps",)  # keys an evaluation may set otherwise than training did

    def __init__(self, layout, settings: ToySettings) -> None:
        self.layout, self.settings = layout, settings
        self.levels = np.linspace(-1.0, 1.0, settings.levels)  # normalized prices
        self.total = np.zeros((layout.num_domains, settings.levels))
        self.count = np.zeros((layout.num_domains, settings.levels))
        self.steps = 0

    def _means(self) -> np.ndarray:
        return np.divide(self.total, self.count, out=np.zeros_like(self.total), where=self.count > 0)

    def act(self, obs, explore: bool) -> np.ndarray:
        chosen = np.full(self.layout.num_domains, self.steps % len(self.levels)) if explore else self._means().argmax(1)
        return np.repeat(self.levels[chosen][:, None], self.layout.max_action_dim, axis=1).astype(np.float32)

    def observe(self, obs, action, reward, next_obs, terminated):
        chosen = np.abs(self.levels[None, :] - action[:, :1]).argmin(1)
        rows = np.arange(self.layout.num_domains)
        self.total[rows, chosen] += reward
        self.count[rows, chosen] += 1
        self.steps += 1
        return {"mean_reward": float(np.mean(reward))} if self.steps >= self.settings.explore_steps else None

    def diagnostics(self) -> dict[str, float]:
        return {"best_level": float(self.levels[self._means().argmax(1)].mean())}

    def policy_state_dict(self) -> dict:
        return {"total": self.total.tolist(), "count": self.count.tolist()}

    def load_policy_state_dict(self, state: dict) -> None:
        self.total, self.count = np.array(state["total"]), np.array(state["count"])

    def state_dict(self) -> dict:
        return {**self.policy_state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.load_policy_state_dict(state)
        self.steps = int(state["steps"])


@register("toy", LEARNER, ToySettings, quick=("train.steps=20",))
def toy_pricing(context: Context, settings: ToySettings) -> Algorithm:
    return PolicyPricing(context, "flat", settings.prices, lambda layout: ToyLearner(layout, settings))
'''

# File 2: its config, every setting at the settings class's default.
TOY_CONFIG = """\
# A toy learner: each domain quotes the price level of the best mean revenue so far (tests/test_new_algorithm.py).
name: toy
prices: domain
levels: 3
explore_steps: 10
"""

TINY = ["experiment=smoke", "workload.num_requests=120", "eval.requests=60", "metrics.window=30", "progress=false"]


def _environment(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def test_an_algorithm_added_in_three_files_is_run_and_checked_by_the_registry_derived_tests(tmp_path):
    package = tmp_path / "src" / "mdembed"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "agents" / "toy.py").write_text(TOY_MODULE)  # file 1
    (package / "conf" / "algorithm" / "toy.yaml").write_text(TOY_CONFIG)  # file 2
    init = package / "agents" / "__init__.py"  # file 3: one import line
    lines = init.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "(registers every algorithm)" in line) + 1
    init.write_text("".join(lines[:at] + ["from mdembed.agents import toy  # noqa: F401\n"] + lines[at:]))

    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(TESTS / "test_run.py"), "-k", "toy or covered", "-rA", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=600, cwd=work, env=_environment(package.parent),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = {line.split()[1].split("::")[1] for line in result.stdout.splitlines() if line.startswith("PASSED ")}
    assert "test_every_algorithm_runs_end_to_end_with_the_same_outputs[toy]" in passed
    assert "test_all_registered_algorithms_are_covered" in passed
    for key in ("prices", "levels", "explore_steps"):  # each setting's bad value refused before a file is written
        assert any(p.startswith(f"test_a_bad_algorithm_setting_writes_nothing[toy-{key}-") for p in passed), key


def _plugin(tmp_path: Path) -> tuple[Path, Path]:
    """The toy as a distribution of its own: module, config directory and entry point (as pip installs it)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "toy_pricing.py").write_text(TOY_MODULE)  # file 1
    conf = tmp_path / "toy_conf"
    (conf / "algorithm").mkdir(parents=True)
    (conf / "algorithm" / "toy.yaml").write_text(TOY_CONFIG)  # file 2
    # file 3: pyproject.toml's [project.entry-points."mdembed.algorithms"] toy = "toy_pricing", installed
    dist = site / "toy_pricing-0.1.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text("[mdembed.algorithms]\ntoy = toy_pricing\n")
    return site, conf


def _check_run(out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algorithm"] == "toy" and summary["requests"] == 60
    assert 0 <= summary["acceptance_ratio"] <= 1
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics.phase) == {"train", "eval"}
    assert "learner_best_level" in metrics.columns  # the learner's diagnostics, per training window
    assert (out / "policy.pt").is_file()


def test_an_algorithm_of_another_distribution_joins_through_its_entry_point(tmp_path):
    site, conf = _plugin(tmp_path)
    out = tmp_path / "run"
    code = textwrap.dedent(f"""
        from pathlib import Path
        from mdembed.agents import ALGORITHMS
        from mdembed.run import compose, run

        spec = ALGORITHMS.get("toy")  # registered by its entry point, with nothing of mdembed's edited
        overrides = {TINY!r} + ["hydra.searchpath=[file://{conf}]", "algorithm=toy", *spec.quick]
        run(compose(overrides), Path({str(out)!r}))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env=_environment(site, REPO))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    _check_run(out)


def test_the_command_line_runs_an_algorithm_of_another_distribution(tmp_path):
    site, conf = _plugin(tmp_path)
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "mdembed.run", *TINY, f"hydra.searchpath=[file://{conf}]", "algorithm=toy", "train.steps=20",
         f"hydra.run.dir={out}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=_environment(site, REPO),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    _check_run(out)
