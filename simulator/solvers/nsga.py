"""NSGA-II for static mapping on DEAP: a Pareto front over makespan, flowtime and balance or energy.

NSGA-II (Deb et al., IEEE TEC 6(2), 2002) keeps a population spread along the trade-off surface using
DEAP's selection (non-dominated sorting plus crowding distance, ``tools.selNSGA2``) and
``tools.selTournamentDCD``. The sorting is :func:`sort_nondominated`: DEAP's algorithm with the same fronts
in the same order, but its O(N^2) pairwise dominance tests done in one numpy operation instead of two
million Python calls and fitness hashes per thousand jobs; as a batch policy NSGA-II sorts small
populations at every tick, where DEAP's sort cost more than everything else the solve does.
The objectives, starting points, front and pick rules are shared with MOPSO
(:mod:`simulator.solvers.multiobjective`); all objectives of a population are computed by the vectorized
functions of :mod:`simulator.mapping`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import attrgetter
from typing import TypeVar

import numpy as np
from deap import base  # deap.tools and pandas (slow to import) are imported where NSGA-II runs
from numpy.typing import NDArray

from simulator.mapping import MappingProblem
from simulator.plugins import ParameterError, check_choice, check_number
from simulator.solvers.base import Search, register_solver
from simulator.solvers.front import ParetoFront
from simulator.solvers.ga import Chromosome, clone, critical_descent, evaluate_pending, mutate_move_swap
from simulator.solvers.global_random import seeded_global_random
from simulator.solvers.multiobjective import MultiObjectiveSolver, starting_assignments

__all__ = ["NSGA2", "ParetoIndividual", "ThreeObjectiveFitness", "select_nsga2", "sort_nondominated"]


IndividualT = TypeVar("IndividualT", bound=Chromosome)


class ThreeObjectiveFitness(base.Fitness):
    """DEAP fitness of three objectives, all minimised: makespan, flowtime, load variance or energy."""

    weights = (-1.0, -1.0, -1.0)


class ParetoIndividual(Chromosome):
    """A chromosome (machine per task) with a three-objective fitness."""

    fitness_class = ThreeObjectiveFitness


def sort_nondominated(individuals: Sequence[IndividualT], k: int, first_front_only: bool = False
                      ) -> list[list[IndividualT]]:
    """DEAP's ``tools.sortNondominated`` (Deb et al. 2002's fast non-dominated sort): the same fronts, each in
    the same order, with the dominance tests vectorized.

    As in DEAP, individuals of equal fitness are sorted as one, fronts are added until ``k`` individuals are
    sorted, and the order within a front is DEAP's (the order in which the last of a fitness's dominators
    was removed), so that the selection and the tournaments downstream see exactly what DEAP's would.
    """
    if k == 0:
        return []
    groups: dict[tuple[float, ...], list[IndividualT]] = {}
    for individual in individuals:
        groups.setdefault(individual.fitness.wvalues, []).append(individual)
    members = list(groups.values())
    weighted = np.array(list(groups), dtype=float)  # one row per distinct fitness, in first-seen order
    not_worse = (weighted[:, None, :] >= weighted[None, :, :]).all(axis=2)
    better = (weighted[:, None, :] > weighted[None, :, :]).any(axis=2)
    dominates: NDArray[np.bool_] = np.logical_and(not_worse, better)  # dominates[p, d]: fitness p dominates fitness d
    dominators = dominates.sum(axis=0).tolist()
    current = [index for index, count in enumerate(dominators) if count == 0]
    fronts = [[individual for index in current for individual in members[index]]]
    if first_front_only:
        return fronts
    dominated = [np.flatnonzero(row).tolist() for row in dominates]  # ascending, as DEAP's lists end up
    sorted_count, wanted = len(fronts[0]), min(len(individuals), k)
    while sorted_count < wanted:
        fronts.append([])
        following = []
        for index in current:
            for other in dominated[index]:
                dominators[other] -= 1
                if dominators[other] == 0:
                    following.append(other)
                    sorted_count += len(members[other])
                    fronts[-1].extend(members[other])
        current = following
    return fronts


def select_nsga2(individuals: Sequence[IndividualT], k: int) -> list[IndividualT]:
    """DEAP's ``tools.selNSGA2`` on :func:`sort_nondominated`: whole fronts while they fit, then the last one's
    individuals by decreasing crowding distance; every front gets its crowding distances."""
    from deap.tools.emo import assignCrowdingDist

    fronts = sort_nondominated(individuals, k)
    for front in fronts:
        assignCrowdingDist(front)
    chosen = list(chain(*fronts[:-1]))
    missing = k - len(chosen)
    if missing > 0:
        chosen.extend(sorted(fronts[-1], key=attrgetter("fitness.crowding_dist"), reverse=True)[:missing])
    return chosen


@register_solver("nsga2")
class NSGA2(MultiObjectiveSolver):
    """NSGA-II over (makespan, flowtime, load variance or energy) with DEAP.

    Args:
        population_size: Individuals per generation; a multiple of 4 (``selTournamentDCD`` needs it).
        max_generations: Generations to run; None to run until the time or evaluation budget.
        third_objective: ``"load_variance"`` or ``"energy"`` (needs a problem with a power model).
        crossover_probability: Probability that a pair of parents is recombined by ``tools.cxUniform``.
        move_probability: Per-gene probability of a random move in the mutation.
        swap_probability: Per-gene probability of a random swap in the mutation.
        seed_heuristics: Whether Min-min, Sufferage, MCT and shortest-task-first seed the initial
            population (see :func:`simulator.solvers.multiobjective.starting_assignments`); a warm start
            is always included.
        local_search_count: Offspring per generation that get a partial makespan descent
            (:func:`simulator.solvers.ga.critical_descent`).
        local_search_steps: The descent of each runs for a uniformly drawn 1 to this many steps.
        pick_rule: How :meth:`solve` chooses one solution from the front: ``"knee"`` or ``"weights"`` (see
            :func:`simulator.solvers.front.pick`).
        pick_weights: For ``"weights"``: a table objective -> weight over ``makespan``, ``flowtime`` and
            the third objective, applied to objectives normalised over the front.
    """

    iteration_parameter = "max_generations"

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
        pick_weights: Mapping[str, float] | None = None,
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
        self.pick_weights = pick_weights

    def check_params(self) -> None:
        check_number(self, "population_size", minimum=4, integer=True)
        if self.population_size % 4:
            raise ParameterError(f"population_size must be a multiple of 4, got {self.population_size}")
        check_number(self, "max_generations", minimum=0, integer=True, allow_none=True)
        for name in ("crossover_probability", "move_probability", "swap_probability"):
            check_number(self, name, minimum=0.0, maximum=1.0)
        check_choice(self, "seed_heuristics", (True, False))
        check_number(self, "local_search_count", minimum=0, integer=True)
        check_number(self, "local_search_steps", minimum=1, integer=True)
        self.check_front_params()

    def _search_front(self, problem: MappingProblem, rng: np.random.Generator, search: Search) -> ParetoFront:
        """Run NSGA-II; one evaluation per individual scored, at most ``search.max_evaluations`` of them.

        Python's ``random`` (which DEAP uses) is seeded from ``rng`` for the run and the caller's state restored
        afterwards (:func:`~simulator.solvers.global_random.seeded_global_random`); stopped by
        ``max_generations`` or an evaluation budget the result is a pure function of the generator state.
        """
        with seeded_global_random(rng):  # DEAP's operators draw from the global `random` module
            return self._evolve_front(problem, rng, search)

    def _evolve_front(self, problem: MappingProblem, rng: np.random.Generator, search: Search) -> ParetoFront:
        """The evolution of :meth:`_search_front`, run with the global ``random`` seeded from ``rng``."""
        n_tasks, n_machines = problem.n_tasks, problem.n_machines

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
        evaluations = 0

        def evaluate_all(individuals: list[ParetoIndividual]) -> list[ParetoIndividual]:
            """Score the individuals the evaluation budget allows (in order) and return those."""
            nonlocal evaluations
            if search.max_evaluations is not None:
                individuals = individuals[: search.max_evaluations - evaluations]
            evaluate_pending(individuals, lambda genes: self.objectives(problem, genes))
            evaluations += len(individuals)
            return individuals

        genes = starting_assignments(problem, rng, self.population_size, self.seed_heuristics, search.initial)
        population = evaluate_all([ParetoIndividual(row.tolist()) for row in genes])
        population = select_nsga2(population, len(population))  # assigns crowding distances

        def best_makespan() -> float:
            return min(individual.fitness.values[0] for individual in population)

        history = [(search.elapsed_s(), best_makespan())]
        generation = 0
        while (self.max_generations is None or generation < self.max_generations) and not search.exhausted(
            evaluations
        ):
            generation += 1
            parents = tools.selTournamentDCD(population, len(population))  # a budget short of it ends the loop
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
            offspring = evaluate_all(offspring)
            population = select_nsga2(population + offspring, self.population_size)
            current = best_makespan()
            if current < history[-1][1]:
                history.append((search.elapsed_s(), current))
        history.append((search.elapsed_s(), best_makespan()))

        first_front = sort_nondominated(population, len(population), first_front_only=True)[0]
        values = np.array([individual.fitness.values for individual in first_front])
        return self._front(problem, np.array(first_front, dtype=np.intp), values, search, history, generation,
                           evaluations)
