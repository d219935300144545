"""Tests of `Topology`'s routes: per-pair searches identical to a full search with the whole tie-break key.

Reference: the routes the topology computed before its searches were made per pair (one full single-source
Dijkstra per source whose heap key carried the whole path's vertex and link names); that algorithm is copied
below as `reference_routes_from`. Independently, on graphs whose latencies add up exactly, the routes equal
networkx's shortest paths with the documented tie-break applied to all of them.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Sequence

import networkx as nx
import pytest

from simulator.config.network_spec import LinkSpec, NetworkSpec
from simulator.network import Topology

RouteKey = tuple[tuple[int, ...], tuple[int, ...], float]
"""A route as (vertex path, link path, latency in seconds)."""


def reference_routes_from(spec: NetworkSpec, vertices: Sequence[str], src: int) -> dict[int, RouteKey]:
    """All routes from ``src`` by the former algorithm: Dijkstra whose key is (latency, hops, vertex names on
    the path, link names on the path), every path materialised on the heap."""
    names = (*vertices, *spec.switches)
    index_of = {name: index for index, name in enumerate(names)}
    adjacency: dict[int, dict[int, list[int]]] = {vertex: {} for vertex in range(len(names))}
    for link_index, link in enumerate(spec.links):
        first, second = (index_of[end] for end in link.endpoints)
        adjacency[first].setdefault(second, []).append(link_index)
        adjacency[second].setdefault(first, []).append(link_index)
    links = spec.links
    heap: list[tuple[float, int, tuple[str, ...], tuple[str, ...], int, tuple[int, ...], tuple[int, ...]]]
    heap = [(0.0, 0, (names[src],), (), src, (src,), ())]
    routes: dict[int, RouteKey] = {}
    while heap:
        latency_s, hops, vertex_path_names, link_path_names, vertex, vertex_path, link_path = heapq.heappop(heap)
        if vertex in routes:
            continue
        routes[vertex] = (vertex_path, link_path, latency_s)
        for neighbour, parallel_links in adjacency[vertex].items():
            if neighbour in routes:
                continue
            for link_index in parallel_links:
                heapq.heappush(
                    heap,
                    (
                        latency_s + links[link_index].latency_s,
                        hops + 1,
                        (*vertex_path_names, names[neighbour]),
                        (*link_path_names, links[link_index].name),
                        neighbour,
                        (*vertex_path, neighbour),
                        (*link_path, link_index),
                    ),
                )
    return routes


def random_topology(
    rng: random.Random, latencies: Sequence[float], max_vertices: int = 24
) -> tuple[list[str], NetworkSpec]:
    """A random, possibly disconnected multigraph with many equal-latency ties and parallel links.

    Vertex and link names are random, so their order differs from index order and from insertion order.
    """
    n_nodes = rng.randint(1, max_vertices - 2)
    n_switches = rng.randint(0, 2)
    pool = [f"{first}{second}{digit}" for first in "abcdefghij" for second in "xyz" for digit in range(10)]
    names = rng.sample(pool, n_nodes + n_switches)
    nodes, switches = names[:n_nodes], names[n_nodes:]
    n_vertices = len(names)
    link_names = rng.sample([f"l{index:04d}" for index in range(10_000)], 3 * n_vertices)
    links: list[LinkSpec] = []
    for vertex in range(1, n_vertices):  # mostly connected: a random tree, some of it cut
        if rng.random() < 0.9:
            links.append(LinkSpec(link_names.pop(), (names[vertex], names[rng.randrange(vertex)]),
                                  rng.choice(latencies), rng.choice([1.0, 2.0, math.inf]),
                                  rng.choice(["full", "half"])))
    for _ in range(rng.randint(0, n_vertices)):  # extra links, some parallel to existing ones
        if rng.random() < 0.3 and links:
            first, second = rng.choice(links).endpoints
        else:
            first, second = rng.sample(names, 2) if n_vertices > 1 else (names[0], names[0])
        if first != second:
            links.append(LinkSpec(link_names.pop(), (first, second), rng.choice(latencies),
                                  rng.choice([1.0, 2.0, math.inf]), rng.choice(["full", "half"])))
    rng.shuffle(links)
    return nodes, NetworkSpec(switches=tuple(switches), links=tuple(links))


def check_route_fields(topology: Topology, route_vertices: Sequence[int], route_links: Sequence[int],
                       resources: Sequence[int], shared: Sequence[int], bottleneck: float) -> None:
    """The route's resources follow its links in the direction of travel, and its bottleneck is their minimum."""
    links = topology.spec.links
    expected: list[int] = []
    for position, link_index in enumerate(route_links):
        link = links[link_index]
        here, there = (topology.vertex_names[vertex] for vertex in route_vertices[position:position + 2])
        assert {here, there} == set(link.endpoints)
        owned = [resource for resource, owner in enumerate(topology.resource_link) if owner == link_index]
        if link.duplex == "half":
            expected.append(owned[0])
            assert topology.resource_direction[owned[0]] == f"{link.endpoints[0]}<->{link.endpoints[1]}"
        else:
            (crossed,) = [r for r in owned if topology.resource_direction[r] == f"{here}->{there}"]
            expected.append(crossed)
    assert list(resources) == expected
    assert list(shared) == [resource for resource in expected if topology.capacities[resource] != math.inf]
    assert bottleneck == min((links[link].bandwidth_bytes_per_s for link in route_links), default=math.inf)


def assert_same_routes(nodes: list[str], spec: NetworkSpec, rng: random.Random) -> None:
    """Every pair's route (asked for in random order, so searches are resumed and evicted) is the reference's."""
    topology = Topology(spec, nodes)
    n_vertices = len(topology.vertex_names)
    reference = {src: reference_routes_from(spec, nodes, src) for src in range(n_vertices)}
    pairs = list(itertools.product(range(n_vertices), repeat=2))
    rng.shuffle(pairs)
    for src, dst in pairs:
        expected = reference[src].get(dst)
        assert topology.has_route(src, dst) == (expected is not None)
        route = topology.find_route(src, dst)
        if expected is None:
            assert route is None
            with pytest.raises(ValueError, match="no route"):
                topology.route(src, dst)
            continue
        assert route is not None
        assert (route.vertices, route.links, route.latency_s) == expected, (src, dst)
        assert topology.route(src, dst) is route
        check_route_fields(topology, route.vertices, route.links, route.resources, route.shared_resources,
                           route.bottleneck_bytes_per_s)


@pytest.mark.property
@pytest.mark.parametrize("first_seed", range(0, 600, 100))
def test_routes_equal_the_full_search_on_random_graphs(first_seed: int) -> None:
    """Equal-latency ties everywhere (latencies from a small set, zeros included), parallel links."""
    for seed in range(first_seed, first_seed + 100):
        rng = random.Random(seed)
        nodes, spec = random_topology(rng, [0.0, 0.25, 0.5, 1.0])
        assert_same_routes(nodes, spec, rng)


@pytest.mark.property
@pytest.mark.parametrize("first_seed", range(1000, 1300, 100))
def test_routes_equal_the_full_search_with_rounding(first_seed: int) -> None:
    """Latencies whose sums round (0.1 + 0.2 != 0.3): the float sums must be taken exactly as before."""
    for seed in range(first_seed, first_seed + 100):
        rng = random.Random(seed)
        nodes, spec = random_topology(rng, [0.0, 0.1, 0.2, 0.3, 0.7, 1e-3], max_vertices=40)
        assert_same_routes(nodes, spec, rng)


@pytest.mark.property
def test_routes_equal_the_full_search_on_larger_graphs() -> None:
    """A few hundred vertices (longer paths, more partial searches kept and evicted)."""
    rng = random.Random(7)
    for _ in range(3):
        nodes, spec = random_topology(rng, [0.0, 0.5, 1.0], max_vertices=300)
        topology = Topology(spec, nodes)
        n_vertices = len(topology.vertex_names)
        sources = rng.sample(range(n_vertices), min(20, n_vertices))
        for src in sources:
            reference = reference_routes_from(spec, nodes, src)
            for dst in rng.sample(range(n_vertices), min(40, n_vertices)):
                route = topology.find_route(src, dst)
                expected = reference.get(dst)
                assert (route.vertices, route.links, route.latency_s) == expected if route else expected is None


def networkx_route(topology: Topology, src: int, dst: int) -> RouteKey | None:
    """The documented rule applied to networkx's shortest paths: least latency, then fewest hops, then the
    smallest sequence of vertex names, then, link by link, the parallel link of least latency and smallest name.
    Exact only when latencies add up without rounding."""
    names = topology.vertex_names
    links = topology.spec.links
    graph = nx.MultiGraph()
    graph.add_nodes_from(range(len(names)))
    for link_index, link in enumerate(links):
        first, second = (topology.vertex_index(end) for end in link.endpoints)
        graph.add_edge(first, second, key=link_index, latency_s=link.latency_s)
    if not nx.has_path(graph, src, dst):
        return None

    def weight(_u: int, _v: int, parallel: dict[int, dict[str, float]]) -> float:
        return min(attributes["latency_s"] for attributes in parallel.values())

    paths = list(nx.all_shortest_paths(graph, src, dst, weight=weight))
    vertex_path = min(paths, key=lambda path: (len(path), [names[vertex] for vertex in path]))
    link_path = tuple(
        min(graph[here][there], key=lambda link: (links[link].latency_s, links[link].name))
        for here, there in itertools.pairwise(vertex_path)
    )
    latency_s = sum(links[link].latency_s for link in link_path)
    return tuple(vertex_path), link_path, latency_s


@pytest.mark.property
def test_routes_equal_networkx_shortest_paths_with_the_tie_break() -> None:
    """An independent reference on exact (dyadic) latencies: networkx's all shortest paths, tie-broken."""
    for seed in range(300):
        rng = random.Random(10_000 + seed)
        nodes, spec = random_topology(rng, [0.0, 0.25, 0.5, 1.0], max_vertices=12)
        topology = Topology(spec, nodes)
        n_vertices = len(topology.vertex_names)
        for src, dst in itertools.product(range(n_vertices), repeat=2):
            route = topology.find_route(src, dst)
            found = None if route is None else (route.vertices, route.links, route.latency_s)
            assert found == networkx_route(topology, src, dst), (seed, src, dst)


@pytest.mark.unit
def test_only_asked_routes_are_kept() -> None:
    """Reference: the design contract: routes are cached per (source, destination) pair asked for, connectivity
    needs no route, and the latencies of only a few sources are kept."""
    n_nodes = 5000
    nodes = [f"n{index}" for index in range(n_nodes)]
    links = tuple(LinkSpec(f"l{index}", (nodes[index], nodes[index + 1]), 0.001, 1.0) for index in range(n_nodes - 1))
    topology = Topology(NetworkSpec(links=links), nodes)
    assert topology.route(10, 11).vertices == (10, 11)
    assert topology.route(10, 9).vertices == (10, 9)
    assert set(topology._routes) == {(10, 11), (10, 9)}
    assert topology.has_route(0, n_nodes - 1)
    assert set(topology._routes) == {(10, 11), (10, 9)}
    route = topology.route(0, n_nodes - 1)
    assert route.hops == n_nodes - 1
    assert route.latency_s == sum([0.001] * (n_nodes - 1))
    for src in range(100):
        topology.route(src, n_nodes - 1 - src)
    assert len(topology._routes) == 102
    assert len(topology._latencies) <= 8


@pytest.mark.unit
def test_routes_from_is_a_lazy_mapping() -> None:
    """Reference: the Mapping contract: membership is reachability, get() returns None when unreachable."""
    nodes = ["a", "b", "c", "d"]
    spec = NetworkSpec(links=(LinkSpec("ab", ("a", "b"), 0.1, 1.0), LinkSpec("bc", ("b", "c"), 0.1, 1.0)))
    topology = Topology(spec, nodes)
    routes = topology.routes_from(0)
    assert 2 in routes and 3 not in routes and 7 not in routes and "c" not in routes
    assert routes.get(3) is None
    assert routes[2].vertices == (0, 1, 2)
    assert routes[0].hops == 0 and routes[0].latency_s == 0.0
    assert sorted(routes) == [0, 1, 2] and len(routes) == 3
    with pytest.raises(KeyError):
        routes[3]
    with pytest.raises(IndexError):
        topology.routes_from(4)
    with pytest.raises(IndexError):
        topology.find_route(0, 4)
    assert topology.graph.number_of_edges() == 2
