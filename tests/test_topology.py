"""Loading Topology Zoo GML files: counts, quirks, errors and link lengths."""

from __future__ import annotations

import math
import os
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdembed.core.errors import ConfigError, TopologyError
from mdembed.network.topology import (
    Topology,
    known_topologies,
    link_lengths_km,
    load_topology,
    topologies_dir,
)

# name -> (nodes, simple edges, nodes without Lat/Lon), from topologies/SOURCES.md
SHIPPED = {
    "bteurope": (24, 37, 2),
    "abilene": (11, 14, 0),
    "geant2012": (40, 61, 3),
    "interoute": (110, 146, 14),
    "gtsce": (149, 193, 8),
    "cogentco": (197, 243, 11),
    "kdl": (754, 895, 28),
}


def write_gml(tmp_path: Path, text: str, name: str = "net.gml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def gml(nodes: list[str], edges: list[tuple[int, int]], header: str = "") -> str:
    """A GML document from node bodies and (source, target) pairs."""
    parts = ["graph [", header]
    parts += [f"  node [ {body} ]" for body in nodes]
    parts += [f"  edge [ source {s} target {t} ]" for s, t in edges]
    parts.append("]")
    return "\n".join(parts) + "\n"


def node(i: int, label: str | None = None, lat: float | None = None, lon: float | None = None) -> str:
    body = f"id {i}"
    if label is not None:
        body += f' label "{label}"'
    if lat is not None:
        body += f" Latitude {lat}"
    if lon is not None:
        body += f" Longitude {lon}"
    return body


def assert_one_line_error(err: pytest.ExceptionInfo, path: Path) -> str:
    message = str(err.value)
    assert "\n" not in message
    assert path.name in message
    return message


# --- shipped files -----------------------------------------------------------


def test_known_topologies_are_the_shipped_files():
    assert known_topologies() == sorted(SHIPPED)
    assert topologies_dir().is_dir()
    assert (topologies_dir() / "SOURCES.md").is_file()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_topology_matches_sources_md(name):
    nodes, links, without_coords = SHIPPED[name]
    topo = load_topology(name)
    assert topo.name == name
    assert (topo.num_nodes, topo.num_links) == (nodes, links)
    assert len(topo.labels) == nodes and all(isinstance(s, str) for s in topo.labels)
    assert topo.edges.dtype == np.int64 and topo.edges.shape == (links, 2)
    u, v = topo.edges[:, 0], topo.edges[:, 1]
    assert (u < v).all()  # so also no self-loops
    assert u.min() >= 0 and v.max() < nodes
    rows = [tuple(r) for r in topo.edges.tolist()]
    assert rows == sorted(set(rows))  # sorted, no duplicates
    assert topo.lat.shape == topo.lon.shape == (nodes,)
    assert topo.lat.dtype == topo.lon.dtype == np.float64
    assert int(np.isnan(topo.lat).sum()) == without_coords
    assert int(np.isnan(topo.lon).sum()) == without_coords
    assert nx.is_connected(nx.Graph(rows))


def test_arrays_are_read_only():
    topo = load_topology("abilene")
    for array in (topo.edges, topo.lat, topo.lon):
        with pytest.raises(ValueError):
            array[0] = 0


def test_name_is_case_insensitive():
    assert load_topology("BtEurope").name == "bteurope"


def test_bteurope_quirks():
    topo = load_topology("bteurope")
    assert topo.labels[16] == topo.labels[17] == "London"
    assert topo.labels[11] == "New York" and topo.labels[12] == "Washington"
    assert np.isnan(topo.lat[[11, 12]]).all() and np.isnan(topo.lon[[11, 12]]).all()
    assert topo.lat[0] == pytest.approx(47.49801) and topo.lon[0] == pytest.approx(19.03991)
    # London 16-17 share coordinates: a zero-length link
    row = np.flatnonzero((topo.edges[:, 0] == 16) & (topo.edges[:, 1] == 17))
    assert link_lengths_km(topo)[row] == pytest.approx([0.0])


def test_interoute_self_loops_dropped_and_parallel_edges_merged():
    topo = load_topology("interoute")
    rows = {tuple(r) for r in topo.edges.tolist()}
    assert (17, 17) not in rows and (73, 73) not in rows


def test_cogentco_parallel_pairs_kept_once():
    rows = [tuple(r) for r in load_topology("cogentco").edges.tolist()]
    assert rows.count((42, 143)) == 1 and rows.count((80, 81)) == 1


def test_link_lengths_of_shipped_topology():
    topo = load_topology("abilene")
    lengths = link_lengths_km(topo)
    assert lengths.shape == (topo.num_links,)
    assert np.isfinite(lengths).all() and (lengths > 0).all()
    assert lengths.max() < 5000  # continental US


def test_kdl_loads_quickly():
    import time

    start = time.perf_counter()
    load_topology("kdl")
    assert time.perf_counter() - start < 5.0


# --- path loading and quirks -------------------------------------------------


def test_path_wins_over_name(tmp_path):
    path = write_gml(tmp_path, gml([node(0), node(1)], [(0, 1)]), "MyNet.gml")
    topo = load_topology("bteurope", path=path)
    assert topo.name == "mynet"
    assert topo.num_nodes == 2


def test_path_accepts_str(tmp_path):
    path = write_gml(tmp_path, gml([node(0), node(1)], [(0, 1)]))
    assert load_topology(path=str(path)).num_links == 1


def test_parallel_edges_collapse(tmp_path):
    text = gml([node(0), node(1), node(2)], [(0, 1), (1, 0), (0, 1), (1, 2)])
    topo = load_topology(path=write_gml(tmp_path, text))
    assert topo.edges.tolist() == [[0, 1], [1, 2]]


def test_file_already_flagged_multigraph(tmp_path):
    for flag in ("multigraph 1", "multigraph 0", "directed 1"):
        text = gml([node(0), node(1), node(2)], [(0, 1), (0, 1), (2, 1)], header=flag)
        topo = load_topology(path=write_gml(tmp_path, text))
        assert topo.edges.tolist() == [[0, 1], [1, 2]], flag


def test_directed_edges_become_undirected(tmp_path):
    text = gml([node(0), node(1), node(2)], [(1, 0), (0, 1), (2, 0)], header="directed 1")
    topo = load_topology(path=write_gml(tmp_path, text))
    assert topo.edges.tolist() == [[0, 1], [0, 2]]


def test_self_loop_dropped(tmp_path):
    text = gml([node(0), node(1)], [(0, 0), (0, 1), (1, 1)])
    assert load_topology(path=write_gml(tmp_path, text)).edges.tolist() == [[0, 1]]


def test_duplicate_and_missing_labels(tmp_path):
    text = gml([node(0, "X"), node(1, "X"), node(7)], [(0, 1), (1, 7)])
    topo = load_topology(path=write_gml(tmp_path, text))
    assert topo.labels == ("X", "X", "7")  # missing label -> the GML id


def test_non_zero_based_ids_relabelled_in_ascending_order(tmp_path):
    # file order 30, 10, 20; ascending id order 10, 20, 30 -> 0, 1, 2
    text = gml([node(30, "c"), node(10, "a"), node(20, "b")], [(30, 10), (10, 20)])
    topo = load_topology(path=write_gml(tmp_path, text))
    assert topo.labels == ("a", "b", "c")
    assert topo.edges.tolist() == [[0, 1], [0, 2]]


def test_missing_or_bad_coordinates_are_nan(tmp_path):
    nodes = [
        node(0, "full", 10.0, 20.0),
        node(1, "none"),
        node(2, "lat only", lat=5.0),
        'id 3 label "text" Latitude "north" Longitude "east"',
        node(4, "out of range", 95.0, 200.0),
        'id 5 label "quoted number" Latitude "1.5" Longitude 2',
    ]
    text = gml(nodes, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])
    topo = load_topology(path=write_gml(tmp_path, text))
    np.testing.assert_array_equal(topo.lat, [10.0, np.nan, 5.0, np.nan, np.nan, 1.5])
    np.testing.assert_array_equal(topo.lon, [20.0, np.nan, np.nan, np.nan, np.nan, 2.0])


def test_non_ascii_label(tmp_path):
    text = gml([node(0, "Zürich"), node(1, "Kraków")], [(0, 1)])
    assert load_topology(path=write_gml(tmp_path, text)).labels == ("Zürich", "Kraków")


@pytest.mark.parametrize("name", ["bteurope", "abilene"])
def test_utf8_byte_order_mark_is_ignored(tmp_path, name):
    """A Zoo file saved by an editor that prefixes a UTF-8 BOM loads exactly like the original."""
    original = next(p for p in topologies_dir().glob("*.gml") if p.stem.lower() == name)
    copy = tmp_path / original.name
    copy.write_bytes(b"\xef\xbb\xbf" + original.read_bytes())
    expected, got = load_topology(name), load_topology(path=copy)
    assert got.name == expected.name and got.labels == expected.labels
    np.testing.assert_array_equal(got.edges, expected.edges)
    np.testing.assert_array_equal(got.lat, expected.lat)
    np.testing.assert_array_equal(got.lon, expected.lon)


def test_zero_length_link(tmp_path):
    text = gml([node(0, "a", 51.5, -0.1), node(1, "b", 51.5, -0.1)], [(0, 1)])
    assert link_lengths_km(load_topology(path=write_gml(tmp_path, text))).tolist() == [0.0]


def test_link_length_nan_without_coordinates(tmp_path):
    text = gml([node(0, "a", 0, 0), node(1, "b"), node(2, "c", 0, 1)], [(0, 1), (0, 2)])
    lengths = link_lengths_km(load_topology(path=write_gml(tmp_path, text)))
    assert math.isnan(lengths[0]) and lengths[1] == pytest.approx(111.19, abs=0.01)


def make_topology(lat: list[float], lon: list[float]) -> Topology:
    n = len(lat)
    edges = np.array([[i, i + 1] for i in range(n - 1)], dtype=np.int64)
    return Topology("t", tuple(map(str, range(n))), edges, np.array(lat, float), np.array(lon, float))


def test_haversine_by_hand():
    # 1 degree along a meridian = 2*pi*6371/360 km
    one_degree = 2 * math.pi * 6371.0 / 360
    assert one_degree == pytest.approx(111.19, abs=0.01)
    lengths = link_lengths_km(make_topology([0.0, 1.0, 1.0, -89.0], [0.0, 0.0, 1.0, 1.0]))
    assert lengths[0] == pytest.approx(one_degree, rel=1e-12)
    # 1 degree of longitude at latitude 1 is shorter by about cos(1 deg)
    assert lengths[1] == pytest.approx(one_degree * math.cos(math.radians(1.0)), rel=1e-4)
    assert lengths[2] == pytest.approx(90 * one_degree, rel=1e-12)


def test_haversine_antipodes_and_antimeridian():
    lengths = link_lengths_km(make_topology([0.0, 0.0, 0.0, 0.0], [0.0, 180.0, -179.5, 179.5]))
    assert lengths[0] == pytest.approx(math.pi * 6371.0)
    assert lengths[2] == pytest.approx(111.19, abs=0.01)  # across the antimeridian


# --- errors --------------------------------------------------------------------


def test_unknown_name_lists_known():
    with pytest.raises(TopologyError) as err:
        load_topology("foo")
    assert str(err.value) == "unknown topology 'foo'; known: " + ", ".join(sorted(SHIPPED))


def test_neither_name_nor_path():
    with pytest.raises(ConfigError):
        load_topology()


@pytest.mark.parametrize(
    "text, problem",
    [
        ("this is not gml at all ?!", "not valid GML"),
        ("graph [ node [ id 0 ] node [ id 1 ]", "not valid GML"),  # unbalanced
        ("graph [ node [ id 0 ] ] ]", "not valid GML"),  # unbalanced the other way
        ("", "not valid GML"),
        ("\x00\x01\x02binary", "not valid GML"),
        ("graph [ node [ id 0 ] node [ id 0 ] edge [ source 0 target 0 ] ]", "not valid GML"),
        ("graph [ node [ id 0 ] edge [ source 0 target 9 ] ]", "not valid GML"),
        ("graph [ node [ label \"no id\" ] ]", "not valid GML"),
        ("graph [ ] graph [ ]", "not valid GML"),
        ("graph [ ]", "no nodes"),
        ("graph [ node [ id 0 ] ]", "only 1 node"),
        ("graph [ node [ id 0 ] node [ id 1 ] ]", "no links"),
        ("graph [ node [ id 0 ] node [ id 1 ] edge [ source 1 target 1 ] ]", "no links"),
        (gml([node(i) for i in range(5)], [(0, 1), (2, 3)]), "disconnected (3 components)"),
    ],
)
def test_malformed_file_is_one_line_topology_error(tmp_path, text, problem):
    path = write_gml(tmp_path, text, "broken.gml")
    with pytest.raises(TopologyError) as err:
        load_topology(path=path)
    assert problem in assert_one_line_error(err, path)


def test_parser_error_with_multiline_message_is_one_line(tmp_path):
    # networkx's duplicate-key message carries a newline and a hint
    edge = "edge [ source 0 target 1 key 0 ]"
    text = f"graph [ multigraph 1 node [ id 0 ] node [ id 1 ] {edge} {edge} ]"
    path = write_gml(tmp_path, text, "dupkey.gml")
    with pytest.raises(TopologyError) as err:
        load_topology(path=path)
    assert_one_line_error(err, path)


def test_huge_parser_message_is_shortened(tmp_path):
    path = write_gml(tmp_path, "graph [ ?" + "x" * 5000 + " ]", "long.gml")
    with pytest.raises(TopologyError) as err:
        load_topology(path=path)
    assert len(assert_one_line_error(err, path)) < 300


def test_missing_file(tmp_path):
    path = tmp_path / "nope.gml"
    with pytest.raises(TopologyError) as err:
        load_topology(path=path)
    assert "cannot read" in assert_one_line_error(err, path)


def test_directory_is_not_a_file(tmp_path):
    path = tmp_path / "dir.gml"
    path.mkdir()
    with pytest.raises(TopologyError) as err:
        load_topology(path=path)
    assert_one_line_error(err, path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path):
    path = write_gml(tmp_path, gml([node(0), node(1)], [(0, 1)]))
    path.chmod(0)
    with pytest.raises(TopologyError) as err:
        load_topology(path=path)
    assert_one_line_error(err, path)


# --- property: any shuffled, noisy GML loads to its simple graph -----------------


@st.composite
def noisy_graphs(draw):
    """A connected simple graph plus duplicated edges, self-loops and sparse ids."""
    n = draw(st.integers(2, 12))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    simple = {(p, i) for i, p in enumerate(parents, start=1)}
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    extra = draw(st.lists(pairs, max_size=10))
    simple |= {(min(a, b), max(a, b)) for a, b in extra if a != b}
    written = [(b, a) if draw(st.booleans()) else (a, b) for a, b in sorted(simple)]
    written += draw(st.lists(st.sampled_from(written), max_size=5))  # parallel edges
    written += [(i, i) for i in draw(st.lists(st.integers(0, n - 1), max_size=3))]
    written = draw(st.permutations(written))
    ids = sorted(draw(st.lists(st.integers(-50, 500), min_size=n, max_size=n, unique=True)))
    file_order = draw(st.permutations(range(n)))
    return n, simple, written, ids, file_order


@settings(max_examples=60, deadline=None)
@given(noisy_graphs())
def test_noisy_gml_loads_to_its_simple_graph(tmp_path_factory, graph):
    n, simple, written, ids, file_order = graph
    nodes = [node(ids[i], f"n{i}") for i in file_order]
    text = gml(nodes, [(ids[a], ids[b]) for a, b in written])
    topo = load_topology(path=write_gml(tmp_path_factory.mktemp("g"), text))
    assert topo.labels == tuple(f"n{i}" for i in range(n))
    assert topo.edges.tolist() == [list(e) for e in sorted(simple)]
