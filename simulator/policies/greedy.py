"""Immediate-mode baselines: random, round robin, least loaded (join the shortest queue), min completion time."""

from __future__ import annotations

import numpy as np

from simulator.policies.base import (
    BATCH,
    IMMEDIATE,
    TIE_BREAKS,
    Policy,
    SystemView,
    TaskView,
    check_choice,
    pick_min,
    register_policy,
)


@register_policy("random")
class RandomPolicy(Policy):
    """Each task goes to an eligible node drawn uniformly at random."""

    modes = (IMMEDIATE, BATCH)
    stochastic = True

    def __init__(self) -> None:
        pass

    def assign(self, task: TaskView) -> int:
        candidates = self.view_.eligible_nodes(task)
        return candidates[int(self.rng_.integers(len(candidates)))]


@register_policy("round_robin")
class RoundRobinPolicy(Policy):
    """Tasks go to eligible nodes in turn; the turn is kept per set of eligible nodes."""

    modes = (IMMEDIATE, BATCH)

    def __init__(self) -> None:
        pass

    def bind(self, view: SystemView, rng: np.random.Generator) -> None:
        super().bind(view, rng)
        self.next_turn_: dict[tuple[int, ...], int] = {}

    def assign(self, task: TaskView) -> int:
        candidates = tuple(self.view_.eligible_nodes(task))
        turn = self.next_turn_.get(candidates, 0)
        self.next_turn_[candidates] = (turn + 1) % len(candidates)
        return candidates[turn]


@register_policy("least_loaded")
class LeastLoadedPolicy(Policy):
    """Join the shortest queue: the eligible node with the fewest unfinished tasks per slot.

    Args:
        tie_break: "random" (the classic JSQ rule) or "lowest_index".
    """

    modes = (IMMEDIATE, BATCH)
    stochastic = True

    def __init__(self, *, tie_break: str = "random") -> None:
        check_choice("tie_break", tie_break, TIE_BREAKS)
        self.tie_break = tie_break

    def assign(self, task: TaskView) -> int:
        view = self.view_
        return pick_min(
            view.eligible_nodes(task), lambda node: view.load(node) / view.slots(node), self.tie_break, self.rng_
        )


@register_policy("min_completion_time")
class MinCompletionTimePolicy(Policy):
    """MCT: the node where the task is expected to finish first (ready time, input transfer, execution).

    Args:
        tie_break: "lowest_index" or "random".
    """

    modes = (IMMEDIATE, BATCH)

    def __init__(self, *, tie_break: str = "lowest_index") -> None:
        check_choice("tie_break", tie_break, TIE_BREAKS)
        self.tie_break = tie_break

    def assign(self, task: TaskView) -> int:
        view = self.view_

        def completion_s(node: int) -> float:
            start = max(view.expected_ready_time_s(node), view.now + view.transfer_estimate_s(task, node))
            return start + view.exec_estimate_s(task, node)

        return pick_min(view.eligible_nodes(task), completion_s, self.tie_break, self.rng_)
