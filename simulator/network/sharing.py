"""How flows in transmission share link bandwidth: max-min fairness, weighted by round-trip time or not, or no
sharing at all.

* ``"max-min"``: the bandwidth of every resource (a link direction) is shared max-min fairly among the flows
  transmitting through it, computed by progressive filling (Bertsekas & Gallager, *Data Networks*, 2nd ed.,
  section 6.5.2), as SimGrid's flow model does (Velho et al., "On the validity of flow-level TCP network
  models for grid and cloud simulations", ACM TOMACS 2013). Rates are recomputed whenever a flow starts or
  stops transmitting, incrementally: only the flows whose rates can change are recomputed (see
  `MaxMinSharing`).
* ``"rtt-weighted"``: weighted max-min fairness where a flow's weight is inversely proportional to its route's
  latency, as in SimGrid's CM02 model (Casanova & Marchal, "A network model for simulation of grid
  application", 2002): on the resource that limits them, flows get rates in proportion to 1 / latency, so a
  flow with a three times shorter route gets three times the bandwidth. A route of zero latency (possible when
  links have zero latency) is weighted as if its latency were the smallest positive link latency of the
  network, i.e. like the shortest route that crosses at least one link of positive latency; when no link
  has a positive latency every flow weighs the same and the model is plain max-min.
* ``"none"``: every flow gets its route's bottleneck bandwidth as if it were alone (contention-free).

A sharing model receives a flow when its latency is over and it has bytes to push through at least one
finite resource; it tells the `TransferRecords` when the flow starts and stops transmitting and when it is
complete, then calls the flow's ``on_done``. A flow whose link fails is withdrawn (``withdraw``): it leaves the
model as a completed flow would, the others' rates recomputed, but is neither recorded as complete nor called
back.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import simpy

from simulator.network.records import Flow, TransferRecords
from simulator.network.topology import Route, Topology

__all__ = [
    "SHARING_MODEL_CLASSES",
    "FillingResult",
    "MaxMinSharing",
    "RttWeightedSharing",
    "SharingModel",
    "UnsharedSharing",
    "make_sharing_model",
    "max_min_rates",
    "progressive_filling",
    "rtt_weight",
]

_RELATIVE_DONE_TOLERANCE = 1e-12
"""A flow with at most this fraction of its bytes left is finished along with the flow whose completion is
due (absorbs rounding in rate x time, so flows that end together finish in one event). Kept small because a
flow finishing at a low rate ends up to this fraction x its bytes / its rate seconds early."""

_LEVEL_TOLERANCE = 1e-12
"""Relative tolerance when the incremental solver compares fair levels computed at different events: a level
above another by less than this counts as equal (rounding), by more as a violation that widens the
recomputation. Erring towards violations only costs time, never exactness."""

_SATURATION_TOLERANCE = 1e-12
"""A resource with at most this fraction of its capacity unused counts as saturated (absorbs rounding)."""

_USAGE_RESYNC_INTERVAL = 4096
"""Every this many recomputations the per-resource loads are summed afresh, so rounding cannot accumulate."""


def max_min_rates(
    flow_routes: Sequence[Sequence[int]],
    capacities: Sequence[float],
    multiplicities: Sequence[int] | None = None,
    weights: Sequence[float] | None = None,
) -> list[float]:
    """Max-min fair rates of flows over shared resources, by progressive filling; optionally weighted.

    All flows start at rate 0 and grow together; when a resource saturates, the flows through it are frozen at
    their current rate, and the rest keep growing (Bertsekas & Gallager, *Data Networks*, section 6.5.2).
    Equivalently: repeatedly take the resource with the smallest fair share (remaining capacity divided by the
    number of its unfrozen flows), freeze its flows at that share and subtract it from every resource they
    cross. A lazy min-heap keyed by fair share makes this O(F x L x log R) for F flows of route length L over
    R resources, instead of O(R) per freezing step; lazy works because a resource's fair share only grows as
    flows at or below it are frozen.

    With weights, flow ``i`` grows at ``weights[i]`` times a common level and a resource's fair share is per
    unit of weight (remaining capacity divided by the sum of its unfrozen flows' weights), so flows limited by
    the same resource get rates in proportion to their weights (weighted max-min fairness, as SimGrid's
    ``lmm`` solver with sharing penalties ``1 / weight``). Without weights every flow weighs 1 and the rates
    are exactly those of the unweighted computation.

    Args:
        flow_routes: For each flow, the indices of the resources it crosses, each at most once.
        capacities: Capacity of each resource in bytes per second (> 0; ``math.inf`` never constrains).
        multiplicities: Optionally, how many identical flows each entry stands for (>= 1). Identical flows
            always get the same max-min rate, so passing one entry per distinct route with its count gives the
            same rates as listing every flow, at a cost that grows with distinct routes only.
        weights: Optionally, the weight of each entry's flows (finite, > 0); default 1 each.

    Returns:
        The rate of each flow in bytes per second, in the order of ``flow_routes``. A flow that crosses no
        finite-capacity resource gets ``math.inf``.

    Raises:
        ValueError: If a capacity is negative or NaN, a weight is not finite and positive, or the
            multiplicities or weights do not match the flows.
    """
    n_flows = len(flow_routes)
    if multiplicities is None:
        multiplicities = [1] * n_flows
    elif len(multiplicities) != n_flows:
        raise ValueError(f"got {len(multiplicities)} multiplicities for {n_flows} flows")
    if weights is None:
        weights = [1.0] * n_flows
    elif len(weights) != n_flows:
        raise ValueError(f"got {len(weights)} weights for {n_flows} flows")
    else:
        for weight in weights:
            if not (weight > 0.0 and math.isfinite(weight)):
                raise ValueError(f"weights must be finite and > 0, got {weight}")
    remaining: dict[int, float] = {}
    for resource, capacity in enumerate(capacities):
        if not capacity >= 0.0:
            raise ValueError(f"resource capacities must be >= 0 bytes/s, got {capacity}")
        if capacity != math.inf:  # an infinite resource never constrains: leave it out
            remaining[resource] = float(capacity)
    finite_routes = [[resource for resource in route if resource in remaining] for route in flow_routes]
    # The weight of an entry: its flows' weight times their number (exact integers when unweighted).
    entry_weights = [float(weight * multiplicity) for weight, multiplicity in zip(weights, multiplicities, strict=True)]
    levels = progressive_filling(finite_routes, entry_weights, remaining).levels
    return [level * weight for level, weight in zip(levels, weights, strict=True)]


@dataclass
class FillingResult:
    """What progressive filling found: per entry its level (fair share per unit of weight; inf when no
    resource constrains it) and bottleneck resource (-1: none); the resources in the order they froze
    entries, with the level they froze them at; and the entries crossing each resource."""

    levels: list[float]
    bottlenecks: list[int]
    frozen_at: list[tuple[int, float]]
    through: dict[int, list[int]]


def progressive_filling(routes: Sequence[Sequence[int]], weights: Sequence[float],
                        remaining: dict[int, float]) -> FillingResult:
    """Weighted progressive filling, the one implementation behind `max_min_rates` and the incremental engine.

    Repeatedly take the resource with the smallest fair share per unit of weight (remaining capacity divided
    by the weights of its unfrozen entries), freeze its entries at that level and subtract what they use from
    every resource they cross (Bertsekas & Gallager, section 6.5.2). A lazy min-heap keyed by fair share makes
    this O(E x L x log R); lazy works because a resource's fair share only grows as entries at or below it are
    frozen. Ties go to the lowest resource index.

    Args:
        routes: The resources each entry crosses, each at most once; every one must be in ``remaining``.
        weights: The weight of each entry (finite, > 0).
        remaining: Capacity left to the entries on each resource (a negative value counts as 0); updated in
            place to what is left after the filling.
    """
    n_entries = len(routes)
    levels = [math.inf] * n_entries
    bottlenecks = [-1] * n_entries
    weight_unfrozen: dict[int, float] = {}
    n_unfrozen: dict[int, int] = {}
    through: dict[int, list[int]] = {}
    for entry, route in enumerate(routes):
        weight = weights[entry]
        for resource in route:
            entries = through.get(resource)
            if entries is None:
                through[resource] = [entry]
                weight_unfrozen[resource] = weight
                n_unfrozen[resource] = 1
            else:
                entries.append(entry)
                weight_unfrozen[resource] += weight
                n_unfrozen[resource] += 1
    heap = [((remaining[resource] if remaining[resource] > 0.0 else 0.0) / weight_unfrozen[resource], resource)
            for resource in through]
    heapq.heapify(heap)
    heappop, heappush = heapq.heappop, heapq.heappush
    frozen_at: list[tuple[int, float]] = []
    while heap:
        share, resource = heappop(heap)
        if n_unfrozen[resource] == 0:
            continue
        left = remaining[resource]
        current = (left if left > 0.0 else 0.0) / weight_unfrozen[resource]
        if current != share:
            # Stale entry: entries through this resource were frozen elsewhere since it was pushed.
            heappush(heap, (current, resource))
            continue
        frozen_at.append((resource, share))
        for entry in through[resource]:
            if bottlenecks[entry] >= 0:
                continue
            bottlenecks[entry] = resource
            levels[entry] = share
            weight = weights[entry]
            used = share * weight
            for crossed in routes[entry]:
                remaining[crossed] -= used
                weight_unfrozen[crossed] -= weight
                n_unfrozen[crossed] -= 1
    return FillingResult(levels, bottlenecks, frozen_at, through)


def rtt_weight(route: Route, zero_latency_s: float | None) -> float:
    """The weight of a flow under ``"rtt-weighted"`` sharing: 1 / its route's latency in seconds.

    Args:
        route: The flow's route.
        zero_latency_s: The latency that stands for a route of zero latency (the network's smallest positive
            link latency), or None when no link has a positive latency: then every route weighs 1.
    """
    if zero_latency_s is None:
        return 1.0
    latency_s = route.latency_s
    return 1.0 / (latency_s if latency_s > 0.0 else zero_latency_s)


class _RouteGroup:
    """The transmitting flows that share one route, and therefore one max-min rate.

    Like the virtual time of a processor-sharing queue, ``service_bytes`` counts the bytes each member could
    send since the group formed; a member joining at service level v with b bytes finishes when the level
    reaches v + b. The level is advanced lazily: it is stored as of ``updated_s`` and moved forward only when
    the group's rate or membership changes, so an event costs nothing for the groups it does not affect.

    The group's rate is ``weight x level_bytes_per_s`` per flow: ``level_bytes_per_s`` is the fair share per
    unit of weight at which progressive filling froze the group, at its ``bottleneck`` resource, and
    ``load_bytes_per_s`` the total rate of its flows as last counted in the per-resource loads.
    """

    __slots__ = ("bottleneck", "finish_levels", "level_bytes_per_s", "load_bytes_per_s", "new_bottleneck",
                 "new_level_bytes_per_s", "order", "rate_bytes_per_s", "resources", "route", "service_bytes",
                 "updated_s", "version", "weight")

    def __init__(self, route: Route, weight: float, order: int, now: float) -> None:
        self.route = route
        self.resources = route.shared_resources
        self.weight = weight
        self.order = order
        self.service_bytes = 0.0
        self.updated_s = now
        self.rate_bytes_per_s = 0.0
        self.level_bytes_per_s = 0.0
        self.load_bytes_per_s = 0.0
        self.bottleneck = -1
        self.new_level_bytes_per_s = 0.0
        self.new_bottleneck = -1
        # Bumped whenever the group's predicted completion changes; older heap entries are then stale.
        self.version = 0
        # Min-heap of (finish level in bytes, sequence number for deterministic ties, flow).
        self.finish_levels: list[tuple[float, int, Flow]] = []


class MaxMinSharing:
    """Max-min fair sharing of the resources' capacities among the transmitting flows (see the module docstring).

    Flows on the same route always get the same rate, so they are kept in route groups (`_RouteGroup`). Rates
    are recomputed incrementally. A feasible allocation is max-min fair if and only if every group has a
    *bottleneck*: a saturated resource on which no group has a higher level (Bertsekas & Gallager, section
    6.5.2; per unit of weight when weighted), and that allocation is unique. The engine keeps each group's
    level and bottleneck, the groups through each resource and each resource's load across events. When flows
    join or leave, it re-solves only a set S of groups, starting with the groups whose membership changed and
    those sharing their bottleneck: progressive filling over S, with the capacities that the groups outside S
    leave free. The result is then
    checked against the bottleneck condition: a group of S must be at least as high as every group outside S
    on its new bottleneck, and a group outside S whose bottleneck S touched (or a departed group freed) must
    find it still saturated and no group of S above it. Every group failing a check joins S and S is solved
    again; when nothing fails, every group has a bottleneck and the allocation is the max-min fair one, the
    same as a recomputation of everything, to rounding (a level higher than another by at most 1e-12 relative
    counts as equal, and a resource with at most 1e-12 of its capacity unused as saturated). S stays small when
    flows are limited by their own access links, and grows to a whole connected component in the worst case.

    Predicted completions (one per group: its first flow to finish) are kept in a heap with lazy
    invalidation, and a single SimPy event is kept pending for the earliest. A withdrawn flow (its link failed)
    leaves its group as a finished one does, and the same re-solve follows.

    Args:
        env: The simulation's environment.
        capacities: Capacity of each resource in bytes per second.
        records: Accounting of transfers and link use.
        weight_of: The weight of a route's flows (finite, > 0); None weighs every flow 1 (plain max-min).
    """

    def __init__(self, env: simpy.Environment, capacities: Sequence[float], records: TransferRecords,
                 weight_of: Callable[[Route], float] | None = None) -> None:
        self._env = env
        self._capacities = [float(capacity) for capacity in capacities]
        self._records = records
        self._weight_of = weight_of
        # Transmitting flows grouped by route (keyed by the cached route's id).
        self._groups: dict[int, _RouteGroup] = {}
        self._n_groups_made = 0
        n_resources = len(self._capacities)
        # Per resource: the groups crossing it, the groups whose bottleneck it is (dicts used as ordered sets,
        # so runs never depend on object addresses), and the total rate through it.
        self._groups_through: list[dict[_RouteGroup, None]] = [{} for _ in range(n_resources)]
        self._bottlenecked_at: list[dict[_RouteGroup, None]] = [{} for _ in range(n_resources)]
        self._usage_bytes_per_s = [0.0] * n_resources
        self._n_solves = 0
        # Predicted completions: (time, group order, group version, group); stale when the version moved on.
        self._completions: list[tuple[float, int, int, _RouteGroup]] = []
        self._scheduled_s = math.inf
        self._token = 0
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

    def first_share_bytes_per_s(self, route: Route) -> float:
        """The rate a new flow on `route` would get if the flows now transmitting kept going: on each of its
        resources a share in proportion to its weight (with weights 1: capacity / (flows + 1)); the smallest
        sets the rate. This is the first step of progressive filling seen from the new flow."""
        if self._weight_of is None:
            transmitting = self._records.n_transmitting
            return min((self._capacities[r] / (transmitting[r] + 1) for r in route.shared_resources),
                       default=math.inf)
        weight = self._weight_of(route)
        share = math.inf
        for resource in route.shared_resources:
            weights = sum(group.weight * len(group.finish_levels) for group in self._groups_through[resource])
            share = min(share, self._capacities[resource] * weight / (weights + weight))
        return share

    def load_bytes_per_s(self) -> list[float]:
        """The current total rate through each resource."""
        load = [0.0] * len(self._capacities)
        for group in self._groups.values():
            group_rate = group.rate_bytes_per_s * len(group.finish_levels)
            for resource in group.route.resources:
                load[resource] += group_rate
        return load

    def withdraw(self, flows: Sequence[Flow]) -> list[float | None]:
        """Take these flows out now, without completing them (a link on their route failed), and recompute the
        rates of the others as if they had finished.

        Returns:
            For each flow, the bytes it had transmitted, or None if it was not transmitting here (it was still
            in its latency).
        """
        now = self._env.now
        records = self._records
        pending = self._pending_joins
        sent: list[float | None] = []
        changed: dict[_RouteGroup, None] = {}
        freed: list[int] = []
        freed_bottlenecks: list[int] = []
        for flow in flows:
            if any(joining is flow for joining in pending):
                # Its latency ended at this instant; it has not been given a rate yet.
                self._pending_joins = pending = [joining for joining in pending if joining is not flow]
                records.stop_transmitting(flow)
                sent.append(0.0)
                continue
            group = self._groups.get(id(flow.route))
            levels = group.finish_levels if group is not None else []
            position = next((index for index, entry in enumerate(levels) if entry[2] is flow), None)
            if group is None or position is None:
                sent.append(None)
                continue
            if group.updated_s != now:
                group.service_bytes += group.rate_bytes_per_s * (now - group.updated_s)
                group.updated_s = now
            bytes_left = levels[position][0] - group.service_bytes
            sent.append(min(max(flow.n_bytes - bytes_left, 0.0), flow.n_bytes))
            levels[position] = levels[-1]
            levels.pop()
            heapq.heapify(levels)
            records.stop_transmitting(flow)
            if levels:
                changed[group] = None
            else:
                changed.pop(group, None)
                group.version += 1  # its predicted completion is void
                self._remove_group(group)
                freed.extend(group.resources)
                freed_bottlenecks.append(group.bottleneck)
        if changed or freed:
            self._solve(changed, freed, freed_bottlenecks)
            self._schedule()
        return sent

    # ------------------------------------------------------------------ events

    def _on_reallocation_event(self, _event: simpy.Event) -> None:
        self._reallocation_event_pending = False
        joins = self._pending_joins
        if not joins:
            return
        self._pending_joins = []
        now = self._env.now
        groups = self._groups
        changed: dict[_RouteGroup, None] = {}
        heappush = heapq.heappush
        for flow in joins:
            route = flow.route
            group = groups.get(id(route))
            if group is None:
                group = self._new_group(route, now)
            elif group.updated_s != now:
                group.service_bytes += group.rate_bytes_per_s * (now - group.updated_s)
                group.updated_s = now
            heappush(group.finish_levels, (group.service_bytes + flow.n_bytes, flow.sequence, flow))
            changed[group] = None
        self._solve(changed)
        self._schedule()

    def _on_completion_event(self, token: int, _event: simpy.Event) -> None:
        """The earliest predicted completion is due, unless a later reschedule superseded this event."""
        if token != self._token:
            return
        self._scheduled_s = math.inf
        now = self._env.now
        completions = self._completions
        heappop = heapq.heappop
        finished: list[Flow] = []
        changed: dict[_RouteGroup, None] = {}
        freed: list[int] = []
        freed_bottlenecks: list[int] = []
        while completions:
            time_s, _, version, group = completions[0]
            if version != group.version:
                heappop(completions)
                continue
            rate = group.rate_bytes_per_s
            service = group.service_bytes + rate * (now - group.updated_s)
            levels = group.finish_levels
            remaining = levels[0][0] - service
            # Done if (almost) no bytes are left, or if the time left is below the clock's resolution (as
            # predicted, or as counted now), so rounding cannot leave a sliver of bytes for a zero-delay event.
            if not (remaining <= _RELATIVE_DONE_TOLERANCE * levels[0][2].n_bytes or now + remaining / rate <= now
                    or now + (time_s - now) <= now):
                break
            heappop(completions)
            group.version += 1
            group.service_bytes = service
            group.updated_s = now
            finished.append(heapq.heappop(levels)[2])
            while levels:
                finish_level, _, flow = levels[0]
                remaining = finish_level - service
                if remaining <= _RELATIVE_DONE_TOLERANCE * flow.n_bytes or now + remaining / rate <= now:
                    finished.append(heapq.heappop(levels)[2])
                else:
                    break
            if levels:
                changed[group] = None
            else:
                changed.pop(group, None)
                self._remove_group(group)
                freed.extend(group.resources)
                freed_bottlenecks.append(group.bottleneck)
        records = self._records
        for flow in finished:
            records.stop_transmitting(flow)
            records.complete(flow)
        # Reallocate before running callbacks, so the network is consistent whatever they do.
        if changed or freed:
            self._solve(changed, freed, freed_bottlenecks)
        self._schedule()
        for flow in finished:
            flow.on_done()

    def _schedule(self) -> None:
        """Keep one SimPy event pending, no later than the earliest valid predicted completion."""
        completions = self._completions
        while completions and completions[0][2] != completions[0][3].version:
            heapq.heappop(completions)
        if len(completions) > 4 * len(self._groups) + 64:
            # Many stale entries (rates changed often): rebuild from the valid ones.
            self._completions = completions = [entry for entry in completions if entry[2] == entry[3].version]
            heapq.heapify(completions)
        if not completions:
            return
        earliest_s = completions[0][0]
        if earliest_s < self._scheduled_s:
            self._scheduled_s = earliest_s
            self._token += 1
            env = self._env
            # A sliver of negative remaining bytes from rounding must not move the clock backwards.
            delay_s = max(earliest_s - env.now, 0.0)
            env.timeout(delay_s).callbacks.append(partial(self._on_completion_event, self._token))

    # ------------------------------------------------------------------ groups

    def _new_group(self, route: Route, now: float) -> _RouteGroup:
        weight = 1.0 if self._weight_of is None else float(self._weight_of(route))
        if not (weight > 0.0 and math.isfinite(weight)):
            raise ValueError(f"flow weights must be finite and > 0, got {weight} for route {route.vertices}")
        group = _RouteGroup(route, weight, self._n_groups_made, now)
        self._n_groups_made += 1
        self._groups[id(route)] = group
        groups_through = self._groups_through
        for resource in group.resources:
            groups_through[resource][group] = None
        return group

    def _remove_group(self, group: _RouteGroup) -> None:
        del self._groups[id(group.route)]
        usage = self._usage_bytes_per_s
        groups_through = self._groups_through
        load = group.load_bytes_per_s
        for resource in group.resources:
            through = groups_through[resource]
            del through[group]
            # An idle resource carries exactly nothing: this also clears accumulated rounding.
            usage[resource] = usage[resource] - load if through else 0.0
        if group.bottleneck >= 0:
            del self._bottlenecked_at[group.bottleneck][group]

    # ------------------------------------------------------------------ incremental max-min

    def _solve(self, changed: dict[_RouteGroup, None], freed: Sequence[int] = (),
               freed_bottlenecks: Sequence[int] = ()) -> None:
        """Recompute the rates that the change of ``changed`` groups and the departure of groups from the
        ``freed`` resources (``freed_bottlenecks`` being their bottlenecks) can affect (see the class
        docstring), and predict the new completions."""
        capacities = self._capacities
        usage = self._usage_bytes_per_s
        groups_through = self._groups_through
        bottlenecked_at = self._bottlenecked_at
        # Start from the changed groups and the groups sharing their bottleneck (or the bottleneck of departed
        # groups): those are the likeliest to change too, and solving them at once saves rounds of checks.
        members = dict(changed)
        for group in changed:
            if group.bottleneck >= 0:
                members.update(bottlenecked_at[group.bottleneck])
        for resource in freed_bottlenecks:
            if resource >= 0:
                members.update(bottlenecked_at[resource])
        while True:
            remaining: dict[int, float] = {}
            through: dict[int, list[_RouteGroup]] = {}
            frozen_at: list[tuple[int, float]] = []
            if len(members) == 1:
                # One group: its level is the smallest share of capacity left on its resources (ties to the
                # lowest resource index, as in progressive filling).
                for group in members:
                    load = group.load_bytes_per_s
                    group_weight = group.weight * len(group.finish_levels)
                    best_share = math.inf
                    best_resource = -1
                    for resource in group.resources:
                        left = capacities[resource] - usage[resource] + load
                        remaining[resource] = left
                        through[resource] = [group]
                        share = (left if left > 0.0 else 0.0) / group_weight
                        if share < best_share or (share == best_share and resource < best_resource):
                            best_share = share
                            best_resource = resource
                    group.new_level_bytes_per_s = best_share
                    group.new_bottleneck = best_resource
                    frozen_at.append((best_resource, best_share))
                    used = best_share * group_weight
                    for resource in group.resources:
                        remaining[resource] -= used
            elif members:
                self._fill(members, remaining, through, frozen_at)
            # Check the bottleneck condition; groups outside that fail it join the members.
            joining: dict[_RouteGroup, None] = {}
            # (a) A member's new bottleneck: no outside group may be higher there.
            for resource, share in frozen_at:
                ceiling = share * (1.0 + _LEVEL_TOLERANCE)
                for other in groups_through[resource]:
                    if other.level_bytes_per_s > ceiling and other not in members:
                        joining[other] = None
            # (b) Outside groups bottlenecked where the members pass or departed groups left: still saturated
            # there, and no member above them?
            for resources in (remaining, freed):
                for resource in resources:
                    bottlenecked = bottlenecked_at[resource]
                    if not bottlenecked:
                        continue
                    highest = 0.0
                    if resource in remaining:
                        left = remaining[resource]
                        for group in through[resource]:
                            if group.new_level_bytes_per_s > highest:
                                highest = group.new_level_bytes_per_s
                    else:
                        left = capacities[resource] - usage[resource]
                    saturated = left <= _SATURATION_TOLERANCE * capacities[resource]
                    for other in bottlenecked:
                        if (not saturated or highest > other.level_bytes_per_s * (1.0 + _LEVEL_TOLERANCE)) and (
                                other not in members):
                            joining[other] = None
            if not joining:
                break
            members = {**members, **joining}
        self._commit(members, changed, remaining)

    def _fill(self, members: dict[_RouteGroup, None], remaining: dict[int, float],
              through: dict[int, list[_RouteGroup]], frozen_at: list[tuple[int, float]]) -> None:
        """Progressive filling over the members with the capacity that the groups outside leave them; fills
        ``remaining`` (capacity left after), ``through`` (members per resource) and ``frozen_at`` (each
        resource that froze groups, with their level), and sets the members' new levels and bottlenecks."""
        capacities = self._capacities
        usage = self._usage_bytes_per_s
        groups = list(members)
        # Capacity left to the members by the groups outside: capacity - load + the members' own loads.
        for group in groups:
            load = group.load_bytes_per_s
            for resource in group.resources:
                left = remaining.get(resource)
                remaining[resource] = (capacities[resource] - usage[resource] if left is None else left) + load
        filled = progressive_filling([group.resources for group in groups],
                                     [group.weight * len(group.finish_levels) for group in groups], remaining)
        for group, level, bottleneck in zip(groups, filled.levels, filled.bottlenecks, strict=True):
            group.new_level_bytes_per_s = level
            group.new_bottleneck = bottleneck
        for resource, entries in filled.through.items():
            through[resource] = [groups[entry] for entry in entries]
        frozen_at.extend(filled.frozen_at)

    def _commit(self, members: dict[_RouteGroup, None], changed: dict[_RouteGroup, None],
                remaining: dict[int, float]) -> None:
        """Install the members' new levels and bottlenecks, the loads, and the new predicted completions."""
        now = self._env.now
        capacities = self._capacities
        usage = self._usage_bytes_per_s
        bottlenecked_at = self._bottlenecked_at
        completions = self._completions
        heappush = heapq.heappush
        for group in members:
            level = group.new_level_bytes_per_s
            bottleneck = group.new_bottleneck
            if bottleneck != group.bottleneck:
                if group.bottleneck >= 0:
                    del bottlenecked_at[group.bottleneck][group]
                bottlenecked_at[bottleneck][group] = None
                group.bottleneck = bottleneck
            group.level_bytes_per_s = level
            group.load_bytes_per_s = level * (group.weight * len(group.finish_levels))
            rate = group.weight * level
            old_rate = group.rate_bytes_per_s
            if rate == old_rate and group not in changed:
                continue
            if group.updated_s != now:
                group.service_bytes += old_rate * (now - group.updated_s)
                group.updated_s = now
            group.rate_bytes_per_s = rate
            group.version += 1
            if rate > 0.0:
                time_left_s = (group.finish_levels[0][0] - group.service_bytes) / rate
                heappush(completions, (now + time_left_s, group.order, group.version, group))
        for resource, left in remaining.items():
            usage[resource] = capacities[resource] - left
        self._n_solves += 1
        if self._n_solves % _USAGE_RESYNC_INTERVAL == 0:
            self._resync_usage()

    def _resync_usage(self) -> None:
        """Sum every resource's load afresh from the groups (clears rounding accumulated by updates)."""
        usage = [0.0] * len(self._capacities)
        for group in self._groups.values():
            load = group.load_bytes_per_s
            for resource in group.resources:
                usage[resource] += load
        self._usage_bytes_per_s = usage


class RttWeightedSharing(MaxMinSharing):
    """Weighted max-min sharing, a flow's weight being 1 / its route's latency (see the module docstring).

    Args:
        env: The simulation's environment.
        capacities: Capacity of each resource in bytes per second.
        records: Accounting of transfers and link use.
        zero_latency_s: The latency that stands for a route of zero latency: the network's smallest positive
            link latency in seconds, or None when no link has a positive latency (every flow then weighs 1).
    """

    def __init__(self, env: simpy.Environment, capacities: Sequence[float], records: TransferRecords,
                 zero_latency_s: float | None = None) -> None:
        if zero_latency_s is not None and not (zero_latency_s > 0.0 and math.isfinite(zero_latency_s)):
            raise ValueError(f"zero_latency_s must be finite and > 0 (or None), got {zero_latency_s}")
        super().__init__(env, capacities, records, partial(rtt_weight, zero_latency_s=zero_latency_s))
        self.zero_latency_s = zero_latency_s


class UnsharedSharing:
    """No sharing: a flow transmits at its route's bottleneck bandwidth whatever else is in flight."""

    def __init__(self, env: simpy.Environment, capacities: Sequence[float], records: TransferRecords) -> None:
        self._env = env
        self._capacities = capacities
        self._records = records
        self._transmitting: dict[int, Flow] = {}

    def first_share_bytes_per_s(self, route: Route) -> float:
        """A new flow's rate: its route's bottleneck bandwidth, whatever else is in flight."""
        return route.bottleneck_bytes_per_s

    def start(self, flow: Flow) -> None:
        self._records.start_transmitting(flow)
        self._transmitting[flow.sequence] = flow
        delay_s = flow.n_bytes / flow.route.bottleneck_bytes_per_s
        flow.timer = timer = self._env.timeout(delay_s)
        timer.callbacks.append(partial(self._on_done, flow))

    def withdraw(self, flows: Sequence[Flow]) -> list[float | None]:
        """Take these flows out now without completing them (a link on their route failed): their timers are
        disarmed.

        Returns:
            For each flow, the bytes it had transmitted, or None if it was not transmitting here (it was still
            in its latency).
        """
        now = self._env.now
        sent: list[float | None] = []
        for flow in flows:
            if self._transmitting.pop(flow.sequence, None) is not flow:
                sent.append(None)
                continue
            self._records.stop_transmitting(flow)
            if flow.timer is not None and flow.timer.callbacks is not None:
                flow.timer.callbacks.clear()
            attempt_start_s = flow.start_s if flow.attempt_start_s is None else flow.attempt_start_s
            transmitting_s = now - attempt_start_s - flow.route.latency_s
            sent.append(min(max(transmitting_s * flow.route.bottleneck_bytes_per_s, 0.0), flow.n_bytes))
        return sent

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


SharingModel = MaxMinSharing | UnsharedSharing
"""What `Network` drives: ``start(flow)``, ``withdraw(flows)``, ``first_share_bytes_per_s(route)`` and
``load_bytes_per_s()``."""

SHARING_MODEL_CLASSES: dict[str, type[MaxMinSharing] | type[UnsharedSharing]] = {
    "max-min": MaxMinSharing,
    "rtt-weighted": RttWeightedSharing,
    "none": UnsharedSharing,
}
"""The sharing model of each name of `simulator.config.network_spec.SHARING_MODELS`."""


def make_sharing_model(name: str, env: simpy.Environment, topology: Topology,
                       records: TransferRecords) -> SharingModel:
    """The sharing model called ``name`` for a network of this topology.

    Raises:
        ValueError: If ``name`` is not a known sharing model.
    """
    if name not in SHARING_MODEL_CLASSES:
        raise ValueError(f"network sharing must be one of {list(SHARING_MODEL_CLASSES)}, got {name!r}")
    if name == "rtt-weighted":
        zero_latency_s = min((link.latency_s for link in topology.spec.links if link.latency_s > 0.0), default=None)
        return RttWeightedSharing(env, topology.capacities, records, zero_latency_s=zero_latency_s)
    return SHARING_MODEL_CLASSES[name](env, topology.capacities, records)
