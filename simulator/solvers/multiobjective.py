"""What NSGA-II and MOPSO share: the three objectives, the starting points, the front, and the pick from it.

Makespan (when the last machine finishes), flowtime (the sum of task completion times, a proxy for mean
response time) and load variance (balance) or energy conflict: the schedule that finishes earliest is not
the one with the least waiting, and the most energy-frugal one leaves fast, power-hungry machines idle.
A :class:`MultiObjectiveSolver` returns the whole non-dominated front (:meth:`~MultiObjectiveSolver.solve_front`)
or, through the common solver interface (and so as a batch policy), the one solution
:func:`simulator.solvers.front.pick` chooses from it by ``pick_rule`` and ``pick_weights``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from simulator.mapping import MappingProblem, as_assignment, energy_j, flowtime, load_variance, makespan
from simulator.plugins import ParameterError, check_choice
from simulator.solvers.base import Search, Solver, start_search
from simulator.solvers.front import OBJECTIVE_COLUMNS, ParetoFront, check_pick, pick
from simulator.solvers.list_heuristics import mct, min_min, shortest_task_first, sufferage

__all__ = ["THIRD_OBJECTIVES", "MultiObjectiveSolver", "starting_assignments"]

THIRD_OBJECTIVES = ("load_variance", "energy")
"""Allowed values of ``third_objective``."""


def starting_assignments(
    problem: MappingProblem,
    rng: np.random.Generator,
    size: int,
    seed_heuristics: bool,
    initial: NDArray[np.intp] | None,
) -> NDArray[np.intp]:
    """``size`` starting assignments ``(size, T)``: the warm start (if any) first, then the heuristic seeds.

    With ``seed_heuristics``, Min-min, Sufferage, MCT and shortest-task-first come next and every other row
    is a copy of one of the seeds (or of the warm start) with a random fraction (uniform in [0, 0.3]) of its
    genes drawn at random, so the first fronts spread around the heuristics instead of far from them.
    Without seeds the other rows are uniformly random.
    """
    genes = rng.integers(0, problem.n_machines, size=(size, problem.n_tasks))
    seeds = [] if initial is None else [np.asarray(initial, dtype=np.intp)]
    if seed_heuristics:
        seeds += [min_min(problem), sufferage(problem), mct(problem), shortest_task_first(problem)]
    if not seeds:
        return genes
    seed_rows = np.array(seeds, dtype=np.intp)
    if seed_heuristics:
        base_rows = seed_rows[rng.integers(0, len(seed_rows), size=size)]
        redraw = rng.random((size, problem.n_tasks)) < rng.uniform(0, 0.3, size=(size, 1))
        genes = np.where(redraw, genes, base_rows)
    n_seeds = min(len(seed_rows), size)
    genes[:n_seeds] = seed_rows[:n_seeds]
    return genes


class MultiObjectiveSolver(Solver):
    """A solver over (makespan, flowtime, load variance or energy) that finds a front and picks from it.

    Subclasses declare ``third_objective``, ``pick_rule`` and ``pick_weights`` among their parameters, name
    their own iteration limit in ``iteration_parameter``, call :meth:`check_front_params` from
    :meth:`check_params` and implement :meth:`_search_front`.
    """

    stochastic = True
    iteration_parameter: ClassVar[str] = ""
    third_objective: str
    pick_rule: str
    pick_weights: Mapping[str, float] | None

    def objective_names(self) -> tuple[str, str, str]:
        """The objectives, as ``pick_weights`` names them."""
        return ("makespan", "flowtime", self.third_objective)

    def check_front_params(self) -> None:
        """Check ``third_objective``, ``pick_rule`` and ``pick_weights``."""
        check_choice(self, "third_objective", THIRD_OBJECTIVES)
        problem = check_pick(self.pick_rule, self.pick_weights, self.objective_names())
        if problem is not None:
            raise ParameterError(problem)

    def objectives(self, problem: MappingProblem, population: NDArray[np.intp]) -> NDArray[np.float64]:
        """Objective matrix ``(P, 3)`` of a population, one vectorized call per objective."""
        third = energy_j if self.third_objective == "energy" else load_variance
        return np.column_stack(
            [makespan(problem, population), flowtime(problem, population), third(problem, population)]
        )

    def solve_front(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        time_limit_s: float | None = None,
        *,
        max_evaluations: int | None = None,
        initial: NDArray[np.intp] | None = None,
    ) -> ParetoFront:
        """Search and return the final non-dominated set; the budgets and warm start are as in :meth:`solve`.

        Raises:
            ParameterError: If a parameter, the time limit, the evaluation budget or the warm start is
                invalid, no budget stops the search, or energy is asked for without a power model.
        """
        self.check_params()
        search = start_search(problem, time_limit_s, max_evaluations, initial)
        self._check_problem(problem, search)
        return self._search_front(problem, rng, search)

    def _check_problem(self, problem: MappingProblem, search: Search) -> None:
        if getattr(self, self.iteration_parameter) is None and not search.bounded:
            raise ParameterError(
                f"{self.name}: give {self.iteration_parameter}, a time limit or an evaluation budget, "
                "or it would never stop"
            )
        if self.third_objective == "energy" and not problem.has_energy:
            raise ParameterError(
                f"{self.name}: third_objective 'energy' needs busy_power_w and idle_power_w in the problem"
            )

    def _solve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        search: Search,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]] | None, dict[str, Any]]:
        self._check_problem(problem, search)
        front = self._search_front(problem, rng, search)
        chosen = pick(front.objectives, rule=self.pick_rule, weights=self.pick_weights)
        extras = {"front_size": len(front.objectives), "generations": front.generations,
                  "evaluations": front.evaluations}
        return np.array(front.assignments[chosen]), list(front.history), extras

    def _search_front(self, problem: MappingProblem, rng: np.random.Generator, search: Search) -> ParetoFront:
        """Run the search within ``search``'s budgets and return :meth:`_front` of its final set."""
        raise NotImplementedError

    def _front(
        self,
        problem: MappingProblem,
        assignments: NDArray[np.intp],
        values: NDArray[np.float64],
        search: Search,
        history: list[tuple[float, float]],
        generations: int,
        evaluations: int,
    ) -> ParetoFront:
        """The :class:`ParetoFront` of mutually non-dominated ``assignments`` with objective rows ``values``:
        duplicate objective vectors (copies of one solution) dropped, sorted by makespan."""
        import pandas as pd

        _, unique_rows = np.unique(values, axis=0, return_index=True)
        order = unique_rows[np.argsort(values[unique_rows, 0], kind="stable")]
        chosen = np.ascontiguousarray(as_assignment(problem, np.asarray(assignments, dtype=np.intp)[order]))
        chosen.setflags(write=False)
        columns = [OBJECTIVE_COLUMNS[name] for name in self.objective_names()]
        return ParetoFront(
            objectives=pd.DataFrame(values[order], columns=columns),
            assignments=chosen,
            wall_s=time.perf_counter() - search.start_s,
            history=tuple(history),
            generations=generations,
            evaluations=evaluations,
        )
