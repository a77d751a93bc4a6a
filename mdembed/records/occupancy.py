"""What the substrate holds as requests come and go: residuals, holdings and the departure queue.

:class:`Occupancy` is the state both loops share: :func:`mdembed.market.simulation.simulate`
(an algorithm decides each request) and the PettingZoo market environment
(the domains' quoted prices decide it). It is state only: neither loop
lives here.
"""

from __future__ import annotations

import heapq

from mdembed.embedding.client import Embedding
from mdembed.network.substrate import Substrate, SubstrateState
from mdembed.records.trace import TraceWriter
from mdembed.workload.requests import Request


class Occupancy:
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

    def drain(self) -> None:
        """Release every remaining request, so a trace ends with an empty substrate."""
        self.release_until(float("inf"))

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
