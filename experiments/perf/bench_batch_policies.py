"""Benchmark: the metaheuristics as batch policies inside the simulation, against the Min-min batch policy.

Runs ``scenarios/demo_edge_cloud.toml`` with ``--jobs`` jobs (default 1,000) in batch mode (``policy.mode =
"batch"``, the scenario's batch interval) once per policy, all in one process, with the same seed: Min-min,
then the genetic algorithm, particle swarm and NSGA-II with their batch-policy defaults (an evaluation budget
per task of each batch, warm start from Min-min or the previous batch; see `simulator.policies.batch`) unless
``--set name=value`` overrides a parameter of all of them. A warm-up run of Min-min and one of each solver on
a few jobs first keeps imports and first-call costs out of the timings. The policies run in ``--repeats``
interleaved rounds and each one's best wall and CPU times are kept (a single run of Min-min, about half a
second, varied by 30 % from run to run on the shared machine, and every ratio with it). Prints each policy's
wall and CPU time (``time.process_time``, steadier on a shared machine) and mean response time, and the ratios
to Min-min's (target: time at most 3x, mean response time no worse). Run from the repository root::

    .venv/bin/python experiments/perf/bench_batch_policies.py                     # 1,000 jobs
    .venv/bin/python experiments/perf/bench_batch_policies.py --policies min_min,ga --json
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from _perf import machine_description, write_json  # noqa: E402

from simulator import load_scenario, run  # noqa: E402

DEMO = REPO_ROOT / "scenarios" / "demo_edge_cloud.toml"
DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "bench_batch_policies.json"
BASELINE = "min_min"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per run (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every run (default 1)")
    parser.add_argument("--policies", default="min_min,ga,pso,nsga2",
                        help="comma-separated batch policies; the first is the baseline (default min_min,ga,pso,nsga2)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved rounds; each policy's best times are reported (default 3)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of every policy but the baseline (a Python literal), "
                             "e.g. evaluations_per_task=10")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH",
                        help=f"also write the results as JSON (default path {DEFAULT_JSON.relative_to(REPO_ROOT)})")
    return parser.parse_args(argv)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``name=value`` pairs, values read as Python literals (a bare word stays a string)."""
    import ast

    params: dict[str, Any] = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator:
            raise SystemExit(f"--set needs NAME=VALUE, got {pair!r}")
        try:
            params[name.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            params[name.strip()] = text.strip()
    return params


def timed_run(jobs: int, policy: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """One batch-mode run of the demo: wall and CPU seconds of ``run`` and the summary's response times."""
    scenario = load_scenario(DEMO, [f"simulation.max_jobs={jobs}", 'policy.mode="batch"'])
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    result = run(scenario, policy=policy, params=params, seed=seed)
    wall_s, cpu_s = time.perf_counter() - wall_start, time.process_time() - cpu_start
    summary = result.summary
    return {"policy": policy, "params": params, "wall_s": wall_s, "cpu_s": cpu_s,
            "response_time_mean_s": float(summary["response_time_mean_s"]),
            "response_time_p95_s": float(summary["response_time_p95_s"]),
            "jobs_completed": int(summary["jobs_completed"])}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.jobs <= 0 or args.repeats <= 0:
        raise SystemExit("--jobs and --repeats must be positive")
    policies = [name.strip() for name in args.policies.split(",") if name.strip()]
    params = parse_params(args.set)
    for policy in policies:  # warm-up: imports, first calls
        timed_run(40, policy, {} if policy == policies[0] else params, args.seed)
    print(f"demo_edge_cloud, {args.jobs:,} jobs, batch mode, seed {args.seed}; "
          f"parameters of the solvers: {params or 'their defaults'}; best of {args.repeats} interleaved rounds")
    rounds = [[timed_run(args.jobs, policy, {} if policy == policies[0] else params, args.seed) for policy in policies]
              for _ in range(args.repeats)]
    rows = []
    for runs in zip(*rounds, strict=True):
        row = {**runs[0], "wall_s": min(run["wall_s"] for run in runs), "cpu_s": min(run["cpu_s"] for run in runs)}
        rows.append(row)
        policy = row["policy"]
        print(f"  {policy:8s} wall {row['wall_s']:7.2f} s  cpu {row['cpu_s']:7.2f} s  "
              f"mean response {row['response_time_mean_s']:.4f} s  p95 {row['response_time_p95_s']:.4f} s", flush=True)
    base = rows[0]
    print(f"\nratios to {policies[0]}:")
    print(f"  {'policy':8s} {'wall':>7s} {'cpu':>7s} {'mean response':>14s}")
    for row in rows:
        row["wall_ratio"] = row["wall_s"] / base["wall_s"]
        row["cpu_ratio"] = row["cpu_s"] / base["cpu_s"]
        row["response_ratio"] = row["response_time_mean_s"] / base["response_time_mean_s"]
        print(f"  {row['policy']:8s} {row['wall_ratio']:6.2f}x {row['cpu_ratio']:6.2f}x {row['response_ratio']:13.4f}x")
    results = {
        "benchmark": "bench_batch_policies",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "parameters": {"jobs": args.jobs, "seed": args.seed, "policies": policies, "params": params,
                       "repeats": args.repeats},
        "runs": rows,
    }
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
