"""Benchmark: ``python -m mdembed.bench [--repeats N] [--requests N]``.

Prints one figure per line as ``name value unit``, each the median over
``--repeats`` runs of the same seeded workload at the default config
(seed 0, default load), on one core (BLAS threads pinned to 1). ``requests_per_s`` times the whole online loop (departures,
decision, allocation, metrics) but not the workload generation, which
happens once before the clock starts. ``speedup_vs_networkx`` is a
baseline measured in the same run: the same 2,000 least-price queries
answered by ``networkx.dijkstra_path``, divided by our time.
``training_steps_per_s`` runs a learner's training loop on BtEurope (torch on
every core, BLAS otherwise at 1) for each device torch sees (``cpu``; ``cuda``
on a GPU machine): ddpg with all 3 domains updating from step 32 on, at each
price granularity (``per_slot``: the paper's, ``per_node``, ``per_domain``;
``algorithm.prices``) and with the per-element actor (``ddpg_element``), and
the per-element PPO (``ppo_element``, one update per 512-step rollout); each
line also gives the ratio to ``ddpg_per_domain`` (today's default) measured in the same run; ``update_ms`` and ``env_step_ms`` time the two parts of a
training step apart (one gradient update of every domain, the GPU
synchronized; one market step with random prices, recording included). ``import_*_s`` is what a fresh
interpreter pays to import ``mdembed.run`` alone, and with what a static
baseline's run needs.
The search algorithms (sa, sa_cff, ilp) are timed per decision over the
first ``--search-requests`` requests of one online run (each decision is
one sample; the median and p95 are over requests).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from mdembed.market.build import make_run  # noqa: E402
from mdembed.core.cli import ArgumentParser, count  # noqa: E402
from mdembed.settings import Settings, settings_from_config  # noqa: E402
from mdembed.config import compose
from mdembed.env.layout import PRICE_GRANULARITIES  # noqa: E402
from mdembed.core.errors import command  # noqa: E402
from mdembed.records.metrics import MetricsRecorder  # noqa: E402
from mdembed.records.occupancy import Occupancy  # noqa: E402
from mdembed.market.simulation import simulate  # noqa: E402


def measure(settings: Settings, repeats: int) -> tuple[float, float]:
    """Median requests/s and median per-request decision time (ms) over ``repeats`` runs."""
    run = make_run(settings)
    rates, decision_ms = [], []
    for _ in range(repeats):
        recorder = MetricsRecorder(run.substrate, len(run.requests), settings.metrics.window)
        start = time.perf_counter()
        simulate(run.requests, run.algorithm, Occupancy(run.substrate), recorder)
        rates.append(len(run.requests) / (time.perf_counter() - start))
        decision_ms.append(float(np.median(recorder.decision_ns) / 1e6))
    return statistics.median(rates), statistics.median(decision_ms)


def routing_speedup(settings: Settings, queries: int, repeats: int) -> float:
    """How many times faster our Dijkstra answers least-price queries than networkx's, same queries."""
    import networkx as nx

    from mdembed.embedding.routing import least_price_path

    substrate = make_run(settings).substrate
    rng = np.random.default_rng(0)
    weight = rng.uniform(1.0, 10.0, size=2 * substrate.num_links).tolist()
    residual = substrate.arc_bandwidth.tolist()
    pairs = rng.integers(0, substrate.num_nodes, size=(queries, 2)).tolist()
    graph = nx.DiGraph()
    for arc, (u, v) in enumerate(zip(substrate.arc_src.tolist(), substrate.arc_dst.tolist())):
        graph.add_edge(u, v, weight=weight[arc])

    def ours() -> None:
        for u, v in pairs:
            least_price_path(substrate.adjacency, weight, residual, 1, u, v)

    def theirs() -> None:
        for u, v in pairs:
            nx.dijkstra_path(graph, u, v)

    ratios = []
    for _ in range(repeats):
        start = time.perf_counter()
        theirs()
        middle = time.perf_counter()
        ours()
        ratios.append((middle - start) / (time.perf_counter() - middle))
    return statistics.median(ratios)


# The learners timed by training_steps_per_s: today's DDPG at each price granularity, and the per-element policies.
LEARNERS = {  # today's default DDPG (per domain) first: every line's ratio is to it
    **{f"ddpg_per_{prices}": ["algorithm=ddpg", f"algorithm.prices={prices}"] for prices in reversed(PRICE_GRANULARITIES)},
    "ddpg_element": ["algorithm=ddpg", "algorithm.prices=node", "algorithm.policy=element"],
    "ppo_element": ["algorithm=ppo"],
}


def _learner_settings(steps: int, learner: list[str], device: str = "cpu") -> Settings:
    overrides = ["topology=bteurope", "progress=false", f"train.steps={steps}", f"train.checkpoint_every={steps}",
                 "eval.requests=1", f"device={device}", *learner]  # fmt: skip
    if "algorithm=ddpg" in learner:
        overrides.append("algorithm.learning_starts=32")  # every step after the first batch updates
    else:
        rollout = min(steps, 512)  # at least one update, whatever --train-steps
        overrides += [f"algorithm.rollout={rollout}", f"algorithm.minibatch={min(rollout, 64)}"]
    return settings_from_config(compose(overrides))


def _ddpg_settings(steps: int, prices: str, device: str = "cpu") -> Settings:
    return _learner_settings(steps, ["algorithm=ddpg", f"algorithm.prices={prices}"], device)


def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def training_rate(steps: int, repeats: int, learner: list[str], device: str = "cpu") -> float:
    """Median training steps/s of a learner (its overrides) on BtEurope: DDPG with every domain updating from the
    first batch on, PPO updating every rollout (512 steps, as by default)."""
    import tempfile
    from pathlib import Path

    import torch

    from mdembed.market.run import training_task
    from mdembed.learning.loop import train

    settings = _learner_settings(steps, learner, device)
    torch.set_num_threads(os.cpu_count() or 1)
    rates = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            algorithm = make_run(settings).algorithm
            _, summary = train(algorithm.learner, training_task(algorithm, settings), settings, Path(tmp))
        rates.append(summary["steps_per_s"])
    return statistics.median(rates)


def training_split(steps: int, prices: str = "slot", device: str = "cpu") -> tuple[float, float]:
    """Median ms of one DDPG update alone and of one environment step alone (random prices), on BtEurope.

    The buffer is filled by ``steps`` environment steps first; the updates
    then sample from it, so the two parts of a training step are timed apart.
    """
    import torch

    from mdembed.market.run import training_task

    settings = _ddpg_settings(steps, prices, device)
    torch.set_num_threads(os.cpu_count() or 1)
    algorithm = make_run(settings).algorithm
    learner, task = algorithm.learner, training_task(algorithm, settings)
    rng = np.random.default_rng(0)
    env_ms = []
    while task.position < task.total_steps:
        obs = task.observation()
        action = rng.uniform(-1.0, 1.0, size=(learner.domains, learner.action_dim)).astype(np.float32)
        start = time.perf_counter()
        next_obs, reward, terminated = task.step(action)
        env_ms.append((time.perf_counter() - start) * 1e3)
        learner.buffer.add(obs, action, reward, next_obs, terminated)
    update_ms = []
    for _ in range(steps):
        idx = learner.rng.integers(0, learner.buffer.size, size=learner.settings.batch_size)
        _synchronize(device)
        start = time.perf_counter()
        learner.update_slots(idx)
        _synchronize(device)
        update_ms.append((time.perf_counter() - start) * 1e3)
    return statistics.median(update_ms), statistics.median(env_ms)


def _devices() -> list[str]:
    """The CPU, and the GPU when torch sees one."""
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def import_time(modules: str, repeats: int) -> float:
    """Median seconds for a fresh interpreter to import ``modules`` (what a run pays before its first request)."""
    import subprocess
    import sys

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def decision_time(algorithm: str, requests: int) -> tuple[float, float]:
    """Median and p95 decision time (ms) of ``algorithm`` over the first ``requests`` of BtEurope's workload."""
    settings = settings_from_config(compose(["topology=bteurope", f"algorithm={algorithm}", f"eval.requests={requests}"]))
    run = make_run(settings)
    recorder = MetricsRecorder(run.substrate, len(run.requests), settings.metrics.window)
    simulate(run.requests, run.algorithm, Occupancy(run.substrate), recorder)
    ms = recorder.decision_ns / 1e6
    return float(np.median(ms)), float(np.percentile(ms, 95))


@command
def main() -> None:
    """Every count is checked (a whole number >= 1) before the first measurement."""
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=count, default=5)
    parser.add_argument("--requests", type=count, default=10_000)
    parser.add_argument("--train-steps", type=count, default=1_000)
    parser.add_argument("--search-requests", type=count, default=500, help="requests timed for sa, sa_cff and ilp")
    args = parser.parse_args()
    for algorithm in ("cff_3d",):
        for topology in ("bteurope", "kdl"):
            overrides = [f"topology={topology}", f"algorithm={algorithm}", f"workload.num_requests={args.requests}"]
            settings = settings_from_config(compose(overrides))
            rate, decision = measure(settings, args.repeats)
            print(f"{algorithm}_{topology}_requests_per_s {rate:.0f} requests/s", flush=True)
            print(f"{algorithm}_{topology}_decision_time_median {decision * 1000:.1f} us", flush=True)
    for topology in ("bteurope", "kdl"):
        speedup = routing_speedup(settings_from_config(compose([f"topology={topology}"])), 2000, args.repeats)
        print(f"least_price_path_{topology}_speedup_vs_networkx {speedup:.2f} x", flush=True)
    for device in _devices():
        baseline = None
        for learner, overrides in LEARNERS.items():
            name = f"{learner}_bteurope_{device}"
            rate = training_rate(args.train_steps, args.repeats, overrides, device)
            baseline = baseline or rate  # today's DDPG (per domain, the first) in the same run
            print(f"{name}_training_steps_per_s {rate:.1f} steps/s ({rate / baseline:.2f} x ddpg_per_domain)", flush=True)
            if learner.startswith("ddpg_per_"):
                update_ms, env_ms = training_split(args.train_steps, learner.removeprefix("ddpg_per_"), device)
                print(f"{name}_update_ms {update_ms:.2f} ms", flush=True)
                print(f"{name}_env_step_ms {env_ms:.3f} ms", flush=True)
    print(f"import_mdembed_run_s {import_time('mdembed.run', args.repeats):.2f} s", flush=True)
    static = import_time("mdembed.run, mdembed.market.run", args.repeats)
    print(f"import_static_baseline_run_s {static:.2f} s", flush=True)
    for algorithm in ("sa", "sa_cff", "ilp"):
        median, p95 = decision_time(algorithm, args.search_requests)
        print(f"{algorithm}_bteurope_decision_time_median {median:.2f} ms", flush=True)
        print(f"{algorithm}_bteurope_decision_time_p95 {p95:.2f} ms", flush=True)


if __name__ == "__main__":
    main()
