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

from simulator.scenario import NodeSpec


def busy_slot_seconds(tasks: pd.DataFrame, n_nodes: int, window_start_s: float, window_end_s: float) -> np.ndarray:
    """Per node, the slot-seconds spent serving tasks inside the window (running tasks count until its end)."""
    started = tasks[tasks["start_s"].notna()]
    start = started["start_s"].to_numpy().clip(window_start_s, window_end_s)
    finish = started["finish_s"].fillna(window_end_s).to_numpy().clip(window_start_s, window_end_s)
    return np.bincount(started["node_index"].to_numpy(), weights=finish - start, minlength=n_nodes)


def node_table(tasks: pd.DataFrame, nodes: Sequence[NodeSpec], window_start_s: float,
               window_end_s: float) -> pd.DataFrame:
    """One row per node: utilization, tasks completed, busy time and energy over the measurement window."""
    duration = max(window_end_s - window_start_s, 0.0)
    busy = busy_slot_seconds(tasks, len(nodes), window_start_s, window_end_s)
    slots = np.array([node.slots for node in nodes], dtype=float)
    idle_w = np.array([node.idle_power_w for node in nodes])
    busy_w = np.array([node.busy_power_w for node in nodes])
    finished = tasks[(tasks["state"] == "finished") & (tasks["finish_s"] >= window_start_s)]
    completed = np.bincount(finished["node_index"].to_numpy(), minlength=len(nodes))
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


def _percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else math.nan


def summarize(tasks: pd.DataFrame, jobs: pd.DataFrame, nodes: pd.DataFrame, bytes_transferred: float,
              warmup_s: float, end_s: float) -> dict[str, Any]:
    """The run's summary metrics (see the module docstring for the measurement window)."""
    measured = jobs[jobs["arrival_s"] >= warmup_s]
    done = measured[measured["state"] == "finished"]
    response = done["response_s"].to_numpy()
    utilization = nodes["utilization"].to_numpy()
    mean_utilization = float(utilization.mean()) if len(utilization) else math.nan
    square_sum = float((utilization ** 2).sum())
    with_deadline = measured[np.isfinite(measured["deadline_s"].to_numpy())]
    window = end_s - warmup_s
    measured_tasks = tasks[(tasks["arrival_s"] >= warmup_s) & (tasks["state"] == "finished")]
    return {
        "tasks_completed": int(measured_tasks.shape[0]),
        "jobs_completed": int(done.shape[0]),
        "jobs_unfinished": int(measured.shape[0] - done.shape[0]),
        "response_time_mean_s": float(response.mean()) if len(response) else math.nan,
        "response_time_p50_s": _percentile(response, 50),
        "response_time_p95_s": _percentile(response, 95),
        "response_time_p99_s": _percentile(response, 99),
        "response_time_max_s": float(response.max()) if len(response) else math.nan,
        "wait_time_mean_s": float(measured_tasks["wait_s"].mean()) if len(measured_tasks) else math.nan,
        "transfer_time_mean_s": float(measured_tasks["transfer_s"].mean()) if len(measured_tasks) else math.nan,
        "makespan_s": float(jobs["finish_s"].max()) if jobs["finish_s"].notna().any() else math.nan,
        "throughput_per_s": done.shape[0] / window if window > 0 else math.nan,
        "utilization_mean": mean_utilization,
        "utilization_by_node": dict(zip(nodes["node"], map(float, utilization), strict=True)),
        "load_variance": float(utilization.var()) if len(utilization) else math.nan,
        "load_cv": float(utilization.std() / mean_utilization) if mean_utilization > 0 else math.nan,
        "jain_fairness": (float(utilization.sum()) ** 2 / (len(utilization) * square_sum)
                          if square_sum > 0 else math.nan),
        "slo_attainment": (float(with_deadline["deadline_met"].mean()) if len(with_deadline) else math.nan),
        "energy_j": float(nodes["energy_j"].sum()),
        "bytes_transferred": float(bytes_transferred),
        "duration_s": float(end_s),
        "warmup_s": float(warmup_s),
    }
