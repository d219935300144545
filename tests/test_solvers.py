"""Contract battery over every registered solver, plus GA, PSO, NSGA-II and LP-bound specifics."""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulator.mapping import MappingProblem, evaluate, load_etc, makespan
from simulator.plugins import ParameterError
from simulator.solvers import (
    SOLVERS,
    SolveResult,
    UnknownSolverError,
    get_solver,
    lp_lower_bound,
    solver_names,
)
from simulator.solvers.front import pick
from simulator.solvers.ga import critical_descent, local_search
from simulator.solvers.global_random import seeded_global_random
from simulator.solvers.list_heuristics import mct, min_min, min_min_with_order
from simulator.solvers.nsga import NSGA2, ParetoIndividual, select_nsga2, sort_nondominated
from simulator.solvers.pso import decode_positions, encode_assignment

BRAUN_DIR = Path(__file__).resolve().parents[1] / "scenarios" / "data" / "braun"

# Small budgets so that the whole battery runs in seconds.
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "ga": {"population_size": 4, "max_generations": 3},
    "pso": {"n_particles": 6, "max_iterations": 15},
    "nsga2": {"population_size": 8, "max_generations": 4},
    "mopso": {"n_particles": 8, "max_iterations": 4},
}
# Overrides that remove the heuristic seeds, so that the result visibly depends on the random stream.
UNSEEDED: dict[str, dict[str, Any]] = {
    "ga": {"seed_min_min": False, "local_search": "none"},
    "pso": {"seed_min_min": False, "local_search_count": 0, "initial_spread": 1.0},
    "nsga2": {"seed_heuristics": False, "local_search_count": 0},
    "mopso": {"seed_heuristics": False, "local_search_count": 0},
}
ALL_SOLVERS = solver_names()
STOCHASTIC = [name for name in ALL_SOLVERS if SOLVERS[name].stochastic]


def small_problem(seed: int = 3, n_tasks: int = 30, n_machines: int = 4) -> MappingProblem:
    rng = np.random.default_rng(seed)
    return MappingProblem(
        etc_s=rng.uniform(1.0, 50.0, size=(n_tasks, n_machines)),
        ready_time_s=rng.uniform(0.0, 5.0, size=n_machines),
    )


def fast_solver(name: str, **overrides: Any) -> Any:
    return get_solver(name, **{**FAST_PARAMS.get(name, {}), **overrides})


@pytest.mark.contract
def test_every_expected_solver_is_registered() -> None:
    """Reference: the brief's list of algorithms."""
    expected = {"olb", "met", "mct", "min_min", "max_min", "duplex", "sufferage", "sufferage_batch", "stf", "ga",
                "pso", "nsga2", "mopso"}  # fmt: skip
    assert expected <= set(ALL_SOLVERS)


@pytest.mark.contract
@pytest.mark.parametrize("name", ALL_SOLVERS)
def test_solution_is_a_valid_assignment_with_consistent_objectives(name: str) -> None:
    """Reference: SolveResult's contract and simulator.mapping.evaluate (the single objective definition)."""
    problem = small_problem()
    result = fast_solver(name).solve(problem, np.random.default_rng(0))
    assert isinstance(result, SolveResult)
    assert result.assignment.shape == (problem.n_tasks,)
    assert result.assignment.dtype == np.intp
    assert result.assignment.min() >= 0 and result.assignment.max() < problem.n_machines
    assert not result.assignment.flags.writeable
    assert result.objectives == pytest.approx(evaluate(problem, result.assignment))
    assert result.solver == name
    assert result.params == get_solver(name, **FAST_PARAMS.get(name, {})).get_params()
    assert result.wall_s >= 0
    if result.history is not None:
        walls = [wall for wall, _ in result.history]
        bests = [best for _, best in result.history]
        assert walls == sorted(walls)
        assert all(later <= earlier for earlier, later in itertools.pairwise(bests))


@pytest.mark.contract
@pytest.mark.parametrize("name", ALL_SOLVERS)
def test_inputs_are_left_untouched(name: str) -> None:
    """Reference: STYLE.md contract checks (inputs untouched): problem arrays and the caller's generator
    state other than the draws the solver makes."""
    problem = small_problem()
    before = {field: getattr(problem, field).copy() for field in ("etc_s", "ready_time_s")}
    fast_solver(name).solve(problem, np.random.default_rng(0))
    for field, array in before.items():
        assert np.array_equal(getattr(problem, field), array)


@pytest.mark.contract
@pytest.mark.parametrize("name", ALL_SOLVERS)
def test_same_seed_gives_the_same_result_whatever_the_global_random_state(name: str) -> None:
    """Reference: STYLE.md randomness rule (the run owns its generators; GA/PSO/NSGA-II seed the global
    generators their libraries draw from inside the call)."""
    problem = small_problem()
    random.seed(1)
    np.random.seed(1)
    first = fast_solver(name).solve(problem, np.random.default_rng(42))
    random.seed(2)
    np.random.seed(2)
    second = fast_solver(name).solve(problem, np.random.default_rng(42))
    assert np.array_equal(first.assignment, second.assignment)
    assert first.objectives == second.objectives


@pytest.mark.contract
@pytest.mark.parametrize("name", STOCHASTIC)
def test_different_seeds_give_different_results(name: str) -> None:
    """Reference: STYLE.md contract checks; the heuristic seeds are switched off so the random stream shows."""
    problem = small_problem()
    results = [
        fast_solver(name, **UNSEEDED[name]).solve(problem, np.random.default_rng(seed)).assignment for seed in (1, 2)
    ]
    assert not np.array_equal(results[0], results[1])


@pytest.mark.contract
@pytest.mark.parametrize("name", ALL_SOLVERS)
def test_solvers_and_results_pickle(name: str) -> None:
    """Reference: STYLE.md contract checks (picklable, for process pools)."""
    solver = fast_solver(name)
    clone = pickle.loads(pickle.dumps(solver))
    assert clone.get_params() == solver.get_params()
    result = solver.solve(small_problem(n_tasks=10), np.random.default_rng(0))
    restored = pickle.loads(pickle.dumps(result))
    assert np.array_equal(restored.assignment, result.assignment)
    assert restored.objectives == result.objectives


@pytest.mark.contract
@pytest.mark.parametrize("name", ALL_SOLVERS)
def test_get_params_round_trips(name: str) -> None:
    """Reference: scikit-learn's estimator rule (get_params read off the signature, constructor round trip)."""
    solver = fast_solver(name)
    params = solver.get_params()
    assert list(params) == type(solver).param_names()
    assert type(solver)(**params).get_params() == params
    assert get_solver(name, **params).get_params() == params
    assert repr(solver).startswith(type(solver).__name__ + "(")


@pytest.mark.contract
def test_unknown_names_and_parameters_list_the_allowed_ones() -> None:
    """Reference: STYLE.md registry rule (an unknown name raises an error listing the known ones)."""
    with pytest.raises(UnknownSolverError) as unknown:
        get_solver("simulated_annealing")
    assert "min_min" in str(unknown.value) and "ga" in str(unknown.value)
    with pytest.raises(ParameterError) as parameter:
        get_solver("ga", populaton_size=10)
    assert "populaton_size" in str(parameter.value) and "population_size" in str(parameter.value)
    with pytest.raises(ParameterError, match="allowed: none"):
        get_solver("min_min", anything=1)


@pytest.mark.contract
@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("ga", {"population_size": 1}, "population_size"),
        ("ga", {"crossover": "two_point"}, "crossover"),
        ("ga", {"mutation_probability": 1.5}, "mutation_probability"),
        ("ga", {"local_search": "tabu"}, "local_search"),
        ("pso", {"n_particles": 0}, "n_particles"),
        ("pso", {"inertia": "high"}, "inertia"),
        ("nsga2", {"population_size": 10}, "multiple of 4"),
        ("nsga2", {"third_objective": "cost"}, "third_objective"),
        ("stf", {"order_by": "max"}, "order_by"),
    ],
)
def test_invalid_parameter_values_are_rejected_when_built(name: str, params: dict[str, Any], message: str) -> None:
    """Reference: each solver's check_params; errors name the parameter and what is allowed."""
    with pytest.raises(ParameterError, match=message):
        get_solver(name, **params)


@pytest.mark.contract
@pytest.mark.parametrize("name", ALL_SOLVERS)
def test_non_positive_time_limits_are_rejected(name: str) -> None:
    """Reference: Solver.solve's documented time-limit rule."""
    with pytest.raises(ParameterError, match="time_limit_s"):
        fast_solver(name).solve(small_problem(), np.random.default_rng(0), time_limit_s=0.0)


@pytest.mark.contract
@pytest.mark.parametrize("name", STOCHASTIC)
def test_iterative_solvers_need_a_stop_and_respect_the_time_limit(name: str) -> None:
    """Reference: the brief (stop on generations/iterations or time limit)."""
    unlimited = {"ga": "max_generations", "pso": "max_iterations", "nsga2": "max_generations",
                 "mopso": "max_iterations"}[name]
    solver = fast_solver(name, **{unlimited: None})
    with pytest.raises(ParameterError, match="never stop"):
        solver.solve(small_problem(), np.random.default_rng(0))
    start = time.perf_counter()
    result = solver.solve(small_problem(), np.random.default_rng(0), time_limit_s=0.3)
    assert time.perf_counter() - start < 1.5
    assert result.wall_s >= 0.3


@pytest.mark.validation
def test_lp_bound_is_below_every_solver_on_a_random_problem() -> None:
    """Reference: LP relaxation theory (the relaxation's optimum bounds every integral assignment)."""
    problem = small_problem(seed=5, n_tasks=40, n_machines=5)
    bound = lp_lower_bound(problem)
    assert bound.fractional_assignment.sum(axis=1) == pytest.approx(np.ones(40))
    assert bound.task_bound_s <= bound.best_s
    for name in ALL_SOLVERS:
        result = fast_solver(name).solve(problem, np.random.default_rng(0))
        assert bound.makespan_s <= result.makespan_s * (1 + 1e-9), name
        assert bound.best_s <= result.makespan_s * (1 + 1e-9), name


@pytest.mark.validation
def test_lp_bound_by_hand() -> None:
    """Reference: hand solution. Two identical machines (ETC 2 and 4 on both): the LP splits the work
    evenly, C = (2 + 4) / 2 = 3; the best integral makespan is 4 (= the per-task bound)."""
    bound = lp_lower_bound(MappingProblem(etc_s=[[2.0, 2.0], [4.0, 4.0]]))
    assert bound.makespan_s == pytest.approx(3.0)
    assert bound.task_bound_s == 4.0
    with_ready = lp_lower_bound(MappingProblem(etc_s=[[2.0, 2.0], [4.0, 4.0]], ready_time_s=[0.0, 6.0]))
    assert with_ready.makespan_s == pytest.approx(6.0)  # all work fits on machine 0 by time 6


@pytest.mark.validation
def test_ga_beats_or_equals_min_min_and_stays_above_the_lp_bound_on_braun() -> None:
    """Reference: Braun et al. 2001 Min-min on u_i_lolo.0 (the GA is seeded with it and elitist) and the LP
    relaxation bound."""
    problem = load_etc(BRAUN_DIR / "u_i_lolo.0")
    result = get_solver("ga", population_size=4, max_generations=2).solve(problem, np.random.default_rng(0))
    assert result.makespan_s <= makespan(problem, min_min(problem))
    assert result.makespan_s >= lp_lower_bound(problem).makespan_s
    assert result.extras["generations"] == 2


@pytest.mark.unit
def test_ga_beats_or_equals_min_min_on_random_problems() -> None:
    """Reference: elitism plus the Min-min seed (the GA's best can only improve on Min-min)."""
    for seed in range(3):
        problem = small_problem(seed=seed, n_tasks=25, n_machines=3)
        result = fast_solver("ga").solve(problem, np.random.default_rng(seed))
        assert result.makespan_s <= makespan(problem, min_min(problem)) + 1e-9


@pytest.mark.unit
def test_ga_restart_keeps_the_best_and_redraws_the_rest() -> None:
    """Reference: the documented restart rule (after restart_after generations without a new best)."""
    problem = small_problem(seed=1, n_tasks=20, n_machines=3)
    result = fast_solver("ga", restart_after=1, max_generations=6).solve(problem, np.random.default_rng(0))
    assert result.extras["restarts"] >= 1
    assert result.makespan_s <= makespan(problem, min_min(problem)) + 1e-9
    assert fast_solver("ga", restart_after=None).solve(problem, np.random.default_rng(0)).extras["restarts"] == 0


@pytest.mark.unit
def test_local_search_never_worsens_and_keeps_loads_consistent() -> None:
    """Reference: the descent's documented invariants (monotone makespan; loads match the assignment)."""
    rng = np.random.default_rng(9)
    problem = small_problem(seed=9, n_tasks=50, n_machines=5)
    for _ in range(5):
        start = rng.integers(0, 5, size=50)
        improved = local_search(problem, start, rng)
        assert makespan(problem, improved) <= makespan(problem, start)
        genes = start.astype(np.intp)
        loads = problem.ready_time_s + np.bincount(genes, weights=problem.etc_s[np.arange(50), genes], minlength=5)
        critical_descent(problem.etc_s, genes, loads, 1000)
        assert loads == pytest.approx(
            problem.ready_time_s + np.bincount(genes, weights=problem.etc_s[np.arange(50), genes], minlength=5)
        )


@pytest.mark.unit
def test_pso_leaves_logging_alone_and_writes_no_report_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reference: STYLE.md (no side effects): pyswarms' Reporter would reconfigure the root logger and create
    report.log in the working directory."""
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    fast_solver("pso").solve(small_problem(), np.random.default_rng(0))
    assert root.handlers == handlers and root.level == level
    assert not (tmp_path / "report.log").exists()


@pytest.mark.validation
@pytest.mark.parametrize("seed", range(5))
def test_nondominated_sort_and_selection_match_deaps(seed: int) -> None:
    """Reference: DEAP's ``tools.sortNondominated`` and ``tools.selNSGA2`` (Deb et al. 2002): the vectorized
    sort gives the same fronts with the same members in the same order, and the selection the same
    individuals, on populations with repeated objective vectors (which DEAP sorts as one)."""
    from deap import tools

    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6, size=(60, 3)).astype(float)  # few values: many ties and repeats

    def population() -> list[ParetoIndividual]:
        individuals = []
        for number, row in enumerate(values):
            individual = ParetoIndividual([number])
            individual.fitness.values = tuple(row)
            individuals.append(individual)
        return individuals

    def numbers(fronts: list[list[Any]]) -> list[list[int]]:
        return [[individual[0] for individual in front] for front in fronts]

    for k in (1, 20, 45, 60):
        assert numbers(sort_nondominated(population(), k)) == numbers(tools.sortNondominated(population(), k))
        assert numbers([select_nsga2(population(), k)]) == numbers([tools.selNSGA2(population(), k)])
    first = sort_nondominated(population(), 60, first_front_only=True)
    assert numbers(first) == numbers(tools.sortNondominated(population(), 60, first_front_only=True))


@pytest.mark.unit
def test_pso_in_a_fresh_interpreter_leaves_logging_alone(tmp_path: Path) -> None:
    """Reference: STYLE.md (no side effects): as the test above, where the solve is also pyswarms' first import
    (which configures logging at import time unless told otherwise)."""
    import subprocess
    import sys

    code = ("import logging, numpy as np; from simulator.solvers import get_solver; "
            "from simulator.mapping import MappingProblem; "
            "problem = MappingProblem(etc_s=np.arange(1.0, 13.0).reshape(4, 3), ready_time_s=np.zeros(3)); "
            "get_solver('pso', n_particles=4, max_iterations=2).solve(problem, np.random.default_rng(0)); "
            "print(len(logging.getLogger().handlers))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "0"
    assert not (tmp_path / "report.log").exists()


@pytest.mark.validation
def test_nsga2_front_is_mutually_non_dominated() -> None:
    """Reference: Pareto dominance (Deb et al. 2002): no front member is at least as good in every objective
    and better in one than another member."""
    problem = small_problem(seed=4, n_tasks=40, n_machines=5)
    front = NSGA2(population_size=16, max_generations=10).solve_front(problem, np.random.default_rng(0))
    values = front.objectives.to_numpy()
    assert list(front.objectives.columns) == ["makespan_s", "flowtime_s", "load_variance_s2"]
    assert len(values) == len(front.assignments) >= 1
    for i in range(len(values)):
        for j in range(len(values)):
            if i != j:
                assert not (np.all(values[i] <= values[j]) and np.any(values[i] < values[j]))
    for row, assignment in zip(values, front.assignments, strict=True):
        objectives = evaluate(problem, assignment)
        assert row == pytest.approx(
            [objectives["makespan_s"], objectives["flowtime_s"], objectives["load_variance_s2"]]
        )
    assert list(values[:, 0]) == sorted(values[:, 0])


@pytest.mark.unit
def test_nsga2_energy_objective_needs_a_power_model() -> None:
    """Reference: NSGA2's documented third_objective rule and simulator.mapping.energy_j."""
    problem = small_problem()
    with pytest.raises(ParameterError, match="energy"):
        NSGA2(population_size=8, max_generations=1, third_objective="energy").solve_front(
            problem, np.random.default_rng(0)
        )
    powered = MappingProblem(
        etc_s=problem.etc_s, busy_power_w=np.full(4, 100.0), idle_power_w=np.array([5.0, 10.0, 20.0, 40.0])
    )
    front = NSGA2(population_size=8, max_generations=2, third_objective="energy").solve_front(
        powered, np.random.default_rng(0)
    )
    assert "energy_j" in front.objectives.columns


@pytest.mark.unit
def test_pick_knee_and_weights_by_hand() -> None:
    """Reference: hand computation. Normalised points (0, 1), (0.2, 0.2), (1, 0): the knee (closest to the
    ideal point) is the middle one; weights on the first objective only pick the first row."""
    front = pd.DataFrame({"makespan_s": [10.0, 12.0, 20.0], "flowtime_s": [100.0, 60.0, 50.0]})
    assert pick(front) == 1
    assert pick(front, "weights", {"makespan_s": 1.0}) == 0
    assert pick(front, "weights", [0.0, 1.0]) == 2
    with pytest.raises(ValueError, match="rule"):
        pick(front, "nadir")
    with pytest.raises(ValueError, match="unknown column"):
        pick(front, "weights", {"energy_j": 1.0})
    with pytest.raises(ValueError, match="one entry per column"):
        pick(front, "weights", [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        pick(front.iloc[:0])


def test_search_budgets_and_warm_start_are_checked_before_solving():
    """`Solver.solve` refuses a non-positive evaluation budget and a warm start that is not one assignment of the
    problem, naming the argument; a valid warm start reaches `_solve` read-only in `Search.initial`."""
    problem = small_problem()
    solver = fast_solver("ga")
    with pytest.raises(ParameterError, match="max_evaluations must be a positive integer, got 0"):
        solver.solve(problem, np.random.default_rng(0), max_evaluations=0)
    with pytest.raises(ParameterError, match="initial: must be one assignment of shape"):
        solver.solve(problem, np.random.default_rng(0), initial=np.zeros((2, problem.n_tasks), dtype=int))
    with pytest.raises(ParameterError, match="initial: .*outside"):
        solver.solve(problem, np.random.default_rng(0), initial=np.full(problem.n_tasks, problem.n_machines))
    seen = []

    class Recording(type(solver)):  # type: ignore[misc]
        def _solve(self, problem, rng, search):
            seen.append(search)
            return super()._solve(problem, rng, search)

    Recording(**solver.get_params()).solve(problem, np.random.default_rng(0), initial=np.zeros(problem.n_tasks, int))
    assert seen[0].initial.tolist() == [0] * problem.n_tasks and not seen[0].initial.flags.writeable


@pytest.mark.contract
@pytest.mark.parametrize("name", STOCHASTIC)
def test_the_callers_global_random_state_is_restored(name: str) -> None:
    """Reference: the solver base's docstring (a solve draws from the generator it is given only):
    DEAP's and pyswarms' draws from ``random`` and ``np.random`` are confined to the call."""
    random.seed(7)
    np.random.seed(7)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    fast_solver(name).solve(small_problem(), np.random.default_rng(0))
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1]) and after[2:] == numpy_state[2:]


@pytest.mark.unit
def test_seeded_global_random_restores_the_callers_state_after_an_exception() -> None:
    """Reference: seeded_global_random's docstring (restored on exit, normal or by exception); inside the block
    the global draws are a function of the given generator."""
    random.seed(3)
    np.random.seed(3)
    expected_python, expected_numpy = random.random(), np.random.random()
    random.seed(3)
    np.random.seed(3)
    with pytest.raises(KeyError), seeded_global_random(np.random.default_rng(5)):
        inside = (random.random(), np.random.random())
        raise KeyError("boom")
    assert (random.random(), np.random.random()) == (expected_python, expected_numpy)
    with seeded_global_random(np.random.default_rng(5)):
        assert (random.random(), np.random.random()) == inside


@pytest.mark.unit
@pytest.mark.parametrize("source", ["random", "braun"])
def test_pso_decoder_reproduces_min_min_and_mct(source: str) -> None:
    """Reference: Braun et al. (2001) section 3.1 (Min-min and MCT are list schedulers that map each task to its
    minimum-completion machine; they differ in the task order): with zero biases the decoder in Min-min's
    mapping order gives Min-min's assignment, in index order MCT's."""
    problem = small_problem(n_tasks=60, n_machines=5) if source == "random" else load_etc(BRAUN_DIR / "u_c_hihi.0")
    origin = np.zeros((2, problem.n_tasks * problem.n_machines))
    decoded = decode_positions(problem, origin, min_min_with_order(problem)[1], 1.0)
    assert np.array_equal(decoded[0], min_min(problem)) and np.array_equal(decoded[1], min_min(problem))
    in_index_order = decode_positions(problem, origin[:1], np.arange(problem.n_tasks), 1.0)[0]
    assert np.array_equal(in_index_order, mct(problem))
    assert sorted(min_min_with_order(problem)[1]) == list(range(problem.n_tasks))


@pytest.mark.unit
def test_pso_one_hot_position_decodes_to_its_assignment() -> None:
    """Reference: encode_assignment's docstring: any assignment whose makespan is at most the decoder's scale is
    a point of the search space (warm starts and local-search results are written back this way); biases
    move single tasks while the decoder keeps the others on their minimum-completion machines."""
    problem = small_problem(n_tasks=60, n_machines=5)
    rng = np.random.default_rng(1)
    order = min_min_with_order(problem)[1]
    for assignment in [*rng.integers(0, 5, size=(5, 60)), mct(problem), local_search(problem, min_min(problem), rng)]:
        scale = float(makespan(problem, assignment))
        position = encode_assignment(np.asarray(assignment), problem.n_machines)[None, :]
        assert np.array_equal(decode_positions(problem, position, order, scale)[0], assignment)
        assert np.array_equal(decode_positions(problem, position, order, 2 * scale)[0], assignment)
    # A strong bias on one task's machine overrides Min-min's choice for that task only at the start of the order.
    first = int(order[0])
    other = (int(min_min(problem)[first]) + 1) % problem.n_machines
    position = np.zeros((1, 60, 5))
    position[0, first, other] = 1.0
    decoded = decode_positions(problem, position, order, float(makespan(problem, min_min(problem))))[0]
    assert decoded[first] == other


@pytest.mark.unit
def test_pso_includes_the_warm_start() -> None:
    """Reference: Search's docstring (an iterative solver includes ``initial`` among its starting points): a warm
    start better than anything one plain swarm iteration finds is returned; without it the swarm does worse."""
    problem = small_problem(n_tasks=60, n_machines=5)
    warm = local_search(problem, min_min(problem), np.random.default_rng(0))
    solver = get_solver("pso", n_particles=5, max_iterations=1, local_search_count=0)
    without = solver.solve(problem, np.random.default_rng(0))
    assert without.makespan_s > makespan(problem, warm)
    with_warm = solver.solve(problem, np.random.default_rng(0), initial=warm)
    assert with_warm.makespan_s <= makespan(problem, warm)
    assert with_warm.extras["initial_best_makespan_s"] == pytest.approx(makespan(problem, warm))
    alone = get_solver("pso", n_particles=1, max_iterations=1, local_search_count=0)
    assert alone.solve(problem, np.random.default_rng(0), initial=warm).makespan_s == pytest.approx(
        makespan(problem, warm))


@pytest.mark.unit
@pytest.mark.parametrize("budget", [1, 7, 20, 57])
def test_pso_honours_the_evaluation_budget(budget: int) -> None:
    """Reference: Search's docstring (stop when ``max_evaluations`` candidate assignments have been evaluated):
    every decoded particle and every neighbourhood scan of the local search counts (as in the GA); without an
    iteration limit the budget alone stops the swarm."""
    problem = small_problem(n_tasks=40, n_machines=4)
    result = get_solver("pso", n_particles=6, max_iterations=None).solve(
        problem, np.random.default_rng(0), max_evaluations=budget)
    assert 1 <= result.extras["evaluations"] <= budget
    assert result.extras["evaluations"] > budget - 6 - 2  # it stops only when the next iteration does not fit


@pytest.mark.unit
def test_pso_result_does_not_depend_on_whether_its_optimizer_was_kept() -> None:
    """Reference: the solver base's docstring (a solve is a pure function of its generator): the optimizer a
    thread keeps for a configuration (``pso._optimizer``) is reset to exactly the state of a new one."""
    from simulator.solvers import pso

    problem = small_problem(n_tasks=20, n_machines=4)
    solver = get_solver("pso", n_particles=6, max_iterations=8)
    pso._optimizers.__dict__.clear()
    new = solver.solve(problem, np.random.default_rng(5))
    other = small_problem(seed=9, n_tasks=20, n_machines=4)  # the same configuration: it keeps the optimizer
    get_solver("pso", n_particles=6, max_iterations=3).solve(other, np.random.default_rng(1))
    kept = solver.solve(problem, np.random.default_rng(5))
    assert len(pso._optimizers.by_configuration) == 1
    assert kept.assignment.tolist() == new.assignment.tolist()
    assert [cost for _, cost in kept.history] == [cost for _, cost in new.history]


@pytest.mark.validation
def test_pso_swarm_improves_on_its_start_on_a_braun_instance() -> None:
    """Reference: Braun et al. (2001) instance u_i_lolo.0 and its Min-min makespan 2785.65 (the published value
    reproduced by the benchmark): the initial swarm's best is Min-min's schedule, the local search improves it,
    and the swarm's later iterations improve on the first local search."""
    problem = load_etc(BRAUN_DIR / "u_i_lolo.0")
    result = get_solver("pso", max_iterations=15).solve(problem, np.random.default_rng(0))
    assert result.extras["initial_best_makespan_s"] == pytest.approx(2785.65, abs=0.01)
    assert result.extras["first_search_makespan_s"] < 2785.65
    assert result.makespan_s < result.extras["first_search_makespan_s"]
