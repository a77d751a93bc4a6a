"""A map of the domains: the substrate on its coordinates, nodes and links coloured by domain.

- :func:`static_map`: a topology split as a run of ``seed`` splits it (the run's recipe,
  :func:`mdembed.network.make.make_substrate`), nothing simulated:
  ``python -m mdembed.market.domain_map --topology bteurope --domains 3 --out docs/figures``;
- :func:`run_map`: a finished market run, its substrate rebuilt from its ``run_settings.json``, with each
  node's and link's mean used share over the evaluation (its ``utilization.csv``,
  :class:`mdembed.records.metrics.ElementUtilization`): node fill and link colour and width show the share, a node's
  edge its domain;
- :func:`plan_maps` and :func:`draw_maps`: what ``mdembed plot DIR`` adds to the other figures: ``domain_map``
  for a single run, ``domain_map_<name>`` per algorithm of a sweep at one load (``--load``, default the highest).

Nodes sit at (longitude, latitude), drawn equirectangular (x stretched by 1 / cos of the mean latitude). A node
the GML file leaves without coordinates is placed by a spring layout (networkx), the located nodes held fixed
and each link's typical length as the spring's, and drawn as a square; the legend says how many. A file with
no coordinates at all is drawn with the Kamada-Kawai layout, and the figure says so. Nodes sharing their
coordinates (BtEurope's two London nodes, in two domains) are drawn apart on a small circle, and counted.
Domains take the Okabe-Ito colours (colour-blind safe; past 8 domains matplotlib's tab20). An inter-domain
link is dashed, in its owner's colour. Nodes are labelled up to 40 of them (:data:`LABEL_LIMIT`). Figures are
sized for an 8.5 cm column (drawn at 3.35 x 2.8 inches, 7 pt text, node labels 5 pt; the white a map's aspect
leaves around it cropped) and written as PNG (300 dpi) and PDF, through ``NAME.partial`` and a rename, as the
other figures are.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap, Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from mdembed.market.tables import jobs_table  # noqa: E402
from mdembed.core.runs import Job  # noqa: E402
from mdembed.core.cli import ArgumentParser  # noqa: E402
from mdembed.settings import TopologySettings  # noqa: E402
from mdembed.core.validate import section
from mdembed.core.errors import MdembedError, command  # noqa: E402
from mdembed.core.io import RUN_SETTINGS, atomic, read_json  # noqa: E402
from mdembed.network.make import make_substrate  # noqa: E402
from mdembed.network.positions import estimated_positions  # noqa: E402
from mdembed.network.substrate import NODE_RESOURCES, Substrate  # noqa: E402
from mdembed.network.topology import Topology, load_topology, topologies_dir  # noqa: E402

# Okabe & Ito (2008), the colour-blind-safe qualitative palette, black last
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
FIGSIZE = (3.35, 2.8)  # inches: an 8.5 cm column
FONT = 7  # pt: title, legend, colour bar
LABEL_FONT = 5  # pt: node labels
LABEL_LIMIT = 40  # nodes: labels are drawn up to this many (Cogentco's 197 would be a blot)
DPI = 300
UTILIZATION_FILE = "utilization.csv"
# used share: light grey (unused) to black (full); no hue, so that the domains' colours stay theirs alone
SHARE_MAP = LinearSegmentedColormap.from_list("used_share", ["#d4d4d4", "#000000"])


def domain_colours(num_domains: int) -> list[str]:
    if num_domains <= len(PALETTE):
        return list(PALETTE[:num_domains])
    tab20 = plt.get_cmap("tab20")
    return [matplotlib.colors.to_hex(tab20(d % 20)) for d in range(num_domains)]


@dataclass(frozen=True, eq=False)
class Layout:
    """Where each node is drawn."""

    xy: np.ndarray  # (N, 2): longitude, latitude in degrees (geographic), else layout units
    laid_out: np.ndarray  # (N,) bool: placed by a layout, the file giving no coordinates
    geographic: bool  # False: no node has coordinates, every one is laid out
    method: str  # the layout of the nodes without coordinates ("spring", "Kamada-Kawai"; "" when none)
    apart: np.ndarray | None = None  # (N,) bool: moved off coordinates another node shares (BtEurope's two Londons)


def layout(topology: Topology) -> Layout:
    """(longitude, latitude) where the file has them; the others laid out (see the module's docstring)."""
    n = topology.num_nodes
    known = np.isfinite(topology.lat) & np.isfinite(topology.lon)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(topology.edges.tolist())
    if known.sum() < 2:  # nothing to hold a map: a plain graph drawing
        pos = nx.kamada_kawai_layout(graph) if n > 1 else {0: np.zeros(2)}
        xy = np.array([pos[i] for i in range(n)])
        return Layout(xy, np.ones(n, dtype=bool), False, "Kamada-Kawai", np.zeros(n, dtype=bool))
    xy = estimated_positions(topology)[:, ::-1].copy()  # (lon, lat); unknown nodes start at their neighbours' mean
    ends = topology.edges[known[topology.edges].all(axis=1)]
    lengths = np.hypot(*(xy[ends[:, 0]] - xy[ends[:, 1]]).T) if len(ends) else np.zeros(0)
    extent = float(np.ptp(xy[known], axis=0).max()) or 1.0
    k = float(np.median(lengths[lengths > 0])) if (lengths > 0).any() else extent / math.sqrt(n)
    method = ""
    if not known.all():
        jitter = np.random.default_rng(0).normal(scale=0.3 * k, size=xy.shape)  # nodes estimated at one point part
        start = np.where(known[:, None], xy, xy + jitter)
        pos = nx.spring_layout(graph, k=k, pos={i: start[i] for i in range(n)}, fixed=np.flatnonzero(known).tolist(),
                               iterations=100, seed=0, method="force")  # fmt: skip
        laid = np.array([pos[i] for i in range(n)], dtype=np.float64)
        xy[~known] = laid[~known]  # the located nodes keep their coordinates exactly (networkx may round to float32)
        method = "spring"
    apart = _apart(xy, 0.022 * extent)  # about one marker apart at column width
    return Layout(xy, ~known, True, method, apart)


def _apart(xy: np.ndarray, radius: float) -> np.ndarray:
    """Spread nodes that share a position on a small circle around it (in place); which ones moved.

    A circle on the map: x offsets are stretched as the map stretches x (1 / cos of the mean latitude)."""
    stretch = 1.0 / max(math.cos(math.radians(float(np.mean(xy[:, 1])))), 0.2)
    groups: dict[tuple[float, float], list[int]] = {}
    for i, key in enumerate(map(tuple, np.round(xy, 6).tolist())):
        groups.setdefault(key, []).append(i)
    moved = np.zeros(len(xy), dtype=bool)
    for members in (m for m in groups.values() if len(m) > 1):
        for j, i in enumerate(members):
            angle = math.pi / 2 + 2 * math.pi * j / len(members)
            xy[i] += (radius * stretch * math.cos(angle), radius * math.sin(angle))
            moved[i] = True
    return moved


@dataclass(frozen=True, eq=False)
class MapData:
    """Everything a map draws, returned with it (tests read it)."""

    name: str  # the topology as titled (the GML file's stem: BtEurope)
    layout: Layout
    labels: tuple[str, ...]
    node_domain: np.ndarray  # (N,)
    link_ends: np.ndarray  # (E, 2)
    link_owner: np.ndarray  # (E,)
    node_share: np.ndarray | None = None  # (N,) mean used share (mean of the node's resources); None: no run
    link_share: np.ndarray | None = None  # (E,)

    @property
    def num_domains(self) -> int:
        return int(self.node_domain.max()) + 1

    @property
    def inter_domain(self) -> np.ndarray:
        """(E,) bool: the link joins two domains."""
        return self.node_domain[self.link_ends[:, 0]] != self.node_domain[self.link_ends[:, 1]]

    def counts(self) -> list[tuple[int, int]]:
        """(nodes, links owned) of each domain."""
        return [(int((self.node_domain == d).sum()), int((self.link_owner == d).sum()))
                for d in range(self.num_domains)]  # fmt: skip


def map_data(topology: Topology, substrate: Substrate, name: str | None = None,
             utilization: tuple[np.ndarray, np.ndarray] | None = None) -> MapData:  # fmt: skip
    """The map of ``substrate`` (split from ``topology``), with ``utilization`` (node, link shares) of a run."""
    node_share, link_share = utilization if utilization is not None else (None, None)
    return MapData(name or topology.name, layout(topology), tuple(topology.labels), substrate.node_domain,
                   substrate.link_ends, substrate.link_owner, node_share, link_share)  # fmt: skip


def draw_map(data: MapData, title: str, labels: bool | None = None) -> plt.Figure:
    """The figure of ``data``; ``labels`` None: node labels up to :data:`LABEL_LIMIT` nodes.

    Artists carry a gid: ``links intra-domain``, ``links inter-domain`` (dashed), ``nodes``, ``nodes laid out``.
    """
    n, shares = len(data.node_domain), data.node_share is not None
    colours = np.array(domain_colours(data.num_domains))
    fig = plt.figure(figsize=FIGSIZE)
    ax = fig.add_axes((0.01, 0.24, 0.82 if shares else 0.98, 0.66))
    xy = data.layout.xy
    inter = data.inter_domain
    size = float(np.clip(700.0 / n, 2.0, 28.0))  # marker area, pt^2
    width = 0.8 if n <= 60 else 0.4
    norm = Normalize(0.0, 1.0)
    segments = xy[data.link_ends]
    for mask, style, gid in ((~inter, "solid", "links intra-domain"), (inter, (0, (3, 1.5)), "links inter-domain")):
        if shares:
            share = data.link_share[mask]
            colour, widths = SHARE_MAP(norm(share)), 0.5 + 2.0 * share
        else:
            colour, widths = colours[data.link_owner[mask]], width * (1.0 if style == "solid" else 1.4)
        ax.add_collection(LineCollection(segments[mask], colors=colour, linewidths=widths, linestyles=style, gid=gid,
                                         zorder=1 if style == "solid" else 2))  # fmt: skip
    for mask, marker, gid in ((~data.layout.laid_out, "o", "nodes"), (data.layout.laid_out, "s", "nodes laid out")):
        if not mask.any():
            continue
        domain_colour = colours[data.node_domain[mask]]
        if shares:
            ax.scatter(*xy[mask].T, s=size * 1.6, c=data.node_share[mask], cmap=SHARE_MAP, norm=norm, marker=marker,
                       edgecolors=domain_colour, linewidths=1.2 if n <= 60 else 0.6, zorder=3, gid=gid)  # fmt: skip
        else:
            ax.scatter(*xy[mask].T, s=size, c=domain_colour, marker=marker, edgecolors="white",
                       linewidths=0.3 if n <= 60 else 0.0, zorder=3, gid=gid)  # fmt: skip
    labelled = labels if labels is not None else n <= LABEL_LIMIT
    if data.layout.geographic:
        mean_lat = float(np.mean(xy[:, 1]))
        ax.set_aspect(1.0 / max(math.cos(math.radians(mean_lat)), 0.2))
    else:
        ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(x=0.06 if labelled else 0.04, y=0.05 if labelled else 0.04)  # room for the labels
    ax.set_axis_off()
    ax.set_title(title, fontsize=FONT, pad=3)
    if labelled:
        _place_labels(fig, ax, xy, data.labels, size)
    _legend(ax, data, colours, inter)
    if shares:  # beside the map, wherever its aspect puts it
        bar = ax.inset_axes((1.02, 0.2, 0.03, 0.6))
        colourbar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=SHARE_MAP), cax=bar)
        colourbar.set_label("mean used share", fontsize=FONT, labelpad=2)
        colourbar.set_ticks([0.0, 0.5, 1.0], labels=["0", "0.5", "1"])
        colourbar.ax.tick_params(labelsize=FONT, length=2, pad=1)
    return fig


# where a label may sit, in points from its node: up right first, then the other diagonals, beside, above, below
LABEL_SPOTS = ((2.5, 2.0, "left", "bottom"), (-2.5, 2.0, "right", "bottom"), (2.5, -2.0, "left", "top"),
               (-2.5, -2.0, "right", "top"), (3.5, 0.0, "left", "center"), (-3.5, 0.0, "right", "center"),
               (0.0, 3.5, "center", "bottom"), (0.0, -3.5, "center", "top"))  # fmt: skip


def _place_labels(fig: plt.Figure, ax: plt.Axes, xy: np.ndarray, labels: tuple[str, ...], size: float) -> None:
    """Each node's label at the spot (:data:`LABEL_SPOTS`) that overlaps the labels placed before it, the other
    nodes and the outside of the map least (greedy, in node order)."""
    fig.canvas.draw()  # limits and aspect settled: display coordinates are final
    renderer = fig.canvas.get_renderer()
    points = ax.transData.transform(xy)
    radius = math.sqrt(size) / 2 * fig.dpi / 72
    nodes = np.column_stack((points - radius, points + radius))  # (N, 4): x0, y0, x1, y1
    frame = ax.get_window_extent(renderer)
    inside = np.array([[frame.x0, frame.y0, frame.x1, frame.y1]])

    def overlap(box: np.ndarray, others: np.ndarray) -> float:
        if not len(others):
            return 0.0
        w = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
        h = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
        return float((np.clip(w, 0, None) * np.clip(h, 0, None)).sum())

    placed: list[np.ndarray] = []
    for i, text in enumerate(labels):
        best = None
        for dx, dy, ha, va in LABEL_SPOTS:
            label = ax.annotate(text, xy[i], xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                                fontsize=LABEL_FONT, color="0.15", zorder=4)  # fmt: skip
            e = label.get_window_extent(renderer)
            box = np.array([e.x0, e.y0, e.x1, e.y1])
            outside = (box[2] - box[0]) * (box[3] - box[1]) - overlap(box, inside)
            cost = overlap(box, np.array(placed).reshape(-1, 4)) + overlap(box, np.delete(nodes, i, axis=0)) + 2 * outside
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, label, box)
            else:
                label.remove()
            if cost == 0:
                break
        placed.append(best[2])


def _legend(ax: plt.Axes, data: MapData, colours: np.ndarray, inter: np.ndarray) -> None:
    """Below the map (it follows the map's box, which its aspect shrinks), never over it."""
    shares = data.node_share is not None
    handles = []
    for d, (nodes, links) in enumerate(data.counts()):
        face = "white" if shares else colours[d]
        handles.append(Line2D([], [], color=colours[d], marker="o", markersize=4, markerfacecolor=face,
                              markeredgecolor=colours[d], linewidth=1.0,
                              label=f"domain {d}: {nodes} nodes, {links} links"))  # fmt: skip
    handles.append(Line2D([], [], color="0.3", linestyle=(0, (3, 1.5)), linewidth=1.0,
                          label=f"inter-domain: {int(inter.sum())} (dashed)"))  # fmt: skip
    laid_out = int(data.layout.laid_out.sum())
    if data.layout.geographic and laid_out:
        handles.append(Line2D([], [], color="0.3", marker="s", markersize=3.5, linestyle="none",
                              label=f"no coordinates: {laid_out} (spring)"))  # fmt: skip
    elif not data.layout.geographic:
        handles.append(Line2D([], [], color="0.3", marker="s", markersize=3.5, linestyle="none",
                              label=f"no coordinates: {data.layout.method} layout"))  # fmt: skip
    apart = int(data.layout.apart.sum()) if data.layout.apart is not None else 0
    if apart:
        handles.append(Line2D([], [], color="0.3", marker=r"$\cdot\!\cdot$", markersize=7, linestyle="none",
                              label=f"co-located: {apart} (drawn apart)"))  # fmt: skip
    columns = 1 if len(handles) <= 3 else 2
    below = blended_transform_factory(ax.figure.transFigure, ax.transAxes)  # centred on the figure, under the map
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), bbox_transform=below, ncol=columns,
              fontsize=FONT, frameon=False, handlelength=1.4, handletextpad=0.3, columnspacing=0.6, borderaxespad=0.2,
              labelspacing=0.25)  # fmt: skip


def save(fig: plt.Figure, out_dir: Path, name: str, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """``out_dir/name.FORMAT`` for each format, each written through ``.partial`` and a rename; the figure closed."""
    paths = [Path(out_dir) / f"{name}.{ext}" for ext in formats]
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for path in paths:
            with atomic(path) as partial:
                fig.savefig(partial, format=path.suffix[1:], dpi=DPI, bbox_inches="tight", pad_inches=0.03)
    finally:
        plt.close(fig)
    return paths


def display_name(topology: TopologySettings) -> str:
    """The topology as a title names it: its GML file's stem (``BtEurope``, ``Kdl``)."""
    if topology.path:
        return Path(topology.path).stem
    return {p.stem.lower(): p.stem for p in topologies_dir().glob("*.gml")}.get(topology.name, topology.name)


def _split(topology: TopologySettings) -> str:
    link_owner = "" if topology.link_owner == "lower_id" else f", link owner {topology.link_owner}"
    return f"{topology.num_domains} domains, {topology.partition} partition{link_owner}"


def static_map(topology: str = "bteurope", num_domains: int = 3, partition: str = "bfs", seed: int = 0,
               out_dir: Path = Path("."), formats: tuple[str, ...] = ("png", "pdf"), labels: bool | None = None,
               path: str | None = None, link_owner: str = "lower_id") -> tuple[list[Path], MapData]:  # fmt: skip
    """The domains of ``topology`` as a run with these settings and ``seed`` splits it, into
    ``out_dir/domain_map_<topology>.FORMAT``; the paths and what was drawn."""
    settings = TopologySettings(name=topology, path=path, num_domains=num_domains, partition=partition,
                                link_owner=link_owner)  # fmt: skip
    substrate = make_substrate(settings, seed)
    data = map_data(load_topology(name=settings.name, path=settings.path), substrate, display_name(settings))
    fig = draw_map(data, f"{data.name}: {_split(settings)}, seed {seed}", labels)
    stem = Path(path).stem.lower() if path else topology
    return save(fig, out_dir, f"domain_map_{stem}", formats), data


# --- runs -------------------------------------------------------------------------------------------------------


class NoMap(MdembedError):
    """Why a run gets no map (one line): reported, the other figures go on."""


def run_substrate(run_dir: Path) -> tuple[dict[str, Any], TopologySettings, Topology, Substrate]:
    """A run's settings and its substrate rebuilt from them (the run's own recipe)."""
    settings = read_json(Path(run_dir) / RUN_SETTINGS)
    if not isinstance(settings, dict):
        raise NoMap("no readable run_settings.json to rebuild its substrate from")
    try:
        topology = section(TopologySettings, settings.get("topology"), "topology")
        substrate = make_substrate(topology, int(settings.get("seed", 0)))
        graph = load_topology(name=topology.name, path=topology.path)
    except MdembedError as err:
        raise NoMap(f"cannot rebuild its substrate: {err}") from None
    return settings, topology, graph, substrate


def read_utilization(path: Path, substrate: Substrate, column: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """(N,) each node's ``column`` share (mean over its resources) and (E,) each link's, from a run's
    utilization.csv, once it matches ``substrate`` (its elements and domains)."""
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise NoMap(f"{path.name} is not readable ({str(err).splitlines()[0]})") from None
    missing = [c for c in ("kind", "id", "domain", "resource", column) if c not in table]
    if missing:
        raise NoMap(f"{path.name} has no {', '.join(missing)} column")
    nodes, links = table[table.kind == "node"], table[table.kind == "link"]
    n, e, r = substrate.num_nodes, substrate.num_links, len(NODE_RESOURCES)
    expected_nodes = np.repeat(np.arange(n), r)
    if (len(nodes) != n * r or len(links) != e or not np.array_equal(nodes.id.to_numpy(), expected_nodes)
            or not np.array_equal(links.id.to_numpy(), np.arange(e))
            or not np.array_equal(nodes.domain.to_numpy(), np.repeat(substrate.node_domain, r))
            or not np.array_equal(links.domain.to_numpy(), substrate.link_owner)):  # fmt: skip
        raise NoMap(f"{path.name} does not match the substrate rebuilt from run_settings.json")
    node = nodes[column].to_numpy(dtype=float).reshape(n, r).mean(axis=1)
    return node, links[column].to_numpy(dtype=float)


def run_map(run_dir: Path, out_dir: Path, name: str = "domain_map", label: str | None = None,
            formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:  # fmt: skip
    """The map of the finished run in ``run_dir`` (its algorithm, or ``label``), with its mean utilization when it
    wrote utilization.csv; :class:`NoMap` when its substrate cannot be rebuilt."""
    run_dir = Path(run_dir)
    settings, topology, graph, substrate = run_substrate(run_dir)
    summary = read_json(run_dir / "summary.json") or {}
    algorithm = label or summary.get("algorithm") or (settings.get("algorithm") or {}).get("name", "?")
    requests = summary.get("requests")
    shares, note = None, "mean over the requests" if requests is None else f"mean over {requests} requests"
    if (run_dir / UTILIZATION_FILE).is_file():
        shares = read_utilization(run_dir / UTILIZATION_FILE, substrate)
    else:
        note = "no utilization.csv"
    data = map_data(graph, substrate, display_name(topology), shares)
    rate = (settings.get("workload") or {}).get("arrival_rate")
    load = f", arrival rate {rate:g}" if isinstance(rate, (int, float)) else ""
    title = f"{algorithm} on {data.name}{load}, seed {settings.get('seed', 0)}\n{_split(topology)}; {note}"
    return save(draw_map(data, title), out_dir, name, formats)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+=-]+", "_", name).strip("_") or "run"


def plan_maps(directory: Path, jobs: list[Job], load: float | None = None) -> list[tuple[Path, str, str]]:
    """The maps ``mdembed plot`` draws of the multi-domain ``jobs`` under ``directory``: (run directory, file name,
    label). A single run: ``domain_map``; otherwise per name (algorithm and variant, as the other figures name
    them) at ``load`` (default the highest arrival rate of the jobs drawn), the job of the lowest seed:
    ``domain_map_<name>``. A ``load`` no job ran is an error, raised before any figure is written. Jobs without a
    run_settings.json (made before runs wrote one, or copied without it) have no substrate to rebuild: they are
    passed over, silently, as the other figures need no such file."""
    rates = sorted({float(job.arrival_rate) for job in jobs if job.arrival_rate == job.arrival_rate})
    chosen = None
    if load is not None:
        chosen = next((r for r in rates if math.isclose(r, load, rel_tol=1e-9)), None)
        if chosen is None:
            present = ", ".join(f"{r:g}" for r in rates) or "none recorded"
            raise MdembedError(f"--load {load:g}: no multi-domain run at that arrival rate (rates: {present})")
    if not jobs:
        return []
    if len(jobs) == 1 and Path(jobs[0].directory).resolve() == Path(directory).resolve():
        job = jobs[0]
        mappable = (Path(job.directory) / RUN_SETTINGS).is_file()
        return [(Path(job.directory), "domain_map", str(job.summary["algorithm"]))] if mappable else []
    table = jobs_table(jobs)  # names as the other figures give them
    table = table[[(Path(job) / RUN_SETTINGS).is_file() for job in table.job]]
    if chosen is None and table.arrival_rate.notna().any():
        chosen = float(table.arrival_rate.max())
    if chosen is not None:
        table = table[np.isclose(table.arrival_rate, chosen, rtol=1e-9, atol=0)]
    out = []
    for name, group in table.groupby("name", sort=True):
        job = group.sort_values(["seed", "job"]).iloc[0]
        out.append((Path(job.job), f"domain_map_{_safe(name)}", str(name)))
    return out


def draw_maps(directory: Path, planned: list[tuple[Path, str, str]]) -> list[Path]:
    """The maps :func:`plan_maps` chose, into ``directory/figures``; a run whose map cannot be drawn is named on
    stderr, with why, and the others are drawn."""
    written: list[Path] = []
    for run_dir, name, label in planned:
        try:
            written += run_map(run_dir, Path(directory) / "figures", name, label)
        except NoMap as why:
            print(f"mdembed: no domain map of {run_dir} ({why})", file=sys.stderr)
    return written


# --- command line -----------------------------------------------------------------------------------------------


@command
def main() -> None:
    parser = ArgumentParser(description="Draw the domains of a topology as a run of SEED splits it (no simulation): "
                            "OUT/domain_map_<topology>.png and .pdf.")  # fmt: skip
    parser.add_argument("--topology", default="bteurope", help="a shipped topology (bteurope, geant2012, kdl, ...)")
    parser.add_argument("--path", default=None, help="a GML file instead of a shipped topology")
    parser.add_argument("--domains", type=int, default=3, help="number of domains (default 3)")
    parser.add_argument("--partition", default="bfs", help="bfs (default) or kmeans")
    parser.add_argument("--link-owner", default="lower_id", help="lower_id (default) or higher_id")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    parser.add_argument("--out", type=Path, default=Path("."), help="the folder to write into (default: here)")
    parser.add_argument("--format", default="png,pdf", help="comma-separated formats (default png,pdf)")
    parser.add_argument("--labels", choices=("auto", "on", "off"), default="auto",
                        help=f"node labels: auto (up to {LABEL_LIMIT} nodes), on, off")  # fmt: skip
    args = parser.parse_args()
    labels = {"auto": None, "on": True, "off": False}[args.labels]
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    paths, _ = static_map(args.topology, args.domains, args.partition, args.seed, args.out, formats, labels, args.path,
                          args.link_owner)  # fmt: skip
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
