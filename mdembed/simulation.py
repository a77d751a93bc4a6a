"""The online loop: departures in time order, one decision per arrival, allocation."""

from __future__ import annotations

import heapq
import time
from typing import Sequence

from tqdm import tqdm

from mdembed.agents.registry import Algorithm
from mdembed.metrics import MetricsRecorder
from mdembed.network.substrate import SubstrateState
from mdembed.trace import TraceWriter
from mdembed.workload.requests import Request

PROGRESS_EVERY = 200  # requests between progress-bar refreshes of the acceptance ratio


def simulate(
    requests: Sequence[Request],
    algorithm: Algorithm,
    state: SubstrateState,
    recorder: MetricsRecorder,
    trace: TraceWriter | None = None,
    progress: bool = False,
) -> None:
    """Feed every request to ``algorithm`` in arrival order, releasing departures first.

    Departures at the same instant as an arrival are released before it. After
    the last arrival the remaining departures are drained, so a trace ends
    with an empty substrate.
    """
    substrate = state.substrate
    departures: list[tuple[float, int]] = []
    clock = time.perf_counter_ns
    bar = tqdm(total=len(requests), disable=None if progress else True, unit="req", smoothing=0.05)
    accepted = 0
    for i, request in enumerate(requests):
        while departures and departures[0][0] <= request.arrival:
            t, rid = heapq.heappop(departures)
            state.release(rid)
            if trace:
                trace.departure(t, rid)
        if trace:
            trace.arrival(request)
        start = clock()
        embedding = algorithm.decide(request, state)
        elapsed = clock() - start
        if embedding.holds_anything:
            state.allocate(request.id, embedding.holding(request, substrate))
            heapq.heappush(departures, (request.departure, request.id))
        if trace:
            trace.decision(request, embedding)
        recorder.record(request, embedding, elapsed, state)
        accepted += embedding.accepted
        if (i + 1) % PROGRESS_EVERY == 0:
            bar.set_postfix(acceptance=f"{accepted / (i + 1):.3f}", refresh=False)
            bar.update(PROGRESS_EVERY)
    bar.update(len(requests) % PROGRESS_EVERY)
    bar.close()
    recorder.finish(state)
    while departures:
        t, rid = heapq.heappop(departures)
        state.release(rid)
        if trace:
            trace.departure(t, rid)
