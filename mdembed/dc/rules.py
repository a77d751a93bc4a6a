"""The rule-based provisioners the DQN is compared with, on the same 15 actions, one action per step (DESIGN 7).

- ``autoscaler``: reactive, like a Kubernetes horizontal autoscaler with a
  utilization target. A type whose load plus unmet demand (Mbit/s of its
  pending requests and of those dropped in the last step) exceeds
  ``target_utilization`` of its installed capacity (running and booting
  instances) gets one more instance, the largest shortfall first; otherwise
  a type whose load has fit within ``target_utilization`` of one instance
  fewer, with no unmet demand and more than ``min_instances`` running, for
  ``idle_steps`` steps in a row loses one (the longest first).
- ``static_mean`` and ``static_peak``: a fixed number of instances per type,
  sized for the load at the cycle's mean and at its peak (see
  :func:`sized_instances`); they install it at the start and keep it.
- ``predictive``: the autoscaler, plus the known cycle: it installs what the
  load one boot delay ahead needs (an instance allocated now serves then)
  and never scales in below what any step until then needs.

Sizing (the static and predictive rules): with Poisson arrivals and
Geometric service, the number of chains in service at step s is Poisson
with mean m(s) = sum over j >= 0 of rate(s - j) q^j (q = 1 - 1 / mean
service steps), in closed form for the sine cycle. A type's load is then
compound Poisson: mean m p_k E[bw], variance m p_k E[bw^2] (p_k: the share
of chains holding the type). Each rule installs enough instances for the
load's ``dc.provisioner.quantile`` (normal approximation), shrunk in
proportion where the DC cannot hold them all.

The rules read the environment's state (what the observation carries) and
the workload's settings (an operator's traffic profile), never the requests
to come.
"""

from __future__ import annotations

import cmath
import math
from statistics import NormalDist

import numpy as np

from mdembed.dc.env import ALLOCATE, UNINSTALL, WAIT, DataCentreEnv
from mdembed.dc.settings import NUM_TYPES, RULES, AutoscalerSettings, ProvisionerSettings
from mdembed.dc.workload import type_shares


def _allocate_largest(env: DataCentreEnv, shortfall: np.ndarray) -> int | None:
    """Allocate an instance of the type with the largest positive shortfall that still fits, if any."""
    for k in np.argsort(-shortfall, kind="stable"):
        if shortfall[k] <= 0:
            return None
        if env.can_allocate(int(k)):
            return 3 * int(k) + ALLOCATE
    return None


class ThresholdAutoscaler:
    def __init__(self, settings: AutoscalerSettings) -> None:
        self.target = settings.target_utilization
        self.idle_steps = settings.idle_steps
        self.min_instances = settings.min_instances
        self.idle = np.zeros(NUM_TYPES, dtype=np.int64)

    def reset(self) -> None:
        self.idle[:] = 0

    def act(self, env: DataCentreEnv, floor: np.ndarray | None = None) -> int:
        """The step's action; ``floor`` (per type) is a count of installed instances it does not scale in below."""
        unmet = env.pending_demand() + env.unmet
        installed = env.instances()
        shortfall = env.load + unmet - self.target * installed * env.instance_capacity
        fewer = self.target * (env.running - 1) * env.instance_capacity
        idle = (unmet == 0) & (env.load <= fewer + 1e-9) & (env.running > self.min_instances)
        if floor is not None:
            idle &= installed - 1 >= floor
        self.idle = np.where(idle, self.idle + 1, 0)
        action = _allocate_largest(env, shortfall)
        if action is not None:
            return action
        ready = np.flatnonzero((self.idle >= self.idle_steps) & [env.can_uninstall(k) for k in range(NUM_TYPES)])
        if ready.size:
            k = int(ready[np.argmax(self.idle[ready])])
            self.idle[k] = 0
            return 3 * k + UNINSTALL
        return WAIT  # 3 * 0 + WAIT: waiting is the same whichever type it names


class LoadModel:
    """Instances per type the known workload needs at a step, from the chains expected in service then."""

    def __init__(self, env: DataCentreEnv, settings: ProvisionerSettings) -> None:
        w = env.workload
        self.env = env
        self.mean = env.mean_arrivals  # requests per step
        self.q = 1.0 - 1.0 / env.service_steps
        self.omega = 2.0 * math.pi * env.dc.step_s / w.rate_period_s
        self.amplitude = w.rate_amplitude
        shares = type_shares(w)
        lo, hi = w.bandwidth_mbps
        self.load_per_chain = shares * (lo + hi) / 2.0
        self.square_per_chain = shares * (lo * lo + lo * hi + hi * hi) / 3.0
        self.z = NormalDist().inv_cdf(settings.quantile)
        self.gain = 1.0 / (1.0 - self.q * cmath.exp(-1j * self.omega))  # the cycle's response in the chains in service

    @property
    def mean_chains(self) -> float:
        """Mean chains in service over the cycle: requests per step x mean service steps."""
        return self.mean / (1.0 - self.q)

    def chains(self, step: np.ndarray | float) -> np.ndarray:
        """Mean chains in service at ``step``: sum_j rate(step - j) q^j, in closed form for the sine cycle."""
        swing = np.imag(np.exp(1j * self.omega * np.asarray(step, dtype=float)) * self.gain)
        return self.mean_chains + self.mean * self.amplitude * swing

    def peak_chains(self) -> float:
        return self.mean_chains + self.mean * self.amplitude * abs(self.gain)

    def most_chains(self, first: float, last: float) -> float:
        """The most chains expected in service at any time from step ``first`` to ``last``: an end, or the cycle's
        peak where one falls between (the mean follows a sine, so no step needs to be visited)."""
        ends = float(self.chains(np.array([first, last])).max())
        if self.amplitude == 0 or (last - first) * self.omega >= 2.0 * math.pi:
            return max(ends, self.peak_chains()) if self.amplitude else ends
        # chains(s) = c + a |gain| sin(omega s + arg(gain)): its peaks are where omega s + arg(gain) = pi/2 + 2 pi k
        k = math.ceil((self.omega * first + cmath.phase(self.gain) - math.pi / 2) / (2.0 * math.pi) - 1e-12)
        peak = (math.pi / 2 - cmath.phase(self.gain) + 2.0 * math.pi * k) / self.omega
        return self.peak_chains() if peak <= last else ends

    def instances(self, chains: np.ndarray | float) -> np.ndarray:
        """Instances per type for the load's quantile with ``chains`` in service (one row per value), fitted to the DC."""
        m = np.atleast_1d(np.asarray(chains, dtype=float))[:, None]
        load = m * self.load_per_chain + self.z * np.sqrt(m * self.square_per_chain)
        wanted = np.ceil(load / self.env.instance_capacity - 1e-9)
        return np.array([self.fit(row) for row in wanted])

    def fit(self, wanted: np.ndarray) -> np.ndarray:
        """``wanted`` instances per type, less one at a time from the type with most of what it wanted, until they fit;
        a type keeps one instance while another has more (without one, every chain that holds it is dropped)."""
        env = self.env
        used = wanted @ env.footprint
        counts = wanted.copy()
        if (used > env.capacity).any():  # most of the way at once: a count may be far beyond the DC (a huge load)
            counts = np.maximum(np.floor(wanted * (env.capacity / used).min()), np.minimum(wanted, 1))
        while ((counts @ env.footprint) > env.capacity + 1e-9).any() and counts.sum() > 0:
            floor = 1 if (counts > 1).any() else 0
            share = np.where(counts > floor, counts / np.maximum(wanted, 1), -1.0)
            counts[int(np.argmax(share))] -= 1
        return counts


class StaticProvisioner:
    """A fixed count of instances per type: allocate what is missing, uninstall what is over, else wait."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = np.asarray(counts, dtype=np.int64)

    def reset(self) -> None:
        pass

    def act(self, env: DataCentreEnv) -> int:
        action = _allocate_largest(env, (self.counts - env.instances()).astype(float))
        if action is not None:
            return action
        for k in np.flatnonzero(env.running > self.counts):
            if env.can_uninstall(int(k)):
                return 3 * int(k) + UNINSTALL
        return WAIT


class PredictiveAutoscaler:
    """The threshold autoscaler that also installs what the known cycle needs one boot delay ahead."""

    def __init__(self, model: LoadModel, autoscaler: ThresholdAutoscaler) -> None:
        self.model = model
        self.autoscaler = autoscaler

    def reset(self) -> None:
        self.autoscaler.reset()

    def act(self, env: DataCentreEnv) -> int:
        model, t = self.model, env.t
        ahead, until = model.instances([model.chains(t + env.boot_steps), model.most_chains(t, t + env.boot_steps)])
        action = _allocate_largest(env, (ahead - env.instances()).astype(float))
        if action is not None:
            return action
        return self.autoscaler.act(env, floor=until)


def make_rule(name: str, env: DataCentreEnv, autoscaler: AutoscalerSettings, provisioner: ProvisionerSettings):
    """The rule called ``name`` (one of RULES) for ``env``."""
    if name == "autoscaler":
        return ThresholdAutoscaler(autoscaler)
    model = LoadModel(env, provisioner)
    if name == "predictive":
        return PredictiveAutoscaler(model, ThresholdAutoscaler(autoscaler))
    if name == "static_mean":
        return StaticProvisioner(model.instances(model.mean_chains)[0])
    if name == "static_peak":
        return StaticProvisioner(model.instances(model.peak_chains())[0])
    raise ValueError(f"unknown rule {name!r}; known: {', '.join(RULES)}")
