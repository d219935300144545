"""Re-allocation during a run (docs/dynamics.md): a rebalancing monitor that moves queued tasks away from loaded
nodes through the policy, work stealing by nodes that run dry, and the wiring of both with redundant execution.

A move takes a queued (not started) task back from its node, records it ``moved`` (a migration) and places a new
attempt elsewhere; the new attempt's inputs travel to its new node over the network, which is what a move costs.
Each feature is built only when the scenario turns it on, and observes the run by composition (a periodic event, a
wrapper of a node's completion callback), so a run without it pays nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy

from simulator.config.specs import RebalancingSpec, Scenario, WorkStealingSpec
from simulator.dynamics.redundancy import Redundancy
from simulator.workload import Task

if TYPE_CHECKING:
    from simulator.cluster import Node
    from simulator.dynamics.dispatcher import DynamicDispatcher

_WINDOW_SLACK = 1e-9
"""Relative slack on the window's edge, so that a sample taken exactly ``window_s`` ago is out of it despite
rounding of the check times."""


class Rebalancing:
    """Every ``interval_s``: samples each up node's busy fraction and queue length, keeps the samples of the last
    ``window_s``, and relieves the nodes the trigger picks (periodic: every node with a queue; threshold: those whose
    windowed mean utilization or queue is above its threshold) of up to ``max_moves`` queued tasks each, taken from
    the back of the queue and placed again through the policy with that node excluded.

    A task no other available node can take stays in its place; a task moved in a check is not moved again in it.
    """

    def __init__(self, dispatcher: DynamicDispatcher, spec: RebalancingSpec) -> None:
        self.dispatcher = dispatcher
        self.spec = spec
        self.env = dispatcher.env
        self.samples: list[deque[tuple[float, float, int]]] = [deque() for _ in dispatcher.nodes]
        """Per node, (time, busy fraction, queue length) of the checks in the window, oldest first."""
        self.env.timeout(spec.interval_s).callbacks.append(self._check)

    def _check(self, _event: simpy.Event) -> None:
        now = self.env._now
        nodes = [node for node in self.dispatcher.nodes if node.up]
        edge = now - self.spec.window_s * (1.0 - _WINDOW_SLACK)
        for node in nodes:  # every node is sampled before any is acted on
            samples = self.samples[node.index]
            samples.append((now, min(1.0, node.busy / node.slots), node.queue_length))
            while samples[0][0] <= edge:
                samples.popleft()
        moved: set[Task] = set()
        for node in nodes:
            if node.queue_length and self._triggered(node):
                self._relieve(node, moved)
        self.env.timeout(self.spec.interval_s).callbacks.append(self._check)

    def _triggered(self, node: Node) -> bool:
        if self.spec.trigger == "periodic":
            return True
        samples = self.samples[node.index]
        utilization = sum(sample[1] for sample in samples) / len(samples)
        queue = sum(sample[2] for sample in samples) / len(samples)
        return utilization > self.spec.utilization_above or queue > self.spec.queue_above

    def _relieve(self, node: Node, moved: set[Task]) -> None:
        """Move up to ``max_moves`` queued tasks, from the back, that another available node can take."""
        dispatcher = self.dispatcher
        redundancy = dispatcher.redundancy
        away = frozenset((node.index,))
        taken: list[Task] = []
        for task in reversed(node.queued_tasks()):
            if len(taken) == self.spec.max_moves:
                break
            if task in moved or (redundancy is not None and redundancy.replicated(task)):
                continue
            dispatcher.exclusions[task] = away
            elsewhere = bool(dispatcher.view.eligible_nodes(task))
            del dispatcher.exclusions[task]
            if elsewhere:
                taken.append(task)
        recovery = dispatcher.recovery
        for task in taken:
            recovery.withdraw(task)
        for task in reversed(taken):  # placed in the order they were queued
            attempt = recovery.moved(task)
            moved.add(attempt)
            dispatcher.place(attempt, away)


class WorkStealing:
    """A node that has a free slot and an empty queue (after a task finishes on it, and when it comes back up)
    takes the oldest queued task it may run (eligible, reachable from its inputs, not racing replicas) from the up
    node with the longest queue (at least ``min_queue``; ties: the lowest index), directly: the thief decides, not
    the policy. It keeps stealing while it has more slots than assigned tasks."""

    def __init__(self, dispatcher: DynamicDispatcher, spec: WorkStealingSpec) -> None:
        self.dispatcher = dispatcher
        self.spec = spec
        self.steals = 0
        for node in dispatcher.nodes:
            self._watch(node)

    def _watch(self, node: Node) -> None:
        task_done = node._on_task_done

        def stealing_task_done(task: Task) -> None:
            task_done(task)
            self.idle(node)

        node._on_task_done = stealing_task_done

    def node_changed(self, index: int, up: bool) -> None:
        """The world's callback: recovery acts first; a node back up (and still dry) then steals."""
        self.dispatcher.recovery.node_changed(index, up)
        if up:
            self.idle(self.dispatcher.nodes[index])

    def idle(self, thief: Node) -> None:
        """Steal while the node is up, has nothing queued and fewer tasks assigned than slots."""
        dispatcher = self.dispatcher
        recovery = dispatcher.recovery
        while thief.up and thief.queue_length == 0 and thief.load < thief.slots:
            task = self._loot(thief)
            if task is None:
                return
            recovery.withdraw(task)
            self.steals += 1
            dispatcher._assign(recovery.moved(task), thief.index, dispatcher.env._now)

    def _loot(self, thief: Node) -> Task | None:
        """The oldest queued task the thief may run at the victim with the longest queue that has one."""
        dispatcher = self.dispatcher
        redundancy = dispatcher.redundancy
        eligible = dispatcher.view.eligible_nodes
        victims = sorted((node for node in dispatcher.nodes
                          if node is not thief and node.up and node.queue_length >= self.spec.min_queue),
                         key=lambda node: (-node.queue_length, node.index))
        for victim in victims:
            loot = [task for task in victim.queued_tasks()
                    if thief.index in eligible(task) and not (redundancy is not None and redundancy.replicated(task))]
            if loot:
                return min(loot, key=lambda task: task.ready_s)
        return None


class Reallocation:
    """The re-allocation features a scenario turns on, built on a dynamic run's dispatcher: redundant execution,
    the rebalancing monitor, work stealing (each None when off)."""

    def __init__(self, dispatcher: DynamicDispatcher, scenario: Scenario) -> None:
        replicated = any(stage.replicas > 1 for application in scenario.applications.values()
                         for stage in application.stages)
        self.redundancy = dispatcher.redundancy = Redundancy(dispatcher) if replicated else None
        self.rebalancing = (Rebalancing(dispatcher, scenario.rebalancing)
                            if scenario.rebalancing.trigger != "off" else None)
        self.stealing = WorkStealing(dispatcher, scenario.work_stealing) if scenario.work_stealing.enabled else None
        self.on_node: Callable[[int, bool], None] = (
            self.stealing.node_changed if self.stealing is not None else dispatcher.recovery.node_changed)
        """The world's node callback: recovery's, followed by stealing when it is on."""

    def counts(self) -> dict[str, Any]:
        """The summary's counts of steals and of replicas that lost their race."""
        return {"steals": self.stealing.steals if self.stealing is not None else 0,
                "replicas_cancelled": self.redundancy.cancelled if self.redundancy is not None else 0}
