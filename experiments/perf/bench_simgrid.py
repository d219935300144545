"""Benchmark: this simulator's network against SimGrid on the same flows, under plain max-min sharing.

A random connected graph (30 vertices, 60 full-duplex links: a random spanning tree plus random extra links,
latency 0.1-10 ms, 1 or 10 Gbit/s) carries 10,000 flows between random pairs of distinct vertices (sizes
log-uniform in 10 kB-100 MB, start times uniform in [0, 60] s), all drawn from ``numpy.random.default_rng(seed)``.

* This simulator: `simulator.network.Network` directly (``NetworkSpec`` with ``sharing = "max-min"``; network
  construction, route search, scheduling the flows and ``env.run()`` all timed), best of ``--repeats``.
* SimGrid 3.32 (Debian ``python3-simgrid``, run by ``/usr/bin/python3`` in a subprocess, one per repeat,
  because SimGrid allows one engine per process): ``experiments/validation/simgrid_network_reference.py --run``
  with model ``max-min`` (CM02 without TCP-window bound or cross-traffic, zero link latencies and each flow
  issued after its route latency; see docs/network-validation.md). Its time runs from creating the engine to
  the end of the run, platform building (hosts, links, one explicit route per used pair) included; the
  subprocess's whole wall time (interpreter start, ``import simgrid``, reading the flows) is printed too.

Both get the same least-latency routes (SimGrid's are computed here by the project's `Topology` and passed
explicitly), so the script also prints the largest relative difference between the two simulators' completion
times. If SimGrid is not installed it says so and exits 0. Run from the repository root::

    .venv/bin/python experiments/perf/bench_simgrid.py                     # 10,000 flows, best of 3
    .venv/bin/python experiments/perf/bench_simgrid.py --flows 2000 --repeats 1 --json
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import simpy

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from _perf import machine_description, write_json  # noqa: E402

from simulator.config.network_spec import LinkSpec, NetworkSpec  # noqa: E402
from simulator.network import Network, Topology  # noqa: E402

SIMGRID_PYTHON = "/usr/bin/python3"
SIMGRID_RUNNER = REPO_ROOT / "experiments" / "validation" / "simgrid_network_reference.py"
DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "bench_simgrid.json"


def random_case(seed: int, n_vertices: int, n_links: int, n_flows: int, duration_s: float) -> dict[str, Any]:
    """A random connected platform and flows, in the JSON layout of the SimGrid reference script."""
    rng = np.random.default_rng(seed)
    vertices = [f"v{index}" for index in range(n_vertices)]
    order = rng.permutation(n_vertices)
    pairs: list[tuple[int, int]] = [(int(order[rng.integers(position)]), int(order[position]))
                                    for position in range(1, n_vertices)]
    seen = {frozenset(pair) for pair in pairs}
    while len(pairs) < n_links:
        first, second = (int(vertex) for vertex in rng.choice(n_vertices, size=2, replace=False))
        if frozenset((first, second)) not in seen:
            seen.add(frozenset((first, second)))
            pairs.append((first, second))
    links = [{"name": f"l{index}", "endpoints": [vertices[first], vertices[second]],
              "latency_s": round(float(rng.uniform(1e-4, 1e-2)), 6),
              "bandwidth_bytes_per_s": float(rng.choice([1.25e8, 1.25e9]))}
             for index, (first, second) in enumerate(pairs)]
    sources = rng.integers(n_vertices, size=n_flows)
    offsets = rng.integers(1, n_vertices, size=n_flows)  # dst != src
    sizes = np.exp(rng.uniform(np.log(1e4), np.log(1e8), size=n_flows)).astype(np.int64)
    starts = np.round(rng.uniform(0.0, duration_s, size=n_flows), 6)
    destinations = (sources + offsets) % n_vertices
    flows = [{"label": f"f{index}", "start_s": float(starts[index]), "n_bytes": int(sizes[index]),
              "src": vertices[int(sources[index])], "dst": vertices[int(destinations[index])]}
             for index in range(n_flows)]
    return {"name": "bench", "nodes": vertices, "switches": [], "links": links, "flows": flows}


def network_spec(case: dict[str, Any]) -> NetworkSpec:
    return NetworkSpec(sharing="max-min", switches=tuple(case["switches"]), links=tuple(
        LinkSpec(link["name"], tuple(link["endpoints"]), link["latency_s"], link["bandwidth_bytes_per_s"])
        for link in case["links"]))


def add_routes(case: dict[str, Any]) -> None:
    """Give every flow the project's route (vertex names, link names, latency), for SimGrid's explicit routes."""
    topology = Topology(network_spec(case), case["nodes"])
    names = topology.vertex_names
    for flow in case["flows"]:
        route = topology.route(topology.vertex_index(flow["src"]), topology.vertex_index(flow["dst"]))
        flow["route_vertices"] = [names[vertex] for vertex in route.vertices]
        flow["route_links"] = [case["links"][link]["name"] for link in route.links]
        flow["route_latency_s"] = route.latency_s


def run_simulator(case: dict[str, Any]) -> tuple[float, float, list[float]]:
    """Build the network from the case and run every flow; returns (wall s, CPU s, completion times)."""
    started_s, cpu_started_s = time.perf_counter(), time.process_time()
    env = simpy.Environment()
    network = Network(env, network_spec(case), case["nodes"])
    completions = [0.0] * len(case["flows"])
    for index, flow in enumerate(case["flows"]):
        src, dst = network.vertex_index(flow["src"]), network.vertex_index(flow["dst"])

        def on_done(index: int = index) -> None:
            completions[index] = env.now

        def begin(_event: simpy.Event, src: int = src, dst: int = dst, n_bytes: float = float(flow["n_bytes"]),
                  on_done: Any = on_done) -> None:
            network.transfer(src, dst, n_bytes, on_done)

        env.timeout(flow["start_s"]).callbacks.append(begin)
    env.run()
    return time.perf_counter() - started_s, time.process_time() - cpu_started_s, completions


def run_simgrid(case_path: Path) -> tuple[float, float, float, list[float], str]:
    """Run the case in SimGrid in a subprocess.

    Returns:
        SimGrid's wall and CPU seconds, the subprocess's wall seconds, the completion times, SimGrid's version.
    """
    started_s = time.perf_counter()
    completed = subprocess.run([SIMGRID_PYTHON, str(SIMGRID_RUNNER), "--run", str(case_path), "--model", "max-min"],
                               check=True, capture_output=True, text=True)
    wall_s = time.perf_counter() - started_s
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    return (outcome["simgrid_s"], outcome["simgrid_cpu_s"], wall_s, outcome["completion_s"],
            outcome["simgrid_version"])


def simgrid_available() -> bool:
    try:
        subprocess.run([SIMGRID_PYTHON, "-c", "import simgrid"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vertices", type=int, default=30)
    parser.add_argument("--links", type=int, default=60)
    parser.add_argument("--flows", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=60.0, help="flows start uniformly in [0, DURATION] s")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best is reported")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH",
                        help=f"also write the results as JSON (default path: {DEFAULT_JSON.relative_to(REPO_ROOT)})")
    args = parser.parse_args(argv)
    if min(args.vertices - 1, args.flows, args.repeats) <= 0 or not args.vertices - 1 <= args.links:
        parser.error("need --vertices >= 2, --links >= vertices - 1, and positive --flows and --repeats")
    if args.links > args.vertices * (args.vertices - 1) // 2:
        parser.error("too many links for a simple graph on that many vertices")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    if not simgrid_available():
        print(f"SimGrid is not installed for {SIMGRID_PYTHON} (apt-get install python3-simgrid); nothing to compare.")
        return None
    case = random_case(args.seed, args.vertices, args.links, args.flows, args.duration)
    add_routes(case)
    print(f"{args.vertices} vertices, {args.links} links, {args.flows:,} flows starting in [0, {args.duration:g}] s, "
          f"seed {args.seed}; sharing max-min; best of {args.repeats} interleaved rounds")
    simulator_times: list[float] = []
    simulator_cpus: list[float] = []
    simgrid_times: list[float] = []
    simgrid_cpus: list[float] = []
    simgrid_walls: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        case_path = Path(folder) / "case.json"
        case_path.write_text(json.dumps(case))
        for round_index in range(args.repeats):
            for side in (("simulator", "simgrid") if round_index % 2 == 0 else ("simgrid", "simulator")):
                gc.collect()
                if side == "simulator":
                    wall_s, cpu_s, ours = run_simulator(case)
                    simulator_times.append(wall_s)
                    simulator_cpus.append(cpu_s)
                else:
                    simgrid_s, simgrid_cpu_s, subprocess_s, theirs, version = run_simgrid(case_path)
                    simgrid_times.append(simgrid_s)
                    simgrid_cpus.append(simgrid_cpu_s)
                    simgrid_walls.append(subprocess_s)
            print(f"  round {round_index + 1}: simulator {simulator_times[-1]:.3f} s (cpu {simulator_cpus[-1]:.3f}), "
                  f"SimGrid {simgrid_times[-1]:.3f} s (cpu {simgrid_cpus[-1]:.3f}; "
                  f"subprocess {simgrid_walls[-1]:.3f} s)", flush=True)
    difference = max(abs(mine - reference) / reference for mine, reference in zip(ours, theirs, strict=True))
    best_simulator, best_simgrid, best_wall = min(simulator_times), min(simgrid_times), min(simgrid_walls)
    makespan_s = max(ours)
    busy_s = sum(end - flow["start_s"] for end, flow in zip(ours, case["flows"], strict=True))
    print(f"\nsimulated makespan {makespan_s:.2f} s, mean flows in flight {busy_s / makespan_s:.1f}; "
          f"largest relative difference in completion times, simulator vs SimGrid: {difference:.1e}")
    print(f"this simulator (Network + run):          {best_simulator:8.3f} s")
    print(f"SimGrid {version} (engine + platform + run): {best_simgrid:8.3f} s   "
          f"(whole subprocess {best_wall:.3f} s)")
    print(f"ratio simulator / SimGrid: {best_simulator / best_simgrid:.2f}x "
          f"({best_simulator / best_wall:.2f}x against the whole subprocess); "
          f"CPU time {min(simulator_cpus):.3f} s / {min(simgrid_cpus):.3f} s = "
          f"{min(simulator_cpus) / min(simgrid_cpus):.2f}x")
    results = {
        "benchmark": "bench_simgrid",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "simgrid_version": version,
        "parameters": {key: getattr(args, key)
                       for key in ("vertices", "links", "flows", "duration", "seed", "repeats")},
        "simulator_s": simulator_times,
        "simgrid_s": simgrid_times,
        "simgrid_subprocess_s": simgrid_walls,
        "simulator_cpu_s": simulator_cpus,
        "simgrid_cpu_s": simgrid_cpus,
        "ratio_cpu_simulator_over_simgrid": min(simulator_cpus) / min(simgrid_cpus),
        "ratio_simulator_over_simgrid": best_simulator / best_simgrid,
        "ratio_simulator_over_simgrid_subprocess": best_simulator / best_wall,
        "max_relative_difference": difference,
        "mean_flows_in_flight": busy_s / makespan_s,
    }
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
