"""Node failures, recovery actions, retries, timeouts and parking on runs whose every time can be worked out by
hand (deterministic service, scripted outages): the exact attempt rows of docs/dynamics.md."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

from simulator.config import parse_scenario
from simulator.simulation import run

pytestmark = pytest.mark.unit

TWO_NODES = """
[simulation]
max_jobs = 1
horizon_s = 100.0
seed = 1

[policy]
name = "least_loaded"
params = { tie_break = "lowest_index" }

[nodes.a]
kind = "k"
[nodes.b]
kind = "k"

[models.m.devices.k]
mean_s = 4.0
distribution = "deterministic"

[applications.app.stages.s]
model = "m"

[arrivals.users]
application = "app"
process = "deterministic"
rate_per_s = 1.0
"""


SWITCHED = TWO_NODES + """
[network]
switches = ["sw"]
[network.links.la]
endpoints = ["a", "sw"]
latency_s = 0.01
bandwidth_bytes_per_s = 1e9
[network.links.lb]
endpoints = ["b", "sw"]
latency_s = 0.01
bandwidth_bytes_per_s = 1e9
"""
"""The two nodes behind a switch: data between them, or from the switch, crosses links of 10 ms and 1 GB/s."""


def scenario(text: str = TWO_NODES, outages: list[tuple[str, float, float]] = (), **overrides):
    """The scenario of ``text`` with scripted outages (target, start_s, duration_s) and dotted overrides
    (``a__b=value`` sets ``a.b``)."""
    raw = tomllib.loads(text)
    for dotted, value in overrides.items():
        table = raw
        *parents, last = dotted.split("__")
        for part in parents:
            table = table.setdefault(part, {})
        table[last] = value
    if outages:
        raw["outages"] = [{"target": target, "start_s": start, "duration_s": duration}
                          for target, start, duration in outages]
    return parse_scenario(raw)


def rows(result) -> list[tuple]:
    """(node, state, dispatch_s, ready_s, start_s, finish_s) of every task row, in job then time order."""
    tasks = result.tasks.sort_values(["job_id", "dispatch_s", "start_s"], kind="stable")
    return [(str(node) if isinstance(node, str) else None, str(state), *(round(float(t), 9) for t in times))
            for node, state, *times in zip(tasks["node"], tasks["state"], tasks["dispatch_s"], tasks["ready_s"],
                                           tasks["start_s"], tasks["finish_s"], strict=True)]


def same(actual: list[tuple], expected: list[tuple]) -> bool:
    """Rows equal, NaN equal to NaN."""
    def key(row: tuple) -> tuple:
        return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in row)
    return [key(row) for row in actual] == [key(row) for row in expected]


NAN = math.nan


def test_redispatch_places_the_interrupted_task_again_at_once():
    """Job 0 arrives at 1 s and starts on a (4 s); a fails at 2 s: the attempt fails after 1 s of service (wasted)
    and the retry goes to b at 2 s, finishing at 6 s: response 5 s."""
    result = run(scenario(outages=[("a", 2.0, 2.0)], recovery={"on_failure": "redispatch"}))
    assert same(rows(result), [("a", "failed", 1.0, 1.0, 1.0, 2.0), ("b", "finished", 2.0, 2.0, 2.0, 6.0)])
    assert result.jobs["response_s"].tolist() == [5.0]
    summary = result.summary
    assert (summary["retries"], summary["migrations"], summary["wasted_work_s"]) == (1, 0, 1.0)
    assert summary["node_failures"] == 1 and summary["mttr_mean_s"] == 2.0


def test_resume_continues_with_the_remaining_service_after_the_repair():
    """Only a can run the stage. It fails at 2 s (1 s served) and is repaired at 4 s: the continuation starts at
    4 s with the remaining 3 s and finishes at 7 s; the interrupted work is kept (nothing wasted, no retry)."""
    result = run(scenario(outages=[("a", 2.0, 2.0)], recovery={"on_failure": "resume"},
                          applications__app__stages__s__placement=["a"]))
    assert same(rows(result), [("a", "failed", 1.0, 1.0, 1.0, 2.0), ("a", "finished", 2.0, 2.0, 4.0, 7.0)])
    assert result.jobs["response_s"].tolist() == [6.0]
    assert (result.summary["retries"], result.summary["wasted_work_s"]) == (0, 0.0)


def test_restart_starts_again_with_a_new_draw_after_the_repair():
    """As resume, but the task starts over at 4 s for a full 4 s (finishing at 8 s): a retry, 1 s wasted."""
    result = run(scenario(outages=[("a", 2.0, 2.0)], recovery={"on_failure": "restart"},
                          applications__app__stages__s__placement=["a"]))
    assert same(rows(result), [("a", "failed", 1.0, 1.0, 1.0, 2.0), ("a", "finished", 2.0, 2.0, 4.0, 8.0)])
    assert result.jobs["response_s"].tolist() == [7.0]
    assert (result.summary["retries"], result.summary["wasted_work_s"]) == (1, 1.0)


def test_redispatch_moves_queued_tasks_at_once_and_they_go_first():
    """a is twice as fast (2 s a job) and min_execution_time always prefers it. Job 0 (arrives 1 s) runs on a,
    job 1 (2 s) queues behind it. a fails at 2.5 s: job 1's queued attempt moves to b (2.5 s to 6.5 s), then job
    0's interrupted attempt (1.5 s served) is placed on b behind it (6.5 s to 10.5 s)."""
    result = run(scenario(outages=[("a", 2.5, 20.0)], policy={"name": "min_execution_time", "params": {}},
                          nodes={"a": {"kind": "k", "speed": 2.0}, "b": {"kind": "k"}},
                          simulation={"max_jobs": 2, "horizon_s": 100.0, "seed": 1}))
    assert same(rows(result), [
        ("a", "failed", 1.0, 1.0, 1.0, 2.5), ("b", "finished", 2.5, 2.5, 6.5, 10.5),
        ("a", "moved", 2.0, 2.0, NAN, NAN), ("b", "finished", 2.5, 2.5, 2.5, 6.5)])
    assert result.jobs["response_s"].tolist() == [9.5, 4.5]
    assert (result.summary["migrations"], result.summary["retries"], result.summary["wasted_work_s"]) == (1, 1, 1.5)


def test_exhausted_retries_fail_the_job_and_cancel_its_other_tasks():
    """Two parallel stages, one only on a, one only on b, both start at 1 s. a fails at 2 s with max_retries = 0:
    the job fails, its task on b is cancelled (taken off b at 2 s), and both attempts' service is wasted."""
    text = TWO_NODES.replace("[applications.app.stages.s]\nmodel = \"m\"", (
        "[applications.app.stages.s]\nmodel = \"m\"\nplacement = [\"a\"]\n"
        "[applications.app.stages.t]\nmodel = \"m\"\nplacement = [\"b\"]\n"
        "[network]\nswitches = [\"sw\"]\n[network.links.la]\nendpoints = [\"a\", \"sw\"]\nbandwidth_bytes_per_s = 1e9\n"
        "[network.links.lb]\nendpoints = [\"b\", \"sw\"]\nbandwidth_bytes_per_s = 1e9"))
    result = run(scenario(text, outages=[("a", 2.0, 2.0)], recovery={"max_retries": 0}))
    tasks = result.tasks.set_index("stage")
    assert tasks.loc["s", "state"] == "failed" and tasks.loc["s", "finish_s"] == 2.0
    assert tasks.loc["t", "state"] == "cancelled" and tasks.loc["t", "finish_s"] == 2.0
    assert result.jobs["state"].tolist() == ["failed"] and np.isnan(result.jobs["finish_s"][0])
    summary = result.summary
    assert (summary["jobs_failed"], summary["jobs_completed"], summary["stability"]) == (1, 0, 0.0)
    assert summary["completion_rate"] == 0.0 and summary["wasted_work_s"] == 2.0
    assert result.nodes.set_index("node").loc["b", "busy_slot_s"] == 1.0  # b was freed at the failure


def test_backoff_delays_grow_by_the_factor():
    """Service 10 s. The n-th retry waits 1 s x 2^(n-1). a fails at 2 s (retry 1 at 3 s on b), b fails at 4 s
    (retry 2 at 6 s on a, up again since 5 s), a fails at 7 s (retry 3 at 11 s on a, up since 8 s), done at 21 s."""
    result = run(scenario(outages=[("a", 2.0, 3.0), ("b", 4.0, 90.0), ("a", 7.0, 1.0)],
                          models={"m": {"devices": {"k": {"mean_s": 10.0, "distribution": "deterministic"}}}},
                          recovery={"on_failure": "redispatch", "max_retries": 3, "backoff_s": 1.0,
                                    "backoff_factor": 2.0}))
    assert same(rows(result), [
        ("a", "failed", 1.0, 1.0, 1.0, 2.0), ("b", "failed", 3.0, 3.0, 3.0, 4.0),
        ("a", "failed", 6.0, 6.0, 6.0, 7.0), ("a", "finished", 11.0, 11.0, 11.0, 21.0)])
    assert result.summary["retries"] == 3 and result.jobs["state"].tolist() == ["finished"]


def test_timeout_abandons_the_job_and_frees_its_node():
    """Timeout 3 s, service 4 s on the one node a. Job 0 (1 s) is abandoned at 4 s: its running task is taken off
    a, so job 1 (queued since 2 s) starts at 4 s, and is abandoned at 5 s."""
    result = run(scenario(applications__app__timeout_s=3.0, applications__app__stages__s__placement=["a"],
                          simulation={"max_jobs": 2, "horizon_s": 100.0, "seed": 1}))
    assert same(rows(result), [("a", "cancelled", 1.0, 1.0, 1.0, 4.0), ("a", "cancelled", 2.0, 2.0, 4.0, 5.0)])
    assert result.jobs["state"].tolist() == ["abandoned", "abandoned"]
    assert result.summary["jobs_abandoned"] == 2 and result.summary["stability"] == 0.0
    assert result.summary["wasted_work_s"] == 4.0


def test_a_task_whose_only_node_is_down_waits_for_the_repair():
    """Only a can run the stage; a is down from 0.5 s to 3 s. The job (1 s) is parked and placed at the repair:
    ready and started at 3 s, done at 7 s."""
    result = run(scenario(outages=[("a", 0.5, 2.5)], applications__app__stages__s__placement=["a"]))
    assert same(rows(result), [("a", "finished", 1.0, 3.0, 3.0, 7.0)])


def test_busy_clock_elapses_only_while_the_node_has_work():
    """Time to failure 1.5 s of busy time, service 1 s, jobs every 2 s (at 2, 4, 6 s): a is busy 2-3 s and 4-5
    s, so it fails at 4.5 s (a wall clock would fail it at 1.5 s, before any job)."""
    text = TWO_NODES.replace("[nodes.a]\nkind = \"k\"", (
        "[nodes.a]\nkind = \"k\"\n[nodes.a.failures]\nclock = \"busy\"\n"
        "time_to_failure = { distribution = \"deterministic\", mean_s = 1.5 }\n"
        "time_to_repair = { distribution = \"deterministic\", mean_s = 1.0 }"))
    result = run(scenario(text, models={"m": {"devices": {"k": {"mean_s": 1.0, "distribution": "deterministic"}}}},
                          applications__app__stages__s__placement=["a"], recovery={"on_failure": "resume"},
                          arrivals={"users": {"application": "app", "process": "deterministic", "rate_per_s": 0.5}},
                          simulation={"max_jobs": 2, "horizon_s": 20.0, "seed": 1}))
    failed = result.tasks[result.tasks["state"] == "failed"]
    assert failed["finish_s"].tolist() == [4.5]
    assert same(rows(result)[1:], [("a", "failed", 4.0, 4.0, 4.0, 4.5), ("a", "finished", 4.5, 4.5, 5.5, 6.0)])


def test_correlated_group_fails_together_and_down_nodes_draw_no_power():
    """A group of two nodes fails together every 2 s of wall time for 1 s (deterministic): over 10 s each is down
    at 2-3, 5-6, 8-9 s (no job arrives before the end): availability 0.7, three failures, MTTR 1 s, and idle
    energy only while up (10 W x 7 s)."""
    text = """
[simulation]
horizon_s = 10.0
seed = 1
[policy]
name = "least_loaded"
[nodes.site]
kind = "k"
count = 2
idle_power_w = 10.0
busy_power_w = 30.0
[nodes.site.failures]
correlated = true
time_to_failure = { distribution = "deterministic", mean_s = 2.0 }
time_to_repair = { distribution = "deterministic", mean_s = 1.0 }
[models.m.devices.k]
mean_s = 1.0
[applications.app.stages.s]
model = "m"
[arrivals.users]
application = "app"
process = "deterministic"
rate_per_s = 0.01
"""
    result = run(scenario(text))  # the first job would arrive at 100 s: the nodes stay idle
    nodes = result.nodes
    assert nodes["availability"].tolist() == pytest.approx([0.7, 0.7])
    assert nodes["failures"].tolist() == [3, 3] and nodes["mttr_s"].tolist() == [1.0, 1.0]
    assert nodes["energy_j"].tolist() == pytest.approx([70.0, 70.0])
    assert result.summary["availability_mean"] == pytest.approx(0.7) and result.summary["node_failures"] == 6


def test_a_task_its_inputs_cannot_reach_waits_for_the_link():
    """The job's input is on a, the stage runs only on b, and b's link is down from 0.5 s to 3 s: the task has no
    available node (b is up but unreachable) and is parked; at 3 s the link is up, the input travels (two links of
    10 ms) and the task runs 3.02 s to 7.02 s."""
    text = SWITCHED
    result = run(scenario(text, outages=[("lb", 0.5, 2.5)], applications__app__source="a",
                          applications__app__stages__s__placement=["b"]))
    assert same(rows(result), [("b", "finished", 1.0, 3.02, 3.02, 7.02)])
    assert result.summary["link_failures"] == 1 and result.summary["node_failures"] == 0
    assert result.down_periods[["component", "name", "start_s", "end_s"]].values.tolist() == [["link", "lb", 0.5, 3.0]]


def test_the_dispatcher_refuses_a_decision_for_a_down_node():
    """A policy that ignores the view and always answers node a is refused while a is down, naming the policy, the
    stage and the node."""
    from simulator.policies.base import Policy

    class AlwaysA(Policy):
        name = "always_a"

        def assign(self, task) -> int:
            return 0

    with pytest.raises(RuntimeError, match="policy 'always_a' placed stage 's' of application 'app' on node 0, "
                                           "which is not available"):
        run(scenario(outages=[("a", 0.5, 2.0)]), policy=AlwaysA())


def test_a_correlated_group_on_busy_clock_counts_the_work_of_any_member():
    """A correlated group of two nodes, time to failure 1.5 s of busy time. Round robin sends job 0 (2 s) to
    site-0 and job 1 (4 s) to site-1, 1 s of service each: the group has work 2-3 s and 4-5 s, so both nodes fail
    at 4.5 s, and job 1 resumes at the repair (5.5 s) to finish at 6 s."""
    text = """
[simulation]
max_jobs = 2
horizon_s = 20.0
seed = 1
[policy]
name = "round_robin"
[nodes.site]
kind = "k"
count = 2
[nodes.site.failures]
correlated = true
clock = "busy"
time_to_failure = { distribution = "deterministic", mean_s = 1.5 }
time_to_repair = { distribution = "deterministic", mean_s = 1.0 }
[models.m.devices.k]
mean_s = 1.0
distribution = "deterministic"
[applications.app.stages.s]
model = "m"
[arrivals.users]
application = "app"
process = "deterministic"
rate_per_s = 0.5
[recovery]
on_failure = "resume"
"""
    result = run(scenario(text))
    assert same(rows(result), [("site-0", "finished", 2.0, 2.0, 2.0, 3.0), ("site-1", "failed", 4.0, 4.0, 4.0, 4.5),
                               ("site-1", "finished", 4.5, 4.5, 5.5, 6.0)])
    assert result.down_periods[["name", "start_s", "end_s"]].values.tolist() == [["site-0", 4.5, 5.5],
                                                                              ["site-1", 4.5, 5.5]]
