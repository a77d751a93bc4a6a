"""VNF forwarding graphs arriving as a Poisson process (DESIGN 3).

All random draws of a workload are made up front, in fixed-size blocks per
request, so request ``i`` has the same content whatever the arrival rate and
whatever ``num_vnfs`` range is drawn from (common random numbers make
comparisons across loads and algorithms sharper).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from mdembed.settings import MAX_VLS, MAX_VNFS, WorkloadSettings
from mdembed.network.substrate import NODE_UNIT, NUM_NODE_RESOURCES, to_bw_units, to_node_units
from mdembed.core.seeding import stream

_PAIRS = list(combinations(range(MAX_VNFS), 2))
_PAIR_SLOT = {pair: slot for slot, pair in enumerate(_PAIRS)}


@dataclass(frozen=True, eq=False)
class Request:
    """One VNF-FG: VNF demands and directed virtual links, in integer units.

    VLs are listed in ascending (src, dst) order; a VL's index in that list is
    its slot, the index a domain's per-VL price refers to.
    """

    id: int
    arrival: float
    lifetime: float
    vnf_demand: np.ndarray  # (n, 3) int64 micro-units
    vl_src: np.ndarray  # (m,) int
    vl_dst: np.ndarray  # (m,) int
    vl_bandwidth: np.ndarray  # (m,) int64 kbit/s
    vl_delay_ms: np.ndarray  # (m,) bound on the sum of link delays
    vl_loss: np.ndarray  # (m,) bound on 1 - prod(1 - link loss)

    @property
    def num_vnfs(self) -> int:
        return len(self.vnf_demand)

    @property
    def num_vls(self) -> int:
        return len(self.vl_src)

    @property
    def departure(self) -> float:
        return self.arrival + self.lifetime

    @property
    def vnf_demand_units(self) -> np.ndarray:
        return self.vnf_demand / NODE_UNIT


def forwarding_graph(num_vnfs: int, order_keys: np.ndarray, coins: np.ndarray, p_extra: float) -> list[tuple[int, int]]:
    """Directed VLs: a chain through the VNFs in a random order, plus i->j (i<j) w.p. ``p_extra``.

    ``order_keys`` (MAX_VNFS,) ranks the VNFs along the chain; ``coins``
    (MAX_VLS,) decides each extra pair. A pair already joined by the chain, in
    either direction, gets no second VL.
    """
    order = np.argsort(order_keys[:num_vnfs], kind="stable").tolist()
    vls = set(zip(order[:-1], order[1:]))
    joined = {tuple(sorted(vl)) for vl in vls}
    for i, j in combinations(range(num_vnfs), 2):
        if (i, j) not in joined and coins[_PAIR_SLOT[(i, j)]] < p_extra:
            vls.add((i, j))
    return sorted(vls)


def generate_workload(settings: WorkloadSettings, seed: int, name: str = "workload") -> list[Request]:
    """The run's requests, in arrival order.

    ``name`` picks independent streams of the same seed: the evaluation
    workload every algorithm is measured on is ``"workload"``; a learner
    trains on another name, so it is never evaluated on requests it saw.
    """
    r = settings.num_requests
    gaps = stream(seed, f"{name}/arrivals").exponential(1.0 / settings.arrival_rate, size=r)
    lifetimes = stream(seed, f"{name}/lifetimes").exponential(settings.mean_lifetime, size=r)
    lo, hi = settings.num_vnfs
    sizes = stream(seed, f"{name}/sizes").integers(lo, hi + 1, size=r)  # own stream: lo == hi draws nothing
    content = stream(seed, f"{name}/content")
    order_keys = content.random((r, MAX_VNFS))
    coins = content.random((r, MAX_VLS))
    demand = to_node_units(content.uniform(*settings.vnf_demand, size=(r, MAX_VNFS, NUM_NODE_RESOURCES)))
    bandwidth = to_bw_units(content.uniform(*settings.vl_bandwidth_mbps, size=(r, MAX_VLS)))
    delay = content.uniform(*settings.vl_delay_ms, size=(r, MAX_VLS))
    loss = content.uniform(*settings.vl_loss, size=(r, MAX_VLS))
    arrivals = np.cumsum(gaps)

    requests = []
    for i in range(r):
        n = int(sizes[i])
        vls = forwarding_graph(n, order_keys[i], coins[i], settings.extra_vl_probability)
        m = len(vls)
        src = np.array([a for a, _ in vls], dtype=np.int64)
        dst = np.array([b for _, b in vls], dtype=np.int64)
        requests.append(
            Request(
                id=i,
                arrival=float(arrivals[i]),
                lifetime=float(lifetimes[i]),
                vnf_demand=demand[i, :n].copy(),
                vl_src=src,
                vl_dst=dst,
                vl_bandwidth=bandwidth[i, :m].copy(),
                vl_delay_ms=delay[i, :m].copy(),
                vl_loss=loss[i, :m].copy(),
            )
        )
    return requests
