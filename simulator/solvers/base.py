"""The solver plug-in contract, its result type and the name registry.

A solver is a plug-in in scikit-learn's style (`simulator.plugins`): ``__init__`` takes keyword parameters
and stores them unchanged under the same names, nothing else, so :meth:`Solver.get_params` can be read off the
signature and every result row can record the exact hyperparameters; ``check_params`` validates them. All
work happens in :meth:`Solver.solve`, which receives the problem, a ``numpy.random.Generator`` owned by the
caller, and what the call may spend and start from (`Search`: a wall-clock limit, an evaluation budget, a warm
start), so the same solver serves a one-off mapping and a batch policy that re-solves every batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from simulator.errors import UserInputError
from simulator.mapping import MappingProblem, as_assignment, evaluate
from simulator.plugins import ParameterError, Plugin, Registry

__all__ = [
    "SOLVERS",
    "SOLVER_REGISTRY",
    "Search",
    "SolveResult",
    "Solver",
    "UnknownSolverError",
    "get_solver",
    "register_solver",
    "solver_names",
    "start_search",
]


class UnknownSolverError(UserInputError, KeyError):
    """No solver is found under the requested name; the message lists the known names or says why not."""

    def __str__(self) -> str:  # KeyError would otherwise print the message with quotes around it
        return "\n".join(self.problems)


@dataclass(frozen=True, eq=False)
class Search:
    """What one :meth:`Solver.solve` call may spend and where it may start.

    Attributes:
        start_s: ``time.perf_counter()`` when the call began (history timestamps and the deadline count from it).
        time_limit_s: Wall-clock budget in seconds, or None for none.
        max_evaluations: Budget of objective evaluations (one per candidate assignment), or None for none.
        initial: A warm start: an assignment (machine per task) the search includes in its starting points, for
            example the previous batch's answer; None for none. One-shot heuristics ignore it.
    """

    start_s: float
    time_limit_s: float | None = None
    max_evaluations: int | None = None
    initial: NDArray[np.intp] | None = None

    @property
    def deadline_s(self) -> float:
        """The ``time.perf_counter()`` value at which the time budget runs out (inf without one)."""
        return np.inf if self.time_limit_s is None else self.start_s + self.time_limit_s

    @property
    def bounded(self) -> bool:
        """Whether the call has a time or evaluation budget (an iterative solver needs one or its own limit)."""
        return self.time_limit_s is not None or self.max_evaluations is not None

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.start_s

    def exhausted(self, evaluations: int) -> bool:
        """Whether the time or the evaluation budget is spent after ``evaluations`` evaluations."""
        return (self.max_evaluations is not None and evaluations >= self.max_evaluations) or (
            self.time_limit_s is not None and time.perf_counter() >= self.deadline_s)


@dataclass(frozen=True, eq=False)
class SolveResult:
    """The outcome of one :meth:`Solver.solve` call.

    Attributes:
        assignment: Machine index per task, shape ``(T,)``, read-only.
        objectives: :func:`simulator.mapping.evaluate` of the assignment (``makespan_s``, ``flowtime_s``,
            ``load_variance_s2`` and ``energy_j`` when the problem has a power model).
        wall_s: Wall-clock seconds the solve took.
        solver: Registered name of the solver.
        params: The solver's :meth:`Solver.get_params` at solve time.
        history: Convergence trace as ``(wall_s, best_makespan_s)`` pairs, in time order, for iterative
            solvers; None for one-shot heuristics.
        extras: Solver-specific numbers worth recording (for example generations run).
    """

    assignment: NDArray[np.intp]
    objectives: dict[str, float]
    wall_s: float
    solver: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    history: tuple[tuple[float, float], ...] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def makespan_s(self) -> float:
        """Shortcut for ``objectives["makespan_s"]``."""
        return float(self.objectives["makespan_s"])


class Solver(Plugin):
    """Base class of static mapping solvers (list heuristics, metaheuristics).

    Subclasses declare their parameters as keyword arguments of ``__init__`` with defaults, store each one
    under the same attribute name and do nothing else there; they override :meth:`check_params` to validate
    values (raising `simulator.plugins.ParameterError`) and :meth:`_solve` to compute an assignment. Results
    never depend on global random state except through the generator passed to :meth:`solve`.

    Attributes:
        stochastic: Whether the result depends on the random generator.
    """

    stochastic: ClassVar[bool] = False

    def solve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        time_limit_s: float | None = None,
        *,
        max_evaluations: int | None = None,
        initial: NDArray[np.intp] | None = None,
    ) -> SolveResult:
        """Map every task of ``problem`` to a machine.

        Args:
            problem: The mapping problem (not modified).
            rng: The random generator this call draws from; deterministic solvers ignore it.
            time_limit_s: Wall-clock budget in seconds for iterative solvers, None for none; one-shot
                heuristics ignore it.
            max_evaluations: Budget of objective evaluations for iterative solvers, None for none.
            initial: A warm start (machine per task) for iterative solvers, None for none.

        Returns:
            The assignment, its objectives, wall time and, for iterative solvers, the convergence trace.

        Raises:
            ParameterError: If a parameter value or the time limit is invalid.
        """
        self.check_params()
        search = start_search(problem, time_limit_s, max_evaluations, initial)
        assignment, history, extras = self._solve(problem, rng, search)
        wall_s = search.elapsed_s()
        checked = np.array(as_assignment(problem, assignment), dtype=np.intp)
        checked.setflags(write=False)
        objectives = {key: float(value) for key, value in evaluate(problem, checked).items()}
        return SolveResult(
            assignment=checked,
            objectives=objectives,
            wall_s=wall_s,
            solver=self.name,
            params=self.get_params(),
            history=None if history is None else tuple(history),
            extras=extras,
        )

    def _solve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        search: Search,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]] | None, dict[str, Any]]:
        """Compute an assignment; return it, the convergence trace (or None) and extras.

        Args:
            problem: The mapping problem.
            rng: The caller's generator.
            search: The budgets and warm start of this call (history timestamps count from ``search.start_s``).
        """
        raise NotImplementedError


def start_search(
    problem: MappingProblem,
    time_limit_s: float | None,
    max_evaluations: int | None,
    initial: NDArray[np.intp] | None,
) -> Search:
    """The checked budgets and warm start of one solve call, starting now (shared by every solve entry point).

    Raises:
        ParameterError: If the time limit or evaluation budget is not positive, or the warm start is not an
            assignment of ``problem``.
    """
    if time_limit_s is not None and not time_limit_s > 0:
        raise ParameterError(f"time_limit_s must be a positive number of seconds, got {time_limit_s}")
    if max_evaluations is not None and not (isinstance(max_evaluations, int | np.integer) and max_evaluations > 0):
        raise ParameterError(f"max_evaluations must be a positive integer, got {max_evaluations!r}")
    warm_start = None if initial is None else _warm_start(problem, initial)
    return Search(time.perf_counter(), time_limit_s, None if max_evaluations is None else int(max_evaluations),
                  warm_start)


def _warm_start(problem: MappingProblem, initial: NDArray[np.intp]) -> NDArray[np.intp]:
    """One assignment of ``problem`` (a copy the solver may keep), or ParameterError saying what is wrong."""
    try:
        if np.ndim(initial) != 1:
            raise ValueError(f"must be one assignment of shape ({problem.n_tasks},), got shape {np.shape(initial)}")
        warm_start = np.array(as_assignment(problem, initial), dtype=np.intp)
    except ValueError as error:
        raise ParameterError(f"initial: {error}") from None
    warm_start.setflags(write=False)
    return warm_start


SOLVER_REGISTRY: Registry[Solver] = Registry("solver", "solvers", Solver, "allocsim.solvers", UnknownSolverError)
"""Every solver: the built-ins, entry points of group ``allocsim.solvers``, ``module:Class``, ``file.py:Class``."""

SOLVERS = SOLVER_REGISTRY.registered
"""The built-in solvers by name, filled by :func:`register_solver` when a solver module is imported."""

register_solver = SOLVER_REGISTRY.register


def solver_names() -> list[str]:
    """Names of the built-in solvers and of those installed packages declare by entry point, sorted."""
    return SOLVER_REGISTRY.names()


def get_solver(name: str, **params: Any) -> Solver:
    """Construct the solver ``name`` stands for with keyword ``params``.

    Args:
        name: A name of :func:`solver_names`, or ``module:Class`` or ``path/to/file.py:Class`` (relative to
            the working directory).
        **params: Parameters of that solver's ``__init__``.

    Returns:
        The solver, with its parameter values already checked.

    Raises:
        UnknownSolverError: If ``name`` finds no solver; the message lists the known names or says why not.
        ParameterError: If a parameter name is not accepted (the message lists the allowed ones) or a value
            is invalid.
    """
    return SOLVER_REGISTRY.create(name, params)
