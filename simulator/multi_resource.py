"""The multi-resource node: tasks that hold several slots and working memory while they run.

A stage may demand ``slots`` (cores) and ``memory_bytes`` (working memory) of its node. A node runs a waiting
task only when both are free; the node's ``memory_bytes`` is the memory the demands draw from (infinite: only
slots limit). The queue is strict: first come first served (or by priority with ``queue = "priority"``), and
when the task at its head does not fit, the tasks behind it wait too (head-of-line blocking, no backfilling), so
a large task is never starved by a stream of small ones.

`simulator.cluster.build_nodes` makes this kind of node only where some stage that may run on it demands more
than one slot or any memory, so scenarios without demands keep the plain `Node` and its short path.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import simpy

from simulator.cluster import Node
from simulator.config import NodeSpec
from simulator.engine import scheduler
from simulator.workload import Task


class MultiResourceNode(Node):
    """A node with ``slots`` slots and ``memory_bytes`` bytes of memory (bytes; inf: unlimited) shared by tasks
    that each hold their stage's demand of both from start to finish.

    ``busy`` counts the slots held. Waiting tasks claim their demand: `free_slots` and `free_memory_bytes` are
    what neither a running nor a waiting task holds or claims, so decisions taken in a row see each other.
    """

    def __init__(self, env: simpy.Environment, index: int, spec: NodeSpec,
                 on_task_done: Callable[[Task], None]) -> None:
        super().__init__(env, index, spec, on_task_done)
        self.memory_bytes = spec.memory_bytes
        self._unheld_slots = spec.slots
        self._unheld_memory_bytes = spec.memory_bytes
        self._claimed_slots = 0
        self._claimed_memory_bytes = 0.0
        self._slot_work_s = 0.0
        """Expected slot-seconds of the tasks waiting or running here (a task: its slots x its expected time)."""
        self._slot_start_sum_s = 0.0
        """Sum over running tasks of slots x start time, from which the slot-seconds they have done follow."""
        self._finish_callbacks: list[Callable[[Any], None]] = [self._on_finish]
        self._schedule = scheduler(env)

    @property
    def busy(self) -> int:
        """Slots held by running tasks."""
        return self.slots - self._unheld_slots

    @property
    def free_slots(self) -> int:
        return max(0, self._unheld_slots - self._claimed_slots)

    @property
    def free_memory_bytes(self) -> float:
        return max(0.0, self._unheld_memory_bytes - self._claimed_memory_bytes)

    def expected_ready_time_s(self) -> float:
        """Now if nothing waits and a slot is free; otherwise now plus the remaining expected slot-seconds of the
        tasks here spread over the slots."""
        now = self.env.now
        if self.queue_length == 0 and self._unheld_slots > 0:
            return now
        done_s = self.busy * now - self._slot_start_sum_s
        return now + max(0.0, self._slot_work_s - done_s) / self.slots

    def work_left_s(self) -> float:
        """The backlog less the service running tasks have received, each task counted once whatever slots it
        holds (``expected_ready_time_s`` weighs tasks by their slots instead)."""
        running = self.slots - len(self._idle_events)  # one slot event per running task
        return max(0.0, self.backlog_s - (running * self.env._now - self.running_start_sum_s))

    def enqueue(self, task: Task) -> None:
        """A task whose inputs have arrived joins the queue; the queue's head starts as soon as its demand fits."""
        spec = task.stage.spec
        self._claimed_slots += spec.slots
        self._claimed_memory_bytes += spec.memory_bytes
        self._slot_work_s += spec.slots * task.exec_s[self.index]
        if self._priority:
            heapq.heappush(self._heap, (task.job.priority, next(self._sequence), task))
        else:
            self._fifo.append(task)
        self._start_fitting()

    def _head(self) -> Task | None:
        if self._priority:
            return self._heap[0][2] if self._heap else None
        return self._fifo[0] if self._fifo else None

    def _start_fitting(self) -> None:
        """Start tasks from the head of the queue while the head's demand fits (head-of-line blocking)."""
        while (task := self._head()) is not None:
            spec = task.stage.spec
            if spec.slots > self._unheld_slots or spec.memory_bytes > self._unheld_memory_bytes:
                return
            if self._priority:
                heapq.heappop(self._heap)
            else:
                self._fifo.popleft()
            self._claimed_slots -= spec.slots
            self._claimed_memory_bytes -= spec.memory_bytes
            self._unheld_slots -= spec.slots
            self._unheld_memory_bytes -= spec.memory_bytes
            now = self.env._now
            task.start_s = now
            self._slot_start_sum_s += spec.slots * now
            self.running_start_sum_s += now
            sampler = task.samplers[self.index]
            assert sampler is not None, "dispatcher placed a task on a node it cannot run on"
            event = self._idle_events.pop()  # at most `slots` tasks run, each holding at least one slot
            event._value = task
            event.callbacks = self._finish_callbacks
            self._schedule(event, sampler())

    def _on_finish(self, event: simpy.Event) -> None:
        task: Task = event._value
        spec = task.stage.spec
        task.finish_s = self.env._now
        self._idle_events.append(event)
        self._unheld_slots += spec.slots
        self._unheld_memory_bytes += spec.memory_bytes
        self._slot_start_sum_s -= spec.slots * task.start_s
        self.running_start_sum_s -= task.start_s
        exec_mean_s = task.exec_s[self.index]
        self._slot_work_s -= spec.slots * exec_mean_s
        self.backlog_s -= exec_mean_s
        self.load -= 1
        self._start_fitting()
        self._on_task_done(task)

    # -- lifecycle (docs/dynamics.md) --------------------------------------------------------------------------

    def start_with(self, task: Task, service_s: float) -> None:
        """Start ``task`` now for exactly ``service_s``, holding its stage's demand, ahead of the queue (the
        caller guarantees the demand fits, as on an emptied node).

        Raises:
            RuntimeError: The demand does not fit in what is free.
        """
        spec = task.stage.spec
        if spec.slots > self._unheld_slots or spec.memory_bytes > self._unheld_memory_bytes:
            raise RuntimeError(f"node {self.name}: start_with needs {spec.slots} slots and {spec.memory_bytes:g} "
                               f"bytes free, {self._unheld_slots} and {self._unheld_memory_bytes:g} are")
        self._unheld_slots -= spec.slots
        self._unheld_memory_bytes -= spec.memory_bytes
        self._slot_work_s += spec.slots * task.exec_s[self.index]
        now = self.env._now
        task.start_s = now
        self._slot_start_sum_s += spec.slots * now
        self.running_start_sum_s += now
        event = self._free_event()
        event._value = task
        event.callbacks = self._finish_callbacks
        self._schedule(event, service_s)

    def _end_service(self, event: simpy.Event) -> float:
        task: Task = event._value
        spec = task.stage.spec
        self._unheld_slots += spec.slots
        self._unheld_memory_bytes += spec.memory_bytes
        self._slot_start_sum_s -= spec.slots * task.start_s
        self.running_start_sum_s -= task.start_s
        self._slot_work_s -= spec.slots * task.exec_s[self.index]
        return self.env._now - task.start_s

    def _slot_freed(self, event: simpy.Event) -> None:
        self._idle_events.append(event)
        self._start_fitting()

    def _take_queued(self, task: Task) -> float:
        """Also releases the task's claim; a removed head may let the tasks behind it start."""
        super()._take_queued(task)
        spec = task.stage.spec
        self._claimed_slots -= spec.slots
        self._claimed_memory_bytes -= spec.memory_bytes
        self._slot_work_s -= spec.slots * task.exec_s[self.index]
        self._start_fitting()
        return 0.0

    def _empty(self, now: float) -> None:
        super()._empty(now)
        self._unheld_slots = self.slots
        self._unheld_memory_bytes = self.memory_bytes
        self._claimed_slots = 0
        self._claimed_memory_bytes = 0.0
        self._slot_work_s = 0.0
        self._slot_start_sum_s = 0.0
