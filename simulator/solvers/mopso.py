"""MOPSO (Coello Coello, Pulido and Lechuga, IEEE TEC 8(3), 2004) for static mapping.

The algorithm as published, on the three objectives of :mod:`simulator.solvers.multiobjective`:

* an external archive (the "repository") keeps the non-dominated positions found so far, at most
  ``archive_size`` of them; when it overflows, members of the most crowded hypercubes are removed first;
* the objective space of the archive is divided into an adaptive grid of ``grid_divisions`` intervals per
  objective (its bounds follow the archive at every iteration); a particle's leader is drawn by roulette
  wheel over the occupied hypercubes with fitness ``10 / occupants`` (so sparsely populated regions lead),
  then uniformly among the members of the chosen hypercube;
* velocity ``v <- W v + r1 (pbest - x) + r2 (leader - x)`` with ``W = inertia`` (0.4 in the paper) and
  ``r1, r2`` uniform in [0, 1] per coordinate; a coordinate that leaves the search space is set to the
  boundary and its velocity reversed;
* a particle's memory (pbest) is replaced when its new position dominates it and, when neither dominates,
  with probability 1/2;
* the mutation operator: at progress ``p`` (the fraction of the budget spent) each particle is mutated with
  probability ``(1 - p) ** (5 / mutation_rate)``, re-drawing coordinates uniformly within a range that
  shrinks by the same factor, so early iterations explore the whole space and late ones none.

Decoding (machine-preference random keys): a position is a ``(T, M)`` matrix of keys in [0, 1] and task
``t`` runs on ``argmax_m x[t, m]``. Moving towards a leader raises the keys of the leader's machines, so
a task changes machine only when its keys cross, and nearby positions decode to assignments differing in
few tasks; every assignment is reachable, and an assignment is encoded by giving its machines keys in
[0.5, 1] and the others keys in [0, 0.5). The paper mutates one of a few tens of real variables; here one
"variable" is a task's row of keys and a mutated particle re-draws a share ``mutation_share`` of its rows.

Like NSGA-II (:mod:`simulator.solvers.nsga`) the swarm starts from the warm start and heuristic seeds, and
``local_search_count`` particles per iteration get a partial makespan descent
(:func:`simulator.solvers.ga.critical_descent`), whose moves are written back into their keys; set it to 0
for the paper's algorithm alone. All random numbers come from the call's generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from simulator.mapping import MappingProblem
from simulator.plugins import check_choice, check_number
from simulator.solvers.base import Search, register_solver
from simulator.solvers.front import ParetoFront, non_dominated
from simulator.solvers.ga import critical_descent
from simulator.solvers.multiobjective import MultiObjectiveSolver, starting_assignments

__all__ = ["MOPSO", "decode_keys", "encode_keys"]

_LEADER_FITNESS = 10.0
"""The paper's hypercube fitness numerator ``x`` (any value > 1; it cancels in the roulette wheel)."""


def decode_keys(positions: NDArray[np.float64]) -> NDArray[np.intp]:
    """Assignments ``(..., T)`` of key matrices ``(..., T, M)``: each task to its largest key's machine."""
    return np.asarray(positions.argmax(axis=-1), dtype=np.intp)


def encode_keys(assignments: NDArray[np.intp], n_machines: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Random key matrices ``(..., T, M)`` that decode to ``assignments`` ``(..., T)``: the assigned
    machine's key uniform in [0.5, 1], the others uniform in [0, 0.5)."""
    assignments = np.asarray(assignments, dtype=np.intp)
    keys = rng.uniform(0.0, 0.5, size=(*assignments.shape, n_machines))
    np.put_along_axis(keys, assignments[..., None], rng.uniform(0.5, 1.0, size=(*assignments.shape, 1)), axis=-1)
    return keys


def _dominates(first: NDArray[np.float64], second: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Row-wise: whether ``first[i]`` Pareto-dominates ``second[i]`` (all objectives minimised)."""
    return np.all(first <= second, axis=-1) & np.any(first < second, axis=-1)


def _hypercubes(values: NDArray[np.float64], divisions: int) -> NDArray[np.intp]:
    """Hypercube label of each row of ``values`` on a grid of ``divisions`` per objective over their bounds."""
    low = values.min(axis=0)
    span = values.max(axis=0) - low
    cells = np.floor(np.divide(values - low, span, out=np.zeros_like(values), where=span > 0) * divisions)
    cells = np.minimum(cells, divisions - 1).astype(np.intp)
    _, labels = np.unique(cells, axis=0, return_inverse=True)
    return np.asarray(labels, dtype=np.intp).reshape(-1)


@register_solver("mopso")
class MOPSO(MultiObjectiveSolver):
    """MOPSO with an adaptive-grid archive over (makespan, flowtime, load variance or energy).

    Args:
        n_particles: Particles in the swarm.
        max_iterations: Iterations (moves of the whole swarm) to run; None to run until the time or
            evaluation budget.
        archive_size: Most positions the external archive keeps (100 in the paper).
        grid_divisions: Intervals per objective of the adaptive grid (30 in the paper).
        inertia: Inertia weight ``W`` (0.4 in the paper).
        mutation_rate: The mutation operator's rate (0.5 in the paper); 0 turns mutation off.
        mutation_share: Share of a mutated particle's tasks whose keys are re-drawn.
        third_objective: ``"load_variance"`` or ``"energy"`` (needs a problem with a power model).
        seed_heuristics: Whether Min-min, Sufferage, MCT and shortest-task-first seed the swarm (see
            :func:`simulator.solvers.multiobjective.starting_assignments`); a warm start is always included.
        local_search_count: Particles per iteration that get a partial makespan descent; 0 for none.
        local_search_steps: The descent of each runs for a uniformly drawn 1 to this many steps.
        pick_rule: How :meth:`solve` chooses one solution from the front: ``"knee"`` or ``"weights"`` (see
            :func:`simulator.solvers.front.pick`).
        pick_weights: For ``"weights"``: a table objective -> weight over ``makespan``, ``flowtime`` and
            the third objective, applied to objectives normalised over the front.
    """

    iteration_parameter = "max_iterations"

    def __init__(
        self,
        *,
        n_particles: int = 40,
        max_iterations: int | None = 50,
        archive_size: int = 100,
        grid_divisions: int = 30,
        inertia: float = 0.4,
        mutation_rate: float = 0.5,
        mutation_share: float = 0.03,
        third_objective: str = "load_variance",
        seed_heuristics: bool = True,
        local_search_count: int = 4,
        local_search_steps: int = 50,
        pick_rule: str = "knee",
        pick_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.n_particles = n_particles
        self.max_iterations = max_iterations
        self.archive_size = archive_size
        self.grid_divisions = grid_divisions
        self.inertia = inertia
        self.mutation_rate = mutation_rate
        self.mutation_share = mutation_share
        self.third_objective = third_objective
        self.seed_heuristics = seed_heuristics
        self.local_search_count = local_search_count
        self.local_search_steps = local_search_steps
        self.pick_rule = pick_rule
        self.pick_weights = pick_weights

    def check_params(self) -> None:
        check_number(self, "n_particles", minimum=1, integer=True)
        check_number(self, "max_iterations", minimum=0, integer=True, allow_none=True)
        check_number(self, "archive_size", minimum=1, integer=True)
        check_number(self, "grid_divisions", minimum=1, integer=True)
        check_number(self, "inertia", minimum=0.0, maximum=1.0)
        check_number(self, "mutation_rate", minimum=0.0, maximum=1.0)
        check_number(self, "mutation_share", minimum=0.0, maximum=1.0)
        check_choice(self, "seed_heuristics", (True, False))
        check_number(self, "local_search_count", minimum=0, integer=True)
        check_number(self, "local_search_steps", minimum=1, integer=True)
        self.check_front_params()

    def _progress(self, iteration: int, evaluations: int, search: Search) -> float:
        """The fraction of the budget spent (the largest over the iteration, time and evaluation budgets)."""
        fractions = [0.0]
        if self.max_iterations:
            fractions.append(iteration / self.max_iterations)
        if search.time_limit_s is not None:
            fractions.append(search.elapsed_s() / search.time_limit_s)
        if search.max_evaluations is not None:
            fractions.append(evaluations / search.max_evaluations)
        return min(1.0, max(fractions))

    def _mutate(self, positions: NDArray[np.float64], progress: float, rng: np.random.Generator) -> None:
        """The paper's mutation operator, in place (see the module docstring)."""
        if self.mutation_rate == 0:
            return
        factor = (1.0 - progress) ** (5.0 / self.mutation_rate)
        n_particles, n_tasks, _ = positions.shape
        n_rows = max(1, math.ceil(self.mutation_share * n_tasks))
        for particle in np.flatnonzero(rng.random(n_particles) < factor):
            rows = rng.choice(n_tasks, size=n_rows, replace=False)
            keys = positions[particle, rows]
            positions[particle, rows] = rng.uniform(np.maximum(keys - factor, 0.0), np.minimum(keys + factor, 1.0))

    def _descend(self, problem: MappingProblem, positions: NDArray[np.float64], rng: np.random.Generator) -> None:
        """Partial makespan descents of ``local_search_count`` random particles, written back into their keys:
        a task moved from machine ``a`` to ``b`` swaps its keys of ``a`` and ``b``."""
        n_tasks = problem.n_tasks
        chosen = rng.choice(len(positions), size=min(self.local_search_count, len(positions)), replace=False)
        for particle in chosen:
            before = decode_keys(positions[particle])
            after = before.copy()
            loads = problem.ready_time_s + np.bincount(
                after, weights=problem.etc_s[np.arange(n_tasks), after], minlength=problem.n_machines
            )
            critical_descent(problem.etc_s, after, loads, int(rng.integers(1, self.local_search_steps + 1)))
            moved = np.flatnonzero(after != before)
            old_keys = positions[particle, moved, before[moved]].copy()
            positions[particle, moved, before[moved]] = positions[particle, moved, after[moved]]
            positions[particle, moved, after[moved]] = old_keys

    def _update_archive(
        self,
        archive: tuple[NDArray[np.float64], NDArray[np.float64]],
        positions: NDArray[np.float64],
        values: NDArray[np.float64],
        rng: np.random.Generator,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The archive ``(keys, objectives)`` after offering it the new positions: non-dominated members with
        distinct objective vectors, trimmed to ``archive_size`` from the most crowded hypercubes."""
        keys = np.concatenate([archive[0], positions])
        objectives = np.concatenate([archive[1], values])
        _, distinct = np.unique(objectives, axis=0, return_index=True)
        distinct = np.sort(distinct)  # archive members first: an equal newcomer does not replace them
        kept = distinct[non_dominated(objectives[distinct])]
        keys, objectives = keys[kept], objectives[kept]
        while len(objectives) > self.archive_size:
            labels = _hypercubes(objectives, self.grid_divisions)
            counts = np.bincount(labels)
            crowded = np.flatnonzero(labels == counts.argmax())
            # As many as keep this hypercube at least as crowded as the next one (one at least)
            runner_up = np.sort(counts)[-2] if len(counts) > 1 else 0
            excess = max(1, min(len(objectives) - self.archive_size, len(crowded) - runner_up))
            drop = rng.choice(crowded, size=excess, replace=False)
            keep = np.ones(len(objectives), dtype=bool)
            keep[drop] = False
            keys, objectives = keys[keep], objectives[keep]
        return keys, objectives

    def _leaders(
        self, archive_values: NDArray[np.float64], n_particles: int, rng: np.random.Generator
    ) -> NDArray[np.intp]:
        """Archive rows leading each particle: a hypercube by roulette wheel on ``10 / occupants``, then a
        uniform member of it."""
        labels = _hypercubes(archive_values, self.grid_divisions)
        counts = np.bincount(labels)
        fitness = _LEADER_FITNESS / counts
        cubes = rng.choice(len(counts), size=n_particles, p=fitness / fitness.sum())
        order = np.argsort(labels, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        members = starts[cubes] + np.floor(rng.random(n_particles) * counts[cubes]).astype(np.intp)
        return np.asarray(order[members], dtype=np.intp)

    def _search_front(self, problem: MappingProblem, rng: np.random.Generator, search: Search) -> ParetoFront:
        """Run MOPSO; one evaluation per decoded position, at most ``search.max_evaluations`` of them."""
        n_particles = self.n_particles
        if search.max_evaluations is not None:
            n_particles = min(n_particles, search.max_evaluations)
        start = starting_assignments(problem, rng, n_particles, self.seed_heuristics, search.initial)
        positions = encode_keys(start, problem.n_machines, rng)
        velocities = np.zeros_like(positions)
        values = self.objectives(problem, start)
        evaluations = n_particles
        best_positions, best_values = positions.copy(), values.copy()
        archive = self._update_archive((positions[:0], values[:0]), positions, values, rng)
        history = [(search.elapsed_s(), float(archive[1][:, 0].min()))]
        iteration = 0
        while (self.max_iterations is None or iteration < self.max_iterations) and not search.exhausted(evaluations):
            iteration += 1
            active = n_particles
            if search.max_evaluations is not None:
                active = min(active, search.max_evaluations - evaluations)
            moving = slice(0, active)
            leaders = archive[0][self._leaders(archive[1], active, rng)]
            shape = positions[moving].shape
            velocities[moving] = (
                self.inertia * velocities[moving]
                + rng.random(shape) * (best_positions[moving] - positions[moving])
                + rng.random(shape) * (leaders - positions[moving])
            )
            positions[moving] += velocities[moving]
            outside = (positions[moving] < 0.0) | (positions[moving] > 1.0)
            np.clip(positions[moving], 0.0, 1.0, out=positions[moving])
            velocities[moving] = np.where(outside, -velocities[moving], velocities[moving])
            self._mutate(positions[moving], self._progress(iteration, evaluations, search), rng)
            if self.local_search_count:
                self._descend(problem, positions[moving], rng)
            values[moving] = self.objectives(problem, decode_keys(positions[moving]))
            evaluations += active
            archive = self._update_archive(archive, positions[moving], values[moving], rng)
            new_dominates = _dominates(values[moving], best_values[moving])
            old_dominates = _dominates(best_values[moving], values[moving])
            replace = new_dominates | (~old_dominates & (rng.random(active) < 0.5))
            best_positions[moving][replace] = positions[moving][replace]
            best_values[moving][replace] = values[moving][replace]
            current = float(archive[1][:, 0].min())
            if current < history[-1][1]:
                history.append((search.elapsed_s(), current))
        history.append((search.elapsed_s(), float(archive[1][:, 0].min())))
        return self._front(problem, decode_keys(archive[0]), archive[1], search, history, iteration, evaluations)
