"""Lower bound on the makespan of a static mapping problem from its linear-programming relaxation.

The mixed-integer model of makespan minimisation on unrelated machines (R||C_max with ready times) is::

    minimise   C
    subject to sum_m x[t, m] = 1                               for every task t
               ready[m] + sum_t etc[t, m] * x[t, m] <= C        for every machine m
               x[t, m] in {0, 1}

Relaxing ``x`` to ``x >= 0`` gives an LP whose optimum is a lower bound on every assignment's makespan; it
lets benchmarks report gaps as a fraction above a bound instead of against other heuristics only. The LP
is solved by HiGHS (``scipy.optimize.linprog(method="highs")``) from sparse constraint matrices.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
from numpy.typing import NDArray
from scipy.optimize import linprog

from simulator.mapping import MappingProblem

__all__ = ["LowerBound", "lp_lower_bound"]


@dataclass(frozen=True, eq=False)
class LowerBound:
    """Makespan lower bounds of one problem.

    Attributes:
        makespan_s: Optimum of the LP relaxation, seconds.
        task_bound_s: ``max_t min_m (ready[m] + etc[t, m])``: no assignment can finish before its
            longest-to-place task does. Not implied by the LP, which may split a task.
        fractional_assignment: Optimal LP solution ``x``, shape ``(T, M)``; rows sum to 1.
        wall_s: Seconds spent building and solving the LP.
    """

    makespan_s: float
    task_bound_s: float
    fractional_assignment: NDArray[np.float64]
    wall_s: float

    @property
    def best_s(self) -> float:
        """The larger, hence tighter, of the two bounds."""
        return max(self.makespan_s, self.task_bound_s)


def lp_lower_bound(problem: MappingProblem) -> LowerBound:
    """Solve the LP relaxation of makespan minimisation for ``problem``.

    Variables are ``x`` flattened task-major (``x[t * M + m]``) followed by ``C``.

    Args:
        problem: The mapping problem.

    Returns:
        The LP bound and the per-task bound.

    Raises:
        RuntimeError: If HiGHS does not report an optimal solution (it should not for a valid problem).
    """
    start = time.perf_counter()
    n_tasks, n_machines = problem.n_tasks, problem.n_machines
    n_variables = n_tasks * n_machines + 1
    task_of_variable = np.repeat(np.arange(n_tasks), n_machines)
    machine_of_variable = np.tile(np.arange(n_machines), n_tasks)
    variable_index = np.arange(n_tasks * n_machines)

    # sum_m x[t, m] = 1 for every task.
    equality = sparse.csr_matrix(
        (np.ones(n_tasks * n_machines), (task_of_variable, variable_index)),
        shape=(n_tasks, n_variables),
    )
    # sum_t etc[t, m] x[t, m] - C <= -ready[m] for every machine.
    rows = np.r_[machine_of_variable, np.arange(n_machines)]
    columns = np.r_[variable_index, np.full(n_machines, n_variables - 1)]
    values = np.r_[problem.etc_s.ravel(), -np.ones(n_machines)]
    inequality = sparse.csr_matrix((values, (rows, columns)), shape=(n_machines, n_variables))

    objective = np.zeros(n_variables)
    objective[-1] = 1.0
    result = linprog(
        objective,
        A_ub=inequality,
        b_ub=-problem.ready_time_s,
        A_eq=equality,
        b_eq=np.ones(n_tasks),
        bounds=(0, None),
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"the LP relaxation was not solved to optimality: {result.message}")
    fractional = np.asarray(result.x[:-1]).reshape(n_tasks, n_machines)
    fractional.setflags(write=False)
    task_bound = float((problem.etc_s + problem.ready_time_s).min(axis=1).max())
    return LowerBound(
        makespan_s=float(result.x[-1]),
        task_bound_s=task_bound,
        fractional_assignment=fractional,
        wall_s=time.perf_counter() - start,
    )
