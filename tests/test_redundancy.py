"""Redundant execution (`replicas`) on runs whose every time can be worked out by hand: who races, who wins, what
the losers cost, and what a node failure does to a race."""

from __future__ import annotations

import pytest
from test_dynamics_recovery import NAN, SWITCHED, TWO_NODES, rows, same, scenario

from simulator.simulation import run

pytestmark = pytest.mark.unit


def raced(replicas: int = 2, text: str = TWO_NODES, outages=(), **overrides):
    """One job at 1 s of a stage with ``replicas``; a serves it in 4 s, b (twice as fast) in 2 s; least_loaded
    (ties to the lowest index) puts the primary on a."""
    overrides.setdefault("nodes", {"a": {"kind": "k"}, "b": {"kind": "k", "speed": 2.0}})
    return run(scenario(text, outages=list(outages), applications__app__stages__s__replicas=replicas, **overrides))


def test_the_faster_replica_wins_and_the_loser_is_cancelled_at_that_instant():
    """The primary runs on a (1-5 s), its replica on b (1-3 s): b finishes first, so a's attempt is taken off a at
    3 s, recorded cancelled with its 2 s of service wasted; the job completes at 3 s. Three replicas asked of two
    nodes: only two race."""
    result = raced(replicas=3)
    assert same(rows(result), [("a", "cancelled", 1.0, 1.0, 1.0, 3.0), ("b", "finished", 1.0, 1.0, 1.0, 3.0)])
    assert result.jobs["response_s"].tolist() == [2.0]
    summary = result.summary
    assert (summary["replicas_cancelled"], summary["wasted_work_s"], summary["retries"]) == (1, 2.0, 0)
    assert result.nodes.set_index("node")["busy_slot_s"].to_dict() == {"a": 2.0, "b": 2.0}


def test_the_successor_takes_its_input_from_the_winners_node():
    """A second stage t, only on a, follows s: s is won on b at 3 s, so t's input travels from b to a (two links of
    10 ms: 3-3.02 s) and t runs 3.02-7.02 s."""
    text = SWITCHED + """
[applications.app.stages.t]
model = "m"
after = ["s"]
placement = ["a"]
"""
    result = raced(text=text)
    tasks = result.tasks.set_index(["stage", "state"])
    assert tasks.loc[("s", "finished"), "node"] == "b" and tasks.loc[("s", "cancelled"), "node"] == "a"
    assert tasks.loc[("t", "finished"), ["ready_s", "start_s", "finish_s"]].tolist() == pytest.approx(
        [3.02, 3.02, 7.02])
    assert result.transfers[["src", "dst", "start_s", "hops"]].values.tolist() == [["b", "a", 3.0, 2]]


def test_a_replica_lost_to_a_failure_is_not_retried_while_its_sibling_races():
    """a fails at 2 s: the primary's attempt fails (1 s wasted) but is not replaced, no retry is counted, and b's
    replica wins at 3 s."""
    result = raced(outages=[("a", 2.0, 10.0)])
    assert same(rows(result), [("a", "failed", 1.0, 1.0, 1.0, 2.0), ("b", "finished", 1.0, 1.0, 1.0, 3.0)])
    summary = result.summary
    assert (summary["retries"], summary["replicas_cancelled"], summary["wasted_work_s"]) == (0, 0, 1.0)
    assert result.jobs["state"].tolist() == ["finished"]


def test_the_job_fails_only_when_every_replica_is_lost_and_retries_are_exhausted():
    """b fails at 2 s (its replica lost, a's still races), a at 2.5 s: the last member is lost, and with
    max_retries 0 the job fails."""
    result = raced(outages=[("b", 2.0, 10.0), ("a", 2.5, 10.0)], recovery={"max_retries": 0})
    assert same(rows(result), [("b", "failed", 1.0, 1.0, 1.0, 2.0), ("a", "failed", 1.0, 1.0, 1.0, 2.5)])
    assert result.jobs["state"].tolist() == ["failed"] and result.summary["jobs_failed"] == 1


def test_after_every_replica_is_lost_the_retry_is_placed_like_a_new_task():
    """b is down from 2 s to 4 s, a from 2.5 s to 3.5 s, one retry allowed: when a fails the last member is lost, the
    retry (counted) waits for a node and is placed on a at 3.5 s (3.5-7.5 s); its replica finds no other node up
    (b is still down), so it runs alone."""
    result = raced(outages=[("b", 2.0, 2.0), ("a", 2.5, 1.0)], recovery={"max_retries": 1})
    assert same(rows(result), [("b", "failed", 1.0, 1.0, 1.0, 2.0), ("a", "failed", 1.0, 1.0, 1.0, 2.5),
                               ("a", "finished", 2.5, 3.5, 3.5, 7.5)])
    assert result.summary["retries"] == 1


def test_a_queued_replica_on_a_failing_node_is_dropped_while_its_sibling_races():
    """Job 0 races on a (1-5 s) and b (1-3 s); job 1 (2 s) queues on a (least loaded, lowest index) and its replica
    on b. a fails at 2.5 s under redispatch: job 0's attempt fails and job 1's queued attempt is cancelled, neither
    replaced (no retry, no move), and b's replicas win: job 0 at 3 s, job 1 at 5 s."""
    result = raced(outages=[("a", 2.5, 10.0)], simulation={"max_jobs": 2, "horizon_s": 100.0, "seed": 1})
    assert same(rows(result), [
        ("a", "failed", 1.0, 1.0, 1.0, 2.5), ("b", "finished", 1.0, 1.0, 1.0, 3.0),
        ("b", "finished", 2.0, 2.0, 3.0, 5.0), ("a", "cancelled", 2.0, 2.0, NAN, NAN)])
    summary = result.summary
    assert (summary["retries"], summary["migrations"], summary["replicas_cancelled"]) == (0, 0, 0)


def test_a_timeout_cancels_every_replica():
    """Timeout 1.5 s: at 2.5 s both racing attempts are taken back and cancelled (1.5 s of service each wasted);
    they lost no race, so no replica counts as cancelled by one."""
    result = raced(applications__app__timeout_s=1.5)
    assert same(rows(result), [("b", "cancelled", 1.0, 1.0, 1.0, 2.5), ("a", "cancelled", 1.0, 1.0, 1.0, 2.5)])
    assert result.jobs["state"].tolist() == ["abandoned"]
    assert (result.summary["wasted_work_s"], result.summary["replicas_cancelled"]) == (3.0, 0)


@pytest.mark.parametrize("policy, expected", [
    ("min_min", [("a", "cancelled", 2.0, 2.0, 2.0, 4.0), ("b", "finished", 2.0, 2.0, 2.0, 4.0)]),
    ("min_execution_time", [("b", "finished", 2.0, 2.0, 2.0, 4.0)]),
])
def test_batch_mode_replicas_join_the_primarys_batch_and_same_node_siblings_are_dropped(policy, expected):
    """Batch ticks every 1 s: the job (1 s) and its replica are placed together at 2 s. min_min puts one on b (done
    at 4 s) and the other on a (4 s on a beats 2 s behind it on b), and b wins at 4 s; min_execution_time puts both
    on b, so the replica is dropped unplaced (no row)."""
    result = raced(policy={"name": policy, "params": {}, "mode": "batch", "batch_interval_s": 1.0})
    assert same(rows(result), expected)
