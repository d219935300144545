"""Summary metrics of a run, computed from its tidy task and job tables.

Response time is per job, from arrival to the delivery of its last result. Jobs that arrive during the
warm-up period are left out; utilization and energy are measured over the window from the end of warm-up to
the end of the run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import NodeSpec


def _is(column: pd.Series, value: str) -> np.ndarray:
    """A boolean mask of a categorical column equal to ``value``, compared on the integer codes."""
    return np.asarray(column.cat.codes.to_numpy() == column.cat.categories.get_loc(value))


def busy_slot_seconds(tasks: pd.DataFrame, n_nodes: int, window_start_s: float, window_end_s: float) -> np.ndarray:
    """Per node, the slot-seconds spent serving tasks inside the window (running tasks count until its end)."""
    start = tasks["start_s"].to_numpy()
    started = ~np.isnan(start)
    finish = tasks["finish_s"].to_numpy()[started]
    start = start[started].clip(window_start_s, window_end_s)
    finish = np.where(np.isnan(finish), window_end_s, finish).clip(window_start_s, window_end_s)
    return np.bincount(tasks["node_index"].to_numpy()[started], weights=finish - start, minlength=n_nodes)


def node_table(tasks: pd.DataFrame, nodes: Sequence[NodeSpec], window_start_s: float,
               window_end_s: float) -> pd.DataFrame:
    """One row per node: utilization, tasks completed, busy time and energy over the measurement window."""
    duration = max(window_end_s - window_start_s, 0.0)
    busy = busy_slot_seconds(tasks, len(nodes), window_start_s, window_end_s)
    slots = np.array([node.slots for node in nodes], dtype=float)
    idle_w = np.array([node.idle_power_w for node in nodes])
    busy_w = np.array([node.busy_power_w for node in nodes])
    finished = _is(tasks["state"], "finished") & (tasks["finish_s"].to_numpy() >= window_start_s)
    completed = np.bincount(tasks["node_index"].to_numpy()[finished], minlength=len(nodes))
    utilization = busy / (slots * duration) if duration > 0 else np.zeros(len(nodes))
    return pd.DataFrame({
        "node": [node.name for node in nodes],
        "kind": [node.kind for node in nodes],
        "slots": slots.astype(int),
        "tasks_completed": completed,
        "busy_slot_s": busy,
        "utilization": utilization,
        "energy_j": idle_w * duration + (busy_w - idle_w) * busy / slots,
    })


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def summarize(tasks: pd.DataFrame, jobs: pd.DataFrame, nodes: pd.DataFrame, bytes_transferred: float,
              warmup_s: float, end_s: float) -> dict[str, Any]:
    """The run's summary metrics (see the module docstring for the measurement window)."""
    measured = jobs["arrival_s"].to_numpy() >= warmup_s
    done = measured & _is(jobs["state"], "finished")
    response = jobs["response_s"].to_numpy()[done]
    p50, p95, p99 = np.percentile(response, [50, 95, 99]) if len(response) else (math.nan,) * 3
    utilization = nodes["utilization"].to_numpy()
    mean_utilization = _mean(utilization)
    square_sum = float((utilization ** 2).sum())
    with_deadline = measured & np.isfinite(jobs["deadline_s"].to_numpy())
    window = end_s - warmup_s
    measured_tasks = (tasks["arrival_s"].to_numpy() >= warmup_s) & _is(tasks["state"], "finished")
    finish = jobs["finish_s"].to_numpy()
    jobs_completed = int(done.sum())
    return {
        "tasks_completed": int(measured_tasks.sum()),
        "jobs_completed": jobs_completed,
        "jobs_unfinished": int(measured.sum()) - jobs_completed,
        "response_time_mean_s": _mean(response),
        "response_time_p50_s": float(p50),
        "response_time_p95_s": float(p95),
        "response_time_p99_s": float(p99),
        "response_time_max_s": float(response.max()) if len(response) else math.nan,
        "wait_time_mean_s": _mean(tasks["wait_s"].to_numpy()[measured_tasks]),
        "transfer_time_mean_s": _mean(tasks["transfer_s"].to_numpy()[measured_tasks]),
        "makespan_s": float(np.nanmax(finish)) if (~np.isnan(finish)).any() else math.nan,
        "throughput_per_s": jobs_completed / window if window > 0 else math.nan,
        "utilization_mean": mean_utilization,
        "utilization_by_node": dict(zip(nodes["node"], map(float, utilization), strict=True)),
        "load_variance": float(utilization.var()) if len(utilization) else math.nan,
        "load_cv": float(utilization.std() / mean_utilization) if mean_utilization > 0 else math.nan,
        "jain_fairness": (float(utilization.sum()) ** 2 / (len(utilization) * square_sum)
                          if square_sum > 0 else math.nan),
        "slo_attainment": _mean(jobs["deadline_met"].to_numpy()[with_deadline]),
        "energy_j": float(nodes["energy_j"].sum()),
        "bytes_transferred": float(bytes_transferred),
        "duration_s": float(end_s),
        "warmup_s": float(warmup_s),
    }
