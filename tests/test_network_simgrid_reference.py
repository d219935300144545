"""Validation of `simulator.network` against SimGrid 3.32 (flow-level network simulator, https://simgrid.org).

Reference: ``results/reference/network/simgrid_cm02_reference.json``, written by
``experiments/validation/simgrid_network_reference.py`` (run with ``/usr/bin/python3`` and Debian's
``python3-simgrid``). It holds four platforms (two flows of different route latencies on one link, three
staggered flows on a line, a tree with flows both ways, a random graph with 50 flows), the least-latency route
of every flow, and SimGrid's completion time of every flow under

* ``sharing = "rtt-weighted"``: SimGrid's CM02 model, ``--cfg=network/model:CM02 --cfg=network/TCP-gamma:0
  --cfg=network/crosstraffic:0`` (weighted max-min, a flow's penalty is its route latency);
* ``sharing = "max-min"``: the same CM02 options on the platform with every link latency set to 0 (CM02 then
  gives every flow penalty 1: plain max-min), each flow issued once its route latency has elapsed;

both with ``maxmin/precision`` and ``surf/precision`` at 1e-12. In both SimGrid models a flow first waits its
route latency (the sum of its links' latencies, counted once per link) without using bandwidth, then transmits,
exactly as `simulator.network.Network.transfer` does, so completion times are compared to 1e-6 relative.
See docs/network-validation.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import simpy

from simulator.config.network_spec import SHARING_MODELS, LinkSpec, NetworkSpec
from simulator.network import Network

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference" / "network" / "simgrid_cm02_reference.json"
RELATIVE_TOLERANCE = 1e-6


def load_cases() -> list[dict[str, Any]]:
    """The reference cases, or none if the JSON is missing (the tests then fail, not skip)."""
    if not REFERENCE.exists():
        return []
    cases: list[dict[str, Any]] = json.loads(REFERENCE.read_text())["cases"]
    return cases


CASES = load_cases()
CASE_IDS = [case["name"] for case in CASES]


def run_case(case: dict[str, Any], sharing: str) -> tuple[Network, list[float]]:
    """Build the case's network with the project's API, run its flows and return their completion times."""
    spec = NetworkSpec(
        sharing=sharing,
        switches=tuple(case["switches"]),
        links=tuple(
            LinkSpec(link["name"], tuple(link["endpoints"]), link["latency_s"], link["bandwidth_bytes_per_s"])
            for link in case["links"]
        ),
    )
    env = simpy.Environment()
    network = Network(env, spec, case["nodes"])
    completions = [float("nan")] * len(case["flows"])
    for index, flow in enumerate(case["flows"]):
        src, dst = network.vertex_index(flow["src"]), network.vertex_index(flow["dst"])

        def on_done(index: int = index) -> None:
            completions[index] = env.now

        def begin(_event: simpy.Event, src: int = src, dst: int = dst, n_bytes: float = flow["n_bytes"],
                  on_done: Any = on_done) -> None:
            network.transfer(src, dst, n_bytes, on_done)

        env.timeout(flow["start_s"]).callbacks.append(begin)
    env.run()
    return network, completions


def check_against_simgrid(case: dict[str, Any], sharing: str) -> None:
    network, completions = run_case(case, sharing)
    link_names = [link["name"] for link in case["links"]]
    for flow in case["flows"]:
        route = network.route(network.vertex_index(flow["src"]), network.vertex_index(flow["dst"]))
        assert [link_names[link] for link in route.links] == flow["route_links"], flow["label"]
        assert route.latency_s == pytest.approx(flow["route_latency_s"], rel=1e-12)
    expected = case["completion_s"][sharing]
    mismatches = [
        f"{flow['label']}: simulator {got!r}, SimGrid {want!r}"
        for flow, got, want in zip(case["flows"], completions, expected, strict=True)
        if got != pytest.approx(want, rel=RELATIVE_TOLERANCE)
    ]
    assert not mismatches, f"{case['name']} ({sharing}): " + "; ".join(mismatches)


@pytest.mark.validation
def test_reference_file_is_present() -> None:
    """The reference data exist and hold the four cases (regenerate with the script named above)."""
    assert REFERENCE.exists(), f"missing {REFERENCE}; run experiments/validation/simgrid_network_reference.py"
    assert CASE_IDS == ["two-latencies-one-link", "three-staggered-flows", "tree-both-ways", "random-graph"]


@pytest.mark.validation
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_max_min_matches_simgrid_l07(case: dict[str, Any]) -> None:
    """Reference: SimGrid 3.32, L07 model (plain max-min after the route latency): every completion to 1e-6."""
    check_against_simgrid(case, "max-min")


@pytest.mark.validation
@pytest.mark.skipif("rtt-weighted" not in SHARING_MODELS, reason='sharing model "rtt-weighted" not implemented yet')
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_rtt_weighted_matches_simgrid_cm02(case: dict[str, Any]) -> None:
    """Reference: SimGrid 3.32, CM02 model without TCP-window bound or cross-traffic (weighted max-min, weight
    1 / route latency, after the route latency): every completion to 1e-6 relative."""
    check_against_simgrid(case, "rtt-weighted")
