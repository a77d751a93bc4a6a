"""The evaluation loop: departures in time order, one decision per arrival, allocation.

An :class:`~mdembed.agents.registry.Algorithm` decides each request against
the :class:`~mdembed.records.occupancy.Occupancy`; the recorder keeps the metrics.
"""

from __future__ import annotations

import time
from typing import Sequence

from mdembed.agents.registry import Algorithm
from mdembed.records.metrics import ElementUtilization, MetricsRecorder
from mdembed.records.occupancy import Occupancy
from mdembed.core.progress import AcceptanceStatus, Progress
from mdembed.workload.requests import Request


def simulate(
    requests: Sequence[Request],
    algorithm: Algorithm,
    occupancy: Occupancy,
    recorder: MetricsRecorder,
    progress: bool = False,
    utilization: ElementUtilization | None = None,
) -> None:
    """Feed every request to ``algorithm`` in arrival order, then drain the departures; ``utilization``, when
    given, samples every element's used share after each decision and at the end (utilization.csv)."""
    clock = time.perf_counter_ns
    acceptance = AcceptanceStatus()
    bar = Progress(len(requests), progress, desc=recorder.phase, status=acceptance)
    for request in requests:
        occupancy.arrive(request)
        recorder.record_load(occupancy.state)
        start = clock()
        embedding = algorithm.decide(request, occupancy.state)
        elapsed = clock() - start
        occupancy.commit(request, embedding)
        recorder.record(request, embedding, elapsed, occupancy.state, algorithm.quoted_prices)
        if utilization is not None:
            utilization.sample(occupancy.state)
        acceptance.add(embedding.accepted)
        bar.update()
    bar.close()
    recorder.finish(occupancy.state)
    if utilization is not None:
        utilization.finish(occupancy.state)
    occupancy.drain()
