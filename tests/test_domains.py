"""Domain partitions, link ownership and estimated positions."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdembed.core.errors import ConfigError
from mdembed.network.domains import (
    LINK_OWNER_RULES,
    PARTITIONS,
    _grow_balanced,
    canonical_domains,
    link_owners,
    partition,
)
from mdembed.network.positions import estimated_positions
from mdembed.network.topology import Topology, load_topology, neighbour_lists

STRATEGIES = ["bfs", "kmeans"]


@pytest.fixture(scope="module")
def topologies():
    return {name: load_topology(name) for name in ("bteurope", "abilene", "kdl")}


def make_topology(edges, lat=None, lon=None) -> Topology:
    edges = np.array(sorted({(min(a, b), max(a, b)) for a, b in edges}), dtype=np.int64)
    n = int(edges.max()) + 1
    lat = np.full(n, np.nan) if lat is None else np.asarray(lat, dtype=float)
    lon = np.full(n, np.nan) if lon is None else np.asarray(lon, dtype=float)
    return Topology("hand", tuple(str(i) for i in range(n)), edges, lat, lon)


def assert_valid_partition(topo: Topology, domain: np.ndarray, num_domains: int) -> None:
    assert domain.dtype == np.int64 and domain.shape == (topo.num_nodes,)
    assert set(domain.tolist()) == set(range(num_domains))  # coverage, numbering, non-empty
    # canonical: domains appear in order of their lowest node
    first_seen = list(dict.fromkeys(domain.tolist()))
    assert first_seen == list(range(num_domains))
    graph = nx.Graph()
    graph.add_nodes_from(range(topo.num_nodes))
    graph.add_edges_from(topo.edges.tolist())
    for d in range(num_domains):
        members = np.flatnonzero(domain == d).tolist()
        assert nx.is_connected(graph.subgraph(members)), f"domain {d} not connected"


def test_registry_has_both_strategies():
    assert {"bfs", "kmeans"} <= set(PARTITIONS.names())


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("num_domains", [1, 2, 3, 5])
@pytest.mark.parametrize("name", ["bteurope", "abilene"])
def test_partition_is_valid_and_deterministic(topologies, name, num_domains, strategy):
    topo = topologies[name]
    domain = partition(topo, num_domains, strategy, np.random.default_rng(7))
    assert_valid_partition(topo, domain, num_domains)
    again = partition(topo, num_domains, strategy, np.random.default_rng(7))
    np.testing.assert_array_equal(domain, again)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_partition_kdl(topologies, strategy):
    topo = topologies["kdl"]
    domain = partition(topo, 3, strategy, np.random.default_rng(0))
    assert_valid_partition(topo, domain, 3)
    np.testing.assert_array_equal(domain, partition(topo, 3, strategy, np.random.default_rng(0)))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_domain_per_node(topologies, strategy):
    topo = topologies["bteurope"]
    domain = partition(topo, topo.num_nodes, strategy, np.random.default_rng(1))
    np.testing.assert_array_equal(domain, np.arange(topo.num_nodes))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_different_seeds_still_valid(topologies, strategy):
    topo = topologies["bteurope"]
    for seed in range(10):
        assert_valid_partition(topo, partition(topo, 3, strategy, np.random.default_rng(seed)), 3)


def test_kmeans_is_geographic(topologies):
    # BtEurope with 3 domains: the Nordic nodes never share a domain with Madrid
    topo = topologies["bteurope"]
    nordic = [topo.labels.index(c) for c in ("Helsinki", "Stockholm", "Gothenburg", "Copenhagen")]
    madrid = topo.labels.index("Madrid")
    for seed in range(5):
        domain = partition(topo, 3, "kmeans", np.random.default_rng(seed))
        assert len(set(domain[nordic].tolist())) == 1
        assert domain[madrid] != domain[nordic[0]]


def test_kmeans_with_identical_positions():
    ring = [(i, (i + 1) % 8) for i in range(8)]
    topo = make_topology(ring, lat=np.full(8, 45.0), lon=np.full(8, 7.0))
    for d in (1, 3, 8):
        domain = partition(topo, d, "kmeans", np.random.default_rng(0))
        assert_valid_partition(topo, domain, d)


def test_kmeans_without_any_coordinates():
    topo = make_topology([(0, 1), (1, 2), (2, 3), (1, 4)])
    domain = partition(topo, 2, "kmeans", np.random.default_rng(3))
    assert_valid_partition(topo, domain, 2)


def test_kmeans_regions_reach_past_a_leaf_seed():
    # Cluster near (0, 10): the leaf 3 is its nearest node but hangs off node 0
    # of the other cluster; the region must start in the bigger piece (4-5-6).
    edges = [(0, 1), (1, 2), (0, 3), (2, 4), (4, 5), (5, 6)]
    lat = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    lon = [0.0, 0.2, 0.4, 10.0, 9.0, 9.5, 10.5]
    topo = make_topology(edges, lat=lat, lon=lon)
    domain = partition(topo, 2, "kmeans", np.random.default_rng(0))
    assert_valid_partition(topo, domain, 2)
    assert domain.tolist() == [0, 0, 0, 0, 1, 1, 1]


def test_bfs_is_balanced_on_a_ring():
    # two seeds end up opposite each other and split the ring evenly; a third
    # lands between them, which bounds how even three regions can be
    ring = make_topology([(i, (i + 1) % 12) for i in range(12)])
    for seed in range(5):
        assert np.bincount(partition(ring, 2, "bfs", np.random.default_rng(seed))).tolist() == [6, 6]
        sizes = np.bincount(partition(ring, 3, "bfs", np.random.default_rng(seed)))
        assert sizes.max() - sizes.min() <= 2


def test_bfs_grows_the_smallest_region_first():
    # seeds at both ends of a path 0..9 meet in the middle
    path = make_topology([(i, i + 1) for i in range(9)])
    assert _grow_balanced(neighbour_lists(path), [0, 9]).tolist() == [0] * 5 + [1] * 5
    star_and_path = make_topology([(0, i) for i in range(1, 6)] + [(0, 6), (6, 7), (7, 8), (8, 9)])
    domain = _grow_balanced(neighbour_lists(star_and_path), [0, 9])
    # level-by-level BFS would give the hub node 6 as well ([7, 3]); growing the
    # smaller region first lets seed 9 reach 6 while the hub takes its leaves
    assert domain.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]


def test_bfs_ignores_coordinates(topologies):
    topo = topologies["abilene"]
    moved = Topology(topo.name, topo.labels, topo.edges, -topo.lat, topo.lon + 50)
    for seed in range(3):
        np.testing.assert_array_equal(
            partition(topo, 3, "bfs", np.random.default_rng(seed)),
            partition(moved, 3, "bfs", np.random.default_rng(seed)),
        )


# --- validation ------------------------------------------------------------------


def test_too_many_domains(topologies):
    with pytest.raises(ConfigError) as err:
        partition(topologies["bteurope"], 30, "kmeans", np.random.default_rng(0))
    assert str(err.value) == "topology.num_domains=30 exceeds the 24 nodes of bteurope"


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_num_domains(topologies, bad):
    with pytest.raises(ConfigError, match="topology.num_domains"):
        partition(topologies["abilene"], bad, "bfs", np.random.default_rng(0))


def test_numpy_integer_num_domains(topologies):
    domain = partition(topologies["abilene"], np.int64(2), "bfs", np.random.default_rng(0))
    assert_valid_partition(topologies["abilene"], domain, 2)


def test_unknown_strategy_lists_known(topologies):
    with pytest.raises(ConfigError) as err:
        partition(topologies["abilene"], 2, "metis", np.random.default_rng(0))
    message = str(err.value)
    assert "'metis'" in message and "bfs" in message and "kmeans" in message


def test_canonical_domains():
    assert canonical_domains(np.array([2, 2, 0, 1, 0])).tolist() == [0, 0, 1, 2, 1]


# --- link owners -------------------------------------------------------------------


def test_link_owners_both_rules():
    node_domain = np.array([0, 0, 1, 1, 2])
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]])
    assert LINK_OWNER_RULES == ("lower_id", "higher_id")
    assert link_owners(edges, node_domain).tolist() == [0, 0, 1, 1, 0]
    assert link_owners(edges, node_domain, "lower_id").tolist() == [0, 0, 1, 1, 0]
    assert link_owners(edges, node_domain, "higher_id").tolist() == [0, 1, 1, 2, 2]


def test_link_owners_does_not_assume_sorted_rows():
    node_domain = np.array([1, 0])
    assert link_owners(np.array([[1, 0]]), node_domain, "lower_id").tolist() == [1]
    assert link_owners(np.array([[1, 0]]), node_domain, "higher_id").tolist() == [0]


def test_link_owners_intra_domain_links_belong_to_their_domain(topologies):
    topo = topologies["bteurope"]
    domain = partition(topo, 3, "bfs", np.random.default_rng(0))
    u, v = topo.edges[:, 0], topo.edges[:, 1]
    intra = domain[u] == domain[v]
    for rule in LINK_OWNER_RULES:
        owners = link_owners(topo.edges, domain, rule)
        assert owners.dtype == np.int64
        np.testing.assert_array_equal(owners[intra], domain[u][intra])


def test_unknown_link_owner_rule():
    with pytest.raises(ConfigError, match="lower_id, higher_id"):
        link_owners(np.array([[0, 1]]), np.array([0, 1]), "random")


# --- estimated positions ---------------------------------------------------------------


def test_bteurope_new_york_and_washington_filled(topologies):
    topo = topologies["bteurope"]
    pos = estimated_positions(topo)
    assert pos.shape == (24, 2) and np.isfinite(pos).all()
    # both are leaves hanging off a London node
    np.testing.assert_allclose(pos[11], [topo.lat[17], topo.lon[17]], atol=1e-9)
    np.testing.assert_allclose(pos[12], [topo.lat[16], topo.lon[16]], atol=1e-9)
    known = np.isfinite(topo.lat)
    np.testing.assert_array_equal(pos[known, 0], topo.lat[known])
    np.testing.assert_array_equal(pos[known, 1], topo.lon[known])


@pytest.mark.parametrize("name", ["kdl", "abilene"])
def test_positions_finite_everywhere(topologies, name):
    assert np.isfinite(estimated_positions(topologies[name])).all()


def test_chain_of_missing_nodes_fills_in():
    # 0 known, 1 and 2 unknown along a chain, 3 known: 1 takes 0's place, 2 takes 3's
    topo = make_topology([(0, 1), (1, 2), (2, 3)], lat=[10, np.nan, np.nan, 20], lon=[0, np.nan, np.nan, 0])
    pos = estimated_positions(topo)
    np.testing.assert_allclose(pos[:, 0], [10, 10, 20, 20], atol=1e-9)
    long_chain = make_topology([(i, i + 1) for i in range(5)], lat=[5, *[np.nan] * 5], lon=[6, *[np.nan] * 5])
    np.testing.assert_allclose(estimated_positions(long_chain), [[5, 6]] * 6, atol=1e-9)


def test_mean_of_neighbours():
    topo = make_topology([(0, 2), (1, 2)], lat=[0, 0, np.nan], lon=[10, 20, np.nan])
    np.testing.assert_allclose(estimated_positions(topo)[2], [0, 15], atol=1e-9)


def test_mean_across_the_antimeridian():
    topo = make_topology([(0, 2), (1, 2)], lat=[0, 0, np.nan], lon=[179, -179, np.nan])
    lat, lon = estimated_positions(topo)[2]
    assert lat == pytest.approx(0, abs=1e-9) and abs(lon) == pytest.approx(180, abs=1e-9)


def test_no_coordinates_at_all_share_one_position():
    pos = estimated_positions(make_topology([(0, 1), (1, 2)]))
    assert np.isfinite(pos).all()
    assert (pos == pos[0]).all()


def test_unreachable_unknown_nodes_get_mean_of_known():
    # hand-built disconnected topology: component {2, 3} has no coordinates
    topo = make_topology([(0, 1), (2, 3)], lat=[0, 0, np.nan, np.nan], lon=[10, 20, np.nan, np.nan])
    pos = estimated_positions(topo)
    np.testing.assert_allclose(pos[2:], [[0, 15], [0, 15]], atol=1e-9)


# --- property: any connected graph, any D, any coordinates ------------------------------


@st.composite
def connected_graphs(draw):
    n = draw(st.integers(2, 25))
    edges = {(draw(st.integers(0, i - 1)), i) for i in range(1, n)}
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    edges |= {(min(a, b), max(a, b)) for a, b in draw(st.lists(pairs, max_size=2 * n)) if a != b}
    coord = st.one_of(st.just(np.nan), st.floats(-60, 60), st.sampled_from([0.0, 1.0]))
    lat = draw(st.lists(coord, min_size=n, max_size=n))
    lon = draw(st.lists(coord, min_size=n, max_size=n))
    num_domains = draw(st.integers(1, n))
    return n, edges, lat, lon, num_domains


@settings(max_examples=80, deadline=None)
@given(connected_graphs(), st.sampled_from(STRATEGIES), st.integers(0, 2**32 - 1))
def test_any_connected_graph_partitions(graph, strategy, seed):
    n, edges, lat, lon, num_domains = graph
    topo = make_topology(edges, lat=lat, lon=lon)
    domain = partition(topo, num_domains, strategy, np.random.default_rng(seed))
    assert_valid_partition(topo, domain, num_domains)
    np.testing.assert_array_equal(domain, partition(topo, num_domains, strategy, np.random.default_rng(seed)))
