"""The solver plug-in contract, its result type and the name registry.

A solver follows scikit-learn's estimator rule: ``__init__`` takes keyword parameters and stores them
unchanged under the same names, nothing else, so :meth:`Solver.get_params` can be read off the signature
and every result row can record the exact hyperparameters. All work happens in :meth:`Solver.solve`, which
receives the problem, a ``numpy.random.Generator`` owned by the caller, and an optional wall-clock limit.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import NDArray

from simulator.mapping import MappingProblem, as_assignment, evaluate

__all__ = [
    "SOLVERS",
    "SolveResult",
    "Solver",
    "SolverParameterError",
    "UnknownSolverError",
    "get_solver",
    "register_solver",
    "solver_names",
]


class UnknownSolverError(KeyError):
    """No solver is registered under the requested name; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would otherwise print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class SolverParameterError(ValueError):
    """A solver parameter is unknown or has a value outside its allowed range."""


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


class Solver:
    """Base class of static mapping solvers (list heuristics, metaheuristics).

    Subclasses declare their parameters as keyword-only arguments of ``__init__`` with defaults, store each
    one under the same attribute name and do nothing else there; they override :meth:`check_params` to
    validate values and :meth:`_solve` to compute an assignment. Results never depend on global random
    state except through the generator passed to :meth:`solve`.

    Attributes:
        name: Registry name, set by :func:`register_solver`.
        stochastic: Whether the result depends on the random generator.
    """

    name: ClassVar[str] = ""
    stochastic: ClassVar[bool] = False

    @classmethod
    def parameter_names(cls) -> list[str]:
        """Names of the keyword parameters of ``__init__``, in signature order."""
        signature = inspect.signature(cls.__init__)
        return [
            parameter.name
            for parameter in signature.parameters.values()
            if parameter.name != "self"
            and parameter.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """The parameters this solver was constructed with, read off the ``__init__`` signature."""
        return {name: getattr(self, name) for name in self.parameter_names()}

    def check_params(self) -> None:
        """Validate parameter values; raise :class:`SolverParameterError` naming the bad one.

        The default accepts everything; subclasses with parameters override it.
        """

    def solve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        time_limit_s: float | None = None,
    ) -> SolveResult:
        """Map every task of ``problem`` to a machine.

        Args:
            problem: The mapping problem (not modified).
            rng: The random generator this call draws from; deterministic solvers ignore it.
            time_limit_s: Wall-clock budget in seconds for iterative solvers, None for none; one-shot
                heuristics ignore it.

        Returns:
            The assignment, its objectives, wall time and, for iterative solvers, the convergence trace.

        Raises:
            SolverParameterError: If a parameter value or the time limit is invalid.
        """
        self.check_params()
        if time_limit_s is not None and not time_limit_s > 0:
            raise SolverParameterError(f"time_limit_s must be a positive number of seconds, got {time_limit_s}")
        start = time.perf_counter()
        assignment, history, extras = self._solve(problem, rng, time_limit_s, start)
        wall_s = time.perf_counter() - start
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
        time_limit_s: float | None,
        start_s: float,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]] | None, dict[str, Any]]:
        """Compute an assignment; return it, the convergence trace (or None) and extras.

        Args:
            problem: The mapping problem.
            rng: The caller's generator.
            time_limit_s: Wall-clock budget or None.
            start_s: ``time.perf_counter()`` at the start of :meth:`solve`, for history timestamps and
                the deadline.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({arguments})"


SOLVERS: dict[str, type[Solver]] = {}
"""Registry of solver classes by name, filled by :func:`register_solver` when a solver module is imported."""

SolverType = TypeVar("SolverType", bound=type[Solver])


def register_solver(name: str) -> Callable[[SolverType], SolverType]:
    """Class decorator that registers a :class:`Solver` subclass under ``name``.

    Args:
        name: The name used on the command line and in result tables (lower case, underscores).

    Raises:
        ValueError: If another class is already registered under ``name``.
    """

    def decorator(cls: SolverType) -> SolverType:
        existing = SOLVERS.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"solver name {name!r} is already registered to {existing.__qualname__}")
        cls.name = name
        SOLVERS[name] = cls
        return cls

    return decorator


def solver_names() -> list[str]:
    """Registered solver names, sorted."""
    return sorted(SOLVERS)


def get_solver(name: str, **params: Any) -> Solver:
    """Construct the solver registered under ``name`` with keyword ``params``.

    Args:
        name: A registered name (see :func:`solver_names`).
        **params: Parameters of that solver's ``__init__``.

    Returns:
        The solver, with its parameter values already checked.

    Raises:
        UnknownSolverError: If ``name`` is not registered; the message lists the known names.
        SolverParameterError: If a parameter name is not accepted (the message lists the allowed ones) or
            a value is invalid.
    """
    cls = SOLVERS.get(name)
    if cls is None:
        raise UnknownSolverError(f"unknown algorithm {name!r}; known: {', '.join(solver_names())}")
    allowed = cls.parameter_names()
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        allowed_text = ", ".join(allowed) if allowed else "none"
        raise SolverParameterError(
            f"unknown parameter(s) {', '.join(unknown)} for algorithm {name!r}; allowed: {allowed_text}"
        )
    solver = cls(**params)
    solver.check_params()
    return solver


def check_choice(solver: Solver, name: str, allowed: tuple[Any, ...]) -> None:
    """Raise :class:`SolverParameterError` unless parameter ``name`` of ``solver`` is one of ``allowed``."""
    value = getattr(solver, name)
    if value not in allowed:
        raise SolverParameterError(f"{solver.name}: {name} must be one of {list(allowed)}, got {value!r}")


def check_number(
    solver: Solver,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    allow_none: bool = False,
    exclusive_minimum: bool = False,
) -> None:
    """Raise :class:`SolverParameterError` unless parameter ``name`` is a number in the given range."""
    value = getattr(solver, name)
    if value is None and allow_none:
        return
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    ok = ok and not isinstance(value, bool)
    if ok and minimum is not None:
        ok = value > minimum if exclusive_minimum else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if ok and not integer:
        ok = bool(np.isfinite(value))
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if exclusive_minimum else '>='} {minimum}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        suffix = (" " + " and ".join(bounds)) if bounds else ""
        none_text = " or None" if allow_none else ""
        raise SolverParameterError(f"{solver.name}: {name} must be {kind}{suffix}{none_text}, got {value!r}")
