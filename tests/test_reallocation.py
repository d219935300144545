"""Rebalancing and work stealing on runs whose every time can be worked out by hand (deterministic service,
deterministic arrivals, scripted outages): exactly which tasks move, when, where, and what a move costs."""

from __future__ import annotations

import pandas as pd
import pytest
from test_dynamics_recovery import NAN, SWITCHED, rows, same, scenario
from test_policies_baselines import quick_params

from simulator.config import load_scenario
from simulator.policies import POLICIES
from simulator.simulation import run

pytestmark = pytest.mark.unit


def fast_a() -> dict:
    """Overrides (fresh dicts: `scenario` writes into them) where a serves a job in 2 s, b in 4 s, and
    min_execution_time sends every job to a: jobs arriving every second (at 1, 2, 3 ... s) queue there, half a job
    more every second."""
    return {"nodes": {"a": {"kind": "k", "speed": 2.0}, "b": {"kind": "k"}},
            "policy": {"name": "min_execution_time", "params": {}}}


NETWORK = SWITCHED
"""The two nodes behind a switch, where every job's input comes from: it reaches either node in 0.01 s."""


def jobs(count: int, horizon_s: float = 100.0) -> dict:
    return {"max_jobs": count, "horizon_s": horizon_s, "seed": 1}


def rebalanced(count: int, text: str = NETWORK, **rebalancing) -> object:
    return run(scenario(text, **fast_a(), simulation=jobs(count), applications__app__source="sw",
                        rebalancing={"interval_s": 4.5, "window_s": 4.5, **rebalancing}))


def test_threshold_rebalancing_moves_the_last_queued_task_at_the_check_and_its_input_travels_again():
    """Inputs take 0.01 s. On a: job 0 runs 1.01-3.01 s, job 1 3.01-5.01 s. At the check at 4.5 s a is busy
    (utilization 1 > 0.8) and jobs 2 and 3 queue: with max_moves 1 the last, job 3, moves to b (a excluded), its
    input travels from the switch to b again (4.5-4.51 s) and it runs 4.51-8.51 s; job 2 stays and runs on a."""
    result = rebalanced(4, trigger="threshold", utilization_above=0.8, max_moves=1)
    assert same(rows(result), [
        ("a", "finished", 1.0, 1.01, 1.01, 3.01), ("a", "finished", 2.0, 2.01, 3.01, 5.01),
        ("a", "finished", 3.0, 3.01, 5.01, 7.01),
        ("a", "moved", 4.0, 4.01, NAN, NAN), ("b", "finished", 4.5, 4.51, 4.51, 8.51)])
    transfers = result.transfers
    to_b = transfers[transfers["dst"] == "b"]
    assert to_b[["src", "start_s"]].values.tolist() == [["sw", 4.5]]
    assert to_b["end_s"].tolist() == pytest.approx([4.51])
    assert result.summary["migrations"] == 1 and result.summary["steals"] == 0


def test_max_moves_bounds_the_tasks_moved_from_one_node_per_check():
    """As above with max_moves 2: jobs 2 and 3 both move at 4.5 s, placed in their queue order: job 2 runs on b
    4.51-8.51 s and job 3 queues behind it (8.51-12.51 s); nothing is left queued on a."""
    result = rebalanced(4, trigger="threshold", utilization_above=0.8, max_moves=2)
    assert same(rows(result)[2:], [
        ("a", "moved", 3.0, 3.01, NAN, NAN), ("b", "finished", 4.5, 4.51, 4.51, 8.51),
        ("a", "moved", 4.0, 4.01, NAN, NAN), ("b", "finished", 4.5, 4.51, 8.51, 12.51)])
    assert result.summary["migrations"] == 2


def test_periodic_rebalancing_acts_on_every_node_with_a_queue_whatever_its_load():
    """The periodic trigger ignores the thresholds (here ones no node could cross): the same move as the threshold
    trigger at 4.5 s."""
    result = rebalanced(4, trigger="periodic", utilization_above=1.0, queue_above=1e6, max_moves=1)
    assert same(rows(result)[3:], [("a", "moved", 4.0, 4.01, NAN, NAN), ("b", "finished", 4.5, 4.51, 4.51, 8.51)])


@pytest.mark.parametrize("window_s, first_move_s, moved_job", [(4.5, 6.0, 4), (1.5, 4.5, 3)])
def test_the_queue_threshold_applies_to_the_mean_over_the_window(window_s, first_move_s, moved_job):
    """Checks every 1.5 s; a's queue there is 0, 1, 2, 2 at 1.5, 3, 4.5, 6 s. With a 4.5 s window the means are 0,
    0.5, 1, 1.67: the queue of 2 at 4.5 s is above queue_above = 1.2 but its window mean is not, so the first move
    is at 6 s (job 4, the last queued then). With a window of one check the queue of 2 triggers at 4.5 s (job 3)."""
    result = run(scenario(NETWORK, **fast_a(), simulation=jobs(5), applications__app__source="sw",
                          rebalancing={"trigger": "threshold", "interval_s": 1.5, "window_s": window_s,
                                       "utilization_above": 1.0, "queue_above": 1.2, "max_moves": 1}))
    tasks = result.tasks
    moved = tasks[tasks["state"] == "moved"]
    assert moved["job_id"].tolist() == [moved_job]
    on_b = tasks[tasks["node"] == "b"]
    assert on_b["job_id"].tolist() == [moved_job] and on_b["dispatch_s"].tolist() == [first_move_s]


def test_a_task_no_other_node_can_take_stays_in_its_place():
    """Only a can run the stage: the check at 4.5 s finds a overloaded but moves nothing, and the queue keeps its
    order (the same rows as without rebalancing)."""
    result = rebalanced(4, trigger="threshold", utilization_above=0.8, max_moves=3,
                        text=NETWORK.replace('model = "m"', 'model = "m"\nplacement = ["a"]'))
    assert result.summary["migrations"] == 0
    assert result.tasks["start_s"].tolist() == pytest.approx([1.01, 3.01, 5.01, 7.01])


def test_batch_mode_moved_tasks_join_the_next_batch():
    """Batch mode, ticks every 1 s: job k (arriving at k + 1 s) is placed at the tick k + 2 s. At the check at
    4.5 s jobs 1 and 2 queue on a (job 0 runs 3.01-5.01 s): job 2 moves, is placed at the 5 s tick on b, its input
    arrives at 5.01 s and it runs until 9.01 s."""
    result = run(scenario(NETWORK, **fast_a(), simulation=jobs(3), applications__app__source="sw",
                          policy__mode="batch", policy__batch_interval_s=1.0,
                          rebalancing={"trigger": "threshold", "interval_s": 4.5, "window_s": 4.5, "max_moves": 1}))
    assert same(rows(result), [
        ("a", "finished", 2.0, 2.01, 2.01, 4.01), ("a", "finished", 3.0, 3.01, 4.01, 6.01),
        ("a", "moved", 4.0, 4.01, NAN, NAN), ("b", "finished", 5.0, 5.01, 5.01, 9.01)])


def test_a_moved_task_whose_new_nodes_all_fail_before_its_batch_goes_back_to_its_node_of_origin():
    """As above, but b is down from 4.7 s to 14.7 s: at the 5 s tick only a, the node job 2 was moved away from,
    can take it. Its exclusion is dropped rather than parking it until b's repair: it is placed on a at 5 s, its
    input arrives at 5.01 s and it runs after job 1, 6.01-8.01 s."""
    result = run(scenario(NETWORK, **fast_a(), simulation=jobs(3), applications__app__source="sw",
                          policy__mode="batch", policy__batch_interval_s=1.0,
                          outages=[("b", 4.7, 10.0)],
                          rebalancing={"trigger": "threshold", "interval_s": 4.5, "window_s": 4.5, "max_moves": 1}))
    assert same(rows(result), [
        ("a", "finished", 2.0, 2.01, 2.01, 4.01), ("a", "finished", 3.0, 3.01, 4.01, 6.01),
        ("a", "moved", 4.0, 4.01, NAN, NAN), ("a", "finished", 5.0, 5.01, 6.01, 8.01)])


def test_a_monitor_that_never_acts_leaves_the_tables_bit_for_bit():
    """A threshold no node reaches: the monitor samples every second yet the task and job tables equal those of
    the same run without rebalancing (the zero-cost rule)."""
    base = {"simulation.max_jobs": 200, "simulation.horizon_s": 300.0, "simulation.warmup_s": 0.0}
    static = load_scenario("demo_edge_cloud", base)
    monitored = load_scenario("demo_edge_cloud", {**base, "rebalancing": {
        "trigger": "threshold", "interval_s": 1.0, "window_s": 5.0, "utilization_above": 1.0, "queue_above": 1e6}})
    assert monitored.is_dynamic
    expected, actual = run(static), run(monitored)
    pd.testing.assert_frame_equal(actual.tasks, expected.tasks)
    pd.testing.assert_frame_equal(actual.jobs, expected.jobs)


# -- work stealing -------------------------------------------------------------------------------------------

def stolen(min_queue: int) -> object:
    """All jobs go to a (2 s each) while b is down from 0.5 to 4.5 s; jobs arrive at 1, 2, ..., 6 s."""
    return run(scenario(outages=[("b", 0.5, 4.0)], **fast_a(), simulation=jobs(6),
                        work_stealing={"enabled": True, "min_queue": min_queue}))


def test_a_node_back_up_and_a_node_that_runs_dry_steal_the_oldest_queued_task():
    """a runs job 0 (1-3 s), job 1 (3-5 s). At 4.5 s b comes up with nothing to do and steals job 2, the oldest of
    a's queue (jobs 2, 3): 4.5-8.5 s. a runs job 3 (5-7 s) and job 4 (7-9 s). At 8.5 s b finishes and steals job
    5, queued on a since 6 s: 8.5-12.5 s. a, dry at 9 s, finds nothing to steal."""
    result = stolen(min_queue=1)
    assert same(rows(result), [
        ("a", "finished", 1.0, 1.0, 1.0, 3.0), ("a", "finished", 2.0, 2.0, 3.0, 5.0),
        ("a", "moved", 3.0, 3.0, NAN, NAN), ("b", "finished", 4.5, 4.5, 4.5, 8.5),
        ("a", "finished", 4.0, 4.0, 5.0, 7.0), ("a", "finished", 5.0, 5.0, 7.0, 9.0),
        ("a", "moved", 6.0, 6.0, NAN, NAN), ("b", "finished", 8.5, 8.5, 8.5, 12.5)])
    assert (result.summary["steals"], result.summary["migrations"]) == (2, 2)


def test_a_victim_needs_min_queue_queued_tasks():
    """min_queue 2: at 4.5 s a has two queued (jobs 2, 3), so b steals job 2; at 8.5 s a has only job 5 queued,
    so b steals nothing and job 5 runs on a at 9-11 s."""
    result = stolen(min_queue=2)
    tasks = result.tasks
    assert tasks[tasks["node"] == "b"]["job_id"].tolist() == [2]
    last = tasks[tasks["job_id"] == 5]
    assert same(rows(result)[-1:], [("a", "finished", 6.0, 6.0, 9.0, 11.0)]) and len(last) == 1
    assert result.summary["steals"] == 1


# -- every policy ----------------------------------------------------------------------------------------------

REALLOCATING_WORLD = {
    "simulation.max_jobs": 60, "simulation.horizon_s": 80.0, "simulation.warmup_s": 0.0,
    "policy.batch_interval_s": 0.5,
    "nodes.edge.failures": {"time_to_failure": {"distribution": "exponential", "mean_s": 8.0},
                            "time_to_repair": {"distribution": "exponential", "mean_s": 3.0}},
    "outages": [{"target": "cloud-1", "start_s": 5.0, "duration_s": 30.0}],
    "rebalancing": {"trigger": "periodic", "interval_s": 2.0, "window_s": 2.0, "max_moves": 3},
    "work_stealing": {"enabled": True},
    "applications.avsr.stages.fusion.replicas": 2,
    "applications.avsr.stages.audio_encoder.replicas": 3,
}
"""The demo while edge servers fail and cloud-1 is out for 30 s, with periodic rebalancing, work stealing and
redundant encoders and fusion: every re-allocation path runs under the policy."""

@pytest.mark.contract
@pytest.mark.parametrize("name, mode", [(name, mode) for name in sorted(POLICIES) for mode in POLICIES[name].modes])
def test_every_policy_works_with_rebalancing_stealing_and_replicas(name, mode, request):
    """Every registered policy, in every mode it supports: the dispatcher refuses none of its decisions (nor a
    replica's), every job ends exactly once, a completed job has one finished row per stage whatever raced or moved,
    and the attempts of one task that ran never shared a node at the same time."""
    scenario_ = load_scenario("demo_edge_cloud", {**REALLOCATING_WORLD, "policy.mode": mode})
    result = run(scenario_, policy=name, params=quick_params(name, request, agent="demo"), seed=2)
    assert result.summary["jobs_completed"] > 30
    jobs_ = result.jobs
    assert jobs_["job_id"].tolist() == list(range(60))
    tasks = result.tasks
    finished = tasks[(tasks["state"] == "finished") & tasks["job_id"].isin(jobs_[jobs_["state"] == "finished"].index)]
    assert (finished.groupby("job_id").size() == 5).all()
    assert not finished.duplicated(["job_id", "stage"]).any()
    ran = tasks[tasks["start_s"].notna()].sort_values("start_s")
    for _, attempts in ran.groupby(["job_id", "stage", "node"], observed=True):
        assert (attempts["start_s"].to_numpy()[1:] >= attempts["finish_s"].to_numpy()[:-1]).all()


@pytest.mark.parametrize("policy, mode", [("round_robin", "immediate"), ("least_loaded", "batch")])
def test_the_reallocating_world_runs_every_path(policy, mode):
    """The battery's world is not vacuous: tasks are rebalanced (more moves than steals) and stolen, replicas race
    and lose, and failed attempts are retried."""
    result = run(load_scenario("demo_edge_cloud", {**REALLOCATING_WORLD, "policy.mode": mode}), policy, seed=2)
    summary = result.summary
    assert summary["migrations"] > summary["steals"] > 0
    assert summary["replicas_cancelled"] > 0 and summary["retries"] > 0
    cancelled = result.tasks[result.tasks["state"] == "cancelled"]
    assert len(cancelled) >= summary["replicas_cancelled"]
