"""The market environment as a training task: what the training loop drives for a pricing learner.

The learner sees the layout's stacked observations (D, max_obs_dim) and
answers with normalized actions (D, max_action_dim) in [-1, 1]; the task
turns them into each domain's price vector, steps the environment, and
records each decision from the step's ``infos``. Training requests come
from the run seed's ``train`` workload stream, so the evaluation workload
(the ``workload`` stream, the one every algorithm is measured on) is never
seen in training.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mdembed.network.substrate import substrate_fingerprint
from mdembed.settings import MARKET_SCENARIO, MarketSettings, MetricsSettings, RoutingSettings, WorkloadSettings
from mdembed.env.layout import DomainLayout
from mdembed.env.market import MarketEnv
from mdembed.records.metrics import MetricsRecorder


class MarketTrainingTask:
    """``steps`` training requests of seed ``seed`` through a :class:`MarketEnv` sharing the learner's layout."""

    scenario = MARKET_SCENARIO

    def __init__(
        self,
        layout: DomainLayout,
        workload: WorkloadSettings,
        market: MarketSettings,
        routing: RoutingSettings,
        metrics: MetricsSettings,
        steps: int,
        checkpoint_every: int,
        seed: int,
        reward: str = "revenue",
    ) -> None:
        self.layout = layout
        self.market = market
        self.total_steps = steps
        self.checkpoint_every = checkpoint_every
        self.seed = seed
        self.env = MarketEnv(
            layout.substrate, dataclasses.replace(workload, num_requests=steps), market, routing,
            workload_stream="train", layout=layout, reward=reward,
        )  # fmt: skip
        self.fingerprint = substrate_fingerprint(layout.substrate)
        self.recorder = MetricsRecorder(layout.substrate, steps, metrics.window, phase="train")
        observations, _ = self.env.reset(seed=seed)
        self._obs = self._stack(observations)
        self._info: dict[str, Any] = {}

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.recorder.rows

    @property
    def position(self) -> int:
        return self.env.index

    def _stack(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        return self.layout.stack([observations[a] for a in self.env.possible_agents])

    def observation(self) -> np.ndarray:
        return self._obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        agents = self.env.possible_agents
        vectors = self.env.pricing.vectors(action)
        observations, rewards, terminations, _, infos = self.env.step(dict(zip(agents, vectors)))
        self._info = infos[agents[0]]
        self._obs = self._stack(observations)
        reward = np.array([rewards[a] for a in agents], dtype=np.float32)
        # the workload's end is a truncation (a time limit): the learner keeps bootstrapping
        return self._obs, reward, any(terminations.values())

    def record(self, losses: Mapping[str, float] | None) -> None:
        info = self._info
        self.recorder.record(info["request"], info["embedding"], info["decision_ns"], info["state"], info["prices"])
        if self.position == self.total_steps:
            self.recorder.finish(info["state"])

    def checkpoint_due(self) -> bool:
        return self.position % self.checkpoint_every == 0 or self.position == self.total_steps

    def status(self) -> dict[str, str]:
        n = self.recorder.count
        return {"acceptance": f"{self.recorder.accepted[:n].mean():.3f}"} if n else {}

    def summary(self) -> dict[str, Any]:
        last = self.rows[-1] if self.rows else {}
        return {"last_window_acceptance_ratio": last.get("acceptance_ratio")}

    def table(self) -> pd.DataFrame:
        return self.recorder.table()

    def state_dict(self) -> dict[str, Any]:
        return {"occupancy": self.env.occupancy.state_dict(), "recorder": self.recorder.state_dict()}

    def load_state_dict(self, state: dict[str, Any], position: int) -> None:
        self.recorder.load_state_dict(state["recorder"])
        self.env.restore(self.seed, position, state["occupancy"])
        self._obs = self._stack(self.env.observations())

    def close(self) -> None:
        self.env.close()
