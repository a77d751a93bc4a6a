"""Issue 27, part 3: the map of the domains, and the per-element utilization a finished market run writes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba

from mdembed.market.domain_map import (LABEL_LIMIT, domain_colours, draw_map, layout, map_data, plan_maps, read_utilization, run_substrate, static_map)  # fmt: skip
from mdembed.settings import TopologySettings
from mdembed.core.errors import MdembedError
from mdembed.network.make import make_substrate
from mdembed.network.substrate import NODE_RESOURCES
from mdembed.network.topology import known_topologies, load_topology
from mdembed.run import RESULT_FILES, compose, run

TINY = ("experiment=smoke", "workload.num_requests=60", "progress=false")


def _collections(fig) -> dict[str, LineCollection]:
    return {c.get_gid(): c for ax in fig.axes for c in ax.collections if isinstance(c, LineCollection)}


@pytest.mark.parametrize("name", known_topologies())
def test_the_map_of_every_shipped_topology_draws(name, tmp_path):
    paths, data = static_map(name, 3, "bfs", 0, tmp_path, formats=("png", "pdf"))
    assert [p.name for p in paths] == [f"domain_map_{name}.png", f"domain_map_{name}.pdf"]
    assert all(p.stat().st_size > 5000 for p in paths)
    topology = load_topology(name=name)
    known = np.isfinite(topology.lat) & np.isfinite(topology.lon)
    # located nodes sit on their own (longitude, latitude), but for those sharing them with another (drawn apart,
    # close by); the others are laid out, and counted in the legend
    coordinates = np.column_stack((topology.lon, topology.lat))
    apart = data.layout.apart
    shared = np.unique(np.round(coordinates[known], 6), axis=0, return_counts=True)[1]
    assert apart.sum() == shared[shared > 1].sum()
    assert np.array_equal(data.layout.xy[known & ~apart], coordinates[known & ~apart])
    extent = np.ptp(coordinates[known], axis=0).max()
    assert np.all(np.abs(data.layout.xy[known & apart] - coordinates[known & apart]) < 0.05 * extent)
    assert np.array_equal(data.layout.laid_out, ~known) and data.layout.geographic
    assert np.isfinite(data.layout.xy).all()
    assert sum(nodes for nodes, _ in data.counts()) == topology.num_nodes
    assert sum(links for _, links in data.counts()) == topology.num_links


def test_inter_domain_links_are_dashed_and_counted_in_the_legend():
    settings = TopologySettings(name="bteurope", num_domains=3)
    substrate = make_substrate(settings, 0)
    data = map_data(load_topology(name="bteurope"), substrate, "BtEurope")
    ends = substrate.link_ends
    expected = substrate.node_domain[ends[:, 0]] != substrate.node_domain[ends[:, 1]]
    assert np.array_equal(data.inter_domain, expected) and 0 < expected.sum() < len(expected)
    fig = draw_map(data, "BtEurope")
    lines = _collections(fig)
    inter, intra = lines["links inter-domain"], lines["links intra-domain"]
    assert len(inter.get_segments()) == expected.sum() and len(intra.get_segments()) == (~expected).sum()
    dash = inter.get_linestyles()[0][1]
    assert dash is not None and len(dash) > 0  # dashed
    assert intra.get_linestyles()[0][1] is None  # solid
    # each link in its owner's colour, the inter-domain ones too
    palette = np.array([to_rgba(c) for c in domain_colours(substrate.num_domains)])
    np.testing.assert_allclose(intra.get_colors(), palette[substrate.link_owner[~expected]])
    np.testing.assert_allclose(inter.get_colors(), palette[substrate.link_owner[expected]])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"inter-domain: {int(expected.sum())} (dashed)" in legend
    assert "no coordinates: 2 (spring)" in legend  # New York and Washington
    assert "co-located: 2 (drawn apart)" in legend  # the file's two London nodes, in two domains
    londons = [i for i, label in enumerate(substrate.labels) if label == "London"]
    assert data.layout.apart[londons].all() and len({int(substrate.node_domain[i]) for i in londons}) == 2
    assert not np.allclose(data.layout.xy[londons[0]], data.layout.xy[londons[1]])
    for d, (nodes, links) in enumerate(data.counts()):
        assert f"domain {d}: {nodes} nodes, {links} links" in legend
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(labels) == sorted(substrate.labels)  # 24 nodes: labelled
    import matplotlib.pyplot as plt

    plt.close(fig)
    big = map_data(load_topology(name="cogentco"), make_substrate(TopologySettings(name="cogentco"), 0))
    assert len(big.labels) > LABEL_LIMIT
    fig = draw_map(big, "Cogentco")
    assert len(fig.axes[0].texts) == 0  # too many nodes to label
    plt.close(fig)


def test_a_file_without_coordinates_is_laid_out_and_says_so(tmp_path):
    path = tmp_path / "ring.gml"
    nodes = "".join(f'  node [\n    id {i}\n    label "n{i}"\n  ]\n' for i in range(6))
    edges = "".join(f"  edge [\n    source {i}\n    target {(i + 1) % 6}\n  ]\n" for i in range(6))
    path.write_text(f"graph [\n{nodes}{edges}]\n")
    topology = load_topology(path=str(path))
    placed = layout(topology)
    assert not placed.geographic and placed.laid_out.all() and placed.method == "Kamada-Kawai"
    paths, data = static_map("ring", 2, "bfs", 0, tmp_path, ("png",), path=str(path))
    assert paths == [tmp_path / "domain_map_ring.png"] and paths[0].is_file()
    fig = draw_map(data, "ring")
    assert "no coordinates: Kamada-Kawai layout" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def _domain_means(util: pd.DataFrame, column: str, num_domains: int) -> tuple[np.ndarray, np.ndarray]:
    """Each domain's node utilization (mean over the resources of used / capacity, capacity-weighted) and link
    utilization from utilization.csv's ``column``, as metrics.csv defines them."""
    nodes, links = util[util.kind == "node"], util[util.kind == "link"]
    node = np.zeros(num_domains)
    for d in range(num_domains):
        mine = nodes[nodes.domain == d]
        node[d] = np.mean([(mine.capacity * mine[column])[mine.resource == r].sum() / mine.capacity[mine.resource == r].sum()
                           for r in NODE_RESOURCES])  # fmt: skip
    link = np.array([(links.capacity * links[column])[links.domain == d].sum() / links.capacity[links.domain == d].sum()
                     for d in range(num_domains)])  # fmt: skip
    return node, link


@pytest.mark.parametrize("window", [1, 25])
def test_utilization_csv_has_every_element_and_agrees_with_metrics_csv(tmp_path, window):
    out = tmp_path / "run"
    summary = run(compose([*TINY, f"metrics.window={window}"]), out)
    util = pd.read_csv(out / "utilization.csv")
    metrics = pd.read_csv(out / "metrics.csv")
    _, _, _, substrate = run_substrate(out)
    n, e, r = substrate.num_nodes, substrate.num_links, len(NODE_RESOURCES)
    assert list(util.columns) == ["kind", "id", "label", "domain", "resource", "capacity", "mean", "end"]
    assert len(util) == n * r + e and (util.kind == "node").sum() == n * r and (util.kind == "link").sum() == e
    assert sorted(set(util.resource)) == sorted([*NODE_RESOURCES, "bandwidth"])
    assert util[["mean", "end"]].ge(0).all().all() and util[["mean", "end"]].le(1).all().all()
    assert util["mean"].gt(0).any()  # the workload used something
    assert summary["requests"] == 60
    evaluation = metrics[metrics.phase == "eval"]
    d = substrate.num_domains
    node_cols = [f"domain{i}_node_utilization" for i in range(d)]
    link_cols = [f"domain{i}_link_utilization" for i in range(d)]
    # end: the used shares after the last decision, which metrics.csv's last row snapshots
    node_end, link_end = _domain_means(util, "end", d)
    np.testing.assert_allclose(node_end, evaluation[node_cols].iloc[-1].to_numpy(float), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(link_end, evaluation[link_cols].iloc[-1].to_numpy(float), rtol=1e-7, atol=1e-9)
    node_mean, link_mean = _domain_means(util, "mean", d)
    if window == 1:  # metrics.csv snapshots every request, as utilization.csv samples: the means are the same
        assert len(evaluation) == 60
        np.testing.assert_allclose(node_mean, evaluation[node_cols].mean().to_numpy(float), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(link_mean, evaluation[link_cols].mean().to_numpy(float), rtol=1e-7, atol=1e-9)
    assert "utilization.csv" in RESULT_FILES  # a new run into the directory clears an earlier run's
    # the map reads it back against the rebuilt substrate
    node, link = read_utilization(out / "utilization.csv", substrate)
    assert node.shape == (n,) and link.shape == (e,)


def test_sampling_the_utilization_changes_no_result():
    """The same run's objects evaluated with and without the sampler: metrics.csv's rows and the summary agree
    (decision times and wall time aside)."""
    from mdembed.market.build import make_run
    from mdembed.settings import settings_from_config
    from mdembed.records.metrics import ElementUtilization, MetricsRecorder
    from mdembed.records.occupancy import Occupancy
    from mdembed.market.simulation import simulate

    settings = settings_from_config(compose([*TINY, "metrics.window=20"]))
    results = []
    for sampler in (None, "sample"):
        objects = make_run(settings)
        recorder = MetricsRecorder(objects.substrate, len(objects.requests), settings.metrics.window)
        utilization = ElementUtilization(objects.substrate) if sampler else None
        simulate(objects.requests, objects.algorithm, Occupancy(objects.substrate), recorder, False, utilization)
        table = recorder.table().drop(columns=["decision_time_ms_median", "decision_time_ms_p95"])
        summary = {k: v for k, v in recorder.summary().items() if not k.startswith(("decision_time", "wall_time"))}
        results.append((table, summary))
    pd.testing.assert_frame_equal(results[0][0], results[1][0], check_exact=True)
    assert results[0][1] == results[1][1]


def test_mdembed_plot_of_a_run_draws_its_domain_map(tmp_path):
    out = tmp_path / "run"
    run(compose([*TINY, "metrics.window=20"]), out)
    result = subprocess.run([sys.executable, "-m", "mdembed", "plot", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (out / "figures" / "domain_map.png").stat().st_size > 5000
    assert (out / "figures" / "domain_map.pdf").is_file()
    assert str(out / "figures" / "domain_map.png") in result.stdout.splitlines()
    refused = subprocess.run([sys.executable, "-m", "mdembed", "plot", str(out), "--load", "7"], capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("mdembed: error: --load 7: no multi-domain run at that arrival rate")


def test_a_directory_of_runs_gets_one_map_per_algorithm(tmp_path):
    from mdembed.scenarios import scan
    from mdembed.plot import plot

    for algorithm in ("cff_3d", "cff_sd"):
        run(compose([*TINY, f"algorithm={algorithm}", "metrics.window=30"]), tmp_path / algorithm)
    jobs, _ = scan(tmp_path)
    planned = plan_maps(tmp_path, jobs)
    assert [(p.name, name, label) for p, name, label in planned] == [
        ("cff_3d", "domain_map_cff_3d", "cff_3d"), ("cff_sd", "domain_map_cff_sd", "cff_sd")]  # fmt: skip
    names = {p.name for p in plot(tmp_path)}
    assert {"domain_map_cff_3d.png", "domain_map_cff_3d.pdf", "domain_map_cff_sd.png", "domain_map_cff_sd.pdf"} <= names
    with pytest.raises(MdembedError, match="--load 0.3"):
        plan_maps(tmp_path, jobs, 0.3)
