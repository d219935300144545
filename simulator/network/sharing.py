"""How flows in transmission share link bandwidth: max-min fairness, or no sharing at all.

* ``"max-min"``: the bandwidth of every resource (a link direction) is shared max-min fairly among the flows
  transmitting through it, computed by progressive filling (Bertsekas & Gallager, *Data Networks*, 2nd ed.,
  section 6.5.2), as SimGrid's flow model does (Velho et al., "On the validity of flow-level TCP network
  models for grid and cloud simulations", ACM TOMACS 2013). Rates are recomputed whenever a flow starts or
  stops transmitting, and one SimPy event is kept pending for the earliest completion.
* ``"none"``: every flow gets its route's bottleneck bandwidth as if it were alone (contention-free).

A sharing model receives a flow when its latency is over and it has bytes to push through at least one
finite resource; it tells the `TransferRecords` when the flow starts and stops transmitting and when it is
complete, then calls the flow's ``on_done``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import simpy

from simulator.network.records import TransferRecords
from simulator.network.topology import Route

__all__ = ["SHARING_MODEL_CLASSES", "Flow", "MaxMinSharing", "UnsharedSharing", "max_min_rates"]

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



@dataclass(slots=True, eq=False)
class Flow:
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
        self.finish_levels: list[tuple[float, int, Flow]] = []


class MaxMinSharing:
    """Max-min fair sharing of the resources' capacities among the transmitting flows (see the module docstring).

    Flows on the same route always get the same rate, so they are kept in route groups (`_RouteGroup`).
    """

    def __init__(self, env: simpy.Environment, capacities: Sequence[float], records: TransferRecords) -> None:
        self._env = env
        self._capacities = capacities
        self._records = records
        # Transmitting flows grouped by route (keyed by the cached route's id), with rates valid since
        # _last_update_s.
        self._groups: dict[int, _RouteGroup] = {}
        self._last_update_s = float(env.now)
        self._generation = 0
        self._next_completion: _RouteGroup | None = None
        # Flows whose latency ended at this instant, admitted (at rate 0 until then) by the next reallocation.
        self._pending_joins: list[Flow] = []
        self._reallocation_event_pending = False

    def start(self, flow: Flow) -> None:
        """The flow's latency is over: it transmits from the recomputation of rates later at this instant."""
        self._records.start_transmitting(flow)
        self._pending_joins.append(flow)
        if not self._reallocation_event_pending:
            # Coalesce every flow that joins at this instant into a single recomputation.
            self._reallocation_event_pending = True
            self._env.timeout(0.0).callbacks.append(self._on_reallocation_event)

    def load_bytes_per_s(self) -> list[float]:
        """The current total rate through each resource."""
        load = [0.0] * len(self._capacities)
        for group in self._groups.values():
            group_rate = group.rate_bytes_per_s * len(group.finish_levels)
            for resource in group.route.resources:
                load[resource] += group_rate
        return load

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
        finished: list[Flow] = []
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
            self._records.stop_transmitting(flow)
            self._records.complete(flow)
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


class UnsharedSharing:
    """No sharing: a flow transmits at its route's bottleneck bandwidth whatever else is in flight."""

    def __init__(self, env: simpy.Environment, capacities: Sequence[float], records: TransferRecords) -> None:
        self._env = env
        self._capacities = capacities
        self._records = records
        self._transmitting: dict[int, Flow] = {}

    def start(self, flow: Flow) -> None:
        self._records.start_transmitting(flow)
        self._transmitting[flow.sequence] = flow
        delay_s = flow.n_bytes / flow.route.bottleneck_bytes_per_s
        self._env.timeout(delay_s).callbacks.append(partial(self._on_done, flow))

    def load_bytes_per_s(self) -> list[float]:
        """The current total rate through each resource (it may exceed the capacity, by design)."""
        load = [0.0] * len(self._capacities)
        for flow in self._transmitting.values():
            for resource in flow.route.resources:
                load[resource] += flow.route.bottleneck_bytes_per_s
        return load

    def _on_done(self, flow: Flow, _event: simpy.Event) -> None:
        del self._transmitting[flow.sequence]
        self._records.stop_transmitting(flow)
        self._records.complete(flow)
        flow.on_done()


SHARING_MODEL_CLASSES: dict[str, Callable[[simpy.Environment, Sequence[float], TransferRecords],
                                          MaxMinSharing | UnsharedSharing]] = {
    "max-min": MaxMinSharing,
    "none": UnsharedSharing,
}
"""The sharing model of each name of `simulator.network_spec.SHARING_MODELS`."""
