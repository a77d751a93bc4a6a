"""SFC requests for the data-centre scenario: Poisson arrivals per step (DESIGN 7).

Step t (which starts at ``t x step_s`` seconds) draws ``n ~ Poisson(step_s x
rate(t x step_s))`` requests, with ``rate(s) = arrival_rate * (1 +
rate_amplitude * sin(2 pi s / rate_period_s))`` per second (a daily-like
swing; amplitude 0 gives a homogeneous process). A request is a chain of
distinct VNF types (length ~ U{min..max}, types drawn without replacement
with ``type_weights``), a bandwidth, a latency budget, a priority and a
service time in steps, Geometric with mean ``mean_service_s / step_s``.

The generator consumes its random stream in the same order whatever the
policy does, so two policies given the same stream see the same requests.
The environment owns the stream: ``stream(seed, "dc/workload/train")`` for
training and ``stream(seed, "dc/workload/eval")`` for the held-out
evaluation, never the same one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from mdembed.dc.settings import NUM_TYPES, DCWorkloadSettings


@dataclass(frozen=True)
class SFCRequest:
    id: int
    arrival: int  # step it arrives in
    types: tuple[int, ...]  # the chain, in order
    bandwidth_mbps: float
    budget_ms: float  # latency budget: queueing + processing must stay within it
    priority: int  # 1 (lowest) .. priorities
    service_steps: int  # steps it holds its capacity once served

    @property
    def mask(self) -> np.ndarray:
        out = np.zeros(NUM_TYPES, dtype=np.float32)
        out[list(self.types)] = 1.0
        return out


def arrival_rate(settings: DCWorkloadSettings, step: float, step_s: float) -> float:
    """Mean requests arriving in ``step`` (a step of ``step_s`` seconds); a fractional step is a time between two."""
    phase = 2.0 * math.pi * step * step_s / settings.rate_period_s
    return settings.arrival_rate * step_s * (1.0 + settings.rate_amplitude * math.sin(phase))


def mean_service_steps(settings: DCWorkloadSettings, step_s: float) -> float:
    return settings.mean_service_s / step_s


def type_shares(settings: DCWorkloadSettings) -> np.ndarray:
    """The probability that a request's chain holds each VNF type, exact: chains are drawn one type at a time
    (numpy's weighted draw without replacement), so every ordered draw of each length is enumerated."""
    weights = np.asarray(settings.type_weights) / sum(settings.type_weights)
    lo, hi = settings.chain_length
    shares = np.zeros(NUM_TYPES)
    for length in range(lo, hi + 1):
        for order in itertools.permutations(range(NUM_TYPES), length):
            p, left = 1.0, 1.0
            for k in order:
                p *= weights[k] / left
                left -= weights[k]
            shares[list(order)] += p / (hi - lo + 1)
    return shares


def arrivals(
    settings: DCWorkloadSettings, step: int, first_id: int, rng: np.random.Generator, step_s: float
) -> list[SFCRequest]:
    """The requests arriving in ``step``, with ids from ``first_id`` on."""
    count = int(rng.poisson(arrival_rate(settings, step, step_s)))
    weights = np.asarray(settings.type_weights) / sum(settings.type_weights)
    lo, hi = settings.chain_length
    service_p = 1.0 / mean_service_steps(settings, step_s)
    out = []
    for i in range(count):
        length = int(rng.integers(lo, hi + 1))
        types = tuple(int(t) for t in rng.choice(NUM_TYPES, size=length, replace=False, p=weights))
        out.append(
            SFCRequest(
                id=first_id + i,
                arrival=step,
                types=types,
                bandwidth_mbps=float(rng.uniform(*settings.bandwidth_mbps)),
                budget_ms=float(rng.uniform(*settings.latency_budget_ms)),
                priority=int(rng.integers(1, settings.priorities + 1)),
                service_steps=int(rng.geometric(service_p)),
            )
        )
    return out
