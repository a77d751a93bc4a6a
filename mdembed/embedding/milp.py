"""The exact least-payment embedding of one request as a MILP, solved by HiGHS (DESIGN 5, ``ilp``).

All or nothing: every VNF on one node (``x[v, n]``), every VL one
unsplittable flow over the directed arcs (``f[e, a]``), under node capacity
per resource, arc bandwidth per direction, and each VL's delay and loss
bounds. The objective is the client's revenue formula (DESIGN 4.6), so the
optimum is the least a client could pay at the given prices.

Variables are laid out ``x`` first (``v * N + n``), then ``f``
(``n_vnfs * N + e * A + a``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from mdembed.embedding.client import Embedding, domain_revenue, node_charges, rejected
from mdembed.embedding.prices import Prices
from mdembed.embedding.reasons import Reason
from mdembed.network.substrate import BW_UNIT, Substrate
from mdembed.workload.requests import Request

QOS_TOLERANCE = 1e-12  # relative slack so a path exactly at a bound stays feasible
RETRY_MARGIN = 1e-5  # relative tightening of the QoS rows when HiGHS' own tolerance let a path past a bound
MIP_REL_GAP = 1e-7  # HiGHS' default 1e-4 would call a 0.01 % worse incumbent "optimal"
TIME_LIMIT_S = 60.0  # per request, a safety net: an incumbent chosen by the clock depends on the machine's speed


@dataclass(frozen=True)
class MilpResult:
    """``status``: optimal, feasible (time limit, incumbent kept), infeasible or timeout (no incumbent)."""

    status: str
    embedding: Embedding
    objective: float | None  # the cost of ``embedding``, None when nothing is embedded
    solve_time_s: float


@dataclass(frozen=True, eq=False)
class _Arcs:
    """The node-arc incidence the model is built from, computed once per substrate."""

    incidence_rows: np.ndarray  # (2A,) node of each +1 / -1 entry of the node-arc incidence
    incidence_data: np.ndarray  # (2A,) +1 where the arc leaves, -1 where it enters
    incidence_arcs: np.ndarray  # (2A,)


@lru_cache(maxsize=8)
def _arcs(substrate: Substrate) -> _Arcs:
    a = 2 * substrate.num_links
    arcs = np.arange(a)
    return _Arcs(
        incidence_rows=np.concatenate([substrate.arc_src, substrate.arc_dst]),
        incidence_data=np.concatenate([np.ones(a), -np.ones(a)]),
        incidence_arcs=np.concatenate([arcs, arcs]),
    )


def loss_budget(vl_loss: np.ndarray) -> np.ndarray:
    """-log(1 - bound): the loss bound as a budget on the sum of -log(1 - link loss)."""
    return -np.log1p(-np.asarray(vl_loss, dtype=np.float64))


def _qos_rows(coef: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, A) coefficients scaled so each row's bound is 1, and that scale (1 where the bound is 0).

    Scaling makes HiGHS' absolute feasibility tolerance a relative one, which
    matters for loss budgets of order 1e-3.
    """
    scale = np.where(bound > 0, 1.0 / np.where(bound > 0, bound, 1.0), 1.0)
    return coef[None, :] * scale[:, None], np.where(bound > 0, 1.0, 0.0)


def build_model(
    request: Request,
    prices: Prices,
    substrate: Substrate,
    node_residual: np.ndarray,
    arc_residual: np.ndarray,
    qos_margin: float = 0.0,
) -> tuple[np.ndarray, LinearConstraint, np.ndarray]:
    """(c, constraints, upper bounds) of the MILP; every variable is binary.

    Variables that cannot be 1 on their own (a VNF on a node too small, a VL
    on an arc too thin, too slow or too lossy) get upper bound 0.
    """
    k = _arcs(substrate)
    n, m, nn, na = request.num_vnfs, request.num_vls, substrate.num_nodes, 2 * substrate.num_links
    nx = n * nn
    demand = request.vnf_demand
    bw = request.vl_bandwidth.astype(np.float64)
    src, dst = request.vl_src.astype(np.int64), request.vl_dst.astype(np.int64)

    # objective
    c_x = node_charges(prices, request.vnf_demand_units)  # (n, N)
    slots = np.arange(m) if prices.link.shape[1] > 1 else np.zeros(m, dtype=np.int64)
    c_f = prices.link[substrate.arc_link][:, slots].T * (bw / BW_UNIT)[:, None]  # (m, A)
    c = np.concatenate([c_x.ravel(), c_f.ravel()])

    # QoS, per VL and arc
    delay_bound = np.asarray(request.vl_delay_ms, dtype=np.float64)
    loss_bound = loss_budget(request.vl_loss)
    delay_coef, delay_rhs = _qos_rows(substrate.arc_delay_ms, delay_bound)
    loss_coef, loss_rhs = _qos_rows(substrate.arc_neg_log1p_loss, loss_bound)
    slack = 1.0 + QOS_TOLERANCE - qos_margin
    delay_rhs, loss_rhs = delay_rhs * slack + QOS_TOLERANCE, loss_rhs * slack + QOS_TOLERANCE

    # upper bounds
    ub_x = (node_residual[None, :, :] >= demand[:, None, :]).all(axis=2)  # (n, N)
    ub_f = (
        (arc_residual[None, :] >= request.vl_bandwidth[:, None])
        & (delay_coef <= delay_rhs[:, None])
        & (loss_coef <= loss_rhs[:, None])
    )  # (m, A)
    ub = np.concatenate([ub_x.ravel(), ub_f.ravel()]).astype(np.float64)

    f_index = nx + np.arange(m * na).reshape(m, na)
    x_index = np.arange(nx).reshape(n, nn)
    rows, cols, data = [], [], []
    # 1. each VNF on exactly one node: rows [0, n)
    rows.append(np.repeat(np.arange(n), nn))
    cols.append(x_index.ravel())
    data.append(np.ones(nx))
    # 2. node capacity per resource: rows n + node * 3 + k
    off = n
    v_i, n_i, r_i = np.meshgrid(np.arange(n), np.arange(nn), np.arange(3), indexing="ij")
    rows.append(off + n_i.ravel() * 3 + r_i.ravel())
    cols.append(x_index[v_i, n_i].ravel())
    data.append(demand[v_i, r_i].ravel().astype(np.float64))
    # 3. flow conservation: out(n) - in(n) - x[src_e, n] + x[dst_e, n] = 0, rows off + e * N + node
    off += 3 * nn
    e_rep = np.repeat(np.arange(m), len(k.incidence_rows))
    rows.append(off + e_rep * nn + np.tile(k.incidence_rows, m))
    cols.append(f_index[e_rep, np.tile(k.incidence_arcs, m)])
    data.append(np.tile(k.incidence_data, m))
    e_x = np.repeat(np.arange(m), nn)
    node_x = np.tile(np.arange(nn), m)
    rows += [off + e_x * nn + node_x] * 2
    cols += [x_index[src[e_x], node_x], x_index[dst[e_x], node_x]]
    data += [-np.ones(m * nn), np.ones(m * nn)]
    # 4. arc bandwidth per direction: rows off + arc
    off += m * nn
    rows.append(off + np.tile(np.arange(na), m))
    cols.append(f_index.ravel())
    data.append(np.repeat(bw, na))
    # 5. delay and 6. loss per VL: rows off + e
    off += na
    rows += [off + np.repeat(np.arange(m), na), off + m + np.repeat(np.arange(m), na)]
    cols += [f_index.ravel(), f_index.ravel()]
    data += [delay_coef.ravel(), loss_coef.ravel()]
    num_rows = off + 2 * m

    lb_rows = np.concatenate([np.ones(n), np.full(3 * nn, -np.inf), np.zeros(m * nn), np.full(na + 2 * m, -np.inf)])
    ub_rows = np.concatenate(
        [np.ones(n), node_residual.ravel().astype(np.float64), np.zeros(m * nn),
         arc_residual.astype(np.float64), delay_rhs, loss_rhs]
    )  # fmt: skip
    matrix = csr_array(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(num_rows, nx + m * na)
    )
    return c, LinearConstraint(matrix, lb_rows, ub_rows), ub


def embedding_cost(request: Request, embedding: Embedding, prices: Prices, substrate: Substrate) -> float:
    """What the client pays for ``embedding`` at ``prices``: comparable across algorithms."""
    return float(domain_revenue(request, substrate, prices, embedding.placement, embedding.paths).sum())


def simple_path(substrate: Substrate, chosen: np.ndarray, src: int, dst: int) -> list[int] | None:
    """Fewest-arc path from ``src`` to ``dst`` over the ``chosen`` arcs (BFS), dropping any cycles.

    A subset of the chosen arcs, so it is no slower, lossier or dearer.
    """
    if src == dst:
        return []
    via: dict[int, int] = {src: -1}
    queue = deque([src])
    arc_src = substrate.arc_src
    while queue:
        u = queue.popleft()
        for v, arc in substrate.adjacency[u]:
            if chosen[arc] and v not in via:
                via[v] = arc
                if v == dst:
                    path = []
                    while v != src:
                        path.append(via[v])
                        v = int(arc_src[via[v]])
                    return path[::-1]
                queue.append(v)
    return None


def _meets_qos(request: Request, substrate: Substrate, paths: list[list[int]]) -> bool:
    """The client's own checks, sum of delays and 1 - prod(1 - loss), with the model's tiny slack."""
    delay, survival = substrate.arc_delay_ms, substrate.arc_survival
    for e, path in enumerate(paths):
        d_bound, l_bound = float(request.vl_delay_ms[e]), float(request.vl_loss[e])
        if sum(delay[a] for a in path) > d_bound * (1 + QOS_TOLERANCE) + QOS_TOLERANCE:
            return False
        if 1.0 - float(np.prod(survival[path])) > l_bound * (1 + QOS_TOLERANCE) + QOS_TOLERANCE:
            return False
    return True


def _solve(c, constraints, ub, time_limit_s: float):
    return milp(
        c,
        constraints=constraints,
        integrality=np.ones(len(c)),
        bounds=Bounds(0, ub),
        options={"time_limit": time_limit_s, "disp": False, "mip_rel_gap": MIP_REL_GAP},
    )


def milp_embed(
    request: Request,
    prices: Prices,
    substrate: Substrate,
    node_residual: np.ndarray,
    arc_residual: np.ndarray,
    time_limit_s: float = TIME_LIMIT_S,
) -> MilpResult:
    """The least-payment all-or-nothing embedding against the given residuals (left untouched).

    HiGHS accepts rows violated by up to its feasibility tolerance; if that
    lets a path past a delay or loss bound, the model is solved once more with
    the QoS rows tightened by :data:`RETRY_MARGIN`.
    """
    start = time.perf_counter()
    n, nn = request.num_vnfs, substrate.num_nodes
    for margin in (0.0, RETRY_MARGIN):
        c, constraints, ub = build_model(request, prices, substrate, node_residual, arc_residual, margin)
        left = max(time_limit_s - (time.perf_counter() - start), 1e-3)
        res = _solve(c, constraints, ub, left)
        if res.status == 2:
            return _nothing(request, substrate, "infeasible", Reason.INFEASIBLE, start)
        if res.status not in (0, 1):
            raise RuntimeError(f"ilp: HiGHS failed: {res.message}")
        if res.x is None:
            return _nothing(request, substrate, "timeout", Reason.TIME_LIMIT, start)
        chosen = res.x > 0.5
        placement = chosen[: n * nn].reshape(n, nn).argmax(axis=1).astype(np.int64)
        arcs = chosen[n * nn :].reshape(request.num_vls, -1)
        paths = [
            simple_path(substrate, arcs[e], int(placement[request.vl_src[e]]), int(placement[request.vl_dst[e]]))
            for e in range(request.num_vls)
        ]
        if any(p is None for p in paths):
            raise RuntimeError("ilp: a HiGHS solution has a VL with no path between its VNFs")
        if _meets_qos(request, substrate, paths):
            break
    else:
        return _nothing(request, substrate, "infeasible", Reason.INFEASIBLE, start)
    earned = domain_revenue(request, substrate, prices, placement, paths)
    embedding = Embedding(placement=placement, paths=tuple(paths), domain_revenue=earned)
    status = "optimal" if res.status == 0 else "feasible"
    return MilpResult(status, embedding, float(earned.sum()), time.perf_counter() - start)


def _nothing(request: Request, substrate: Substrate, status: str, reason: Reason, start: float) -> MilpResult:
    return MilpResult(status, rejected(request, substrate.num_domains, reason, "ilp"), None, time.perf_counter() - start)
