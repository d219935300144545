"""Benchmark: what a failure-heavy scenario costs per job, against the same scenario without failures.

Runs ``scenarios/failures_edge.toml`` (the edge-cloud demo; three edge servers failing every 5 minutes on
average, the WAN failing rarely, one scripted outage, redispatch with retries, a 10 s job timeout) three ways,
in one process, with the same seed (so the same arrivals and service times: common random numbers):

* ``failures``: the scenario as shipped;
* ``no failures``: its failure tables and outages taken away, the timeout kept, so the dynamics layer is still
  built (it watches the nodes and the timeouts) but nothing fails;
* ``static``: the timeout, rebalancing and work stealing taken away too: a plain run without the dynamics
  layer (``Scenario.is_dynamic`` is false), the baseline.

The three are interleaved in ``--repeats`` rounds; each one's best wall and CPU times (``time.process_time``,
steadier on a shared machine) are kept. Prints per job (every arrived job, whatever its end: the same jobs
arrive in the three runs) the wall and CPU microseconds, SimPy events and task rows (attempts), and the ratios
to ``static``. Run from the repository root::

    .venv/bin/python experiments/perf/bench_failures.py                   # 1,200 simulated s, best of 3
    .venv/bin/python experiments/perf/bench_failures.py --horizon 3600 --repeats 5 --json
"""

from __future__ import annotations

import argparse
import copy
import datetime
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from _perf import machine_description, write_json  # noqa: E402

from simulator import Simulation, make_policy, parse_scenario  # noqa: E402
from simulator.config import read_toml  # noqa: E402
from simulator.engine import event_queue  # noqa: E402

SCENARIO = REPO_ROOT / "scenarios" / "failures_edge.toml"
DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "bench_failures.json"
BASELINE = "static"


def without_failures(raw: dict[str, Any]) -> dict[str, Any]:
    """The scenario with every ``failures`` table (of node groups and link tables) and every outage removed."""
    raw = copy.deepcopy(raw)
    for table in [*raw.get("nodes", {}).values(), *raw.get("network", {}).get("links", {}).values()]:
        table.pop("failures", None)
    raw.pop("outages", None)
    return raw


def static(raw: dict[str, Any]) -> dict[str, Any]:
    """The scenario with nothing dynamic left: no failures, outages, timeouts, rebalancing or work stealing."""
    raw = without_failures(raw)
    for application in raw.get("applications", {}).values():
        application.pop("timeout_s", None)
    for section in ("recovery", "rebalancing", "work_stealing"):
        raw.pop(section, None)
    return raw


VARIANTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "failures": copy.deepcopy, "no failures": without_failures, BASELINE: static}


def timed_run(raw: dict[str, Any], seed: int) -> dict[str, Any]:
    """One run through `Simulation`: wall and CPU seconds of ``run()``, and what it did per arrived job."""
    scenario = parse_scenario(raw, source=str(SCENARIO), base_dir=SCENARIO.parent)
    simulation = Simulation(scenario, make_policy(scenario.policy.name, dict(scenario.policy.params)), seed)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    result = simulation.run()
    wall_s, cpu_s = time.perf_counter() - wall_start, time.process_time() - cpu_start
    events = next(event_queue(simulation.env)[1])  # SimPy numbers every event it schedules
    jobs = len(result.jobs)
    summary = result.summary
    return {"dynamic": scenario.is_dynamic, "wall_s": wall_s, "cpu_s": cpu_s, "jobs": jobs,
            "jobs_completed": int(summary["jobs_completed"]), "events": events, "task_rows": len(result.tasks),
            "us_per_job": 1e6 * wall_s / jobs, "cpu_us_per_job": 1e6 * cpu_s / jobs, "events_per_job": events / jobs,
            "task_rows_per_job": len(result.tasks) / jobs}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--horizon", type=float, default=None,
                        help="simulated seconds (default: the scenario's simulation.horizon_s, 1,200)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every run (default 1)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved rounds; each variant's best times are reported (default 3)")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH",
                        help=f"also write the results as JSON (default path {DEFAULT_JSON.relative_to(REPO_ROOT)})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.repeats <= 0 or (args.horizon is not None and not 0 < args.horizon < float("inf")):
        raise SystemExit("--repeats and --horizon must be positive")
    raw = read_toml(SCENARIO, "scenario file")
    if args.horizon is not None:
        raw["simulation"]["horizon_s"] = args.horizon
    configs = {name: make(raw) for name, make in VARIANTS.items()}
    for config in configs.values():  # warm-up: imports and first calls stay out of the timings
        timed_run({**config, "simulation": {**config["simulation"], "horizon_s": 20.0}}, args.seed)
    print(f"failures_edge, {raw['simulation']['horizon_s']:g} simulated s, seed {args.seed}; best of {args.repeats} "
          "interleaved rounds")
    rounds = [{name: timed_run(config, args.seed) for name, config in configs.items()} for _ in range(args.repeats)]
    rows = {}
    for name in configs:
        runs = [round_[name] for round_ in rounds]
        best = min(runs, key=lambda run: run["wall_s"])
        rows[name] = {**best, "cpu_s": min(run["cpu_s"] for run in runs),
                      "cpu_us_per_job": min(run["cpu_us_per_job"] for run in runs)}
    print(f"  {'variant':12s} {'dynamic':>7s} {'jobs':>6s} {'completed':>9s} {'us/job':>8s} {'cpu us/job':>10s} "
          f"{'events/job':>10s} {'rows/job':>8s} {'wall x':>7s} {'cpu x':>6s}")
    base = rows[BASELINE]
    for name, row in rows.items():
        row["wall_ratio"] = row["us_per_job"] / base["us_per_job"]
        row["cpu_ratio"] = row["cpu_us_per_job"] / base["cpu_us_per_job"]
        print(f"  {name:12s} {row['dynamic']!s:>7s} {row['jobs']:6d} {row['jobs_completed']:9d} "
              f"{row['us_per_job']:8.1f} {row['cpu_us_per_job']:10.1f} {row['events_per_job']:10.2f} "
              f"{row['task_rows_per_job']:8.2f} {row['wall_ratio']:6.2f}x {row['cpu_ratio']:5.2f}x")
    results = {
        "benchmark": "bench_failures",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "parameters": {"horizon_s": raw["simulation"]["horizon_s"], "seed": args.seed, "repeats": args.repeats},
        "runs": rows,
    }
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
