"""Compute nodes: parallel slots, a FIFO or priority queue, and the state that policies estimate from.

A node runs at most ``slots`` tasks at once. Each slot owns one reusable SimPy event that fires when its task
completes (tasks are data, not processes), so a task costs one scheduled event and no allocation.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

import simpy

from simulator.engine import reusable_event, scheduler
from simulator.scenario import NodeSpec
from simulator.workload import Task


class Node:
    """A compute node in a run.

    ``load`` counts tasks assigned and not finished (transferring, queued or running); ``backlog_s`` is the
    sum of their expected service times, from which policies estimate when the node can start new work.
    """

    def __init__(self, env: simpy.Environment, index: int, spec: NodeSpec,
                 on_task_done: Callable[[Task], None]) -> None:
        self.env = env
        self.index = index
        self.spec = spec
        self.slots = spec.slots
        self.busy = 0
        self.load = 0
        self.backlog_s = 0.0
        self.running_start_sum_s = 0.0
        self.tasks_done = 0
        self.peak_queue = 0
        self._on_task_done = on_task_done
        self._priority = spec.queue == "priority"
        self._fifo: deque[Task] = deque()
        self._heap: list[tuple[float, int, Task]] = []
        self._sequence = itertools.count()
        self._idle_events = [reusable_event(env) for _ in range(spec.slots)]
        self._completion_callbacks: list[Callable[[Any], None]] = [self._on_complete]
        self._schedule = scheduler(env)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def queue_length(self) -> int:
        """Tasks waiting at the node for a free slot."""
        return len(self._heap) if self._priority else len(self._fifo)

    def expected_ready_time_s(self) -> float:
        """When a task assigned now is expected to start: now if a slot is free for it, otherwise now plus
        the remaining expected work ahead of it spread over the slots."""
        now = self.env.now
        if self.load < self.slots:
            return now
        elapsed = self.busy * now - self.running_start_sum_s
        return now + max(0.0, self.backlog_s - elapsed) / self.slots

    def enqueue(self, task: Task) -> None:
        """A task whose inputs have arrived: start it if a slot is free, else queue it."""
        if self.busy < self.slots:
            now = self.env._now
            task.start_s = now
            self.busy += 1
            self.running_start_sum_s += now
            event = self._idle_events.pop()
            event._value = task
            event.callbacks = self._completion_callbacks
            self._schedule(event, task.stage.samplers[self.index]())  # type: ignore[misc]
        elif self._priority:
            heapq.heappush(self._heap, (task.job.priority, next(self._sequence), task))
            self.peak_queue = max(self.peak_queue, len(self._heap))
        else:
            self._fifo.append(task)
            if len(self._fifo) > self.peak_queue:
                self.peak_queue = len(self._fifo)

    def _start(self, task: Task) -> None:
        now = self.env._now
        task.start_s = now
        self.busy += 1
        self.running_start_sum_s += now
        sampler = task.stage.samplers[self.index]
        assert sampler is not None, "dispatcher placed a task on a node it cannot run on"
        event = self._idle_events.pop()
        event._value = task
        event.callbacks = self._completion_callbacks
        self._schedule(event, sampler())

    def _on_complete(self, event: simpy.Event) -> None:
        self._idle_events.append(event)
        task: Task = event._value
        task.finish_s = self.env._now
        self.busy -= 1
        self.running_start_sum_s -= task.start_s
        self.load -= 1
        self.backlog_s -= task.stage.exec_mean_s[self.index]
        self.tasks_done += 1
        if self._priority:
            if self._heap:
                self._start(heapq.heappop(self._heap)[2])
        elif self._fifo:
            self._start(self._fifo.popleft())
        self._on_task_done(task)
