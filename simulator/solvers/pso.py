"""Particle swarm optimisation for static mapping, built on pyswarms' ``GlobalBestPSO``.

A particle is a point in ``[0, M)^T``; it decodes to an assignment by flooring each coordinate to a
machine index. The cost of the whole swarm is one call of the vectorized
:func:`simulator.mapping.makespan` on the decoded ``(n_particles, T)`` population. One particle starts at
Min-min's assignment (each coordinate at the middle of its machine's unit interval), the others uniformly
at random.

pyswarms 1.3 needs three workarounds, all confined to this module:

* it draws initial velocities and every velocity update from numpy's *global* generator, so
  :meth:`ParticleSwarm.solve` reseeds ``np.random`` from the caller's generator at every call;
* its ``Reporter`` calls ``logging.config.dictConfig`` when pyswarms is imported and whenever an optimizer
  is built, replacing the root logger's handlers and creating ``report.log`` in the working directory.
  pyswarms reads an alternative configuration from the file named by the ``LOG_CFG`` environment
  variable; during import and construction we point it at an *incremental*, empty configuration, which
  leaves logging untouched, and restore the variable afterwards. pyswarms is imported lazily so that
  importing :mod:`simulator.solvers` has no such side effect at all;
* ``optimize`` stores every iteration's positions and velocities (``pos_history``), which would grow to
  gigabytes over a minute of iterations, so a subclass keeps only the cost history.

Measured on Braun et al.'s instances (``experiments/braun_benchmark.py``, 20 s and about 20,000-37,000
iterations per run) the swarm never improved on its Min-min particle: floor-decoded continuous positions
make almost every move a random reassignment of many tasks. The adapter is kept as the standard baseline
the literature compares against; the GA's local search is what closes the gap.

pyswarms has no wall-clock stop: the cost function raises an internal exception once the time limit has
passed, which ends ``optimize``; the best particle found so far is tracked by the cost function itself
(it sees every evaluated position), so nothing is lost.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.mapping import MappingProblem, makespan
from simulator.plugins import ParameterError, check_choice, check_number
from simulator.solvers.base import Search, Solver, register_solver
from simulator.solvers.list_heuristics import min_min

__all__ = ["ParticleSwarm", "decode_positions"]

_UPPER_MARGIN = 1e-9
"""Positions stay below ``M - margin`` so that flooring never yields machine ``M``."""


class _TimeUpError(Exception):
    """Raised from the cost function to stop pyswarms at the time limit."""


@contextlib.contextmanager
def _quiet_pyswarms_logging() -> Iterator[None]:
    """Make pyswarms' ``Reporter`` leave the logging configuration alone (see the module docstring)."""
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


@functools.cache
def _lean_optimizer_class() -> type:
    """``GlobalBestPSO`` without the per-iteration position and velocity history (imported lazily)."""
    with _quiet_pyswarms_logging():
        from pyswarms.single import GlobalBestPSO

    class LeanGlobalBestPSO(GlobalBestPSO):
        """Keeps the best-cost history only; positions per iteration would exhaust memory."""

        def _populate_history(self, hist: Any) -> None:
            self.cost_history.append(hist.best_cost)

    return LeanGlobalBestPSO


def decode_positions(positions: NDArray[np.float64], n_machines: int) -> NDArray[np.intp]:
    """Floor continuous positions in ``[0, M)`` to machine indices (clipped into range for safety)."""
    return np.clip(np.floor(positions), 0, n_machines - 1).astype(np.intp)


@register_solver("pso")
class ParticleSwarm(Solver):
    """Global-best particle swarm on floor-decoded continuous positions (pyswarms ``GlobalBestPSO``).

    Args:
        n_particles: Swarm size.
        max_iterations: Iterations (one swarm evaluation each); None to run until the time limit.
        cognitive: Acceleration toward each particle's own best (pyswarms ``c1``).
        social: Acceleration toward the swarm's best (pyswarms ``c2``).
        inertia: Velocity carried over between iterations (pyswarms ``w``).
        velocity_clamp: Largest absolute velocity per coordinate, in machine-index units; None for none.
        seed_min_min: Whether one particle starts at Min-min's assignment.
    """

    stochastic = True

    def __init__(
        self,
        *,
        n_particles: int = 30,
        max_iterations: int | None = 500,
        cognitive: float = 1.5,
        social: float = 1.5,
        inertia: float = 0.7,
        velocity_clamp: float | None = None,
        seed_min_min: bool = True,
    ) -> None:
        self.n_particles = n_particles
        self.max_iterations = max_iterations
        self.cognitive = cognitive
        self.social = social
        self.inertia = inertia
        self.velocity_clamp = velocity_clamp
        self.seed_min_min = seed_min_min

    def check_params(self) -> None:
        check_number(self, "n_particles", minimum=1, integer=True)
        check_number(self, "max_iterations", minimum=1, integer=True, allow_none=True)
        for name in ("cognitive", "social", "inertia"):
            check_number(self, name, minimum=0.0)
        check_number(self, "velocity_clamp", minimum=0.0, exclusive_minimum=True, allow_none=True)
        check_choice(self, "seed_min_min", (True, False))

    def _solve(
        self,
        problem: MappingProblem,
        rng: np.random.Generator,
        search: Search,
    ) -> tuple[NDArray[np.intp], list[tuple[float, float]] | None, dict[str, Any]]:
        if self.max_iterations is None and search.time_limit_s is None:
            raise ParameterError("pso: give max_iterations or a time limit, or it would never stop")
        # pyswarms draws from numpy's global generator: reseed it from our own stream.
        np.random.seed(int(rng.integers(2**32)))
        deadline = search.deadline_s
        n_tasks, n_machines = problem.n_tasks, problem.n_machines
        upper = n_machines - _UPPER_MARGIN
        initial = rng.uniform(0.0, upper, size=(self.n_particles, n_tasks))
        if self.seed_min_min:
            initial[0] = min_min(problem) + 0.5
        clamp = None if self.velocity_clamp is None else (-self.velocity_clamp, self.velocity_clamp)

        best_cost = np.inf
        best_assignment = decode_positions(initial[0], n_machines)
        history: list[tuple[float, float]] = []
        iterations = 0

        def cost(positions: NDArray[np.float64]) -> NDArray[np.float64]:
            nonlocal best_cost, best_assignment, iterations
            if iterations and time.perf_counter() >= deadline:
                raise _TimeUpError
            iterations += 1
            decoded = decode_positions(positions, n_machines)
            values = np.asarray(makespan(problem, decoded), dtype=np.float64)
            index = int(values.argmin())
            if values[index] < best_cost:
                best_cost = float(values[index])
                best_assignment = decoded[index].copy()
                history.append((search.elapsed_s(), best_cost))
            return values

        optimizer_class = _lean_optimizer_class()
        with _quiet_pyswarms_logging():
            optimizer = optimizer_class(
                n_particles=self.n_particles,
                dimensions=n_tasks,
                options={"c1": self.cognitive, "c2": self.social, "w": self.inertia},
                bounds=(np.zeros(n_tasks), np.full(n_tasks, upper)),
                velocity_clamp=clamp,
                init_pos=initial,
            )
        iterations_allowed = self.max_iterations if self.max_iterations is not None else 2**62
        with contextlib.suppress(_TimeUpError):
            optimizer.optimize(cost, iters=iterations_allowed, verbose=False)
        history.append((search.elapsed_s(), best_cost))
        return best_assignment, history, {"iterations": iterations}
