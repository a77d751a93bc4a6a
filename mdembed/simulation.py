"""The online loop: departures in time order, one decision per arrival, allocation.

:class:`OnlineMarket` is the loop's state (residuals, who holds what, the
departure queue), shared by :func:`simulate`, which asks an
:class:`~mdembed.agents.registry.Algorithm` for each decision, and by the
PettingZoo environment, whose agents quote the prices.
"""

from __future__ import annotations

import heapq
import time
from typing import Sequence

from tqdm import tqdm

from mdembed.agents.registry import Algorithm
from mdembed.embedding.client import Embedding
from mdembed.metrics import MetricsRecorder
from mdembed.network.substrate import Substrate, SubstrateState
from mdembed.trace import TraceWriter
from mdembed.workload.requests import Request

PROGRESS_EVERY = 200  # requests between progress-bar refreshes of the acceptance ratio


class OnlineMarket:
    """Requests in arrival order against one substrate.

    Departures at the same instant as an arrival are released before it.
    """

    def __init__(self, substrate: Substrate, trace: TraceWriter | None = None) -> None:
        self.state = SubstrateState(substrate)
        self.trace = trace
        self.departures: list[tuple[float, int]] = []

    def arrive(self, request: Request) -> None:
        """Release everything that departs by the request's arrival, then log the arrival."""
        self.release_until(request.arrival)
        if self.trace:
            self.trace.arrival(request)

    def commit(self, request: Request, embedding: Embedding) -> None:
        """Allocate what the embedding holds until the request departs."""
        if embedding.holds_anything:
            self.state.allocate(request.id, embedding.holding(request, self.state.substrate))
            heapq.heappush(self.departures, (request.departure, request.id))
        if self.trace:
            self.trace.decision(request, embedding)

    def release_until(self, t: float) -> None:
        departures = self.departures
        while departures and departures[0][0] <= t:
            when, rid = heapq.heappop(departures)
            self.state.release(rid)
            if self.trace:
                self.trace.departure(when, rid)

    def state_dict(self) -> dict[str, object]:
        import torch

        times, ids = zip(*self.departures) if self.departures else ((), ())
        return {
            "state": self.state.state_dict(),
            "departure_times": torch.tensor(times, dtype=torch.float64),
            "departure_ids": torch.tensor(ids, dtype=torch.int64),
        }

    def load_state_dict(self, saved: dict[str, object]) -> None:
        self.state.load_state_dict(saved["state"])
        self.departures = list(zip(saved["departure_times"].tolist(), saved["departure_ids"].tolist()))
        heapq.heapify(self.departures)

    def drain(self) -> None:
        """Release every remaining request, so a trace ends with an empty substrate."""
        self.release_until(float("inf"))


class Progress:
    """A progress bar with the running acceptance ratio, shown on a terminal only."""

    def __init__(self, total: int, enabled: bool, desc: str | None = None, unit: str = "req") -> None:
        self.bar = tqdm(total=total, disable=None if enabled else True, unit=unit, smoothing=0.05, desc=desc)
        self.seen = 0
        self.accepted = 0

    def update(self, accepted: bool) -> None:
        self.seen += 1
        self.accepted += accepted
        if self.seen % PROGRESS_EVERY == 0:
            self.bar.set_postfix(acceptance=f"{self.accepted / self.seen:.3f}", refresh=False)
            self.bar.update(PROGRESS_EVERY)

    def close(self) -> None:
        self.bar.update(self.seen % PROGRESS_EVERY)
        self.bar.close()


def simulate(
    requests: Sequence[Request],
    algorithm: Algorithm,
    market: OnlineMarket,
    recorder: MetricsRecorder,
    progress: bool = False,
) -> None:
    """Feed every request to ``algorithm`` in arrival order, then drain the departures."""
    clock = time.perf_counter_ns
    bar = Progress(len(requests), progress, desc=recorder.phase)
    for request in requests:
        market.arrive(request)
        start = clock()
        embedding = algorithm.decide(request, market.state)
        elapsed = clock() - start
        market.commit(request, embedding)
        recorder.record(request, embedding, elapsed, market.state, algorithm.quoted_mean_prices)
        bar.update(embedding.accepted)
    bar.close()
    recorder.finish(market.state)
    market.drain()

