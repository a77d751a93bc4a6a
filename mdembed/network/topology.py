"""Substrate topologies read from Internet Topology Zoo GML files.

The Zoo files have quirks (repeated labels, parallel edges without a
``multigraph`` flag, self-loops, nodes without coordinates; see
``mdembed/topologies/SOURCES.md``), so loading normalises every file to one simple,
connected, undirected graph with nodes numbered 0..N-1. Anything wrong with a
file becomes a one-line :class:`TopologyError` naming the file.
"""

from __future__ import annotations

import codecs
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from mdembed.core.errors import ConfigError, TopologyError

EARTH_RADIUS_KM = 6371.0

_GRAPH_OPEN = re.compile(r"^\s*graph\s*\[", re.MULTILINE)
_GRAPH_OPEN_ANYWHERE = re.compile(r"\bgraph\s*\[")


@dataclass(frozen=True, eq=False)
class Topology:
    """A simple, connected, undirected substrate graph; arrays are read-only.

    ``eq=False``: numpy fields make field-wise equality ambiguous, so two
    topologies compare (and hash) by identity.
    """

    name: str
    labels: tuple[str, ...]
    edges: np.ndarray  # (E, 2) int64, u < v, rows sorted, no duplicates
    lat: np.ndarray  # (N,) float64, nan where unknown
    lon: np.ndarray  # (N,) float64, nan where unknown

    @property
    def num_nodes(self) -> int:
        return len(self.labels)

    @property
    def num_links(self) -> int:
        return int(self.edges.shape[0])


def topologies_dir() -> Path:
    """The folder of shipped GML files, found relative to the package."""
    return Path(__file__).resolve().parents[1] / "topologies"


def _shipped_files() -> dict[str, Path]:
    return {p.stem.lower(): p for p in sorted(topologies_dir().glob("*.gml"))}


def known_topologies() -> list[str]:
    """Names accepted by ``load_topology(name=...)``: lower-cased file stems."""
    return sorted(_shipped_files())


def neighbour_lists(topology: Topology) -> list[list[int]]:
    """Sorted neighbours of every node, for set-up code that walks the graph."""
    adj: list[list[int]] = [[] for _ in range(topology.num_nodes)]
    for u, v in topology.edges.tolist():
        adj[u].append(v)
        adj[v].append(u)
    return [sorted(a) for a in adj]


def load_topology(
    name: str | None = None, path: str | os.PathLike | None = None
) -> Topology:
    """Load a shipped topology by name, or any GML file by path (path wins)."""
    if path is not None:
        file = Path(path)
        return _load_file(file, file.stem.lower())
    if name is None:
        raise ConfigError("load_topology needs a topology name or a path")
    files = _shipped_files()
    key = str(name).lower()
    if key not in files:
        known = ", ".join(sorted(files)) or "none"
        raise TopologyError(f"unknown topology {name!r}; known: {known}")
    return _load_file(files[key], key)


def link_lengths_km(topology: Topology) -> np.ndarray:
    """Great-circle length of every link; nan where an end has no coordinates."""
    u, v = topology.edges[:, 0], topology.edges[:, 1]
    return haversine_km(topology.lat[u], topology.lon[u], topology.lat[v], topology.lon[v])


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Haversine distance on a sphere of radius 6371 km; nan propagates."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    # clip: rounding can push h a hair outside [0, 1] for antipodes
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


_MAX_PROBLEM_CHARS = 200


def _fail(file: Path, problem: str) -> TopologyError:
    """One printable line: parser messages can quote raw (binary, huge) input."""
    printable = "".join(c if c.isprintable() else " " for c in str(problem))
    one_line = " ".join(printable.split())
    if len(one_line) > _MAX_PROBLEM_CHARS:
        one_line = one_line[: _MAX_PROBLEM_CHARS - 3] + "..."
    return TopologyError(f"topology file '{file}': {one_line}")


MAX_FILE_BYTES = 100_000_000  # the largest Topology Zoo file is 1 MB; this bounds what a mistaken path reads


def check_file(file: Path) -> None:
    """Refuse, before reading a byte, a path that is not a regular file of a sane size (a device such as
    /dev/zero would be read until memory runs out, a FIFO would wait for a writer forever)."""
    try:
        info = file.stat()
    except OSError as err:
        raise _fail(file, f"cannot read it ({err.strerror or type(err).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, a pipe or a socket)"
        raise _fail(file, f"it is {kind}, not a GML file")
    if info.st_size > MAX_FILE_BYTES:
        raise _fail(file, f"it holds {info.st_size} bytes, more than a topology file's {MAX_FILE_BYTES}")


def _read_text(file: Path) -> str:
    check_file(file)
    try:
        data = file.read_bytes()
    except OSError as err:
        raise _fail(file, f"cannot read it ({err.strerror or type(err).__name__})") from None
    data = data.removeprefix(codecs.BOM_UTF8)  # an editor's UTF-8 byte-order mark is not part of the GML
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # GML's own specification says ISO-8859-1; latin-1 decodes any bytes
        return data.decode("latin-1")


def _as_multigraph_text(text: str) -> str:
    """Force multigraph parsing so parallel edges load instead of failing.

    A duplicate ``multigraph`` key becomes a list, which networkx treats as
    true, so files that already carry the flag still parse. Inserted on the
    same line so the parser's line numbers still match the file.
    """
    match = _GRAPH_OPEN.search(text) or _GRAPH_OPEN_ANYWHERE.search(text)
    if match is None:
        return text  # the parser reports the missing graph
    return text[: match.end()] + " multigraph 1 " + text[match.end() :]


def _parse(file: Path, text: str) -> nx.Graph:
    try:
        return nx.parse_gml(_as_multigraph_text(text), label="id")
    except Exception as err:  # networkx raises NetworkXError, ValueError, ...
        raise _fail(file, f"not valid GML ({err or type(err).__name__})") from None


def _coordinate(value: Any, bound: float) -> float:
    """A finite number within +-bound, else nan (missing, text, lists, out of range)."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return math.nan
    if not isinstance(value, (int, float)):
        return math.nan
    value = float(value)
    if not math.isfinite(value) or abs(value) > bound:
        return math.nan
    return value


def _id_order(node_id: Any) -> tuple[int, Any]:
    """Sort key for GML ids: numbers ascending, then anything else as text."""
    if isinstance(node_id, (int, float)) and not isinstance(node_id, bool):
        return (0, node_id)
    return (1, str(node_id))


def _label(node_id: Any, attrs: dict[str, Any]) -> str:
    label = attrs.get("label")
    return str(node_id) if label is None else str(label)


def _simple_edges(graph: nx.Graph, index: dict[Any, int]) -> np.ndarray:
    pairs = {
        (min(a, b), max(a, b))
        for a, b in ((index[s], index[t]) for s, t in graph.edges())
        if a != b
    }
    edges = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    return edges


def _num_components(num_nodes: int, edges: np.ndarray) -> int:
    g = nx.Graph()
    g.add_nodes_from(range(num_nodes))
    g.add_edges_from(edges.tolist())
    return nx.number_connected_components(g)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _load_file(file: Path, name: str) -> Topology:
    graph = _parse(file, _read_text(file))
    ids = sorted(graph.nodes, key=_id_order)
    if not ids:
        raise _fail(file, "the graph has no nodes")
    if len(ids) < 2:
        raise _fail(file, "the graph has only 1 node; a substrate needs at least 2")
    index = {node_id: i for i, node_id in enumerate(ids)}
    edges = _simple_edges(graph, index)
    if edges.shape[0] == 0:
        raise _fail(file, "the graph has no links (self-loops do not count)")
    components = _num_components(len(ids), edges)
    if components > 1:
        raise _fail(
            file, f"the graph is disconnected ({components} components); every node must be reachable"
        )
    attrs = [graph.nodes[i] for i in ids]
    lat = np.array([_coordinate(a.get("Latitude"), 90.0) for a in attrs], dtype=np.float64)
    lon = np.array([_coordinate(a.get("Longitude"), 180.0) for a in attrs], dtype=np.float64)
    return Topology(
        name=name,
        labels=tuple(_label(i, a) for i, a in zip(ids, attrs)),
        edges=_readonly(edges),
        lat=_readonly(lat),
        lon=_readonly(lon),
    )
