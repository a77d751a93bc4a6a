"""The substrate of a run's topology settings and seed: the one recipe, for the run and for the library alike."""

from __future__ import annotations

from mdembed.settings import TopologySettings
from mdembed.network.domains import link_owners, partition
from mdembed.network.substrate import Substrate, build_substrate
from mdembed.network.topology import load_topology
from mdembed.core.seeding import stream


def make_substrate(topology: TopologySettings, seed: int) -> Substrate:
    """Load the topology, split it into domains and draw its resources, each from its own stream of ``seed``."""
    graph = load_topology(name=topology.name, path=topology.path)
    domains = partition(graph, topology.num_domains, topology.partition, stream(seed, "substrate/partition"))
    owners = link_owners(graph.edges, domains, topology.link_owner)
    return build_substrate(graph, domains, owners, topology, stream(seed, "substrate/resources"))
