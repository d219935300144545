"""Queue disciplines beyond FIFO and priority: shortest job first, weighted fair queueing, processor sharing and
round robin.

`simulator.cluster.build_nodes` makes one of these node classes only for a node whose ``queue`` asks for it, so
a FIFO or priority node keeps the short path of `simulator.cluster.Node`. Every class keeps the state policies
estimate from (``load``, ``backlog_s``, ``expected_ready_time_s``) with the meaning `Node` gives it.

* ``sjf``: non-preemptive shortest job first: a free slot takes the waiting task with the smallest size, either
  the stage's expected service time on the node (``sjf_by = "expected"``) or the time drawn for the task when it
  arrives (``"drawn"``: sizes known in advance, the M/G/1 model of Phipps 1956). Ties go to the earlier arrival.
* ``wfq``: non-preemptive weighted fair queueing between applications (Demers, Keshav and Shenker, "Analysis and
  simulation of a fair queueing algorithm", SIGCOMM 1989): a task's finish tag is ``max(V, F_app) + size /
  weight`` with its expected service time as size, ``F_app`` the application's last tag and ``V`` the virtual
  time of the reference GPS server of capacity ``slots``; a free slot takes the smallest tag.
* ``ps``: processor sharing: the ``n`` tasks at the node are all in service, each at rate ``min(1, slots / n)``
  (``slots`` servers shared egalitarian); with one slot this is M/G/1-PS.
* ``rr``: round robin: a task holds a slot for at most ``quantum_s``, then goes to the back of the queue;
  preemption costs nothing.

Busy time: a PS or RR task is not in one slot from its first service to its finish, so these nodes report
their busy slot intervals (`slot_intervals`) and `simulator.metrics.node_table` uses them instead of the task
rows: the busy slot-seconds are the integral of ``min(n, slots)`` for PS and of the occupied slots for RR. A
task row's ``start_s`` is when it first received service (its arrival for PS), ``finish_s`` when it completed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy

from simulator.cluster import Node, not_at_node, take_from_heap
from simulator.config import NodeSpec
from simulator.engine import reusable_event, scheduler
from simulator.workload import Task

__all__ = ["ProcessorSharingNode", "RoundRobinNode", "ShortestJobFirstNode", "SlotIntervals",
           "WeightedFairNode", "discipline_node_class"]


class SlotIntervals:
    """Busy slot intervals of a node whose busy slots change in steps: raising the level opens an interval per
    slot, lowering it closes the most recently opened ones, so the intervals' total length is the integral of
    the level."""

    def __init__(self) -> None:
        self._open: list[float] = []
        self._closed: list[tuple[float, float]] = []

    def set_level(self, level: int, now: float) -> None:
        opened = self._open
        while len(opened) < level:
            opened.append(now)
        while len(opened) > level:
            self._closed.append((opened.pop(), now))

    def intervals(self) -> list[tuple[float, float]]:
        """(start_s, finish_s) of every busy interval, closed ones first (finish NaN for those still open)."""
        return self._closed + [(start, math.nan) for start in self._open]


class _OrderedQueueNode(Node):
    """A non-preemptive node whose free slot takes the waiting task with the smallest `_order` key."""

    def __init__(self, env: simpy.Environment, index: int, spec: NodeSpec,
                 on_task_done: Callable[[Task], None]) -> None:
        super().__init__(env, index, spec, on_task_done)
        self._waiting: list[tuple[float, int, Task, float]] = []
        """(key, sequence, task, drawn service time or NaN) of the tasks waiting for a slot."""

    @property
    def queue_length(self) -> int:
        return len(self._waiting)

    def _order(self, task: Task) -> tuple[float, float]:
        """The task's key (smaller starts first) and its service time if already drawn (NaN otherwise)."""
        raise NotImplementedError

    def enqueue(self, task: Task) -> None:
        key, service_s = self._order(task)
        if self._idle_events:
            self._start(task, service_s, self._idle_events.pop())
        else:
            heappush(self._waiting, (key, next(self._sequence), task, service_s))

    def _on_complete(self, event: simpy.Event) -> None:
        task: Task = event._value
        task.finish_s = self.env._now
        self.load -= 1
        self.backlog_s -= task.exec_s[self.index]
        self.running_start_sum_s -= task.start_s
        if self._waiting:
            _, _, following, service_s = heappop(self._waiting)
            self._start(following, service_s, event)
        else:
            self._idle_events.append(event)
        self._on_task_done(task)

    def queued_tasks(self) -> list[Task]:
        return [task for _, _, task, _ in sorted(self._waiting)]

    def _slot_freed(self, event: simpy.Event) -> None:
        if self._waiting:
            _, _, following, service_s = heappop(self._waiting)
            self._start(following, service_s, event)
        else:
            self._idle_events.append(event)

    def _take_queued(self, task: Task) -> float:
        take_from_heap(self._waiting, task, 2, self.name)
        return 0.0

    def _empty(self, now: float) -> None:
        super()._empty(now)
        self._waiting.clear()


class ShortestJobFirstNode(_OrderedQueueNode):
    """Non-preemptive shortest job first, by expected or by drawn size (see the module docstring)."""

    def __init__(self, env: simpy.Environment, index: int, spec: NodeSpec,
                 on_task_done: Callable[[Task], None]) -> None:
        super().__init__(env, index, spec, on_task_done)
        self._by_drawn = spec.sjf_by == "drawn"

    def _order(self, task: Task) -> tuple[float, float]:
        if self._by_drawn:
            size = task.samplers[self.index]()  # type: ignore[misc]
            return size, size
        return task.exec_s[self.index], math.nan


class WeightedFairNode(_OrderedQueueNode):
    """Weighted fair queueing between applications by virtual finish tags (see the module docstring).

    The GPS virtual time advances at ``slots / (sum of the weights of the applications backlogged in GPS)``;
    an application stays backlogged in GPS until the virtual time reaches its last finish tag.
    """

    def __init__(self, env: simpy.Environment, index: int, spec: NodeSpec,
                 on_task_done: Callable[[Task], None]) -> None:
        super().__init__(env, index, spec, on_task_done)
        self._virtual = 0.0
        self._virtual_at = 0.0
        self._last_tag: dict[str, float] = {}
        self._backlogged: list[tuple[float, str]] = []
        """(last finish tag, application) of the applications backlogged in GPS; an entry whose tag is no longer
        its application's last is stale and skipped."""
        self._backlogged_weight = 0.0
        self._weights: dict[str, float] = {}

    def _advance_virtual_time(self, now: float) -> None:
        backlogged = self._backlogged
        while backlogged:
            tag, application = backlogged[0]
            if tag != self._last_tag[application]:
                heappop(backlogged)
                continue
            rate = self.slots / self._backlogged_weight
            reached_at = self._virtual_at + (tag - self._virtual) / rate
            if reached_at > now:
                self._virtual += (now - self._virtual_at) * rate
                break
            heappop(backlogged)
            self._virtual, self._virtual_at = tag, reached_at
            self._backlogged_weight -= self._weights[application]
        if not backlogged:
            self._backlogged_weight = 0.0  # no rounding left behind when GPS empties
        self._virtual_at = now

    def _order(self, task: Task) -> tuple[float, float]:
        self._advance_virtual_time(self.env._now)
        spec = task.job.application.spec
        application = spec.name
        last = self._last_tag.get(application, -math.inf)
        if last <= self._virtual:  # not backlogged in GPS: it joins
            self._weights[application] = spec.weight
            self._backlogged_weight += spec.weight
        tag = max(self._virtual, last) + task.exec_s[self.index] / spec.weight
        self._last_tag[application] = tag
        heappush(self._backlogged, (tag, application))
        return tag, math.nan


class ProcessorSharingNode(Node):
    """Processor sharing over ``slots`` servers, by the virtual-time technique.

    Every task in service progresses at the same rate ``min(1, slots / n)``, so one virtual clock (the service
    each has received since the clock's origin) serves them all: a task that arrives at virtual time ``v`` with
    size ``s`` finishes when the clock reaches ``v + s``. The node keeps these finish tags in a heap and one
    pending completion event, made again whenever ``n`` changes (an outdated event does nothing when it fires).
    """

    def __init__(self, env: simpy.Environment, index: int, spec: NodeSpec,
                 on_task_done: Callable[[Task], None]) -> None:
        super().__init__(env, index, spec, on_task_done)
        self._virtual = 0.0
        self._virtual_at = 0.0
        self._virtual_start_sum = 0.0
        self._in_service: list[tuple[float, int, Task, float]] = []
        """(virtual finish tag, sequence, task, virtual start) of every task at the node."""
        self._pending: simpy.Event | None = None
        self._pending_callbacks: list[Callable[[Any], None]] = [self._on_completion_due]
        self._schedule = scheduler(env)
        self._busy_slots = SlotIntervals()

    @property
    def busy(self) -> int:
        return min(len(self._in_service), self.slots)

    @property
    def queue_length(self) -> int:
        """Tasks beyond the node's slots (they all share the node; none waits idle)."""
        return max(0, len(self._in_service) - self.slots)

    def work_left_s(self) -> float:
        """The backlog less the service the tasks sharing the node have attained."""
        self._advance(self.env._now)
        attained = len(self._in_service) * self._virtual - self._virtual_start_sum
        return max(0.0, self.backlog_s - attained)

    def slot_intervals(self) -> list[tuple[float, float]]:
        """Busy slot intervals: their total is the integral of ``min(n, slots)``."""
        return self._busy_slots.intervals()

    def _advance(self, now: float) -> None:
        n = len(self._in_service)
        if n:
            self._virtual += (now - self._virtual_at) * min(1.0, self.slots / n)
        self._virtual_at = now

    def enqueue(self, task: Task) -> None:
        now = self.env._now
        self._advance(now)
        task.start_s = now
        size = task.samplers[self.index]()  # type: ignore[misc]
        heappush(self._in_service, (self._virtual + size, next(self._sequence), task, self._virtual))
        self._virtual_start_sum += self._virtual
        self._changed(now)

    def _changed(self, now: float) -> None:
        """After ``n`` changed: record the busy slots and schedule the next completion at the new rate."""
        in_service = self._in_service
        n = len(in_service)
        self._busy_slots.set_level(min(n, self.slots), now)
        if not n:
            self._pending = None
            return
        event = reusable_event(self.env)
        event.callbacks = self._pending_callbacks
        self._pending = event
        self._schedule(event, max(0.0, in_service[0][0] - self._virtual) / min(1.0, self.slots / n))

    def _on_completion_due(self, event: simpy.Event) -> None:
        if event is not self._pending:
            return
        now = self.env._now
        tag, _, task, virtual_start = heappop(self._in_service)
        self._virtual, self._virtual_at = tag, now  # exactly the finished task's tag: no drift accumulates
        self._virtual_start_sum -= virtual_start
        if not self._in_service:
            self._virtual = self._virtual_start_sum = 0.0
        task.finish_s = now
        self.load -= 1
        self.backlog_s -= task.exec_s[self.index]
        self._changed(now)
        self._on_task_done(task)

    # -- lifecycle (docs/dynamics.md) --------------------------------------------------------------------------

    def queued_tasks(self) -> list[Task]:
        """None: every task at a processor-sharing node is in service."""
        return []

    def remove(self, task: Task) -> float:
        """As `Node.remove`: the others share the node from now on. Returns the task's virtual progress (the
        service it has received)."""
        now = self.env._now
        self._advance(now)
        _, _, _, virtual_start = take_from_heap(self._in_service, task, 2, self.name)
        self._virtual_start_sum -= virtual_start
        received_s = self._virtual - virtual_start
        if not self._in_service:
            self._virtual = self._virtual_start_sum = 0.0
        self._forget([task])
        self._changed(now)
        return received_s

    def drain(self) -> tuple[list[tuple[Task, float, float]], list[Task]]:
        """As `Node.drain`: every task is in service, with its virtual progress received and its finish tag minus
        the virtual time remaining; the busy slot intervals close now."""
        now = self.env._now
        self._advance(now)
        virtual = self._virtual
        running = [(task, virtual - virtual_start, tag - virtual)
                   for tag, _, task, virtual_start in sorted(self._in_service)]
        self._in_service.clear()
        self._virtual = self._virtual_start_sum = 0.0
        self._forget([task for task, _, _ in running])
        self._changed(now)
        return running, []

    def start_with(self, task: Task, service_s: float) -> None:
        """The task joins the processor share with ``service_s`` of service to receive (no slot is needed)."""
        now = self.env._now
        self._advance(now)
        task.start_s = now
        heappush(self._in_service, (self._virtual + service_s, next(self._sequence), task, self._virtual))
        self._virtual_start_sum += self._virtual
        self._changed(now)


class RoundRobinNode(Node):
    """Round robin with a quantum: a task holds a slot for at most ``quantum_s`` of service, then joins the back
    of the queue; a task that arrives joins the back too. One event per quantum and slot (the slot's own
    reusable event, as in `Node`)."""

    def __init__(self, env: simpy.Environment, index: int, spec: NodeSpec,
                 on_task_done: Callable[[Task], None]) -> None:
        super().__init__(env, index, spec, on_task_done)
        self.quantum_s = spec.quantum_s
        self._waiting: deque[tuple[Task, float, float]] = deque()
        """(task, remaining service, service received) of the tasks waiting for a slot."""
        self._attained_s = 0.0
        """Service received by the tasks at the node, up to the start of their current quantum."""
        self._schedule = scheduler(env)
        self._busy_slots = SlotIntervals()

    @property
    def queue_length(self) -> int:
        return len(self._waiting)

    def work_left_s(self) -> float:
        """As `Node`'s, with the service already received by preempted tasks taken off the backlog."""
        elapsed = self.busy * self.env._now - self.running_start_sum_s + self._attained_s
        return max(0.0, self.backlog_s - elapsed)

    def slot_intervals(self) -> list[tuple[float, float]]:
        """Busy slot intervals: a slot is busy from taking a task until it has none to take."""
        return self._busy_slots.intervals()

    def enqueue(self, task: Task) -> None:
        size = task.samplers[self.index]()  # type: ignore[misc]
        if self._idle_events:
            self._run(task, size, 0.0, self._idle_events.pop())
            self._busy_slots.set_level(self.busy, self.env._now)
        else:
            self._waiting.append((task, size, 0.0))

    def _run(self, task: Task, remaining_s: float, attained_s: float, event: simpy.Event) -> None:
        now = self.env._now
        if task.start_s != task.start_s:
            task.start_s = now
        self.running_start_sum_s += now
        run_s = min(self.quantum_s, remaining_s)
        event._value = (task, remaining_s - run_s, attained_s, now)
        event.callbacks = self._completion_callbacks
        self._schedule(event, run_s)

    def _on_complete(self, event: simpy.Event) -> None:
        task, remaining_s, attained_s, started_s = event._value
        now = self.env._now
        self.running_start_sum_s -= started_s
        finished = remaining_s <= 0.0
        if finished:
            self._attained_s -= attained_s
        else:
            self._attained_s += now - started_s
            self._waiting.append((task, remaining_s, attained_s + now - started_s))
        if self._waiting:
            self._run(*self._waiting.popleft(), event)
        else:
            self._idle_events.append(event)
            self._busy_slots.set_level(self.busy, now)
        if finished:
            task.finish_s = now
            self.load -= 1
            self.backlog_s -= task.exec_s[self.index]
            self._on_task_done(task)

    # -- lifecycle (docs/dynamics.md) --------------------------------------------------------------------------

    def queued_tasks(self) -> list[Task]:
        """Waiting tasks that have had no service yet (preempted ones have started), in queue order."""
        return [task for task, _, _ in self._waiting if task.start_s != task.start_s]

    def start_with(self, task: Task, service_s: float) -> None:
        """The task runs with ``service_s`` of service left: on a free slot now, otherwise at the back of the
        queue (a node may have had more started tasks than slots)."""
        if self._idle_events:
            self._run(task, service_s, 0.0, self._idle_events.pop())
            self._busy_slots.set_level(self.busy, self.env._now)
        else:
            self._waiting.append((task, service_s, 0.0))

    def _service_of(self, event: simpy.Event, now: float) -> tuple[Task, float, float]:
        task, remaining_s, attained_s, started_s = event._value
        return task, attained_s + now - started_s, remaining_s

    def _end_service(self, event: simpy.Event) -> float:
        _, _, attained_s, started_s = event._value
        self.running_start_sum_s -= started_s
        self._attained_s -= attained_s
        return attained_s + self.env._now - started_s

    def _slot_freed(self, event: simpy.Event) -> None:
        if self._waiting:
            self._run(*self._waiting.popleft(), event)
        else:
            self._idle_events.append(event)
            self._busy_slots.set_level(self.busy, self.env._now)

    def _take_queued(self, task: Task) -> float:
        for entry in self._waiting:
            if entry[0] is task:
                self._waiting.remove(entry)
                self._attained_s -= entry[2]
                return entry[2]
        raise not_at_node(task, self.name)

    def _started_waiting(self) -> list[tuple[Task, float, float]]:
        return [(task, attained_s, remaining_s) for task, remaining_s, attained_s in self._waiting
                if task.start_s == task.start_s]

    def _empty(self, now: float) -> None:
        super()._empty(now)
        self._waiting.clear()
        self._attained_s = 0.0
        self._busy_slots.set_level(0, now)


_CLASSES: dict[str, type[Node]] = {
    "sjf": ShortestJobFirstNode,
    "wfq": WeightedFairNode,
    "ps": ProcessorSharingNode,
    "rr": RoundRobinNode,
}


def discipline_node_class(queue: str) -> type[Node] | None:
    """The node class of a discipline of this module, or None for ``fifo`` and ``priority`` (plain `Node`)."""
    return _CLASSES.get(queue)
