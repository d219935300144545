"""Static mapping solvers: list heuristics, metaheuristics and the LP lower bound.

Importing this package registers every built-in solver, so :func:`get_solver` knows all names (and finds
plug-ins by entry point, ``module:Class`` and ``path/to/file.py:Class``, see `simulator.plugins`). The metaheuristic
modules import DEAP at import time but pyswarms only inside ``solve`` (pyswarms configures logging when
imported).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.solvers import ga, list_heuristics, mopso, nsga, pso
from simulator.solvers.base import (
    SOLVER_REGISTRY,
    SOLVERS,
    Search,
    Solver,
    SolveResult,
    UnknownSolverError,
    get_solver,
    register_solver,
    solver_names,
)

if TYPE_CHECKING:
    from simulator.solvers.lp_bound import LowerBound, lp_lower_bound


def __getattr__(name: str) -> Any:
    """The LP bound is imported on first use: scipy.optimize takes most of a second to import."""
    if name in ("LowerBound", "lp_lower_bound"):
        from simulator.solvers import lp_bound

        return getattr(lp_bound, name)
    raise AttributeError(f"module 'simulator.solvers' has no attribute {name!r}")


__all__ = [
    "SOLVERS",
    "SOLVER_REGISTRY",
    "LowerBound",
    "Search",
    "SolveResult",
    "Solver",
    "UnknownSolverError",
    "ga",
    "get_solver",
    "list_heuristics",
    "lp_lower_bound",
    "mopso",
    "nsga",
    "pso",
    "register_solver",
    "solver_names",
]
