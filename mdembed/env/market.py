"""The multi-domain market as a PettingZoo ParallelEnv (DESIGN 4).

One step is one arriving VNF-FG. Every domain observes the request (and by
default its own residual resources), quotes its prices, and is rewarded with
the revenue it earned from the client's CFF + Dijkstra embedding of that
request (or, with ``reward="acceptance"``, cooperatively: every domain gets
1 when the request is accepted). The episode is one workload: after its last request every agent is
truncated (a time limit, not a terminal state: a learner should bootstrap).

Every agent's ``infos`` entry of a step holds what a runner records about
the decision: ``accepted``, the ``request``, its ``embedding``, the
``decision_ns`` the client took, each domain's ``mean_prices``, the ``prices``
table it embedded at, and the
substrate ``state`` after the allocation (live: read it before the next
step).

Built for a library user by :func:`mdembed.env.parallel_env` (``mdembed/env/factory.py``), with the command line's
settings.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from mdembed.settings import REWARDS, MarketSettings, RoutingSettings, Settings, WorkloadSettings
from mdembed.env.layout import DomainLayout
from mdembed.env.quotes import PricingAdapter
from mdembed.network.substrate import Substrate
from mdembed.records.occupancy import Occupancy
from mdembed.records.trace import TraceWriter
from mdembed.workload.requests import Request, generate_workload


def agent_name(domain: int) -> str:
    return f"domain_{domain}"


class MarketEnv(ParallelEnv):
    """Agents ``domain_0`` ... ``domain_{D-1}`` price each request; the client embeds it."""

    metadata = {"name": "mdembed_market_v0", "render_modes": []}
    settings: Settings | None = None  # the validated settings it was built from, when built by parallel_env

    def __init__(
        self,
        substrate: Substrate,
        workload: WorkloadSettings,
        market: MarketSettings,
        routing: RoutingSettings,
        observe_own_state: bool = True,
        workload_stream: str = "train",
        prices: str = "slot",
        layout: DomainLayout | None = None,
        reward: str = "revenue",
    ) -> None:
        """``layout``, when given, is the one the agents use (and wins over ``observe_own_state`` and ``prices``);
        ``reward`` is what every agent is rewarded with (:data:`~mdembed.settings.REWARDS`)."""
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {', '.join(REWARDS)}, got {reward!r}")
        self.reward = reward
        self.substrate = substrate
        self.workload_settings = workload
        self.market_settings = market
        self.routing = routing
        self.workload_stream = workload_stream
        self.layout = layout if layout is not None else DomainLayout(substrate, observe_own_state, prices)
        if self.layout.substrate is not substrate:
            raise ValueError("the layout belongs to another substrate")
        self.pricing = PricingAdapter(self.layout, workload, market, routing)
        self.possible_agents = [agent_name(d) for d in range(substrate.num_domains)]
        self.agents: list[str] = []
        self._observation_spaces = {
            agent_name(d): spaces.Box(0.0, 1.0, shape=(dim,), dtype=np.float32)
            for d, dim in enumerate(self.layout.obs_dims)
        }
        self._action_spaces = {
            agent_name(d): spaces.Box(market.price_min, market.price_max, shape=(dim,), dtype=np.float32)
            for d, dim in enumerate(self.layout.action_dims)
        }
        self._state_space = spaces.Box(0.0, 1.0, shape=(self.layout.global_state_dim(),), dtype=np.float32)
        self.requests: list[Request] = []
        self.index = 0
        self.occupancy: Occupancy | None = None
        self.trace: TraceWriter | None = None
        self._tensor: np.ndarray | None = None

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_spaces[agent]

    @property
    def state_space(self) -> spaces.Box:
        return self._state_space

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a new workload, drawn from ``seed`` (the workload stream named at construction)."""
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**31))
        self.requests = generate_workload(self.workload_settings, seed, self.workload_stream)
        self.occupancy = Occupancy(self.substrate, self.trace)
        self.index = 0
        self.agents = list(self.possible_agents)
        self._arrive()
        return self._observations(), {a: {} for a in self.agents}

    @property
    def current_request(self) -> Request:
        return self.requests[self.index]

    def _arrive(self) -> None:
        request = self.requests[self.index]
        self.occupancy.arrive(request)
        self._tensor = self.pricing.tensor(request)

    def restore(self, seed: int, index: int, occupancy: dict[str, Any]) -> None:
        """Continue the workload of ``seed`` at request ``index`` with a saved occupancy (for resuming)."""
        self.reset(seed=seed)
        if not 0 <= index <= len(self.requests):
            raise ValueError(f"step {index} is outside the workload of {len(self.requests)} requests")
        self.occupancy.load_state_dict(occupancy)
        self.index = index
        if index == len(self.requests):
            self.agents = []
        else:
            self._tensor = self.pricing.tensor(self.requests[index])

    def observations(self) -> dict[str, np.ndarray]:
        return self._observations()

    def _observations(self) -> dict[str, np.ndarray]:
        obs = self.pricing.observations(self._tensor, self.occupancy.state)
        return {agent_name(d): o for d, o in enumerate(obs)}

    def state(self) -> np.ndarray:
        return self.layout.global_state(self._tensor, self.occupancy.state)

    def step(self, actions: dict[str, np.ndarray]):
        if not self.agents:
            raise RuntimeError("step() called after the episode ended; call reset()")
        vectors = [np.asarray(actions[a], dtype=np.float64) for a in self.possible_agents]
        request = self.current_request
        state = self.occupancy.state
        start = time.perf_counter_ns()
        embedding, prices = self.pricing.embed(vectors, request, state)
        decision_ns = time.perf_counter_ns() - start
        self.occupancy.commit(request, embedding)

        if self.reward == "revenue":
            rewards = {agent_name(d): float(r) for d, r in enumerate(embedding.domain_revenue)}
        else:  # acceptance: cooperative, every domain alike
            rewards = {agent: float(embedding.accepted) for agent in self.possible_agents}
        info = {
            "accepted": embedding.accepted,
            "request": request,
            "embedding": embedding,
            "decision_ns": decision_ns,
            "mean_prices": prices.domain_means(self.substrate),
            "prices": prices,
            "state": state,
        }
        infos = {a: dict(info) for a in self.agents}
        self.index += 1
        done = self.index >= len(self.requests)
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
        if done:
            observations = self._observations()  # the last request's view: nothing new arrives
            self.agents = []
        else:
            self._arrive()
            observations = self._observations()
        return observations, rewards, terminations, truncations, infos

    def close(self) -> None:
        if self.occupancy is not None:
            self.occupancy.drain()
