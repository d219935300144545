"""Benchmark: peak memory and wall time of a 1,000,000-job run of the M/M/c scenario.

Each measurement runs in a fresh subprocess, so peaks do not carry over between them:

1. ``baseline``: import the simulator and load the scenario, no run: the interpreter and libraries.
2. ``public``: ``load_scenario`` -> ``run`` -> ``summary``; reports ``ru_maxrss`` (peak resident set size) at
   the end and the wall time. ``(peak - baseline) / jobs`` is the memory cost per job.
3. ``tracemalloc`` (skip with ``--no-tracemalloc``; it slows the run about 2-3x): Python-level allocations,
   with the peak split into the event loop (``Simulation.env.run()``) and building the result tables
   (``Simulation.run()`` afterwards, whose event loop then has nothing left to do), and what the returned
   ``RunResult`` keeps alive.

Run from the repository root::

    .venv/bin/python experiments/perf/bench_memory.py                 # 1,000,000 jobs
    .venv/bin/python experiments/perf/bench_memory.py --jobs 200000 --no-tracemalloc --json
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from _perf import machine_description, write_json  # noqa: E402

SCENARIO = REPO_ROOT / "scenarios" / "validation" / "mmc.toml"
DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "bench_memory.json"
MB = 1024 * 1024


def max_rss_bytes() -> int:
    """Peak resident set size of this process (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# ------------------------------------------------------------------------------------------------------------
# Child side: one measurement, printed as one JSON line.


def child(mode: str, jobs: int, scenario_path: Path) -> dict[str, Any]:
    from simulator import load_scenario, make_policy, run
    from simulator.simulation import Simulation

    overrides = [f"simulation.max_jobs={jobs}"]
    if mode == "baseline":
        load_scenario(scenario_path, overrides=overrides)
        gc.collect()
        return {"mode": mode, "max_rss_bytes": max_rss_bytes()}
    if mode == "public":
        started = time.perf_counter()
        scenario = load_scenario(scenario_path, overrides=overrides)
        result = run(scenario)
        mean_s = result.summary["response_time_mean_s"]
        wall_s = time.perf_counter() - started
        return {"mode": mode, "max_rss_bytes": max_rss_bytes(), "wall_s": wall_s, "engine_s": result.wall_s,
                "jobs": len(result.jobs), "tasks": len(result.tasks), "response_time_mean_s": mean_s}
    if mode == "tracemalloc":
        import tracemalloc

        scenario = load_scenario(scenario_path, overrides=overrides)
        policy = make_policy(scenario.policy.name, dict(scenario.policy.params))
        tracemalloc.start()
        started = time.perf_counter()
        simulation = Simulation(scenario, policy, scenario.simulation.seed)
        setup_current, _ = tracemalloc.get_traced_memory()
        simulation.env.run(until=scenario.simulation.horizon_s)
        engine_current, engine_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = simulation.run()
        mean_s = result.summary["response_time_mean_s"]
        _, tables_peak = tracemalloc.get_traced_memory()
        del simulation
        gc.collect()
        retained, _ = tracemalloc.get_traced_memory()
        wall_s = time.perf_counter() - started
        tracemalloc.stop()
        return {"mode": mode, "wall_s": wall_s, "jobs": len(result.jobs), "response_time_mean_s": mean_s,
                "setup_bytes": setup_current, "engine_peak_bytes": engine_peak,
                "after_engine_bytes": engine_current, "tables_peak_bytes": tables_peak,
                "result_retained_bytes": retained, "max_rss_bytes": max_rss_bytes()}
    raise ValueError(f"unknown mode {mode!r}")


def measure(mode: str, jobs: int, scenario_path: Path) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return what it printed."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--jobs", str(jobs),
               "--scenario", str(scenario_path)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{mode} measurement failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the run (default 1,000,000)")
    parser.add_argument("--scenario", type=Path, default=SCENARIO, help="scenario file (default: %(default)s)")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the (slower) tracemalloc run")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH",
                        help=f"also write the results as JSON (default path: {DEFAULT_JSON.relative_to(REPO_ROOT)})")
    parser.add_argument("--child", choices=("baseline", "public", "tracemalloc"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.jobs <= 0:
        parser.error("--jobs must be positive")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.jobs, args.scenario)))
        return None

    print(f"{args.scenario.name}: {args.jobs:,} jobs, each measurement in a fresh subprocess; "
          f"{os.cpu_count()} cores (shared, so wall times are noisy)\n")
    baseline = measure("baseline", args.jobs, args.scenario)
    public = measure("public", args.jobs, args.scenario)
    jobs = public["jobs"]
    extra = public["max_rss_bytes"] - baseline["max_rss_bytes"]
    print(f"baseline (imports + scenario, no run)   peak RSS {baseline['max_rss_bytes'] / MB:8.1f} MB")
    print(f"public path (load -> run -> summary)    peak RSS {public['max_rss_bytes'] / MB:8.1f} MB   "
          f"wall {public['wall_s']:.2f} s ({jobs / public['wall_s']:,.0f} jobs/s; event loop "
          f"{public['engine_s']:.2f} s)")
    print(f"  run's share of the peak               {extra / MB:8.1f} MB = {extra / jobs:,.0f} bytes per job "
          f"({public['tasks']:,} tasks; mean response time {public['response_time_mean_s']:.4f} s)")
    results: dict[str, Any] = {
        "benchmark": "bench_memory",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "scenario": str(args.scenario),
        "jobs": jobs,
        "baseline": baseline,
        "public": public,
        "rss_bytes_per_job": extra / jobs,
    }
    if not args.no_tracemalloc:
        traced = measure("tracemalloc", args.jobs, args.scenario)
        results["tracemalloc"] = traced
        print(f"\ntracemalloc (Python allocations; run took {traced['wall_s']:.2f} s under tracing):")
        for label, key in (("after Simulation() setup", "setup_bytes"),
                           ("peak during the event loop", "engine_peak_bytes"),
                           ("held when the event loop ends", "after_engine_bytes"),
                           ("peak while building tables + summary", "tables_peak_bytes"),
                           ("kept alive by the RunResult", "result_retained_bytes")):
            print(f"  {label:<38} {traced[key] / MB:8.1f} MB = {traced[key] / jobs:8,.0f} bytes per job")
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
