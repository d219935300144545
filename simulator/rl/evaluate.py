"""Evaluating agents against heuristics: every policy on the same seeds (common random numbers), one row per run,
and a table of means with 95% t-intervals (the runner's `simulator.runner.report.t_interval`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.config import Scenario
from simulator.policies import policy_class
from simulator.runner.executors import ProcessExecutor
from simulator.runner.report import interval_cell, t_interval
from simulator.simulation import run

__all__ = ["BASELINES", "PolicyChoice", "evaluate", "evaluation_table", "format_evaluation", "policy_entries"]

BASELINES = ("random", "round_robin", "least_loaded", "power_of_d", "least_work_left", "shortest_expected_delay",
             "min_completion_time")
"""The heuristics `train --eval-seeds` compares an agent with (those registered in this installation)."""

TABLE_METRICS = ("response_time_mean_s", "response_time_p95_s")
"""What the printed comparison shows (the rows hold every scalar metric of the run summary)."""

PolicyChoice = str | Path | tuple[str, Mapping[str, Any]]
"""A policy name (its default parameters), an agent file (`drl` with that agent), or (name, parameters)."""


def policy_entries(policies: Sequence[PolicyChoice]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, policy name, parameters) per choice; an agent file becomes ``drl`` labelled ``drl(FILE NAME)``."""
    entries = []
    for choice in policies:
        if isinstance(choice, Path):
            entries.append((f"drl({choice.name})", "drl", {"agent": str(choice.resolve())}))
        elif isinstance(choice, str):
            entries.append((choice, policy_class(choice).name, {}))
        else:
            name, params = choice
            label = f"{name}({', '.join(f'{k}={v}' for k, v in params.items())})" if params else name
            entries.append((label, policy_class(name).name, dict(params)))
    return entries


def _one_run(job: tuple[Scenario, str, str, dict[str, Any], int]) -> dict[str, Any]:
    scenario, label, name, params, seed = job
    summary = run(scenario, policy=name, seed=seed, params=params).summary
    scalars = {key: value for key, value in summary.items() if isinstance(value, int | float) and key != "wall_s"}
    return {"policy": label, "policy_name": name, "seed": seed, **scalars}


def evaluate(scenario: Scenario, policies: Sequence[PolicyChoice], seeds: Sequence[int], workers: int = 1
             ) -> pd.DataFrame:
    """Run every policy on every seed of ``scenario``: one row per (policy, seed) with the run's scalar summary
    metrics (``policy`` is the label, ``policy_name`` the registered name), in the order given.

    Args:
        scenario: A validated scenario.
        policies: Names, agent files or (name, parameters) pairs (`PolicyChoice`).
        seeds: Run seeds (for an agent: outside its training seeds, see `simulator.rl.agents.TRAINING_SEEDS`).
        workers: Processes running the runs (started with spawn); 1 runs them here, one after the other.
    """
    jobs = [(scenario, label, name, params, int(seed)) for label, name, params in policy_entries(policies)
            for seed in seeds]
    if workers <= 1 or len(jobs) <= 1:
        rows = [_one_run(job) for job in jobs]
    else:
        # spawn: a fork of a process holding torch's thread pools (after training) can hang in the child
        executor = ProcessExecutor(workers, start_method="spawn")
        by_index = dict(executor.map_unordered(_one_run, jobs))
        rows = [by_index[index] for index in range(len(jobs))]
    return pd.DataFrame(rows)


def evaluation_table(runs: pd.DataFrame, metrics: Sequence[str] = TABLE_METRICS, confidence: float = 0.95
                     ) -> pd.DataFrame:
    """One row per policy (in the order of ``runs``): ``n`` seeds and per metric ``<metric>_mean``,
    ``<metric>_ci_low`` and ``<metric>_ci_high`` (t-interval over the seeds; NaN values are left out)."""
    rows = []
    for label, group in runs.groupby("policy", sort=False):
        row: dict[str, Any] = {"policy": label, "n": len(group)}
        for metric in metrics:
            mean, low, high = t_interval(group[metric].to_numpy(dtype=float), confidence)
            row.update({f"{metric}_mean": mean, f"{metric}_ci_low": low, f"{metric}_ci_high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def format_evaluation(table: pd.DataFrame, metrics: Sequence[str] = TABLE_METRICS, confidence: float = 0.95) -> str:
    """The table as text: mean ± half-width of the t-interval, best (lowest) first by the first metric."""
    ordered = table.sort_values(f"{metrics[0]}_mean", na_position="last", kind="stable")
    headers = ["policy", "n", *metrics]
    lines = [[str(row["policy"]), str(row["n"]),
              *(interval_cell(row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"]) for m in metrics)]
             for _, row in ordered.iterrows()]
    widths = [max(len(header), *(len(line[i]) for line in lines)) for i, header in enumerate(headers)]
    render = ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells))
              for cells in [headers, *lines]]
    render.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([f"mean ±half-width of the {confidence:.0%} t-interval over seeds", *render])
