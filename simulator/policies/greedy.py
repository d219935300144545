"""Greedy baselines, one decision per task: random, round robin, least loaded (join the shortest queue), power of d,
least work left, shortest expected delay, OLB, MET, MCT, capacity- and energy-proportional shares and weighted
balance (the multi-resource packing rules: `simulator.policies.packing`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simulator.plugins import check_choice, check_number
from simulator.policies.base import (
    BATCH,
    IMMEDIATE,
    TIE_BREAKS,
    Policy,
    SystemView,
    TaskView,
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
        self.tie_break = tie_break

    def check_params(self) -> None:
        check_choice(self, "tie_break", TIE_BREAKS)

    def assign(self, task: TaskView) -> int:
        view = self.view_
        return pick_min(
            view.eligible_nodes(task), lambda node: view.load(node) / view.slots(node), self.tie_break, self.rng_
        )


class _WorkLeftPolicy(Policy):
    """What the work-left rules share: both modes, and ties among equally good nodes broken at random by default
    (idle nodes all have zero work left, and the lowest index would always pick the same one)."""

    modes = (IMMEDIATE, BATCH)
    stochastic = True

    def __init__(self, *, tie_break: str = "random") -> None:
        self.tie_break = tie_break

    def check_params(self) -> None:
        check_choice(self, "tie_break", TIE_BREAKS)


@register_policy("least_work_left")
class LeastWorkLeftPolicy(_WorkLeftPolicy):
    """Least work left (Park's load-balancing heuristic; with one central queue, Harchol-Balter's "least work
    remaining"): the eligible node whose unfinished work per slot is smallest. The work is exact when task sizes
    are known (``[policy] clairvoyant``), expected otherwise. With identical servers and known sizes it sends each
    task where a central first-come-first-served queue would start it soonest: an M/G/c queue.

    Args:
        tie_break: "random" or "lowest_index".
    """

    def assign(self, task: TaskView) -> int:
        view = self.view_
        return pick_min(view.eligible_nodes(task), lambda node: view.work_left_s(node) / view.slots(node),
                        self.tie_break, self.rng_)


@register_policy("shortest_expected_delay")
class ShortestExpectedDelayPolicy(_WorkLeftPolicy):
    """Shortest expected delay: the eligible node where the task would be done soonest, counting the work left
    there per slot, the task's own service on the node (its known service time when sizes are known, else its
    expected time) and the time its inputs take to arrive.

    Args:
        tie_break: "random" or "lowest_index".
    """

    def assign(self, task: TaskView) -> int:
        view = self.view_
        service_s = view.known_service_s if view.sizes_known else view.exec_estimate_s

        def delay_s(node: int) -> float:
            return (view.work_left_s(node) / view.slots(node) + service_s(task, node)
                    + view.transfer_estimate_s(task, node))

        return pick_min(view.eligible_nodes(task), delay_s, self.tie_break, self.rng_)


@register_policy("min_completion_time")
class MinCompletionTimePolicy(Policy):
    """MCT: the node where the task is expected to finish first (ready time, input transfer, execution).

    Args:
        tie_break: "lowest_index" or "random".
    """

    modes = (IMMEDIATE, BATCH)

    def __init__(self, *, tie_break: str = "lowest_index") -> None:
        self.tie_break = tie_break

    def check_params(self) -> None:
        check_choice(self, "tie_break", TIE_BREAKS)

    def assign(self, task: TaskView) -> int:
        view = self.view_

        def completion_s(node: int) -> float:
            start = max(view.expected_ready_time_s(node), view.now + view.transfer_estimate_s(task, node))
            return start + view.exec_estimate_s(task, node)

        return pick_min(view.eligible_nodes(task), completion_s, self.tie_break, self.rng_)


@register_policy("power_of_d")
class PowerOfDPolicy(Policy):
    """Power of d choices (Mitzenmacher 2001): sample ``d`` distinct eligible nodes uniformly, join the one
    with the fewest unfinished tasks per slot (ties: the first sampled).

    Args:
        d: How many nodes to sample (all of them when fewer are eligible).
    """

    modes = (IMMEDIATE, BATCH)
    stochastic = True

    def __init__(self, *, d: int = 2) -> None:
        self.d = d

    def check_params(self) -> None:
        check_number(self, "d", minimum=1, integer=True)

    def assign(self, task: TaskView) -> int:
        view = self.view_
        candidates = view.eligible_nodes(task)
        if len(candidates) > self.d:
            picks = self.rng_.choice(len(candidates), size=self.d, replace=False)
            candidates = [candidates[int(i)] for i in picks]
        return pick_min(candidates, lambda node: view.load(node) / view.slots(node), "lowest_index", self.rng_)


@register_policy("olb")
class OpportunisticLoadBalancingPolicy(Policy):
    """OLB (Braun et al. 2001): the node expected to become ready first, whatever the task's execution time
    there (ties: lowest index)."""

    modes = (IMMEDIATE, BATCH)

    def __init__(self) -> None:
        pass

    def assign(self, task: TaskView) -> int:
        view = self.view_
        return pick_min(view.eligible_nodes(task), view.expected_ready_time_s, "lowest_index", self.rng_)


@register_policy("min_execution_time")
class MinExecutionTimePolicy(Policy):
    """MET (Braun et al. 2001): the node where the task executes fastest, whatever its load (ties: lowest
    index)."""

    modes = (IMMEDIATE, BATCH)

    def __init__(self) -> None:
        pass

    def assign(self, task: TaskView) -> int:
        view = self.view_
        return pick_min(view.eligible_nodes(task), lambda node: view.exec_estimate_s(task, node), "lowest_index",
                        self.rng_)


class _ProportionalShare(Policy):
    """Work shared among the eligible nodes in proportion to a weight per node, by smooth weighted round robin:
    every candidate earns its weight in credit, the richest one takes the task and pays the total. Of T tasks,
    node i gets w_i T / sum_j w_j, interleaved. Credit is kept per set of eligible nodes."""

    modes = (IMMEDIATE, BATCH)
    tie_break: str = "lowest_index"

    def bind(self, view: SystemView, rng: np.random.Generator) -> None:
        super().bind(view, rng)
        self.credit_: dict[tuple[int, ...], list[float]] = {}

    def _weights(self, candidates: Sequence[int]) -> list[float]:
        """The share weight of each candidate node, in order (each subclass says what it shares by)."""
        raise NotImplementedError

    def assign(self, task: TaskView) -> int:
        candidates = tuple(self.view_.eligible_nodes(task))
        credit = self.credit_.setdefault(candidates, [0.0] * len(candidates))
        weights = self._weights(candidates)
        for position, weight in enumerate(weights):
            credit[position] += weight
        best = pick_min(range(len(credit)), lambda position: -credit[position], self.tie_break, self.rng_)
        credit[best] -= sum(weights)
        return candidates[best]


@register_policy("capacity_proportional")
class CapacityProportionalPolicy(_ProportionalShare):
    """Each node receives work in proportion to its capacity coefficient F_i = slots x speed: of T tasks,
    node i gets T_i = F_i T / sum_j F_j, in a smooth deterministic interleaving (smooth weighted round robin,
    ties to the lowest index)."""

    def __init__(self) -> None:
        pass

    def _weights(self, candidates: Sequence[int]) -> list[float]:
        return [self.view_.capacity(node) for node in candidates]


@register_policy("energy_proportional")
class EnergyProportionalPolicy(_ProportionalShare):
    """Each node receives work in proportion to its energy coefficient C_i = capacity / busy power (work per
    joule): of R tasks, node i gets R_i = C_i R / sum_j C_j, interleaved by smooth weighted round robin (beside
    ``capacity_proportional``'s T_i = F_i T / sum_j F_j). Nodes drawing no busy power cost no energy: when some
    candidates are such, they share the work alone, in proportion to their capacity.

    Args:
        tie_break: "lowest_index" or "random": among nodes with equal credit.
    """

    def __init__(self, *, tie_break: str = "lowest_index") -> None:
        self.tie_break = tie_break

    def check_params(self) -> None:
        check_choice(self, "tie_break", TIE_BREAKS)

    def _weights(self, candidates: Sequence[int]) -> list[float]:
        view = self.view_
        busy_w = [view.power_w(node)[1] for node in candidates]
        if all(watts > 0 for watts in busy_w):
            return [view.capacity(node) / watts for node, watts in zip(candidates, busy_w, strict=True)]
        return [view.capacity(node) if watts <= 0 else 0.0 for node, watts in zip(candidates, busy_w, strict=True)]


@register_policy("weighted_balance")
class WeightedBalancePolicy(Policy):
    """A score combining load and expected completion time, weighted by the task's priority.

    score(node) = w * load share + (1 - w) * completion share, where load share = (load / slots) and
    completion share = expected completion time (as in MCT), each divided by its largest value over the
    candidates. Urgent tasks (priority 0, the highest) use ``w = 0``: pure completion time; background work
    leans towards balancing load: ``w = load_weight * priority / (priority + 1)``. Ties: lowest index.

    Args:
        load_weight: The weight of load for tasks of very large priority values, in [0, 1].
    """

    modes = (IMMEDIATE, BATCH)

    def __init__(self, *, load_weight: float = 0.8) -> None:
        self.load_weight = load_weight

    def check_params(self) -> None:
        check_number(self, "load_weight", minimum=0, maximum=1)

    def assign(self, task: TaskView) -> int:
        view = self.view_
        candidates = view.eligible_nodes(task)
        loads = [view.load(node) / view.slots(node) for node in candidates]
        completions = [
            max(view.expected_ready_time_s(node), view.now + view.transfer_estimate_s(task, node))
            + view.exec_estimate_s(task, node) - view.now
            for node in candidates
        ]
        priority = max(task.priority, 0.0)
        weight = self.load_weight * priority / (priority + 1.0)
        max_load = max(loads) or 1.0
        max_completion = max(completions) or 1.0
        scores = {node: weight * load / max_load + (1 - weight) * completion / max_completion
                  for node, load, completion in zip(candidates, loads, completions, strict=True)}
        return pick_min(candidates, scores.__getitem__, "lowest_index", self.rng_)
