"""HEFT against the worked example of its paper: Topcuoglu, Hariri & Wu, IEEE TPDS 13(3):260-274, 2002, Fig. 2
(a 10-task DAG on 3 processors, its upward ranks and an HEFT schedule of length 80)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simulator.dag_scheduling import heft

pytestmark = pytest.mark.validation

# Computation costs w(i, j) of tasks T1..T10 on processors P1..P3.
EXEC = np.array([
    [14, 16, 9], [13, 19, 18], [11, 13, 19], [13, 8, 17], [12, 13, 10],
    [13, 16, 9], [7, 15, 11], [5, 11, 14], [18, 12, 20], [21, 7, 16],
], dtype=float)
# Communication costs c(i, j) of the edges (0-based task indices); zero when both tasks share a processor.
EDGES = {
    (0, 1): 18, (0, 2): 12, (0, 3): 9, (0, 4): 11, (0, 5): 14, (1, 7): 19, (1, 8): 16, (2, 6): 23,
    (3, 7): 27, (3, 8): 23, (4, 8): 13, (5, 7): 15, (6, 9): 17, (7, 9): 11, (8, 9): 13,
}
PREDECESSORS = [[i for (i, j) in EDGES if j == task] for task in range(10)]


def edge_time(i: int, j: int, p: int, q: int) -> float:
    return 0.0 if p == q else float(EDGES[(i, j)])


def test_heft_reproduces_the_published_example():
    """The paper's upward ranks (108, 77, 80, 80, 69, 63.33, 42.67, 35.67, 44.33, 14.67) and makespan 80."""
    schedule = heft(EXEC, PREDECESSORS, edge_time, mean_edge_s=lambda i, j: float(EDGES[(i, j)]))
    np.testing.assert_allclose(schedule.upward_rank,
                               [108, 77, 80, 80, 69, 63 + 1 / 3, 42 + 2 / 3, 35 + 2 / 3, 44 + 1 / 3, 14 + 2 / 3])
    assert schedule.makespan_s == 80
    assert schedule.order[:3] == (0, 2, 3)  # T1, then T3 and T4 (rank 80, lower index first), then T2
    # every precedence constraint holds, with the transfer time when processors differ
    for (i, j), _ in EDGES.items():
        delay = edge_time(i, j, schedule.processor[i], schedule.processor[j])
        assert schedule.start_s[j] >= schedule.finish_s[i] + delay - 1e-12


def test_no_two_tasks_overlap_on_a_processor_and_insertion_is_used():
    schedule = heft(EXEC, PREDECESSORS, edge_time, mean_edge_s=lambda i, j: float(EDGES[(i, j)]))
    for p in range(3):
        spans = sorted((s, f) for s, f, q in zip(schedule.start_s, schedule.finish_s, schedule.processor, strict=True)
                       if q == p)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_ineligible_processors_are_never_used_and_ready_times_respected():
    exec_s = EXEC.copy()
    exec_s[:, 1] = np.inf  # P2 can run nothing
    schedule = heft(exec_s, PREDECESSORS, edge_time, processor_ready_s=[5.0, 0.0, 0.0],
                    earliest_start_s=lambda task, p: 2.0 if task == 0 else 0.0)
    assert 1 not in schedule.processor
    assert schedule.start_s[0] >= 2.0
    assert all(s >= 5.0 for s, p in zip(schedule.start_s, schedule.processor, strict=True) if p == 0)
