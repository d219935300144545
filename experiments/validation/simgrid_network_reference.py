"""SimGrid reference completion times for the network model of `simulator.network` (run with /usr/bin/python3).

SimGrid (https://simgrid.org, Debian package ``python3-simgrid``) is the flow-level simulator whose models the
project's ``sharing = "max-min"`` and ``sharing = "rtt-weighted"`` follow. This script builds a few small
platforms programmatically, runs every case's flows under two SimGrid configurations and writes the platforms,
the routes, the flows and SimGrid's completion times to ``results/reference/network/simgrid_cm02_reference.json``;
``tests/test_network_simgrid_reference.py`` replays them through ``simulator.network.Network``.

* ``"rtt-weighted"``: SimGrid's CM02 model (Casanova & Marchal, LIP RR-2002-40) with its corrective factors
  left at 1 (CM02's defaults) and without the TCP-window bound and the cross-traffic term, i.e.
  ``network/model:CM02 network/TCP-gamma:0 network/crosstraffic:0`` (``network/weight-S`` is 0 under CM02,
  ``network/latency-factor`` and ``network/bandwidth-factor`` are 1). CM02 gives each flow the sharing
  penalty of its route latency (the sum of its links' latencies) and solves a weighted max-min problem: rate
  proportional to 1 / penalty. A flow first waits its route latency at penalty 0 (no share), then transmits.
* ``"max-min"``: plain max-min fairness with the same latency semantics. CM02 cannot give it on links with
  latency (its penalty is the latency), and no option turns the penalty off; but CM02 gives a flow whose route
  has zero latency the penalty 1. So the same CM02 options are used on a copy of the platform whose links all
  have zero latency, and each flow is issued at its start time plus its route latency: every transmitting
  flow has penalty 1 (plain max-min), after waiting its route latency. (SimGrid's parallel-task model L07,
  ``host/model:ptask_L07``, is no substitute: its max-min variable is the fraction of a task done per second,
  with each link's coefficient the flow's size, so concurrent flows get byte rates proportional to their
  sizes, not equal ones.)

Both add SimGrid's numerical options ``maxmin/precision`` and ``surf/precision`` at 1e-12 (defaults
1e-5 and 1e-9), so rounding in SimGrid's solver stays far below the 1e-6 tolerance of the comparison.

Routes are given to SimGrid explicitly (a Full zone with one route per used pair of vertices): the path of
least total latency, ties broken as `simulator.network.topology` does (fewer hops, then vertex names, then
link names), so both simulators use the same paths. A full-duplex link becomes two SimGrid links, one per
direction, so the two directions are independent resources as in the project.

SimGrid allows one engine per process, so each (case, model) runs in a subprocess of this script::

    /usr/bin/python3 experiments/validation/simgrid_network_reference.py            # writes the JSON
    /usr/bin/python3 experiments/validation/simgrid_network_reference.py --run CASE.json --model max-min

The second form (used by ``experiments/perf/bench_simgrid.py``) reads one case, runs it, and prints a JSON
object with the completion times and the wall and CPU seconds spent in SimGrid (platform building included).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO_ROOT / "results" / "reference" / "network" / "simgrid_cm02_reference.json"

PRECISION_OPTIONS = ["maxmin/precision:1e-12", "surf/precision:1e-12"]
"""Tighter than SimGrid's defaults (1e-5 and 1e-9), so SimGrid's rounding cannot reach 1e-6 relative."""

MODEL_OPTIONS: dict[str, list[str]] = {
    "rtt-weighted": ["network/model:CM02", "network/TCP-gamma:0", "network/crosstraffic:0", *PRECISION_OPTIONS],
    "max-min": ["network/model:CM02", "network/TCP-gamma:0", "network/crosstraffic:0", *PRECISION_OPTIONS],
}
"""SimGrid ``--cfg`` options giving the project's sharing model of each name (see the module docstring)."""

MODEL_SETUP: dict[str, str] = {
    "rtt-weighted": "CM02 on the platform as given: each flow waits its route latency, then has penalty = latency.",
    "max-min": ("CM02 on the platform with every link latency set to 0 (penalty 1 for every flow); each flow is "
                "issued at start_s + route_latency_s, so it still waits its route latency before transmitting."),
}
"""How each model's runs are set up, recorded in the JSON next to the options."""

LATENCY_PAID_BY_LAUNCHER = frozenset({"max-min"})
"""Models run on links of zero latency, each flow being issued once its route latency has elapsed."""

Case = dict[str, Any]


# ---------------------------------------------------------------------------------------------- routes


def shortest_route(case: Case, src: str, dst: str) -> tuple[list[str], list[str], float]:
    """Least-latency route as `simulator.network.topology.Topology.routes_from` finds it.

    Returns:
        The vertex names from ``src`` to ``dst``, the names of the links crossed and the total latency in s.
    """
    adjacency: dict[str, list[dict[str, Any]]] = {}
    for link in case["links"]:
        first, second = link["endpoints"]
        adjacency.setdefault(first, []).append(link)
        adjacency.setdefault(second, []).append(link)
    heap: list[tuple[float, int, tuple[str, ...], tuple[str, ...]]] = [(0.0, 0, (src,), ())]
    done: set[str] = set()
    while heap:
        latency_s, hops, vertices, links = heapq.heappop(heap)
        vertex = vertices[-1]
        if vertex in done:
            continue
        done.add(vertex)
        if vertex == dst:
            return list(vertices), list(links), latency_s
        for link in adjacency.get(vertex, []):
            first, second = link["endpoints"]
            neighbour = second if first == vertex else first
            if neighbour not in done:
                heapq.heappush(heap, (latency_s + link["latency_s"], hops + 1, (*vertices, neighbour),
                                      (*links, link["name"])))
    raise ValueError(f"no route from {src!r} to {dst!r}")


def add_routes(case: Case) -> Case:
    """Fill in each flow's route (vertices, links, latency) and return the case."""
    for flow in case["flows"]:
        vertices, links, latency_s = shortest_route(case, flow["src"], flow["dst"])
        flow["route_vertices"], flow["route_links"], flow["route_latency_s"] = vertices, links, latency_s
    return case


# ---------------------------------------------------------------------------------------------- SimGrid


def run_simgrid(case: Case, model: str) -> dict[str, Any]:
    """Run one case's flows in SimGrid (this process's only engine) and return completion times and timing."""
    import simgrid  # only under /usr/bin/python3, where the Debian package lives

    started_s, cpu_started_s = time.perf_counter(), time.process_time()
    engine = simgrid.Engine(["simgrid_network_reference", "--log=root.thres:critical",
                             *(f"--cfg={option}" for option in MODEL_OPTIONS[model])])
    zone = simgrid.NetZone.create_full_zone("network")
    names = [*case["nodes"], *case.get("switches", [])]
    hosts = {name: zone.create_host(name, 1e9).seal() for name in names}
    directed: dict[tuple[str, str, str], Any] = {}
    for link in case["links"]:
        first, second = link["endpoints"]
        for a, b, tag in ((first, second, "fwd"), (second, first, "bwd")):
            sg_link = zone.create_link(f"{link['name']}:{tag}", float(link["bandwidth_bytes_per_s"]))
            latency_s = 0.0 if model in LATENCY_PAID_BY_LAUNCHER else float(link["latency_s"])
            directed[(link["name"], a, b)] = sg_link.set_latency(latency_s).seal()
    routed: set[tuple[str, str]] = set()
    for flow in case["flows"]:
        pair = (flow["src"], flow["dst"])
        if pair in routed or pair[0] == pair[1]:
            continue
        routed.add(pair)
        vertices, links = flow["route_vertices"], flow["route_links"]
        hops = [simgrid.LinkInRoute(directed[(link, vertices[i], vertices[i + 1])]) for i, link in enumerate(links)]
        zone.add_route(hosts[pair[0]].netpoint, hosts[pair[1]].netpoint, None, None, hops, False)
    zone.seal()

    delays = [flow["route_latency_s"] if model in LATENCY_PAID_BY_LAUNCHER else 0.0 for flow in case["flows"]]
    order = sorted(range(len(case["flows"])), key=lambda index: case["flows"][index]["start_s"] + delays[index])
    comms: list[Any] = [None] * len(order)

    def launcher() -> None:
        for index in order:
            flow = case["flows"][index]
            delay_s = flow["route_latency_s"] if model in LATENCY_PAID_BY_LAUNCHER else 0.0
            simgrid.this_actor.sleep_until(flow["start_s"] + delay_s)
            comms[index] = simgrid.Comm.sendto_async(hosts[flow["src"]], hosts[flow["dst"]], int(flow["n_bytes"]))
        simgrid.Comm.wait_all([comm for comm in comms if comm is not None])

    simgrid.Actor.create("launcher", hosts[names[0]], launcher)
    engine.run()
    elapsed_s, cpu_s = time.perf_counter() - started_s, time.process_time() - cpu_started_s
    return {"completion_s": [comm.finish_time for comm in comms], "simgrid_s": elapsed_s, "simgrid_cpu_s": cpu_s,
            "simgrid_version": str(simgrid.simgrid_version)}


def run_in_subprocess(case: Case, model: str) -> dict[str, Any]:
    """`run_simgrid` in a fresh interpreter (SimGrid allows one engine per process)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.json"
        path.write_text(json.dumps(case))
        output = subprocess.run([sys.executable, __file__, "--run", str(path), "--model", model],
                                check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- cases


def link(name: str, first: str, second: str, latency_s: float, bandwidth_bytes_per_s: float) -> dict[str, Any]:
    return {"name": name, "endpoints": [first, second], "latency_s": latency_s,
            "bandwidth_bytes_per_s": bandwidth_bytes_per_s}


def flow(label: str, start_s: float, n_bytes: int, src: str, dst: str) -> dict[str, Any]:
    return {"label": label, "start_s": start_s, "n_bytes": n_bytes, "src": src, "dst": dst}


def two_latencies_case() -> Case:
    return {
        "name": "two-latencies-one-link",
        "description": (
            "a -(1 MB/s, 1 ms)- s; s -(10 MB/s, 9 ms)- b; s -(10 MB/s, 49 ms)- c. Flows a->b (route latency "
            "10 ms) and a->c (50 ms), 2 MB each, start at 0 and share link as. RTT-weighted: weights 100 and 20, "
            "rates 5/6 and 1/6 MB/s from 50 ms (a->b alone at 1 MB/s from 10 to 50 ms); max-min: 1/2 each."
        ),
        "nodes": ["a", "b", "c"], "switches": ["s"],
        "links": [link("as", "a", "s", 0.001, 1e6), link("sb", "s", "b", 0.009, 1e7),
                  link("sc", "s", "c", 0.049, 1e7)],
        "flows": [flow("a->b", 0.0, 2_000_000, "a", "b"), flow("a->c", 0.0, 2_000_000, "a", "c")],
    }


def staggered_case() -> Case:
    return {
        "name": "three-staggered-flows",
        "description": (
            "Line a - b - c - d (2, 1, 4 MB/s; 5, 20, 2 ms) plus d - e (8 MB/s, 40 ms). Three flows of different "
            "route latencies crossing link bc start at 0, 0.3 and 0.7 s; rates change at every start and end."
        ),
        "nodes": ["a", "b", "c", "d", "e"], "switches": [],
        "links": [link("ab", "a", "b", 0.005, 2e6), link("bc", "b", "c", 0.020, 1e6),
                  link("cd", "c", "d", 0.002, 4e6), link("de", "d", "e", 0.040, 8e6)],
        "flows": [flow("a->d", 0.0, 1_500_000, "a", "d"), flow("b->c", 0.3, 400_000, "b", "c"),
                  flow("b->e", 0.7, 900_000, "b", "e")],
    }


def tree_case() -> Case:
    leaves = [f"n{index}" for index in range(6)]
    links = [link("r-s0", "r", "s0", 0.004, 4e6), link("r-s1", "r", "s1", 0.010, 4e6)]
    for index, leaf in enumerate(leaves):
        switch = "s0" if index < 3 else "s1"
        links.append(link(f"{switch}-{leaf}", switch, leaf, 0.001 * (index + 1), 2e6))
    flows = [
        flow("n0->n3", 0.0, 3_000_000, "n0", "n3"), flow("n3->n0", 0.0, 2_000_000, "n3", "n0"),
        flow("n1->n4", 0.1, 2_500_000, "n1", "n4"), flow("n5->n2", 0.2, 1_000_000, "n5", "n2"),
        flow("n0->n1", 0.05, 1_200_000, "n0", "n1"), flow("n4->n5", 0.4, 800_000, "n4", "n5"),
        flow("n2->n3", 0.6, 1_700_000, "n2", "n3"), flow("n4->n1", 0.9, 600_000, "n4", "n1"),
    ]
    return {
        "name": "tree-both-ways",
        "description": ("Root switch r over switches s0 (leaves n0-n2) and s1 (n3-n5); 4 MB/s uplinks, 2 MB/s "
                        "leaf links, latencies 1-10 ms; flows both ways across the root and inside each subtree."),
        "nodes": leaves, "switches": ["r", "s0", "s1"], "links": links, "flows": flows,
    }


def random_graph_case(seed: int = 20261129, n_nodes: int = 10, n_switches: int = 4, n_extra_links: int = 10,
                      n_flows: int = 50) -> Case:
    """A connected random graph (random spanning tree plus extra links) and random flows."""
    rng = random.Random(seed)
    nodes = [f"h{index}" for index in range(n_nodes)]
    switches = [f"sw{index}" for index in range(n_switches)]
    names = nodes + switches
    shuffled = names[:]
    rng.shuffle(shuffled)
    pairs = [(shuffled[rng.randrange(position)], vertex) for position, vertex in enumerate(shuffled) if position]
    while len(pairs) < len(names) - 1 + n_extra_links:
        first, second = rng.sample(names, 2)
        if (first, second) not in pairs and (second, first) not in pairs:
            pairs.append((first, second))
    links = [link(f"l{index}", first, second, round(rng.uniform(1e-4, 1e-2), 6), float(rng.choice([1, 2, 5, 10]) * 1e6))
             for index, (first, second) in enumerate(pairs)]
    flows = []
    for index in range(n_flows):
        src, dst = rng.sample(names, 2)
        flows.append(flow(f"f{index}", round(rng.uniform(0.0, 2.0), 4), rng.randrange(10_000, 3_000_000), src, dst))
    return {
        "name": "random-graph",
        "description": (f"Random connected graph: {n_nodes} nodes, {n_switches} switches, {len(links)} links "
                        f"(latency 0.1-10 ms, 1-10 MB/s), {n_flows} flows between random vertices starting in "
                        f"[0, 2] s, 10 kB-3 MB; Python random.Random({seed})."),
        "nodes": nodes, "switches": switches, "links": links, "flows": flows,
    }


def build_reference() -> dict[str, Any]:
    cases = [add_routes(case) for case in (two_latencies_case(), staggered_case(), tree_case(), random_graph_case())]
    version = None
    for case in cases:
        case["completion_s"] = {}
        for model in MODEL_OPTIONS:
            outcome = run_in_subprocess(case, model)
            case["completion_s"][model] = outcome["completion_s"]
            version = outcome["simgrid_version"]
    return {
        "generated_by": "experiments/validation/simgrid_network_reference.py",
        "simgrid_version": version,
        "simgrid_options": MODEL_OPTIONS,
        "simgrid_setup": MODEL_SETUP,
        "units": "seconds, bytes, bytes per second",
        "notes": ("Links are full duplex (each direction an independent resource). completion_s[model][i] is "
                  "the time SimGrid finished flow i under the project's sharing model of that name."),
        "cases": cases,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="reference JSON (default: %(default)s)")
    parser.add_argument("--run", type=Path, default=None, metavar="CASE_JSON",
                        help="run one case (with routes) and print completion times as JSON")
    parser.add_argument("--model", choices=sorted(MODEL_OPTIONS), default="rtt-weighted")
    args = parser.parse_args(argv)
    if args.run is not None:
        print(json.dumps(run_simgrid(json.loads(args.run.read_text()), args.model)))
        return
    reference = build_reference()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {args.output} (SimGrid {reference['simgrid_version']}, {len(reference['cases'])} cases)")


if __name__ == "__main__":
    main()
