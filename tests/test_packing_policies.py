"""The greedy multi-resource rules (best fit, most free resources, longest task to the fastest node) and the
energy-proportional share, on one small packing case whose outcomes are computed by hand in each docstring.

The case (three nodes; memory in GB, 1 GB = 1e9 bytes):

    node  slots  speed  memory  free slots  free memory  busy power  expected ready  exec estimate
    0     4      1      8       3           2            40 W        3 s             2 s
    1     8      2      16      4           8            320 W       1 s             1 s
    2     2      0.5    inf     2           inf          5 W         0.5 s           4 s

The rules are those of the articles the issue names (best fit as in bin packing: the fullest bin that fits;
longest processing time to the fastest machine, as in LPT on uniform machines; shares R_i = C_i R / sum C_j).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_policies_baselines import FakeTask, FakeView, bound

pytestmark = pytest.mark.validation

GB = 1e9


def packing_view(eligible: list[int] | None = None, busy_power: list[float] | None = None) -> FakeView:
    return FakeView(loads=[1, 4, 0], slot_counts=[4, 8, 2], ready_s=[3.0, 1.0, 0.5], exec_s=[2.0, 1.0, 4.0],
                    transfer_s=[0.0] * 3, eligible=eligible or [], free_slot_counts=[3, 4, 2],
                    memory=[8 * GB, 16 * GB, float("inf")], free_memory=[2 * GB, 8 * GB, float("inf")],
                    busy_power=busy_power or [40.0, 320.0, 5.0], speeds=[1.0, 2.0, 0.5])


def test_best_fit_takes_the_node_left_fullest():
    """Demand 2 slots, 1 GB; remaining capacity = leftover slots / slots + leftover memory / memory
    (unlimited: 1): node 0: 1/4 + 1/8 = 0.375; node 1: 2/8 + 7/16 = 0.6875; node 2: 0/2 + 1 = 1. Node 0.
    Demand 3 slots, 2 GB: node 0: 0 + 0 = 0; node 1: 1/8 + 6/16 = 0.5; node 2 lacks slots. Node 0."""
    assert bound("best_fit", packing_view()).assign(FakeTask(slots=2, memory_bytes=1 * GB)) == 0
    assert bound("best_fit", packing_view()).assign(FakeTask(slots=3, memory_bytes=2 * GB)) == 0


def test_most_free_resources_takes_the_emptiest_node_and_breaks_ties_as_asked():
    """Demand 2 slots, 1 GB; free = free slots / slots + free memory / memory (unlimited: 1): node 0:
    3/4 + 2/8 = 1; node 1: 4/8 + 8/16 = 1; node 2: 2/2 + 1 = 2. Node 2. Demand 3 slots, 2 GB: node 2 lacks
    slots; nodes 0 and 1 tie at 1: lowest_index gives 0, random gives either."""
    assert bound("most_free_resources", packing_view()).assign(FakeTask(slots=2, memory_bytes=1 * GB)) == 2
    wide = FakeTask(slots=3, memory_bytes=2 * GB)
    assert bound("most_free_resources", packing_view()).assign(wide) == 0
    picks = {bound("most_free_resources", packing_view(), seed=seed, tie_break="random").assign(wide)
             for seed in range(20)}
    assert picks == {0, 1}


def test_longest_to_fastest_takes_the_fastest_node_that_fits():
    """Demand 2 slots, 1 GB: all fit; speeds 1, 2, 0.5: node 1. Demand 4 slots, 1 GB: only node 1 fits."""
    assert bound("longest_to_fastest", packing_view()).assign(FakeTask(slots=2, memory_bytes=1 * GB)) == 1
    assert bound("longest_to_fastest", packing_view()).assign(FakeTask(slots=4, memory_bytes=1 * GB)) == 1


def test_a_task_that_fits_nowhere_waits_where_a_node_is_ready_first():
    """Demand 5 slots (more than any node has free), eligible nodes 0 and 1: expected ready 3 s and 1 s, so
    every packing rule sends it to node 1 to wait."""
    for name in ("best_fit", "most_free_resources", "longest_to_fastest"):
        assert bound(name, packing_view(eligible=[0, 1])).assign(FakeTask(slots=5)) == 1, name


def test_best_fit_places_the_highest_priority_task_first_in_a_batch():
    """Batch [A, B]: A (priority 1, 2 slots, 1 GB), B (priority 0, 3 slots, 2 GB). B first: node 0 (left
    fullest, 0). Then node 0 has nothing free; A: node 1: 2/8 + 7/16 = 0.6875, node 2: 0 + 1 = 1: node 1.
    Decisions [1, 0] (in the batch's order); most_free_resources keeps the given order: A to node 2 (free 2),
    then B: nodes 0 and 1 tie at 1, node 0: [2, 0]."""
    tasks = [FakeTask(job_id=0, priority=1, slots=2, memory_bytes=1 * GB, arrival_s=0.0),
             FakeTask(job_id=1, priority=0, slots=3, memory_bytes=2 * GB, arrival_s=1.0)]
    assert bound("best_fit", packing_view()).assign_batch(tasks) == [1, 0]
    assert bound("most_free_resources", packing_view()).assign_batch(tasks) == [2, 0]


def test_longest_to_fastest_places_the_longest_task_first_in_a_batch():
    """Batch [short, long], both 3 slots and 1 GB; their lengths on their best node: 1 s x work 1 and 5. Long
    first: the fastest node that fits is node 1 (speed 2), which keeps 1 free slot; short: node 1 no longer fits,
    node 2 lacks slots, node 0 fits (3 slots, 2 GB): [0, 1]. Placed one at a time against the same view
    (immediate mode, nothing taken in between), both go to the fastest node, 1."""
    tasks = [FakeTask(job_id=0, slots=3, memory_bytes=1 * GB, work=1.0),
             FakeTask(job_id=1, slots=3, memory_bytes=1 * GB, work=5.0)]
    assert bound("longest_to_fastest", packing_view()).assign_batch(tasks) == [0, 1]
    assert [bound("longest_to_fastest", packing_view()).assign(task) for task in tasks] == [1, 1]


def test_energy_proportional_shares_work_by_capacity_per_watt():
    """C_i = slots x speed / busy power: 4/40 = 0.1, 16/320 = 0.05, 1/5 = 0.2, so R_i = C_i R / 0.35: of 7
    tasks 2, 1 and 4, interleaved by smooth weighted round robin (credits after each pick, by hand):
    2, 0, 2, 1, 2, 0, 2. capacity_proportional splits the same 21 tasks 4 : 16 : 1 instead."""
    policy = bound("energy_proportional", packing_view())
    picks = [policy.assign(FakeTask()) for _ in range(70)]
    assert picks[:7] == [2, 0, 2, 1, 2, 0, 2]
    assert np.bincount(picks).tolist() == [20, 10, 40]
    capacity = bound("capacity_proportional", packing_view())
    assert np.bincount([capacity.assign(FakeTask()) for _ in range(21)]).tolist() == [4, 16, 1]


def test_energy_proportional_gives_nodes_without_busy_power_all_the_work():
    """Busy power 0, 320, 0 W: nodes 0 and 2 cost no energy and share the work by capacity, 4 : 1."""
    policy = bound("energy_proportional", packing_view(busy_power=[0.0, 320.0, 0.0]))
    assert np.bincount([policy.assign(FakeTask()) for _ in range(50)], minlength=3).tolist() == [40, 0, 10]


def test_energy_proportional_breaks_ties_as_asked():
    """Nodes 0 and 1 of equal C: the first task goes to node 0 (lowest_index) or to either (random)."""
    view = FakeView(loads=[0, 0], slot_counts=[1, 1], ready_s=[0, 0], exec_s=[1, 1], transfer_s=[0, 0],
                    busy_power=[10.0, 10.0])
    assert bound("energy_proportional", view).assign(FakeTask()) == 0
    picks = {bound("energy_proportional", view, seed=seed, tie_break="random").assign(FakeTask())
             for seed in range(20)}
    assert picks == {0, 1}
