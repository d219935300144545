"""NSGA-II for static mapping on DEAP: a Pareto front over makespan, flowtime and balance or energy.

Makespan (when the last machine finishes), flowtime (the sum of task completion times, a proxy for mean
response time) and load variance (balance) or energy conflict: the schedule that finishes earliest is not
the one with the least waiting, and the most energy-frugal one leaves fast, power-hungry machines idle.
NSGA-II (Deb et al., IEEE TEC 6(2), 2002) keeps a population spread along the trade-off surface using
DEAP's ``tools.selNSGA2`` (non-dominated sorting plus crowding distance) and ``tools.selTournamentDCD``.

All objectives of a population are computed by the vectorized functions of :mod:`simulator.mapping`.
:meth:`NSGA2.solve_front` returns the whole front; :meth:`NSGA2.solve` (the common solver interface)
returns the solution chosen from it by :func:`pick`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from deap import base  # deap.tools and pandas (slow to import) are imported where NSGA-II runs
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd

from simulator.mapping import MappingProblem, as_assignment, energy_j, flowtime, load_variance, makespan
from simulator.plugins import ParameterError, check_choice, check_number
from simulator.solvers.base import Search, Solver, register_solver
from simulator.solvers.ga import Chromosome, clone, critical_descent, evaluate_pending, mutate_move_swap
from simulator.solvers.global_random import seeded_global_random
from simulator.solvers.list_heuristics import mct, min_min, shortest_task_first, sufferage

__all__ = ["NSGA2", "ParetoFront", "ParetoIndividual", "ThreeObjectiveFitness", "pick"]

_THIRD_OBJECTIVES = {"load_variance": "load_variance_s2", "energy": "energy_j"}


class ThreeObjectiveFitness(base.Fitness):
    """DEAP fitness of three objectives, all minimised: makespan, flowtime, load variance or energy."""

    weights = (-1.0, -1.0, -1.0)


class ParetoIndividual(Chromosome):
    """A chromosome (machine per task) with a three-objective fitness."""

    fitness_class = ThreeObjectiveFitness


@dataclass(frozen=True, eq=False)
class ParetoFront:
    """Mutually non-dominated solutions found by :class:`NSGA2`.

    Attributes:
        objectives: One row per solution, sorted by makespan, with columns ``makespan_s``,
            ``flowtime_s`` and ``load_variance_s2`` or ``energy_j``.
        assignments: Machine per task for each row, shape ``(K, T)``, read-only.
        wall_s: Seconds the search took.
        history: ``(wall_s, best_makespan_s)`` pairs over the run.
        generations: Generations completed.
    """

    objectives: pd.DataFrame
    assignments: NDArray[np.intp]
    wall_s: float
    history: tuple[tuple[float, float], ...]
    generations: int


def pick(
    front: pd.DataFrame,
    rule: str = "knee",
    weights: Mapping[str, float] | Sequence[float] | None = None,
) -> int:
    """Choose one solution of a Pareto front; returns its row position (0-based).

    Each objective column is first min-max normalised over the front (a constant column becomes 0), so
    that seconds, squared seconds and joules are comparable.

    Args:
        front: One row per solution, one numeric column per objective (all minimised).
        rule: ``"knee"``: the solution closest (Euclidean) to the ideal point, the usual compromise
            choice when no preference is known. ``"weights"``: the smallest weighted sum of normalised
            objectives.
        weights: For ``"weights"``: a mapping from column name to weight (missing columns weigh 0) or a
            sequence with one weight per column.

    Returns:
        The row position of the chosen solution; ties go to the first row.

    Raises:
        ValueError: If the front is empty, the rule is unknown, or the weights do not fit the columns.
    """
    if front.empty:
        raise ValueError("pick needs a non-empty front")
    values = front.to_numpy(dtype=np.float64)
    low = values.min(axis=0)
    span = values.max(axis=0) - low
    normalised = np.divide(values - low, span, out=np.zeros_like(values), where=span > 0)
    if rule == "knee":
        return int(np.argmin(np.sqrt((normalised**2).sum(axis=1))))
    if rule != "weights":
        raise ValueError(f"rule must be 'knee' or 'weights', got {rule!r}")
    if weights is None:
        raise ValueError("rule 'weights' needs weights")
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(front.columns))
        if unknown:
            raise ValueError(f"weights name unknown column(s) {unknown}; columns: {list(front.columns)}")
        vector = np.array([float(weights.get(column, 0.0)) for column in front.columns])
    else:
        vector = np.asarray(weights, dtype=np.float64)
        if vector.shape != (values.shape[1],):
            raise ValueError(f"weights must have one entry per column ({values.shape[1]}), got {vector.shape}")
    if np.any(vector < 0) or not np.any(vector > 0):
        raise ValueError("weights must be non-negative with at least one positive")
    return int(np.argmin(normalised @ vector))


@register_solver("nsga2")
class NSGA2(Solver):
    """NSGA-II over (makespan, flowtime, load variance or energy) with DEAP.

    Args:
        population_size: Individuals per generation; a multiple of 4 (``selTournamentDCD`` needs it).
        max_generations: Generations to run; None to run until the time limit.
        third_objective: ``"load_variance"`` or ``"energy"`` (needs a problem with a power model).
        crossover_probability: Probability that a pair of parents is recombined by ``tools.cxUniform``.
        move_probability: Per-gene probability of a random move in the mutation.
        swap_probability: Per-gene probability of a random swap in the mutation.
        seed_heuristics: Whether Min-min, Sufferage, MCT and shortest-task-first seed the initial
            population; the other individuals are then copies of a seed with a random fraction (uniform
            in [0, 0.3]) of genes drawn at random. Without seeds the population is uniformly random.
        local_search_count: Offspring per generation that get a partial makespan descent
            (:func:`simulator.solvers.ga.critical_descent`).
        local_search_steps: The descent of each runs for a uniformly drawn 1 to this many steps.
        pick_rule: How :meth:`solve` chooses one solution from the front (see :func:`pick`).
    """

    stochastic = True

    def __init__(
        self,
        *,
        population_size: int = 40,
        max_generations: int | None = 50,
        third_objective: str = "load_variance",
        crossover_probability: float = 0.9,
        move_probability: float = 0.01,
        swap_probability: float = 0.01,
        seed_heuristics: bool = True,
        local_search_count: int = 4,
        local_search_steps: int = 50,
        pick_rule: str = "knee",
    ) -> None:
        self.population_size = population_size
        self.max_generations = max_generations
        self.third_objective = third_objective
        self.crossover_probability = crossover_probability
        self.move_probability = move_probability
        self.swap_probability = swap_probability
        self.seed_heuristics = seed_heuristics
        self.local_search_count = local_search_count
        self.local_search_steps = local_search_steps
        self.pick_rule = pick_rule

    def check_params(self) -> None:
        check_number(self, "population_size", minimum=4, integer=True)
        if self.population_size % 4:
            raise ParameterError(f"population_size must be a multiple of 4, got {self.population_size}")
        check_number(self, "max_generations", minimum=0, integer=True, allow_none=True)
        check_choice(self, "third_objective", tuple(_THIRD_OBJECTIVES))
        for name in ("crossover_probability", "move_probability", "swap_probability"):
            check_number(self, name, minimum=0.0, maximum=1.0)
        check_choice(self, "seed_heuristics", (True, False))
        check_number(self, "local_search_count", minimum=0, integer=True)
        check_number(self, "local_search_steps", minimum=1, integer=True)
        check_choice(self, "pick_rule", ("knee",))

    def _objectives(self, problem: MappingProblem, population: NDArray[np.intp]) -> NDArray[np.float64]:
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
    ) -> ParetoFront:
        """Run NSGA-II and return the final non-dominated set.

        Python's ``random`` (which DEAP uses) is seeded from ``rng`` for the run and the caller's state
        restored afterwards (:func:`~simulator.solvers.global_random.seeded_global_random`); stopped by
        ``max_generations`` the result is a pure function of the generator state.

        Args:
            problem: The mapping problem.
            rng: The caller's generator.
            time_limit_s: Wall-clock budget in seconds, or None.

        Raises:
            ParameterError: If a parameter or the time limit is invalid, neither a generation nor a
                time limit is given, or energy is asked for without a power model.
        """
        self.check_params()
        if time_limit_s is not None and not time_limit_s > 0:
            raise ParameterError(f"time_limit_s must be a positive number of seconds, got {time_limit_s}")
        if self.max_generations is None and time_limit_s is None:
            raise ParameterError("nsga2: give max_generations or a time limit, or it would never stop")
        if self.third_objective == "energy" and not problem.has_energy:
            raise ParameterError(
                "nsga2: third_objective 'energy' needs busy_power_w and idle_power_w in the problem"
            )
        start_s = time.perf_counter()
        deadline = np.inf if time_limit_s is None else start_s + time_limit_s
        with seeded_global_random(rng):  # DEAP's operators draw from the global `random` module
            return self._evolve_front(problem, rng, start_s, deadline)

    def _evolve_front(
        self, problem: MappingProblem, rng: np.random.Generator, start_s: float, deadline: float
    ) -> ParetoFront:
        """The evolution of :meth:`solve_front`, run with the global ``random`` seeded from ``rng``."""
        n_tasks, n_machines = problem.n_tasks, problem.n_machines

        import pandas as pd
        from deap import tools

        toolbox = base.Toolbox()
        toolbox.register("mate", tools.cxUniform, indpb=0.5)
        toolbox.register(
            "mutate",
            mutate_move_swap,
            n_machines=n_machines,
            move_probability=self.move_probability,
            swap_probability=self.swap_probability,
        )

        def evaluate_all(individuals: list[ParetoIndividual]) -> None:
            evaluate_pending(individuals, lambda genes: self._objectives(problem, genes))

        genes = rng.integers(0, n_machines, size=(self.population_size, n_tasks))
        if self.seed_heuristics:
            seeds = np.array([min_min(problem), sufferage(problem), mct(problem), shortest_task_first(problem)])
            n_seeds = min(len(seeds), self.population_size)
            # Other individuals: a random seed with a random fraction (up to 30%) of genes re-drawn, so the
            # first fronts spread around the heuristics instead of far away from them.
            base_rows = seeds[rng.integers(0, len(seeds), size=self.population_size)]
            redraw = rng.random((self.population_size, n_tasks)) < rng.uniform(0, 0.3, size=(self.population_size, 1))
            genes = np.where(redraw, genes, base_rows)
            genes[:n_seeds] = seeds[:n_seeds]
        population = [ParetoIndividual(row.tolist()) for row in genes]
        evaluate_all(population)
        population = tools.selNSGA2(population, self.population_size)  # assigns crowding distances

        def best_makespan() -> float:
            return min(individual.fitness.values[0] for individual in population)

        history = [(time.perf_counter() - start_s, best_makespan())]
        generation = 0
        while (self.max_generations is None or generation < self.max_generations) and (time.perf_counter() < deadline):
            generation += 1
            parents = tools.selTournamentDCD(population, len(population))
            offspring = [clone(individual) for individual in parents]
            for first, second in zip(offspring[::2], offspring[1::2], strict=False):
                if random.random() < self.crossover_probability:
                    toolbox.mate(first, second)
                toolbox.mutate(first)
                toolbox.mutate(second)
                del first.fitness.values, second.fitness.values
            for position in rng.choice(
                len(offspring), size=min(self.local_search_count, len(offspring)), replace=False
            ):
                # A random number of makespan-descent steps: partial descents land between the flowtime-
                # friendly seeds and balanced schedules, which spreads the front.
                individual = offspring[int(position)]
                individual_genes = np.array(individual, dtype=np.intp)
                loads = problem.ready_time_s + np.bincount(
                    individual_genes,
                    weights=problem.etc_s[np.arange(n_tasks), individual_genes],
                    minlength=n_machines,
                )
                critical_descent(
                    problem.etc_s, individual_genes, loads, int(rng.integers(1, self.local_search_steps + 1))
                )
                individual[:] = individual_genes.tolist()
            evaluate_all(offspring)
            population = tools.selNSGA2(population + offspring, self.population_size)
            current = best_makespan()
            if current < history[-1][1]:
                history.append((time.perf_counter() - start_s, current))
        history.append((time.perf_counter() - start_s, best_makespan()))

        first_front = tools.sortNondominated(population, len(population), first_front_only=True)[0]
        assignments = np.array(first_front, dtype=np.intp)
        values = np.array([individual.fitness.values for individual in first_front])
        # Drop duplicate objective vectors (copies of one solution), then sort by makespan.
        _, unique_rows = np.unique(values, axis=0, return_index=True)
        order = unique_rows[np.argsort(values[unique_rows, 0], kind="stable")]
        assignments = np.ascontiguousarray(as_assignment(problem, assignments[order]))
        assignments.setflags(write=False)
        columns = ["makespan_s", "flowtime_s", _THIRD_OBJECTIVES[self.third_objective]]
        objectives = pd.DataFrame(values[order], columns=columns)
        return ParetoFront(
            objectives=objectives,
            assignments=assignments,
            wall_s=time.perf_counter() - start_s,
            history=tuple(history),
            generations=generation,
        )

    def _solve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        search: Search,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]] | None, dict[str, Any]]:
        front = self.solve_front(problem, rng, search.time_limit_s)
        chosen = pick(front.objectives, rule=self.pick_rule)
        extras = {"front_size": len(front.objectives), "generations": front.generations}
        return np.array(front.assignments[chosen]), list(front.history), extras
