"""Benchmark: the cost per job of a network-heavy scenario, with max-min sharing (plain and RTT-weighted) and
without sharing.

Runs scenarios/perf/network_heavy.toml (100 nodes: 80 cameras behind 4 access switches, 20 GPU servers in two
racks; a 4-stage DAG whose inputs, stage outputs and results all cross the network) through the public path
``load_scenario`` -> ``run`` -> ``summary``, once per sharing model: as written (``network.sharing =
"max-min"``), with ``"rtt-weighted"`` and with ``"none"`` (contention-free links), interleaving them in each
round. It prints jobs/s, microseconds per job, flows (transfers) per second of wall time, the mean and maximum
number of flows in flight (from ``result.transfers``: a flow is in flight from ``start_s``, when the transfer
is requested, to ``end_s``, when its last byte arrives, so route latency is included), and the cost per job
of each sharing model as a ratio to ``"none"`` (the target for max-min: at most 3x).

Run from the repository root::

    .venv/bin/python experiments/perf/bench_network.py                      # 10,000 jobs, best of 3
    .venv/bin/python experiments/perf/bench_network.py --jobs 3000 --repeats 1 --json
    .venv/bin/python experiments/perf/bench_network.py --set policy.name=\\"min_completion_time\\"
    .venv/bin/python experiments/perf/bench_network.py --sharing max-min,none
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from _perf import machine_description, write_json  # noqa: E402

from simulator import load_scenario, run  # noqa: E402

SCENARIO = REPO_ROOT / "scenarios" / "perf" / "network_heavy.toml"
DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "bench_network.json"
SHARING_MODES = ("max-min", "rtt-weighted", "none")


def flows_in_flight(transfers: pd.DataFrame, duration_s: float) -> tuple[float, int]:
    """Time-averaged (over ``[0, duration_s]``) and maximum number of transfers in flight.

    At equal times, ends are counted before starts, so a flow that ends exactly when another starts does not
    count as overlapping it.
    """
    if transfers.empty or duration_s <= 0:
        return 0.0, 0
    times = np.concatenate([transfers["start_s"].to_numpy(), transfers["end_s"].to_numpy()])
    steps = np.concatenate([np.ones(len(transfers)), -np.ones(len(transfers))])
    order = np.lexsort((steps, times))
    times, counts = times[order], np.cumsum(steps[order])
    area = float((counts[:-1] * np.diff(times)).sum())
    return area / duration_s, int(counts.max())


def run_once(path: Path, overrides: list[str]) -> dict[str, Any]:
    """One timed run through the public path, with the numbers derived from its tables."""
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    scenario = load_scenario(path, overrides=overrides)
    result = run(scenario)
    summary = result.summary
    wall_s, cpu_s = time.perf_counter() - wall_started, time.process_time() - cpu_started
    transfers = result.transfers
    duration_s = summary["duration_s"]
    mean_flows, max_flows = flows_in_flight(transfers, duration_s)
    busiest = result.links.sort_values("utilization", ascending=False).iloc[0]
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "engine_s": result.wall_s,
        "jobs": len(result.jobs),
        "tasks": len(result.tasks),
        "flows": len(transfers),
        "simulated_s": duration_s,
        "flows_in_flight_mean": mean_flows,
        "flows_in_flight_max": max_flows,
        "response_time_mean_s": summary["response_time_mean_s"],
        "transfer_time_mean_s": summary["transfer_time_mean_s"],
        "flow_duration_mean_s": float(transfers["duration_s"].mean()) if len(transfers) else float("nan"),
        "busiest_link": f"{busiest['name']} {busiest['direction']}",
        "busiest_link_utilization": float(busiest["utilization"]),
        "gpu_utilization_mean": float(result.nodes.loc[result.nodes["kind"] == "gpu-server", "utilization"].mean()),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, default=SCENARIO, help="scenario file (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=None, help="jobs per run (default: the scenario's max_jobs)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best is reported")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra dotted-path override applied to both runs (repeatable)")
    parser.add_argument("--sharing", default=",".join(SHARING_MODES), metavar="A,B",
                        help="sharing models to run, comma-separated; 'none' is always run (default: %(default)s)")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH",
                        help=f"also write the results as JSON (default path: {DEFAULT_JSON.relative_to(REPO_ROOT)})")
    args = parser.parse_args(argv)
    if args.repeats <= 0 or (args.jobs is not None and args.jobs <= 0):
        parser.error("--jobs and --repeats must be positive")
    modes = [mode.strip() for mode in args.sharing.split(",") if mode.strip()]
    unknown = [mode for mode in modes if mode not in SHARING_MODES]
    if unknown:
        parser.error(f"unknown sharing models {unknown}; known: {list(SHARING_MODES)}")
    args.modes = tuple(mode for mode in SHARING_MODES if mode in modes or mode == "none")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    base = list(args.overrides)
    if args.jobs is not None:
        base.append(f"simulation.max_jobs={args.jobs}")
    scenario = load_scenario(args.scenario, overrides=base)
    n_links = len(scenario.network.links)
    print(f"{scenario.name}: {len(scenario.nodes)} nodes, {len(scenario.network.switches)} switches, {n_links} links, "
          f"{len(scenario.arrivals)} arrival streams, {scenario.simulation.max_jobs:,} jobs per run; "
          f"best of {args.repeats} interleaved rounds; {os.cpu_count()} cores (shared, so timings are noisy)")
    print()

    modes: tuple[str, ...] = args.modes
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for round_index in range(args.repeats):
        shift = round_index % len(modes)
        order = modes[shift:] + modes[:shift]
        for mode in order:
            gc.collect()
            outcome = run_once(args.scenario, [*base, f'network.sharing="{mode}"'])
            runs[mode].append(outcome)
            print(f"  round {round_index + 1}: sharing={mode:<12} wall {outcome['wall_s']:8.3f} s   "
                  f"cpu {outcome['cpu_s']:8.3f} s", flush=True)
    print()

    rows: dict[str, dict[str, Any]] = {}
    for mode in modes:
        best = min(runs[mode], key=lambda outcome: outcome["wall_s"])
        walls = [outcome["wall_s"] for outcome in runs[mode]]
        cpus = [outcome["cpu_s"] for outcome in runs[mode]]
        rows[mode] = {
            **best,
            "wall_s_all": walls,
            "cpu_s_all": cpus,
            "best_cpu_s": min(cpus),
            "spread": (max(walls) - best["wall_s"]) / best["wall_s"],
            "cpu_spread": (max(cpus) - min(cpus)) / min(cpus),
            "cpu_us_per_job": 1e6 * min(cpus) / best["jobs"],
            "jobs_per_s": best["jobs"] / best["wall_s"],
            "us_per_job": 1e6 * best["wall_s"] / best["jobs"],
            "engine_us_per_job": 1e6 * min(outcome["engine_s"] for outcome in runs[mode]) / best["jobs"],
            "flows_per_s": best["flows"] / best["wall_s"],
            "us_per_flow": 1e6 * best["wall_s"] / best["flows"] if best["flows"] else float("nan"),
            "flows_per_job": best["flows"] / best["jobs"],
        }

    columns = [
        ("jobs", "jobs", "{:,}"),
        ("best wall s", "wall_s", "{:.3f}"),
        ("spread", "spread", "{:.0%}"),
        ("jobs/s", "jobs_per_s", "{:,.0f}"),
        ("us/job (public path)", "us_per_job", "{:,.1f}"),
        ("best cpu s", "best_cpu_s", "{:.3f}"),
        ("cpu spread", "cpu_spread", "{:.0%}"),
        ("cpu us/job (public path)", "cpu_us_per_job", "{:,.1f}"),
        ("us/job (event loop)", "engine_us_per_job", "{:,.1f}"),
        ("flows", "flows", "{:,}"),
        ("flows/job", "flows_per_job", "{:.2f}"),
        ("flows/s (wall)", "flows_per_s", "{:,.0f}"),
        ("us/flow", "us_per_flow", "{:,.1f}"),
        ("flows in flight, mean", "flows_in_flight_mean", "{:.1f}"),
        ("flows in flight, max", "flows_in_flight_max", "{:,}"),
        ("simulated s", "simulated_s", "{:.1f}"),
        ("mean response time s", "response_time_mean_s", "{:.4f}"),
        ("mean flow duration s", "flow_duration_mean_s", "{:.4f}"),
        ("busiest link utilization", "busiest_link_utilization", "{:.1%}"),
        ("GPU utilization, mean", "gpu_utilization_mean", "{:.1%}"),
    ]
    print(f"{'':<26}" + "".join(f"{'sharing=' + mode:>22}" for mode in modes))
    for label, key, fmt in columns:
        print(f"{label:<26}" + "".join(f"{fmt.format(rows[mode][key]):>22}" for mode in modes))
    for mode in modes:
        print(f"busiest link, sharing={mode}: {rows[mode]['busiest_link']}")

    print()
    ratios: dict[str, dict[str, float]] = {}
    for mode in modes:
        if mode == "none":
            continue
        pairs = list(zip(runs[mode], runs["none"], strict=True))
        per_round = [shared["wall_s"] / none["wall_s"] for shared, none in pairs]
        per_round_cpu = [shared["cpu_s"] / none["cpu_s"] for shared, none in pairs]
        ratio = rows[mode]["us_per_job"] / rows["none"]["us_per_job"]
        ratio_cpu = rows[mode]["cpu_us_per_job"] / rows["none"]["cpu_us_per_job"]
        print(f"cost per job, {mode} / none: wall {ratio:.2f}x "
              f"(per round {min(per_round):.2f} .. {max(per_round):.2f}), "
              f"cpu {ratio_cpu:.2f}x (per round {min(per_round_cpu):.2f} .. {max(per_round_cpu):.2f}); {mode} sharing "
              f"adds {rows[mode]['cpu_us_per_job'] - rows['none']['cpu_us_per_job']:,.0f} cpu-us per job")
        ratios[mode] = {"wall_best": ratio, "wall_min": min(per_round), "wall_max": max(per_round),
                        "wall_median": statistics.median(per_round), "cpu_best": ratio_cpu,
                        "cpu_min": min(per_round_cpu), "cpu_max": max(per_round_cpu),
                        "cpu_median": statistics.median(per_round_cpu)}

    results = {
        "benchmark": "bench_network",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "scenario": str(args.scenario),
        "overrides": base,
        "repeats": args.repeats,
        "sharing": rows,
        "ratio_over_none": ratios,
    }
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
