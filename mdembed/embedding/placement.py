"""Cost-based First-Fit (CFF) placement of VNFs (DESIGN 4.3)."""

from __future__ import annotations

import numpy as np


def first_fit(node_cost: np.ndarray, node_residual: np.ndarray, demand: np.ndarray, tie_order: np.ndarray) -> int:
    """The cheapest node whose residual covers ``demand``; -1 if none does.

    Nodes are tried in ascending cost; nodes of equal cost in ``tie_order``
    (a permutation of the node indices).
    """
    fits = (node_residual >= demand).all(axis=1)
    candidates = tie_order[fits[tie_order]]
    if len(candidates) == 0:
        return -1
    return int(candidates[np.argmin(node_cost[candidates])])


def cff_place(
    node_charges: np.ndarray, node_residual: np.ndarray, demands: np.ndarray, tie_order: np.ndarray
) -> np.ndarray:
    """Place each VNF in order on its first-fit node; -1 where none fits.

    ``node_charges`` (n, N) is what each VNF pays on each node, ``demands`` (n, 3)
    its integer demand. Each placement consumes residual for the next one;
    the caller's array is left untouched.
    """
    residual = node_residual.copy()
    placement = np.full(len(demands), -1, dtype=np.int64)
    for v, demand in enumerate(demands):
        node = first_fit(node_charges[v], residual, demand, tie_order)
        if node >= 0:
            residual[node] -= demand
            placement[v] = node
    return placement
