"""Positions for every node, including those the GML file left without one.

Geographic partitions need a position per node, but several Zoo topologies
have nodes without coordinates (junction "hyperedge" nodes, external PoPs),
and dropping them would disconnect the graph. Such a node is placed at the
mean of its placed neighbours, repeated so chains of unplaced nodes fill in.

Means are taken on 3-D unit vectors, not on raw degrees, so neighbours on
either side of the antimeridian average to a point between them, not to the
other side of the globe.
"""

from __future__ import annotations

import numpy as np

from mdembed.network.topology import Topology, neighbour_lists


def to_unit_vectors(latlon: np.ndarray) -> np.ndarray:
    """(N, 2) degrees (lat, lon) to (N, 3) points on the unit sphere."""
    lat, lon = np.radians(latlon[:, 0]), np.radians(latlon[:, 1])
    return np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))


def to_latlon(xyz: np.ndarray) -> np.ndarray:
    """(N, 3) vectors (any non-zero length) back to (N, 2) degrees (lat, lon)."""
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    lat = np.degrees(np.arctan2(z, np.hypot(x, y)))
    lon = np.degrees(np.arctan2(y, x))
    return np.column_stack((lat, lon))


def _spherical_mean(xyz: np.ndarray) -> np.ndarray:
    """Direction of the vector sum; falls back to the first point if they cancel."""
    total = xyz.sum(axis=0)
    norm = np.linalg.norm(total)
    return total / norm if norm > 1e-12 else xyz[0]


def estimated_positions(topology: Topology) -> np.ndarray:
    """(N, 2) (lat, lon) in degrees with every entry finite.

    Known nodes keep their coordinates. Unknown ones are filled in rounds:
    each round places every unknown node that has a placed neighbour at the
    mean of those neighbours (all from the previous round, so the result does
    not depend on node order). Whatever stays unplaced gets the mean of all
    known positions, or (0, 0) when no node has coordinates.
    """
    n = topology.num_nodes
    known = np.isfinite(topology.lat) & np.isfinite(topology.lon)
    xyz = np.zeros((n, 3))
    if known.any():
        xyz[known] = to_unit_vectors(np.column_stack((topology.lat, topology.lon))[known])
    adj = neighbour_lists(topology)
    placed = known.copy()
    while True:
        round_updates = {
            i: _spherical_mean(xyz[[j for j in adj[i] if placed[j]]])
            for i in np.flatnonzero(~placed).tolist()
            if any(placed[j] for j in adj[i])
        }
        if not round_updates:
            break
        for i, vec in round_updates.items():
            xyz[i] = vec
            placed[i] = True
    if not placed.all():
        fallback = _spherical_mean(xyz[known]) if known.any() else np.array([1.0, 0.0, 0.0])
        xyz[~placed] = fallback
    latlon = to_latlon(xyz)
    latlon[known, 0] = topology.lat[known]  # exact, no round trip through 3-D
    latlon[known, 1] = topology.lon[known]
    return latlon
