"""Records of a dynamic run: zero cost when nothing happens (the tables equal a static run's, bit for bit), down
periods, and the summary's dynamic metrics in a static run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simulator.config import load_scenario
from simulator.simulation import run

pytestmark = pytest.mark.unit

QUIET = {"simulation.max_jobs": 300, "simulation.horizon_s": 400.0, "simulation.warmup_s": 0.0}
NEVER = {"distribution": "deterministic", "mean_s": 1e9}


@pytest.mark.parametrize("mode", ["immediate", "batch"])
def test_a_dynamic_run_where_nothing_happens_records_the_static_tables_bit_for_bit(mode):
    """Failure processes (wall and busy clock) whose first failure lies beyond the horizon, an outage after it and a
    timeout no job reaches build the whole dynamics layer, yet the task and job tables equal a run without it."""
    base = {**QUIET, "policy.mode": mode, "policy.batch_interval_s": 0.5}
    static = load_scenario("demo_edge_cloud", base)
    dynamic = load_scenario("demo_edge_cloud", {
        **base,
        "nodes.edge.failures": {"time_to_failure": NEVER, "time_to_repair": NEVER},
        "nodes.camera.failures": {"time_to_failure": NEVER, "time_to_repair": NEVER, "clock": "busy"},
        "network.links.wan.failures": {"time_to_failure": NEVER, "time_to_repair": NEVER},
        "outages": [{"target": "cloud", "start_s": 500.0, "duration_s": 1.0}],
        "applications.avsr.timeout_s": 1e6,
    })
    assert dynamic.is_dynamic and not static.is_dynamic
    policy = "min_completion_time"
    expected, actual = run(static, policy), run(dynamic, policy)
    assert len(expected.tasks) > 1000
    pd.testing.assert_frame_equal(actual.tasks, expected.tasks)
    pd.testing.assert_frame_equal(actual.jobs, expected.jobs)
    pd.testing.assert_frame_equal(actual.nodes, expected.nodes)


def test_a_static_run_reports_the_dynamic_metrics_as_nothing_happened():
    """No failure: nothing failed, was abandoned, retried, moved or wasted; every node always up; no repair observed
    (MTTR undefined, explained, and not warned about)."""
    result = run(load_scenario("demo_edge_cloud", {"simulation.max_jobs": 100, "simulation.warmup_s": 0.0}))
    summary = result.summary
    assert (summary["jobs_failed"], summary["jobs_abandoned"], summary["retries"], summary["migrations"]) == (0,) * 4
    assert (summary["wasted_work_s"], summary["node_failures"], summary["link_failures"]) == (0.0, 0, 0)
    assert summary["availability_mean"] == 1.0 and summary["stability"] == 1.0
    assert summary["completion_rate"] == summary["jobs_completed"] / (summary["jobs_completed"]
                                                                       + summary["jobs_unfinished"])
    assert math.isnan(summary["mttr_mean_s"]) and "mttr_mean_s" in summary["undefined_metrics"]
    assert not any("mttr" in warning for warning in summary["warnings"])
    assert (result.nodes["availability"] == 1.0).all() and (result.nodes["failures"] == 0).all()


def test_no_task_runs_on_a_node_while_it_is_down():
    """Exponential failures of the edge servers and an outage of a cloud server: every task row's service interval
    (start to finish) lies outside its node's down periods, and every node's down time shows in its availability."""
    scenario = load_scenario("demo_edge_cloud", {
        "simulation.max_jobs": 400, "simulation.horizon_s": 300.0, "simulation.warmup_s": 0.0,
        "nodes.edge.failures": {"time_to_failure": {"distribution": "exponential", "mean_s": 20.0},
                                "time_to_repair": {"distribution": "exponential", "mean_s": 5.0}},
        "outages": [{"target": "cloud-1", "start_s": 50.0, "duration_s": 30.0}],
        "recovery.on_failure": "resume",
    })
    result = run(scenario, "least_loaded")  # it spreads work over the edge servers, so failures interrupt some
    down = result.down_periods
    assert set(down["component"]) == {"node"} and len(down) > 5
    tasks = result.tasks[~np.isnan(result.tasks["start_s"])]
    for period in down.itertuples():
        on_node = tasks[tasks["node"] == period.name]
        end = period.end_s if not math.isnan(period.end_s) else math.inf
        overlap = (on_node["start_s"] < end) & (on_node["finish_s"].fillna(math.inf) > period.start_s)
        assert not overlap.any(), on_node[overlap]
    availability = result.nodes.set_index("node")["availability"]
    assert availability["cloud-1"] == pytest.approx(1 - 30.0 / 300.0)
    assert (result.tasks["state"] == "failed").any() and result.summary["node_failures"] == len(down)
