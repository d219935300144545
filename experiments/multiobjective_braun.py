"""NSGA-II against MOPSO by hypervolume on the 12 Braun et al. (2001) instances.

For each instance (the ones of ``experiments/braun_benchmark.py``) both solvers run ``--seeds`` times with the
same wall-clock ``--time-limit`` each (default 3 s, no generation or iteration limit, default parameters,
objectives makespan, flowtime and load variance), one run after the other in this process. The
hypervolume of every front follows the reference point rule of :mod:`simulator.solvers.front`, applied per
instance to the union of all fronts of both solvers and all seeds (normalised by the union's per-objective
minimum and maximum, reference point 1.1 in each objective; at most 1.1^3 = 1.331), so the numbers of one
instance are comparable with each other, not across instances. Means come with 95% t-intervals over the seeds
(:func:`simulator.runner.report.t_interval`). A wall-clock budget gives each run less CPU time when the
machine is shared, so each run also records its CPU seconds (``time.process_time``).

Writes to ``--out`` (default ``results/reference/multiobjective/``):

* ``runs.csv``: one row per (instance, algorithm, seed): hypervolume, front size, generations,
  evaluations, wall and CPU seconds;
* ``fronts.csv``: every front's points;
* ``summary.csv`` and ``summary.md``: per instance and algorithm, mean hypervolume with its t-interval;
* ``fronts.png``: the fronts of both solvers on ``--plot-instance``, two objectives per panel.

Usage::

    python experiments/multiobjective_braun.py                   # 12 instances x 2 x 5 seeds x 3 s: about 7 minutes
    python experiments/multiobjective_braun.py --quick --out /tmp/mo   # 2 small instances, 2 seeds (for tests)
"""

from __future__ import annotations

import argparse
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
if str(REPOSITORY) not in sys.path:  # allow `python experiments/multiobjective_braun.py` from a checkout
    sys.path.insert(0, str(REPOSITORY))

from experiments.braun_benchmark import DATA_DIR, INSTANCES, QUICK_INSTANCES  # noqa: E402
from simulator.mapping import MappingProblem, load_etc  # noqa: E402
from simulator.runner.report import t_interval  # noqa: E402
from simulator.solvers import get_solver  # noqa: E402
from simulator.solvers.front import REFERENCE_MARGIN, hypervolumes  # noqa: E402

ALGORITHMS = {"nsga2": ("NSGA-II", {"max_generations": None}), "mopso": ("MOPSO", {"max_iterations": None})}
OBJECTIVES = ["makespan_s", "flowtime_s", "load_variance_s2"]
QUICK_TASKS = 64
"""``--quick`` keeps the first this many tasks of each instance."""


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per instance and algorithm (default 5)")
    parser.add_argument("--time-limit", type=float, default=3.0, help="wall-clock seconds per run (default 3)")
    parser.add_argument("--instances", nargs="+", default=None, help="instance names (default: all 12)")
    parser.add_argument("--plot-instance", default=None, help="instance whose fronts are drawn (default: first)")
    parser.add_argument("--quick", action="store_true", help=f"2 instances cut to {QUICK_TASKS} tasks, 2 seeds, 0.3 s")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "results" / "reference" / "multiobjective")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.time_limit = min(args.seeds, 2), min(args.time_limit, 0.3)
    if args.instances is None:
        args.instances = QUICK_INSTANCES if args.quick else INSTANCES
    if args.plot_instance is None:
        args.plot_instance = args.instances[0]
    if args.seeds < 2 or not args.time_limit > 0 or args.plot_instance not in args.instances:
        parser.error("need --seeds >= 2 (for an interval), --time-limit > 0 and --plot-instance among --instances")
    return args


def load_instance(name: str, quick: bool) -> MappingProblem:
    problem = load_etc(DATA_DIR / name)
    if quick:
        problem = MappingProblem(etc_s=problem.etc_s[:QUICK_TASKS], ready_time_s=problem.ready_time_s, name=name)
    return problem


def run_instance(problem: MappingProblem, args: argparse.Namespace) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Both algorithms over every seed on one instance: run rows (hypervolume filled in) and front points."""
    rows: list[dict[str, Any]] = []
    fronts: list[pd.DataFrame] = []
    for algorithm, (_, params) in ALGORITHMS.items():
        for seed in range(args.seeds):
            solver = get_solver(algorithm, **params)
            rng = np.random.default_rng(np.random.SeedSequence(seed))
            cpu_start = time.process_time()
            front = solver.solve_front(problem, rng, time_limit_s=args.time_limit)
            cpu_s = time.process_time() - cpu_start
            rows.append({"instance": problem.name, "algorithm": algorithm, "seed": seed,
                         "front_size": len(front.objectives), "generations": front.generations,
                         "evaluations": front.evaluations, "wall_s": front.wall_s, "cpu_s": cpu_s,
                         "best_makespan_s": float(front.objectives["makespan_s"].min())})
            fronts.append(front.objectives.assign(instance=problem.name, algorithm=algorithm, seed=seed))
    values = [front[OBJECTIVES].to_numpy() for front in fronts]
    for row, volume in zip(rows, hypervolumes(values), strict=True):
        row["hypervolume"] = volume
    return rows, pd.concat(fronts, ignore_index=True)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per instance and algorithm: mean hypervolume with its 95% t-interval, and the mean work done."""
    rows = []
    for (instance, algorithm), group in runs.groupby(["instance", "algorithm"], sort=False):
        mean, low, high = t_interval(group["hypervolume"].to_numpy())
        rows.append({"instance": instance, "algorithm": algorithm, "seeds": len(group), "hypervolume_mean": mean,
                     "hypervolume_ci_low": low, "hypervolume_ci_high": high,
                     "front_size_mean": group["front_size"].mean(), "evaluations_mean": group["evaluations"].mean(),
                     "cpu_s_mean": group["cpu_s"].mean()})
    return pd.DataFrame(rows)


def markdown_report(summary: pd.DataFrame, args: argparse.Namespace) -> str:
    table = summary.pivot(index="instance", columns="algorithm").reindex(args.instances)
    lines = [
        "# NSGA-II and MOPSO on the Braun et al. instances: hypervolume",
        "",
        f"`experiments/multiobjective_braun.py` on {platform.machine()} ({os.cpu_count()} CPUs visible, Python "
        f"{platform.python_version()}): {len(args.instances)} instances x {args.seeds} seeds x "
        f"{args.time_limit:g} s wall clock per run{' (quick: first 64 tasks)' if args.quick else ''}, default "
        "parameters, objectives makespan, flowtime and load variance.",
        "",
        "Hypervolume per instance: all fronts of that instance (both algorithms, all seeds) normalised by their "
        f"union's per-objective minimum (ideal) and maximum (nadir), reference point {REFERENCE_MARGIN} in each "
        f"objective (maximum {REFERENCE_MARGIN ** 3:.3f}); higher is better. Mean and 95% t-interval over the seeds.",
        "",
        "| instance | NSGA-II hypervolume | MOPSO hypervolume | NSGA-II front / evals / CPU s | "
        "MOPSO front / evals / CPU s |",
        "|---|---|---|---|---|",
    ]
    for instance, row in table.iterrows():
        cells = []
        for algorithm in ALGORITHMS:
            cells.append(f"{row[('hypervolume_mean', algorithm)]:.3f} [{row[('hypervolume_ci_low', algorithm)]:.3f}, "
                         f"{row[('hypervolume_ci_high', algorithm)]:.3f}]")
        for algorithm in ALGORITHMS:
            cells.append(f"{row[('front_size_mean', algorithm)]:.1f} / {row[('evaluations_mean', algorithm)]:.0f} / "
                         f"{row[('cpu_s_mean', algorithm)]:.2f}")
        lines.append(f"| {instance} | {' | '.join(cells)} |")
    better = (table[("hypervolume_ci_low", "nsga2")] > table[("hypervolume_ci_high", "mopso")]).sum()
    worse = (table[("hypervolume_ci_high", "nsga2")] < table[("hypervolume_ci_low", "mopso")]).sum()
    lines += ["", f"NSGA-II's interval lies above MOPSO's on {better} instance(s), below it on {worse}, and the "
              f"intervals overlap on {len(table) - better - worse}.",
              "", f"CPU seconds per run (`time.process_time`, mean per instance) ranged from "
              f"{summary['cpu_s_mean'].min():.2f} to {summary['cpu_s_mean'].max():.2f} of the {args.time_limit:g} s "
              "wall-clock budget: a lower share means the machine was shared with other work during the run."]
    return "\n".join(lines) + "\n"


def plot_fronts(fronts: pd.DataFrame, instance: str, path: Path) -> None:
    """The fronts of every seed of both algorithms on ``instance``, one panel per pair of objectives."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = fronts[fronts["instance"] == instance]
    pairs = [(0, 1), (0, 2), (1, 2)]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, (first, second) in zip(axes, pairs, strict=True):
        for (algorithm, (label, _)), marker in zip(ALGORITHMS.items(), ("o", "^"), strict=True):
            points = data[data["algorithm"] == algorithm]
            ax.scatter(points[OBJECTIVES[first]], points[OBJECTIVES[second]], marker=marker, alpha=0.6, label=label)
        ax.set_xlabel(OBJECTIVES[first])
        ax.set_ylabel(OBJECTIVES[second])
        ax.set_yscale("log" if OBJECTIVES[second] == "load_variance_s2" else "linear")
        ax.legend()
    figure.suptitle(f"Pareto fronts on {instance}, all seeds (each point non-dominated within its own run)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    started = time.perf_counter()
    all_rows: list[dict[str, Any]] = []
    all_fronts = []
    for name in args.instances:
        rows, fronts = run_instance(load_instance(name, args.quick), args)
        all_rows += rows
        all_fronts.append(fronts)
        volumes = ", ".join(f"{row['algorithm']} seed {row['seed']} {row['hypervolume']:.3f}" for row in rows)
        print(f"{name}: {volumes}", flush=True)
    runs = pd.DataFrame(all_rows)
    fronts = pd.concat(all_fronts, ignore_index=True)
    summary = summarise(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    fronts.to_csv(args.out / "fronts.csv", index=False)
    summary.to_csv(args.out / "summary.csv", index=False)
    report = markdown_report(summary, args)
    (args.out / "summary.md").write_text(report, encoding="utf-8")
    plot_fronts(fronts, args.plot_instance, args.out / "fronts.png")
    print(report)
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s wall, {time.process_time():.1f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
