"""One data centre provisioning VNF instances for SFC requests, as a ``gymnasium.Env`` (DESIGN 7).

Time is discrete: one step is ``step_s`` seconds and one decision (DESIGN
7, "Time scale"). Within ``step(action)``, in this order:

1. The action: ``action = 3 * type + op`` with op 0 allocate (start an
   instance; it serves ``boot_s`` later, in whole steps), 1 uninstall (remove a running
   instance), 2 wait. Allocate is invalid when the instance's CPU, memory or
   bandwidth footprint does not fit in what the DC has left; uninstall is
   invalid when the type has no idle instance (the type's load would not fit
   on the other running instances). An invalid action changes nothing.
   A valid uninstall is *unnecessary* when a pending request needs the type.
2. Instances that finished booting start serving; served chains whose
   service time ran out leave and free their instance capacity.
3. Arrivals of this step (Poisson, :mod:`mdembed.dc.workload`) join the
   pending queue.
4. Serving: pending requests in priority order (highest first, then
   arrival) are served when every type of the chain has free instance
   capacity for the request's bandwidth (instances of a type share its load:
   a type's free capacity is running instances x instance capacity - load).
   Its end-to-end delay is queueing + processing: queueing = steps waited x
   the step's length; processing = sum over the chain's types of
   ``processing_ms * (1 + load share of the type once it carries the chain)``.
   A served chain within its latency budget is *satisfied*; over it, an
   *SLA violation*.
5. Dropping: a pending request whose queueing at the next step would reach
   its latency budget is dropped. With steps of a second and budgets of tens
   of milliseconds, a request is served in the step it arrives or dropped (a
   loss system, as flow admission is); with steps of milliseconds it may
   wait a few steps for capacity.

Reward (DESIGN 7), each term counted from this step's events:
``+2.0 x satisfied - 1.5 x dropped - 1.0 x invalid - 0.5 x unnecessary
uninstall + 0.3 x [resource efficiency > threshold] - 0.8 x SLA violations``,
with resource efficiency = load carried / capacity of the running instances
(0 when none runs). Priority orders service; it does not scale the reward.

The observation is one fixed-size Box holding entity tables, unpacked by
:class:`ObservationLayout`: a global row (free DC resources, time within the
arrival cycle, queue sizes, efficiency, the recent arrival rate), one row
per VNF type (instances running and booting, how soon the next one is
ready, load, free capacity, pending, recent and recently unmet demand,
footprint, which actions are valid), up to
``max_chains`` active-chain rows and up to ``max_pending`` pending-request
rows, each row of the last two with a presence flag in its first column.
What an operator sees, nothing from the future: "recent" values are
exponential moving averages over about ``1 / RECENT`` steps.
Episodes never terminate; they are truncated after ``max_steps``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from mdembed.dc.settings import NUM_TYPES, DataCentreSettings, DCWorkloadSettings
from mdembed.dc.workload import SFCRequest, arrivals, mean_service_steps
from mdembed.core.seeding import stream

ALLOCATE, UNINSTALL, WAIT = 0, 1, 2
OPS = ("allocate", "uninstall", "wait")
NUM_ACTIONS = 3 * NUM_TYPES
REWARD = {"satisfied": 2.0, "dropped": -1.5, "invalid": -1.0, "unnecessary_uninstall": -0.5,
          "efficient": 0.3, "sla_violations": -0.8}  # fmt: skip
OBS_LOW, OBS_HIGH = -1.0, 10.0  # every feature is clipped into this range
RECENT = 0.1  # weight of the newest step in the observation's moving averages (about the last 10 steps)


def demand(requests: list[SFCRequest]) -> np.ndarray:
    """Mbit/s the requests ask of each type (a request asks its bandwidth of every type in its chain)."""
    out = np.zeros(NUM_TYPES)
    for r in requests:
        out[list(r.types)] += r.bandwidth_mbps
    return out


def decode(action: int) -> tuple[int, int]:
    """(VNF type, op) of an action."""
    return int(action) // 3, int(action) % 3


@dataclass(frozen=True)
class ObservationLayout:
    """Where each entity table lies in the flat observation."""

    max_chains: int
    max_pending: int
    global_dim: int = 9
    type_dim: int = 14 + NUM_TYPES
    chain_dim: int = 5 + NUM_TYPES
    pending_dim: int = 6 + NUM_TYPES

    @property
    def size(self) -> int:
        return self.global_dim + NUM_TYPES * self.type_dim + self.max_chains * self.chain_dim + self.max_pending * self.pending_dim

    def split(self, obs: Any) -> tuple[Any, Any, Any, Any]:
        """(global (..., G), types (..., 5, T), chains (..., K, C), pending (..., P, Q)) of a batch of observations."""
        lead = obs.shape[:-1]
        a = self.global_dim
        b = a + NUM_TYPES * self.type_dim
        c = b + self.max_chains * self.chain_dim
        return (
            obs[..., :a],
            obs[..., a:b].reshape(*lead, NUM_TYPES, self.type_dim),
            obs[..., b:c].reshape(*lead, self.max_chains, self.chain_dim),
            obs[..., c:].reshape(*lead, self.max_pending, self.pending_dim),
        )


@dataclass
class Chain:
    """A served request holding capacity on one instance pool of each type in its chain."""

    request: SFCRequest
    remaining: int  # steps of service left
    e2e_ms: float


class DataCentreEnv(gym.Env):
    """The DC provisioning environment; ``workload_stream`` names its random stream (train or eval)."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        dc: DataCentreSettings,
        workload: DCWorkloadSettings,
        max_steps: int,
        max_chains: int = 16,
        max_pending: int = 12,
        workload_stream: str = "train",
    ) -> None:
        self.dc = dc
        self.workload = workload
        self.max_steps = max_steps
        self.layout = ObservationLayout(max_chains, max_pending)
        self.workload_stream = workload_stream
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.observation_space = gym.spaces.Box(OBS_LOW, OBS_HIGH, shape=(self.layout.size,), dtype=np.float32)
        self.capacity = np.asarray(dc.capacity, dtype=np.float64)
        self.footprint = np.array([dc.cpu, dc.memory_gb, dc.bandwidth_mbps], dtype=np.float64).T  # (types, 3)
        self.instance_capacity = np.asarray(dc.instance_capacity_mbps, dtype=np.float64)
        self.processing_ms = np.asarray(dc.processing_ms, dtype=np.float64)
        self.max_instances = np.floor((self.capacity / self.footprint).min(axis=1))  # of one type, alone in the DC
        self.boot_steps = dc.boot_steps
        self.step_ms = dc.step_ms
        self.service_steps = mean_service_steps(workload, dc.step_s)
        self.mean_arrivals = workload.arrival_rate * dc.step_s  # requests per step, over a cycle
        self._clear()

    # --- state ------------------------------------------------------------------

    def _clear(self) -> None:
        self.t = 0
        self.steps = 0
        self.next_id = 0
        self.running = np.asarray(self.dc.initial_instances, dtype=np.int64).copy()
        self.booting: list[tuple[int, int]] = []  # (step it starts serving, type)
        self.load = np.zeros(NUM_TYPES)  # Mbit/s carried per type
        self.chains: list[Chain] = []
        self.pending: list[SFCRequest] = []
        self.unmet = np.zeros(NUM_TYPES)  # Mbit/s per type of the requests dropped in the last step
        self.recent_arrivals = self.mean_arrivals  # moving averages (RECENT) of requests per step,
        self.recent_demand = np.zeros(NUM_TYPES)  #   of Mbit/s arriving per type
        self.recent_unmet = np.zeros(NUM_TYPES)  #   and of Mbit/s dropped per type
        self.last_info: dict[str, Any] = {}

    def booting_counts(self) -> np.ndarray:
        counts = np.zeros(NUM_TYPES, dtype=np.int64)
        for _, k in self.booting:
            counts[k] += 1
        return counts

    def ready_in(self) -> np.ndarray:
        """Steps until the next booting instance of each type serves (0 where none boots)."""
        out = np.zeros(NUM_TYPES)
        for ready, k in self.booting:
            wait = ready - self.t
            out[k] = wait if out[k] == 0 else min(out[k], wait)
        return out

    def instances(self) -> np.ndarray:
        """Installed instances per type, running or booting (both hold DC resources)."""
        return self.running + self.booting_counts()

    def used_resources(self) -> np.ndarray:
        return self.instances() @ self.footprint

    def free_capacity(self) -> np.ndarray:
        """Mbit/s each type can still take on its running instances."""
        return self.running * self.instance_capacity - self.load

    def can_allocate(self, k: int) -> bool:
        return bool((self.used_resources() + self.footprint[k] <= self.capacity + 1e-9).all())

    def can_uninstall(self, k: int) -> bool:
        """A running instance is idle: the type's load fits on the others."""
        return self.running[k] >= 1 and (self.running[k] - 1) * self.instance_capacity[k] >= self.load[k] - 1e-9

    def pending_demand(self) -> np.ndarray:
        """Mbit/s pending requests ask of each type."""
        return demand(self.pending)

    def efficiency(self) -> float:
        installed = float(self.running @ self.instance_capacity)
        return float(self.load.sum() / installed) if installed > 0 else 0.0

    def utilization(self) -> float:
        """Share of the DC's resources installed instances hold (mean over CPU, memory, bandwidth)."""
        return float((self.used_resources() / self.capacity).mean())

    # --- gymnasium --------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """A fresh DC; ``seed`` starts the workload stream ``dc/workload/<name>`` of that seed, None continues it."""
        super().reset(seed=seed)
        if seed is not None:
            self._np_random = stream(seed, f"dc/workload/{self.workload_stream}")
        self._clear()
        return self.observation(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self.action_space.contains(action), f"invalid action {action!r}"
        k, op = decode(action)
        counts = dict.fromkeys(REWARD, 0)
        if op == ALLOCATE:
            if self.can_allocate(k):
                self.booting.append((self.t + self.boot_steps, k))
            else:
                counts["invalid"] += 1
        elif op == UNINSTALL:
            if self.can_uninstall(k):
                if any(k in r.types for r in self.pending):
                    counts["unnecessary_uninstall"] += 1
                self.running[k] -= 1
            else:
                counts["invalid"] += 1

        ready = [b for b in self.booting if b[0] <= self.t]
        if ready:
            self.booting = [b for b in self.booting if b[0] > self.t]
            for _, j in ready:
                self.running[j] += 1
        staying = []
        for chain in self.chains:
            chain.remaining -= 1
            if chain.remaining > 0:
                staying.append(chain)
            else:
                self.load[list(chain.request.types)] -= chain.request.bandwidth_mbps
        self.chains = staying
        if not staying:
            self.load[:] = 0.0  # no rounding residue once everything has left
        new = arrivals(self.workload, self.t, self.next_id, self.np_random, self.dc.step_s)
        self.next_id += len(new)
        self.pending.extend(new)

        delays = self._serve(counts)
        waiting, dropped = [], []
        for r in self.pending:
            (dropped if (self.t + 1 - r.arrival) * self.step_ms >= r.budget_ms else waiting).append(r)
        counts["dropped"] = len(dropped)
        self.pending = waiting
        self.unmet = demand(dropped)
        self.recent_arrivals += RECENT * (len(new) - self.recent_arrivals)
        self.recent_demand += RECENT * (demand(new) - self.recent_demand)
        self.recent_unmet += RECENT * (self.unmet - self.recent_unmet)
        efficiency = self.efficiency()
        counts["efficient"] = int(efficiency > self.dc.efficiency_threshold)
        reward = float(sum(REWARD[key] * n for key, n in counts.items()))

        self.t += 1
        self.steps += 1
        self.last_info = {
            **counts,
            "arrived": len(new),
            "served": counts["satisfied"] + counts["sla_violations"],
            "delays_ms": delays,
            "efficiency": efficiency,
            "utilization": self.utilization(),
            "instances": int(self.instances().sum()),
            "action_type": k,
            "action_op": op,
        }
        truncated = self.steps >= self.max_steps
        return self.observation(), reward, False, truncated, self.last_info

    def _serve(self, counts: dict[str, int]) -> list[float]:
        delays = []
        order = sorted(self.pending, key=lambda r: (-r.priority, r.arrival, r.id))
        served = set()
        free = self.free_capacity()
        for r in order:
            types = list(r.types)
            if (free[types] < r.bandwidth_mbps - 1e-9).any():
                continue
            self.load[types] += r.bandwidth_mbps
            free[types] -= r.bandwidth_mbps
            share = self.load[types] / (self.running[types] * self.instance_capacity[types])
            processing = float((self.processing_ms[types] * (1.0 + share)).sum())
            e2e = (self.t - r.arrival) * self.step_ms + processing
            counts["satisfied" if e2e <= r.budget_ms else "sla_violations"] += 1
            self.chains.append(Chain(r, r.service_steps, e2e))
            served.add(r.id)
            delays.append(e2e)
        if served:
            self.pending = [r for r in self.pending if r.id not in served]
        return delays

    # --- observation ----------------------------------------------------------

    def observation(self) -> np.ndarray:
        lay = self.layout
        w = self.workload
        phase = 2.0 * math.pi * self.t * self.dc.step_s / w.rate_period_s
        free = 1.0 - self.used_resources() / self.capacity
        glob = [*free, math.sin(phase), math.cos(phase), len(self.pending) / lay.max_pending,
                len(self.chains) / lay.max_chains, self.efficiency(), self.recent_arrivals / self.mean_arrivals]  # fmt: skip

        booting = self.booting_counts()
        demand = self.pending_demand()
        need = np.zeros(NUM_TYPES)
        for r in self.pending:
            need[list(r.types)] += 1
        cap = self.instance_capacity
        running_cap = self.running * cap
        types = np.zeros((NUM_TYPES, lay.type_dim))
        types[:, 0] = self.running / self.max_instances
        types[:, 1] = booting / self.max_instances
        types[:, 2] = np.divide(self.load, running_cap, out=np.zeros(NUM_TYPES), where=running_cap > 0)
        types[:, 3] = self.free_capacity() / cap / 4.0
        types[:, 4] = demand / cap / 4.0
        types[:, 5] = need / lay.max_pending
        types[:, 6:9] = self.footprint / self.capacity
        types[:, 9] = [self.can_allocate(k) for k in range(NUM_TYPES)]
        types[:, 10] = [self.can_uninstall(k) for k in range(NUM_TYPES)]
        types[:, 11] = self.ready_in() / max(1, self.boot_steps)
        types[:, 12] = self.recent_demand / cap
        types[:, 13] = self.recent_unmet / cap
        types[:, 14:] = np.eye(NUM_TYPES)

        bw_max = w.bandwidth_mbps[1]
        budget_max = w.latency_budget_ms[1]
        chains = np.zeros((lay.max_chains, lay.chain_dim))
        for i, c in enumerate(reversed(self.chains[-lay.max_chains :])):
            r = c.request
            chains[i, :5] = (1.0, c.remaining / (2.0 * self.service_steps), c.e2e_ms / r.budget_ms,
                             r.bandwidth_mbps / bw_max, r.priority / w.priorities)  # fmt: skip
            chains[i, 5:] = r.mask
        pending = np.zeros((lay.max_pending, lay.pending_dim))
        free_cap = self.free_capacity()
        order = sorted(self.pending, key=lambda r: (-r.priority, r.arrival, r.id))[: lay.max_pending]
        for i, r in enumerate(order):
            waited = (self.t - r.arrival) * self.step_ms
            feasible = float((free_cap[list(r.types)] >= r.bandwidth_mbps).all())
            pending[i, :6] = (1.0, waited / r.budget_ms, (r.budget_ms - waited) / budget_max, r.bandwidth_mbps / bw_max,
                              r.priority / w.priorities, feasible)  # fmt: skip
            pending[i, 6:] = r.mask
        flat = np.concatenate([glob, types.ravel(), chains.ravel(), pending.ravel()])
        return np.clip(flat, OBS_LOW, OBS_HIGH).astype(np.float32)

    # --- checkpoints ------------------------------------------------------------

    def rng_state(self) -> dict[str, Any]:
        return self.np_random.bit_generator.state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.np_random.bit_generator.state = state
