"""The incremental max-min engine against a recomputation of every rate at every event, and weighted max-min.

`MaxMinSharing` re-solves only the route groups whose rates an event can change (see its docstring). Max-min
fair allocations are unique, so it must give every flow the completion time that recomputing all rates with
`max_min_rates` at each event gives: `FullRecomputeSharing` below is that reference (the engine as it was
before the incremental one, extended with weights), and the differential tests drive both with the same random
flows over random resource graphs and compare every completion time to 1e-9 relative.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import pytest
import simpy

from simulator.config.network_spec import LinkSpec, NetworkSpec
from simulator.network import Network, max_min_rates
from simulator.network.records import Flow
from simulator.network.sharing import _RELATIVE_DONE_TOLERANCE, MaxMinSharing, RttWeightedSharing, rtt_weight
from simulator.network.topology import Route


class RecordingRecords:
    """Stands in for `TransferRecords`: remembers when each flow completed and counts flows per resource."""

    def __init__(self, env: simpy.Environment, n_resources: int) -> None:
        self._env = env
        self.completed_s: dict[int, float] = {}
        self.n_transmitting = [0] * n_resources

    def start_transmitting(self, flow: Flow) -> None:
        for resource in flow.route.resources:
            self.n_transmitting[resource] += 1

    def stop_transmitting(self, flow: Flow) -> None:
        for resource in flow.route.resources:
            self.n_transmitting[resource] -= 1

    def complete(self, flow: Flow) -> None:
        assert flow.sequence not in self.completed_s, "a flow completed twice"
        self.completed_s[flow.sequence] = self._env.now


class _Group:
    __slots__ = ("finish_levels", "rate_bytes_per_s", "route", "service_bytes")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.service_bytes = 0.0
        self.rate_bytes_per_s = 0.0
        self.finish_levels: list[tuple[float, int, Flow]] = []


class FullRecomputeSharing:
    """Reference: every rate recomputed with `max_min_rates` at every event, every group advanced every event.

    This is the max-min engine as it was before it became incremental, with weights added and one change:
    flows finish in the order of their predicted completions, as in the incremental engine (the old engine
    finished, at any completion, every flow of any group within the rounding tolerance of its end).
    """

    def __init__(self, env: simpy.Environment, capacities: Sequence[float], records: RecordingRecords,
                 weight_of: Callable[[Route], float] | None = None) -> None:
        self._env = env
        self._capacities = capacities
        self._records = records
        self._weight_of = weight_of
        self._groups: dict[int, _Group] = {}
        self._last_update_s = float(env.now)
        self._generation = 0
        self._next_completion: _Group | None = None
        self._pending_joins: list[Flow] = []
        self._reallocation_event_pending = False

    def start(self, flow: Flow) -> None:
        self._records.start_transmitting(flow)
        self._pending_joins.append(flow)
        if not self._reallocation_event_pending:
            self._reallocation_event_pending = True
            self._env.timeout(0.0).callbacks.append(self._on_reallocation_event)

    def load_bytes_per_s(self) -> list[float]:
        load = [0.0] * len(self._capacities)
        for group in self._groups.values():
            for resource in group.route.resources:
                load[resource] += group.rate_bytes_per_s * len(group.finish_levels)
        return load

    def _on_reallocation_event(self, _event: simpy.Event) -> None:
        self._reallocation_event_pending = False
        if self._pending_joins:
            self._advance()
            self._reallocate()

    def _on_completion_event(self, generation: int, _event: simpy.Event) -> None:
        """Finish flows in the order of their predicted completions, as long as they are due: the scheduled
        one, and then any whose bytes left are within the rounding tolerance (the incremental engine's rule)."""
        if generation != self._generation:
            return
        self._advance()
        now = self._env.now
        due = self._next_completion
        finished: list[Flow] = []
        emptied: list[int] = []
        by_prediction = sorted(
            (now + (group.finish_levels[0][0] - group.service_bytes) / group.rate_bytes_per_s, order, key)
            for order, (key, group) in enumerate(self._groups.items()) if group.rate_bytes_per_s > 0.0
        )
        for _, _, key in by_prediction:
            group = self._groups[key]
            levels = group.finish_levels
            service = group.service_bytes
            rate = group.rate_bytes_per_s
            n_before = len(finished)
            if group is due:
                finished.append(heapq.heappop(levels)[2])
            while levels:
                finish_level, _, flow = levels[0]
                remaining = finish_level - service
                if remaining <= _RELATIVE_DONE_TOLERANCE * flow.n_bytes or now + remaining / rate <= now:
                    finished.append(heapq.heappop(levels)[2])
                else:
                    break
            if len(finished) == n_before:
                break
            if not levels:
                emptied.append(key)
        for key in emptied:
            del self._groups[key]
        for flow in finished:
            self._records.stop_transmitting(flow)
            self._records.complete(flow)
        self._reallocate()
        for flow in finished:
            flow.on_done()

    def _advance(self) -> None:
        now = self._env.now
        elapsed_s = now - self._last_update_s
        if elapsed_s > 0.0:
            for group in self._groups.values():
                group.service_bytes += group.rate_bytes_per_s * elapsed_s
        self._last_update_s = now

    def _reallocate(self) -> None:
        for flow in self._pending_joins:
            route = flow.route
            group = self._groups.get(id(route))
            if group is None:
                group = self._groups[id(route)] = _Group(route)
            heapq.heappush(group.finish_levels, (group.service_bytes + flow.n_bytes, flow.sequence, flow))
        self._pending_joins = []
        self._generation += 1
        groups = list(self._groups.values())
        if not groups:
            self._next_completion = None
            return
        weights = None if self._weight_of is None else [self._weight_of(group.route) for group in groups]
        rates = max_min_rates(
            [group.route.shared_resources for group in groups],
            self._capacities,
            [len(group.finish_levels) for group in groups],
            weights,
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
        delay_s = max(earliest_s, 0.0) if earliest_s != math.inf else 0.0
        self._env.timeout(delay_s).callbacks.append(partial(self._on_completion_event, self._generation))


def _random_problem(seed: int) -> tuple[list[float], list[Route], list[tuple[float, int, float, int]]]:
    """Random resources, routes and flows: (capacities, routes, [(start s, route index, bytes, follow-ups)]).

    Routes cross 1 to 4 resources drawn from a small pool, so groups share resources heavily (one connected
    component, several saturated resources at once); some resources are infinite; capacities span two orders
    of magnitude; some flows start at the same instant as others; some start follow-up flows from their
    ``on_done``, at their completion instant, as the stages of a job do.
    """
    rng = np.random.default_rng(seed)
    n_resources = int(rng.integers(2, 14))
    capacities = [float(value) for value in 10.0 ** rng.uniform(0.0, 2.0, n_resources)]
    for resource in rng.choice(n_resources, size=int(rng.integers(0, 2)), replace=False):
        capacities[int(resource)] = math.inf
    routes: list[Route] = []
    for _ in range(int(rng.integers(1, 25))):
        length = int(rng.integers(1, min(4, n_resources) + 1))
        resources = tuple(int(r) for r in rng.choice(n_resources, size=length, replace=False))
        shared = tuple(r for r in resources if capacities[r] != math.inf)
        if not shared:
            shared = (int(np.argmin(capacities)),)
            resources = (*resources, *shared)
        # Latencies only weigh flows under rtt-weighted sharing; a few are zero.
        latency_s = 0.0 if rng.random() < 0.15 else float(rng.uniform(0.001, 0.05))
        bottleneck = min(capacities[r] for r in resources)
        routes.append(Route((0, 1), (), latency_s, bottleneck, resources, shared))
    n_flows = int(rng.integers(200, 1500))
    starts = np.cumsum(rng.exponential(1.0 / float(rng.uniform(2.0, 40.0)), n_flows))
    tied = rng.random(n_flows) < 0.2
    starts[1:][tied[1:]] = starts[:-1][tied[1:]]
    flows = [
        (float(start), int(rng.integers(len(routes))), float(rng.lognormal(0.0, 1.0)), int(rng.random() < 0.2))
        for start in starts
    ]
    return capacities, routes, flows


def _completion_times(model: type, seed: int, weighted: bool) -> dict[int, float]:
    capacities, routes, flows = _random_problem(seed)
    env = simpy.Environment()
    records = RecordingRecords(env, len(capacities))
    weight_of = partial(rtt_weight, zero_latency_s=0.001) if weighted else None
    sharing = model(env, capacities, records, weight_of)
    counter = [0]

    def launch(route_index: int, n_bytes: float, follow_ups: int) -> None:
        sequence = counter[0]
        counter[0] += 1
        on_done: Callable[[], None] = (
            partial(launch, (route_index + 1) % len(routes), n_bytes / 2.0, follow_ups - 1)
            if follow_ups > 0 else _nothing
        )
        flow = Flow(0, 1, n_bytes, float(env.now), routes[route_index], on_done, sequence)
        sharing.start(flow)

    for start_s, route_index, n_bytes, follow_ups in flows:
        env.timeout(start_s).callbacks.append(
            lambda _event, r=route_index, b=n_bytes, f=follow_ups: launch(r, b, f))
    env.run()
    assert len(records.completed_s) == counter[0], "every flow completes"
    assert all(count == 0 for count in records.n_transmitting)
    return records.completed_s


def _nothing() -> None:
    pass


@pytest.mark.validation
@pytest.mark.parametrize("weighted", [False, True], ids=["max-min", "rtt-weighted"])
@pytest.mark.parametrize("seed", range(40))
def test_incremental_engine_matches_full_recomputation(seed: int, weighted: bool) -> None:
    """Reference: uniqueness of the (weighted) max-min fair allocation (Bertsekas & Gallager, *Data Networks*,
    section 6.5.2): the incremental engine and a recomputation of all rates at every event must complete
    every flow at the same time, to 1e-9 relative.
    """
    expected = _completion_times(FullRecomputeSharing, seed, weighted)
    got = _completion_times(MaxMinSharing, seed, weighted)
    assert got.keys() == expected.keys()
    for sequence, expected_s in expected.items():
        assert got[sequence] == pytest.approx(expected_s, rel=1e-9, abs=1e-12), f"flow {sequence}"


@pytest.mark.unit
def test_incremental_engine_load_never_exceeds_capacity() -> None:
    """Reference: feasibility of max-min rates: the load through every resource stays within its capacity."""
    capacities, routes, flows = _random_problem(7)
    env = simpy.Environment()
    records = RecordingRecords(env, len(capacities))
    sharing = MaxMinSharing(env, capacities, records)  # type: ignore[arg-type]
    for sequence, (start_s, route_index, n_bytes, _) in enumerate(flows):
        flow = Flow(0, 1, n_bytes, start_s, routes[route_index], _nothing, sequence)
        env.timeout(start_s).callbacks.append(lambda _event, flow=flow: sharing.start(flow))
    peak = [0.0] * len(capacities)
    while env.peek() != math.inf:
        env.step()
        for resource, load in enumerate(sharing.load_bytes_per_s()):
            assert load <= capacities[resource] * (1 + 1e-9)
            peak[resource] = max(peak[resource], load / capacities[resource])
    assert max(peak) == pytest.approx(1.0)
    assert len(records.completed_s) == len(flows)


# ------------------------------------------------------------------------------------------- weighted max-min


@pytest.mark.unit
def test_weighted_max_min_textbook_two_flows() -> None:
    """Reference: weighted max-min by hand: two flows on one 8 B/s link with route latencies 1 s and 3 s weigh
    1 and 1/3, so they share the link 3 : 1 and get 8 x 3/4 = 6 B/s and 8 x 1/4 = 2 B/s."""
    weights = [1.0 / 1.0, 1.0 / 3.0]
    assert max_min_rates([[0], [0]], [8.0], weights=weights) == pytest.approx([6.0, 2.0], rel=1e-15)


@pytest.mark.unit
def test_weighted_max_min_by_hand_two_links() -> None:
    """Reference: weighted progressive filling by hand. Link 0 (10 B/s) carries flows a (weight 1) and b
    (weight 4); link 1 (3 B/s) carries b and c (weight 2). Fair shares per unit weight: link 0 10/5 = 2, link
    1 3/6 = 0.5, so link 1 saturates first: b = 4 x 0.5 = 2, c = 2 x 0.5 = 1; then a alone gets 10 - 2 = 8."""
    rates = max_min_rates([[0], [0, 1], [1]], [10.0, 3.0], weights=[1.0, 4.0, 2.0])
    assert rates == pytest.approx([8.0, 2.0, 1.0], rel=1e-15)


@pytest.mark.unit
def test_weights_of_one_give_unweighted_rates_exactly() -> None:
    routes = [[0, 1], [1], [0], [2, 0]]
    capacities = [3.0, 7.0, math.inf]
    assert max_min_rates(routes, capacities, [2, 1, 3, 1], [1.0] * 4) == max_min_rates(routes, capacities,
                                                                                       [2, 1, 3, 1])
    with pytest.raises(ValueError, match="weights"):
        max_min_rates(routes, capacities, weights=[1.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="weights"):
        max_min_rates(routes, capacities, weights=[1.0])


@pytest.mark.unit
def test_rtt_weight_of_zero_latency_route() -> None:
    """A route of zero latency weighs as if its latency were the network's smallest positive link latency."""
    route = Route((0, 1), (0,), 0.0, 1.0, (0,), (0,))
    assert rtt_weight(route, 0.002) == pytest.approx(500.0)
    assert rtt_weight(Route((0, 1), (0,), 0.004, 1.0, (0,), (0,)), 0.002) == pytest.approx(250.0)
    assert rtt_weight(route, None) == 1.0


@pytest.mark.unit
def test_rtt_weighted_engine_two_flows_on_one_link() -> None:
    """Reference: the textbook case through the engine: 6 B and 2 B over an 8 B/s link at latencies 1 and 3
    get 6 and 2 B/s, so both end at exactly 1 s."""
    env = simpy.Environment()
    records = RecordingRecords(env, 1)
    sharing = RttWeightedSharing(env, [8.0], records, zero_latency_s=1.0)  # type: ignore[arg-type]
    for sequence, (latency_s, n_bytes) in enumerate([(1.0, 6.0), (3.0, 2.0)]):
        route = Route((0, 1), (0,), latency_s, 8.0, (0,), (0,))
        sharing.start(Flow(0, 1, n_bytes, 0.0, route, _nothing, sequence))
    env.run()
    assert records.completed_s == {0: pytest.approx(1.0, rel=1e-12), 1: pytest.approx(1.0, rel=1e-12)}


@pytest.mark.unit
def test_network_rtt_weighted_shares_in_inverse_ratio_of_latency() -> None:
    """Reference: the textbook case through `Network`: routes a->d (latency 1 s) and c->d (3 s) share the 8 B/s
    link s-d. a's flow transmits alone at 8 B/s from 1 s; from 3 s the two share it 3 : 1 (6 and 2 B/s). With
    22 B and 2 B both end at 4 s (16 B by 3 s, then 6 B at 6 B/s; 2 B at 2 B/s)."""
    env = simpy.Environment()
    links = [LinkSpec("as", ("a", "s"), 0.5, math.inf), LinkSpec("cs", ("c", "s"), 2.5, math.inf),
             LinkSpec("sd", ("s", "d"), 0.5, 8.0)]
    network = Network(env, NetworkSpec(sharing="rtt-weighted", switches=("s",), links=tuple(links)),
                      ["a", "c", "d"])
    a, c, d = (network.vertex_index(name) for name in "acd")
    finished: dict[str, float] = {}
    network.transfer(a, d, 22.0, lambda: finished.setdefault("a", env.now))
    network.transfer(c, d, 2.0, lambda: finished.setdefault("c", env.now))
    env.run(until=3.5)
    load = {(name, direction): value for name, direction, value, _ in network.current_load()}
    assert load[("sd", "s->d")] == pytest.approx(8.0)
    env.run()
    assert finished == {"a": pytest.approx(4.0, rel=1e-12), "c": pytest.approx(4.0, rel=1e-12)}


@pytest.mark.unit
def test_network_rtt_weighted_zero_latency_route_weighs_as_smallest_positive_link_latency() -> None:
    """A route of zero latency (a->d) weighs as if its latency were the network's smallest positive link
    latency (0.5 s, of the unrelated link d-e), so against c->d (1.5 s) it gets 3/4 of the 8 B/s link s-d:
    alone at 8 B/s until c's flow transmits at 1.5 s (12 B), then 6 B/s against 2 B/s; with 18 B and 2 B both
    end at 2.5 s."""
    env = simpy.Environment()
    links = [LinkSpec("as", ("a", "s"), 0.0, math.inf), LinkSpec("cs", ("c", "s"), 1.5, math.inf),
             LinkSpec("sd", ("s", "d"), 0.0, 8.0), LinkSpec("de", ("d", "e"), 0.5, 1.0)]
    network = Network(env, NetworkSpec(sharing="rtt-weighted", switches=("s",), links=tuple(links)),
                      ["a", "c", "d", "e"])
    a, c, d = (network.vertex_index(name) for name in "acd")
    finished: dict[str, float] = {}
    network.transfer(a, d, 18.0, lambda: finished.setdefault("a", env.now))
    network.transfer(c, d, 2.0, lambda: finished.setdefault("c", env.now))
    env.run()
    assert finished == {"a": pytest.approx(2.5, rel=1e-12), "c": pytest.approx(2.5, rel=1e-12)}


@pytest.mark.unit
def test_estimate_shared_s_uses_the_weights() -> None:
    """Reference: the first step of weighted progressive filling. While a's flow (route latency 1 s, weight 1)
    transmits on the 8 B/s link s-d, a new flow from c (latency 3 s, weight 1/3) would get 8 x (1/3) / (1 + 1/3)
    = 2 B/s, so 4 B take 3 s + 2 s; under plain max-min it would get 8 / 2 = 4 B/s (3 s + 1 s)."""
    for sharing, expected_s in (("rtt-weighted", 5.0), ("max-min", 4.0)):
        env = simpy.Environment()
        links = [LinkSpec("as", ("a", "s"), 0.5, math.inf), LinkSpec("cs", ("c", "s"), 2.5, math.inf),
                 LinkSpec("sd", ("s", "d"), 0.5, 8.0)]
        network = Network(env, NetworkSpec(sharing=sharing, switches=("s",), links=tuple(links)), ["a", "c", "d"])
        a, c, d = (network.vertex_index(name) for name in "acd")
        network.transfer(a, d, 1e6, _nothing)
        env.run(until=2.0)
        assert network.estimate_shared_s(c, d, 4.0) == pytest.approx(expected_s, rel=1e-12)
