"""Multi-objective mapping: front utilities, MOPSO, NSGA-II's budgets, the pick rules, `map --pareto`, the
experiment script."""

from __future__ import annotations

import csv
import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulator.cli import main
from simulator.mapping import MappingProblem, evaluate
from simulator.plugins import ParameterError
from simulator.policies import check_policy_params, make_policy
from simulator.solvers import get_solver
from simulator.solvers.front import REFERENCE_MARGIN, hypervolumes, non_dominated, pick
from simulator.solvers.mopso import MOPSO, decode_keys, encode_keys

ROOT = Path(__file__).resolve().parents[1]
BRAUN = ROOT / "scenarios" / "data" / "braun" / "u_c_hihi.0"
QUICK = {"nsga2": {"population_size": 8, "max_generations": 6}, "mopso": {"n_particles": 8, "max_iterations": 6}}
MULTI = sorted(QUICK)


def powered_problem(seed: int = 3, n_tasks: int = 30) -> MappingProblem:
    """Fast machines draw more power, so makespan and energy conflict."""
    rng = np.random.default_rng(seed)
    speed = np.array([1.0, 1.5, 2.5, 4.0])
    return MappingProblem(etc_s=rng.uniform(5.0, 50.0, size=(n_tasks, 1)) / speed,
                          busy_power_w=40.0 * speed**2, idle_power_w=np.full(4, 5.0))


@pytest.mark.unit
def test_non_dominated_keeps_exactly_the_points_nothing_dominates() -> None:
    """Reference: the definition of Pareto dominance (no worse everywhere, better somewhere)."""
    points = np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 3.0], [4.0, 1.0], [2.0, 2.0], [1.0, 5.0]])
    assert non_dominated(points).tolist() == [True, True, False, True, True, False]


@pytest.mark.validation
def test_hypervolume_matches_the_hand_computed_area_under_the_stated_reference_rule() -> None:
    """Reference: hypervolume as the dominated area (Zitzler and Thiele 1999), by hand: the front (0, 1),
    (1, 0) is its own ideal/nadir box, reference (1.1, 1.1): 2 x 1.1 x 0.1 - 0.1 x 0.1 = 0.21; the front
    (0.5, 0.5) alone, against the same union, adds the 0.6 x 0.6 square."""
    corners = np.array([[0.0, 1.0], [1.0, 0.0]])
    middle = np.array([[0.5, 0.5]])
    assert hypervolumes([corners]) == [pytest.approx(0.21)]
    assert hypervolumes([corners, middle]) == [pytest.approx(0.21), pytest.approx(0.36)]
    # Units do not matter: scaling an objective scales the ideal and nadir with it.
    assert hypervolumes([corners * [1.0, 1e9]]) == [pytest.approx(0.21)]
    assert REFERENCE_MARGIN == 1.1


@pytest.mark.unit
def test_random_keys_round_trip() -> None:
    """Encoding gives the assigned machine the largest key, so decoding returns the assignment."""
    rng = np.random.default_rng(0)
    assignments = rng.integers(0, 5, size=(3, 20))
    keys = encode_keys(assignments, 5, rng)
    assert keys.shape == (3, 20, 5) and keys.min() >= 0.0 and keys.max() <= 1.0
    np.testing.assert_array_equal(decode_keys(keys), assignments)


@pytest.mark.unit
@pytest.mark.parametrize("name", MULTI)
def test_front_is_mutually_non_dominated_and_its_rows_are_its_assignments(name: str) -> None:
    problem = powered_problem()
    solver = get_solver(name, **QUICK[name], third_objective="energy")
    front = solver.solve_front(problem, np.random.default_rng(1))
    values = front.objectives.to_numpy()
    assert non_dominated(values).all() and len(np.unique(values, axis=0)) == len(values)
    assert list(front.objectives.columns) == ["makespan_s", "flowtime_s", "energy_j"]
    for row, assignment in zip(values, front.assignments, strict=True):
        objectives = evaluate(problem, assignment)
        np.testing.assert_allclose(row, [objectives["makespan_s"], objectives["flowtime_s"], objectives["energy_j"]])


@pytest.mark.unit
def test_mopso_archive_never_exceeds_its_size() -> None:
    front = MOPSO(n_particles=12, max_iterations=8, archive_size=3, seed_heuristics=False).solve_front(
        powered_problem(), np.random.default_rng(2))
    assert 1 <= len(front.objectives) <= 3


@pytest.mark.unit
def test_mopso_draws_only_from_the_callers_generator() -> None:
    """Neither Python's nor numpy's global random state moves, and the same seed gives the same front."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    fronts = [MOPSO(**QUICK["mopso"]).solve_front(powered_problem(), np.random.default_rng(7)) for _ in range(2)]
    assert random.getstate() == python_state
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state, strict=True))
    pd.testing.assert_frame_equal(fronts[0].objectives, fronts[1].objectives)


class CountingMixin:
    """Counts the candidate assignments a solver evaluates."""

    evaluated = 0

    def objectives(self, problem: MappingProblem, population: Any) -> Any:
        type(self).evaluated += len(population)
        return super().objectives(problem, population)  # type: ignore[misc]


@pytest.mark.unit
@pytest.mark.parametrize("name", MULTI)
@pytest.mark.parametrize("budget", [1, 5, 29])
def test_evaluation_budget_is_honoured_exactly(name: str, budget: int) -> None:
    """Reference: Search.max_evaluations (stop when that many candidate assignments have been evaluated)."""
    counting = type("Counting", (CountingMixin, type(get_solver(name))), {})
    unlimited = {"nsga2": {"max_generations": None}, "mopso": {"max_iterations": None}}[name]
    solver = counting(**{**QUICK[name], **unlimited})
    front = solver.solve_front(powered_problem(), np.random.default_rng(0), max_evaluations=budget)
    assert counting.evaluated == budget == front.evaluations


@pytest.mark.unit
@pytest.mark.parametrize("name", MULTI)
def test_warm_start_is_the_first_point_evaluated(name: str) -> None:
    """Reference: Search.initial (included among the starting points): with a budget of one evaluation the
    front is the warm start itself, even where a heuristic seed would dominate it."""
    problem = powered_problem()
    initial = np.zeros(problem.n_tasks, dtype=np.intp)  # everything on the slowest machine
    front = get_solver(name, **QUICK[name]).solve_front(problem, np.random.default_rng(0), max_evaluations=1,
                                                        initial=initial)
    np.testing.assert_array_equal(front.assignments, [initial])


@pytest.mark.unit
@pytest.mark.parametrize("name", MULTI)
def test_weights_favouring_energy_pick_a_lower_energy_point_than_weights_favouring_makespan(name: str) -> None:
    """The same seed gives the same front; the pick rule alone moves the chosen point along it."""
    problem = powered_problem()

    def chosen(weights: dict[str, float]) -> dict[str, float]:
        solver = get_solver(name, **QUICK[name], third_objective="energy", pick_rule="weights", pick_weights=weights)
        return solver.solve(problem, np.random.default_rng(4)).objectives

    energy_first = chosen({"energy": 1.0, "makespan": 0.05})
    makespan_first = chosen({"makespan": 1.0, "energy": 0.05})
    assert energy_first["energy_j"] < makespan_first["energy_j"]
    assert energy_first["makespan_s"] > makespan_first["makespan_s"]


@pytest.mark.unit
@pytest.mark.parametrize("name", MULTI)
def test_pick_parameters_reach_the_batch_policy_and_are_checked(name: str) -> None:
    """The batch policy named like the solver takes pick_rule and pick_weights (a table) and rejects bad ones
    before any simulation."""
    params = {"pick_rule": "weights", "pick_weights": {"energy": 2.0, "makespan": 1.0}, "third_objective": "energy"}
    assert check_policy_params(name, params) == []
    assert make_policy(name, params).get_params()["pick_weights"] == {"energy": 2.0, "makespan": 1.0}
    problems = check_policy_params(name, {"pick_rule": "weights"})
    assert any("needs pick_weights" in problem for problem in problems)
    problems = check_policy_params(name, {"pick_rule": "weights", "pick_weights": {"energy": 1.0}})
    assert any("unknown objective(s) ['energy']" in problem for problem in problems)
    problems = check_policy_params(name, {"pick_rule": "weights", "pick_weights": {"makespan": -1.0}})
    assert any("non-negative" in problem for problem in problems)
    with pytest.raises(ParameterError, match="pick_rule must be 'knee' or 'weights'"):
        get_solver(name, pick_rule="nadir")


@pytest.mark.unit
def test_map_pareto_writes_the_front_and_reports_its_hypervolume(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "front.csv"
    status = main(["map", str(BRAUN), "--algorithm", "mopso", "--param", "max_iterations=3", "--param",
                   "n_particles=8", "--pareto", str(out), "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    report = json.loads(captured.out)
    with out.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    written = np.array([[float(row[column]) for column in ("makespan_s", "flowtime_s", "load_variance_s2")]
                        for row in rows])
    assert non_dominated(written).all()
    np.testing.assert_allclose(pd.DataFrame(report["front"]).to_numpy(), written)
    assert report["hypervolume"] == pytest.approx(hypervolumes([written])[0])
    assert set(report["reference_point"]) == {"makespan_s", "flowtime_s", "load_variance_s2"}
    assert min(written[:, 0]) <= report["makespan_s"]

    status = main(["map", str(BRAUN), "--algorithm", "nsga2", "--param", "max_generations=2", "--pareto", str(out)])
    text = capsys.readouterr().out
    assert status == 0 and "hypervolume" in text and "reference point 1.1 each" in text


@pytest.mark.unit
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--algorithm", "min_min", "--pareto", "front.csv"], "--pareto needs a multi-objective solver (mopso, nsga2)"),
        (["--algorithm", "nsga2", "--param", "pick_weights={makespan: 1}"], "--param pick_weights: "),
        (["--algorithm", "nsga2", "--param", "pick_rule=weights"], "needs pick_weights"),
    ],
)
def test_map_multiobjective_user_errors_exit_2(argv: list[str], message: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["map", str(BRAUN), *[str(tmp_path / arg) if arg.endswith(".csv") else arg for arg in argv]])
    captured = capsys.readouterr()
    assert status == 2 and message in captured.err and "Traceback" not in captured.err


@pytest.mark.slow
def test_experiment_script_writes_hypervolume_intervals_and_the_figure(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("multiobjective_braun", ROOT / "experiments" /
                                                  "multiobjective_braun.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--time-limit", "0.2", "--out", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 4 and set(summary["algorithm"]) == set(MULTI)
    assert (summary["hypervolume_ci_low"] <= summary["hypervolume_mean"]).all()
    assert (summary["hypervolume_mean"] <= summary["hypervolume_ci_high"]).all()
    assert (summary["hypervolume_mean"] <= REFERENCE_MARGIN**3).all() and (summary["hypervolume_mean"] > 0).all()
    assert (tmp_path / "fronts.png").stat().st_size > 0 and "t-interval" in (tmp_path / "summary.md").read_text()


def test_pick_by_huge_weights_chooses_as_by_their_ratio():
    """Weights of 1e308 each (finite, accepted) would overflow a weighted sum to inf on every row and make the
    choice the first row; scaled by the largest weight they choose what weights 1 and 1 choose."""
    front = pd.DataFrame({"makespan_s": [1.0, 0.0, 1.0], "flowtime_s": [0.0, 1.0, 1.0],
                          "load_variance_s2": [1.0, 0.9, 0.0]})  # weighted sums 2, 1.9, 2: row 1
    huge = {"makespan": 1e308, "flowtime": 1e308, "load_variance": 1e308}
    assert pick(front, "weights", huge) == pick(front, "weights", {name: 1.0 for name in huge}) == 1
