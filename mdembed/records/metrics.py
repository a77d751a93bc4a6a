"""Per-request counters, per-window rows of metrics.csv and the run summary (DESIGN 6).

Definitions (each column of metrics.csv and key of summary.json):

- ``acceptance_ratio``: fully embedded VNF-FGs / arrived VNF-FGs.
- ``vnf_acceptance_ratio``, ``vl_acceptance_ratio``: VNFs (VLs) that were
  embedded and held / VNFs (VLs) requested. Under all-or-nothing admission a
  rejected request holds nothing; under partial admission its embedded part
  counts.
- ``revenue``: what the domains earned, sum over embedded elements of
  price x demand (DESIGN 4.6); ``domain{d}_revenue`` per domain.
- ``cost``: substrate resources consumed, VNF demand (normalized units,
  summed over CPU, RAM, storage) + VL bandwidth (Mbit/s) x links on its path.
- ``domain{d}_unit_price``: domain revenue / resource units it sold (node
  units + Mbit/s x own links).
- ``domain{d}_node_utilization``, ``domain{d}_link_utilization``: used /
  capacity over the domain's nodes (mean of the 3 resources) and own links,
  at the window's end; ``domain{d}_hosted_vnfs``, ``domain{d}_hosted_vls``:
  VNFs on its nodes and VLs crossing its links (or sharing one of its
  nodes) at the window's end.
- ``domain{d}_mean_price``: the mean of the domain's whole price table for
  the request (every own node, VNF slot and resource, every own link and VL
  slot; a price shared by slots counts once per slot), averaged over the
  window's requests. One definition for every algorithm and price
  granularity (:meth:`mdembed.embedding.prices.Prices.domain_means`).
- ``domain_price_load_spearman`` (summary, evaluation): per domain, Spearman's
  rank correlation over the requests between the domain's node utilization
  when the request arrived (what it observed) and the mean price it quoted;
  positive when a domain's prices rise with its own load (NaN when its
  prices never change).
- ``price_by_load`` (summary, evaluation): per domain, the mean price its
  elements (each node resource, each link) quoted in each tenth of their own
  used share when the request arrived (a link's busier direction), and how
  many quotes fell in each: does a domain's price follow its load, element
  by element? Null for algorithms without a price table (sa).
- ``phase``: ``train`` for a learner's training windows, ``eval`` for the
  evaluation (the only phase of a static baseline).
- ``jain_index``: Jain's fairness index of the domains' node utilization at
  the window's end (1 = perfectly balanced; 1 when nothing is used).
- ``decision_time_ms_*``: wall time of the algorithm's decision per request.
- ``learner_*`` (training windows only): the learner's own diagnostics at the
  window's end, added by the training loop (:mod:`mdembed.learning.loop`); for
  DDPG ``learner_updates`` (gradient steps so far), ``learner_noise_sigma``
  (exploration noise), ``learner_critic_loss`` and ``learner_actor_loss``
  (of the last update, mean over domains), and per domain, averaged over
  the window's updates (each on its batch of 32): ``learner_domain{d}_at_bounds``
  (share of the actor's outputs within 1% of the price range from a bound:
  1 is a saturated actor whose tanh passes no gradient),
  ``learner_domain{d}_dq_da`` (mean |dQ/da| over the domain's prices: what
  its critic tells the actor), ``learner_domain{d}_dq_dz`` (mean |dQ/dz| at
  the actor output's pre-activation z: what reaches the actor's weights,
  after the tanh or the inverted gradients; near 0 for a stuck actor), ``learner_domain{d}_q`` (mean Q(s, a), in
  revenue x ``reward_scale``), ``learner_domain{d}_critic_loss`` and
  ``learner_domain{d}_actor_loss``.

utilization.csv (the evaluation of a market run, :class:`ElementUtilization`):
one row per node and resource (``kind`` node, ``resource`` cpu, ram or
storage) and per link (``kind`` link, ``resource`` bandwidth), with ``id``
(node or link index), ``label`` (the node's, or its ends' joined by ``--``),
``domain`` (a node's domain, a link's owner), ``capacity`` (normalized units;
Mbit/s per direction), ``mean`` and ``end``. A link's used share counts both
directions together (used over twice its capacity), as
``domain{d}_link_utilization`` does. ``mean`` is per request, not
time-weighted: the mean over the evaluation's requests of the used share just
after each decision, the instants at which metrics.csv's windows take their
snapshots (every request's instead of every ``window``-th one's);
``end`` is the used share after the last decision, that of metrics.csv's last
evaluation row. Weighted by capacity and summed over a domain, ``end`` gives
that row's ``domain{d}_node_utilization`` (mean over the 3 resources) and
``domain{d}_link_utilization``, and ``mean`` gives the mean of those columns
over the evaluation's rows when ``metrics.window=1``.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from mdembed.embedding.client import Embedding
from mdembed.embedding.prices import Prices
from mdembed.network.substrate import BW_UNIT, NODE_RESOURCES, NODE_UNIT, Substrate, SubstrateState
from mdembed.workload.requests import Request


PRICE_LOAD_BINS = 10  # bins of an element's used share for price_by_load: [0, 0.1), ..., [0.9, 1]

def jain_index(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    square_sum = float((values**2).sum())
    if square_sum == 0.0:
        return 1.0
    return float(values.sum() ** 2 / (len(values) * square_sum))


def _ratio(num: float, den: float) -> float | None:
    """num / den; None (null in summary.json) where it is undefined: NaN is kept for results gone wrong."""
    return float(num / den) if den else None


class ElementUtilization:
    """Each node resource's and each link's used share, summed over the evaluation's decisions (utilization.csv)."""

    def __init__(self, substrate: Substrate) -> None:
        self.substrate = substrate
        self.count = 0
        self.node_sum = np.zeros(substrate.node_capacity.shape)  # (N, 3) sum of used shares
        self.link_sum = np.zeros(substrate.num_links)
        self._link_capacity = 2.0 * substrate.link_bandwidth  # both directions
        self.node_end, self.link_end = self.node_sum.copy(), self.link_sum.copy()

    def _shares(self, state: SubstrateState) -> tuple[np.ndarray, np.ndarray]:
        s = self.substrate
        node = (s.node_capacity - state.node_residual) / s.node_capacity
        link = (s.arc_bandwidth - state.arc_residual).reshape(-1, 2).sum(axis=1) / self._link_capacity
        return node, link

    def sample(self, state: SubstrateState) -> None:
        """After a decision: add every element's used share."""
        node, link = self._shares(state)
        self.node_sum += node
        self.link_sum += link
        self.count += 1

    def finish(self, state: SubstrateState) -> None:
        """After the last decision, before the departures are drained."""
        self.node_end, self.link_end = self._shares(state)

    def table(self) -> pd.DataFrame:
        s, n, e = self.substrate, self.substrate.num_nodes, self.substrate.num_links
        r = len(NODE_RESOURCES)
        count = max(self.count, 1)
        ends = s.link_ends.tolist()
        nodes = pd.DataFrame({
            "kind": "node", "id": np.repeat(np.arange(n), r), "label": np.repeat(np.asarray(s.labels, dtype=object), r),
            "domain": np.repeat(s.node_domain, r), "resource": np.tile(NODE_RESOURCES, n),
            "capacity": (s.node_capacity / NODE_UNIT).ravel(), "mean": (self.node_sum / count).ravel(),
            "end": np.asarray(self.node_end).ravel(),
        })  # fmt: skip
        links = pd.DataFrame({
            "kind": "link", "id": np.arange(e), "label": [f"{s.labels[u]}--{s.labels[v]}" for u, v in ends],
            "domain": s.link_owner, "resource": "bandwidth", "capacity": s.link_bandwidth / BW_UNIT,
            "mean": self.link_sum / count, "end": np.asarray(self.link_end),
        })  # fmt: skip
        return pd.concat([nodes, links], ignore_index=True)


class MetricsRecorder:
    """Collects one record per request and a snapshot of the substrate per window."""

    def __init__(self, substrate: Substrate, num_requests: int, window: int, phase: str = "eval") -> None:
        self.substrate = substrate
        self.window = window
        self.phase = phase
        d = substrate.num_domains
        self.count = 0
        self.time = np.zeros(num_requests)
        self.accepted = np.zeros(num_requests, dtype=bool)
        self.vnfs = np.zeros((num_requests, 2), dtype=np.int64)  # requested, embedded
        self.vls = np.zeros((num_requests, 2), dtype=np.int64)
        self.revenue = np.zeros((num_requests, d))
        self.units_sold = np.zeros((num_requests, d))
        self.cost = np.zeros(num_requests)
        self.decision_ns = np.zeros(num_requests, dtype=np.int64)
        self.mean_price = np.full((num_requests, d), np.nan)
        self.load = np.full((num_requests, d), np.nan)  # node utilization each domain saw before deciding
        # each element's quoted price by its used share when the request arrived, binned (PRICE_LOAD_BINS)
        self.price_load_sum = np.zeros((d, PRICE_LOAD_BINS))
        self.price_load_count = np.zeros((d, PRICE_LOAD_BINS), dtype=np.int64)
        self._element_used: np.ndarray | None = None
        self._table: Prices | None = None  # the last price table recorded, and what was derived from it:
        self._table_means = np.full(d, np.nan)  # each domain's mean price
        self._table_elements = np.zeros(0)  # each element's price (node resources, then links), slots averaged
        self._element_domain = np.concatenate([np.repeat(substrate.node_domain, len(NODE_RESOURCES)), substrate.link_owner])
        self._membership = np.zeros((d, substrate.num_nodes))  # (D, N): node n belongs to domain d
        for i, nodes in enumerate(substrate.domain_nodes):
            self._membership[i, nodes] = 1.0
        self._domain_capacity = self._membership @ substrate.node_capacity
        self.priced = False  # whether the algorithm quoted prices (else domain_mean_price is undefined)
        self.reasons: Counter[str] = Counter()
        self.rows: list[dict[str, Any]] = []
        self._started = time.perf_counter()

    def record_load(self, state: SubstrateState) -> None:
        """Note each domain's node utilization as the next request arrives (before any decision on it)."""
        self.load[self.count] = self._node_utilization(state)
        s = self.substrate
        node_used = 1.0 - state.node_residual / s.node_capacity
        link_used = 1.0 - state.arc_residual.reshape(-1, 2).min(axis=1) / s.link_bandwidth  # the busier direction
        self._element_used = np.clip(np.concatenate([node_used.ravel(), link_used]), 0.0, 1.0)

    def record(
        self,
        request: Request,
        embedding: Embedding,
        decision_ns: int,
        state: SubstrateState,
        prices: Prices | None = None,
    ) -> None:
        """``prices``: the table quoted for this request, None for an algorithm without one. Each domain's mean
        price (:meth:`~mdembed.embedding.prices.Prices.domain_means`) is recorded, and each element's price against
        its used share as the request arrived (when :meth:`observe` saw it). A table recorded again (static prices)
        is not summarized again."""
        i = self.count
        self.time[i] = request.arrival
        self.accepted[i] = embedding.accepted
        self.vnfs[i] = request.num_vnfs, embedding.num_vnfs_embedded
        self.vls[i] = request.num_vls, embedding.num_vls_embedded
        self.revenue[i] = embedding.domain_revenue
        self.decision_ns[i] = decision_ns
        if prices is not None:
            if prices is not self._table:
                self._table = prices
                self._table_means = prices.domain_means(self.substrate)
                self._table_elements = np.concatenate([prices.node.mean(axis=1).ravel(), prices.link.mean(axis=1)])
            self.mean_price[i] = self._table_means
            self.priced = True
        if prices is not None and self._element_used is not None:
            bins = np.minimum((self._element_used * PRICE_LOAD_BINS).astype(np.int64), PRICE_LOAD_BINS - 1)
            np.add.at(self.price_load_sum, (self._element_domain, bins), self._table_elements)
            np.add.at(self.price_load_count, (self._element_domain, bins), 1)
            self._element_used = None
        if embedding.holds_anything:
            self.cost[i] = embedding.cost(request)
            self.units_sold[i] = self._units_sold(request, embedding)
        if embedding.reason is not None:
            self.reasons[embedding.reason.value] += 1  # plain str keys: checkpoints load with weights_only
        self.count += 1
        if self.count % self.window == 0:
            self._close_window(state)

    def finish(self, state: SubstrateState) -> None:
        if self.count % self.window:
            self._close_window(state)

    def _units_sold(self, request: Request, embedding: Embedding) -> np.ndarray:
        s = self.substrate
        units = np.zeros(s.num_domains)
        placed = embedding.placement >= 0
        np.add.at(units, s.node_domain[embedding.placement[placed]], request.vnf_demand[placed].sum(axis=1) / NODE_UNIT)
        for path, bw in zip(embedding.paths, request.vl_bandwidth):
            for arc in path or ():
                units[s.arc_owner[arc]] += bw / BW_UNIT
        return units

    def _close_window(self, state: SubstrateState) -> None:
        start = len(self.rows) * self.window
        w = slice(start, self.count)
        self.rows.append(
            {
                "phase": self.phase,
                "window": len(self.rows),
                "requests": self.count,
                "time": float(self.time[self.count - 1]),
                **self._totals(w),
                **self._snapshot(state),
            }
        )

    def _totals(self, w: slice) -> dict[str, Any]:
        vnfs, vls = self.vnfs[w].sum(axis=0), self.vls[w].sum(axis=0)
        revenue, cost = float(self.revenue[w].sum()), float(self.cost[w].sum())
        ms = self.decision_ns[w] / 1e6
        row = {
            "acceptance_ratio": float(self.accepted[w].mean()),
            "vnf_acceptance_ratio": _ratio(vnfs[1], vnfs[0]),
            "vl_acceptance_ratio": _ratio(vls[1], vls[0]),
            "revenue": revenue,
            "cost": cost,
            "revenue_to_cost": _ratio(revenue, cost),
            "decision_time_ms_median": float(np.median(ms)),
            "decision_time_ms_p95": float(np.percentile(ms, 95)),
        }
        domain_revenue = self.revenue[w].sum(axis=0)
        sold = self.units_sold[w].sum(axis=0)
        quoted = self.mean_price[w]
        for d in range(self.substrate.num_domains):
            row[f"domain{d}_revenue"] = float(domain_revenue[d])
            row[f"domain{d}_unit_price"] = _ratio(domain_revenue[d], sold[d])
            column = quoted[:, d]
            row[f"domain{d}_mean_price"] = float(column.mean()) if self.priced else None
        return row

    def _node_utilization(self, state: SubstrateState) -> np.ndarray:
        """(D,) used / capacity over each domain's nodes, mean of the 3 resources."""
        used = self._membership @ (self.substrate.node_capacity - state.node_residual)  # (D, 3), one product
        return (used / self._domain_capacity).mean(axis=1)

    def price_load_spearman(self) -> list[float | None]:
        """Per domain: rank correlation of its observed node utilization and its mean quoted price, over the requests."""
        out = []
        for d in range(self.substrate.num_domains):
            both = pd.DataFrame({"load": self.load[: self.count, d], "price": self.mean_price[: self.count, d]}).dropna()
            varies = len(both) > 2 and both.load.nunique() > 1 and both.price.nunique() > 1
            out.append(float(both.load.corr(both.price, method="spearman")) if varies else None)
        return out

    def price_by_load(self) -> dict[str, Any] | None:
        """Per domain, the mean price its elements (node resources, links) quoted in each bin of their own used share,
        with the bin's count; None when no prices were recorded against loads."""
        if not self.price_load_count.any():
            return None
        count = self.price_load_count
        mean = np.divide(self.price_load_sum, count, out=np.zeros_like(self.price_load_sum), where=count > 0)
        return {
            "used_share_bins": [round(b / PRICE_LOAD_BINS, 6) for b in range(PRICE_LOAD_BINS + 1)],
            "mean_price": [[float(m) if c else None for m, c in zip(row, counts)] for row, counts in zip(mean, count)],
            "count": count.tolist(),
        }

    def _snapshot(self, state: SubstrateState) -> dict[str, Any]:
        s = self.substrate
        arc_used = s.arc_bandwidth - state.arc_residual
        node_util = self._node_utilization(state)
        row: dict[str, Any] = {"jain_index": jain_index(node_util)}
        for d, arcs in enumerate(s.domain_arcs):
            row[f"domain{d}_node_utilization"] = float(node_util[d])
            row[f"domain{d}_link_utilization"] = _ratio(arc_used[arcs].sum(), s.arc_bandwidth[arcs].sum())
            row[f"domain{d}_hosted_vnfs"] = int(state.hosted_vnfs[d])
            row[f"domain{d}_hosted_vls"] = int(state.hosted_vls[d])
        return row

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def summary(self) -> dict[str, Any]:
        n = self.count
        w = slice(0, n)
        totals = self._totals(w)
        vnfs, vls = self.vnfs[w].sum(axis=0), self.vls[w].sum(axis=0)
        ms = self.decision_ns[w] / 1e6
        jain = [row["jain_index"] for row in self.rows]
        return {
            "requests": n,
            "accepted": int(self.accepted[w].sum()),
            "acceptance_ratio": totals["acceptance_ratio"],
            "vnfs_requested": int(vnfs[0]),
            "vnfs_embedded": int(vnfs[1]),
            "vnf_acceptance_ratio": totals["vnf_acceptance_ratio"],
            "vls_requested": int(vls[0]),
            "vls_embedded": int(vls[1]),
            "vl_acceptance_ratio": totals["vl_acceptance_ratio"],
            "revenue": totals["revenue"],
            "cost": totals["cost"],
            "revenue_to_cost": totals["revenue_to_cost"],
            "domain_revenue": [totals[f"domain{d}_revenue"] for d in range(self.substrate.num_domains)],
            "domain_unit_price": [totals[f"domain{d}_unit_price"] for d in range(self.substrate.num_domains)],
            "domain_mean_price": [totals[f"domain{d}_mean_price"] for d in range(self.substrate.num_domains)],
            "domain_hosted_vnfs_mean": [
                float(np.mean([row[f"domain{d}_hosted_vnfs"] for row in self.rows])) for d in range(self.substrate.num_domains)
            ],
            "domain_hosted_vls_mean": [
                float(np.mean([row[f"domain{d}_hosted_vls"] for row in self.rows])) for d in range(self.substrate.num_domains)
            ],
            "domain_price_load_spearman": self.price_load_spearman(),
            "price_by_load": self.price_by_load(),
            "jain_index_mean": float(np.mean(jain)) if jain else None,
            "decision_time_ms_median": float(np.median(ms)),
            "decision_time_ms_p95": float(np.percentile(ms, 95)),
            "decision_time_ms_mean": float(ms.mean()),
            "reject_reasons": dict(sorted(self.reasons.items())),
            "wall_time_s": time.perf_counter() - self._started,
        }

    _ARRAYS = ("time", "accepted", "vnfs", "vls", "revenue", "units_sold", "cost", "decision_ns", "mean_price")

    def state_dict(self) -> dict[str, Any]:
        """Everything recorded so far, as tensors and plain values (for checkpoints)."""
        import torch

        state: dict[str, Any] = {name: torch.from_numpy(getattr(self, name).copy()) for name in self._ARRAYS}
        state.update(count=self.count, rows=self.rows, reasons=dict(self.reasons))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self._ARRAYS:
            array = state[name].numpy()
            if array.shape != getattr(self, name).shape:
                raise ValueError(f"saved metrics {name} have shape {array.shape}, expected {getattr(self, name).shape}")
            getattr(self, name)[...] = array
        self.count = int(state["count"])
        self.rows = [dict(row) for row in state["rows"]]
        self.reasons = Counter(state["reasons"])
