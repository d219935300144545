"""Tests of `simulator.network`: routes, lone-flow times, max-min fair sharing, records and invariants."""

from __future__ import annotations

import math
from collections.abc import Sequence

import hypothesis.strategies as st
import pytest
import simpy
from hypothesis import HealthCheck, example, given, settings

from simulator.config.network_spec import LinkSpec, NetworkSpec
from simulator.network import Network, max_min_rates

MEGABYTE = 1e6


def build(
    vertices: Sequence[str],
    links: Sequence[LinkSpec],
    switches: Sequence[str] = (),
    sharing: str = "max-min",
) -> tuple[simpy.Environment, Network]:
    """A fresh environment and a network over it."""
    env = simpy.Environment()
    spec = NetworkSpec(sharing=sharing, switches=tuple(switches), links=tuple(links))
    return env, Network(env, spec, vertices)


def start_at(
    env: simpy.Environment,
    network: Network,
    at_s: float,
    src: int,
    dst: int,
    n_bytes: float,
    finished: dict[str, list[float]],
    label: str,
) -> None:
    """Start a transfer at time ``at_s`` that appends its completion time to ``finished[label]``."""

    def on_done() -> None:
        finished.setdefault(label, []).append(env.now)

    def begin(_event: simpy.Event) -> None:
        network.transfer(src, dst, n_bytes, on_done)

    env.timeout(at_s).callbacks.append(begin)


def one_link(
    latency_s: float = 0.25,
    bandwidth_bytes_per_s: float = MEGABYTE,
    duplex: str = "full",
    sharing: str = "max-min",
) -> tuple[simpy.Environment, Network]:
    """Two compute nodes ``a`` (0) and ``b`` (1) joined by one link."""
    return build(["a", "b"], [LinkSpec("ab", ("a", "b"), latency_s, bandwidth_bytes_per_s, duplex)], sharing=sharing)


# ---------------------------------------------------------------------------------------------- lone flows


@pytest.mark.unit
def test_lone_flow_takes_latency_plus_bytes_over_bandwidth() -> None:
    """Reference: the flow model's definition (SimGrid): a lone flow takes latency + bytes / bandwidth.

    0.25 s + 500 kB / (1 MB/s) = 0.75 s, exactly representable, so compared exactly.
    """
    env, network = one_link()
    finished: dict[str, list[float]] = {}
    start_at(env, network, 0.0, 0, 1, 0.5 * MEGABYTE, finished, "only")
    env.run()
    assert finished == {"only": [0.75]}
    assert network.estimate_s(0, 1, 0.5 * MEGABYTE) == 0.75


@pytest.mark.unit
def test_zero_bytes_take_the_latency_only() -> None:
    """Reference: the API contract: an empty message still pays the route latency (0.25 s)."""
    env, network = one_link()
    finished: dict[str, list[float]] = {}
    start_at(env, network, 1.0, 0, 1, 0.0, finished, "empty")
    env.run()
    assert finished == {"empty": [1.25]}
    assert network.estimate_s(0, 1, 0.0) == 0.25


@pytest.mark.unit
def test_src_equals_dst_is_free_and_unrecorded() -> None:
    """Reference: the API contract: a local hand-over costs nothing and is not a network transfer."""
    env, network = one_link()
    finished: dict[str, list[float]] = {}
    start_at(env, network, 2.0, 1, 1, 5 * MEGABYTE, finished, "local")
    env.run()
    assert finished == {"local": [2.0]}
    assert network.estimate_s(1, 1, 5 * MEGABYTE) == 0.0
    assert network.route_latency_s(1, 1) == 0.0
    assert network.route_bottleneck_bytes_per_s(1, 1) == math.inf
    assert network.has_route(1, 1)
    assert network.bytes_transferred == 0.0
    assert network.transfer_table().empty


@pytest.mark.unit
def test_on_done_is_never_called_inside_transfer() -> None:
    """Reference: the API contract: on_done runs from a SimPy callback, even for free transfers."""
    env, network = one_link(latency_s=0.0)
    calls: list[float] = []
    network.transfer(0, 0, 1.0, lambda: calls.append(env.now))
    network.transfer(0, 1, 0.0, lambda: calls.append(env.now))
    assert calls == []
    env.run()
    assert calls == [0.0, 0.0]


@pytest.mark.unit
def test_infinite_bandwidth_adds_latency_only() -> None:
    """Reference: the API contract: a route whose bottleneck is infinite completes right after its latency.

    Topology a -(inf, 0.3 s)- s -(1 MB/s, 0.1 s)- b. Two flows a->s finish at 0.3 s however large; the flow
    a->b is limited by the finite link only: 0.4 s + 1 MB / (1 MB/s) = 1.4 s, and the infinite link is not a
    shared resource, so the concurrent a->s flows do not slow it down.
    """
    env, network = build(
        ["a", "b"],
        [
            LinkSpec("as", ("a", "s"), 0.3, math.inf),
            LinkSpec("sb", ("s", "b"), 0.1, MEGABYTE),
        ],
        switches=["s"],
    )
    switch = network.vertex_index("s")
    assert (network.n_compute_nodes, switch) == (2, 2)
    finished: dict[str, list[float]] = {}
    start_at(env, network, 0.0, 0, switch, 1e12, finished, "huge")
    start_at(env, network, 0.0, 0, switch, 1.0, finished, "small")
    start_at(env, network, 0.0, 0, 1, MEGABYTE, finished, "through")
    env.run()
    assert finished["huge"] == [0.3]
    assert finished["small"] == [0.3]
    assert finished["through"] == [pytest.approx(1.4, rel=1e-12)]
    assert network.route_bottleneck_bytes_per_s(0, switch) == math.inf
    assert network.route_bottleneck_bytes_per_s(0, 1) == MEGABYTE


# ---------------------------------------------------------------------------------------------- fair sharing


@pytest.mark.unit
@pytest.mark.parametrize("n_flows", [2, 10])
def test_equal_flows_share_one_link_equally(n_flows: int) -> None:
    """Reference: max-min fairness on one link (Bertsekas & Gallager 6.5.2): n flows get bandwidth / n each.

    Each of n flows of 500 kB over 1 MB/s with 0.25 s latency finishes at 0.25 + n * 0.5 s.
    """
    env, network = one_link()
    finished: dict[str, list[float]] = {}
    for flow in range(n_flows):
        start_at(env, network, 0.0, 0, 1, 0.5 * MEGABYTE, finished, f"flow{flow}")
    env.run()
    expected_s = 0.25 + n_flows * 0.5
    assert sorted(finished) == sorted(f"flow{flow}" for flow in range(n_flows))
    for times in finished.values():
        assert times == [pytest.approx(expected_s, rel=1e-12)]


@pytest.mark.unit
def test_longer_flow_speeds_up_when_shorter_one_ends() -> None:
    """Reference: hand computation of max-min sharing over time on one 1 MB/s link with 0.25 s latency.

    Both flows transmit from 0.25 s at 0.5 MB/s. B (250 kB) ends at 0.25 + 0.25 / 0.5 = 0.75 s, when
    A (500 kB) has 250 kB left; alone it then gets 1 MB/s and ends at 0.75 + 0.25 = 1.0 s.
    """
    env, network = one_link()
    finished: dict[str, list[float]] = {}
    start_at(env, network, 0.0, 0, 1, 0.5 * MEGABYTE, finished, "A")
    start_at(env, network, 0.0, 0, 1, 0.25 * MEGABYTE, finished, "B")
    env.run()
    assert finished == {"B": [0.75], "A": [1.0]}


@pytest.mark.unit
def test_flow_joining_mid_transfer_slows_the_first() -> None:
    """Reference: hand computation, one 1 MB/s link without latency.

    A (1 MB) runs alone at 1 MB/s until B (250 kB) joins at 0.5 s; both then get 0.5 MB/s, so B ends at
    0.5 + 0.25 / 0.5 = 1.0 s, when A has 0.5 - 0.25 = 0.25 MB left; alone again it ends at 1.25 s.
    """
    env, network = one_link(latency_s=0.0)
    finished: dict[str, list[float]] = {}
    start_at(env, network, 0.0, 0, 1, MEGABYTE, finished, "A")
    start_at(env, network, 0.5, 0, 1, 0.25 * MEGABYTE, finished, "B")
    env.run()
    assert finished == {"B": [1.0], "A": [1.25]}


@pytest.mark.unit
def test_on_done_may_start_the_next_transfer() -> None:
    """Reference: hand computation of a chain of transfers started from completion callbacks.

    A (1 MB) and B (1 MB) share 1 MB/s from 0 s and both end at 2 s; A's callback then starts C (0.5 MB),
    which runs alone and ends at 2.5 s.
    """
    env, network = one_link(latency_s=0.0)
    finished: dict[str, list[float]] = {}

    def after_a() -> None:
        finished.setdefault("A", []).append(env.now)
        network.transfer(0, 1, 0.5 * MEGABYTE, lambda: finished.setdefault("C", []).append(env.now))

    network.transfer(0, 1, MEGABYTE, after_a)
    network.transfer(0, 1, MEGABYTE, lambda: finished.setdefault("B", []).append(env.now))
    env.run()
    assert finished == {"A": [2.0], "B": [2.0], "C": [2.5]}


@pytest.mark.validation
def test_max_min_rates_textbook_line_example() -> None:
    """Reference: progressive filling by hand (Bertsekas & Gallager, Data Networks, 2nd ed., section 6.5.2).

    Line a -L0- b -L1- c -L2- d with capacities L0 = 1, L1 = 3, L2 = 2 MB/s and flows
    f0: a->d (L0, L1, L2), f1: a->b (L0), f2: b->d (L1, L2), f3: b->c (L1), f4: c->d (L2).
    Fair shares: L0 1/2, L1 3/3 = 1, L2 2/3. Smallest is L0: freeze f0, f1 at 0.5.
    Then L1 (3 - 0.5) / 2 = 1.25 and L2 (2 - 0.5) / 2 = 0.75: freeze f2, f4 at 0.75.
    Then L1 has 3 - 0.5 - 0.75 = 1.75 left for f3. Rates: 0.5, 0.5, 0.75, 1.75, 0.75 MB/s, and every link is
    saturated.
    """
    routes = [[0, 1, 2], [0], [1, 2], [1], [2]]
    rates = max_min_rates(routes, [1 * MEGABYTE, 3 * MEGABYTE, 2 * MEGABYTE])
    assert rates == pytest.approx([0.5e6, 0.5e6, 0.75e6, 1.75e6, 0.75e6], rel=1e-12)


@pytest.mark.validation
def test_max_min_rates_linear_network() -> None:
    """Reference: the linear network of Bertsekas & Gallager, section 6.5.2: one session over all n links of
    capacity C plus one single-link session per link; max-min fairness gives every session C / 2.
    """
    n_links = 4
    routes = [list(range(n_links))] + [[link] for link in range(n_links)]
    assert max_min_rates(routes, [2.0] * n_links) == [1.0] * (n_links + 1)


@pytest.mark.unit
def test_max_min_rates_edge_cases() -> None:
    """Reference: the function's contract: no flows, infinite capacities, unused resources."""
    assert max_min_rates([], [1.0, 2.0]) == []
    assert max_min_rates([[], [0]], [math.inf]) == [math.inf, math.inf]
    assert max_min_rates([[0, 1]], [math.inf, 3.0]) == [3.0]
    with pytest.raises(ValueError, match="capacities"):
        max_min_rates([[0]], [-1.0])


@pytest.mark.validation
def test_network_assigns_textbook_rates() -> None:
    """Reference: the allocation of `test_max_min_rates_textbook_line_example`, checked through completions.

    Each flow carries its fair rate x 4 s of bytes (f0 2 MB, f1 2 MB, f2 3 MB, f3 7 MB, f4 3 MB), so with zero
    latency all five end together at exactly 4 s if, and only if, the model gives each its textbook rate
    (a flow that ended earlier would change the others' rates and break the tie).
    """
    env, network = build(
        ["a", "b", "c", "d"],
        [
            LinkSpec("L0", ("a", "b"), 0.0, 1 * MEGABYTE),
            LinkSpec("L1", ("b", "c"), 0.0, 3 * MEGABYTE),
            LinkSpec("L2", ("c", "d"), 0.0, 2 * MEGABYTE),
        ],
    )
    a, b, c, d = (network.vertex_index(name) for name in "abcd")
    finished: dict[str, list[float]] = {}
    flows = {"f0": (a, d, 2.0), "f1": (a, b, 2.0), "f2": (b, d, 3.0), "f3": (b, c, 7.0), "f4": (c, d, 3.0)}
    for label, (src, dst, megabytes) in flows.items():
        start_at(env, network, 0.0, src, dst, megabytes * MEGABYTE, finished, label)
    env.run(until=1.0)
    load = {(name, direction): value for name, direction, value, _ in network.current_load()}
    assert load[("L0", "a->b")] == pytest.approx(1 * MEGABYTE)
    assert load[("L1", "b->c")] == pytest.approx(3 * MEGABYTE)
    assert load[("L2", "c->d")] == pytest.approx(2 * MEGABYTE)
    env.run()
    assert sorted(finished) == sorted(flows)
    for times in finished.values():
        assert times == [pytest.approx(4.0, rel=1e-12)]


@st.composite
def sharing_problems(draw: st.DrawFn) -> tuple[list[list[int]], list[float]]:
    """Random capacities and routes (each a set of distinct resources)."""
    n_resources = draw(st.integers(1, 6))
    capacities = draw(
        st.lists(st.one_of(st.floats(0.1, 100.0), st.just(math.inf)), min_size=n_resources, max_size=n_resources)
    )
    routes = draw(st.lists(st.sets(st.integers(0, n_resources - 1), max_size=n_resources).map(sorted), max_size=12))
    return routes, capacities


@pytest.mark.property
@settings(max_examples=200, deadline=None)
@given(sharing_problems())
def test_max_min_rates_are_feasible_and_bottlenecked(problem: tuple[list[list[int]], list[float]]) -> None:
    """Reference: Bertsekas & Gallager, section 6.5.2: a feasible allocation is max-min fair iff every session
    has a bottleneck link: one that is saturated and on which no session has a larger rate.
    """
    routes, capacities = problem
    rates = max_min_rates(routes, capacities)
    load = [0.0] * len(capacities)
    for route, rate in zip(routes, rates, strict=True):
        for resource in route:
            load[resource] += rate
    for resource, capacity in enumerate(capacities):
        if capacity != math.inf:
            assert load[resource] <= capacity * (1 + 1e-9)
    for route, rate in zip(routes, rates, strict=True):
        finite = [resource for resource in route if capacities[resource] != math.inf]
        if not finite:
            assert rate == math.inf
            continue
        assert rate > 0
        bottlenecks = [
            resource
            for resource in finite
            if load[resource] >= capacities[resource] * (1 - 1e-9)
            and all(
                other_rate <= rate * (1 + 1e-9)
                for other_route, other_rate in zip(routes, rates, strict=True)
                if resource in other_route
            )
        ]
        assert bottlenecks, f"flow over {route} at rate {rate} has no bottleneck"


@pytest.mark.property
@settings(max_examples=100, deadline=None)
@given(sharing_problems(), st.lists(st.integers(1, 4), min_size=12, max_size=12))
def test_max_min_rates_multiplicities_equal_repeated_flows(
    problem: tuple[list[list[int]], list[float]], counts: list[int]
) -> None:
    """Reference: symmetry of max-min fairness: k identical flows get equal rates, so one entry with
    multiplicity k must give the same rates as k repeated entries (up to rounding).
    """
    routes, capacities = problem
    multiplicities = counts[: len(routes)]
    grouped = max_min_rates(routes, capacities, multiplicities)
    expanded_routes = [route for route, count in zip(routes, multiplicities, strict=True) for _ in range(count)]
    expanded = max_min_rates(expanded_routes, capacities)
    expected = [rate for rate, count in zip(grouped, multiplicities, strict=True) for _ in range(count)]
    assert expanded == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="multiplicities"):
        max_min_rates(routes, capacities, [*multiplicities, 1])


# ------------------------------------------------------------------------------------------- duplex, routes


@pytest.mark.unit
@pytest.mark.parametrize(("duplex", "expected_s"), [("full", 1.0), ("half", 2.0)])
def test_opposite_flows_under_full_and_half_duplex(duplex: str, expected_s: float) -> None:
    """Reference: definition of duplex: two opposite 1 MB flows over a 1 MB/s link end at 1 s when each
    direction has the full bandwidth, and at 2 s when both directions share it.
    """
    env, network = one_link(latency_s=0.0, duplex=duplex)
    finished: dict[str, list[float]] = {}
    start_at(env, network, 0.0, 0, 1, MEGABYTE, finished, "forward")
    start_at(env, network, 0.0, 1, 0, MEGABYTE, finished, "backward")
    env.run()
    assert finished == {"forward": [expected_s], "backward": [expected_s]}
    table = network.link_table(env.now)
    assert len(table) == (2 if duplex == "full" else 1)
    assert table["bytes"].sum() == 2 * MEGABYTE


@pytest.mark.unit
def test_route_prefers_lower_total_latency_over_fewer_hops() -> None:
    """Reference: the routing rule (least total latency): the direct link a-b costs 0.1 s, the two-hop path
    through switch s costs 0.02 s, so traffic goes through s even though s's links are slower.
    1 MB: 0.02 + 1 MB / (0.5 MB/s) = 2.02 s.
    """
    env, network = build(
        ["a", "b"],
        [
            LinkSpec("direct", ("a", "b"), 0.1, 10 * MEGABYTE),
            LinkSpec("as", ("a", "s"), 0.01, MEGABYTE),
            LinkSpec("sb", ("s", "b"), 0.01, 0.5 * MEGABYTE),
        ],
        switches=["s"],
    )
    route = network.route(0, 1)
    assert route.vertices == (0, network.vertex_index("s"), 1)
    assert route.hops == 2
    assert network.route_latency_s(0, 1) == pytest.approx(0.02)
    assert network.route_bottleneck_bytes_per_s(0, 1) == 0.5 * MEGABYTE
    finished: dict[str, list[float]] = {}
    start_at(env, network, 0.0, 0, 1, MEGABYTE, finished, "x")
    env.run()
    assert finished["x"] == [pytest.approx(2.02, rel=1e-12)]
    assert network.transfer_table()["hops"].tolist() == [2]


@pytest.mark.unit
def test_route_ties_broken_by_hops_then_vertex_names() -> None:
    """Reference: the documented tie-breaking rule: equal latency -> fewer hops -> smaller vertex names."""
    _, network = build(
        ["a", "b"],
        [
            LinkSpec("via-s2-1", ("a", "s2"), 0.05, 1.0),
            LinkSpec("via-s2-2", ("s2", "b"), 0.05, 1.0),
            LinkSpec("via-s1-1", ("a", "s1"), 0.05, 1.0),
            LinkSpec("via-s1-2", ("s1", "b"), 0.05, 1.0),
        ],
        switches=["s2", "s1"],
    )
    assert network.route(0, 1).vertices == (0, network.vertex_index("s1"), 1)
    _, network = build(
        ["a", "b"],
        [
            LinkSpec("as", ("a", "s"), 0.25, 1.0),
            LinkSpec("sb", ("s", "b"), 0.25, 1.0),
            LinkSpec("direct", ("a", "b"), 0.5, 1.0),
        ],
        switches=["s"],
    )
    assert network.route(0, 1).hops == 1


@pytest.mark.unit
def test_unreachable_vertices() -> None:
    """Reference: the API contract: no route -> has_route False, estimate inf, transfer refuses."""
    _, network = build(["a", "b", "c"], [LinkSpec("ab", ("a", "b"), 0.1, 1.0)])
    assert network.has_route(0, 1)
    assert not network.has_route(0, 2)
    assert network.estimate_s(2, 0, 1.0) == math.inf
    with pytest.raises(ValueError, match="no route"):
        network.transfer(0, 2, 1.0, lambda: None)
    with pytest.raises(ValueError, match="no route"):
        network.route_latency_s(0, 2)
    with pytest.raises(IndexError):
        network.has_route(0, 7)
    with pytest.raises(ValueError, match="n_bytes"):
        network.transfer(0, 1, -1.0, lambda: None)
    with pytest.raises(KeyError, match="unknown vertex"):
        network.vertex_index("z")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (NetworkSpec(sharing="fair"), "sharing"),
        (NetworkSpec(switches=("a",)), "duplicate vertex"),
        (NetworkSpec(links=(LinkSpec("l", ("a", "z"), 0.0, 1.0),)), "unknown vertex"),
        (NetworkSpec(links=(LinkSpec("l", ("a", "a"), 0.0, 1.0),)), "itself"),
        (NetworkSpec(links=(LinkSpec("l", ("a", "b"), -1.0, 1.0),)), "latency_s"),
        (NetworkSpec(links=(LinkSpec("l", ("a", "b"), 0.0, 0.0),)), "bandwidth"),
        (NetworkSpec(links=(LinkSpec("l", ("a", "b"), 0.0, 1.0, "simplex"),)), "duplex"),
        (
            NetworkSpec(links=(LinkSpec("l", ("a", "b"), 0.0, 1.0), LinkSpec("l", ("b", "a"), 0.0, 1.0))),
            "duplicate link",
        ),
    ],
)
def test_impossible_specs_are_rejected(spec: NetworkSpec, message: str) -> None:
    """Reference: the constructor's contract: impossible values raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        Network(simpy.Environment(), spec, ["a", "b"])


# ---------------------------------------------------------------------------------------------- no sharing


@pytest.mark.unit
def test_sharing_none_ignores_contention() -> None:
    """Reference: the contention-free model: every flow takes latency + bytes / bottleneck, whatever else
    runs: three 500 kB flows over 1 MB/s with 0.25 s latency all end at 0.75 s.
    """
    env, network = one_link(sharing="none")
    finished: dict[str, list[float]] = {}
    for flow in range(3):
        start_at(env, network, 0.0, 0, 1, 0.5 * MEGABYTE, finished, f"flow{flow}")
    env.run(until=0.5)
    assert network.current_load()[0][2] == 3 * MEGABYTE
    env.run()
    assert all(times == [0.75] for times in finished.values())
    assert len(finished) == 3


# ---------------------------------------------------------------------------------------------- records


@pytest.mark.unit
def test_bytes_transferred_and_transfer_table() -> None:
    """Reference: hand computation: the records hold exactly the completed network transfers.

    A a->b 500 kB at 0 s ends at 0.75 s; B b->a 1 MB at 1 s ends at 2.25 s; a local copy is not recorded.
    """
    env, network = one_link()
    finished: dict[str, list[float]] = {}
    start_at(env, network, 0.0, 0, 1, 0.5 * MEGABYTE, finished, "A")
    start_at(env, network, 1.0, 1, 0, MEGABYTE, finished, "B")
    start_at(env, network, 0.5, 0, 0, 7.0, finished, "local")
    env.run(until=1.5)
    assert network.n_flows_in_flight == 1
    assert network.bytes_transferred == 0.5 * MEGABYTE
    env.run()
    assert network.n_flows_in_flight == 0
    assert network.bytes_transferred == 1.5 * MEGABYTE
    table = network.transfer_table()
    assert list(table.columns) == ["src", "dst", "bytes", "start_s", "end_s", "duration_s", "hops"]
    assert table["src"].tolist() == ["a", "b"]
    assert table["dst"].tolist() == ["b", "a"]
    assert table["bytes"].tolist() == [0.5 * MEGABYTE, MEGABYTE]
    assert table["start_s"].tolist() == [0.0, 1.0]
    assert table["end_s"].tolist() == [0.75, 2.25]
    assert table["duration_s"].tolist() == [0.75, 1.25]
    assert table["hops"].tolist() == [1, 1]


@pytest.mark.unit
def test_link_table_bytes_busy_time_and_utilization() -> None:
    """Reference: hand computation over a 4 s window on a 1 MB/s full-duplex link without latency.

    a->b carries 1 MB during [0, 1] s and 0.5 MB during [2, 2.5] s: 1.5 MB, busy 1.5 s, busy fraction and
    utilization 1.5 / 4 = 0.375. b->a carries nothing.
    """
    env, network = one_link(latency_s=0.0)
    finished: dict[str, list[float]] = {}
    start_at(env, network, 0.0, 0, 1, MEGABYTE, finished, "A")
    start_at(env, network, 2.0, 0, 1, 0.5 * MEGABYTE, finished, "B")
    env.run(until=4.0)
    table = network.link_table(4.0).set_index("direction")
    assert table.loc["a->b", "name"] == "ab"
    assert table.loc["a->b", "bytes"] == 1.5 * MEGABYTE
    assert table.loc["a->b", "busy_s"] == 1.5
    assert table.loc["a->b", "busy_fraction"] == 0.375
    assert table.loc["a->b", "utilization"] == pytest.approx(0.375)
    assert table.loc["b->a", "bytes"] == 0.0
    assert table.loc["b->a", "busy_s"] == 0.0
    with pytest.raises(ValueError, match="duration_s"):
        network.link_table(-1.0)


# ---------------------------------------------------------------------------------------------- invariants


@st.composite
def random_networks(draw: st.DrawFn) -> tuple[list[str], NetworkSpec, list[tuple[float, int, int, float]]]:
    """A small random topology (possibly disconnected) and random flows (start, src, dst, bytes)."""
    n_nodes = draw(st.integers(2, 5))
    n_switches = draw(st.integers(0, 2))
    nodes = [f"n{index}" for index in range(n_nodes)]
    switches = [f"s{index}" for index in range(n_switches)]
    names = nodes + switches
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(names), st.sampled_from(names)).filter(lambda pair: pair[0] != pair[1]),
            max_size=8,
        )
    )
    links = tuple(
        LinkSpec(
            f"l{index}",
            pair,
            draw(st.sampled_from([0.0, 0.001, 0.1, 0.25])),
            draw(st.one_of(st.floats(1.0, 1000.0), st.just(math.inf))),
            draw(st.sampled_from(["full", "half"])),
        )
        for index, pair in enumerate(pairs)
    )
    vertex_count = n_nodes + n_switches
    flows = draw(
        st.lists(
            st.tuples(
                st.floats(0.0, 3.0),
                st.integers(0, vertex_count - 1),
                st.integers(0, vertex_count - 1),
                st.one_of(st.just(0.0), st.floats(0.0, 2000.0)),
            ),
            max_size=15,
        )
    )
    return nodes, NetworkSpec(switches=tuple(switches), links=links), flows


@pytest.mark.property
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_networks())
# A flow joining a busy route must not be counted at the old rate before rates are recomputed.
@example(
    (["n0", "n1"], NetworkSpec(links=(LinkSpec("l0", ("n0", "n1"), 0.0, 1.0),)), [(0.0, 0, 1, 2.0), (1.0, 0, 1, 1.0)])
)
def test_max_min_network_invariants(
    problem: tuple[list[str], NetworkSpec, list[tuple[float, int, int, float]]],
) -> None:
    """Reference: the model's invariants (SimGrid flow model, Bertsekas & Gallager 6.5.2): after every event
    no resource carries more than its capacity, the clock never goes back, every flow completes exactly once,
    and no flow finishes before its lone-flow time latency + bytes / bottleneck.
    """
    nodes, spec, flows = problem
    env = simpy.Environment()
    network = Network(env, spec, nodes)
    completions: dict[int, list[float]] = {}
    expected: dict[int, float] = {}
    for flow, (start_s, src, dst, n_bytes) in enumerate(flows):
        if not network.has_route(src, dst):
            continue
        expected[flow] = start_s + network.estimate_s(src, dst, n_bytes)

        def begin(
            _event: simpy.Event, flow: int = flow, src: int = src, dst: int = dst, n_bytes: float = n_bytes
        ) -> None:
            network.transfer(src, dst, n_bytes, lambda: completions.setdefault(flow, []).append(env.now))

        env.timeout(start_s).callbacks.append(begin)

    previous_s = 0.0
    while env.peek() != math.inf:
        env.step()
        assert env.now >= previous_s
        previous_s = env.now
        for name, direction, load, capacity in network.current_load():
            assert load <= capacity * (1 + 1e-9), f"{name} {direction} carries {load} > {capacity}"

    assert set(completions) == set(expected)
    for flow, times in completions.items():
        assert len(times) == 1
        assert times[0] >= expected[flow] * (1 - 1e-9) - 1e-12
    assert network.n_flows_in_flight == 0
    n_remote = sum(1 for flow in expected if flows[flow][1] != flows[flow][2])
    assert len(network.transfer_table()) == n_remote
    remote_bytes = sum(flows[flow][3] for flow in expected if flows[flow][1] != flows[flow][2])
    assert network.bytes_transferred == pytest.approx(remote_bytes)


@pytest.mark.unit
def test_shared_estimate_counts_flows_transmitting_now() -> None:
    """A new flow's estimate uses the equal share capacity / (n + 1) of its busiest link (first step of
    progressive filling); with no other flow, and under sharing "none", it is the lone-flow time."""
    env, network = one_link(latency_s=0.5)
    assert network.estimate_shared_s(0, 1, 2 * MEGABYTE) == network.estimate_s(0, 1, 2 * MEGABYTE) == 2.5
    for _ in range(3):
        network.transfer(0, 1, 10 * MEGABYTE, lambda: None)
    env.run(until=1.0)  # past the latency: the three flows transmit
    assert network.estimate_shared_s(0, 1, 2 * MEGABYTE) == pytest.approx(0.5 + 2 / (1 / 4))
    assert network.estimate_shared_s(1, 0, 2 * MEGABYTE) == 2.5  # the other direction of a full-duplex link
    env, unshared = one_link(latency_s=0.5, sharing="none")
    unshared.transfer(0, 1, 10 * MEGABYTE, lambda: None)
    env.run(until=1.0)
    assert unshared.estimate_shared_s(0, 1, 2 * MEGABYTE) == 2.5
