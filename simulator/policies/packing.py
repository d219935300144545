"""Greedy multi-resource packing rules: tasks that demand several slots and working memory, placed where
their demand fits now.

Each rule orders the tasks it places at once (batch mode; one task in immediate mode) and picks, among the
eligible nodes where the task's demand fits the free slots and free memory, the node its criterion prefers;
where it fits nowhere now, the task goes to the eligible node expected to become ready first (it waits there).
Decisions of one batch see each other: a placed task's demand is taken from its node's free resources.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from simulator.plugins import check_choice
from simulator.policies.base import BATCH, IMMEDIATE, TIE_BREAKS, Policy, TaskView, pick_min, register_policy


def _share(amount: float, total: float) -> float:
    """``amount`` as a fraction of ``total``; of an unlimited total, all of it remains (1)."""
    return 1.0 if math.isinf(total) else amount / total


class PackingPolicy(Policy):
    """Base of the packing rules: subclasses give the order of a batch and the score (lower is preferred) of a
    node where the task fits, from the node's free slots and free memory before the task is placed.

    Args:
        tie_break: "lowest_index" or "random": among nodes with equal scores.
    """

    modes = (IMMEDIATE, BATCH)

    def __init__(self, *, tie_break: str = "lowest_index") -> None:
        self.tie_break = tie_break

    def check_params(self) -> None:
        check_choice(self, "tie_break", TIE_BREAKS)

    def order(self, tasks: Sequence[TaskView]) -> list[int]:
        """Positions of ``tasks`` in the order they are placed (default: as given)."""
        return list(range(len(tasks)))

    def score(self, task: TaskView, node: int, free_slots: int, free_memory_bytes: float) -> float:
        """The rule's score of placing ``task`` on ``node`` (smaller is better); each rule defines it."""
        raise NotImplementedError

    def assign(self, task: TaskView) -> int:
        return self.assign_batch([task])[0]

    def assign_batch(self, tasks: Sequence[TaskView]) -> list[int]:
        view = self.view_
        free_slots: dict[int, int] = {}
        free_memory: dict[int, float] = {}
        decisions = [0] * len(tasks)
        for position in self.order(tasks):
            task = tasks[position]
            slots, memory_bytes = view.demand(task)
            candidates = view.eligible_nodes(task)
            for node in candidates:
                if node not in free_slots:
                    free_slots[node] = view.free_slots(node)
                    free_memory[node] = view.free_memory_bytes(node)
            fitting = [node for node in candidates if slots <= free_slots[node] and memory_bytes <= free_memory[node]]
            if fitting:
                scores = {n: self.score(task, n, free_slots[n], free_memory[n]) for n in fitting}
                node = pick_min(fitting, scores.__getitem__, self.tie_break, self.rng_)
                free_slots[node] -= slots
                free_memory[node] -= memory_bytes
            else:
                node = pick_min(candidates, view.expected_ready_time_s, self.tie_break, self.rng_)
            decisions[position] = node
        return decisions


@register_policy("best_fit")
class BestFitPolicy(PackingPolicy):
    """Best fit: the highest-priority task first (lowest priority value, then earliest arrival), to the node
    where it leaves the least remaining capacity: free slots after placing it as a share of the node's slots
    plus free memory after placing it as a share of the node's memory (an unlimited memory adds 1)."""

    def order(self, tasks: Sequence[TaskView]) -> list[int]:
        return sorted(range(len(tasks)), key=lambda i: (tasks[i].priority, tasks[i].arrival_s, i))

    def score(self, task: TaskView, node: int, free_slots: int, free_memory_bytes: float) -> float:
        view = self.view_
        slots, memory_bytes = view.demand(task)
        return ((free_slots - slots) / view.slots(node)
                + _share(free_memory_bytes - memory_bytes, view.memory_bytes(node)))


@register_policy("most_free_resources")
class MostFreeResourcesPolicy(PackingPolicy):
    """Most free resources first: tasks in the order given, each to the node with the most free resources,
    free slots as a share of the node's slots plus free memory as a share of its memory (unlimited: 1)."""

    def score(self, task: TaskView, node: int, free_slots: int, free_memory_bytes: float) -> float:
        view = self.view_
        return -(free_slots / view.slots(node) + _share(free_memory_bytes, view.memory_bytes(node)))


@register_policy("longest_to_fastest")
class LongestToFastestPolicy(PackingPolicy):
    """Longest task to the fastest node: the task with the longest expected execution (on its best eligible node)
    first, each to the node of highest speed (capacity per slot, the node's weight) where it fits."""

    def order(self, tasks: Sequence[TaskView]) -> list[int]:
        view = self.view_
        lengths = [min(view.exec_estimate_s(task, node) for node in view.eligible_nodes(task)) for task in tasks]
        return sorted(range(len(tasks)), key=lambda i: (-lengths[i], i))

    def score(self, task: TaskView, node: int, free_slots: int, free_memory_bytes: float) -> float:
        view = self.view_
        return -view.capacity(node) / view.slots(node)
