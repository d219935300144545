"""Conservation invariants of the dynamic world over random small scenarios with failures (Hypothesis).

Each example takes a random scenario of `test_properties.raw_scenarios` (random DAGs, node groups, queue
disciplines, network, arrivals, policy and mode) and adds random node failures (four duration families for the times to
failure and repair, wall or busy clock, independent or correlated), link failures, scripted outages of nodes,
groups and links, a random ``on_failure``
with ``max_retries`` and backoff, and job timeouts, always with a horizon. Then:

* every job ends exactly once, as finished, failed, abandoned or unfinished, and a finished job has exactly one
  finished attempt per stage;
* no attempt runs (start to finish) on a node while the node is down;
* the attempts of one task (job, stage) never overlap in time (no stage has replicas here);
* with failures that never come before the horizon, the task and job tables are those of the same scenario
  without failures, bit for bit (the dynamics layer costs nothing it does not use).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import raw_scenarios

from simulator import parse_scenario, run
from simulator.simulation import RunResult

pytestmark = pytest.mark.property

JOB_END_STATES = {"finished", "failed", "abandoned", "unfinished"}
ON_FAILURE = ("redispatch", "resume", "restart")

# ----------------------------------------------------------------------------------------------------------
# Strategies


@st.composite
def durations(draw: st.DrawFn, low_s: float, high_s: float) -> dict[str, Any]:
    """A duration table of one of the documented families, with its mean in [low_s, high_s]."""
    mean_s = draw(st.floats(low_s, high_s))
    distribution = draw(st.sampled_from(("exponential", "deterministic", "lognormal", "weibull")))
    if distribution == "weibull":
        return {"distribution": "weibull", "shape": draw(st.sampled_from([0.7, 1.5, 3.0])), "scale_s": mean_s}
    if distribution == "lognormal":
        return {"distribution": "lognormal", "mean_s": mean_s, "cv": draw(st.floats(0.2, 1.5))}
    return {"distribution": distribution, "mean_s": mean_s}


@st.composite
def dynamic_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A random small scenario with failures, outages, recovery and timeouts added."""
    raw = draw(raw_scenarios())
    simulation = raw["simulation"]
    simulation["horizon_s"] = simulation.get("horizon_s") or draw(st.floats(5.0, 20.0))
    groups = list(raw["nodes"])
    for group in draw(st.lists(st.sampled_from(groups), min_size=1, unique=True)):
        raw["nodes"][group]["failures"] = {
            "time_to_failure": draw(durations(0.5, 8.0)),
            "time_to_repair": draw(durations(0.1, 3.0)),
            "clock": draw(st.sampled_from(("wall", "busy"))),
            "correlated": draw(st.booleans()),
        }
    for link in draw(st.lists(st.sampled_from(sorted(raw["network"]["links"])), unique=True, max_size=2)):
        raw["network"]["links"][link]["failures"] = {"time_to_failure": draw(durations(0.5, 8.0)),
                                                     "time_to_repair": draw(durations(0.1, 3.0))}
    counts = {group: raw["nodes"][group]["count"] for group in groups}
    members = [name for group, count in counts.items()
               for name in ([group] if count == 1 else [f"{group}-{index}" for index in range(count)])]
    outages = draw(st.lists(st.fixed_dictionaries({
        "target": st.sampled_from(members + groups + sorted(raw["network"]["links"])),
        "start_s": st.floats(0.0, 10.0),
        "duration_s": st.floats(0.1, 5.0),
    }), max_size=2))
    if outages:
        raw["outages"] = outages
    raw["recovery"] = {"on_failure": draw(st.sampled_from(ON_FAILURE)), "max_retries": draw(st.integers(0, 3)),
                       "backoff_s": draw(st.sampled_from([0.0, 0.1, 0.5])),
                       "backoff_factor": draw(st.sampled_from([1.0, 2.0]))}
    for application in raw["applications"].values():
        if draw(st.integers(0, 2)) == 0:
            application["timeout_s"] = draw(st.floats(0.5, 10.0))
    return raw


# ----------------------------------------------------------------------------------------------------------
# Checks


def down_intervals(result: RunResult) -> dict[int, list[tuple[float, float]]]:
    """Node index -> the periods (start_s, end_s) it was down (`RunResult.down_periods`; end NaN: still down at
    the end of the run, which then stands for it). Each scripted outage must lie inside one of them."""
    index = {name: position for position, name in enumerate(result.scenario.node_names)}
    end_of_run = result.summary["duration_s"]
    intervals: dict[int, list[tuple[float, float]]] = {}
    periods = result.down_periods[result.down_periods["component"] == "node"]
    for period in periods.itertuples(index=False):
        end = end_of_run if math.isnan(period.end_s) else period.end_s
        intervals.setdefault(index[period.name], []).append((period.start_s, end))
    for outage in result.scenario.outages:
        start, end = outage.start_s, min(outage.start_s + outage.duration_s, end_of_run)
        for node in outage.nodes if start < end_of_run else ():
            assert any(down_start <= start and end <= down_end for down_start, down_end in intervals[index[node]]), (
                f"node {node} is not recorded down during its outage [{start}, {end}]")
    return intervals


def check_jobs_end_once(result: RunResult) -> None:
    jobs, tasks = result.jobs, result.tasks
    assert list(jobs["job_id"]) == list(range(len(jobs))), "every job appears exactly once"
    states = jobs["state"].astype(str)
    assert set(states) <= JOB_END_STATES, set(states)
    assert np.array_equal((states == "finished").to_numpy(), jobs["finish_s"].notna().to_numpy())
    finished_rows = tasks[tasks["state"] == "finished"]
    per_job = finished_rows.groupby("job_id")["stage"].agg(["size", "nunique"])
    for job in jobs[states == "finished"].itertuples(index=False):
        n_stages = len(result.scenario.applications[str(job.application)].stages)
        assert tuple(per_job.loc[job.job_id]) == (n_stages, n_stages), f"job {job.job_id}: one finish per stage"
    assert set(finished_rows["job_id"]) <= set(jobs["job_id"])


def attempt_spans(result: RunResult) -> pd.DataFrame:
    """Every attempt that started: its start and its finish (the end of the run if it was still running)."""
    tasks = result.tasks
    started = tasks[tasks["start_s"].notna()].copy()
    started["until_s"] = started["finish_s"].fillna(result.summary["duration_s"])
    return started


def check_no_attempt_on_a_down_node(result: RunResult) -> None:
    spans = attempt_spans(result)
    for node, intervals in down_intervals(result).items():
        on_node = spans[spans["node_index"] == node]
        for down_start, down_end in intervals:
            inside = on_node[(on_node["start_s"] < down_end) & (on_node["until_s"] > down_start)]
            assert inside.empty, f"attempts ran on node {node} while it was down in [{down_start}, {down_end}]:\n" \
                                 f"{inside[['job_id', 'stage', 'state', 'start_s', 'finish_s']]}"


def check_attempts_never_overlap(result: RunResult) -> None:
    spans = attempt_spans(result).sort_values(["job_id", "stage", "start_s"], kind="stable")
    for (job_id, stage), attempts in spans.groupby(["job_id", "stage"], observed=True):
        starts, ends = attempts["start_s"].to_numpy(), attempts["until_s"].to_numpy()
        assert np.all(starts[1:] >= ends[:-1]), f"attempts of job {job_id} stage {stage} overlap:\n{attempts}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=dynamic_scenarios())
def test_conservation_under_failures(raw: dict[str, Any]) -> None:
    """Jobs end once, no attempt runs on a down node, attempts of a task never overlap (module docstring)."""
    result = run(parse_scenario(raw, source="property"))
    check_jobs_end_once(result)
    check_no_attempt_on_a_down_node(result)
    check_attempts_never_overlap(result)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_scenarios(), clock=st.sampled_from(("wall", "busy")),
       on_failure=st.sampled_from(ON_FAILURE))
def test_failures_beyond_the_horizon_change_nothing(raw: dict[str, Any], clock: str, on_failure: str) -> None:
    """With every time to failure beyond the horizon the task and job tables equal the static run's, bit for bit
    (docs/dynamics.md, "Attempts and records")."""
    raw["simulation"]["horizon_s"] = raw["simulation"].get("horizon_s") or 20.0
    static = run(parse_scenario(raw, source="static"))
    dynamic_raw = copy.deepcopy(raw)
    for table in dynamic_raw["nodes"].values():
        table["failures"] = {"time_to_failure": {"distribution": "deterministic", "mean_s": 1e6},
                             "time_to_repair": {"distribution": "exponential", "mean_s": 1.0}, "clock": clock}
    dynamic_raw["recovery"] = {"on_failure": on_failure}
    scenario = parse_scenario(dynamic_raw, source="dynamic")
    assert scenario.is_dynamic
    dynamic = run(scenario)
    pd.testing.assert_frame_equal(dynamic.tasks, static.tasks, check_exact=True)
    pd.testing.assert_frame_equal(dynamic.jobs, static.jobs, check_exact=True)
