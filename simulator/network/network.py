"""The network of a run: transfers over the topology's routes at the rates a sharing model gives them.

A transfer (a *flow*) between two vertices follows one fixed route, the path of least total latency. It first
waits that latency, then pushes its bytes through the route's links at the rate of the sharing model
(`simulator.network.sharing`). Everything is driven by callbacks on ``env.timeout`` events rather than SimPy
processes, because a run may have thousands of concurrent flows and a process per flow costs far more than a
callback.

Links may fail and be repaired during a run (`Network.set_link_up`, called by the dynamics layer). A flow whose
route crosses a link that fails loses its attempt, in its latency or transmitting: the attempt is recorded
(`Network.failed_transfer_table`) and the flow starts again from its first byte on the route of least latency
over the links that are up, or waits until a repair gives it one. Nothing of this runs while no link changes
state: a transfer costs what it cost before links could fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import networkx as nx
import pandas as pd
import simpy

from simulator.config.network_spec import NetworkSpec
from simulator.network.records import Flow, TransferRecords
from simulator.network.sharing import make_sharing_model
from simulator.network.topology import Route, Topology

__all__ = ["Network"]


class Network:
    """Links, routes and bandwidth sharing between the vertices of a simulated system.

    Vertices are the compute nodes (indices ``0 .. len(vertices) - 1``, in the order given) followed by the
    spec's switches. Times are in seconds, sizes in bytes, bandwidths in bytes per second. See `Topology` for
    links, resources and routes, and `simulator.network.sharing` for the sharing models.

    Args:
        env: The simulation's environment; transfers schedule their completions on it.
        spec: Links, switches and the sharing model.
        vertices: Names of the compute nodes in index order.

    Raises:
        ValueError: If the spec is impossible (see `Topology`) or names an unknown sharing model.
    """

    def __init__(self, env: simpy.Environment, spec: NetworkSpec, vertices: Sequence[str]) -> None:
        self._env = env
        self.topology = Topology(spec, vertices)
        self.records = TransferRecords(env, self.topology)
        self._sharing = make_sharing_model(spec.sharing, env, self.topology, self.records)
        self._shares_bandwidth = spec.sharing != "none"
        self._n_flows_started = 0
        # Flows that have no route over the links that are up, by sequence: they start when a repair gives one.
        self._waiting: dict[int, Flow] = {}

    # ------------------------------------------------------------------ topology and routes

    @property
    def spec(self) -> NetworkSpec:
        """The spec this network was built from."""
        return self.topology.spec

    @property
    def n_compute_nodes(self) -> int:
        """Number of compute nodes; vertex indices from this one on are switches."""
        return self.topology.n_compute_nodes

    @property
    def vertex_names(self) -> tuple[str, ...]:
        """Names of all vertices: compute nodes in index order, then switches."""
        return self.topology.vertex_names

    @property
    def graph(self) -> nx.MultiGraph:
        """Undirected topology (see `Topology.graph`)."""
        return self.topology.graph

    def vertex_index(self, name: str) -> int:
        """Index of the vertex called ``name`` (KeyError if none)."""
        return self.topology.vertex_index(name)

    def route(self, src: int, dst: int) -> Route:
        """The route from ``src`` to ``dst`` over the links that are up (see `Topology.route`)."""
        return self.topology.route(src, dst)

    def has_route(self, src: int, dst: int) -> bool:
        """Whether data can travel from ``src`` to ``dst`` over the links that are up (always true when they are
        equal)."""
        return self.topology.has_route(src, dst)

    def route_latency_s(self, src: int, dst: int) -> float:
        """Sum of link latencies on the route over the links that are up, in seconds (0 when ``src == dst``)."""
        return self.topology.route_latency_s(src, dst)

    def route_bottleneck_bytes_per_s(self, src: int, dst: int) -> float:
        """Smallest link bandwidth on the route over the links that are up (``math.inf`` when ``src == dst``)."""
        return self.topology.route_bottleneck_bytes_per_s(src, dst)

    # ------------------------------------------------------------------ link failures

    def link_is_up(self, link_name: str) -> bool:
        """Whether the link called ``link_name`` is up (KeyError if no link has that name)."""
        return self.topology.link_is_up(self.topology.link_index(link_name))

    def set_link_up(self, link_name: str, up: bool) -> None:
        """Take the link called ``link_name`` down (``up=False``: both directions of a full-duplex link) or bring
        it back up. Setting the state it already has does nothing.

        Down: every flow whose route crosses the link loses its attempt (in its latency or transmitting; the
        bytes it sent are lost), which is recorded, and starts again at once from its first byte, latency then
        bytes, on the route of least latency over the links that are up; with none it waits. Up: the waiting
        flows that now have a route start, in the order they were asked for. Routes and estimates are over the
        links that are up from now on.

        Raises:
            KeyError: If no link has that name.
        """
        topology = self.topology
        records = self.records
        waiting = self._waiting
        link_index = topology.link_index(link_name)
        if not topology.set_link_up(link_index, up):
            return
        if up:
            records.link_up(link_index)
            for flow in list(waiting.values()):
                route = topology.find_route(flow.src, flow.dst)
                if route is not None:
                    del waiting[flow.sequence]
                    self._start_attempt(flow, route)
            return
        records.link_down(link_index)
        failing = [flow for flow in records.in_flight.values() if link_index in flow.route.links]
        if not failing:
            return
        for flow, bytes_sent in zip(failing, self._sharing.withdraw(failing), strict=True):
            if bytes_sent is None:  # in its latency: its latency timer must do nothing now
                _disarm(flow.timer)
            records.fail(flow, link_index, 0.0 if bytes_sent is None else bytes_sent)
            flow.failed_attempts += 1
            route = topology.find_route(flow.src, flow.dst)
            if route is None:
                flow.route = _no_route(flow.src)
                waiting[flow.sequence] = flow
            else:
                self._start_attempt(flow, route)

    @property
    def failed_transfers(self) -> int:
        """Attempts of transfers that a link failure ended (each transfer still completes once, later)."""
        return self.records.n_failed

    @property
    def n_flows_waiting(self) -> int:
        """Transfers in flight that wait for a route over the links that are up."""
        return len(self._waiting)

    def estimate_s(self, src: int, dst: int, n_bytes: float) -> float:
        """Contention-free transfer time: route latency plus bytes over the bottleneck bandwidth.

        This is what a lone flow takes, so policies can price a placement without simulating. It is 0 when
        ``src == dst`` and ``math.inf`` when no route exists, so an unreachable vertex simply looks infinitely
        expensive.
        """
        topology = self.topology
        if src == dst:
            topology.check_vertex(src)
            return 0.0
        topology.check_vertex(dst)
        route = topology.routes_from(src).get(dst)
        if route is None:
            return math.inf
        if n_bytes == 0:
            return route.latency_s
        return route.latency_s + n_bytes / route.bottleneck_bytes_per_s

    def estimate_shared_s(self, src: int, dst: int, n_bytes: float) -> float:
        """Transfer time if the flows now transmitting keep going: the route latency plus the bytes at the
        rate the sharing model would give a new flow at first (`first_share_bytes_per_s`: an equal share of
        each link under max-min, a share in proportion to the weight under rtt-weighted; the smallest on the
        route). It ignores flows that will end or start meanwhile. Equal to `estimate_s` under ``"none"``.
        """
        if src == dst or n_bytes == 0 or not self._shares_bandwidth:
            return self.estimate_s(src, dst, n_bytes)
        self.topology.check_vertex(dst)
        route = self.topology.routes_from(src).get(dst)
        if route is None:
            return math.inf
        return route.latency_s + n_bytes / self._sharing.first_share_bytes_per_s(route)

    # ------------------------------------------------------------------ transfers

    def transfer(self, src: int, dst: int, n_bytes: float, on_done: Callable[[], None]) -> None:
        """Start moving ``n_bytes`` from ``src`` to ``dst`` now; call ``on_done()`` once the last byte is in.

        The flow first waits the route's total latency, then transmits at the rate the sharing model gives it,
        so a lone flow takes ``latency + n_bytes / bottleneck``. Zero bytes take the latency only; a route of
        infinite bandwidth completes right after its latency. ``src == dst`` is a local hand-over: free, not
        recorded, and ``on_done`` runs from a zero-delay event at the current time. ``on_done`` is never
        called from inside this method, so callers need not guard against re-entry. When the links that are up
        give no route now but would with every link up, the flow waits for a repair (see `set_link_up`).

        Raises:
            IndexError: If a vertex index is out of range.
            ValueError: If ``n_bytes`` is negative, infinite or NaN, or no links connect the vertices, up or
                down.
        """
        if not (n_bytes >= 0.0 and math.isfinite(n_bytes)):
            raise ValueError(f"n_bytes must be finite and >= 0, got {n_bytes}")
        env = self._env
        if src == dst:
            self.topology.check_vertex(src)
            env.timeout(0.0).callbacks.append(partial(_call_on_done, on_done))
            return
        route = self.topology.find_route(src, dst)
        if route is None:
            self._wait_for_route(src, dst, float(n_bytes), on_done)
            return
        timer = env.timeout(route.latency_s)
        flow = Flow(src, dst, float(n_bytes), float(env.now), route, on_done, self._n_flows_started, timer)
        self._n_flows_started += 1
        self.records.in_flight[flow.sequence] = flow
        timer.callbacks.append(partial(self._on_latency_elapsed, flow))

    def _wait_for_route(self, src: int, dst: int, n_bytes: float, on_done: Callable[[], None]) -> None:
        """A transfer asked for while the links that are up connect no route: it waits for a repair.

        Raises:
            ValueError: If no links connect the vertices even with every link up.
        """
        if not self.topology.connected(src, dst):
            self.topology.route(src, dst)  # raises the ValueError naming the vertices
        flow = Flow(src, dst, n_bytes, float(self._env.now), _no_route(src), on_done, self._n_flows_started)
        self._n_flows_started += 1
        self.records.in_flight[flow.sequence] = flow
        self._waiting[flow.sequence] = flow

    def _start_attempt(self, flow: Flow, route: Route) -> None:
        """Start the flow again now, from its first byte, on ``route``."""
        flow.route = route
        flow.attempt_start_s = self._env.now
        flow.timer = timer = self._env.timeout(route.latency_s)
        timer.callbacks.append(partial(self._on_latency_elapsed, flow))

    def _on_latency_elapsed(self, flow: Flow, _event: simpy.Event) -> None:
        """The flow's latency is over: hand it to the sharing model, or finish if nothing limits its rate."""
        if flow.n_bytes == 0.0 or not flow.route.shared_resources:
            self.records.complete(flow)
            flow.on_done()
            return
        self._sharing.start(flow)

    # ------------------------------------------------------------------ observation and results

    @property
    def n_flows_in_flight(self) -> int:
        """Transfers started (``src != dst``) and not yet completed, including those still in latency or waiting
        for a route."""
        return self.records.n_in_flight

    @property
    def bytes_transferred(self) -> float:
        """Total bytes of completed transfers between distinct vertices."""
        return self.records.bytes_transferred

    def current_load(self) -> list[tuple[str, str, float, float]]:
        """Instantaneous load of every bandwidth resource.

        Meant for invariant checks and live monitoring: under ``"max-min"`` the load never exceeds the
        capacity; under ``"none"`` it may, by design.

        Returns:
            One ``(link name, direction, load_bytes_per_s, capacity_bytes_per_s)`` tuple per resource, in the
            order of ``link_table``.
        """
        topology = self.topology
        links = topology.spec.links
        return [
            (links[topology.resource_link[resource]].name, topology.resource_direction[resource], load, capacity)
            for resource, (load, capacity) in enumerate(
                zip(self._sharing.load_bytes_per_s(), topology.capacities, strict=True))
        ]

    def transfer_table(self) -> pd.DataFrame:
        """One row per completed transfer between distinct vertices (see `TransferRecords.transfer_table`)."""
        return self.records.transfer_table()

    def failed_transfer_table(self) -> pd.DataFrame:
        """One row per attempt a link failure ended (see `TransferRecords.failed_transfer_table`)."""
        return self.records.failed_transfer_table()

    def link_table(self, duration_s: float) -> pd.DataFrame:
        """One row per bandwidth resource (see `TransferRecords.link_table`)."""
        return self.records.link_table(duration_s)


def _call_on_done(on_done: Callable[[], None], _event: simpy.Event) -> None:
    on_done()


def _no_route(src: int) -> Route:
    """The route of a flow waiting for one: no link, so no link failure concerns it."""
    return Route((src,), (), 0.0, math.inf, (), ())


def _disarm(timer: simpy.Event | None) -> None:
    """Remove the callbacks of a pending timer, so that it fires doing nothing (a failed attempt's latency)."""
    if timer is not None and timer.callbacks is not None:
        timer.callbacks.clear()
