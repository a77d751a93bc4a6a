"""A replayable record of a run: substrate.json and events.jsonl.

Units: node resources in normalized units, bandwidth in Mbit/s (per
direction), delay in ms, loss as a fraction (0.005 = 0.5%). Node ids are the
simulator's node indices (0..N-1, in GML id order).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from mdembed.embedding.client import Embedding
from mdembed.core.io import naming, to_json, write_json
from mdembed.network.substrate import BW_UNIT, NODE_UNIT, Substrate
from mdembed.workload.requests import Request


def substrate_record(substrate: Substrate) -> dict[str, Any]:
    s = substrate
    return {
        "name": s.name,
        "num_domains": s.num_domains,
        "nodes": [
            {
                "id": n,
                "label": s.labels[n],
                "domain": int(s.node_domain[n]),
                "capacity": (s.node_capacity[n] / NODE_UNIT).tolist(),
            }
            for n in range(s.num_nodes)
        ],
        "links": [
            {
                "u": int(u),
                "v": int(v),
                "owner": int(s.link_owner[link]),
                "bandwidth": float(s.link_bandwidth[link] / BW_UNIT),
                "delay_ms": float(s.link_delay_ms[link]),
                "loss": float(s.link_loss[link]),
            }
            for link, (u, v) in enumerate(s.link_ends.tolist())
        ],
    }


class TraceWriter:
    """Streams events to events.jsonl.partial and renames it only when the run completes."""

    def __init__(self, out_dir: Path, substrate: Substrate) -> None:
        self.substrate = substrate
        write_json(out_dir / "substrate.json", substrate_record(substrate))
        self._final = out_dir / "events.jsonl"
        self._partial = out_dir / "events.jsonl.partial"
        self._file: IO[str] = self._partial.open("w", encoding="utf-8")

    def _write(self, event: dict[str, Any]) -> None:
        with naming(self._final):
            self._file.write(to_json(self._final, event, separators=(",", ":")) + "\n")

    def arrival(self, request: Request) -> None:
        self._write(
            {
                "t": request.arrival,
                "event": "arrival",
                "request": request.id,
                "vnfs": (request.vnf_demand / NODE_UNIT).tolist(),
                "vls": [
                    {
                        "src": int(request.vl_src[e]),
                        "dst": int(request.vl_dst[e]),
                        "bandwidth": float(request.vl_bandwidth[e] / BW_UNIT),
                        "delay_ms": float(request.vl_delay_ms[e]),
                        "loss": float(request.vl_loss[e]),
                    }
                    for e in range(request.num_vls)
                ],
                "lifetime": request.lifetime,
            }
        )

    def decision(self, request: Request, embedding: Embedding) -> None:
        if not embedding.holds_anything:
            self._write({"t": request.arrival, "event": "reject", "request": request.id, "reason": embedding.reason_text})
            return
        placement = [node if node >= 0 else None for node in embedding.placement.tolist()]
        paths = []
        for e, arcs in enumerate(embedding.paths):
            src = placement[int(request.vl_src[e])]
            paths.append(None if arcs is None else self.substrate.path_nodes(src, arcs))
        event = {"t": request.arrival, "event": "accept", "request": request.id, "placement": placement, "paths": paths}
        if not embedding.accepted:  # partial admission: what is embedded stays, the rest is null
            event["reason"] = embedding.reason_text
        self._write(event)

    def departure(self, t: float, request_id: int) -> None:
        self._write({"t": t, "event": "depart", "request": request_id})

    def close(self) -> None:
        with naming(self._final):
            self._file.close()
        os.replace(self._partial, self._final)

    def abandon(self) -> None:
        """Close without marking the trace complete: it stays as events.jsonl.partial."""
        self._file.close()
