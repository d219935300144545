"""Memetic particle swarm optimisation for static mapping, built on pyswarms' ``GlobalBestPSO``.

Encoding. A particle is a matrix of machine *biases* ``b`` of shape ``(T, M)`` with entries in ``[0, 1]``
(flattened for pyswarms). The decoder is a list scheduler: it maps the tasks in Min-min's order, each to
the machine minimising ``available[m] + etc[t, m] - b[t, m] * scale``, where ``scale`` is the larger of
Min-min's makespan and the warm start's. So the origin decodes to Min-min's assignment, small biases to
schedules near it, and every assignment ``A`` with makespan at most ``scale`` is the point ``b[t, A[t]] =
1`` (its one-hot encoding; :func:`encode_assignment`), among them the warm start (``search.initial``) and
MCT's assignment when it is no worse. A step of the swarm shifts the preferences of some tasks, and the
load-aware decoder repairs the rest of the schedule around them: the landscape is far smoother than the
old floor-decoded machine indices, where almost every move was a random reassignment of many tasks.

Hybrid. As in the published PSO variants for heterogeneous computing systems, the swarm is combined with
a local search, here the GA's (:func:`simulator.solvers.ga.local_search`): each iteration the best
``local_search_count`` decoded particles are improved, and the improved assignment is written back into
the particle's position (Lamarckian learning), so personal and global bests are local optima that the
velocity update recombines. Each iteration searches only assignments not searched before. When the global
best has not improved for ``restart_after`` iterations the swarm has collapsed onto it; the particles are
then scattered around it, each re-opening a random fraction of its tasks to the decoder (a perturbation
as in iterated local search), and pyswarms' loop carries on from there (without this, the swarm stalled
at its first local optimum on the inconsistent instances). The write-back happens inside the cost
function, which pyswarms 1.3 calls with the swarm's own position array (``compute_objective_function``);
that is the one place its loop lets a memetic step in, and pyswarms' optimizer loop (velocity, bounds,
personal and global bests) does all the rest. The result records ``initial_best_makespan_s`` (best
decoded particle of the initial swarm, before any local search) and ``first_search_makespan_s`` (after
the first iteration's local search), so the swarm's own improvement beyond one local search is visible.

pyswarms 1.3 needs three more workarounds, all confined to this module:

* it draws initial velocities and every velocity update from numpy's *global* generator; the solve runs
  inside :func:`simulator.solvers.global_random.seeded_global_random`, which seeds it from the caller's
  generator and restores the caller's global state afterwards;
* its ``Reporter`` calls ``logging.config.dictConfig`` when pyswarms is imported and whenever an optimizer
  is built, replacing the root logger's handlers and creating ``report.log`` in the working directory.
  pyswarms reads an alternative configuration from the file named by the ``LOG_CFG`` environment
  variable; during the import we point it at an *incremental*, empty configuration, which leaves logging
  untouched, and restore the variable afterwards. During construction (six reporters per optimizer) the
  reporters' ``_setup_logger`` is skipped altogether: parsing that file six times per call was a quarter
  of a small solve, which matters to a batch policy solving a handful of tasks at every tick. pyswarms is
  imported lazily so that importing :mod:`simulator.solvers` has no such side effect at all;
* ``optimize`` stores every iteration's positions and velocities (``pos_history``), which would grow to
  gigabytes over a minute of iterations, so a subclass keeps only the cost history.

pyswarms has no wall-clock or evaluation budget: the cost function raises an internal exception once the
time limit or ``max_evaluations`` is spent, which ends ``optimize``; the best assignment found so far is
tracked by the cost function itself (it sees every evaluated position), so nothing is lost. Each decoded
particle counts as one evaluation, and so does each neighbourhood scan of the local search (as in the GA),
whose descent also stops when the evaluation budget is spent.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.mapping import MappingProblem, makespan
from simulator.plugins import ParameterError, check_choice, check_number
from simulator.solvers.base import Search, Solver, register_solver
from simulator.solvers.ga import budgeted_local_search
from simulator.solvers.global_random import seeded_global_random
from simulator.solvers.list_heuristics import min_min_with_order

__all__ = ["ParticleSwarm", "decode_positions", "encode_assignment"]


class _BudgetSpentError(Exception):
    """Raised from the cost function to stop pyswarms when the time or evaluation budget is spent."""


@contextlib.contextmanager
def _quiet_pyswarms_import() -> Iterator[None]:
    """Make pyswarms' import-time ``Reporter`` leave the logging configuration alone (see the module
    docstring)."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "pyswarms_logging.yaml"
        config.write_text("version: 1\nincremental: true\n", encoding="utf-8")
        previous = os.environ.get("LOG_CFG")
        os.environ["LOG_CFG"] = str(config)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("LOG_CFG", None)
            else:
                os.environ["LOG_CFG"] = previous


@contextlib.contextmanager
def _reporters_without_logging_setup() -> Iterator[None]:
    """Reporters built in the block skip ``_setup_logger`` (see the module docstring)."""
    _lean_optimizer_class()  # pyswarms' first import, with its own logging workaround
    from pyswarms.utils.reporter.reporter import Reporter

    setup = Reporter._setup_logger
    Reporter._setup_logger = lambda self, path=None: None
    try:
        yield
    finally:
        Reporter._setup_logger = setup


@functools.cache
def _lean_optimizer_class() -> type:
    """``GlobalBestPSO`` without the per-iteration position and velocity history (imported lazily)."""
    with _quiet_pyswarms_import():
        from pyswarms.single import GlobalBestPSO

    class LeanGlobalBestPSO(GlobalBestPSO):
        """Keeps the best-cost history only; positions per iteration would exhaust memory."""

        def _populate_history(self, hist: Any) -> None:
            self.cost_history.append(hist.best_cost)

    return LeanGlobalBestPSO


_optimizers = threading.local()
"""Per thread: the optimizers built so far, by configuration (see `_optimizer`)."""


def _optimizer(n_particles: int, dimensions: int, cognitive: float, social: float, inertia: float,
               velocity_clamp: float, initial: NDArray[np.float64]) -> Any:
    """A ``LeanGlobalBestPSO`` with these settings and starting positions, in the state a new one would have.

    Building one costs more than a batch policy's whole search of a small batch (six reporters, three
    handlers that list their own methods by introspection), so the optimizers of a thread are kept by
    configuration and reset for the next call. pyswarms resets a new optimizer twice (its base class and
    ``GlobalBestPSO`` each call ``reset``, each drawing initial velocities from the global generator); a
    kept one is reset twice too, so that a call draws exactly the same numbers whether its optimizer is
    new or kept, and results do not depend on what ran before in the thread.
    """
    key = (n_particles, dimensions, cognitive, social, inertia, velocity_clamp)
    kept: dict[tuple[Any, ...], Any] = _optimizers.__dict__.setdefault("by_configuration", {})
    optimizer = kept.get(key)
    if optimizer is not None:
        optimizer.init_pos = initial
        optimizer.reset()
        optimizer.reset()
        return optimizer
    with _reporters_without_logging_setup():
        optimizer = _lean_optimizer_class()(
            n_particles=n_particles,
            dimensions=dimensions,
            options={"c1": cognitive, "c2": social, "w": inertia},
            bounds=(np.zeros(dimensions), np.ones(dimensions)),
            bh_strategy="nearest",
            velocity_clamp=(-velocity_clamp, velocity_clamp),
            init_pos=initial,
        )
    if len(kept) >= _KEPT_OPTIMIZERS:
        kept.pop(next(iter(kept)))
    kept[key] = optimizer
    return optimizer


_KEPT_OPTIMIZERS = 64
"""Optimizers kept per thread: a simulation's batches have a few dozen sizes (one configuration each)."""


def decode_positions(
    problem: MappingProblem,
    positions: NDArray[np.float64],
    order: NDArray[np.intp],
    scale: float,
) -> NDArray[np.intp]:
    """Decode particles to assignments with the biased list scheduler of the module docstring.

    Args:
        problem: The mapping problem (``T`` tasks, ``M`` machines).
        positions: Biases, shape ``(P, T * M)`` (task-major) or ``(P, T, M)``.
        order: The order in which tasks are mapped (a permutation of ``range(T)``).
        scale: Seconds that a bias of 1 subtracts from a machine's completion time.

    Returns:
        Assignments, shape ``(P, T)``; all particles are decoded together, one numpy step per task.
    """
    n_tasks, n_machines = problem.n_tasks, problem.n_machines
    n_particles = positions.shape[0]
    credit = positions.reshape(n_particles, n_tasks, n_machines) * scale
    available = np.tile(problem.ready_time_s, (n_particles, 1))
    assignment = np.empty((n_particles, n_tasks), dtype=np.intp)
    rows = np.arange(n_particles)
    etc = problem.etc_s
    for task in order:
        machine = (available + etc[task] - credit[:, task, :]).argmin(axis=1)
        assignment[:, task] = machine
        available[rows, machine] += etc[task, machine]
    return assignment


def encode_assignment(assignment: NDArray[np.intp], n_machines: int) -> NDArray[np.float64]:
    """The one-hot position (flattened ``(T, M)``) that decodes to ``assignment`` when its makespan is at
    most the decoder's ``scale``: its own machine's completion time minus ``scale`` is then at most zero,
    every other machine's is positive."""
    position = np.zeros((len(assignment), n_machines))
    position[np.arange(len(assignment)), assignment] = 1.0
    return position.ravel()


@register_solver("pso")
class ParticleSwarm(Solver):
    """Global-best particle swarm on machine biases decoded by a list scheduler, with local search.

    The defaults were chosen on Braun et al.'s 512 x 16 instances (``experiments/braun_benchmark.py``);
    see ``results/reference/braun/`` for the measured gaps.

    Args:
        n_particles: Swarm size.
        max_iterations: Iterations (one swarm evaluation each); None to run until the time or evaluation
            budget of the call is spent.
        cognitive: Acceleration toward each particle's own best (pyswarms ``c1``).
        social: Acceleration toward the swarm's best (pyswarms ``c2``).
        inertia: Velocity carried over between iterations (pyswarms ``w``).
        velocity_clamp: Largest absolute velocity per coordinate (biases live in ``[0, 1]``).
        initial_spread: Initial biases of the particles other than Min-min's and the warm start are
            uniform in ``[0, initial_spread]``: perturbations of Min-min's schedule.
        local_search_count: Best decoded particles improved by the local search each iteration (0: a
            plain swarm).
        seed_min_min: Whether one particle starts at the origin (Min-min's schedule); otherwise all but
            the warm start are random.
        restart_after: Iterations without a new best after which the swarm is scattered around the best
            assignment (see the module docstring); None never restarts.
        restart_fraction: Largest fraction of tasks a scattered particle re-opens to the decoder.
    """

    stochastic = True

    def __init__(
        self,
        *,
        n_particles: int = 20,
        max_iterations: int | None = 100,
        cognitive: float = 1.5,
        social: float = 1.5,
        inertia: float = 0.7,
        velocity_clamp: float = 0.1,
        initial_spread: float = 0.05,
        local_search_count: int = 2,
        seed_min_min: bool = True,
        restart_after: int | None = 10,
        restart_fraction: float = 0.15,
    ) -> None:
        self.n_particles = n_particles
        self.max_iterations = max_iterations
        self.cognitive = cognitive
        self.social = social
        self.inertia = inertia
        self.velocity_clamp = velocity_clamp
        self.initial_spread = initial_spread
        self.local_search_count = local_search_count
        self.seed_min_min = seed_min_min
        self.restart_after = restart_after
        self.restart_fraction = restart_fraction

    def check_params(self) -> None:
        check_number(self, "n_particles", minimum=1, integer=True)
        check_number(self, "max_iterations", minimum=1, integer=True, allow_none=True)
        for name in ("cognitive", "social", "inertia"):
            check_number(self, name, minimum=0.0)
        check_number(self, "velocity_clamp", minimum=0.0, exclusive_minimum=True)
        check_number(self, "initial_spread", minimum=0.0, maximum=1.0)
        check_number(self, "local_search_count", minimum=0, integer=True)
        check_choice(self, "seed_min_min", (True, False))
        check_number(self, "restart_after", minimum=1, integer=True, allow_none=True)
        check_number(self, "restart_fraction", minimum=0.0, maximum=1.0)

    def _solve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        search: Search,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]] | None, dict[str, Any]]:
        if self.max_iterations is None and not search.bounded:
            raise ParameterError("pso: give max_iterations, a time limit or max_evaluations, or it would never stop")
        with seeded_global_random(rng):  # pyswarms draws from numpy's global generator
            return self._fly(problem, rng, search)

    def _fly(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        search: Search,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]], dict[str, Any]]:
        n_tasks, n_machines = problem.n_tasks, problem.n_machines
        min_min_assignment, order = min_min_with_order(problem)  # the origin decodes to this assignment
        scale = float(makespan(problem, min_min_assignment))
        n_particles = self.n_particles
        if search.max_evaluations is not None:
            n_particles = max(1, min(n_particles, search.max_evaluations))
        initial = rng.uniform(0.0, self.initial_spread, size=(n_particles, n_tasks * n_machines))
        if self.seed_min_min:
            initial[0] = 0.0
        if search.initial is not None:
            scale = max(scale, float(makespan(problem, search.initial)))
            initial[-1] = encode_assignment(search.initial, n_machines)
        scale = max(scale, np.finfo(float).tiny)  # an all-zero ETC matrix leaves nothing to scale

        best_cost = np.inf
        best_assignment = min_min_assignment
        history: list[tuple[float, float]] = []
        evaluations = 0
        iterations = 0
        last_improvement = 0
        restarts = 0
        searched: set[int] = set()
        extras: dict[str, Any] = {}

        def affordable(count: int) -> bool:
            """Whether ``count`` more evaluations fit in the time and evaluation budgets."""
            return not search.exhausted(evaluations + count - 1)

        def scatter(positions: NDArray[np.float64]) -> None:
            """Restart every particle but the first near the best assignment, in place: each re-opens a random
            fraction (up to ``restart_fraction``) of its tasks to the decoder (biases as at the start)."""
            best = encode_assignment(best_assignment, n_machines).reshape(n_tasks, n_machines)
            for row in positions[1:]:
                reopened = rng.random(n_tasks) < rng.uniform(0.0, self.restart_fraction)
                view = row.reshape(n_tasks, n_machines)
                view[:] = best
                view[reopened] = rng.uniform(0.0, self.initial_spread, size=(int(reopened.sum()), n_machines))
            positions[0] = best.ravel()

        def cost(positions: NDArray[np.float64]) -> NDArray[np.float64]:
            nonlocal best_cost, best_assignment, evaluations, iterations, last_improvement, restarts
            if iterations and not affordable(len(positions)):
                raise _BudgetSpentError
            iterations += 1
            if self.restart_after is not None and iterations - last_improvement > self.restart_after:
                scatter(positions)
                last_improvement = iterations
                restarts += 1
            decoded = decode_positions(problem, positions, order, scale)
            values = np.asarray(makespan(problem, decoded), dtype=np.float64)
            evaluations += len(values)
            if "initial_best_makespan_s" not in extras:
                extras["initial_best_makespan_s"] = float(values.min())
            candidates: list[int] = []
            for index in np.argsort(values, kind="stable"):
                if len(candidates) >= self.local_search_count:
                    break
                key = hash(decoded[index].tobytes())
                if key not in searched:  # a local optimum already found, or its start: nothing new to learn
                    searched.add(key)
                    candidates.append(int(index))
            for index in candidates:
                if not affordable(1):
                    break
                improved, scans = budgeted_local_search(
                    problem, decoded[index], rng, power=8, swap_sample=64, max_steps=10_000,
                    max_scans=None if search.max_evaluations is None else search.max_evaluations - evaluations)
                searched.add(hash(improved.tobytes()))
                evaluations += max(scans, 1)
                value = float(makespan(problem, improved))
                if value < values[index]:
                    values[index] = value
                    decoded[index] = improved
                    if value <= scale:  # representable: write it back (Lamarckian learning)
                        positions[index] = encode_assignment(improved, n_machines)
            if "first_search_makespan_s" not in extras:
                extras["first_search_makespan_s"] = float(values.min())
            index = int(values.argmin())
            if values[index] < best_cost:
                best_cost = float(values[index])
                best_assignment = decoded[index].copy()
                history.append((search.elapsed_s(), best_cost))
                last_improvement = iterations
            return values

        optimizer = _optimizer(n_particles, n_tasks * n_machines, self.cognitive, self.social, self.inertia,
                               self.velocity_clamp, initial)
        iterations_allowed = self.max_iterations if self.max_iterations is not None else 2**62
        with contextlib.suppress(_BudgetSpentError):
            optimizer.optimize(cost, iters=iterations_allowed, verbose=False)
        history.append((search.elapsed_s(), best_cost))
        extras.update(iterations=iterations, evaluations=evaluations, restarts=restarts)
        return best_assignment, history, extras
