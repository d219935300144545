"""Asynchronous joins in a dynamic world (`simulator.joins`, docs/dynamics.md "Asynchronous joins"): late work lost to
a failure is not retried, needed work is, timeouts and ended jobs cancel late work, replicas and moves of a
partial-join stage take the inputs that released it, and the records stay consistent under random failures.

Hand-computed cases use `test_joins.scenario_dict`: one node per stage named after it, deterministic service,
zero-latency links, the first job arriving at 10 s.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_joins import scenario_dict
from test_properties import raw_scenarios
from test_properties_failures import (
    check_attempts_never_overlap,
    check_no_attempt_on_a_down_node,
    dynamic_scenarios,
)

from simulator import parse_scenario, run
from simulator.cli import main
from simulator.simulation import RunResult

LIVE_STATES = {"finished", "running", "queued", "transferring", "pending"}
"""Task row states of a stage's current attempt (the others end an attempt that did not finish)."""


def fork(times: dict[str, float], join: Any, outages: list[dict[str, Any]], on_failure: str = "redispatch",
         max_retries: int = 3, timeout_s: float | None = None, branches: tuple[str, ...] = ("x", "y"),
         jobs: int = 1) -> RunResult:
    """Branches ``branches`` (each on its own node) feed z with ``join``; scripted outages; round robin."""
    raw = scenario_dict(times, {"z": list(branches)}, {"z": join} if join != "all" else {}, jobs=jobs, gap_s=10.0,
                        horizon_s=100.0)
    raw["outages"] = outages
    raw["recovery"] = {"on_failure": on_failure, "max_retries": max_retries}
    if timeout_s is not None:
        raw["applications"]["app"]["timeout_s"] = timeout_s
    return run(parse_scenario(raw, source="s.toml"), "round_robin")


def rows(result: RunResult) -> list[tuple[str, str, float, float, float, float]]:
    """(stage, state, dispatch, ready, start, finish) of every task row, sorted."""
    frame = result.tasks
    return sorted(zip(frame["stage"].astype(str), frame["state"].astype(str), frame["dispatch_s"], frame["ready_s"],
                      frame["start_s"], frame["finish_s"], strict=True))


# -- hand-computed cases: x 1 s and y 3 s feed z (1 s) with join "any"; the job arrives at 10 s -------------------

def test_a_late_predecessor_lost_under_redispatch_is_not_retried():
    """z is released at 11 s (x); y's node fails at 12 s while y (late) runs: its attempt is a failed row and y
    stops there (no retry, no late input); the job completes at 12 s."""
    result = fork({"x": 1.0, "y": 3.0, "z": 1.0}, "any", [{"target": "y", "start_s": 12.0, "duration_s": 5.0}])
    assert rows(result) == [("x", "finished", 10.0, 10.0, 10.0, 11.0), ("y", "failed", 10.0, 10.0, 10.0, 12.0),
                            ("z", "finished", 11.0, 11.0, 11.0, 12.0)]
    assert list(result.jobs["state"]) == ["finished"] and list(result.jobs["response_s"]) == [2.0]
    assert (result.summary["retries"], result.summary["late_inputs"], result.summary["wasted_work_s"]) == (0, 0, 2.0)


def test_a_needed_predecessor_lost_is_retried_and_becomes_a_late_input():
    """x's node is down 10.5-11.5 s: x (needed: z not released) fails, its retry waits for the repair and runs
    11.5-12.5 s, so z runs 12.5-13.5 s; y finishes at 13 s after z's release: one late input, one retry."""
    result = fork({"x": 1.0, "y": 3.0, "z": 1.0}, "any", [{"target": "x", "start_s": 10.5, "duration_s": 1.0}])
    assert rows(result) == [("x", "failed", 10.0, 10.0, 10.0, 10.5), ("x", "finished", 10.5, 11.5, 11.5, 12.5),
                            ("y", "finished", 10.0, 10.0, 10.0, 13.0), ("z", "finished", 12.5, 12.5, 12.5, 13.5)]
    assert list(result.jobs["response_s"]) == [3.5] and list(result.jobs["late_inputs"]) == [1]
    assert result.summary["retries"] == 1


def test_a_resumed_late_predecessor_continues_after_completion_and_counts_once():
    """resume: y's node is down 12-13 s; y continues (not a retry) 13-14 s after its job completed at 12 s; its
    output is the one late input."""
    result = fork({"x": 1.0, "y": 3.0, "z": 1.0}, "any", [{"target": "y", "start_s": 12.0, "duration_s": 1.0}],
                  on_failure="resume")
    assert rows(result) == [("x", "finished", 10.0, 10.0, 10.0, 11.0), ("y", "failed", 10.0, 10.0, 10.0, 12.0),
                            ("y", "finished", 12.0, 12.0, 13.0, 14.0), ("z", "finished", 11.0, 11.0, 11.0, 12.0)]
    assert list(result.jobs["response_s"]) == [2.0] and list(result.jobs["late_inputs"]) == [1]


@pytest.mark.parametrize("on_failure", ["redispatch", "restart"])
def test_late_work_of_a_completed_job_lost_past_max_retries_does_not_fail_the_job(on_failure: str):
    """max_retries = 0: a retry would fail the job. y's node fails at 12.5 s, after the job completed at 12 s:
    y is late, so it is not retried, the job stays finished and nothing is counted."""
    result = fork({"x": 1.0, "y": 3.0, "z": 1.0}, "any", [{"target": "y", "start_s": 12.5, "duration_s": 1.0}],
                  on_failure=on_failure, max_retries=0)
    assert rows(result) == [("x", "finished", 10.0, 10.0, 10.0, 11.0), ("y", "failed", 10.0, 10.0, 10.0, 12.5),
                            ("z", "finished", 11.0, 11.0, 11.0, 12.0)]
    assert list(result.jobs["state"]) == ["finished"]
    assert (result.summary["jobs_failed"], result.summary["retries"], result.summary["late_inputs"]) == (0, 0, 0)


def test_two_late_attempts_of_a_completed_job_lost_on_one_node_end_there_once():
    """y and w (3 s each) share node y's two slots; the job completes at 12 s through x; y's node fails at 12.5 s
    with both running: both are late, each is one failed row, and the job (settled once, after both) stays finished.
    (A regression: the job used to be settled after the first, its task list cleared under the second.)"""
    raw = scenario_dict({"x": 1.0, "y": 3.0, "w": 3.0, "z": 1.0}, {"z": ["x", "y", "w"]}, {"z": "any"}, jobs=1,
                        gap_s=10.0, horizon_s=100.0)
    del raw["nodes"]["w"], raw["network"]["links"]["w-hub"]
    raw["nodes"]["y"]["slots"] = 2
    raw["models"]["m_w"]["devices"] = {"k_y": 3.0}
    raw["outages"] = [{"target": "y", "start_s": 12.5, "duration_s": 1.0}]
    raw["recovery"] = {"on_failure": "redispatch", "max_retries": 0}
    result = run(parse_scenario(raw, source="s.toml"), "round_robin")
    assert rows(result) == [("w", "failed", 10.0, 10.0, 10.0, 12.5), ("x", "finished", 10.0, 10.0, 10.0, 11.0),
                            ("y", "failed", 10.0, 10.0, 10.0, 12.5), ("z", "finished", 11.0, 11.0, 11.0, 12.0)]
    assert list(result.jobs["state"]) == ["finished"] and list(result.jobs["response_s"]) == [2.0]
    assert (result.summary["retries"], result.summary["late_inputs"]) == (0, 0)


def test_a_needed_predecessor_past_max_retries_fails_its_job_and_cancels_the_late_work():
    """max_retries = 0 and x's node fails at 10.5 s before z was released: x is needed, its retry fails the job,
    y (running) is cancelled; no late input."""
    result = fork({"x": 1.0, "y": 3.0, "z": 1.0}, "any", [{"target": "x", "start_s": 10.5, "duration_s": 1.0}],
                  max_retries=0)
    assert rows(result) == [("x", "failed", 10.0, 10.0, 10.0, 10.5), ("y", "cancelled", 10.0, 10.0, 10.0, 10.5)]
    assert list(result.jobs["state"]) == ["failed"] and list(result.jobs["late_inputs"]) == [0]


def test_a_timeout_abandons_a_job_not_complete_with_its_late_work_but_spares_a_completed_one():
    """timeout 1.5 s: at 11.5 s the job (z running, y running) is abandoned, both cancelled. timeout 2.5 s: the job
    completed at 12 s, so its late y runs on to 13 s and counts."""
    abandoned = fork({"x": 1.0, "y": 3.0, "z": 1.0}, "any", [{"target": "x", "start_s": 90.0, "duration_s": 1.0}],
                     timeout_s=1.5)
    assert rows(abandoned) == [("x", "finished", 10.0, 10.0, 10.0, 11.0), ("y", "cancelled", 10.0, 10.0, 10.0, 11.5),
                               ("z", "cancelled", 11.0, 11.0, 11.0, 11.5)]
    assert list(abandoned.jobs["state"]) == ["abandoned"]
    spared = fork({"x": 1.0, "y": 3.0, "z": 1.0}, "any", [{"target": "x", "start_s": 90.0, "duration_s": 1.0}],
                  timeout_s=2.5)
    assert rows(spared) == [("x", "finished", 10.0, 10.0, 10.0, 11.0), ("y", "finished", 10.0, 10.0, 10.0, 13.0),
                            ("z", "finished", 11.0, 11.0, 11.0, 12.0)]
    assert list(spared.jobs["state"]) == ["finished"] and list(spared.jobs["late_inputs"]) == [1]


def test_a_retried_partial_join_stage_takes_the_inputs_that_released_it():
    """x 1 s, y 3 s feed z (2 s) with "any"; outputs of 1 MB cross z's 1 MB/s link in 1 s. z runs 12-14 s and its
    node fails at 13 s; the retry (after a 0.5 s backoff, then waiting for the repair at 14 s) takes x's output
    only, not the late y's (finished at 13 s): it runs 15-17 s, and 2 MB crossed the network in all."""
    raw = scenario_dict({"x": 1.0, "y": 3.0, "z": 2.0}, {"z": ["x", "y"]}, {"z": "any"}, gap_s=10.0,
                        horizon_s=100.0)
    for stage in ("x", "y"):
        raw["applications"]["app"]["stages"][stage]["output_bytes"] = 1e6
    raw["network"]["links"]["z-hub"]["bandwidth_bytes_per_s"] = 1e6
    raw["outages"] = [{"target": "z", "start_s": 13.0, "duration_s": 1.0}]
    raw["recovery"] = {"on_failure": "redispatch", "backoff_s": 0.5}
    result = run(parse_scenario(raw), "round_robin")
    z_rows = [row for row in rows(result) if row[0] == "z"]
    assert z_rows == [("z", "failed", 11.0, 12.0, 12.0, 13.0), ("z", "finished", 13.5, 15.0, 15.0, 17.0)]
    assert result.summary["bytes_transferred"] == 2e6
    assert list(result.jobs["late_inputs"]) == [1] and list(result.jobs["response_s"]) == [7.0]


def test_a_replicated_late_predecessor_races_and_counts_once():
    """y (3 s) runs as 2 replicas on y and y2, z waits for "any" of x and y: y2's node fails at 11.5 s (a sibling
    still races: not replaced), y on its node wins at 13 s after the job completed at 12 s: one late input, one
    failed row, no retry."""
    raw = scenario_dict({"x": 1.0, "y": 3.0, "z": 1.0}, {"z": ["x", "y"]}, {"z": "any"}, gap_s=10.0,
                       horizon_s=100.0)
    raw["nodes"]["y2"] = {"kind": "k_y"}
    raw["network"]["links"]["y2-hub"] = {"endpoints": ["y2", "hub"], "latency_s": 0.0, "bandwidth_bytes_per_s": 1e9}
    raw["applications"]["app"]["stages"]["y"]["replicas"] = 2
    raw["outages"] = [{"target": "y2", "start_s": 11.5, "duration_s": 1.0}]
    result = run(parse_scenario(raw), "round_robin")
    y_rows = sorted(zip(result.tasks["stage"].astype(str), result.tasks["node"].astype(str),
                        result.tasks["state"].astype(str), strict=True))
    assert [row for row in y_rows if row[0] == "y"] == [("y", "y", "finished"), ("y", "y2", "failed")]
    assert list(result.jobs["late_inputs"]) == [1] and list(result.jobs["response_s"]) == [2.0]
    assert (result.summary["retries"], result.summary["replicas_cancelled"]) == (0, 0)


def test_validate_accepts_a_join_in_a_dynamic_scenario_and_lists_it(capsys):
    """The refusal is gone: `validate` of the fuzz corpus's dynamic scenario (failures, outages, timeouts,
    rebalancing, stealing, replicas) with a join says OK and names the join."""
    assert main(["validate", "tests/fuzz_corpus/features.toml"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "asynchronous joins: inspect.report (any of 2)" in out and "failure processes" in out


# -- validation: an any-join over failing branches -------------------------------------------------------------

@pytest.mark.parametrize(("join", "response_s", "late_inputs"), [("any", 2.0, 2), (2, 2.5, 1), ("all", 12.5, 0)])
def test_a_k_of_n_join_over_branches_with_a_failing_node_completes_at_the_kth_branch(join: Any, response_s: float,
                                                                                      late_inputs: int):
    """Three branches a (1 s), b (2 s), c (1.5 s) feed z (0.5 s); a's node is down 10.5-21 s, so a's retry ends
    at 22 s: the branches complete 12 s, 2 s and 1.5 s after arrival. A k-of-n join completes at the k-th
    smallest branch completion time (the k-th order statistic; David and Nagaraja, Order Statistics, 2003) plus
    z's service: any 1.5 + 0.5, 2-of-3 2 + 0.5, all 12 + 0.5. The failure delays only the all-join; the other
    branches' outputs after the release are late inputs."""
    result = fork({"a": 1.0, "b": 2.0, "c": 1.5, "z": 0.5}, join,
                  [{"target": "a", "start_s": 10.5, "duration_s": 10.5}], branches=("a", "b", "c"))
    assert list(result.jobs["state"]) == ["finished"]
    assert list(result.jobs["response_s"]) == [response_s]
    late = int(result.jobs["late_inputs"].sum()) if "late_inputs" in result.jobs else 0
    assert late == late_inputs


# -- properties over random dynamic scenarios with joins ---------------------------------------------------------

def add_joins(draw: st.DrawFn, raw: dict[str, Any]) -> None:
    """Give every stage with two or more predecessors, most of the time, a random join ("any" or k)."""
    for application in raw["applications"].values():
        for stage in application["stages"].values():
            after = stage.get("after", [])
            if len(after) >= 2 and draw(st.integers(0, 3)) > 0:
                stage["join"] = draw(st.sampled_from(["any", *range(1, len(after) + 1)]))


@st.composite
def dynamic_join_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """`test_properties_failures.dynamic_scenarios` with joins, and now and then replicas, rebalancing and work
    stealing."""
    raw = draw(dynamic_scenarios())
    add_joins(draw, raw)
    if draw(st.integers(0, 3)) == 0:
        raw["rebalancing"] = {"trigger": "periodic", "interval_s": draw(st.sampled_from([0.5, 2.0])),
                              "window_s": 2.0, "max_moves": 2}
    if draw(st.booleans()):
        raw["work_stealing"] = {"enabled": True}
    if draw(st.booleans()):
        application = raw["applications"][draw(st.sampled_from(sorted(raw["applications"])))]
        stage = application["stages"][draw(st.sampled_from(sorted(application["stages"])))]
        stage["replicas"] = 2
    return raw


def check_join_records(result: RunResult) -> None:
    """Jobs: each once, arrived = completed + failed + abandoned + in the system. Task rows: each attempt once (no
    two rows of a stage share a node and start, no row twice but those of unplaced replicas cancelled together), at
    most one current attempt and one finish per (job, stage), a finished job's exits finished. Late inputs: at most
    sum over its partial joins of (predecessors - k) per job."""
    jobs, tasks, summary = result.jobs, result.tasks, result.summary
    assert list(jobs["job_id"]) == list(range(len(jobs)))
    states = jobs["state"].astype(str).value_counts()
    assert sum(states.get(state, 0) for state in ("finished", "failed", "abandoned", "unfinished")) == len(jobs)
    measured = jobs[jobs["arrival_s"] >= result.scenario.simulation.warmup_s]
    assert summary["jobs_completed"] + summary["jobs_failed"] + summary["jobs_abandoned"] + \
        summary["jobs_unfinished"] == len(measured)
    twice = tasks[tasks.duplicated(keep=False)]
    # the one legitimate pair of identical rows: replicas of a stage both cancelled before any node took them
    # (no node, no times: distinct attempts whose rows cannot differ)
    replicated = {(app.name, stage.name) for app in result.scenario.applications.values()
                  for stage in app.stages if stage.replicas > 1}
    assert all(row.state == "cancelled" and pd.isna(row.node) and (str(row.application), str(row.stage)) in replicated
               for row in twice.itertuples(index=False)), "a task row written twice"
    started = tasks[tasks["start_s"].notna()]
    assert not started.duplicated(["job_id", "stage", "node", "start_s"]).any(), "an attempt recorded twice"
    current = tasks[tasks["state"].astype(str).isin(LIVE_STATES)]
    assert not current.duplicated(["job_id", "stage"]).any(), "two current attempts of one stage"
    finished_jobs = set(jobs.loc[jobs["state"] == "finished", "job_id"])
    done = tasks[tasks["state"] == "finished"]
    done_stages = set(zip(done["job_id"], done["application"].astype(str), done["stage"].astype(str), strict=True))
    for job in jobs[jobs["state"] == "finished"].itertuples(index=False):
        application = result.scenario.applications[str(job.application)]
        successors = {name for stage in application.stages for name in stage.after}
        for stage in application.stages:
            if stage.name not in successors:
                assert (job.job_id, application.name, stage.name) in done_stages, f"job {job.job_id}: exit unfinished"
    assert set(done["job_id"]) <= set(jobs["job_id"]) and finished_jobs <= set(done["job_id"])
    if "late_inputs" not in jobs:
        return
    bound = {app.name: sum(len(stage.after) - stage.join_count for stage in app.stages if stage.join != "all")
             for app in result.scenario.applications.values()}
    limits = jobs["application"].astype(str).map(bound).to_numpy()
    assert np.all(jobs["late_inputs"].to_numpy() <= limits), "more late inputs than predecessors beyond k"
    assert summary["late_inputs"] == int(jobs["late_inputs"].sum())


@pytest.mark.property
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=dynamic_join_scenarios())
def test_joins_under_random_failures_keep_the_records_consistent(raw: dict[str, Any]) -> None:
    """No exception; the records of `check_join_records`; no attempt runs on a down node; attempts of a stage never
    overlap (unless it races replicas)."""
    result = run(parse_scenario(raw, source="property"))
    check_join_records(result)
    check_no_attempt_on_a_down_node(result)
    if not any("replicas" in stage for app in raw["applications"].values() for stage in app["stages"].values()):
        check_attempts_never_overlap(result)


@pytest.mark.property
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_joins_with_failures_beyond_the_horizon_are_the_static_run(data: st.DataObject) -> None:
    """With every time to failure beyond the horizon, a scenario with joins gives the static run's tables, bit for
    bit (the joins' rules in a dynamic world change nothing that no failure triggers)."""
    raw = data.draw(raw_scenarios())
    add_joins(data.draw, raw)
    raw["simulation"]["horizon_s"] = raw["simulation"].get("horizon_s") or 20.0
    static = run(parse_scenario(raw, source="static"))
    dynamic_raw = copy.deepcopy(raw)
    for table in dynamic_raw["nodes"].values():
        table["failures"] = {"time_to_failure": {"distribution": "deterministic", "mean_s": 1e6},
                             "time_to_repair": {"distribution": "exponential", "mean_s": 1.0}}
    dynamic_raw["recovery"] = {"on_failure": data.draw(st.sampled_from(["redispatch", "resume", "restart"]))}
    dynamic = run(parse_scenario(dynamic_raw, source="dynamic"))
    pd.testing.assert_frame_equal(dynamic.tasks, static.tasks, check_exact=True)
    pd.testing.assert_frame_equal(dynamic.jobs, static.jobs, check_exact=True)
