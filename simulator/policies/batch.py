"""Batch mode with the static mapping solvers: every pending task is mapped at once by a list heuristic
(Min-min, Max-min, Duplex, Sufferage, shortest task first), a genetic algorithm, particle swarm or NSGA-II.

At each batch tick the view's state becomes a `MappingProblem`: one machine per node slot, ready when the
node is expected to be ready; ``etc[t, m]`` = the task's expected execution time on the slot's node plus
the expected time for its inputs to get there (a conservative stand-in for a release time, which the static
problem does not have). The solver's objective is therefore the same vectorized function the static
benchmark and the tests use. Nodes a task cannot run on get a prohibitive cost; if a solver still places a
task there, the task goes to its eligible node of earliest expected completion instead. Each slot draws its
node's idle and busy power divided by the node's slots (the simulator's linear power model), so objectives
over energy (NSGA-II's ``third_objective = "energy"``) see the scenario's `idle_power_w` and `busy_power_w`.

Inside a simulation a solver runs at every batch tick, so a search's work per batch must be small and
proportional to the batch: ``evaluations_per_task`` gives it a budget of that many objective evaluations per task in the
batch (deterministic, unlike ``time_limit_s``), and every solve starts from a warm start at least as good as
Min-min's assignment of the batch (see `SearchPolicy`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from simulator.mapping import MappingProblem, flowtime, makespan
from simulator.plugins import check_number
from simulator.policies.base import BATCH, Policy, SystemView, TaskView, register_policy
from simulator.solvers import SOLVERS, Solver
from simulator.solvers.list_heuristics import min_min

# Solvers whose one-task-at-a-time definitions are already registered policies usable in batch mode
# (olb, min_execution_time, min_completion_time), so a second name would only confuse.
_COVERED_BY_GREEDY = {"olb", "met", "mct"}

DEFAULT_EVALUATIONS_PER_TASK = 2
"""Evaluations per task of a batch a solver may spend by default: `experiments/perf/bench_batch_policies.py`
measures what it costs in simulation time against the Min-min batch policy."""

EVALUATIONS_PER_TASK_BY_SOLVER = {"pso": 1, "nsga2": 1}
"""Built-in solvers whose default budget differs from `DEFAULT_EVALUATIONS_PER_TASK`, chosen with
`experiments/perf/bench_batch_policies.py` on the demo's 1,000 jobs (best of 5 rounds, 2026-11-30). At 2
evaluations per task PSO and NSGA-II took 2.6x and 2.9x the Min-min batch policy's time, too close to the 3x
target on a noisy machine (each solve has a fixed cost the GA's has not: pyswarms' loop, DEAP's selection);
at 1 they take 2.4x and 2.5x. Their mean response time is 0.975x and 0.996x Min-min's at 1, 0.973x and
0.996x at 2: the answer is kept only when it is no worse than the Min-min (or carried-over) start, so the
smaller budget gives up almost nothing."""


class SolverPolicy(Policy):
    """Maps all pending tasks of a batch with the static solver ``solver_class`` (see the module docstring).

    Parameters are the solver's own plus ``time_limit_s`` (None: stop on the solver's iteration limits only,
    which keeps runs reproducible; a wall-clock limit makes decisions depend on machine speed). Each solver
    gets its own subclass (`solver_policy`), whose ``__init__`` signature lists them, so parameters are read
    off the signature as for every plug-in. A deterministic solver (a list heuristic) maps each batch by its
    definition; a stochastic one searches from a warm start within a budget (`SearchPolicy`).
    """

    modes = (BATCH,)
    solver_class: ClassVar[type[Solver]] = Solver
    time_limit_s: float | None

    def __init__(self, **params: Any) -> None:
        defaults = self.default_params()
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(defaults)}")
        for name, value in {**defaults, **params}.items():
            setattr(self, name, value)

    def check_params(self) -> None:
        check_number(self, "time_limit_s", minimum=0, exclusive_minimum=True, allow_none=True)
        self._solver().check_params()  # values are checked now, not at the first batch tick

    def _solver(self) -> Solver:
        return self.solver_class(**{name: getattr(self, name) for name in self.solver_class.param_names()})

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the solver class, which pickles by reference, and the state (the subclass is made at run
        time, so it is not importable by name)."""
        return _unpickle_solver_policy, (self.solver_class,), self.__dict__

    def assign_batch(self, tasks: Sequence[TaskView]) -> list[int]:
        view = self.view_
        now = view.now
        slot_node = np.array([node for node in range(view.n_nodes) for _ in range(view.slots(node))])
        ready = np.array([max(view.expected_ready_time_s(int(node)) - now, 0.0) for node in slot_node])
        cost_by_node = np.full((len(tasks), view.n_nodes), np.inf)
        for row, task in enumerate(tasks):
            for node in view.eligible_nodes(task):
                cost_by_node[row, node] = view.exec_estimate_s(task, node) + view.transfer_estimate_s(task, node)
        finite = cost_by_node[np.isfinite(cost_by_node)]
        prohibitive = 1e6 * (float(finite.max()) + float(ready.max()) + 1.0)
        etc = np.where(np.isfinite(cost_by_node), np.maximum(cost_by_node, 1e-12), prohibitive)[:, slot_node]
        idle_w, busy_w = self._slot_power_w(slot_node)
        problem = MappingProblem(etc_s=etc, ready_time_s=ready, busy_power_w=busy_w, idle_power_w=idle_w)
        nodes = slot_node[self.map_batch(problem, tasks, np.isfinite(cost_by_node)[:, slot_node])]
        decisions = []
        for row, (task, node) in enumerate(zip(tasks, nodes.tolist(), strict=True)):
            if not np.isfinite(cost_by_node[row, node]):
                eligible = view.eligible_nodes(task)
                node = min(eligible, key=lambda n: (view.expected_ready_time_s(n) + cost_by_node[row, n], n))
            decisions.append(int(node))
        return decisions

    def map_batch(self, problem: MappingProblem, tasks: Sequence[TaskView], eligible: NDArray[np.bool_]
                  ) -> NDArray[np.intp]:
        """The slot of every task of the batch.

        Args:
            problem: The batch as a mapping problem (one machine per slot).
            tasks: The batch's tasks, one per row of ``problem``.
            eligible: Whether each task can run on each slot, shape ``(tasks, slots)``.
        """
        return np.asarray(self._solver().solve(problem, self.rng_, self.time_limit_s).assignment, dtype=np.intp)

    def _slot_power_w(self, slot_node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(idle, busy) power of each slot in watts: its node's divided by the node's slots, so that the sum
        over a node's slots follows the simulator's linear power model."""
        view = self.view_
        per_node = np.array([view.power_w(node) for node in range(view.n_nodes)], dtype=float).reshape(-1, 2)
        slots = np.array([view.slots(node) for node in range(view.n_nodes)], dtype=float)
        per_slot = per_node / slots[:, None]
        return per_slot[slot_node, 0], per_slot[slot_node, 1]


class SearchPolicy(SolverPolicy):
    """`SolverPolicy` for a stochastic search (GA, PSO, NSGA-II): a budget per batch and a warm start.

    ``evaluations_per_task`` bounds the solver's evaluations (``max_evaluations``) at that many per task in
    the batch, so the work grows with the batch, not with the simulation; None leaves only the solver's own
    limits and ``time_limit_s``. The defaults, `DEFAULT_EVALUATIONS_PER_TASK` and
    `EVALUATIONS_PER_TASK_BY_SOLVER`, keep the demo's batch runs within 3x the Min-min batch policy's time
    (`experiments/perf/bench_batch_policies.py`).

    Warm start: the tasks of one batch are never those of the previous one, so what carries over is where each stage
    went. The previous batch's answer is remembered as the slots its tasks of each (application, stage) were mapped
    to; in the next batch the tasks of that stage take those slots in turn (a task whose stage was not in the
    previous batch, or that cannot run there, takes Min-min's slot). That carried-over assignment is the solver's
    ``initial`` when it is no worse than Min-min's on this batch in makespan and flowtime; otherwise Min-min's
    assignment is. The answer is taken only if it is no worse than that start in both makespan and flowtime;
    otherwise the start is used. The solvers minimise makespan (NSGA-II also flowtime), but what a simulation
    measures is response time, which the batch's flowtime tracks: a shorter makespan bought with a longer flowtime
    (tasks moved off their fastest slots to balance loads) would delay tasks. So the answer is never worse than Min-
    min's by either.
    """

    evaluations_per_task: int | None
    previous_slots_: dict[tuple[str, str], list[int]]

    def check_params(self) -> None:
        check_number(self, "evaluations_per_task", minimum=1, integer=True, allow_none=True)
        super().check_params()

    def bind(self, view: SystemView, rng: np.random.Generator) -> None:
        super().bind(view, rng)
        self.previous_slots_ = {}

    def map_batch(self, problem: MappingProblem, tasks: Sequence[TaskView], eligible: NDArray[np.bool_]
                  ) -> NDArray[np.intp]:
        start = self.warm_start(problem, tasks, eligible)
        budget = None if self.evaluations_per_task is None else self.evaluations_per_task * len(tasks)
        result = self._solver().solve(problem, self.rng_, self.time_limit_s, max_evaluations=budget, initial=start)
        no_worse = (result.objectives["makespan_s"] <= makespan(problem, start)
                    and result.objectives["flowtime_s"] <= flowtime(problem, start))
        slots = np.asarray(result.assignment, dtype=np.intp) if no_worse else start
        self.previous_slots_ = {}
        for task, slot in zip(tasks, slots.tolist(), strict=True):
            self.previous_slots_.setdefault((task.application, task.stage_name), []).append(slot)
        return slots

    def warm_start(self, problem: MappingProblem, tasks: Sequence[TaskView], eligible: NDArray[np.bool_]
                   ) -> NDArray[np.intp]:
        """The previous batch's answer carried over if it is no worse than Min-min's assignment in makespan and
        flowtime, else Min-min's (see the class docstring)."""
        by_min_min = min_min(problem)
        if not self.previous_slots_:
            return by_min_min
        carried = by_min_min.copy()
        taken: dict[tuple[str, str], int] = {}
        for row, task in enumerate(tasks):
            key = (task.application, task.stage_name)
            previous = self.previous_slots_.get(key)
            if previous:
                slot = previous[taken.get(key, 0) % len(previous)]
                taken[key] = taken.get(key, 0) + 1
                if eligible[row, slot]:
                    carried[row] = slot
        no_worse = (makespan(problem, carried) <= makespan(problem, by_min_min)
                    and flowtime(problem, carried) <= flowtime(problem, by_min_min))
        return carried if no_worse else by_min_min


_SOLVER_POLICIES: dict[type[Solver], type[SolverPolicy]] = {}


def solver_policy(solver: type[Solver]) -> type[SolverPolicy]:
    """The batch policy mapping with ``solver`` (one class per solver, so the same one every time)."""
    if solver not in _SOLVER_POLICIES:
        _SOLVER_POLICIES[solver] = _make_solver_policy(solver)
    return _SOLVER_POLICIES[solver]


def _make_solver_policy(solver: type[Solver]) -> type[SolverPolicy]:
    """A `SearchPolicy` for a stochastic solver, a `SolverPolicy` for a deterministic one."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [inspect.Parameter(name, keyword, default=default)
                   for name, default in solver.default_params().items()]
    if solver.stochastic:
        name = next((name for name, built_in in SOLVERS.items() if built_in is solver), None)
        default = EVALUATIONS_PER_TASK_BY_SOLVER.get(name or "", DEFAULT_EVALUATIONS_PER_TASK)
        parameters.append(inspect.Parameter("evaluations_per_task", keyword, default=default,
                                            annotation="int | None"))
    parameters.append(inspect.Parameter("time_limit_s", keyword, default=None, annotation="float | None"))

    def initialize(self: SolverPolicy, **params: Any) -> None:
        SolverPolicy.__init__(self, **params)

    initialize.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    summary = (solver.__doc__ or solver.__name__).strip().splitlines()[0]
    return type(f"{solver.__name__}Policy", (SearchPolicy if solver.stochastic else SolverPolicy,), {
        "__init__": initialize,
        "solver_class": solver,
        "stochastic": solver.stochastic,
        "__doc__": f"Batch mode: {summary}",
        "__module__": __name__,
    })


def _unpickle_solver_policy(solver: type[Solver]) -> SolverPolicy:
    policy_class = solver_policy(solver)
    return policy_class.__new__(policy_class)


def _register_built_in_solver_policies() -> None:
    """One batch policy per built-in solver, named like it."""
    for name, solver in sorted(SOLVERS.items()):
        if name not in _COVERED_BY_GREEDY:
            register_policy(name)(solver_policy(solver))


_register_built_in_solver_policies()
