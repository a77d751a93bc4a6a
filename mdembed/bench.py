"""Benchmark: ``python -m mdembed.bench [--repeats N] [--requests N]``.

Prints one figure per line as ``name value unit``, each the median over
``--repeats`` runs of the same seeded workload at the default config
(seed 0, default load), on one core (BLAS threads pinned to 1). ``requests_per_s`` times the whole online loop (departures,
decision, allocation, metrics) but not the workload generation, which
happens once before the clock starts.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from mdembed.build import make_run  # noqa: E402
from mdembed.config import Settings, settings_from_config  # noqa: E402
from mdembed.metrics import MetricsRecorder  # noqa: E402
from mdembed.network.substrate import SubstrateState  # noqa: E402
from mdembed.run import compose  # noqa: E402
from mdembed.simulation import simulate  # noqa: E402


def measure(settings: Settings, repeats: int) -> tuple[float, float]:
    """Median requests/s and median per-request decision time (ms) over ``repeats`` runs."""
    run = make_run(settings)
    rates, decision_ms = [], []
    for _ in range(repeats):
        state = SubstrateState(run.substrate)
        recorder = MetricsRecorder(run.substrate, len(run.requests), settings.metrics.window)
        start = time.perf_counter()
        simulate(run.requests, run.algorithm, state, recorder)
        rates.append(len(run.requests) / (time.perf_counter() - start))
        decision_ms.append(float(np.median(recorder.decision_ns) / 1e6))
    return statistics.median(rates), statistics.median(decision_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10_000)
    args = parser.parse_args()
    for algorithm in ("cff_3d",):
        for topology in ("bteurope", "kdl"):
            overrides = [f"topology={topology}", f"algorithm={algorithm}", f"workload.num_requests={args.requests}"]
            settings = settings_from_config(compose(overrides))
            rate, decision = measure(settings, args.repeats)
            print(f"{algorithm}_{topology}_requests_per_s {rate:.0f} requests/s", flush=True)
            print(f"{algorithm}_{topology}_decision_time_median {decision * 1000:.1f} us", flush=True)


if __name__ == "__main__":
    main()
