"""Benchmark: memory and time of routes in a large network, against the same work without a network.

Generates, in memory, a scenario of 10,000 compute nodes (kind ``node``, one slot each) and 4 switches joined
by a random connected topology: a random spanning tree (each vertex attaches to a random earlier one, a node
to a switch one time in five) plus 500 extra links between random vertices, so 10,503 links in all, with
latencies drawn from {0.5, 1, 2} ms (many equal-latency paths). 2,000 jobs of a 4-stage chain arrive as one
Poisson stream and the ``random`` policy puts every stage on a random node, so each job moves 3 stage outputs
between random pairs of nodes: some 6,000 distinct routes, from as many sources.

Three runs, each in a fresh subprocess (peak memory is ``ru_maxrss``), through the public path
``parse_scenario`` -> ``run`` -> ``summary`` (``run`` called as its two halves, ``Simulation(...)``'s event loop
and then ``Simulation.run()``, to also read the peak at the end of the event loop, before the result tables):

* ``baseline``: imports and the generated configuration, no scenario parsed, no run;
* ``no network``: the same nodes and the same 8,000 tasks with the same service times, as 8,000 one-stage
  jobs, and no links (nothing to move, no routes);
* ``network``: the scenario above with ``network.sharing = "none"`` (``--sharing max-min`` to share links).

It prints peak RSS, wall time split into parsing and running, and the ratios network / no network.

Run from the repository root::

    .venv/bin/python experiments/perf/bench_routes.py                  # 10,000 nodes, 2,000 jobs
    .venv/bin/python experiments/perf/bench_routes.py --nodes 2000 --jobs 500 --json
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from _perf import machine_description, write_json  # noqa: E402

DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "bench_routes.json"
MB = 1e6
STAGES = 4
STAGE_MEAN_S = 0.01
OUTPUT_BYTES = 1.0e5
LATENCIES_S = (0.0005, 0.001, 0.002)


def generate(n_nodes: int, n_switches: int, n_extra_links: int, n_jobs: int, sharing: str, network: bool,
             seed: int) -> dict[str, Any]:
    """The raw scenario (as read from TOML) of the benchmark; ``network=False`` gives the variant without one."""
    rng = np.random.default_rng(seed)
    rate_per_s = 200.0
    config: dict[str, Any] = {
        "scenario": {"name": "routes_at_scale"},
        "simulation": {"max_jobs": n_jobs * (1 if network else STAGES), "seed": seed},
        "policy": {"name": "random"},
        "nodes": {"n": {"kind": "node", "count": n_nodes}},
        "models": {f"m{stage}": {"distribution": "exponential", "devices": {"node": STAGE_MEAN_S}}
                   for stage in range(STAGES)},
    }
    if not network:  # the same tasks as one-stage jobs, at STAGES times the rate, and no links
        config["applications"] = {f"a{stage}": {"stages": {"only": {"model": f"m{stage}"}}} for stage in range(STAGES)}
        config["arrivals"] = {f"a{stage}": {"application": f"a{stage}", "process": "poisson", "rate_per_s": rate_per_s}
                              for stage in range(STAGES)}
        return config
    stages: dict[str, Any] = {}
    for stage in range(STAGES):
        stages[f"s{stage}"] = {"model": f"m{stage}", "output_bytes": OUTPUT_BYTES}
        if stage:
            stages[f"s{stage}"]["after"] = [f"s{stage - 1}"]
    config["applications"] = {"chain": {"stages": stages}}
    config["arrivals"] = {"jobs": {"application": "chain", "process": "poisson", "rate_per_s": rate_per_s}}
    switches = [f"sw{index}" for index in range(n_switches)]
    vertices = switches + [f"n-{index}" for index in range(n_nodes)]
    links: dict[str, Any] = {}

    def add_link(first: str, second: str, bandwidth_bytes_per_s: float) -> None:
        links[f"l{len(links)}"] = {"endpoints": [first, second], "bandwidth_bytes_per_s": bandwidth_bytes_per_s,
                                   "latency_s": float(rng.choice(LATENCIES_S))}

    for index in range(1, len(vertices)):
        if index >= n_switches and n_switches and rng.random() < 0.2:
            add_link(vertices[index], switches[int(rng.integers(n_switches))], 1.25e9)
        else:
            add_link(vertices[index], vertices[int(rng.integers(index))], 1.25e8)
    while len(links) < len(vertices) - 1 + n_extra_links:
        first, second = rng.choice(len(vertices), size=2, replace=False)
        add_link(vertices[first], vertices[second], 1.25e8)
    config["network"] = {"sharing": sharing, "switches": switches, "links": links}
    return config


def max_rss_bytes() -> int:
    """Peak resident set size of this process (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    from simulator import Simulation, make_policy, parse_scenario

    started = time.perf_counter()
    raw = generate(args.nodes, args.switches, args.extra_links, args.jobs, args.sharing, mode == "network",
                   args.seed)
    generated = time.perf_counter()
    if mode == "baseline":
        return {"mode": mode, "generate_s": generated - started, "max_rss_bytes": max_rss_bytes()}
    scenario = parse_scenario(raw, source="routes_at_scale")
    parsed = time.perf_counter()
    # What run(scenario) does, in its two halves, to read the peak at the end of the event loop (all routes
    # are searched for by then); the second run() finds the event queue empty and builds the result.
    policy = make_policy(scenario.policy.name, dict(scenario.policy.params))
    simulation = Simulation(scenario, policy, scenario.simulation.seed)
    simulation.env.run(until=scenario.simulation.horizon_s)
    loop_rss_bytes = max_rss_bytes()
    looped = time.perf_counter()
    result = simulation.run()
    summary = result.summary
    finished = time.perf_counter()
    transfers = result.transfers
    pairs = len(transfers[["src", "dst"]].drop_duplicates()) if len(transfers) else 0
    return {"mode": mode, "generate_s": generated - started, "parse_s": parsed - generated,
            "run_s": finished - parsed, "event_loop_s": looped - parsed, "result_s": finished - looped,
            "jobs": len(result.jobs),
            "tasks": len(result.tasks), "flows": len(transfers), "route_pairs": pairs,
            "links": len(scenario.network.links), "response_time_mean_s": summary["response_time_mean_s"],
            "event_loop_max_rss_bytes": loop_rss_bytes, "max_rss_bytes": max_rss_bytes()}


def measure(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return what it printed."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--nodes", str(args.nodes),
               "--switches", str(args.switches), "--extra-links", str(args.extra_links), "--jobs", str(args.jobs),
               "--sharing", args.sharing, "--seed", str(args.seed)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{mode} measurement failed:\n{completed.stderr}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10_000, help="compute nodes (default 10,000)")
    parser.add_argument("--switches", type=int, default=4, help="switches (default 4)")
    parser.add_argument("--extra-links", type=int, default=500, help="links beyond the spanning tree (default 500)")
    parser.add_argument("--jobs", type=int, default=2_000, help="jobs of the 4-stage chain (default 2,000)")
    parser.add_argument("--sharing", choices=("none", "max-min"), default="none",
                        help="network.sharing of the network run (default none)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the topology and of the run (default 1)")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH",
                        help=f"also write the results as JSON (default path: {DEFAULT_JSON.relative_to(REPO_ROOT)})")
    parser.add_argument("--child", choices=("baseline", "no-network", "network"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.nodes, args.jobs) <= 0 or min(args.switches, args.extra_links) < 0:
        parser.error("--nodes and --jobs must be positive, --switches and --extra-links >= 0")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args)))
        return None

    print(f"{args.nodes:,} nodes, {args.switches} switches, {args.jobs:,} jobs of {STAGES} stages; "
          f"each measurement in a fresh subprocess (peak RSS = ru_maxrss)\n")
    results = {mode: measure(mode, args) for mode in ("baseline", "no-network", "network")}
    baseline, plain, network = results["baseline"], results["no-network"], results["network"]
    print(f"{'':32} {'peak RSS MB':>11} {'(event loop)':>12} {'parse s':>8} {'loop s':>8} {'result s':>8} "
          f"{'tasks':>6} {'flows':>6} {'routes':>6}")
    print(f"{'baseline (imports + config)':32} {baseline['max_rss_bytes'] / MB:11.1f}")
    for label, row in (("no network (no links)", plain),
                       (f"network ({network['links']:,} links, {args.sharing})", network)):
        print(f"{label:32} {row['max_rss_bytes'] / MB:11.1f} {row['event_loop_max_rss_bytes'] / MB:12.1f} "
              f"{row['parse_s']:8.2f} {row['event_loop_s']:8.2f} {row['result_s']:8.2f} {row['tasks']:6,} "
              f"{row['flows']:6,} {row['route_pairs']:6,}")
    ratios = {
        "peak_rss": network["max_rss_bytes"] / plain["max_rss_bytes"],
        "event_loop_peak_rss": network["event_loop_max_rss_bytes"] / plain["event_loop_max_rss_bytes"],
        "wall_parse_and_run": (network["parse_s"] + network["run_s"]) / (plain["parse_s"] + plain["run_s"]),
        "wall_event_loop": network["event_loop_s"] / plain["event_loop_s"],
    }
    print(f"\nnetwork / no network: peak RSS {ratios['peak_rss']:.2f}x (at the end of the event loop "
          f"{ratios['event_loop_peak_rss']:.2f}x); wall, parse + run {ratios['wall_parse_and_run']:.2f}x, "
          f"event loop {ratios['wall_event_loop']:.2f}x")
    output = {
        "benchmark": "bench_routes",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "parameters": {key: getattr(args, key) for key in ("nodes", "switches", "extra_links", "jobs", "sharing",
                                                           "seed")},
        "results": results,
        "ratios": ratios,
    }
    if args.json:
        write_json(args.json, output)
    return output


if __name__ == "__main__":
    main()
