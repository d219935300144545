"""Busy time, utilization and energy of nodes, and the reasons for undefined metrics, worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simulator.config import NodeSpec
from simulator.metrics import busy_slot_seconds, explain_undefined, node_table
from simulator.recorder import TASK_STATES

pytestmark = pytest.mark.unit


def tasks(rows: list[tuple[int, float, float, str]]) -> pd.DataFrame:
    """A task table with the columns the node table reads: (node index, start, finish, state) per task."""
    node, start, finish, state = zip(*rows, strict=True)
    return pd.DataFrame({
        "node_index": np.array(node, dtype=np.int64),
        "start_s": np.array(start, dtype=float),
        "finish_s": np.array(finish, dtype=float),
        "state": pd.Categorical(state, categories=TASK_STATES),
    })


def test_busy_slot_seconds_clips_intervals_to_the_window_and_runs_open_ones_to_its_end() -> None:
    """Window 1 .. 5 s. Node 0: [0, 2] counts 1 s, [4.5, NaN] (still running) counts 0.5 s; node 1: [6, 7]
    lies after the window (0 s) and [2, 3] counts 1 s; node 2 has nothing."""
    busy = busy_slot_seconds(np.array([0, 0, 1, 1]), np.array([0.0, 4.5, 6.0, 2.0]),
                             np.array([2.0, math.nan, 7.0, 3.0]), 3, 1.0, 5.0)
    np.testing.assert_array_equal(busy, [1.5, 1.0, 0.0])


def test_node_table_energy_is_idle_power_plus_the_busy_share_of_the_extra_power() -> None:
    """Two slots, 10 W idle, 30 W busy, window 0 .. 4 s, tasks busy 1 s and 3 s (one still running at the
    end): busy 4 slot-s, utilization 4 / (2 x 4) = 0.5, energy 10 W x 4 s + 20 W x 4 slot-s / 2 slots = 80 J."""
    node = NodeSpec(name="n", kind="k", group="n", slots=2, idle_power_w=10.0, busy_power_w=30.0)
    table = node_table(tasks([(0, 0.0, 1.0, "finished"), (0, 1.0, math.nan, "running")]), [node], 0.0, 4.0)
    row = table.iloc[0]
    assert (row["busy_slot_s"], row["utilization"], row["energy_j"], row["tasks_completed"]) == (4.0, 0.5, 80.0, 1)


def test_node_table_counts_a_batch_once_not_once_per_task() -> None:
    """Node 0 served three tasks in one batch from 1 to 3 s and has a second batch running since 4 s; the
    window is 0 .. 5 s. From its batches: busy 2 + 1 = 3 slot-s (its task rows would say 3 x 2 + 1 = 7);
    energy 0 W idle + 100 W x 3 s = 300 J. Node 1 does not batch: its busy time comes from its task row."""
    nodes = [NodeSpec(name="server", kind="k", group="server", busy_power_w=100.0, max_batch_size=4),
             NodeSpec(name="plain", kind="k", group="plain")]
    table = node_table(
        tasks([(0, 1.0, 3.0, "finished")] * 3 + [(0, 4.0, math.nan, "running"), (1, 0.5, 1.0, "finished")]),
        nodes, 0.0, 5.0, slot_intervals={0: [(1.0, 3.0), (4.0, math.nan)]})
    np.testing.assert_array_equal(table["busy_slot_s"], [3.0, 0.5])
    np.testing.assert_array_equal(table["utilization"], [3.0 / 5.0, 0.5 / 5.0])
    np.testing.assert_array_equal(table["energy_j"], [300.0, 0.0])
    np.testing.assert_array_equal(table["tasks_completed"], [3, 1])


def test_node_table_of_a_batching_node_without_batches_is_idle() -> None:
    node = NodeSpec(name="server", kind="k", group="server", idle_power_w=5.0, max_batch_size=4)
    table = node_table(tasks([(0, 1.0, math.nan, "running")]), [node], 0.0, 2.0, slot_intervals={0: []})
    assert (table.loc[0, "busy_slot_s"], table.loc[0, "energy_j"]) == (0.0, 10.0)


def test_explain_undefined_names_each_nan_metric_and_warns_only_about_problems() -> None:
    """No deadline is expected (no warning); an idle system and an empty window are problems (warned)."""
    summary = {"jobs_completed": 0, "slo_attainment": math.nan, "load_cv": math.nan, "jain_fairness": math.nan,
               "response_time_mean_s": math.nan, "utilization_mean": 0.0, "wall_s": math.nan}
    reasons, warnings = explain_undefined(summary, "s.toml")
    assert reasons == {
        "slo_attainment": "no measured job has a deadline (applications.NAME.deadline_s)",
        "load_cv": "no node was busy in the measured window",
        "jain_fairness": "no node was busy in the measured window",
        "response_time_mean_s": "no job that arrived after simulation.warmup_s finished within the run",
    }
    assert warnings == [
        "s.toml: load_cv, jain_fairness undefined: no node was busy in the measured window",
        "s.toml: response_time_mean_s undefined: no job that arrived after simulation.warmup_s finished within "
        "the run",
    ]
