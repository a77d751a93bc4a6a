"""The multi-domain scenario (``scenario=market``): plan a run, train a learner, evaluate, summarise.

:func:`plan` checks every setting and builds the run's objects without
writing anything; :meth:`MarketJob.run` then writes into the run directory:
metrics.csv (one row per window and phase), utilization.csv (each node resource's and link's used share
over the evaluation, :class:`~mdembed.records.metrics.ElementUtilization`), summary.json (the evaluation;
written last, its presence marks a finished run), with ``trace=true``
substrate.json and events.jsonl of the evaluation, and for a learner
checkpoints/last.pt and policy.pt.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from mdembed import __version__
from mdembed.core import memory
from mdembed.agents.registry import AlgorithmSpec, LearningAlgorithm
from mdembed.market.build import Run, algorithm_spec, make_run
from mdembed.settings import MARKET_SCENARIO, Settings
from mdembed.core.errors import ConfigError
from mdembed.core.io import write_csv, write_summary
from mdembed.records.metrics import ElementUtilization, MetricsRecorder
from mdembed.network.topology import check_file
from mdembed.records.occupancy import Occupancy
from mdembed.core.provenance import environment
from mdembed.market.simulation import simulate
from mdembed.records.trace import TraceWriter

SCENARIO = MARKET_SCENARIO


@dataclasses.dataclass(frozen=True, eq=False)
class MarketJob:
    """A checked, built run of the multi-domain scenario."""

    settings: Settings
    spec: AlgorithmSpec
    objects: Run

    def run(self, out_dir: Path) -> dict[str, Any]:
        """A learning algorithm first trains (phase ``train``) on a workload of its own, or loads
        ``checkpoint`` (``mode=eval``); then the algorithm is evaluated (phase ``eval``) on the run's workload."""
        settings, substrate, algorithm = self.settings, self.objects.substrate, self.objects.algorithm
        tables, training = [], None
        if isinstance(algorithm, LearningAlgorithm):
            table, training = _train_or_load(algorithm, settings, out_dir)
            if table is not None:
                tables.append(table)

        trace = TraceWriter(out_dir, substrate) if settings.trace else None
        occupancy = Occupancy(substrate, trace)
        recorder = MetricsRecorder(substrate, len(self.objects.requests), settings.metrics.window, phase="eval")
        utilization = ElementUtilization(substrate)
        try:
            simulate(self.objects.requests, algorithm, occupancy, recorder, settings.progress, utilization)
        except BaseException:
            if trace:
                trace.abandon()
            raise
        if trace:
            trace.close()
        tables.append(recorder.table())

        summary = {
            "scenario": SCENARIO,
            "algorithm": self.spec.name,
            "topology": substrate.name,
            "num_nodes": substrate.num_nodes,
            "num_links": substrate.num_links,
            "num_domains": substrate.num_domains,
            "seed": settings.seed,
            "eval_seed": settings.eval_seed,
            "admission": settings.market.admission,
            "mode": settings.mode,
            **recorder.summary(),
            **algorithm.report(),
            "training": training,
            "mdembed_version": __version__,
            "environment": environment(),
        }
        write_csv(out_dir / "metrics.csv", pd.concat(tables, ignore_index=True))
        write_csv(out_dir / "utilization.csv", utilization.table())
        write_summary(out_dir / "summary.json", summary)
        return summary


def training_task(algorithm: LearningAlgorithm, settings: Settings):  # -> MarketTrainingTask (imported lazily)
    """The market environment on the seed's training workload, sharing the algorithm's layout."""
    from mdembed.env.task import MarketTrainingTask

    return MarketTrainingTask(
        algorithm.layout, settings.workload, settings.market, settings.routing, settings.metrics,
        settings.train.steps, settings.train.checkpoint_every, settings.seed, settings.agent.reward,
    )  # fmt: skip


# What decides the prices a trained policy quotes: its algorithm's settings (less the learner's TRAINING_ONLY ones),
# what its domains observe and the price range its outputs are mapped onto.
POLICY_KEYS = ("algorithm", "agent", "market.price_min", "market.price_max")
AGENT_TRAINING_ONLY = ("agent.reward",)  # shapes learning only: an evaluation may name another


def _train_or_load(algorithm: LearningAlgorithm, settings: Settings, out_dir: Path) -> tuple[pd.DataFrame | None, dict[str, Any] | None]:
    from mdembed.network.substrate import substrate_fingerprint
    from mdembed.learning.loop import load_policy, train

    if settings.mode == "eval":
        fingerprint = None if algorithm.portable else substrate_fingerprint(algorithm.layout.substrate)
        training_only = [f"algorithm.{key}" for key in getattr(algorithm.learner, "TRAINING_ONLY", ())]
        load_policy(algorithm.learner, settings.checkpoint, SCENARIO, fingerprint, settings, POLICY_KEYS,
                    training_only + list(AGENT_TRAINING_ONLY))  # fmt: skip
        return None, None
    return train(algorithm.learner, training_task(algorithm, settings), settings, out_dir)


def check(config: Mapping[str, Any], settings: Settings) -> AlgorithmSpec:
    """Check what ``settings`` leaves to the scenario (``algorithm.*``), building nothing; the algorithm's entry."""
    spec, params = algorithm_spec(settings)
    if settings.topology.path is not None:
        check_file(Path(settings.topology.path))
    if not spec.learns and settings.mode == "eval":  # resume=true is no error: a baseline has nothing to resume, it runs
        raise ConfigError(f"algorithm {spec.name} does not learn: mode=eval is for learning algorithms")
    if settings.market.admission not in spec.admissions:
        raise ConfigError(
            f"algorithm {spec.name} embeds whole requests only: it supports market.admission="
            f"{' or '.join(spec.admissions)}, got {settings.market.admission!r}"
        )
    memory.require(settings.eval.requests * memory.REQUEST_BYTES, f"an evaluation workload of {settings.eval.requests} requests (eval.requests, by default workload.num_requests)")
    if spec.learns and settings.mode == "train":
        memory.require(settings.train.steps * memory.REQUEST_BYTES, f"a training workload of {settings.train.steps} requests (train.steps)")
    if spec.learns and settings.mode == "train" and settings.train.steps < params.first_update():
        raise ConfigError(
            f"train.steps ({settings.train.steps}) ends before the learner's first update, at step {params.first_update()} "
            f"({params.FIRST_UPDATE}): it would never learn"
        )
    return spec


def plan(config: Mapping[str, Any], settings: Settings) -> MarketJob:
    """Check every setting (``algorithm.*`` included) and build the run; nothing is written."""
    return MarketJob(settings, check(config, settings), make_run(settings))


def report(summary: Mapping[str, Any], out_dir: Path) -> str:
    def ratio(key: str) -> str:  # None where nothing was asked (requests of one VNF have no VL)
        return "n/a" if summary[key] is None else f"{summary[key]:.3f}"

    return (
        f"{summary['algorithm']} on {summary['topology']}: {summary['accepted']}/{summary['requests']} VNF-FGs accepted "
        f"({ratio('acceptance_ratio')}; VNFs {ratio('vnf_acceptance_ratio')}, VLs {ratio('vl_acceptance_ratio')}), "
        f"results in {out_dir}"
    )
