"""The request as the 3-D tensor a domain's agent sees (DESIGN 3).

Entry (i, j) holds VNF i's demands (3 channels), VNF j's demands (3
channels) and the VL i->j (bandwidth, delay bound, loss bound; zero when
there is none). Rows and columns past the request's VNFs are zero. Each
channel is divided by the largest value the workload can draw, so every
entry lies in [0, 1].
"""

from __future__ import annotations

import numpy as np

from mdembed.settings import MAX_VNFS, WorkloadSettings
from mdembed.network.substrate import BW_UNIT, NUM_NODE_RESOURCES
from mdembed.workload.requests import Request

NUM_CHANNELS = 2 * NUM_NODE_RESOURCES + 3
TENSOR_SHAPE = (MAX_VNFS, MAX_VNFS, NUM_CHANNELS)


def request_tensor(request: Request, settings: WorkloadSettings) -> np.ndarray:
    k = NUM_NODE_RESOURCES
    n = request.num_vnfs
    out = np.zeros(TENSOR_SHAPE, dtype=np.float32)
    demand = request.vnf_demand_units / _scale(settings.vnf_demand[1])
    out[:n, :n, :k] = demand[:, None, :]
    out[:n, :n, k : 2 * k] = demand[None, :, :]
    src, dst = request.vl_src, request.vl_dst
    out[src, dst, 2 * k] = request.vl_bandwidth / BW_UNIT / _scale(settings.vl_bandwidth_mbps[1])
    out[src, dst, 2 * k + 1] = request.vl_delay_ms / _scale(settings.vl_delay_ms[1])
    out[src, dst, 2 * k + 2] = request.vl_loss / _scale(settings.vl_loss[1])
    return out


def _scale(maximum: float) -> float:
    return maximum if maximum > 0 else 1.0
