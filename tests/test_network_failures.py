"""Tests of link failures in `simulator.network`: routes over the links that are up, transfers that lose their
attempt when a link on their route fails and start again from their first byte, their records, and the sharing
models kept exact when flows leave them this way.

Times are chosen so that every expected instant is a sum of exactly representable numbers (quarters, halves and
whole seconds), so most of them are compared exactly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest
import simpy

from simulator.config.network_spec import SHARING_MODELS, LinkSpec, NetworkSpec
from simulator.network import Network, max_min_rates
from simulator.network.sharing import rtt_weight

MEGABYTE = 1e6


def build(vertices: Sequence[str], links: Sequence[LinkSpec], switches: Sequence[str] = (),
          sharing: str = "max-min") -> tuple[simpy.Environment, Network]:
    """A fresh environment and a network over it."""
    env = simpy.Environment()
    return env, Network(env, NetworkSpec(sharing=sharing, switches=tuple(switches), links=tuple(links)), vertices)


def at(env: simpy.Environment, time_s: float, action: object) -> None:
    """Run ``action()`` at ``time_s`` (events at one instant run in the order they were scheduled)."""
    env.timeout(time_s).callbacks.append(lambda _event: action())  # type: ignore[operator]


def send(env: simpy.Environment, network: Network, time_s: float, src: int, dst: int, n_bytes: float,
         finished: dict[str, list[float]], label: str) -> None:
    """Start a transfer at ``time_s`` whose completion appends the time to ``finished[label]``."""
    at(env, time_s, lambda: network.transfer(src, dst, n_bytes,
                                             lambda: finished.setdefault(label, []).append(env.now)))


def detour(sharing: str = "max-min") -> tuple[simpy.Environment, Network]:
    """``a`` (0) and ``b`` (1): a direct link (0.25 s, 1 MB/s) and a detour through switch ``s``, ``a-s`` (0.25 s,
    0.5 MB/s) then ``s-b`` (0.25 s, 2 MB/s). The least-latency route is the direct link (0.25 s < 0.5 s)."""
    return build(["a", "b"], [LinkSpec("direct", ("a", "b"), 0.25, MEGABYTE),
                              LinkSpec("as", ("a", "s"), 0.25, 0.5 * MEGABYTE),
                              LinkSpec("sb", ("s", "b"), 0.25, 2 * MEGABYTE)], switches=["s"], sharing=sharing)


# ------------------------------------------------------------------------------------- restarts by hand


@pytest.mark.unit
@pytest.mark.parametrize("sharing", SHARING_MODELS)
def test_flow_on_failing_link_restarts_on_the_detour(sharing: str) -> None:
    """Reference: the flow model's lone-flow time (latency + bytes / bottleneck) and the contract of
    docs/dynamics.md (a failed transfer starts again from its first byte on a route of links that are up).

    1 MB over the direct link transmits from 0.25 s at 1 MB/s; the link fails at 0.75 s with 0.5 MB sent. The
    flow starts again at once on a-s-b: 0.75 + 0.5 s latency + 1 MB / 0.5 MB/s = 3.25 s.
    """
    env, network = detour(sharing)
    finished: dict[str, list[float]] = {}
    send(env, network, 0.0, 0, 1, MEGABYTE, finished, "flow")
    at(env, 0.75, lambda: network.set_link_up("direct", False))
    env.run()
    assert finished == {"flow": [3.25]}
    assert network.failed_transfers == 1
    failed = network.failed_transfer_table()
    assert failed.to_dict("records") == [{"src": "a", "dst": "b", "bytes": MEGABYTE, "bytes_sent": 0.5 * MEGABYTE,
                                          "start_s": 0.0, "fail_s": 0.75, "link": "direct", "attempt": 1}]
    transfers = network.transfer_table()
    assert transfers[["start_s", "end_s", "hops"]].to_dict("records") == [{"start_s": 0.0, "end_s": 3.25, "hops": 2}]
    assert network.n_flows_in_flight == 0


@pytest.mark.unit
@pytest.mark.parametrize("sharing", SHARING_MODELS)
def test_flow_without_alternative_waits_for_the_repair(sharing: str) -> None:
    """Reference: docs/dynamics.md (with no route of links that are up a transfer waits until one exists).

    One link a-b (0.25 s, 1 MB/s); 1 MB from 0 s; the link fails at 0.75 s and is repaired at 2 s. The flow
    starts again at the repair: 2 + 0.25 + 1 = 3.25 s. While the link is down there is no route.
    """
    env, network = build(["a", "b"], [LinkSpec("ab", ("a", "b"), 0.25, MEGABYTE)], sharing=sharing)
    finished: dict[str, list[float]] = {}
    seen_while_down: list[tuple[bool, float, int, int]] = []
    send(env, network, 0.0, 0, 1, MEGABYTE, finished, "flow")
    at(env, 0.75, lambda: network.set_link_up("ab", False))
    at(env, 1.5, lambda: seen_while_down.append((network.has_route(0, 1), network.estimate_s(0, 1, 1.0),
                                                 network.n_flows_waiting, network.n_flows_in_flight)))
    at(env, 2.0, lambda: network.set_link_up("ab", True))
    env.run()
    assert finished == {"flow": [3.25]}
    assert seen_while_down == [(False, math.inf, 1, 1)]
    assert network.n_flows_waiting == 0
    assert network.failed_transfer_table()[["start_s", "fail_s", "bytes_sent"]].to_dict("records") == [
        {"start_s": 0.0, "fail_s": 0.75, "bytes_sent": 0.5 * MEGABYTE}]


@pytest.mark.unit
@pytest.mark.parametrize("sharing", SHARING_MODELS)
def test_flow_failing_in_its_latency_ignores_its_stale_timer(sharing: str) -> None:
    """A flow whose link fails during its latency must not complete from the latency timer of the lost attempt.

    One link a-b (1 s latency, 1 MB/s); 1 MB from 0 s; the link fails at 0.5 s and is repaired at 0.75 s. The
    old latency would end at 1 s (and the flow at 2 s); the new attempt's ends at 1.75 s, so the flow completes
    once, at 2.75 s, having sent nothing before the failure.
    """
    env, network = build(["a", "b"], [LinkSpec("ab", ("a", "b"), 1.0, MEGABYTE)], sharing=sharing)
    finished: dict[str, list[float]] = {}
    send(env, network, 0.0, 0, 1, MEGABYTE, finished, "flow")
    at(env, 0.5, lambda: network.set_link_up("ab", False))
    at(env, 0.75, lambda: network.set_link_up("ab", True))
    env.run()
    assert finished == {"flow": [2.75]}
    assert network.failed_transfer_table()[["fail_s", "bytes_sent", "attempt"]].to_dict("records") == [
        {"fail_s": 0.5, "bytes_sent": 0.0, "attempt": 1}]
    assert len(network.transfer_table()) == 1


@pytest.mark.unit
@pytest.mark.parametrize("sharing", SHARING_MODELS)
@pytest.mark.parametrize("failure_first", [True, False], ids=["failure-first", "latency-first"])
def test_failure_at_the_instant_the_latency_ends(sharing: str, failure_first: bool) -> None:
    """A failure at the very instant a flow's latency ends loses the attempt whichever event runs first (the
    flow still in its latency, or just handed to the sharing model): detour from 0.25 s, 0.25 + 0.5 + 2 = 2.75 s.
    """
    env, network = detour(sharing)
    finished: dict[str, list[float]] = {}
    if failure_first:
        at(env, 0.25, lambda: network.set_link_up("direct", False))
    network.transfer(0, 1, MEGABYTE, lambda: finished.setdefault("flow", []).append(env.now))
    if not failure_first:
        at(env, 0.25, lambda: network.set_link_up("direct", False))
    env.run()
    assert finished == {"flow": [2.75]}
    assert network.failed_transfer_table()["bytes_sent"].tolist() == [0.0]


@pytest.mark.unit
def test_repeated_failures_count_each_attempt() -> None:
    """Each failure of a link on the current route ends one attempt; attempts are numbered from 1.

    Detour topology: the direct link fails at 0.75 s (flow restarts on a-s-b), the detour's a-s fails at 1.5 s
    (the direct link is still down: the flow waits), the direct link comes back at 2 s: 2 + 0.25 + 1 = 3.25 s.
    """
    env, network = detour()
    finished: dict[str, list[float]] = {}
    send(env, network, 0.0, 0, 1, MEGABYTE, finished, "flow")
    at(env, 0.75, lambda: network.set_link_up("direct", False))
    at(env, 1.5, lambda: network.set_link_up("as", False))
    at(env, 2.0, lambda: network.set_link_up("direct", True))
    env.run()
    assert finished == {"flow": [3.25]}
    failed = network.failed_transfer_table()
    # The second attempt started at 0.75 s, spent 0.5 s in latency and sent 0.25 s x 0.5 MB/s.
    assert failed[["start_s", "fail_s", "link", "attempt", "bytes_sent"]].to_dict("records") == [
        {"start_s": 0.0, "fail_s": 0.75, "link": "direct", "attempt": 1, "bytes_sent": 0.5 * MEGABYTE},
        {"start_s": 0.75, "fail_s": 1.5, "link": "as", "attempt": 2, "bytes_sent": 0.125 * MEGABYTE}]


@pytest.mark.unit
def test_transfer_asked_for_while_no_route_waits() -> None:
    """A transfer asked for while its only link is down starts when the link comes back (not a failed attempt);
    vertices that no link joins, up or down, are still an error."""
    env, network = build(["a", "b", "c"], [LinkSpec("ab", ("a", "b"), 0.25, MEGABYTE)])
    finished: dict[str, list[float]] = {}
    network.set_link_up("ab", False)
    send(env, network, 0.5, 0, 1, MEGABYTE, finished, "flow")
    at(env, 1.0, lambda: network.set_link_up("ab", True))
    env.run()
    assert finished == {"flow": [2.25]}
    assert network.failed_transfers == 0
    assert network.transfer_table()[["start_s", "end_s"]].to_dict("records") == [{"start_s": 0.5, "end_s": 2.25}]
    with pytest.raises(ValueError, match="no route from 'a' to 'c'"):
        network.transfer(0, 2, 1.0, lambda: None)


# ------------------------------------------------------------------------------------- sharing stays exact


@pytest.mark.unit
@pytest.mark.parametrize("sharing", ["max-min", "rtt-weighted"])
def test_flow_failing_away_frees_its_share_at_once(sharing: str) -> None:
    """Reference: max-min fairness by hand (Bertsekas & Gallager, *Data Networks*, section 6.5.2; equal route
    latencies, so the rtt-weighted shares are equal too).

    a-s and c-s (0.25 s, 4 MB/s) feed s-b (0.25 s, 1 MB/s). Flows a->b and c->b of 1 MB each transmit from
    0.5 s at 0.5 MB/s. At 1.5 s a-s fails (a has no other route): c's flow gets all of s-b, 1 MB/s, at that
    instant and ends at 1.5 + 0.5 MB / 1 MB/s = 2 s (2.5 s without the failure). a-s is repaired at 3 s and
    a's flow takes 3 + 0.5 + 1 = 4.5 s.
    """
    env, network = build(["a", "b", "c"], [LinkSpec("as", ("a", "s"), 0.25, 4 * MEGABYTE),
                                           LinkSpec("cs", ("c", "s"), 0.25, 4 * MEGABYTE),
                                           LinkSpec("sb", ("s", "b"), 0.25, MEGABYTE)], switches=["s"],
                         sharing=sharing)
    finished: dict[str, list[float]] = {}
    load_after_failure: list[float] = []
    send(env, network, 0.0, 0, 1, MEGABYTE, finished, "a")
    send(env, network, 0.0, 2, 1, MEGABYTE, finished, "c")
    at(env, 1.5, lambda: network.set_link_up("as", False))
    at(env, 1.5, lambda: load_after_failure.extend(
        load for name, direction, load, _ in network.current_load() if direction == "s->b"))
    at(env, 3.0, lambda: network.set_link_up("as", True))
    env.run()
    assert finished == {"c": [2.0], "a": [4.5]}
    assert load_after_failure == [MEGABYTE]
    assert network.failed_transfer_table()["bytes_sent"].tolist() == [0.5 * MEGABYTE]


def _transmitting_loads(network: Network, zero_latency_s: float | None) -> list[float]:
    """Per resource, the (rtt-weighted when ``zero_latency_s`` is given) max-min fair load of the flows now
    transmitting under a max-min model, recomputed from scratch: a flow transmits once its latency timer has
    fired, if it has bytes and a finite resource."""
    transmitting = [flow for flow in network.records.in_flight.values()
                    if flow.timer is not None and flow.timer.callbacks is None and flow.route.shared_resources
                    and flow.n_bytes > 0.0]
    weights = None if zero_latency_s is None else [rtt_weight(flow.route, zero_latency_s) for flow in transmitting]
    rates = max_min_rates([flow.route.shared_resources for flow in transmitting], network.topology.capacities,
                          weights=weights)
    loads = [0.0] * len(network.topology.capacities)
    for flow, rate in zip(transmitting, rates, strict=True):
        for resource in flow.route.resources:
            loads[resource] += rate
    return loads


@pytest.mark.validation
@pytest.mark.parametrize("sharing", SHARING_MODELS)
@pytest.mark.parametrize("seed", range(8))
def test_random_failures_keep_rates_exact_and_flows_off_down_links(seed: int, sharing: str) -> None:
    """Reference: uniqueness of the (weighted) max-min fair allocation (Bertsekas & Gallager, *Data Networks*,
    section 6.5.2): after flows leave the incremental engine because links failed, the load of every resource
    must equal progressive filling recomputed from scratch over the flows still transmitting (1e-9 relative),
    at every instant of a random run of flows, failures and repairs on a ring with chords. Under every model,
    no flow in flight is on a route with a link that is down, and every transfer completes exactly once."""
    rng = random.Random(seed)
    names = ["n0", "n1", "n2", "n3", "n4", "n5"]
    links = [LinkSpec(f"ring{i}", (names[i], names[(i + 1) % 6]), rng.choice([0.0, 0.25, 0.5]),
                      rng.choice([1.0, 2.0, 4.0]) * MEGABYTE, rng.choice(["full", "half"])) for i in range(6)]
    links += [LinkSpec("chord03", ("n0", "n3"), 0.25, MEGABYTE), LinkSpec("chord14", ("n1", "n4"), 0.5, math.inf)]
    env, network = build(names, links, sharing=sharing)
    zero_latency_s = 0.25 if sharing == "rtt-weighted" else None  # the smallest positive link latency
    completions: dict[int, int] = {}
    n_flows = 60
    for index in range(n_flows):
        src, dst = rng.sample(range(6), 2)
        n_bytes = rng.choice([0.0, 0.5, 1.0, 3.0]) * MEGABYTE
        at(env, rng.uniform(0.0, 10.0), lambda s=src, d=dst, b=n_bytes, i=index: network.transfer(
            s, d, b, lambda: completions.__setitem__(i, completions.get(i, 0) + 1)))
    for link in rng.sample(links, 4):
        down_s = rng.uniform(0.0, 10.0)
        at(env, down_s, lambda name=link.name: network.set_link_up(name, False))
        at(env, down_s + rng.uniform(0.0, 3.0), lambda name=link.name: network.set_link_up(name, True))
    topology = network.topology
    while env.peek() != math.inf:
        env.step()
        if env.peek() > env.now:  # every event of this instant has run
            for flow in network.records.in_flight.values():
                assert all(topology.link_is_up(link) for link in flow.route.links), flow
            if sharing == "none":
                continue
            expected = _transmitting_loads(network, zero_latency_s)
            for (_, _, load, _), expected_load in zip(network.current_load(), expected, strict=True):
                assert load == pytest.approx(expected_load, rel=1e-9, abs=1e-6)
    assert completions == dict.fromkeys(range(n_flows), 1)
    assert network.failed_transfers > 0
    assert len(network.transfer_table()) == n_flows


# ------------------------------------------------------------------------------------- routes and estimates


@pytest.mark.unit
def test_routes_and_estimates_follow_link_state() -> None:
    """has_route, route and estimate_s are over the links that are up, and come back exactly after repair."""
    _env, network = detour()
    route_before = network.route(0, 1)
    estimate_before = network.estimate_s(0, 1, MEGABYTE)
    assert (route_before.latency_s, estimate_before) == (0.25, 1.25)
    network.set_link_up("direct", False)
    assert not network.link_is_up("direct") and network.link_is_up("as")
    assert network.route(0, 1).links == (1, 2)
    assert network.estimate_s(0, 1, MEGABYTE) == 0.5 + 2.0
    assert network.estimate_shared_s(0, 1, MEGABYTE) == 0.5 + 2.0
    assert network.route_latency_s(0, 1) == 0.5
    network.set_link_up("sb", False)
    assert not network.has_route(0, 1)
    assert network.estimate_s(0, 1, MEGABYTE) == math.inf
    assert network.estimate_shared_s(0, 1, MEGABYTE) == math.inf
    with pytest.raises(ValueError, match="no route from 'a' to 'b' over the links that are up"):
        network.route(0, 1)
    network.set_link_up("direct", True)
    network.set_link_up("sb", True)
    assert network.has_route(0, 1)
    assert network.route(0, 1) is route_before  # the same path: the same route object
    assert network.estimate_s(0, 1, MEGABYTE) == estimate_before


@pytest.mark.unit
def test_ties_keep_their_rule_over_the_remaining_links() -> None:
    """Reference: the topology's tie-breaks (fewer hops, then vertex names, then link names): of the parallel
    links p1, p2 and p3 of equal latency the route takes p1, then p2 once p1 is down, then p3."""
    _env, network = build(["a", "b"], [LinkSpec(name, ("a", "b"), 0.5, MEGABYTE) for name in ("p3", "p1", "p2")])
    link_names = [link.name for link in network.spec.links]
    taken = []
    for name in ("p1", "p2"):
        taken.append(link_names[network.route(0, 1).links[0]])
        network.set_link_up(name, False)
    taken.append(link_names[network.route(0, 1).links[0]])
    assert taken == ["p1", "p2", "p3"]


# ------------------------------------------------------------------------------------- duplex, no-ops


@pytest.mark.unit
@pytest.mark.parametrize(("duplex", "end_s"), [("half", 3.25), ("full", 2.25)])
def test_failure_takes_both_directions_down(duplex: str, end_s: float) -> None:
    """A link failure ends the flows of both directions. a->b and b->a, 1 MB each, over one link (0.25 s,
    1 MB/s) that fails at 0.75 s and comes back at 1 s: both restart at 1 s and transmit from 1.25 s; on a
    half-duplex link they share 1 MB/s (end 1.25 + 2 = 3.25 s), on a full-duplex link each direction is its
    own (1.25 + 1 = 2.25 s). Before the failure, half duplex gave each 0.5 MB/s, so each had sent 0.25 MB.
    The link table counts the failure, the down time and the time transmitting, not the lost bytes."""
    env, network = build(["a", "b"], [LinkSpec("ab", ("a", "b"), 0.25, MEGABYTE, duplex)])
    finished: dict[str, list[float]] = {}
    send(env, network, 0.0, 0, 1, MEGABYTE, finished, "ab")
    send(env, network, 0.0, 1, 0, MEGABYTE, finished, "ba")
    at(env, 0.75, lambda: network.set_link_up("ab", False))
    at(env, 1.0, lambda: network.set_link_up("ab", True))
    env.run()
    assert finished == {"ab": [end_s], "ba": [end_s]}
    failed = network.failed_transfer_table()
    sent_s = 0.25 if duplex == "half" else 0.5
    assert failed[["src", "dst", "bytes_sent"]].to_dict("records") == [
        {"src": "a", "dst": "b", "bytes_sent": sent_s * MEGABYTE},
        {"src": "b", "dst": "a", "bytes_sent": sent_s * MEGABYTE}]
    links = network.link_table(env.now)
    assert links["failures"].tolist() == [1] * len(links)
    assert links["down_s"].tolist() == [0.25] * len(links)
    # Busy while transmitting, 0.25-0.75 s and from 1.25 s to the end; bytes of completed transfers only.
    assert links["busy_s"].tolist() == [0.5 + end_s - 1.25] * len(links)
    assert links["bytes"].sum() == 2 * MEGABYTE


def _diamond_run(fail_spare: bool) -> tuple[Network, list[float]]:
    """Two flows on a-b and b-c; with ``fail_spare`` the unused link a-c goes down at 0.5 s and up at 1 s."""
    env, network = build(["a", "b", "c"], [LinkSpec("ab", ("a", "b"), 0.25, MEGABYTE),
                                           LinkSpec("bc", ("b", "c"), 0.25, MEGABYTE),
                                           LinkSpec("ac", ("a", "c"), 2.0, MEGABYTE)])
    finished: dict[str, list[float]] = {}
    send(env, network, 0.0, 0, 1, MEGABYTE, finished, "ab")
    send(env, network, 0.25, 1, 2, 2 * MEGABYTE, finished, "bc")
    send(env, network, 0.0, 1, 0, 0.5 * MEGABYTE, finished, "ba")
    if fail_spare:
        at(env, 0.5, lambda: network.set_link_up("ac", False))
        at(env, 1.0, lambda: network.set_link_up("ac", True))
    env.run()
    return network, sorted(time_s for times in finished.values() for time_s in times)


@pytest.mark.unit
def test_link_down_without_flows_changes_nothing_else() -> None:
    """A link that no flow crosses going down and up changes no completion, no transfer row and no other link's
    row; only its own failures and down time are counted."""
    plain, plain_times = _diamond_run(fail_spare=False)
    failing, failing_times = _diamond_run(fail_spare=True)
    assert failing_times == plain_times
    assert failing.transfer_table().equals(plain.transfer_table())
    assert failing.failed_transfers == 0
    plain_links = plain.link_table(5.0).set_index(["name", "direction"])
    failing_links = failing.link_table(5.0).set_index(["name", "direction"])
    assert failing_links.drop(index="ac", level="name").equals(plain_links.drop(index="ac", level="name"))
    assert failing_links.loc["ac", "failures"].tolist() == [1, 1]
    assert failing_links.loc["ac", "down_s"].tolist() == [0.5, 0.5]
    assert plain_links["failures"].tolist() == [0] * len(plain_links)
    assert plain_links["down_s"].tolist() == [0.0] * len(plain_links)


@pytest.mark.unit
def test_repeated_set_link_up_calls_are_harmless() -> None:
    """Setting the state a link already has does nothing: one failure, one failed attempt, one restart."""
    env, network = detour()
    finished: dict[str, list[float]] = {}
    send(env, network, 0.0, 0, 1, MEGABYTE, finished, "flow")
    at(env, 0.5, lambda: network.set_link_up("direct", True))
    at(env, 0.75, lambda: network.set_link_up("direct", False))
    at(env, 0.75, lambda: network.set_link_up("direct", False))
    at(env, 1.0, lambda: network.set_link_up("direct", False))
    at(env, 5.0, lambda: network.set_link_up("direct", True))
    at(env, 6.0, lambda: network.set_link_up("direct", True))
    env.run()
    assert finished == {"flow": [3.25]}
    assert network.failed_transfers == 1
    links = network.link_table(env.now).set_index("direction")
    assert links.loc["a->b", "failures"] == 1 and links.loc["a->b", "down_s"] == 5.0 - 0.75


@pytest.mark.unit
def test_down_time_counts_up_to_now_while_down_and_unknown_links_are_named() -> None:
    """A link still down at the end counts its down time up to now; an unknown link name is a KeyError that
    lists the known ones."""
    env, network = detour()
    at(env, 1.0, lambda: network.set_link_up("sb", False))
    at(env, 4.0, lambda: None)
    env.run()
    links = network.link_table(env.now).set_index("name")
    assert links.loc["sb", "down_s"].tolist() == [3.0, 3.0]
    assert links.loc["direct", "down_s"].tolist() == [0.0, 0.0]
    with pytest.raises(KeyError, match="unknown link 'nope'; known links: \\['direct', 'as', 'sb'\\]"):
        network.set_link_up("nope", False)
    with pytest.raises(KeyError, match="unknown link"):
        network.link_is_up("nope")
