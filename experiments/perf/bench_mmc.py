"""Benchmark: the M/M/c queue of scenarios/validation/mmc.toml simulated several ways in one process.

Methods (all simulate the same queue: Poisson arrivals, ``c`` parallel servers, exponential service, FIFO):

* ``simulator``: this project's full public path, ``load_scenario`` -> ``run`` -> ``summary`` (scenario
  validation, event loop, tidy tables and metrics all included).
* ``simpy_process``: the plain idiomatic SimPy model, a generator process per customer requesting a
  ``simpy.Resource(capacity=c)`` and a timeout for its service.
* ``ciw``: Ciw (``ciw.create_network`` with exponential distributions, ``simulate_until_max_customers``).
* ``simpy_callbacks``: SimPy with customers as data and service completions as timeouts with callbacks, the
  design the simulator uses, with nothing else: the floor of a SimPy-based simulator.
* ``heapq``: a pure-Python event loop on ``heapq`` without SimPy: the floor of any Python event loop.

Timings are interleaved (each round runs every method once, in a rotated order) and the best of the rounds is
reported with the spread, because the machine is shared. Every method's mean response time, over jobs arriving
after the scenario's warm-up, is checked against Erlang C with a 95 % batch-means confidence interval.

Run from the repository root::

    .venv/bin/python experiments/perf/bench_mmc.py                       # 200,000 jobs, best of 3
    .venv/bin/python experiments/perf/bench_mmc.py --jobs 1000000 --repeats 5 --json
"""

from __future__ import annotations

import argparse
import datetime
import gc
import heapq
import math
import os
import random
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import simpy

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from _perf import machine_description, write_json  # noqa: E402

from simulator import load_scenario, run  # noqa: E402
from simulator.config import Scenario  # noqa: E402

SCENARIO = REPO_ROOT / "scenarios" / "validation" / "mmc.toml"
DEFAULT_JSON = REPO_ROOT / "results" / "perf" / "bench_mmc.json"
N_BATCHES = 20
T_975_19_DOF = 2.093
"""Student's t quantile for a two-sided 95 % interval with N_BATCHES - 1 = 19 degrees of freedom."""


@dataclass(frozen=True)
class Queue:
    """The M/M/c parameters read from the scenario file: rates in 1/s, times in seconds."""

    arrival_rate_per_s: float
    service_rate_per_s: float
    servers: int
    warmup_s: float
    seed: int


class Stopwatch:
    """Wall-clock and CPU time (of this process, all threads) since construction. CPU time leaves out the time
    other processes on a shared machine take the cores away, so it is the steadier of the two."""

    def __init__(self) -> None:
        self.wall_started = time.perf_counter()
        self.cpu_started = time.process_time()

    def elapsed(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall_started, time.process_time() - self.cpu_started


@dataclass
class Outcome:
    """What one timed run of one method produced."""

    jobs: int
    wall_s: float
    cpu_s: float
    mean_response_s: float
    responses_s: np.ndarray
    engine_s: float = math.nan


def queue_of(scenario: Scenario) -> Queue:
    """Read lambda, mu and c from the M/M/c scenario (one node, one model, one Poisson stream)."""
    if len(scenario.nodes) != 1 or len(scenario.arrivals) != 1 or scenario.arrivals[0].process != "poisson":
        raise SystemExit(f"{scenario.path}: expected one node and one Poisson arrival stream (an M/M/c model)")
    node = scenario.nodes[0]
    (model,) = scenario.models.values()
    service = model.devices[node.kind]
    if service.distribution != "exponential":
        raise SystemExit(f"{scenario.path}: expected exponential service, got {service.distribution}")
    return Queue(
        arrival_rate_per_s=float(scenario.arrivals[0].params["rate_per_s"]),
        service_rate_per_s=node.speed / service.mean_s,
        servers=node.slots,
        warmup_s=scenario.simulation.warmup_s,
        seed=scenario.simulation.seed,
    )


def erlang_c_response_s(queue: Queue) -> float:
    """Mean response time (wait + service) of M/M/c by the Erlang C formula (Kleinrock, Queueing Systems,
    vol. 1, section 3.5): W = C(c, a) / (c mu - lambda) + 1 / mu with a = lambda / mu."""
    lam, mu, c = queue.arrival_rate_per_s, queue.service_rate_per_s, queue.servers
    a = lam / mu
    rho = a / c
    if rho >= 1:
        raise SystemExit(f"the queue is unstable: rho = {rho:.3f} >= 1")
    tail = a**c / math.factorial(c) / (1 - rho)
    p_wait = tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)
    return p_wait / (c * mu - lam) + 1 / mu


def batch_means_half_width(values: np.ndarray) -> float:
    """Half-width of a 95 % confidence interval of the mean by non-overlapping batch means (absorbs the
    strong autocorrelation of successive response times in a queue)."""
    batches = np.array_split(values, N_BATCHES)
    means = np.array([batch.mean() for batch in batches])
    return float(T_975_19_DOF * means.std(ddof=1) / math.sqrt(N_BATCHES))


# ------------------------------------------------------------------------------------------------------------
# The methods. Each simulates `n_jobs` arrivals, runs until all have left, and returns the response times of
# the jobs that arrived after the warm-up, in arrival or completion order.


def run_simulator(n_jobs: int, queue: Queue) -> Outcome:
    clock = Stopwatch()
    scenario = load_scenario(SCENARIO, overrides=[f"simulation.max_jobs={n_jobs}"])
    result = run(scenario)
    mean_s = result.summary["response_time_mean_s"]
    elapsed = clock.elapsed()
    jobs = result.jobs
    measured = jobs[(jobs["arrival_s"] >= queue.warmup_s) & (jobs["state"] == "finished")]
    return Outcome(len(jobs), *elapsed, mean_s, measured["response_s"].to_numpy(), engine_s=result.wall_s)


def run_simpy_process(n_jobs: int, queue: Queue) -> Outcome:
    clock = Stopwatch()
    rng = random.Random(queue.seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=queue.servers)
    arrivals_s: list[float] = []
    responses_s: list[float] = []

    def customer(env: simpy.Environment, arrival_s: float) -> Any:
        with servers.request() as request:
            yield request
            yield env.timeout(rng.expovariate(queue.service_rate_per_s))
        arrivals_s.append(arrival_s)
        responses_s.append(env.now - arrival_s)

    def source(env: simpy.Environment) -> Any:
        for _ in range(n_jobs):
            yield env.timeout(rng.expovariate(queue.arrival_rate_per_s))
            env.process(customer(env, env.now))

    env.process(source(env))
    env.run()
    responses = np.asarray(responses_s)[np.asarray(arrivals_s) >= queue.warmup_s]
    mean_s = float(responses.mean())
    return Outcome(len(responses_s), *clock.elapsed(), mean_s, responses)


def run_ciw(n_jobs: int, queue: Queue) -> Outcome:
    import ciw

    clock = Stopwatch()
    ciw.seed(queue.seed)  # Ciw only offers a global seed
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(queue.arrival_rate_per_s)],
        service_distributions=[ciw.dists.Exponential(queue.service_rate_per_s)],
        number_of_servers=[queue.servers],
    )
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(n_jobs, method="Finish")
    records = simulation.get_all_records()
    arrivals = np.fromiter((record.arrival_date for record in records), dtype=float, count=len(records))
    exits = np.fromiter((record.exit_date for record in records), dtype=float, count=len(records))
    responses = (exits - arrivals)[arrivals >= queue.warmup_s]
    mean_s = float(responses.mean())
    return Outcome(len(records), *clock.elapsed(), mean_s, responses)


def run_simpy_callbacks(n_jobs: int, queue: Queue) -> Outcome:
    clock = Stopwatch()
    rng = random.Random(queue.seed)
    env = simpy.Environment()
    lam, mu, c = queue.arrival_rate_per_s, queue.service_rate_per_s, queue.servers
    waiting: deque[float] = deque()
    arrivals_s: list[float] = []
    responses_s: list[float] = []
    busy = 0
    created = 0

    def start(arrival_s: float) -> None:
        env.timeout(rng.expovariate(mu), arrival_s).callbacks.append(on_done)

    def on_done(event: simpy.Event) -> None:
        nonlocal busy
        arrival_s = event._value
        arrivals_s.append(arrival_s)
        responses_s.append(env.now - arrival_s)
        if waiting:
            start(waiting.popleft())
        else:
            busy -= 1

    def on_arrival(event: simpy.Event) -> None:
        nonlocal busy, created
        if busy < c:
            busy += 1
            start(env.now)
        else:
            waiting.append(env.now)
        created += 1
        if created < n_jobs:
            env.timeout(rng.expovariate(lam)).callbacks.append(on_arrival)

    env.timeout(rng.expovariate(lam)).callbacks.append(on_arrival)
    env.run()
    responses = np.asarray(responses_s)[np.asarray(arrivals_s) >= queue.warmup_s]
    mean_s = float(responses.mean())
    return Outcome(len(responses_s), *clock.elapsed(), mean_s, responses)


def run_heapq(n_jobs: int, queue: Queue) -> Outcome:
    clock = Stopwatch()
    rng = random.Random(queue.seed)
    expovariate = rng.expovariate
    lam, mu, c = queue.arrival_rate_per_s, queue.service_rate_per_s, queue.servers
    heappush, heappop = heapq.heappush, heapq.heappop
    waiting: deque[float] = deque()
    arrivals_s: list[float] = []
    responses_s: list[float] = []
    busy = 0
    created = 1
    sequence = 0
    # Events: (time, sequence for FIFO ties, arrival time of a departing job or -1.0 for an arrival).
    events: list[tuple[float, int, float]] = [(expovariate(lam), 0, -1.0)]
    while events:
        now, _, arrival_s = heappop(events)
        sequence += 1
        if arrival_s < 0.0:
            if busy < c:
                busy += 1
                heappush(events, (now + expovariate(mu), sequence, now))
            else:
                waiting.append(now)
            if created < n_jobs:
                created += 1
                sequence += 1
                heappush(events, (now + expovariate(lam), sequence, -1.0))
        else:
            arrivals_s.append(arrival_s)
            responses_s.append(now - arrival_s)
            if waiting:
                heappush(events, (now + expovariate(mu), sequence, waiting.popleft()))
            else:
                busy -= 1
    responses = np.asarray(responses_s)[np.asarray(arrivals_s) >= queue.warmup_s]
    mean_s = float(responses.mean())
    return Outcome(len(responses_s), *clock.elapsed(), mean_s, responses)


METHODS: dict[str, tuple[str, Callable[[int, Queue], Outcome]]] = {
    "simulator": ("this simulator, load_scenario -> run -> summary", run_simulator),
    "simpy_process": ("plain SimPy, process per customer + Resource", run_simpy_process),
    "ciw": ("Ciw", run_ciw),
    "simpy_callbacks": ("SimPy, customers as data + timeout callbacks", run_simpy_callbacks),
    "heapq": ("pure-Python heapq event loop, no SimPy", run_heapq),
}


# ------------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200_000, help="jobs per run (default 200,000)")
    parser.add_argument("--ciw-jobs", type=int, default=None,
                        help="jobs per Ciw run (default: --jobs, capped at 200,000 so Ciw stays under a minute)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best is reported")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated subset of: {', '.join(METHODS)}")
    parser.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="PATH",
                        help=f"also write the results as JSON (default path: {DEFAULT_JSON.relative_to(REPO_ROOT)})")
    args = parser.parse_args(argv)
    if args.jobs <= 0 or args.repeats <= 0:
        parser.error("--jobs and --repeats must be positive")
    args.methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = [name for name in args.methods if name not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    if args.ciw_jobs is None:
        args.ciw_jobs = min(args.jobs, 200_000)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    queue = queue_of(load_scenario(SCENARIO))
    reference_s = erlang_c_response_s(queue)
    rho = queue.arrival_rate_per_s / (queue.servers * queue.service_rate_per_s)
    print(f"M/M/{queue.servers}: lambda = {queue.arrival_rate_per_s}/s, mu = {queue.service_rate_per_s}/s, "
          f"rho = {rho:.3f}; Erlang C mean response time W = {reference_s:.4f} s")
    print(f"{args.jobs:,} jobs per run (Ciw: {args.ciw_jobs:,}), warm-up {queue.warmup_s:g} s excluded from the "
          f"means; best of {args.repeats} interleaved rounds; {os.cpu_count()} cores (shared, so timings are noisy)")
    print()

    wall: dict[str, list[float]] = {name: [] for name in args.methods}
    cpu: dict[str, list[float]] = {name: [] for name in args.methods}
    engine: list[float] = []
    outcomes: dict[str, Outcome] = {}
    for round_index in range(args.repeats):
        shift = round_index % len(args.methods)
        order = args.methods[shift:] + args.methods[:shift]
        for name in order:
            n_jobs = args.ciw_jobs if name == "ciw" else args.jobs
            gc.collect()
            outcome = METHODS[name][1](n_jobs, queue)
            wall[name].append(outcome.wall_s)
            cpu[name].append(outcome.cpu_s)
            if name == "simulator":
                engine.append(outcome.engine_s)
            outcomes[name] = outcome
            print(f"  round {round_index + 1}: {name:<16} wall {outcome.wall_s:8.3f} s   cpu {outcome.cpu_s:8.3f} s",
                  flush=True)
    print()

    rows: dict[str, dict[str, Any]] = {}
    for name in args.methods:
        outcome = outcomes[name]
        best_wall, best_cpu = min(wall[name]), min(cpu[name])
        rows[name] = {
            "description": METHODS[name][0],
            "jobs": outcome.jobs,
            "wall_s": wall[name],
            "cpu_s": cpu[name],
            "best_wall_s": best_wall,
            "best_cpu_s": best_cpu,
            "wall_spread": (max(wall[name]) - best_wall) / best_wall,
            "cpu_spread": (max(cpu[name]) - best_cpu) / best_cpu,
            "jobs_per_s": outcome.jobs / best_wall,
            "jobs_per_cpu_s": outcome.jobs / best_cpu,
            "us_per_job": 1e6 * best_wall / outcome.jobs,
            "cpu_us_per_job": 1e6 * best_cpu / outcome.jobs,
            "mean_response_s": outcome.mean_response_s,
            "ci95_half_width_s": batch_means_half_width(outcome.responses_s),
            "measured_jobs": len(outcome.responses_s),
        }
    if engine:
        row = rows["simulator"]
        row["engine_wall_s"] = engine
        row["engine_best_wall_s"] = min(engine)
        row["engine_jobs_per_s"] = outcomes["simulator"].jobs / min(engine)
        row["engine_share"] = [e / w for e, w in zip(engine, wall["simulator"], strict=True)]

    header = (f"{'method':<16} {'jobs':>9} {'wall s':>7} {'spread':>6} {'jobs/s':>9} {'us/job':>6} | "
              f"{'cpu s':>7} {'spread':>6} {'jobs/cpu-s':>10} | {'mean W s':>8} {'95% CI':>8} {'vs Erlang C':>12}")
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        deviation = row["mean_response_s"] - reference_s
        agrees = abs(deviation) <= row["ci95_half_width_s"]
        print(f"{name:<16} {row['jobs']:>9,} {row['best_wall_s']:>7.3f} {row['wall_spread']:>6.0%} "
              f"{row['jobs_per_s']:>9,.0f} {row['us_per_job']:>6.2f} | {row['best_cpu_s']:>7.3f} "
              f"{row['cpu_spread']:>6.0%} {row['jobs_per_cpu_s']:>10,.0f} | {row['mean_response_s']:>8.4f} "
              f"{'+-' + format(row['ci95_half_width_s'], '.4f'):>8} {deviation:>+8.4f} {'ok' if agrees else 'OUT':>3}")
    print(f"{'Erlang C':<16} {'':>9} {'':>7} {'':>6} {'':>9} {'':>6}   {'':>7} {'':>6} {'':>10}   "
          f"{reference_s:>8.4f}")
    print("(wall and cpu: best of the rounds; spread: (worst - best) / best; 95% CI: batch means over "
          f"{N_BATCHES} batches; ok: |mean - Erlang C| within the CI)")
    if "engine_best_wall_s" in rows.get("simulator", {}):
        row = rows["simulator"]
        print(f"\nsimulator event loop alone (env.run, without loading, tables and summary): "
              f"{row['engine_best_wall_s']:.3f} s wall = {row['engine_jobs_per_s']:,.0f} jobs/s, "
              f"{1e6 * row['engine_best_wall_s'] / row['jobs']:.2f} us/job "
              f"({min(row['engine_share']):.0%} .. {max(row['engine_share']):.0%} of the public path's wall time)")

    ratios: dict[str, dict[str, float]] = {}
    if "simulator" in rows:
        print("\nratios of throughput, simulator / other (best of rounds; per-round range in brackets):")
        for other in (name for name in args.methods if name != "simulator"):
            entry: dict[str, float] = {}
            text = []
            for clock, times, key in (("wall", wall, "jobs_per_s"), ("cpu", cpu, "jobs_per_cpu_s")):
                per_round = [
                    (times[other][i] / outcomes[other].jobs) / (times["simulator"][i] / outcomes["simulator"].jobs)
                    for i in range(args.repeats)
                ]
                best_ratio = rows["simulator"][key] / rows[other][key]
                entry.update({f"{clock}_best": best_ratio, f"{clock}_min": min(per_round),
                              f"{clock}_max": max(per_round), f"{clock}_median": statistics.median(per_round)})
                text.append(f"{clock} {best_ratio:5.2f}x [{min(per_round):.2f} .. {max(per_round):.2f}]")
            ratios[f"simulator/{other}"] = entry
            note = ""
            if other == "simpy_process":
                met = entry["wall_best"] >= 3 and entry["cpu_best"] >= 3
                note = f"   target >= 3x: {'met' if met else 'NOT met'}"
            print(f"  simulator / {other:<16} {'   '.join(text)}{note}")

    results = {
        "benchmark": "bench_mmc",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "scenario": str(SCENARIO.relative_to(REPO_ROOT)),
        "queue": {"arrival_rate_per_s": queue.arrival_rate_per_s, "service_rate_per_s": queue.service_rate_per_s,
                  "servers": queue.servers, "rho": rho, "warmup_s": queue.warmup_s, "seed": queue.seed},
        "erlang_c_response_s": reference_s,
        "jobs": args.jobs,
        "ciw_jobs": args.ciw_jobs,
        "repeats": args.repeats,
        "methods": rows,
        "ratios": ratios,
    }
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
