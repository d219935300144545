"""The topology: vertices, links as bandwidth resources, and routes (paths of least latency).

Each full-duplex link is two independent resources (one per direction), each with the link's bandwidth; a
half-duplex link is one resource shared by both directions. A route is the path of least total latency, its
ties broken by an explicit rule of the project's own (not networkx's, nor the graph's iteration order): fewer
hops first, then the lexicographically smaller sequence of vertex names, then of link names (for parallel
links). Routes are searched for per (source, destination) pair on first use and cached; only the routes asked
for are kept.

Links can go down and come back up during a run (`Topology.set_link_up`): routes, connectivity and least
latencies are then over the links that are up, found again after each change. A run whose links never change
state never pays for this: the caches are filled and read exactly as in a static topology.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

from simulator.config.network_spec import LinkSpec, NetworkSpec, network_problems

__all__ = ["Route", "Topology"]

_SOURCES_KEPT = 8
"""For how many sources the least latencies to every vertex are kept (least recently used dropped first): a
policy pricing one source against many destinations, or a job moving data out of one node, reuses them."""


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

    A route is the path of least total latency (seconds) with explicit tie-breaks: fewer hops, then the
    lexicographically smaller sequence of vertex names, then of link names. Routes are searched for per
    (source, destination) pair on first use and cached, by the project's own search (see `_search`): the
    least latencies from the source come from SciPy's compiled Dijkstra (``scipy.sparse.csgraph``, kept for
    the last few sources), then the project's code picks, among the paths of least latency, the one the
    tie-breaks select. These are exactly the routes of a plain Dijkstra search keyed by (latency, hops, vertex
    names, link names), the project's former algorithm (``tests/test_network_routes.py`` compares the two).
    Whether two vertices are connected at all is read off the connected components, computed once (and again
    after a link changes state), without a search.

    All of this is over the links that are up. `set_link_up` takes a link down or brings it back; each change
    empties the caches of routes, latencies and components, so the next lookups search the remaining links
    with the same rule. A route found again equal to one used before is the same `Route` object, so flows on
    it keep sharing one route group in the sharing model.

    Args:
        spec: Links and switches.
        vertices: Names of the compute nodes in index order.

    Raises:
        ValueError: If the spec is impossible (`simulator.config.network_spec.network_problems`: the same checks a
            scenario file gets).
    """

    def __init__(self, spec: NetworkSpec, vertices: Sequence[str]) -> None:
        problems = network_problems(spec, vertices)
        if problems:
            raise ValueError("; ".join(f"network.{where} {message}" for where, message in problems))
        self._spec = spec
        self.vertex_names: tuple[str, ...] = (*vertices, *spec.switches)
        """Names of all vertices: compute nodes in index order, then switches."""
        self.n_compute_nodes = len(vertices)
        self._index_of = {name: index for index, name in enumerate(self.vertex_names)}
        self._link_ends: list[tuple[int, int]] = []
        # Resource indices of each link as (forward, backward); equal for half-duplex links.
        self._link_resources: list[tuple[int, int]] = []
        self.capacities: list[float] = []
        """Capacity of each resource in bytes per second."""
        self.resource_link: list[int] = []
        """Index of the link each resource belongs to."""
        self.resource_direction: list[str] = []
        """``"a->b"`` for a direction of a full-duplex link, ``"a<->b"`` for a half-duplex link."""
        for link in spec.links:
            self._add_link(link)
        self._index_of_link = {link.name: index for index, link in enumerate(spec.links)}
        self._link_up = [True] * len(spec.links)
        self.n_links_down = 0
        """How many links are down now."""
        # Per vertex: (neighbour, link index, link latency) for every link up at the vertex.
        self._adjacency = self._up_adjacency()
        # Ranks of the names in sorted order: comparing ranks compares the names.
        self._vertex_rank = _ranks(self.vertex_names)
        self._link_rank = _ranks([link.name for link in spec.links])
        self._graph: nx.MultiGraph | None = None
        self._component: list[int] | None = None  # over the links that are up
        self._component_of_all_links: list[int] | None = None  # over every link, up or down
        self._arcs: csr_array | None = None
        self._latencies: OrderedDict[int, np.ndarray] = OrderedDict()
        self._routes: dict[tuple[int, int], Route] = {}
        # Routes found before a link changed state, by (source, links crossed): a path found again is the same
        # object. Empty while no link has changed state.
        self._earlier_routes: dict[tuple[int, tuple[int, ...]], Route] = {}

    @property
    def spec(self) -> NetworkSpec:
        """The spec this topology was built from."""
        return self._spec

    @property
    def graph(self) -> nx.MultiGraph:
        """Undirected topology: vertex indices as nodes, one edge per link keyed by its index in the spec.

        Meant for inspection (drawing, analysis), built on first access; mutating it does not change the
        routes. It holds every link, up or down.
        """
        if self._graph is None:
            graph = nx.MultiGraph()
            graph.add_nodes_from(range(len(self.vertex_names)))
            graph.add_edges_from((first, second, link_index)
                                 for link_index, (first, second) in enumerate(self._link_ends))
            self._graph = graph
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

    def link_index(self, name: str) -> int:
        """Index (into the spec's links) of the link called ``name``.

        Raises:
            KeyError: If no link has that name.
        """
        try:
            return self._index_of_link[name]
        except KeyError:
            raise KeyError(f"unknown link {name!r}; known links: {list(self._index_of_link)}") from None

    def _add_link(self, link: LinkSpec) -> None:
        """Record one (checked) link's ends and create its bandwidth resources."""
        link_index = len(self._link_ends)
        first, second = (self._index_of[endpoint] for endpoint in link.endpoints)

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

    def _up_adjacency(self) -> list[list[tuple[int, int, float]]]:
        """Per vertex, ``(neighbour, link index, link latency)`` for every link up at the vertex, in link order."""
        adjacency: list[list[tuple[int, int, float]]] = [[] for _ in self.vertex_names]
        for link_index, (first, second) in enumerate(self._link_ends):
            if self._link_up[link_index]:
                latency_s = self._spec.links[link_index].latency_s
                adjacency[first].append((second, link_index, latency_s))
                adjacency[second].append((first, link_index, latency_s))
        return adjacency

    # ------------------------------------------------------------------ link state

    def link_is_up(self, link_index: int) -> bool:
        """Whether the link with this index (into the spec's links) is up."""
        return self._link_up[link_index]

    def set_link_up(self, link_index: int, up: bool) -> bool:
        """Take the link with this index down (``up=False``) or bring it back up; returns whether its state
        changed (setting the state it already has does nothing).

        After a change, routes, least latencies and connectivity are found again, over the links that are up,
        when next asked for. Routes already handed out are not changed: flows on them are the caller's.

        Raises:
            IndexError: If ``link_index`` is out of range.
        """
        link_up = self._link_up
        if link_up[link_index] == up:
            return False
        link_up[link_index] = up
        self.n_links_down += -1 if up else 1
        self._adjacency = self._up_adjacency()
        self._component = None
        self._arcs = None
        self._latencies.clear()
        earlier_routes = self._earlier_routes
        for (src, _), route in self._routes.items():
            earlier_routes.setdefault((src, route.links), route)
        self._routes = {}
        return True

    # ------------------------------------------------------------------ routes

    def find_route(self, src: int, dst: int) -> Route | None:
        """The route from ``src`` to ``dst`` over the links that are up, or None if they do not connect them
        (searched once, then cached until a link changes state).

        Raises:
            IndexError: If a vertex index is out of range.
        """
        route = self._routes.get((src, dst))
        if route is not None:
            return route
        self.check_vertex(src)
        self.check_vertex(dst)
        if src == dst:
            route = Route((src,), (), 0.0, math.inf, (), ())
        elif not self.has_route(src, dst):
            return None
        else:
            route = self._search(src, dst)
            if self._earlier_routes:  # the same path as before a link changed state: the same object
                route = self._earlier_routes.get((src, route.links), route)
        self._routes[(src, dst)] = route
        return route

    def route(self, src: int, dst: int) -> Route:
        """The route from ``src`` to ``dst`` over the links that are up (an empty route when they are equal).

        Raises:
            IndexError: If a vertex index is out of range.
            ValueError: If the links that are up do not connect the two vertices.
        """
        route = self.find_route(src, dst)
        if route is None:
            down = f" over the links that are up ({self.n_links_down} down)" if self.n_links_down else ""
            raise ValueError(f"no route from {self.vertex_names[src]!r} to {self.vertex_names[dst]!r}{down}")
        return route

    def routes_from(self, src: int) -> Mapping[int, Route]:
        """The routes from ``src``, as a read-only mapping from destination vertex to route.

        The mapping holds the destinations ``src`` can reach; each route is searched for when first looked up
        (see `find_route`), so ``routes_from(src).get(dst)`` costs one route, not all of them.

        Raises:
            IndexError: If ``src`` is out of range.
        """
        self.check_vertex(src)
        return _RoutesFrom(self, src)

    def has_route(self, src: int, dst: int) -> bool:
        """Whether data can travel from ``src`` to ``dst`` over the links that are up (always true when they are
        equal).

        Raises:
            IndexError: If a vertex index is out of range.
        """
        self.check_vertex(src)
        self.check_vertex(dst)
        component = self._component
        if component is None:
            component = self._component = self._components(self._link_up)
        return component[src] == component[dst]

    def connected(self, src: int, dst: int) -> bool:
        """Whether the links connect ``src`` and ``dst`` when every link is up (always true when they are equal):
        whether a route can exist at all, whatever is down now.

        Raises:
            IndexError: If a vertex index is out of range.
        """
        self.check_vertex(src)
        self.check_vertex(dst)
        component = self._component_of_all_links
        if component is None:
            component = self._component_of_all_links = self._components([True] * len(self._link_ends))
        return component[src] == component[dst]

    def route_latency_s(self, src: int, dst: int) -> float:
        """Sum of link latencies on the route, in seconds (0 when ``src == dst``)."""
        return self.route(src, dst).latency_s

    def route_bottleneck_bytes_per_s(self, src: int, dst: int) -> float:
        """Smallest link bandwidth on the route (``math.inf`` when ``src == dst``)."""
        return self.route(src, dst).bottleneck_bytes_per_s

    def _components(self, link_included: Sequence[bool]) -> list[int]:
        """Connected component of each vertex, as the smallest vertex index in it (union-find over the links
        marked in ``link_included``)."""
        parent = list(range(len(self.vertex_names)))

        def root(vertex: int) -> int:
            while parent[vertex] != vertex:
                parent[vertex] = parent[parent[vertex]]
                vertex = parent[vertex]
            return vertex

        for (first, second), included in zip(self._link_ends, link_included, strict=True):
            if not included:
                continue
            first_root, second_root = root(first), root(second)
            if first_root != second_root:
                parent[max(first_root, second_root)] = min(first_root, second_root)
        return [root(vertex) for vertex in range(len(parent))]

    def _latencies_from(self, src: int) -> np.ndarray:
        """Least latency in seconds from ``src`` to every vertex (inf where unreachable), kept for the last
        few sources."""
        latencies = self._latencies.get(src)
        if latencies is not None:
            self._latencies.move_to_end(src)
            return latencies
        arcs = self._arcs
        if arcs is None:
            arcs = self._arcs = self._arc_matrix()
        latencies = dijkstra(arcs, directed=True, indices=src)
        self._latencies[src] = latencies
        if len(self._latencies) > _SOURCES_KEPT:
            self._latencies.popitem(last=False)
        return latencies

    def _arc_matrix(self) -> csr_array:
        """Both directions of every link that is up as a sparse matrix of latencies, the smallest of parallel
        links."""
        n_vertices = len(self.vertex_names)
        up = [link_index for link_index, link_up in enumerate(self._link_up) if link_up]
        if not up:
            return csr_array((n_vertices, n_vertices), dtype=np.float64)
        ends = np.array([self._link_ends[link_index] for link_index in up], dtype=np.int64)
        link_latencies = np.array([self._spec.links[link_index].latency_s for link_index in up], dtype=np.float64)
        tails = np.concatenate([ends[:, 0], ends[:, 1]])
        heads = np.concatenate([ends[:, 1], ends[:, 0]])
        latencies = np.concatenate([link_latencies, link_latencies])
        order = np.lexsort((latencies, heads, tails))  # by tail, head, then latency: each pair's least first
        tails, heads, latencies = tails[order], heads[order], latencies[order]
        first = np.ones(len(tails), dtype=bool)
        first[1:] = (tails[1:] != tails[:-1]) | (heads[1:] != heads[:-1])
        # Zero latencies stay explicit entries, which csgraph takes as edges of length 0.
        return csr_array((latencies[first], (tails[first], heads[first])), shape=(n_vertices, n_vertices))

    def _search(self, src: int, dst: int) -> Route:
        """The route from ``src`` to ``dst``, which must be connected and distinct.

        The least latency from ``src`` to every vertex comes from SciPy's compiled Dijkstra; these are the
        latencies the project's former search settled (both are the least, over paths, of the latencies summed
        in path order, in the same float arithmetic). A link ``u - v`` lies on a path of least latency when
        ``latency[u] + link latency == latency[v]`` exactly (a *tight* link). The tight links leading back
        from ``dst`` hold every path of least latency from ``src`` to ``dst``; among them, breadth-first
        layers from ``src`` give the fewest hops, and each layer is sorted by the position of each vertex's
        chosen predecessor in the layer before and then by its own name, which orders the layer by the
        sequence of vertex names on the paths, so each vertex takes its first predecessor in that order, and
        the parallel tight link of the smallest name.
        """
        latencies = self._latencies_from(src)
        adjacency = self._adjacency
        # The tight links into each vertex from which dst is reached by tight links, found walking back.
        tight_from: dict[int, list[tuple[int, int]]] = {dst: []}
        stack = [dst]
        while stack:
            vertex = stack.pop()
            if vertex == src:
                continue
            vertex_latency_s = latencies[vertex]
            into = tight_from[vertex]
            for neighbour, link_index, link_latency_s in adjacency[vertex]:
                if latencies[neighbour] + link_latency_s == vertex_latency_s:
                    into.append((neighbour, link_index))
                    if neighbour not in tight_from:
                        tight_from[neighbour] = []
                        stack.append(neighbour)
        tight_to: dict[int, list[tuple[int, int]]] = {vertex: [] for vertex in tight_from}
        for vertex, into in tight_from.items():
            for neighbour, link_index in into:
                tight_to[neighbour].append((vertex, link_index))
        # Breadth-first from src over tight links, one layer (one hop count) at a time.
        vertex_rank, link_rank = self._vertex_rank, self._link_rank
        position = {src: 0}  # place of the vertex's path in its layer, in the order of vertex names
        predecessor: dict[int, tuple[int, int]] = {}
        layer = [src]
        while dst not in position:
            best: dict[int, tuple[int, int, int, int]] = {}  # vertex -> (position of predecessor, link rank, ...)
            for vertex in layer:
                vertex_position = position[vertex]
                for neighbour, link_index in tight_to[vertex]:
                    if neighbour in position:
                        continue
                    key = (vertex_position, link_rank[link_index], vertex, link_index)
                    if neighbour not in best or key < best[neighbour]:
                        best[neighbour] = key
            if not best:
                raise AssertionError(f"no path of least latency from vertex {src} to {dst} among the tight links")
            layer = sorted(best, key=lambda vertex: (best[vertex][0], vertex_rank[vertex]))
            for index, vertex in enumerate(layer):
                position[vertex] = index
                predecessor[vertex] = best[vertex][2:]
        vertices = [dst]
        links: list[int] = []
        vertex = dst
        while vertex != src:
            vertex, link_index = predecessor[vertex]
            links.append(link_index)
            vertices.append(vertex)
        vertices.reverse()
        links.reverse()
        return self._make_route(vertices, links, float(latencies[dst]))

    def _make_route(self, vertices: list[int], links: list[int], latency_s: float) -> Route:
        resources: list[int] = []
        bottleneck = math.inf
        for position, link_index in enumerate(links):
            forward, backward = self._link_resources[link_index]
            traversed_forward = self._link_ends[link_index][0] == vertices[position]
            resources.append(forward if traversed_forward else backward)
            bottleneck = min(bottleneck, self.capacities[forward])
        shared = tuple(resource for resource in resources if self.capacities[resource] != math.inf)
        return Route(tuple(vertices), tuple(links), latency_s, bottleneck, tuple(resources), shared)


class _RoutesFrom(Mapping[int, Route]):
    """Read-only view of the routes from one source; each route is searched for on first lookup."""

    __slots__ = ("_src", "_topology")

    def __init__(self, topology: Topology, src: int) -> None:
        self._topology = topology
        self._src = src

    def __getitem__(self, dst: int) -> Route:
        route = self._topology.find_route(self._src, dst) if isinstance(dst, int) else None
        if route is None:
            raise KeyError(dst)
        return route

    def get(self, dst: int, default: Route | None = None) -> Route | None:  # type: ignore[override]
        route = self._topology.find_route(self._src, dst)
        return default if route is None else route

    def __contains__(self, dst: object) -> bool:
        topology = self._topology
        return (isinstance(dst, int) and 0 <= dst < len(topology.vertex_names)
                and topology.has_route(self._src, dst))

    def __iter__(self) -> Iterator[int]:
        topology = self._topology
        return (dst for dst in range(len(topology.vertex_names)) if topology.has_route(self._src, dst))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _ranks(names: Sequence[str]) -> list[int]:
    """Position of each (distinct) name in sorted order."""
    ranks = [0] * len(names)
    for rank, index in enumerate(sorted(range(len(names)), key=names.__getitem__)):
        ranks[index] = rank
    return ranks
