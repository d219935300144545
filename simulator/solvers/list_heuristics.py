"""Deterministic list-scheduling heuristics for static mapping (Braun et al. 2001; Maheswaran et al. 1999).

All heuristics keep a vector of machine availability times, starting at ``problem.ready_time_s``; mapping
task ``t`` to machine ``m`` makes ``m`` available ``etc_s[t, m]`` later. The completion time of ``t`` on
``m`` is availability plus ETC. The O(T^2 M) heuristics (Min-min, Max-min, both Sufferage variants)
compute the completion-time matrix of all unmapped tasks with one numpy operation per step or round.

Ties are broken explicitly and identically everywhere:

* between machines, the lowest machine index wins (``np.argmin`` returns the first minimum);
* between tasks, the lowest task index wins (unmapped tasks are kept in ascending index order and
  ``np.argmin``/``np.argmax`` return the first extremum).

Each heuristic is a plain function returning the assignment, wrapped by a registered :class:`Solver`
class so that it can be named on the command line and in the contract tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.mapping import MappingProblem, makespan
from simulator.plugins import check_choice
from simulator.solvers.base import Search, Solver, register_solver

__all__ = [
    "MCT",
    "MET",
    "OLB",
    "Duplex",
    "MaxMin",
    "MinMin",
    "ShortestTaskFirst",
    "Sufferage",
    "SufferageBatch",
    "duplex",
    "max_min",
    "mct",
    "met",
    "min_min",
    "min_min_with_order",
    "olb",
    "shortest_task_first",
    "sufferage",
    "sufferage_batch",
]


def olb(problem: MappingProblem) -> NDArray[np.intp]:
    """Opportunistic Load Balancing: tasks in index order, each to the machine that is available first.

    Braun et al. (2001), section 3.1: OLB ignores the task's ETC. Ties between equally early machines go
    to the lowest machine index.
    """
    available = problem.ready_time_s.copy()
    assignment = np.empty(problem.n_tasks, dtype=np.intp)
    for task in range(problem.n_tasks):
        machine = int(np.argmin(available))
        assignment[task] = machine
        available[machine] += problem.etc_s[task, machine]
    return assignment


def met(problem: MappingProblem) -> NDArray[np.intp]:
    """Minimum Execution Time: each task to the machine with its smallest ETC, regardless of load.

    Braun et al. (2001), section 3.1. Ties go to the lowest machine index.
    """
    return np.argmin(problem.etc_s, axis=1).astype(np.intp)


def _mct_in_order(problem: MappingProblem, order: NDArray[np.intp]) -> NDArray[np.intp]:
    """Map tasks one by one in ``order``, each to its minimum-completion-time machine."""
    available = problem.ready_time_s.copy()
    assignment = np.empty(problem.n_tasks, dtype=np.intp)
    etc = problem.etc_s
    for task in order:
        machine = int(np.argmin(available + etc[task]))
        assignment[task] = machine
        available[machine] += etc[task, machine]
    return assignment


def mct(problem: MappingProblem) -> NDArray[np.intp]:
    """Minimum Completion Time: tasks in index order, each to the machine where it would finish first.

    Braun et al. (2001), section 3.1. Ties go to the lowest machine index.
    """
    return _mct_in_order(problem, np.arange(problem.n_tasks, dtype=np.intp))


def _min_or_max_min(problem: MappingProblem, pick_largest: bool) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Shared loop of Min-min and Max-min (Braun et al. 2001, section 3.1); returns (assignment, order).

    Each step computes, for every unmapped task, its minimum completion time over machines (ties: lowest
    machine), then maps the task whose minimum is smallest (Min-min) or largest (Max-min), ties to the
    lowest task index, and updates that machine's availability. ``order`` lists the tasks as mapped.
    """
    etc = problem.etc_s
    available = problem.ready_time_s.copy()
    unmapped = np.arange(problem.n_tasks, dtype=np.intp)
    assignment = np.empty(problem.n_tasks, dtype=np.intp)
    order = np.empty(problem.n_tasks, dtype=np.intp)
    while unmapped.size:
        completion = etc[unmapped] + available
        best_machine = completion.argmin(axis=1)
        best_completion = completion[np.arange(unmapped.size), best_machine]
        position = int(best_completion.argmax() if pick_largest else best_completion.argmin())
        task = int(unmapped[position])
        machine = int(best_machine[position])
        assignment[task] = machine
        order[problem.n_tasks - unmapped.size] = task
        available[machine] += etc[task, machine]
        unmapped = np.delete(unmapped, position)
    return assignment, order


def min_min(problem: MappingProblem) -> NDArray[np.intp]:
    """Min-min: repeatedly map the unmapped task with the smallest minimum completion time.

    Braun et al. (2001), section 3.1. Ties: lowest machine index for a task's best machine, then lowest
    task index between tasks with equal minimum completion time.
    """
    return _min_or_max_min(problem, pick_largest=False)[0]


def min_min_with_order(problem: MappingProblem) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """:func:`min_min`'s assignment and the order in which it maps the tasks; mapping them in this order, each
    to its minimum-completion machine, reproduces the assignment (the particle swarm's decoder starts from
    it)."""
    return _min_or_max_min(problem, pick_largest=False)


def max_min(problem: MappingProblem) -> NDArray[np.intp]:
    """Max-min: repeatedly map the unmapped task with the largest minimum completion time.

    Braun et al. (2001), section 3.1. Ties: lowest machine index, then lowest task index.
    """
    return _min_or_max_min(problem, pick_largest=True)[0]


def duplex(problem: MappingProblem) -> NDArray[np.intp]:
    """Duplex: the better (smaller makespan) of Min-min and Max-min; Min-min on a tie.

    Braun et al. (2001), section 3.1.
    """
    by_min = min_min(problem)
    by_max = max_min(problem)
    return by_max if makespan(problem, by_max) < makespan(problem, by_min) else by_min


def _best_two(completion: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
    """Per row: index of the minimum (first on ties), the minimum and the sufferage value.

    The sufferage value is the second-smallest minus the smallest completion time; with a single machine
    there is no second choice and it is 0.
    """
    rows = np.arange(completion.shape[0])
    best_machine = completion.argmin(axis=1)
    best = completion[rows, best_machine]
    if completion.shape[1] == 1:
        return best_machine, best, np.zeros_like(best)
    two_smallest = np.partition(completion, 1, axis=1)
    return best_machine, best, two_smallest[:, 1] - two_smallest[:, 0]


def sufferage(problem: MappingProblem) -> NDArray[np.intp]:
    """Sufferage, one task per step: map the task that would suffer most from not getting its best machine.

    The common sequential form (used for example by Xhafa et al. and in many later comparisons): each step
    computes, for every unmapped task, its minimum completion time (ties: lowest machine index) and its
    sufferage value (second-smallest minus smallest completion time), maps the single task with the largest
    sufferage (ties: lowest task index) to its best machine, and updates that machine's availability. Compare
    :func:`sufferage_batch`, the original round-based algorithm.
    """
    etc = problem.etc_s
    available = problem.ready_time_s.copy()
    unmapped = np.arange(problem.n_tasks, dtype=np.intp)
    assignment = np.empty(problem.n_tasks, dtype=np.intp)
    while unmapped.size:
        best_machine, _, sufferage_value = _best_two(etc[unmapped] + available)
        position = int(sufferage_value.argmax())
        task = int(unmapped[position])
        machine = int(best_machine[position])
        assignment[task] = machine
        available[machine] += etc[task, machine]
        unmapped = np.delete(unmapped, position)
    return assignment


def sufferage_batch(problem: MappingProblem) -> NDArray[np.intp]:
    """Sufferage as published by Maheswaran et al. (HCW 1999), with rounds of tentative claims.

    In each round every machine starts unclaimed and the unmapped tasks are visited in index order; each
    computes its best (minimum completion time, ties: lowest machine index) machine and its sufferage value
    from the availability times at the start of the round. A task claims its best machine if it is
    unclaimed, or takes it from the current claimant if its own sufferage is strictly larger (the loser
    returns to the unmapped set). At the end of the round the claimed tasks are mapped, the machine
    availabilities updated, and the next round starts.

    Because completion times do not change within a round, the sequential visit is equivalent to: for every
    machine, the winner is the task with the largest sufferage among those whose best machine it is,
    ties to the lowest task index (the earliest claimant keeps a machine against equal sufferage). That is
    what this function computes, one vectorized sort per round.
    """
    etc = problem.etc_s
    available = problem.ready_time_s.copy()
    unmapped = np.arange(problem.n_tasks, dtype=np.intp)
    assignment = np.empty(problem.n_tasks, dtype=np.intp)
    order = np.empty(problem.n_tasks, dtype=np.intp)
    while unmapped.size:
        best_machine, _, sufferage_value = _best_two(etc[unmapped] + available)
        # Sort by machine, then by decreasing sufferage, then by task index (unmapped is ascending).
        order = np.lexsort((unmapped, -sufferage_value, best_machine))
        sorted_machines = best_machine[order]
        first_of_machine = np.r_[True, sorted_machines[1:] != sorted_machines[:-1]]
        winners = order[first_of_machine]
        tasks = unmapped[winners]
        machines = best_machine[winners]
        assignment[tasks] = machines
        available[machines] += etc[tasks, machines]  # each machine has at most one winner per round
        keep = np.ones(unmapped.size, dtype=bool)
        keep[winners] = False
        unmapped = unmapped[keep]
    return assignment


def shortest_task_first(problem: MappingProblem, order_by: str = "min") -> NDArray[np.intp]:
    """Shortest task first: sort tasks by size, shortest first, then map each to its MCT machine.

    A task's size is its smallest ETC over machines (``order_by="min"``) or its mean ETC
    (``order_by="mean"``). The sort is stable, so equal sizes keep ascending task index; machine ties go
    to the lowest index.
    """
    if order_by == "min":
        size = problem.etc_s.min(axis=1)
    elif order_by == "mean":
        size = problem.etc_s.mean(axis=1)
    else:
        raise ValueError(f"order_by must be 'min' or 'mean', got {order_by!r}")
    return _mct_in_order(problem, np.argsort(size, kind="stable").astype(np.intp))


class _Heuristic(Solver):
    """A parameterless deterministic heuristic given by a module-level function, its ``heuristic``."""

    heuristic: Callable[[MappingProblem], NDArray[np.intp]]

    def __init__(self) -> None:
        pass

    def _assign(self, problem: MappingProblem) -> NDArray[np.intp]:
        return type(self).heuristic(problem)

    def _solve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        search: Search,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]] | None, dict[str, Any]]:
        return self._assign(problem), None, {}


@register_solver("olb")
class OLB(_Heuristic):
    """Opportunistic Load Balancing (see :func:`olb`)."""

    heuristic = staticmethod(olb)


@register_solver("met")
class MET(_Heuristic):
    """Minimum Execution Time (see :func:`met`)."""

    heuristic = staticmethod(met)


@register_solver("mct")
class MCT(_Heuristic):
    """Minimum Completion Time (see :func:`mct`)."""

    heuristic = staticmethod(mct)


@register_solver("min_min")
class MinMin(_Heuristic):
    """Min-min (see :func:`min_min`)."""

    heuristic = staticmethod(min_min)


@register_solver("max_min")
class MaxMin(_Heuristic):
    """Max-min (see :func:`max_min`)."""

    heuristic = staticmethod(max_min)


@register_solver("duplex")
class Duplex(_Heuristic):
    """Duplex, the better of Min-min and Max-min (see :func:`duplex`)."""

    heuristic = staticmethod(duplex)


@register_solver("sufferage")
class Sufferage(_Heuristic):
    """Sufferage, one task per step (see :func:`sufferage`)."""

    heuristic = staticmethod(sufferage)


@register_solver("sufferage_batch")
class SufferageBatch(_Heuristic):
    """Sufferage with rounds of tentative claims, Maheswaran et al. 1999 (see :func:`sufferage_batch`)."""

    heuristic = staticmethod(sufferage_batch)


@register_solver("stf")
class ShortestTaskFirst(_Heuristic):
    """Shortest task first (see :func:`shortest_task_first`).

    Args:
        order_by: How a task's size is measured: ``"min"`` (smallest ETC) or ``"mean"`` (mean ETC).
    """

    def __init__(self, *, order_by: str = "min") -> None:
        self.order_by = order_by

    def check_params(self) -> None:
        check_choice(self, "order_by", ("min", "mean"))

    def _assign(self, problem: MappingProblem) -> NDArray[np.intp]:
        return shortest_task_first(problem, self.order_by)
