"""The topology: vertices, links as bandwidth resources, and routes (paths of least latency).

Each full-duplex link is two independent resources (one per direction), each with the link's bandwidth; a
half-duplex link is one resource shared by both directions. Routes are found by the project's own Dijkstra
search, not networkx's, because its tie-breaks are explicit: fewer hops first, then the lexicographically
smaller sequence of vertex names, then of link names (for parallel links), so runs never depend on graph
iteration order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from simulator.network_spec import DUPLEX_MODES, LinkSpec, NetworkSpec

__all__ = ["Route", "Topology"]


@dataclass(frozen=True, slots=True)
class Route:
    """A fixed path between two vertices and what it costs a lone flow.

    Attributes:
        vertices: Vertex indices from source to destination, both included.
        links: Indices (into the network spec's links) of the links crossed, in order.
        latency_s: Sum of the links' latencies in seconds.
        bottleneck_bytes_per_s: Smallest link bandwidth on the path; ``math.inf`` when none is finite or the
            route is empty.
        resources: Indices of the bandwidth resources crossed (one per link direction, or one per half-duplex
            link).
        shared_resources: The subset of ``resources`` with finite capacity: the only ones that limit rates.
    """

    vertices: tuple[int, ...]
    links: tuple[int, ...]
    latency_s: float
    bottleneck_bytes_per_s: float
    resources: tuple[int, ...]
    shared_resources: tuple[int, ...]

    @property
    def hops(self) -> int:
        """Number of links crossed."""
        return len(self.links)



class Topology:
    """Vertices (compute nodes, then switches), links and their bandwidth resources, and routes between vertices.

    Routes are computed lazily, one single-source search per source vertex on first use, and cached.

    Args:
        spec: Links and switches.
        vertices: Names of the compute nodes in index order.

    Raises:
        ValueError: If the spec is impossible: duplicate vertex or link names, a link to an unknown vertex
            or to itself, a negative or infinite latency, a non-positive bandwidth, or an unknown duplex mode.
    """

    def __init__(self, spec: NetworkSpec, vertices: Sequence[str]) -> None:
        self._spec = spec
        self.vertex_names: tuple[str, ...] = (*vertices, *spec.switches)
        """Names of all vertices: compute nodes in index order, then switches."""
        self.n_compute_nodes = len(vertices)
        self._index_of: dict[str, int] = {}
        for index, name in enumerate(self.vertex_names):
            if name in self._index_of:
                raise ValueError(f"duplicate vertex name {name!r} among compute nodes and switches")
            self._index_of[name] = index
        self._graph: nx.MultiGraph = nx.MultiGraph()
        self._graph.add_nodes_from(range(len(self.vertex_names)))
        self._link_ends: list[tuple[int, int]] = []
        # Resource indices of each link as (forward, backward); equal for half-duplex links.
        self._link_resources: list[tuple[int, int]] = []
        self.capacities: list[float] = []
        """Capacity of each resource in bytes per second."""
        self.resource_link: list[int] = []
        """Index of the link each resource belongs to."""
        self.resource_direction: list[str] = []
        """``"a->b"`` for a direction of a full-duplex link, ``"a<->b"`` for a half-duplex link."""
        link_names: set[str] = set()
        for link_index, link in enumerate(spec.links):
            self._add_link(link_index, link, link_names)
        self._routes: dict[int, dict[int, Route]] = {}

    @property
    def spec(self) -> NetworkSpec:
        """The spec this topology was built from."""
        return self._spec

    @property
    def graph(self) -> nx.MultiGraph:
        """Undirected topology: vertex indices as nodes, one edge per link keyed by its index in the spec.

        Meant for inspection (drawing, analysis); mutating it does not change the routes.
        """
        return self._graph

    def vertex_index(self, name: str) -> int:
        """Index of the vertex called ``name``.

        Raises:
            KeyError: If no compute node or switch has that name.
        """
        try:
            return self._index_of[name]
        except KeyError:
            raise KeyError(f"unknown vertex {name!r}; known vertices: {list(self.vertex_names)}") from None

    def check_vertex(self, index: int) -> None:
        """Raises IndexError if ``index`` is no vertex."""
        if not 0 <= index < len(self.vertex_names):
            raise IndexError(f"vertex index {index} out of range 0..{len(self.vertex_names) - 1}")

    def _add_link(self, link_index: int, link: LinkSpec, link_names: set[str]) -> None:
        """Validate one link, add it to the graph and create its bandwidth resources."""
        if link.name in link_names:
            raise ValueError(f"duplicate link name {link.name!r}")
        link_names.add(link.name)
        if len(link.endpoints) != 2:
            raise ValueError(f"link {link.name!r} must have exactly two endpoints, got {link.endpoints!r}")
        for endpoint in link.endpoints:
            if endpoint not in self._index_of:
                raise ValueError(
                    f"link {link.name!r} joins unknown vertex {endpoint!r}; known vertices: {list(self.vertex_names)}"
                )
        first, second = (self._index_of[endpoint] for endpoint in link.endpoints)
        if first == second:
            raise ValueError(f"link {link.name!r} joins vertex {link.endpoints[0]!r} to itself")
        if not (link.latency_s >= 0.0 and math.isfinite(link.latency_s)):
            raise ValueError(f"link {link.name!r} latency_s must be finite and >= 0, got {link.latency_s}")
        if not link.bandwidth_bytes_per_s > 0.0:
            raise ValueError(f"link {link.name!r} bandwidth_bytes_per_s must be > 0, got {link.bandwidth_bytes_per_s}")
        if link.duplex not in DUPLEX_MODES:
            raise ValueError(f"link {link.name!r} duplex must be one of {list(DUPLEX_MODES)}, got {link.duplex!r}")

        first_name, second_name = link.endpoints
        forward = len(self.capacities)
        self.capacities.append(float(link.bandwidth_bytes_per_s))
        self.resource_link.append(link_index)
        if link.duplex == "full":
            self.resource_direction.append(f"{first_name}->{second_name}")
            backward = forward + 1
            self.capacities.append(float(link.bandwidth_bytes_per_s))
            self.resource_link.append(link_index)
            self.resource_direction.append(f"{second_name}->{first_name}")
        else:
            self.resource_direction.append(f"{first_name}<->{second_name}")
            backward = forward
        self._link_ends.append((first, second))
        self._link_resources.append((forward, backward))
        self._graph.add_edge(first, second, key=link_index)

    # ------------------------------------------------------------------ topology and routes


    def routes_from(self, src: int) -> dict[int, Route]:
        """All routes from ``src``, by one Dijkstra search with explicit tie-breaking, cached."""
        cached = self._routes.get(src)
        if cached is not None:
            return cached
        self.check_vertex(src)
        names = self.vertex_names
        links = self._spec.links
        graph_adjacency = self._graph.adj
        # Key: (latency, hops, vertex names on the path, link names on the path). Extending two paths to the
        # same vertex by the same link preserves their order, so Dijkstra stays correct with this key, and
        # link names are unique, so keys never tie and the vertex/link paths behind them are never compared.
        heap: list[tuple[float, int, tuple[str, ...], tuple[str, ...], int, tuple[int, ...], tuple[int, ...]]]
        heap = [(0.0, 0, (names[src],), (), src, (src,), ())]
        routes: dict[int, Route] = {}
        while heap:
            entry = heapq.heappop(heap)
            latency_s, hops, vertex_path_names, link_path_names, vertex, vertex_path, link_path = entry
            if vertex in routes:
                continue
            routes[vertex] = self._make_route(vertex_path, link_path, latency_s)
            for neighbour, parallel_links in graph_adjacency[vertex].items():
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
        self._routes[src] = routes
        return routes

    def _make_route(self, vertex_path: tuple[int, ...], link_path: tuple[int, ...], latency_s: float) -> Route:
        resources: list[int] = []
        bottleneck = math.inf
        for position, link_index in enumerate(link_path):
            forward, backward = self._link_resources[link_index]
            traversed_forward = self._link_ends[link_index][0] == vertex_path[position]
            resources.append(forward if traversed_forward else backward)
            bottleneck = min(bottleneck, self.capacities[forward])
        shared = tuple(resource for resource in resources if self.capacities[resource] != math.inf)
        return Route(vertex_path, link_path, latency_s, bottleneck, tuple(resources), shared)

    def route(self, src: int, dst: int) -> Route:
        """The route from ``src`` to ``dst`` (an empty route when they are equal).

        Raises:
            IndexError: If a vertex index is out of range.
            ValueError: If the topology does not connect the two vertices.
        """
        self.check_vertex(dst)
        route = self.routes_from(src).get(dst)
        if route is None:
            raise ValueError(f"no route from {self.vertex_names[src]!r} to {self.vertex_names[dst]!r}")
        return route

    def has_route(self, src: int, dst: int) -> bool:
        """Whether data can travel from ``src`` to ``dst`` (always true when they are equal)."""
        self.check_vertex(dst)
        return dst in self.routes_from(src)

    def route_latency_s(self, src: int, dst: int) -> float:
        """Sum of link latencies on the route, in seconds (0 when ``src == dst``)."""
        return self.route(src, dst).latency_s

    def route_bottleneck_bytes_per_s(self, src: int, dst: int) -> float:
        """Smallest link bandwidth on the route (``math.inf`` when ``src == dst``)."""
        return self.route(src, dst).bottleneck_bytes_per_s

