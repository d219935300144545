"""Network model: links with latency and bandwidth, routes over a topology, and fair sharing of flows.

A transfer (a *flow*) between two vertices follows one fixed route, the path of least total latency. It first
waits that latency, then pushes its bytes through the route's links. How fast depends on the sharing model:

* ``"max-min"``: the bandwidth of every link direction is shared max-min fairly among the flows transmitting
  through it, computed by progressive filling (Bertsekas & Gallager, *Data Networks*, 2nd ed., section 6.5.2),
  as SimGrid's flow model does (Velho et al., "On the validity of flow-level TCP network models for grid and
  cloud simulations", ACM TOMACS 2013). Rates are recomputed whenever a flow starts or stops transmitting, and
  one SimPy event is kept pending for the earliest completion.
* ``"none"``: every flow gets its route's bottleneck bandwidth as if it were alone (contention-free).

Everything is driven by callbacks on ``env.timeout`` events rather than SimPy processes, because a run may
have thousands of concurrent flows and a process per flow costs far more than a callback.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import networkx as nx
import numpy as np
import pandas as pd
import simpy

from simulator.network_spec import DUPLEX_MODES, SHARING_MODELS, LinkSpec, NetworkSpec

__all__ = ["Network", "Route", "max_min_rates"]

_RELATIVE_DONE_TOLERANCE = 1e-9
"""A flow with at most this fraction of its bytes left is finished (absorbs rounding in rate x time)."""


def max_min_rates(
    flow_routes: Sequence[Sequence[int]],
    capacities: Sequence[float],
    multiplicities: Sequence[int] | None = None,
) -> list[float]:
    """Max-min fair rates of flows over shared resources, by progressive filling.

    All flows start at rate 0 and grow together; when a resource saturates, the flows through it are frozen at
    their current rate, and the rest keep growing (Bertsekas & Gallager, *Data Networks*, section 6.5.2).
    Equivalently: repeatedly take the resource with the smallest fair share (remaining capacity divided by the
    number of its unfrozen flows), freeze its flows at that share and subtract it from every resource they
    cross. A lazy min-heap keyed by fair share makes this O(F x L x log R) for F flows of route length L over
    R resources, instead of O(R) per freezing step; lazy works because a resource's fair share only grows as
    flows at or below it are frozen.

    Args:
        flow_routes: For each flow, the indices of the resources it crosses, each at most once.
        capacities: Capacity of each resource in bytes per second (> 0; ``math.inf`` never constrains).
        multiplicities: Optionally, how many identical flows each entry stands for (>= 1). Identical flows
            always get the same max-min rate, so passing one entry per distinct route with its count gives the
            same rates as listing every flow, at a cost that grows with distinct routes only.

    Returns:
        The rate of each flow in bytes per second, in the order of ``flow_routes``. A flow that crosses no
        finite-capacity resource gets ``math.inf``.

    Raises:
        ValueError: If a capacity is negative or NaN, or the multiplicities do not match the flows.
    """
    n_flows = len(flow_routes)
    if multiplicities is None:
        multiplicities = [1] * n_flows
    elif len(multiplicities) != n_flows:
        raise ValueError(f"got {len(multiplicities)} multiplicities for {n_flows} flows")
    rates = [math.inf] * n_flows
    remaining = [float(capacity) for capacity in capacities]
    for capacity in remaining:
        if not capacity >= 0.0:
            raise ValueError(f"resource capacities must be >= 0 bytes/s, got {capacity}")
    n_unfrozen = [0] * len(remaining)
    flows_through: dict[int, list[int]] = {}
    infinity = math.inf
    for flow, route in enumerate(flow_routes):
        multiplicity = multiplicities[flow]
        for resource in route:
            if remaining[resource] != infinity:
                n_unfrozen[resource] += multiplicity
                members = flows_through.get(resource)
                if members is None:
                    flows_through[resource] = [flow]
                else:
                    members.append(flow)

    heap = [(remaining[resource] / n_unfrozen[resource], resource) for resource in flows_through]
    heapq.heapify(heap)
    heappop, heappush = heapq.heappop, heapq.heappush
    while heap:
        share, resource = heappop(heap)
        count = n_unfrozen[resource]
        if count == 0:
            continue
        current = max(remaining[resource], 0.0) / count
        if current != share:
            # Stale entry: flows through this resource were frozen elsewhere since it was pushed.
            heappush(heap, (current, resource))
            continue
        for flow in flows_through[resource]:
            if rates[flow] != infinity:
                continue
            rates[flow] = share
            multiplicity = multiplicities[flow]
            used = share * multiplicity
            for crossed in flow_routes[flow]:
                # Infinite resources absorb the subtraction and are never in the heap, so no test is needed.
                remaining[crossed] -= used
                n_unfrozen[crossed] -= multiplicity
    return rates


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


@dataclass(slots=True, eq=False)
class _Flow:
    """One transfer in flight; dropped once it completes (completed transfers live in columnar records)."""

    src: int
    dst: int
    n_bytes: float
    start_s: float
    route: Route
    on_done: Callable[[], None]
    sequence: int


class _RouteGroup:
    """The transmitting flows that share one route, and therefore one max-min rate.

    Like the virtual time of a processor-sharing queue, ``service_bytes`` counts the bytes each member could
    send since the group formed; a member joining at service level v with b bytes finishes when the level
    reaches v + b. Advancing the clock, recomputing rates and finding the next completion then cost O(1) per
    group rather than per flow (plus O(log n) per finishing flow), so many flows between the same pair of
    vertices cost little more than one.
    """

    __slots__ = ("finish_levels", "rate_bytes_per_s", "route", "service_bytes")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.service_bytes = 0.0
        self.rate_bytes_per_s = 0.0
        # Min-heap of (finish level in bytes, sequence number for deterministic ties, flow).
        self.finish_levels: list[tuple[float, int, _Flow]] = []


class Network:
    """Links, routes and bandwidth sharing between the vertices of a simulated system.

    Vertices are the compute nodes (indices ``0 .. len(vertices) - 1``, in the order given) followed by the
    spec's switches. Each full-duplex link is two independent resources (one per direction), each with the
    link's bandwidth; a half-duplex link is one resource shared by both directions. Times are in seconds,
    sizes in bytes, bandwidths in bytes per second.

    Routes are the paths of least total latency over the undirected topology. Ties are broken explicitly, so
    runs never depend on graph iteration order: fewer hops first, then the lexicographically smaller sequence
    of vertex names, then of link names (for parallel links). Routes are computed lazily, one single-source
    search per source vertex on first use, and cached.

    Args:
        env: The simulation's environment; transfers schedule their completions on it.
        spec: Links, switches and the sharing model.
        vertices: Names of the compute nodes in index order.

    Raises:
        ValueError: If the spec is impossible: duplicate vertex or link names, a link to an unknown vertex
            or to itself, a negative or infinite latency, a non-positive bandwidth, or an unknown sharing
            model or duplex mode.
    """

    def __init__(self, env: simpy.Environment, spec: NetworkSpec, vertices: Sequence[str]) -> None:
        if spec.sharing not in SHARING_MODELS:
            raise ValueError(f"network sharing must be one of {list(SHARING_MODELS)}, got {spec.sharing!r}")
        self._env = env
        self._spec = spec
        self._sharing_max_min = spec.sharing == "max-min"
        self._vertex_names: tuple[str, ...] = (*vertices, *spec.switches)
        self._n_compute_nodes = len(vertices)
        self._index_of: dict[str, int] = {}
        for index, name in enumerate(self._vertex_names):
            if name in self._index_of:
                raise ValueError(f"duplicate vertex name {name!r} among compute nodes and switches")
            self._index_of[name] = index

        self._graph: nx.MultiGraph = nx.MultiGraph()
        self._graph.add_nodes_from(range(len(self._vertex_names)))
        self._link_ends: list[tuple[int, int]] = []
        # Resource indices of each link as (forward, backward); equal for half-duplex links.
        self._link_resources: list[tuple[int, int]] = []
        self._capacities: list[float] = []
        self._resource_link: list[int] = []
        self._resource_direction: list[str] = []
        link_names: set[str] = set()
        for link_index, link in enumerate(spec.links):
            self._add_link(link_index, link, link_names)

        self._routes: dict[int, dict[int, Route]] = {}

        n_resources = len(self._capacities)
        self._resource_bytes = [0.0] * n_resources
        self._resource_n_transmitting = [0] * n_resources
        self._resource_busy_since_s = [0.0] * n_resources
        self._resource_busy_s = [0.0] * n_resources

        # Max-min state: transmitting flows grouped by route (keyed by the cached route's id), with rates
        # valid since _last_update_s.
        self._groups: dict[int, _RouteGroup] = {}
        self._unshared_transmitting: dict[int, _Flow] = {}
        self._last_update_s = float(env.now)
        self._generation = 0
        self._next_completion: _RouteGroup | None = None
        self._n_flows_started = 0
        # Flows whose latency ended at this instant, admitted (at rate 0 until then) by the next reallocation.
        self._pending_joins: list[_Flow] = []
        self._reallocation_event_pending = False
        self._n_in_flight = 0

        # Completed transfers, columnar so a long run does not keep one object per transfer.
        self._record_src = array("q")
        self._record_dst = array("q")
        self._record_hops = array("q")
        self._record_bytes = array("d")
        self._record_start_s = array("d")
        self._record_end_s = array("d")
        self._bytes_transferred = 0.0

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
                    f"link {link.name!r} joins unknown vertex {endpoint!r}; known vertices: {list(self._vertex_names)}"
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
        forward = len(self._capacities)
        self._capacities.append(float(link.bandwidth_bytes_per_s))
        self._resource_link.append(link_index)
        if link.duplex == "full":
            self._resource_direction.append(f"{first_name}->{second_name}")
            backward = forward + 1
            self._capacities.append(float(link.bandwidth_bytes_per_s))
            self._resource_link.append(link_index)
            self._resource_direction.append(f"{second_name}->{first_name}")
        else:
            self._resource_direction.append(f"{first_name}<->{second_name}")
            backward = forward
        self._link_ends.append((first, second))
        self._link_resources.append((forward, backward))
        self._graph.add_edge(first, second, key=link_index)

    # ------------------------------------------------------------------ topology and routes

    @property
    def spec(self) -> NetworkSpec:
        """The spec this network was built from."""
        return self._spec

    @property
    def n_compute_nodes(self) -> int:
        """Number of compute nodes; vertex indices from this one on are switches."""
        return self._n_compute_nodes

    @property
    def vertex_names(self) -> tuple[str, ...]:
        """Names of all vertices: compute nodes in index order, then switches."""
        return self._vertex_names

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
            raise KeyError(f"unknown vertex {name!r}; known vertices: {list(self._vertex_names)}") from None

    def _check_vertex(self, index: int) -> None:
        if not 0 <= index < len(self._vertex_names):
            raise IndexError(f"vertex index {index} out of range 0..{len(self._vertex_names) - 1}")

    def _routes_from(self, src: int) -> dict[int, Route]:
        """All routes from ``src``, by one Dijkstra search with explicit tie-breaking, cached."""
        cached = self._routes.get(src)
        if cached is not None:
            return cached
        self._check_vertex(src)
        names = self._vertex_names
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
            bottleneck = min(bottleneck, self._capacities[forward])
        shared = tuple(resource for resource in resources if self._capacities[resource] != math.inf)
        return Route(vertex_path, link_path, latency_s, bottleneck, tuple(resources), shared)

    def route(self, src: int, dst: int) -> Route:
        """The route from ``src`` to ``dst`` (an empty route when they are equal).

        Raises:
            IndexError: If a vertex index is out of range.
            ValueError: If the topology does not connect the two vertices.
        """
        self._check_vertex(dst)
        route = self._routes_from(src).get(dst)
        if route is None:
            raise ValueError(f"no route from {self._vertex_names[src]!r} to {self._vertex_names[dst]!r}")
        return route

    def has_route(self, src: int, dst: int) -> bool:
        """Whether data can travel from ``src`` to ``dst`` (always true when they are equal)."""
        self._check_vertex(dst)
        return dst in self._routes_from(src)

    def route_latency_s(self, src: int, dst: int) -> float:
        """Sum of link latencies on the route, in seconds (0 when ``src == dst``)."""
        return self.route(src, dst).latency_s

    def route_bottleneck_bytes_per_s(self, src: int, dst: int) -> float:
        """Smallest link bandwidth on the route (``math.inf`` when ``src == dst``)."""
        return self.route(src, dst).bottleneck_bytes_per_s

    def estimate_s(self, src: int, dst: int, n_bytes: float) -> float:
        """Contention-free transfer time: route latency plus bytes over the bottleneck bandwidth.

        This is what a lone flow takes, so policies can price a placement without simulating. It is 0 when
        ``src == dst`` and ``math.inf`` when no route exists, so an unreachable vertex simply looks infinitely
        expensive.
        """
        if src == dst:
            self._check_vertex(src)
            return 0.0
        self._check_vertex(dst)
        route = self._routes_from(src).get(dst)
        if route is None:
            return math.inf
        if n_bytes == 0:
            return route.latency_s
        return route.latency_s + n_bytes / route.bottleneck_bytes_per_s

    def estimate_shared_s(self, src: int, dst: int, n_bytes: float) -> float:
        """Transfer time if the flows now transmitting keep going: on each link the new flow would get an
        equal share (capacity / (flows + 1)), and the smallest share on the route sets its rate.

        This is the first step of progressive filling seen from the new flow; it ignores flows that will end
        or start meanwhile. Equal to `estimate_s` under ``sharing = "none"``.
        """
        if src == dst or n_bytes == 0 or not self._sharing_max_min:
            return self.estimate_s(src, dst, n_bytes)
        self._check_vertex(dst)
        route = self._routes_from(src).get(dst)
        if route is None:
            return math.inf
        capacities = self._capacities
        transmitting = self._resource_n_transmitting
        share = min((capacities[r] / (transmitting[r] + 1) for r in route.shared_resources), default=math.inf)
        return route.latency_s + n_bytes / share

    # ------------------------------------------------------------------ transfers

    def transfer(self, src: int, dst: int, n_bytes: float, on_done: Callable[[], None]) -> None:
        """Start moving ``n_bytes`` from ``src`` to ``dst`` now; call ``on_done()`` once the last byte is in.

        The flow first waits the route's total latency, then transmits at the rate the sharing model gives it,
        so a lone flow takes ``latency + n_bytes / bottleneck``. Zero bytes take the latency only; a route of
        infinite bandwidth completes right after its latency. ``src == dst`` is a local hand-over: free, not
        recorded, and ``on_done`` runs from a zero-delay event at the current time. ``on_done`` is never
        called from inside this method, so callers need not guard against re-entry.

        Raises:
            IndexError: If a vertex index is out of range.
            ValueError: If ``n_bytes`` is negative, infinite or NaN, or no route connects the vertices.
        """
        if not (n_bytes >= 0.0 and math.isfinite(n_bytes)):
            raise ValueError(f"n_bytes must be finite and >= 0, got {n_bytes}")
        env = self._env
        if src == dst:
            self._check_vertex(src)
            env.timeout(0.0).callbacks.append(partial(_call_on_done, on_done))
            return
        route = self.route(src, dst)
        flow = _Flow(src, dst, float(n_bytes), float(env.now), route, on_done, self._n_flows_started)
        self._n_flows_started += 1
        self._n_in_flight += 1
        env.timeout(route.latency_s).callbacks.append(partial(self._on_latency_elapsed, flow))

    def _on_latency_elapsed(self, flow: _Flow, _event: simpy.Event) -> None:
        """The flow's latency is over: start transmitting, or finish if nothing limits its rate."""
        route = flow.route
        if flow.n_bytes == 0.0 or not route.shared_resources:
            self._complete(flow)
            flow.on_done()
            return
        self._start_transmitting(flow)
        if not self._sharing_max_min:
            self._unshared_transmitting[flow.sequence] = flow
            delay_s = flow.n_bytes / route.bottleneck_bytes_per_s
            self._env.timeout(delay_s).callbacks.append(partial(self._on_unshared_done, flow))
            return
        # The flow transmits nothing until rates are recomputed, which happens later at this same instant.
        self._pending_joins.append(flow)
        if not self._reallocation_event_pending:
            # Coalesce every flow that joins at this instant into a single recomputation.
            self._reallocation_event_pending = True
            self._env.timeout(0.0).callbacks.append(self._on_reallocation_event)

    def _on_unshared_done(self, flow: _Flow, _event: simpy.Event) -> None:
        del self._unshared_transmitting[flow.sequence]
        self._stop_transmitting(flow)
        self._complete(flow)
        flow.on_done()

    def _on_reallocation_event(self, _event: simpy.Event) -> None:
        self._reallocation_event_pending = False
        if self._pending_joins:
            self._advance()
            self._reallocate()

    def _on_completion_event(self, generation: int, _event: simpy.Event) -> None:
        """The earliest predicted completion is due, unless rates changed since it was scheduled."""
        if generation != self._generation:
            return
        self._advance()
        now = self._env.now
        due = self._next_completion
        finished: list[_Flow] = []
        emptied: list[int] = []
        heappop = heapq.heappop
        for key, group in self._groups.items():
            levels = group.finish_levels
            service = group.service_bytes
            rate = group.rate_bytes_per_s
            if group is due:
                # The scheduled flow is done by construction, whatever rounding left of it.
                finished.append(heappop(levels)[2])
            while levels:
                finish_level, _, flow = levels[0]
                remaining = finish_level - service
                # Done if (almost) no bytes are left, or if the time left is below the clock's resolution,
                # so rounding cannot leave a sliver of bytes for a zero-delay event.
                if remaining <= _RELATIVE_DONE_TOLERANCE * flow.n_bytes or (
                    rate > 0.0 and now + remaining / rate <= now
                ):
                    finished.append(heappop(levels)[2])
                else:
                    break
            if not levels:
                emptied.append(key)
        for key in emptied:
            del self._groups[key]
        for flow in finished:
            self._stop_transmitting(flow)
            self._complete(flow)
        # Reallocate before running callbacks, so the network is consistent whatever they do.
        self._reallocate()
        for flow in finished:
            flow.on_done()

    def _advance(self) -> None:
        """Move every route group's service level forward to now at its current rate."""
        now = self._env.now
        elapsed_s = now - self._last_update_s
        if elapsed_s > 0.0:
            for group in self._groups.values():
                group.service_bytes += group.rate_bytes_per_s * elapsed_s
        self._last_update_s = now

    def _reallocate(self) -> None:
        """Admit flows waiting to transmit, recompute max-min rates and schedule the earliest completion.

        Callers advance the clock first, so joining flows enter their group at the current service level.
        """
        for flow in self._pending_joins:
            route = flow.route
            group = self._groups.get(id(route))
            if group is None:
                group = self._groups[id(route)] = _RouteGroup(route)
            heapq.heappush(group.finish_levels, (group.service_bytes + flow.n_bytes, flow.sequence, flow))
        self._pending_joins = []
        self._generation += 1
        groups = list(self._groups.values())
        if not groups:
            self._next_completion = None
            return
        rates = max_min_rates(
            [group.route.shared_resources for group in groups],
            self._capacities,
            [len(group.finish_levels) for group in groups],
        )
        earliest_s = math.inf
        next_group = groups[0]
        for group, rate in zip(groups, rates, strict=True):
            group.rate_bytes_per_s = rate
            if rate > 0.0:
                time_left_s = (group.finish_levels[0][0] - group.service_bytes) / rate
                if time_left_s < earliest_s:
                    earliest_s = time_left_s
                    next_group = group
        self._next_completion = next_group
        # A sliver of negative remaining bytes from rounding must not move the clock backwards.
        delay_s = max(earliest_s, 0.0) if earliest_s != math.inf else 0.0
        self._env.timeout(delay_s).callbacks.append(partial(self._on_completion_event, self._generation))

    def _start_transmitting(self, flow: _Flow) -> None:
        now = self._env.now
        n_transmitting = self._resource_n_transmitting
        for resource in flow.route.resources:
            if n_transmitting[resource] == 0:
                self._resource_busy_since_s[resource] = now
            n_transmitting[resource] += 1

    def _stop_transmitting(self, flow: _Flow) -> None:
        now = self._env.now
        n_transmitting = self._resource_n_transmitting
        for resource in flow.route.resources:
            n_transmitting[resource] -= 1
            if n_transmitting[resource] == 0:
                self._resource_busy_s[resource] += now - self._resource_busy_since_s[resource]

    def _complete(self, flow: _Flow) -> None:
        """Record a finished transfer (the caller runs its ``on_done``)."""
        self._n_in_flight -= 1
        n_bytes = flow.n_bytes
        self._bytes_transferred += n_bytes
        resource_bytes = self._resource_bytes
        for resource in flow.route.resources:
            resource_bytes[resource] += n_bytes
        self._record_src.append(flow.src)
        self._record_dst.append(flow.dst)
        self._record_hops.append(flow.route.hops)
        self._record_bytes.append(n_bytes)
        self._record_start_s.append(flow.start_s)
        self._record_end_s.append(self._env.now)

    # ------------------------------------------------------------------ observation and results

    @property
    def n_flows_in_flight(self) -> int:
        """Transfers started (``src != dst``) and not yet completed, including those still in latency."""
        return self._n_in_flight

    @property
    def bytes_transferred(self) -> float:
        """Total bytes of completed transfers between distinct vertices."""
        return self._bytes_transferred

    def current_load(self) -> list[tuple[str, str, float, float]]:
        """Instantaneous load of every bandwidth resource.

        Meant for invariant checks and live monitoring: under ``"max-min"`` the load never exceeds the
        capacity; under ``"none"`` it may, by design.

        Returns:
            One ``(link name, direction, load_bytes_per_s, capacity_bytes_per_s)`` tuple per resource, in the
            order of ``link_table``.
        """
        load = [0.0] * len(self._capacities)
        for group in self._groups.values():
            group_rate = group.rate_bytes_per_s * len(group.finish_levels)
            for resource in group.route.resources:
                load[resource] += group_rate
        for flow in self._unshared_transmitting.values():
            for resource in flow.route.resources:
                load[resource] += flow.route.bottleneck_bytes_per_s
        links = self._spec.links
        link_of = self._resource_link
        directions = self._resource_direction
        return [
            (links[link_of[resource]].name, directions[resource], load[resource], capacity)
            for resource, capacity in enumerate(self._capacities)
        ]

    def transfer_table(self) -> pd.DataFrame:
        """One row per completed transfer between distinct vertices, in completion order.

        Columns: ``src``, ``dst`` (vertex names), ``bytes``, ``start_s`` (when ``transfer`` was called),
        ``end_s`` (last byte arrived), ``duration_s`` and ``hops``.
        """
        names = np.asarray(self._vertex_names, dtype=object)
        start_s = np.frombuffer(self._record_start_s, dtype=np.float64).copy()
        end_s = np.frombuffer(self._record_end_s, dtype=np.float64).copy()
        return pd.DataFrame(
            {
                "src": names[np.frombuffer(self._record_src, dtype=np.int64)],
                "dst": names[np.frombuffer(self._record_dst, dtype=np.int64)],
                "bytes": np.frombuffer(self._record_bytes, dtype=np.float64).copy(),
                "start_s": start_s,
                "end_s": end_s,
                "duration_s": end_s - start_s,
                "hops": np.frombuffer(self._record_hops, dtype=np.int64).copy(),
            }
        )

    def link_table(self, duration_s: float) -> pd.DataFrame:
        """One row per bandwidth resource: each direction of a full-duplex link, or a half-duplex link.

        Columns: ``name`` (link), ``direction`` (``"a->b"``, or ``"a<->b"`` for half duplex), ``duplex``,
        ``latency_s``, ``bandwidth_bytes_per_s``, ``bytes`` (of completed transfers), ``busy_s`` (time with at
        least one flow transmitting, up to now), ``busy_fraction`` (``busy_s / duration_s``) and
        ``utilization`` (``bytes / (bandwidth * duration_s)``, the mean share of capacity used; 0 for infinite
        bandwidth).

        Args:
            duration_s: Length of the observation window, normally the run's simulated duration; fractions are
                NaN when it is 0.

        Raises:
            ValueError: If ``duration_s`` is negative or NaN.
        """
        if not duration_s >= 0.0:
            raise ValueError(f"duration_s must be >= 0, got {duration_s}")
        now = self._env.now
        busy_s = list(self._resource_busy_s)
        for resource, n_transmitting in enumerate(self._resource_n_transmitting):
            if n_transmitting > 0:
                busy_s[resource] += now - self._resource_busy_since_s[resource]
        links = self._spec.links
        link_of = self._resource_link
        capacity = np.asarray(self._capacities, dtype=np.float64)
        carried = np.asarray(self._resource_bytes, dtype=np.float64)
        busy = np.asarray(busy_s, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            busy_fraction = busy / duration_s if duration_s > 0 else np.full(len(busy), math.nan)
            utilization = (
                np.where(np.isinf(capacity), 0.0, carried / (capacity * duration_s))
                if duration_s > 0
                else np.full(len(busy), math.nan)
            )
        return pd.DataFrame(
            {
                "name": [links[link_of[resource]].name for resource in range(len(capacity))],
                "direction": list(self._resource_direction),
                "duplex": [links[link_of[resource]].duplex for resource in range(len(capacity))],
                "latency_s": [float(links[link_of[resource]].latency_s) for resource in range(len(capacity))],
                "bandwidth_bytes_per_s": capacity,
                "bytes": carried,
                "busy_s": busy,
                "busy_fraction": busy_fraction,
                "utilization": utilization,
            }
        )


def _call_on_done(on_done: Callable[[], None], _event: simpy.Event) -> None:
    on_done()
