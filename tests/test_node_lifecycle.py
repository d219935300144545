"""The node lifecycle of docs/dynamics.md (``up``, ``queued_tasks``, ``remove``, ``drain``, ``start_with``) on every
node class, with hand-fed tasks of deterministic service times worked out by hand: what a removed or drained task
leaves behind (load, backlog, slots, queues), that its old completion never fires, and that the node runs new work
normally afterwards."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulator.cluster import ModelServerNode, Node, build_nodes
from simulator.config import load_scenario
from simulator.costs import CostTable
from simulator.disciplines import ProcessorSharingNode, RoundRobinNode, ShortestJobFirstNode, WeightedFairNode
from simulator.engine import Environment
from simulator.multi_resource import MultiResourceNode
from simulator.workload import CompiledApplication, Task, compile_applications, new_job, new_task

pytestmark = pytest.mark.unit

SCENARIO = """
[simulation]
seed = 1
max_jobs = 10

[nodes.server]
kind = "cpu"
{node}

[models.short.devices.cpu]
mean_s = 1.0
distribution = "deterministic"
{model}

[models.long.devices.cpu]
mean_s = 2.0
distribution = "deterministic"
{model}

[applications.a.stages.run]
model = "short"
{stage}

[applications.b]
priority = {b_priority}

[applications.b.stages.run]
model = "long"
{stage}

[applications.wide.stages.run]
model = "short"
{wide}

[arrivals.users]
application = "a"
process = "poisson"
rate_per_s = 1.0
"""

# Every slot-based class, each with one task running at a time here: (node fields, model fields, stage fields).
SLOT_NODES = {
    "fifo": (Node, "", "", ""),
    "priority": (Node, 'queue = "priority"', "", ""),
    "sjf": (ShortestJobFirstNode, 'queue = "sjf"', "", ""),
    "sjf-drawn": (ShortestJobFirstNode, 'queue = "sjf"\nsjf_by = "drawn"', "", ""),
    "wfq": (WeightedFairNode, 'queue = "wfq"', "", ""),
    "rr": (RoundRobinNode, 'queue = "rr"\nquantum_s = 10.0', "", ""),
    "multi": (MultiResourceNode, "slots = 2\nmemory_bytes = 8e9", "", "slots = 2\nmemory_bytes = 1e9"),
    "model-server": (ModelServerNode, "memory_bytes = 10", "memory_bytes = 6\nload_time_s = 0.5", ""),
}


class Harness:
    """One node built as a run builds it, its applications, and the tasks it has reported done."""

    def __init__(self, tmp_path: Path, node: str = "", model: str = "", stage: str = "", wide: str = "",
                 b_priority: float = 0.0) -> None:
        path = tmp_path / "scenario.toml"
        path.write_text(SCENARIO.format(node=node, model=model, stage=stage, wide=wide, b_priority=b_priority))
        scenario = load_scenario(path)
        costs = CostTable(scenario.models)
        self.env = Environment()
        self.done: list[Task] = []
        self.applications: dict[str, CompiledApplication] = {
            app.name: app for app in compile_applications(scenario, costs, 1)}
        [self.node] = build_nodes(self.env, scenario, costs, 1, self.done.append)
        self._job_ids = itertools.count()

    def task(self, application: str = "a") -> Task:
        """A task placed on the node as the dispatcher places one, not enqueued yet."""
        now = self.env.now
        app = self.applications[application]
        task = new_task(new_job(next(self._job_ids), app, now, -1, -1), app.stages[0], now)
        task.node = self.node.index
        self.node.load += 1
        self.node.backlog_s += task.stage.exec_mean_s[self.node.index]
        return task

    def submit(self, application: str = "a") -> Task:
        """A task whose inputs have arrived: placed and enqueued now."""
        task = self.task(application)
        task.ready_s = self.env.now
        self.node.enqueue(task)
        return task

    def run(self, until: float | None = None) -> None:
        self.env.run(until=until)


def flat(rows: list[tuple[Any, ...]]) -> list[float]:
    """The numbers of rows such as drain's ``(task, received_s, remaining_s)``, in order, tasks left out."""
    return [value for row in rows for value in row if not isinstance(value, Task)]


@pytest.fixture(params=list(SLOT_NODES))
def slot_node(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    node_class, node, model, stage = SLOT_NODES[request.param]
    harness = Harness(tmp_path, node, model, stage)
    assert type(harness.node) is node_class
    return harness


def test_up_is_a_class_attribute_no_instance_pays_for(slot_node: Harness) -> None:
    """``up`` is True and lives on the class (the dynamics layer sets it on an instance only while it is down)."""
    assert slot_node.node.up is True
    assert "up" not in vars(slot_node.node)


def test_remove_queued_keeps_the_others_order(slot_node: Harness) -> None:
    """Four 1 s tasks at 0: t0 runs, t1..t3 wait; removing t2 leaves t1, t3 in order (done at 2 and 3 s) and t2
    never finishes."""
    h = slot_node
    t0, t1, t2, t3 = (h.submit() for _ in range(4))
    assert h.node.queued_tasks() == [t1, t2, t3]
    assert h.node.remove(t2) == 0.0
    assert h.node.queued_tasks() == [t1, t3]
    assert (h.node.load, h.node.backlog_s, h.node.queue_length) == (3, 3.0, 2)
    h.run()
    assert h.done == [t0, t1, t3]
    assert [t0.finish_s, t1.finish_s, t3.finish_s] == pytest.approx([1.0, 2.0, 3.0])
    assert math.isnan(t2.start_s) and math.isnan(t2.finish_s)


def test_remove_running_starts_the_next_at_that_instant_and_its_completion_never_fires(slot_node: Harness) -> None:
    """t0 runs from 0; removed at 0.4 s it has received 0.4 s, t1 starts at 0.4 and ends at 1.4; t0's completion
    (due at 1 s) never calls back and its times stay as they were."""
    h = slot_node
    t0, t1 = h.submit(), h.submit()
    h.run(until=0.4)
    assert h.node.remove(t0) == pytest.approx(0.4)
    assert t1.start_s == pytest.approx(0.4)
    assert (h.node.load, h.node.backlog_s, h.node.queue_length) == (1, 1.0, 0)
    h.run()
    assert h.done == [t1]
    assert t1.finish_s == pytest.approx(1.4)
    assert t0.start_s == 0.0 and math.isnan(t0.finish_s)


def test_remove_running_with_nothing_waiting_frees_the_slot(slot_node: Harness) -> None:
    """The only task removed: the node is idle at once (no busy slot, nothing queued) and runs the next normally."""
    h = slot_node
    t0 = h.submit()
    h.run(until=0.5)
    h.node.remove(t0)
    assert (h.node.load, h.node.backlog_s, h.node.busy, h.node.queue_length) == (0, 0.0, 0, 0)
    assert h.node.running_start_sum_s == 0.0
    h.run(until=3.0)
    assert h.done == []
    t1 = h.submit()
    h.run()
    assert h.done == [t1]
    assert t1.start_s == 3.0


def test_drain_empties_the_node_and_reports_received_plus_remaining_as_the_drawn_service(slot_node: Harness) -> None:
    """t0 (1 s) runs, t1 and t2 wait, t3 is still in transfer: drained at 0.25 s, t0 has had 0.25 s and has 0.75 s
    left, the queue comes back in order, only t3 stays counted, no old completion fires, and a task submitted at
    5 s runs normally (1 s; a model server first loads its model again, 0.5 s, having lost its memory)."""
    h = slot_node
    t0, t1, t2 = h.submit(), h.submit(), h.submit()
    t3 = h.task()
    h.run(until=0.25)
    running, queued = h.node.drain()
    [(task, received_s, remaining_s)] = running
    assert task is t0
    assert (received_s, remaining_s) == pytest.approx((0.25, 0.75))
    assert received_s + remaining_s == pytest.approx(1.0)
    assert queued == [t1, t2]
    assert (h.node.load, h.node.backlog_s) == (1, 1.0)  # t3, in transfer
    assert (h.node.busy, h.node.queue_length, h.node.queued_tasks()) == (0, 0, [])
    assert h.node.free_slots == h.node.slots
    assert h.node.running_start_sum_s == 0.0
    h.run(until=5.0)
    assert h.done == []
    t3.ready_s = 5.0
    h.node.enqueue(t3)
    h.run()
    assert h.done == [t3]
    load_s = 0.5 if isinstance(h.node, ModelServerNode) else 0.0
    assert t3.finish_s == pytest.approx(6.0 + load_s)


def test_start_with_runs_for_exactly_the_given_service(slot_node: Harness) -> None:
    """After a drain, a resumed task started with 0.3 s left finishes 0.3 s later (a model server documents that it
    enqueues the task again for a new draw: its model reloads, 0.5 s, then 1 s)."""
    h = slot_node
    t0 = h.submit()
    h.run(until=0.5)
    [(_, _, remaining_s)], _ = h.node.drain()
    resumed = h.task()
    resumed.ready_s = 2.0
    h.run(until=2.0)
    h.node.start_with(resumed, remaining_s)
    h.run()
    assert h.done == [resumed] and math.isnan(t0.finish_s)
    assert resumed.start_s == 2.0
    expected = 1.5 if isinstance(h.node, ModelServerNode) else 0.5
    assert resumed.finish_s == pytest.approx(2.0 + expected)


def test_remove_of_a_task_not_at_the_node_says_so(slot_node: Harness) -> None:
    h = slot_node
    h.submit()
    stranger = h.task()
    with pytest.raises(ValueError, match="not queued or running at node server"):
        h.node.remove(stranger)


@pytest.mark.parametrize("node", ['queue = "priority"', 'queue = "priority"\nslots = 2\nmemory_bytes = 8e9'],
                         ids=["priority", "multi-priority"])
def test_queued_tasks_of_a_priority_queue_come_in_start_order(tmp_path: Path, node: str) -> None:
    """b has the more urgent priority (lower runs first): behind the running task, the queue lists b's tasks
    first, then a's, each in arrival order, which is the order they start in."""
    h = Harness(tmp_path, node, stage="slots = 2" if "memory" in node else "", b_priority=-1.0)
    h.submit("a")
    a1, b1, a2, b2 = h.submit("a"), h.submit("b"), h.submit("a"), h.submit("b")
    assert h.node.queued_tasks() == [b1, b2, a1, a2]
    h.node.remove(b1)
    assert h.node.queued_tasks() == [b2, a1, a2]
    h.run()
    assert [task.start_s for task in (b2, a1, a2)] == pytest.approx([1.0, 3.0, 4.0])


@pytest.mark.parametrize("node", ['queue = "sjf"', 'queue = "sjf"\nsjf_by = "drawn"'], ids=["expected", "drawn"])
def test_queued_tasks_of_shortest_job_first_come_shortest_first(tmp_path: Path, node: str) -> None:
    """Behind a running task, a 2 s task then two 1 s tasks wait: the queue lists the 1 s tasks first, and after
    removing one of them the other starts at 1 s and the 2 s task at 2 s."""
    h = Harness(tmp_path, node)
    h.submit("a")
    long, short1, short2 = h.submit("b"), h.submit("a"), h.submit("a")
    assert h.node.queued_tasks() == [short1, short2, long]
    h.node.remove(short1)
    h.run()
    assert (short2.start_s, long.start_s) == pytest.approx((1.0, 2.0))


def test_start_with_on_a_busy_node_is_refused(tmp_path: Path) -> None:
    """start_with needs a free slot: a busy FIFO node says so rather than failing on an empty list."""
    h = Harness(tmp_path)
    h.submit()
    with pytest.raises(RuntimeError, match="node server: start_with needs a free slot"):
        h.node.start_with(h.task(), 1.0)


# -- processor sharing -------------------------------------------------------------------------------------------


def ps(tmp_path: Path, slots: int = 1) -> Harness:
    harness = Harness(tmp_path, f'queue = "ps"\nslots = {slots}')
    assert isinstance(harness.node, ProcessorSharingNode)
    return harness


def busy_slot_s(node: Node) -> float:
    intervals = node.slot_intervals()  # type: ignore[attr-defined]
    assert all(finish == finish for _, finish in intervals), "an interval is still open"
    return sum(finish - start for start, finish in intervals)


def test_processor_sharing_remove_gives_the_other_the_whole_slot(tmp_path: Path) -> None:
    """1 s and 2 s tasks share one slot from 0: at 0.5 s each has received 0.25 s. Removing the short one, the
    long one has 1.75 s left alone: it finishes at 2.25 s (not at 3 s as with both)."""
    h = ps(tmp_path)
    short, long = h.submit("a"), h.submit("b")
    h.run(until=0.5)
    assert h.node.queued_tasks() == []
    assert h.node.remove(short) == pytest.approx(0.25)
    assert (h.node.load, h.node.backlog_s) == (1, 2.0)
    h.run()
    assert h.done == [long]
    assert long.finish_s == pytest.approx(2.25)
    assert math.isnan(short.finish_s)


def test_processor_sharing_drain_reports_virtual_progress_and_closes_busy_intervals(tmp_path: Path) -> None:
    """Drained at 0.5 s: (short, 0.25, 0.75) and (long, 0.25, 1.75); the busy slot intervals add up to the 0.5 s
    busy before the failure and stay so while the node is empty; a task started afterwards with 0.3 s runs 0.3 s."""
    h = ps(tmp_path)
    short, long = h.submit("a"), h.submit("b")
    h.run(until=0.5)
    running, queued = h.node.drain()
    assert queued == []
    assert [task for task, _, _ in running] == [short, long]
    assert flat(running) == pytest.approx([0.25, 0.75, 0.25, 1.75])
    assert (h.node.load, h.node.backlog_s, h.node.busy, h.node.queue_length) == (0, 0.0, 0, 0)
    assert busy_slot_s(h.node) == pytest.approx(0.5)
    h.run(until=10.0)
    assert h.done == []
    assert busy_slot_s(h.node) == pytest.approx(0.5)
    resumed = h.task("b")
    h.node.start_with(resumed, 0.3)
    h.run()
    assert h.done == [resumed]
    assert (resumed.start_s, resumed.finish_s) == pytest.approx((10.0, 10.3))
    assert busy_slot_s(h.node) == pytest.approx(0.8)


def test_processor_sharing_start_with_joins_the_share(tmp_path: Path) -> None:
    """A 1 s task alone from 0; at 0.5 s a task joins with 1 s to receive: both at half rate, the first (0.5 s
    left) finishes at 1.5 s, the other then has 0.5 s left alone: 2.0 s."""
    h = ps(tmp_path)
    first = h.submit("a")
    h.run(until=0.5)
    joined = h.task("a")
    h.node.start_with(joined, 1.0)
    h.run()
    assert h.done == [first, joined]
    assert (first.finish_s, joined.finish_s) == pytest.approx((1.5, 2.0))


# -- round robin -------------------------------------------------------------------------------------------------


def rr(tmp_path: Path) -> Harness:
    harness = Harness(tmp_path, 'queue = "rr"\nquantum_s = 0.25')
    assert isinstance(harness.node, RoundRobinNode)
    return harness


def test_round_robin_drain_counts_preempted_tasks_as_started(tmp_path: Path) -> None:
    """Quantum 0.25 s, 1 s (a) and 2 s (b) at 0: a 0-0.25, b 0.25-0.5, a from 0.5. Drained at 0.6 s: a has had
    0.35 s (0.65 s left), b, preempted, 0.25 s (1.75 s left); neither is queued; the busy intervals add up to the
    0.6 s before the failure."""
    h = rr(tmp_path)
    a, b = h.submit("a"), h.submit("b")
    h.run(until=0.6)
    assert h.node.queued_tasks() == []  # b has started
    running, queued = h.node.drain()
    assert queued == []
    assert [task for task, _, _ in running] == [a, b]
    assert flat(running) == pytest.approx([0.35, 0.65, 0.25, 1.75])
    assert (h.node.load, h.node.backlog_s, h.node.busy, h.node.queue_length) == (0, 0.0, 0, 0)
    assert busy_slot_s(h.node) == pytest.approx(0.6)
    h.run(until=5.0)
    assert h.done == []
    assert busy_slot_s(h.node) == pytest.approx(0.6)


def test_round_robin_start_with_beyond_the_slots_joins_the_rotation(tmp_path: Path) -> None:
    """One slot, two resumed tasks at 5 s with 0.3 s and 0.2 s left: the first runs 5-5.25, the second 5.25-5.45
    (done), the first 5.45-5.5 (done)."""
    h = rr(tmp_path)
    first, second = h.task("a"), h.task("a")
    h.run(until=5.0)
    h.node.start_with(first, 0.3)
    h.node.start_with(second, 0.2)
    assert math.isnan(second.start_s)
    h.run()
    assert h.done == [second, first]
    assert (second.start_s, second.finish_s, first.finish_s) == pytest.approx((5.25, 5.45, 5.5))


def test_round_robin_remove_of_a_preempted_task_returns_its_service(tmp_path: Path) -> None:
    """At 0.6 s b waits preempted with 0.25 s received: removing it returns 0.25 s; a, alone from the end of its
    quantum at 0.75 s with 0.25 s left, finishes at 1.25 s."""
    h = rr(tmp_path)
    a, b = h.submit("a"), h.submit("b")
    h.run(until=0.6)
    assert h.node.remove(b) == pytest.approx(0.25)
    assert (h.node.load, h.node.backlog_s) == (1, 1.0)
    h.run()
    assert h.done == [a]
    assert a.finish_s == pytest.approx(1.25)


# -- multi-resource ----------------------------------------------------------------------------------------------


def test_multi_resource_removing_a_blocked_head_lets_the_next_start(tmp_path: Path) -> None:
    """Four slots: a wide task (3 slots, 1 s) runs from 0; at 0.1 s another wide one blocks the head and a 1-slot
    task waits behind it. Removing the head, the 1-slot task fits and starts at once; removing the running wide
    task releases its slots and memory."""
    h = Harness(tmp_path, "slots = 4\nmemory_bytes = 8e9", wide="slots = 3\nmemory_bytes = 1e9")
    assert isinstance(h.node, MultiResourceNode)
    wide = h.submit("wide")
    h.run(until=0.1)
    head, one = h.submit("wide"), h.submit("a")
    assert h.node.queued_tasks() == [head, one] and math.isnan(one.start_s)
    assert h.node.remove(head) == 0.0
    assert one.start_s == pytest.approx(0.1)
    assert (h.node.queued_tasks(), h.node.busy, h.node.free_slots, h.node.free_memory_bytes) == ([], 4, 0, 7e9)
    assert h.node.remove(wide) == pytest.approx(0.1)
    assert (h.node.busy, h.node.free_slots, h.node.free_memory_bytes) == (1, 3, 8e9)
    h.run()
    assert h.done == [one]
    assert one.finish_s == pytest.approx(1.1)
    assert h.node.expected_ready_time_s() == h.env.now
    assert h.node.drain() == ([], [])
    assert (h.node.busy, h.node.free_slots, h.node.free_memory_bytes, h.node.load) == (0, 4, 8e9, 0)


# -- model server ------------------------------------------------------------------------------------------------


def batching(tmp_path: Path) -> Harness:
    """One slot, batches of up to 2 taking 1 s whatever their size (batch_scaling 0)."""
    harness = Harness(tmp_path, "max_batch_size = 2", "batch_scaling = 0.0")
    assert isinstance(harness.node, ModelServerNode)
    return harness


def test_model_server_a_task_leaves_its_batch_which_keeps_its_time(tmp_path: Path) -> None:
    """t0 alone 0-1; t1 and t2 batch 1-2; t3 waits. t1 removed at 1.5 s (0.5 s received): t2 still finishes at 2
    s. Had t2 also left, the empty batch ends at once and t3 starts then."""
    h = batching(tmp_path)
    t0, t1, t2, t3 = (h.submit() for _ in range(4))
    h.run(until=1.5)
    assert h.node.remove(t1) == pytest.approx(0.5)
    assert h.node.queued_tasks() == [t3]
    h.run(until=1.75)
    assert math.isnan(t2.finish_s) and math.isnan(t3.start_s)
    assert h.node.remove(t2) == pytest.approx(0.75)
    assert t3.start_s == 1.75
    h.run()
    assert h.done == [t0, t3]
    assert t3.finish_s == pytest.approx(2.75)
    assert (h.node.load, h.node.backlog_s) == (0, 0.0)
    assert flat(sorted(h.node.slot_intervals())) == pytest.approx([0.0, 1.0, 1.0, 1.75, 1.75, 2.75])
    assert [size for _, _, _, size, _ in h.node.batches] == [1, 1]


def test_model_server_drain_gives_every_task_of_a_batch_its_remaining_time(tmp_path: Path) -> None:
    """t0 alone 0-1, then t1 and t2 batch 1-2, t3 waits; drained at 1.4 s: t1 and t2 have had 0.4 s and have
    0.6 s left; t3 comes back queued; the batch's slot was busy until the failure."""
    h = batching(tmp_path)
    _, t1, t2, t3 = (h.submit() for _ in range(4))
    h.run(until=1.4)
    running, queued = h.node.drain()
    assert [task for task, _, _ in running] == [t1, t2]
    assert flat(running) == pytest.approx([0.4, 0.6, 0.4, 0.6])
    assert queued == [t3]
    assert (h.node.load, h.node.backlog_s, h.node.busy, h.node.queue_length) == (0, 0.0, 0, 0)
    assert flat(h.node.slot_intervals()) == pytest.approx([0.0, 1.0, 1.0, 1.4])
    h.run()
    assert len(h.done) == 1


def test_model_server_drain_clears_resident_models(tmp_path: Path) -> None:
    """Room for one of two models; 'short' is resident at the start. A failure clears the memory: nothing is
    resident after the drain, and the next task pays the load time (0.5 s) again."""
    h = Harness(tmp_path, "memory_bytes = 10", "memory_bytes = 6\nload_time_s = 0.5")
    assert isinstance(h.node, ModelServerNode)
    assert h.node.resident_models == ("short",)
    h.submit()
    h.run(until=0.5)
    h.node.drain()
    assert h.node.resident_models == ()
    assert h.node.free_memory_bytes == 10
    loads = h.node.model_loads
    task = h.submit()
    h.run()
    assert h.node.model_loads == loads + 1
    assert task.finish_s == pytest.approx(2.0)


@pytest.mark.parametrize("make", [ps, rr, batching], ids=["ps", "rr", "model-server"])
def test_remove_and_drain_of_an_unknown_task_or_an_empty_node(tmp_path: Path, make: Callable[[Path], Harness]
                                                              ) -> None:
    """An empty node drains to nothing; removing a task it does not hold is a ValueError naming the node."""
    h = make(tmp_path)
    assert h.node.drain() == ([], [])
    with pytest.raises(ValueError, match="not queued or running at node server"):
        h.node.remove(h.task())
