"""Braun et al. (2001) benchmark: makespan of every mapping algorithm on the 12 ETC instances.

For each instance: the deterministic list heuristics (OLB, MET, MCT, Min-min, Max-min, Duplex, both
Sufferage variants, shortest task first) once, the GA and PSO over ``--seeds`` seeds with a wall-clock
``--time-limit`` each (one process, one core per run by default), and the LP-relaxation lower bound.
Gaps are ``makespan / LP bound - 1``; the PSO section also gives the gap to the best-known makespans
(``BEST_KNOWN``) and the swarm's improvement over its start.

Writes to ``--out`` (default ``results/braun/``):

* ``runs.csv``: one row per (instance, algorithm, seed) with all objectives and the wall time;
* ``convergence.csv``: the GA and PSO convergence traces (wall time, best makespan so far);
* ``summary.csv``: per instance and algorithm, best and mean makespan and their gaps to the LP bound;
* ``summary.md``: the same as two markdown tables (makespan, gap), with the budget stated, and a PSO
  table (initial swarm's best, after the first local search, final; gap to best-known; wall and CPU time);
* ``convergence.png``: gap to the LP bound against wall time for GA and PSO, one panel per instance.

Usage::

    python experiments/braun_benchmark.py                      # 10 seeds x 60 s: about 4 hours
    python experiments/braun_benchmark.py --seeds 3 --time-limit 20
    python experiments/braun_benchmark.py --quick              # 2 instances, 2 seeds, 2 s (for tests)
    python experiments/braun_benchmark.py --metaheuristics pso --seeds 1 --time-limit 60
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPOSITORY = Path(__file__).resolve().parents[1]
if str(REPOSITORY) not in sys.path:  # allow `python experiments/braun_benchmark.py` from a checkout
    sys.path.insert(0, str(REPOSITORY))

from simulator.mapping import MappingProblem, load_etc  # noqa: E402
from simulator.solvers import get_solver, lp_lower_bound  # noqa: E402

DATA_DIR = REPOSITORY / "scenarios" / "data" / "braun"
INSTANCES = [
    f"u_{consistency}_{heterogeneity}.0"
    for consistency in ("c", "i", "s")
    for heterogeneity in ("hihi", "hilo", "lohi", "lolo")
]
QUICK_INSTANCES = ["u_c_hihi.0", "u_i_lolo.0"]
HEURISTICS = ["olb", "met", "mct", "min_min", "max_min", "duplex", "sufferage_batch", "sufferage", "stf"]
METAHEURISTICS = ["ga", "pso"]
LABELS = {
    "olb": "OLB",
    "met": "MET",
    "mct": "MCT",
    "min_min": "Min-min",
    "max_min": "Max-min",
    "duplex": "Duplex",
    "sufferage_batch": "Sufferage (batch)",
    "sufferage": "Sufferage (step)",
    "stf": "STF",
    "ga": "GA",
    "pso": "PSO",
}
BEST_KNOWN = {
    "u_c_hihi.0": 7358942.8,
    "u_c_hilo.0": 152812.2,
    "u_c_lohi.0": 238649.0,
    "u_c_lolo.0": 5135.7,
    "u_i_hihi.0": 2924720.0,
    "u_i_hilo.0": 73202.1,
    "u_i_lohi.0": 101527.0,
    "u_i_lolo.0": 2533.4,
    "u_s_hihi.0": 4080153.5,
    "u_s_hilo.0": 95553.3,
    "u_s_lohi.0": 121000.9,
    "u_s_lolo.0": 3419.4,
}
"""Best-known makespans: the smaller of the two published solutions per instance of Gogos et al., FGCS 60
(2016), as written in their file names (github.com/chgogos/hcsp at 6bcdd85, ``512x16/*.sol``; each file
reproduces its makespan on our copies of the instances, see ``scenarios/data/braun/SOURCE.md``)."""
STREAMS = {"ga": 0, "pso": 1}
"""Stream index of each stochastic algorithm in the seed sequence ``(seed, spawn_key=(replication, stream))``."""


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder with the ETC files and manifest")
    parser.add_argument("--instances", nargs="+", default=None, help="instance file names (default: all 12)")
    parser.add_argument("--seeds", type=int, default=None, help="replications of GA and PSO (default 10)")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per GA/PSO run (default 60)")
    parser.add_argument("--metaheuristics", nargs="+", choices=METAHEURISTICS, default=METAHEURISTICS,
                        help="stochastic algorithms to run (default: ga pso)")
    parser.add_argument("--base-seed", type=int, default=2001, help="root of all seed sequences")
    parser.add_argument("--processes", type=int, default=1, help="parallel GA/PSO runs (default 1)")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "results" / "braun", help="output folder")
    parser.add_argument("--quick", action="store_true", help="2 instances, 2 seeds, 2 s unless given explicitly")
    args = parser.parse_args(argv)
    if args.instances is None:
        args.instances = QUICK_INSTANCES if args.quick else INSTANCES
    if args.seeds is None:
        args.seeds = 2 if args.quick else 10
    if args.time_limit is None:
        args.time_limit = 2.0 if args.quick else 60.0
    if args.seeds < 1 or not args.time_limit > 0 or args.processes < 1:
        parser.error("--seeds and --processes must be >= 1 and --time-limit > 0")
    return args


def _row(instance: str, algorithm: str, seed: int | None, result: Any, time_limit_s: float | None) -> dict[str, Any]:
    return {
        "instance": instance,
        "algorithm": algorithm,
        "seed": seed,
        **result.objectives,
        "wall_s": result.wall_s,
        "time_limit_s": time_limit_s,
    }


def run_stochastic(job: tuple[Path, str, int, int, float]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One GA or PSO run; a module-level function so that a process pool can call it."""
    path, algorithm, replication, base_seed, time_limit_s = job
    problem = load_etc(path)
    unlimited = {"ga": {"max_generations": None}, "pso": {"max_iterations": None}}[algorithm]
    solver = get_solver(algorithm, **unlimited)
    rng = np.random.default_rng(np.random.SeedSequence(base_seed, spawn_key=(replication, STREAMS[algorithm])))
    cpu_start = time.process_time()
    result = solver.solve(problem, rng, time_limit_s=time_limit_s)
    cpu_s = time.process_time() - cpu_start
    trace = [
        {"instance": path.name, "algorithm": algorithm, "seed": replication, "wall_s": wall, "best_makespan_s": best}
        for wall, best in (result.history or [])
    ]
    row = _row(path.name, algorithm, replication, result, time_limit_s)
    row["iterations"] = result.extras.get("generations", result.extras.get("iterations"))
    row["cpu_s"] = cpu_s
    for name in ("initial_best_makespan_s", "first_search_makespan_s"):
        row[name] = result.extras.get(name)
    return row, trace


def run_benchmark(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run everything; returns (runs, convergence, bounds) tables."""
    runs: list[dict[str, Any]] = []
    traces: list[dict[str, Any]] = []
    bounds: list[dict[str, Any]] = []
    problems: dict[str, MappingProblem] = {}
    for instance in args.instances:
        problem = load_etc(args.data_dir / instance)
        problems[instance] = problem
        bound = lp_lower_bound(problem)
        bounds.append({"instance": instance, "lp_bound_s": bound.makespan_s, "lp_wall_s": bound.wall_s})
        for algorithm in HEURISTICS:
            result = get_solver(algorithm).solve(problem, np.random.default_rng(0))
            runs.append(_row(instance, algorithm, None, result, None))
        print(f"{instance}: LP bound {bound.makespan_s:.2f}, heuristics done", flush=True)

    jobs = [
        (args.data_dir / instance, algorithm, replication, args.base_seed, args.time_limit)
        for instance in args.instances
        for algorithm in args.metaheuristics
        for replication in range(args.seeds)
    ]
    if args.processes == 1:
        outcomes = []
        for job in jobs:
            outcomes.append(run_stochastic(job))
            row = outcomes[-1][0]
            print(f"{row['instance']} {row['algorithm']} seed {row['seed']}: {row['makespan_s']:.2f}", flush=True)
    else:
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            outcomes = pool.map(run_stochastic, jobs, chunksize=1)
    for row, trace in outcomes:
        runs.append(row)
        traces.extend(trace)
    return pd.DataFrame(runs), pd.DataFrame(traces), pd.DataFrame(bounds)


def summarise(runs: pd.DataFrame, bounds: pd.DataFrame) -> pd.DataFrame:
    """Best and mean makespan per instance and algorithm, with gaps to the LP bound."""
    summary = (
        runs.groupby(["instance", "algorithm"], sort=False)["makespan_s"]
        .agg(best_makespan_s="min", mean_makespan_s="mean", n_runs="count")
        .reset_index()
        .merge(bounds[["instance", "lp_bound_s"]], on="instance")
    )
    summary["best_gap"] = summary["best_makespan_s"] / summary["lp_bound_s"] - 1
    summary["mean_gap"] = summary["mean_makespan_s"] / summary["lp_bound_s"] - 1
    return summary


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(column) for column in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(str(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def markdown_report(summary: pd.DataFrame, args: argparse.Namespace, runs: pd.DataFrame) -> str:
    """Two wide tables (makespan; gap to the LP bound), instances as rows, algorithms as columns."""
    algorithms = HEURISTICS + list(args.metaheuristics)
    makespan_rows = []
    gap_rows = []
    for instance in args.instances:
        part = summary[summary["instance"] == instance].set_index("algorithm")
        bound = float(part["lp_bound_s"].iloc[0])
        makespan_row: dict[str, str] = {"instance": instance, "LP bound": f"{bound:.2f}"}
        gap_row: dict[str, str] = {"instance": instance}
        for algorithm in algorithms:
            label = LABELS[algorithm]
            if algorithm in METAHEURISTICS:
                best, mean = part.loc[algorithm, ["best_makespan_s", "mean_makespan_s"]]
                makespan_row[f"{label} best"] = f"{best:.2f}"
                makespan_row[f"{label} mean"] = f"{mean:.2f}"
                gap_row[f"{label} best"] = f"{part.loc[algorithm, 'best_gap']:.2%}"
                gap_row[f"{label} mean"] = f"{part.loc[algorithm, 'mean_gap']:.2%}"
            else:
                makespan_row[label] = f"{part.loc[algorithm, 'best_makespan_s']:.2f}"
                gap_row[label] = f"{part.loc[algorithm, 'best_gap']:.2%}"
        makespan_rows.append(makespan_row)
        gap_rows.append(gap_row)
    ga = summary[summary["algorithm"] == "ga"]
    ga_gaps = runs.loc[runs["algorithm"] == "ga", "gap_to_lp"]
    ga_line = (
        f"GA worst mean gap {ga['mean_gap'].max():.2%}, worst best gap {ga['best_gap'].max():.2%}; "
        f"{float(np.mean(ga_gaps <= 0.015)):.0%} of GA runs within 1.5% of the LP bound."
        if len(ga_gaps) else "GA not run."
    )
    lines = [
        "# Braun et al. (2001) benchmark: makespan by algorithm",
        "",
        f"Generated {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')} by "
        f"`experiments/braun_benchmark.py` on {platform.machine()} ({os.cpu_count()} CPUs visible, "
        f"{args.processes} process(es)), Python {platform.python_version()}.",
        "",
        f"{' and '.join(LABELS[name] for name in args.metaheuristics)}: {args.seeds} seed(s) per instance, "
        f"**time limit {args.time_limit:g} s per run** on one core "
        f"(best and mean over seeds). List heuristics are deterministic (ties: lowest machine, then lowest task "
        f"index). Gap = makespan / LP-relaxation lower bound - 1.",
        "",
        ga_line,
        "",
        "## Makespan",
        "",
        _markdown(pd.DataFrame(makespan_rows)),
        "",
        "## Gap to the LP lower bound",
        "",
        _markdown(pd.DataFrame(gap_rows)),
        "",
        *pso_report(runs),
    ]
    return "\n".join(lines)


def pso_report(runs: pd.DataFrame) -> list[str]:
    """The swarm's start and end per instance (means over seeds) and the gap to the best-known makespan."""
    pso = runs[runs["algorithm"] == "pso"]
    if pso.empty:
        return []
    table = pso.groupby("instance", sort=False).agg(
        initial=("initial_best_makespan_s", "mean"),
        first=("first_search_makespan_s", "mean"),
        final=("makespan_s", "mean"),
        best=("makespan_s", "min"),
        wall=("wall_s", "mean"),
        cpu=("cpu_s", "mean"),
    )
    rows = []
    worst = 0.0
    for instance, part in table.iterrows():
        known = BEST_KNOWN.get(str(instance), np.nan)
        worst = max(worst, part["final"] / known - 1)
        rows.append({
            "instance": instance,
            "best-known": f"{known:.1f}",
            "initial swarm best": f"{part['initial']:.2f}",
            "after 1st local search": f"{part['first']:.2f}",
            "final (mean)": f"{part['final']:.2f}",
            "final (best)": f"{part['best']:.2f}",
            "initial gap to best-known": f"{part['initial'] / known - 1:.2%}",
            "final gap to best-known": f"{part['final'] / known - 1:.2%}",
            "wall s": f"{part['wall']:.1f}",
            "CPU s": f"{part['cpu']:.1f}",
        })
    return [
        "## PSO: the swarm's start and end, gap to the best-known makespans",
        "",
        "Initial swarm best: the best decoded particle before any local search (Min-min's schedule is one of "
        "them). After the 1st local search: the swarm's best after its first iteration's local search; "
        "what follows is the swarm's own improvement. Best-known: Gogos et al. (2016), see `BEST_KNOWN`. "
        f"Worst mean final gap to best-known: {worst:.2%} (target 2%). CPU s is `time.process_time()`; "
        "below the wall time when the machine was shared.",
        "",
        _markdown(pd.DataFrame(rows)),
        "",
    ]


def plot_convergence(convergence: pd.DataFrame, bounds: pd.DataFrame, path: Path, time_limit_s: float) -> None:
    """Gap to the LP bound against wall time, GA and PSO, one thin line per seed, one panel per instance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    instances = list(bounds["instance"])
    columns = min(4, len(instances))
    rows = (len(instances) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False, sharex=True)
    colours = {name: colour for name, colour in (("ga", "tab:blue"), ("pso", "tab:orange"))
               if name in set(convergence["algorithm"])}
    lookup = bounds.set_index("instance")["lp_bound_s"]
    for axis, instance in zip(axes.ravel(), instances, strict=False):
        part = convergence[convergence["instance"] == instance]
        for (algorithm, _seed), trace in part.groupby(["algorithm", "seed"]):
            gap = 100 * (trace["best_makespan_s"] / lookup[instance] - 1)
            axis.step(trace["wall_s"], gap, where="post", color=colours[str(algorithm)], alpha=0.6, linewidth=0.9)
        axis.axhline(1.5, color="grey", linestyle=":", linewidth=0.8)
        axis.set_yscale("log")
        axis.set_title(instance, fontsize=9)
        axis.set_xlim(0, time_limit_s)
    for axis in axes.ravel()[len(instances) :]:
        axis.set_visible(False)
    for axis in axes[:, 0]:
        axis.set_ylabel("gap to LP bound (%)")
    for axis in axes[-1, :]:
        axis.set_xlabel("wall time (s)")
    handles = [plt.Line2D([], [], color=colour, label=LABELS[name]) for name, colour in colours.items()]
    handles.append(plt.Line2D([], [], color="grey", linestyle=":", label="1.5%"))
    figure.legend(handles=handles, loc="upper right", fontsize=8)
    figure.suptitle(f"Braun et al. instances: best makespan vs wall time ({time_limit_s:g} s per run)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    started = time.perf_counter()
    runs, convergence, bounds = run_benchmark(args)
    runs = runs.merge(bounds[["instance", "lp_bound_s"]], on="instance")
    runs["gap_to_lp"] = runs["makespan_s"] / runs["lp_bound_s"] - 1
    summary = summarise(runs, bounds)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    convergence.to_csv(args.out / "convergence.csv", index=False)
    summary.to_csv(args.out / "summary.csv", index=False)
    report = markdown_report(summary, args, runs)
    (args.out / "summary.md").write_text(report, encoding="utf-8")
    plot_convergence(pd.read_csv(args.out / "convergence.csv"), bounds, args.out / "convergence.png", args.time_limit)
    print(report)
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
