"""Memetic genetic algorithm for static mapping, built on DEAP.

A chromosome is the machine index of every task (``T`` genes). The initial population holds the warm start
(``Search.initial``) if given, else Min-min's assignment, and random individuals, all improved by the local search
below (memetic initialisation); each generation selects parents by tournament (``tools.selTournament``),
recombines them with uniform or one-point crossover (``tools.cxUniform`` / ``tools.cxOnePoint``), applies a
move/swap mutation, evaluates the whole population's makespan at once with :func:`simulator.mapping.makespan`,
improves the offspring with the local search, and lets the best parents replace the worst offspring (elitism).

Why this local search: on Braun et al.'s instances Min-min followed by plain move/swap descent on the
makespan machine stalls 1.4-5.6% above the LP lower bound with every machine equally loaded: what is left is
*inefficiency* (tasks on machines where they run relatively slowly), which no single move off the
makespan machine can repair. The local search therefore first descends on the sum of ``(load / scale) **
power`` over machines, a smooth surrogate that rewards both balance and less total work, using every
single-task move and a sample of swaps, and then polishes the makespan itself with moves and swaps off the
makespan machine. Both phases are whole-matrix numpy operations per step.

An evaluation budget (``Search.max_evaluations``) counts every chromosome scored and every neighbourhood scan
of the local search (a whole-matrix operation about as costly as scoring a population); the search never
exceeds it. A generation starts only if the budget can still
score a whole population, so a budget of k evaluations per task gives a batch policy work proportional to the
batch.

DEAP draws from Python's global ``random`` module. :meth:`GeneticAlgorithm.solve` seeds it from the
caller's generator for the run and restores the caller's state afterwards
(:func:`simulator.solvers.global_random.seeded_global_random`), and draws everything else from that
generator, so a run is a pure function of the generator state when it is stopped by ``max_generations``
or an evaluation budget. A time limit stops it at a point that depends on machine speed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from deap import base  # deap.tools (slow to import) is imported where the GA runs
from numpy.typing import NDArray

from simulator.mapping import MappingProblem, makespan
from simulator.plugins import ParameterError, check_choice, check_number
from simulator.solvers.base import Search, Solver, register_solver
from simulator.solvers.global_random import seeded_global_random
from simulator.solvers.list_heuristics import min_min

__all__ = [
    "Chromosome",
    "GeneticAlgorithm",
    "Individual",
    "MakespanFitness",
    "budgeted_local_search",
    "clone",
    "critical_descent",
    "evaluate_pending",
    "local_search",
    "mutate_move_swap",
    "surrogate_descent",
]


class MakespanFitness(base.Fitness):
    """DEAP fitness of one objective, makespan, to be minimised."""

    weights = (-1.0,)


class Chromosome(list[int]):
    """A chromosome: list of machine indices, one per task, with a DEAP fitness of its ``fitness_class``."""

    fitness_class: type[base.Fitness]

    def __init__(self, genes: Any = ()) -> None:
        super().__init__(genes)
        self.fitness = self.fitness_class()

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),), {"fitness": self.fitness})


class Individual(Chromosome):
    """A chromosome scored by makespan alone."""

    fitness_class = MakespanFitness


ChromosomeT = TypeVar("ChromosomeT", bound=Chromosome)


def clone(individual: ChromosomeT) -> ChromosomeT:
    """Copy genes and fitness; much faster than ``copy.deepcopy`` for a list of ints."""
    copy = type(individual)(individual)
    if individual.fitness.valid:
        copy.fitness.values = individual.fitness.values
    return copy


def evaluate_pending(individuals: Sequence[Chromosome],
                     objectives: Callable[[NDArray[np.intp]], NDArray[np.float64]]) -> None:
    """Score every individual without a valid fitness in one vectorized call: ``objectives`` maps the genes,
    shape ``(n, tasks)``, to the objective values, shape ``(n,)`` for one objective or ``(n, k)``."""
    pending = [individual for individual in individuals if not individual.fitness.valid]
    if pending:
        values = np.asarray(objectives(np.array(pending, dtype=np.intp)), dtype=float).reshape(len(pending), -1)
        for individual, row in zip(pending, values, strict=True):
            individual.fitness.values = tuple(row.tolist())


def mutate_move_swap(
    individual: Individual,
    n_machines: int,
    move_probability: float,
    swap_probability: float,
) -> tuple[Individual]:
    """Move and swap mutation, in place, drawing from Python's ``random`` as DEAP's operators do.

    Each gene is independently moved to a uniformly chosen other machine with ``move_probability``, and,
    independently, swapped with the gene of a uniformly chosen other task with ``swap_probability``.
    Swaps keep the number of tasks per machine; moves change it.

    Returns:
        A one-tuple holding the individual, DEAP's convention for mutation operators.
    """
    size = len(individual)
    for task in range(size):
        if n_machines > 1 and random.random() < move_probability:
            machine = random.randrange(n_machines - 1)
            individual[task] = machine + (machine >= individual[task])
        if size > 1 and random.random() < swap_probability:
            other = random.randrange(size)
            individual[task], individual[other] = individual[other], individual[task]
    return (individual,)


# ----------------------------------------------------------------------------------------------------------
# Local search (numpy, one assignment at a time)
# ----------------------------------------------------------------------------------------------------------


def _power(values: NDArray[np.float64], power: int) -> NDArray[np.float64]:
    """``values ** power`` for a small positive integer power, by repeated squaring (faster than pow)."""
    result: NDArray[np.float64] | None = None
    base_value = values
    exponent = power
    while exponent:
        if exponent & 1:
            result = base_value if result is None else result * base_value
        exponent >>= 1
        if exponent:
            base_value = base_value * base_value
    assert result is not None
    return result


def critical_descent(
    etc: NDArray[np.float64],
    assignment: NDArray[np.intp],
    loads: NDArray[np.float64],
    max_steps: int,
) -> int:
    """Steepest descent on the makespan machine, in place.

    Each step takes the machine ``c`` with the largest load (lowest index on ties) and evaluates every
    move of one of its tasks to another machine and every swap of one of its tasks with a task elsewhere;
    it applies the one that minimises the larger of the two new loads involved, if that is below ``c``'s
    current load (lowest flat index on ties). The sorted load vector decreases lexicographically at every
    step, so the descent terminates.

    Args:
        etc: ETC matrix ``(T, M)``.
        assignment: Machine per task, modified in place.
        loads: Machine completion times matching ``assignment``, modified in place.
        max_steps: Upper bound on the number of steps.

    Returns:
        The number of improving steps applied.
    """
    n_machines = etc.shape[1]
    for step in range(max_steps):
        critical = int(loads.argmax())
        critical_load = loads[critical]
        on_critical = np.flatnonzero(assignment == critical)
        if on_critical.size == 0:  # the makespan is a machine's ready time: no task move can lower it
            return step
        remaining = critical_load - etc[on_critical, critical]
        move_value = np.maximum(loads[None, :] + etc[on_critical], remaining[:, None])
        move_value[:, critical] = np.inf
        others = np.flatnonzero(assignment != critical)
        other_machines = assignment[others]
        new_critical = remaining[:, None] + etc[others, critical][None, :]
        new_other = (loads[other_machines] - etc[others, other_machines])[None, :] + etc[on_critical][:, other_machines]
        swap_value = np.maximum(new_critical, new_other)
        best_move = int(move_value.argmin())
        best_swap = int(swap_value.argmin()) if swap_value.size else -1
        move_score = move_value.flat[best_move]
        swap_score = swap_value.flat[best_swap] if best_swap >= 0 else np.inf
        if move_score <= swap_score:
            if not move_score < critical_load:
                return step
            row, machine = divmod(best_move, n_machines)
            task = on_critical[row]
            loads[critical] -= etc[task, critical]
            loads[machine] += etc[task, machine]
            assignment[task] = machine
        else:
            if not swap_score < critical_load:
                return step
            row, column = divmod(best_swap, others.size)
            task, other = on_critical[row], others[column]
            machine = assignment[other]
            loads[critical] += etc[other, critical] - etc[task, critical]
            loads[machine] += etc[task, machine] - etc[other, machine]
            assignment[task] = machine
            assignment[other] = critical
    return max_steps


def surrogate_descent(
    etc: NDArray[np.float64],
    assignment: NDArray[np.intp],
    loads: NDArray[np.float64],
    rng: np.random.Generator,
    power: int,
    swap_sample: int,
    max_steps: int,
) -> int:
    """Steepest descent on ``sum_m (loads[m] / scale) ** power``, in place.

    ``scale`` is the makespan at entry. Each step evaluates every single-task move (``T x M``) and the
    swaps of ``swap_sample`` randomly drawn tasks with every task on another machine, and applies the
    best improving one (lowest flat index on ties). Large powers approach makespan minimisation; any power
    above 1 also rewards moving work to machines that run it faster.

    Returns:
        The number of improving steps applied.
    """
    n_tasks, n_machines = etc.shape
    scale = float(loads.max())
    scaled_etc = etc / scale
    scaled_loads = loads / scale
    task_index = np.arange(n_tasks)
    sample_size = min(swap_sample, n_tasks)
    tolerance = 1e-12
    steps = 0
    while steps < max_steps:
        current = scaled_etc[task_index, assignment]
        own_load = scaled_loads[assignment]
        own_term = _power(own_load - current, power) - _power(own_load, power)
        load_power = _power(scaled_loads, power)
        move_delta = _power(scaled_loads[None, :] + scaled_etc, power) - load_power[None, :] + own_term[:, None]
        move_delta[task_index, assignment] = np.inf
        best_move = int(move_delta.argmin())
        best_move_delta = move_delta.flat[best_move]
        best_swap_delta = np.inf
        best_swap = -1
        sample = np.empty(0, dtype=np.intp)
        if sample_size:
            sample = np.sort(rng.choice(n_tasks, size=sample_size, replace=False))
            sample_machines = assignment[sample]
            # Load of machine assignment[u] after task t (sampled) replaces task u, and vice versa.
            receiving = (own_load - current)[None, :] + scaled_etc[sample][:, assignment]
            giving = (own_load[sample] - current[sample])[:, None] + scaled_etc[:, sample_machines].T
            swap_delta = (
                _power(receiving, power)
                + _power(giving, power)
                - load_power[assignment][None, :]
                - load_power[sample_machines][:, None]
            )
            swap_delta[sample_machines[:, None] == assignment[None, :]] = np.inf
            best_swap = int(swap_delta.argmin())
            best_swap_delta = swap_delta.flat[best_swap]
        if min(best_move_delta, best_swap_delta) >= -tolerance:
            break
        if best_move_delta <= best_swap_delta:
            task, machine = divmod(best_move, n_machines)
            source = assignment[task]
            scaled_loads[source] -= scaled_etc[task, source]
            scaled_loads[machine] += scaled_etc[task, machine]
            assignment[task] = machine
        else:
            row, other = divmod(best_swap, n_tasks)
            task = sample[row]
            source, machine = assignment[task], assignment[other]
            scaled_loads[source] += scaled_etc[other, source] - scaled_etc[task, source]
            scaled_loads[machine] += scaled_etc[task, machine] - scaled_etc[other, machine]
            assignment[task] = machine
            assignment[other] = source
        steps += 1
    loads[:] = scaled_loads * scale
    return steps


def local_search(
    problem: MappingProblem,
    assignment: NDArray[np.intp],
    rng: np.random.Generator,
    *,
    power: int = 8,
    swap_sample: int = 64,
    max_steps: int = 10_000,
) -> NDArray[np.intp]:
    """Surrogate descent followed by makespan descent (see the module docstring); returns a new array.

    Args:
        problem: The mapping problem.
        assignment: Starting assignment ``(T,)`` (not modified).
        rng: Draws the swap samples of the surrogate phase.
        power: Exponent of the surrogate; 0 skips the surrogate phase.
        swap_sample: Tasks sampled per step for swap moves in the surrogate phase.
        max_steps: Step limit of each phase.

    Returns:
        The improved assignment; its makespan is never larger than the input's.
    """
    return budgeted_local_search(problem, assignment, rng, power=power, swap_sample=swap_sample,
                                 max_steps=max_steps, max_scans=None)[0]


def budgeted_local_search(
    problem: MappingProblem,
    assignment: NDArray[np.intp],
    rng: np.random.Generator,
    *,
    power: int,
    swap_sample: int,
    max_steps: int,
    max_scans: int | None,
) -> tuple[NDArray[np.intp], int]:
    """:func:`local_search` that also counts its neighbourhood scans and stops after ``max_scans`` of them.

    A scan (one step, or the last look that finds no improving step) evaluates a whole neighbourhood in one
    whole-matrix operation, which costs about as much as scoring one population, so a caller with an
    evaluation budget counts a scan as one evaluation.

    Returns:
        The improved assignment (makespan never larger than the input's) and the number of scans made.
    """
    start = np.array(assignment, dtype=np.intp)
    improved = start.copy()
    etc = problem.etc_s
    loads = _loads(problem, improved)
    scans = 0
    if power:
        limit = max_steps if max_scans is None else min(max_steps, max_scans - 1)
        steps = surrogate_descent(etc, improved, loads, rng, power, swap_sample, max(limit, 0))
        scans += steps + (limit > 0 and steps < limit)
        loads = _loads(problem, improved)
    limit = max_steps if max_scans is None else min(max_steps, max_scans - scans - 1)
    steps = critical_descent(etc, improved, loads, max(limit, 0))
    scans += steps + (limit > 0 and steps < limit)
    if makespan(problem, improved) > makespan(problem, start):
        return start, scans
    return improved, scans


def _loads(problem: MappingProblem, assignment: NDArray[np.intp]) -> NDArray[np.float64]:
    costs = problem.etc_s[np.arange(problem.n_tasks), assignment]
    return np.bincount(assignment, weights=costs, minlength=problem.n_machines) + problem.ready_time_s


# ----------------------------------------------------------------------------------------------------------
# The solver
# ----------------------------------------------------------------------------------------------------------


@register_solver("ga")
class GeneticAlgorithm(Solver):
    """Memetic genetic algorithm minimising makespan (DEAP operators, numpy local search).

    The defaults were tuned on Braun et al.'s 512 x 16 instances: a small population whose every member is
    a local optimum (random individuals are improved before the first generation) keeps enough diversity
    for crossover to find new basins, and a restart after 15 generations without progress escapes a
    converged population. With 20 s per run on one core, all 36 runs of ``experiments/braun_benchmark.py
    --seeds 3 --time-limit 20`` ended within 1.31% of the LP lower bound (mean 0.69%); the search is
    elitist, so a longer budget with the same seed can only do better.

    Args:
        population_size: Individuals per generation.
        max_generations: Generations to run; None to run until the time limit or the evaluation budget (one of
            them is needed).
        tournament_size: Aspirants per tournament in ``tools.selTournament``.
        crossover: ``"uniform"`` (``tools.cxUniform``, each gene exchanged with probability 0.5) or
            ``"one_point"`` (``tools.cxOnePoint``).
        crossover_probability: Probability that a pair of selected parents is recombined.
        mutation_probability: Probability that an offspring is mutated.
        move_probability: Per-gene probability of a random move in a mutated offspring.
        swap_probability: Per-gene probability of a random swap in a mutated offspring.
        n_elite: Best parents copied unchanged into the next generation, replacing the worst offspring.
        local_search: ``"full"`` (surrogate then makespan descent), ``"critical"`` (makespan descent
            only) or ``"none"``.
        local_search_count: How many of the best offspring get the local search each generation; None
            for all of them.
        local_search_power: Exponent of the surrogate objective.
        swap_sample: Tasks sampled per surrogate step for swap moves.
        seed_min_min: Whether one initial individual is Min-min's assignment when no warm start is given (a
            warm start takes its place: a batch policy passes one at least as good); the others are uniformly
            random.
        improve_initial: Whether the initial individuals get the local search before the first generation.
        restart_after: Generations without a new best after which every individual but the elite (at
            least the best one) is replaced by a fresh random individual improved by the local search, as
            in CHC's cataclysmic restart; None never restarts.
    """

    stochastic = True

    def __init__(
        self,
        *,
        population_size: int = 10,
        max_generations: int | None = 100,
        tournament_size: int = 3,
        crossover: str = "uniform",
        crossover_probability: float = 0.9,
        mutation_probability: float = 0.5,
        move_probability: float = 0.01,
        swap_probability: float = 0.01,
        n_elite: int = 2,
        local_search: str = "full",
        local_search_count: int | None = None,
        local_search_power: int = 8,
        swap_sample: int = 64,
        seed_min_min: bool = True,
        improve_initial: bool = True,
        restart_after: int | None = 15,
    ) -> None:
        self.population_size = population_size
        self.max_generations = max_generations
        self.tournament_size = tournament_size
        self.crossover = crossover
        self.crossover_probability = crossover_probability
        self.mutation_probability = mutation_probability
        self.move_probability = move_probability
        self.swap_probability = swap_probability
        self.n_elite = n_elite
        self.local_search = local_search
        self.local_search_count = local_search_count
        self.local_search_power = local_search_power
        self.swap_sample = swap_sample
        self.seed_min_min = seed_min_min
        self.improve_initial = improve_initial
        self.restart_after = restart_after

    def check_params(self) -> None:
        check_number(self, "population_size", minimum=2, integer=True)
        check_number(self, "max_generations", minimum=0, integer=True, allow_none=True)
        check_number(self, "tournament_size", minimum=1, integer=True)
        check_choice(self, "crossover", ("uniform", "one_point"))
        for name in ("crossover_probability", "mutation_probability", "move_probability", "swap_probability"):
            check_number(self, name, minimum=0.0, maximum=1.0)
        check_number(self, "n_elite", minimum=0, maximum=self.population_size, integer=True)
        check_choice(self, "local_search", ("full", "critical", "none"))
        check_number(self, "local_search_count", minimum=0, integer=True, allow_none=True)
        check_number(self, "local_search_power", minimum=2, integer=True)
        check_number(self, "swap_sample", minimum=0, integer=True)
        check_choice(self, "seed_min_min", (True, False))
        check_choice(self, "improve_initial", (True, False))
        check_number(self, "restart_after", minimum=1, integer=True, allow_none=True)

    def _improve(self, problem: MappingProblem, individual: Individual, rng: np.random.Generator,
                 max_scans: int | None) -> int:
        """Apply the configured local search to ``individual`` in place, invalidating its fitness if it changed;
        return the neighbourhood scans it made (at most ``max_scans``, None for no limit)."""
        if self.local_search == "none":
            return 0
        power = self.local_search_power if self.local_search == "full" else 0
        genes, scans = budgeted_local_search(problem, np.array(individual, dtype=np.intp), rng, power=power,
                                             swap_sample=self.swap_sample, max_steps=10_000, max_scans=max_scans)
        if scans:
            individual[:] = genes.tolist()
            if individual.fitness.valid:
                del individual.fitness.values
        return scans

    def _solve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        search: Search,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]] | None, dict[str, Any]]:
        if self.max_generations is None and not search.bounded:
            raise ParameterError("ga: give max_generations, a time limit or an evaluation budget, "
                                 "or it would never stop")
        with seeded_global_random(rng):  # DEAP's operators draw from the global `random` module
            return self._evolve(problem, rng, search)

    def _evolve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        search: Search,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]] | None, dict[str, Any]]:
        """The evolution of :meth:`_solve`, run with the global ``random`` seeded from ``rng``."""
        n_tasks, n_machines = problem.n_tasks, problem.n_machines
        budget = _Budget(search)

        from deap import tools

        def evaluate_all(individuals: list[Individual]) -> None:
            budget.spent += sum(not individual.fitness.valid for individual in individuals)
            evaluate_pending(individuals, lambda genes: makespan(problem, genes))

        def improve(individual: Individual, reserve: int) -> None:
            """Local search within what the budget leaves after ``reserve`` evaluations still to come."""
            budget.spent += self._improve(problem, individual, rng, budget.left(reserve))

        # Starting points: the warm start or else Min-min's assignment, then random individuals; all improved by
        # the local search while the budget lasts.
        if search.initial is not None:
            seeds = [Individual(search.initial.tolist())]
        else:
            seeds = [Individual(min_min(problem).tolist())] if self.seed_min_min else []
        # Random individuals only pay off through generations: draw them only if the budget can score them and
        # one generation of offspring; a smaller budget goes to the local search of the seed alone.
        if not seeds:
            affordable = budget.left(0)
            n_random = self.population_size if affordable is None else min(self.population_size, affordable)
        else:
            n_random = 0 if budget.exhausted(2 * self.population_size) else self.population_size - len(seeds)
        random_genes = rng.integers(0, n_machines, size=(self.population_size, n_tasks))[len(seeds):][:n_random]
        population = seeds + [Individual(row.tolist()) for row in random_genes]
        for index, individual in enumerate(population):  # every one is scored after: keep that much aside
            if (index < len(seeds) or self.improve_initial) and not budget.exhausted(len(population)):
                improve(individual, reserve=len(population))
        evaluate_all(population)
        best = clone(tools.selBest(population, 1)[0])
        history = [(search.elapsed_s(), best.fitness.values[0])]

        toolbox = base.Toolbox()
        toolbox.register("select", tools.selTournament, tournsize=self.tournament_size)
        if self.crossover == "uniform":
            toolbox.register("mate", tools.cxUniform, indpb=0.5)
        else:
            toolbox.register("mate", tools.cxOnePoint)
        toolbox.register(
            "mutate",
            mutate_move_swap,
            n_machines=n_machines,
            move_probability=self.move_probability,
            swap_probability=self.swap_probability,
        )
        n_improved = self.population_size if self.local_search_count is None else self.local_search_count
        generation = 0
        last_improvement = 0
        restarts = 0
        # A generation starts only if the budget can score a whole population of offspring.
        while ((self.max_generations is None or generation < self.max_generations)
               and not budget.exhausted(self.population_size)):
            generation += 1
            elite = [clone(individual) for individual in tools.selBest(population, self.n_elite)]
            offspring = [clone(individual) for individual in toolbox.select(population, len(population))]
            for first, second in zip(offspring[::2], offspring[1::2], strict=False):
                if random.random() < self.crossover_probability:
                    toolbox.mate(first, second)
                    del first.fitness.values, second.fitness.values
            for individual in offspring:
                if random.random() < self.mutation_probability:
                    toolbox.mutate(individual)
                    if individual.fitness.valid:
                        del individual.fitness.values
            evaluate_all(offspring)
            if self.local_search != "none" and n_improved:
                chosen = tools.selBest(offspring, n_improved)
                for individual in chosen:  # each improved one is scored again below: keep that much aside
                    if budget.exhausted(len(chosen)):
                        break
                    improve(individual, reserve=len(chosen))
                evaluate_all(offspring)
            offspring.sort(key=lambda individual: individual.fitness.values[0])
            population = offspring[: len(offspring) - len(elite)] + elite
            generation_best = tools.selBest(population, 1)[0]
            if generation_best.fitness.values[0] < best.fitness.values[0]:
                best = clone(generation_best)
                history.append((search.elapsed_s(), best.fitness.values[0]))
                last_improvement = generation
            elif self.restart_after is not None and generation - last_improvement >= self.restart_after:
                # The population has converged on one basin: keep the elite, redraw everything else.
                restarts += 1
                last_improvement = generation
                keep = max(self.n_elite, 1)
                population = [clone(individual) for individual in tools.selBest(population, keep)]
                fresh = rng.integers(0, n_machines, size=(self.population_size - keep, n_tasks))
                for row in fresh:  # every fresh one is scored below: keep that much aside
                    if budget.exhausted(len(fresh)):
                        break
                    individual = Individual(row.tolist())
                    improve(individual, reserve=len(fresh))
                    population.append(individual)
                evaluate_all(population)
                while len(population) < self.population_size:  # out of budget: pad with copies of the best
                    population.append(clone(population[0]))
        history.append((search.elapsed_s(), best.fitness.values[0]))
        extras = {"generations": generation, "restarts": restarts, "evaluations": budget.spent}
        return np.array(best, dtype=np.intp), history, extras


class _Budget:
    """Evaluations spent so far against a `Search`'s evaluation and time budgets."""

    def __init__(self, search: Search) -> None:
        self.search = search
        self.spent = 0

    def left(self, reserve: int) -> int | None:
        """Evaluations still allowed after ``reserve`` more are set aside (None: no evaluation budget)."""
        if self.search.max_evaluations is None:
            return None
        return max(self.search.max_evaluations - self.spent - reserve, 0)

    def exhausted(self, needed: int) -> bool:
        """Whether the time is up, or the budget cannot pay for ``needed`` (at least 1) more evaluations."""
        return self.search.exhausted(self.spent + needed - 1)
