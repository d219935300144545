"""Summary metrics of a run, computed from its tidy task and job tables.

Response time is per job, from arrival to the delivery of its last result, over completed jobs only (failed,
abandoned and unfinished jobs are counted apart). Jobs that arrive during the
warm-up period are left out; busy time, utilization and energy are measured over the window from the end of
warm-up to the end of the run, here and nowhere else. A metric that is undefined is NaN, and `explain_undefined`
says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import NodeSpec


def _is(column: pd.Series, value: str) -> np.ndarray:
    """A boolean mask of a categorical column equal to ``value``, compared on the integer codes."""
    return np.asarray(column.cat.codes.to_numpy() == column.cat.categories.get_loc(value))


def busy_slot_seconds(node_index: np.ndarray, start_s: np.ndarray, finish_s: np.ndarray, n_nodes: int,
                      window_start_s: float, window_end_s: float, slots: np.ndarray | None = None) -> np.ndarray:
    """Per node, the slot-seconds its service intervals spend inside the window; an interval still open
    (``finish_s`` NaN) counts until the window's end. ``slots``: how many slots each interval holds (None: one)."""
    finish = np.where(np.isnan(finish_s), window_end_s, finish_s).clip(window_start_s, window_end_s)
    start = start_s.clip(window_start_s, window_end_s)
    seconds = finish - start
    return np.bincount(node_index, weights=seconds if slots is None else seconds * slots, minlength=n_nodes)


def down_statistics(down_intervals: Mapping[int, Sequence[Sequence[float]]], n_nodes: int, window_start_s: float,
                    window_end_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node: seconds down inside the window, failures (down periods starting inside it) and the mean length
    of those of them that ended (the observed time to repair; NaN if none), from each node's down periods
    ``[start_s, end_s]`` (end NaN while still down)."""
    down_s = np.zeros(n_nodes)
    failures = np.zeros(n_nodes, dtype=np.int64)
    mttr_s = np.full(n_nodes, math.nan)
    for index, intervals in down_intervals.items():
        periods = np.array(intervals, dtype=float).reshape(-1, 2)
        start, end = periods[:, 0], periods[:, 1]
        clipped_end = np.where(np.isnan(end), window_end_s, end).clip(window_start_s, window_end_s)
        down_s[index] = float((clipped_end - start.clip(window_start_s, window_end_s)).sum())
        inside = (start >= window_start_s) & (start < window_end_s)
        failures[index] = int(inside.sum())
        repaired = inside & ~np.isnan(end)
        if repaired.any():
            mttr_s[index] = float((end[repaired] - start[repaired]).mean())
    return down_s, failures, mttr_s


def node_table(tasks: pd.DataFrame, nodes: Sequence[NodeSpec], window_start_s: float, window_end_s: float,
               slot_intervals: Mapping[int, Sequence[tuple[float, float]]] | None = None,
               task_slots: np.ndarray | None = None,
               down_intervals: Mapping[int, Sequence[Sequence[float]]] | None = None) -> pd.DataFrame:
    """One row per node: utilization, tasks completed, busy time, energy, availability, failures and observed
    time to repair over the measurement window.

    A node's busy time comes from its task rows, each holding one slot or ``task_slots[row]`` (the stage's
    demand) from its start to its finish, except for the nodes in ``slot_intervals`` (node index -> (start_s,
    finish_s) of each interval a slot was busy, finish NaN while it still is): a batch of ``b`` tasks holds one
    slot once, not ``b`` times, and under processor sharing or round robin a task shares slots or leaves its
    slot between quanta. Energy is linear in busy slots, from idle to busy power, and a node draws nothing while it
    is down (``down_intervals``: node index -> its down periods, see `down_statistics`). Availability is the
    fraction of the window the node is up.
    """
    duration = max(window_end_s - window_start_s, 0.0)
    start = tasks["start_s"].to_numpy()
    served = ~np.isnan(start)
    node_index = tasks["node_index"].to_numpy()
    if slot_intervals:
        served &= ~np.isin(node_index, list(slot_intervals))
    interval_nodes = [node_index[served]]
    interval_starts = [start[served]]
    interval_finishes = [tasks["finish_s"].to_numpy()[served]]
    interval_slots = [np.ones(int(served.sum())) if task_slots is None else task_slots[served]]
    for index, intervals in (slot_intervals or {}).items():
        interval = np.array(intervals, dtype=float).reshape(-1, 2)
        interval_nodes.append(np.full(len(interval), index))
        interval_starts.append(interval[:, 0])
        interval_finishes.append(interval[:, 1])
        interval_slots.append(np.ones(len(interval)))
    busy = busy_slot_seconds(np.concatenate(interval_nodes), np.concatenate(interval_starts),
                             np.concatenate(interval_finishes), len(nodes), window_start_s, window_end_s,
                             np.concatenate(interval_slots))
    slots = np.array([node.slots for node in nodes], dtype=float)
    idle_w = np.array([node.idle_power_w for node in nodes])
    busy_w = np.array([node.busy_power_w for node in nodes])
    finished = _is(tasks["state"], "finished") & (tasks["finish_s"].to_numpy() >= window_start_s)
    completed = np.bincount(node_index[finished], minlength=len(nodes))
    utilization = busy / (slots * duration) if duration > 0 else np.zeros(len(nodes))
    down_s, failures, mttr_s = down_statistics(down_intervals or {}, len(nodes), window_start_s, window_end_s)
    return pd.DataFrame({
        "node": [node.name for node in nodes],
        "kind": [node.kind for node in nodes],
        "slots": slots.astype(int),
        "tasks_completed": completed,
        "busy_slot_s": busy,
        "utilization": utilization,
        "energy_j": idle_w * (duration - down_s) + (busy_w - idle_w) * busy / slots,
        "availability": 1.0 - down_s / duration if duration > 0 else np.ones(len(nodes)),
        "failures": failures,
        "mttr_s": mttr_s,
    })


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def summarize(tasks: pd.DataFrame, jobs: pd.DataFrame, nodes: pd.DataFrame, bytes_transferred: float,
              warmup_s: float, end_s: float, retries: int = 0, failed_service_wasted: bool = True,
              link_failures: int = 0, failed_transfers: int = 0, steals: int = 0,
              replicas_cancelled: int = 0) -> dict[str, Any]:
    """The run's summary metrics (see the module docstring for the measurement window).

    Response-time statistics are over completed jobs only; ``completion_rate`` (completed / arrived) and
    ``stability`` (1 - (failed + abandoned) / arrived; jobs still in the system count as neither) say how many
    jobs that is. ``wasted_work_s``: service received by attempts that did not finish (cancelled ones, and failed
    ones when ``failed_service_wasted``: not under resume, where the work is kept). ``retries`` (over the whole
    run), ``link_failures``, ``failed_transfers``, ``steals`` (migrations a work-stealing node made) and
    ``replicas_cancelled`` (redundant attempts that lost their race) are counted by the run's dynamics and network.
    """
    measured = jobs["arrival_s"].to_numpy() >= warmup_s
    arrived = int(measured.sum())
    done = measured & _is(jobs["state"], "finished")
    jobs_failed = int((measured & _is(jobs["state"], "failed")).sum())
    jobs_abandoned = int((measured & _is(jobs["state"], "abandoned")).sum())
    measured_rows = tasks["arrival_s"].to_numpy() >= warmup_s
    service = tasks["service_s"].to_numpy()
    wasted = measured_rows & _is(tasks["state"], "cancelled") & ~np.isnan(service)
    if failed_service_wasted:
        wasted |= measured_rows & _is(tasks["state"], "failed")
    mttr = nodes["mttr_s"].to_numpy()
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
        "jobs_unfinished": int((measured & _is(jobs["state"], "unfinished")).sum()),
        "jobs_failed": jobs_failed,
        "jobs_abandoned": jobs_abandoned,
        "completion_rate": jobs_completed / arrived if arrived else math.nan,
        "stability": 1.0 - (jobs_failed + jobs_abandoned) / arrived if arrived else math.nan,
        "retries": int(retries),
        "migrations": int((measured_rows & _is(tasks["state"], "moved")).sum()),
        "steals": int(steals),
        "replicas_cancelled": int(replicas_cancelled),
        "wasted_work_s": float(service[wasted].sum()),
        "node_failures": int(nodes["failures"].sum()),
        "availability_mean": _mean(nodes["availability"].to_numpy()),
        "mttr_mean_s": float(np.nanmean(mttr)) if (~np.isnan(mttr)).any() else math.nan,
        "link_failures": int(link_failures),
        "failed_transfers": int(failed_transfers),
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


_NO_DEADLINE = "no measured job has a deadline (applications.NAME.deadline_s)"
_NO_REPAIR = "no node failed and was repaired in the measured window"
_EXPECTED = (_NO_DEADLINE, _NO_REPAIR)
"""Reasons that describe the scenario, not a problem with the run: not warned about."""
_UNDEFINED_BECAUSE = (
    ("slo_attainment", _NO_DEADLINE),
    ("mttr_mean_s", _NO_REPAIR),
    ("completion_rate stability", "no job arrived after simulation.warmup_s"),
    ("load_cv jain_fairness", "no node was busy in the measured window"),
    ("throughput_per_s", "the measured window (simulation.warmup_s to the end of the run) is empty"),
    ("accuracy_mean", "no job that arrived after simulation.warmup_s and ran a stage with model variants finished"),
)


def explain_undefined(summary: Mapping[str, Any], scenario_path: str) -> tuple[dict[str, str], list[str]]:
    """Why each summary metric that is not a finite number is undefined, so that no NaN goes unexplained.

    Returns:
        The reason per metric, and warnings (naming ``scenario_path``) for those that signal a problem with the
        run; a scenario without deadlines has no SLO attainment, and one without repairs no time to repair, which
        is expected and not warned about.
    """
    odd = {key for key, value in summary.items()
           if isinstance(value, float) and not math.isfinite(value) and key != "wall_s"}
    nothing_finished = ("no job that arrived after simulation.warmup_s finished within the run"
                        if summary.get("jobs_completed", 0) == 0 else "too few measured jobs or tasks")
    reasons: dict[str, str] = {}
    for keys, reason in _UNDEFINED_BECAUSE:
        reasons.update((key, reason) for key in keys.split() if key in odd)
    reasons.update((key, nothing_finished) for key in sorted(odd) if key not in reasons)
    by_reason: dict[str, list[str]] = {}
    for key, reason in reasons.items():
        if reason not in _EXPECTED:
            by_reason.setdefault(reason, []).append(key)
    warnings = [f"{scenario_path}: {', '.join(keys)} undefined: {reason}" for reason, keys in by_reason.items()]
    return reasons, warnings
