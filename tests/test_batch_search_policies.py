"""The metaheuristics as batch policies (`simulator.policies.batch.SearchPolicy`): the evaluation budget per batch
bounds the work, the warm start keeps every batch's answer at least as good as Min-min's, and the previous
batch's answer carries over by stage."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SCENARIOS
from test_policies_baselines import QUICK_PARAMS, FakeTask, FakeView

import simulator.solvers.ga as ga
from simulator import load_scenario, run
from simulator.mapping import MappingProblem, flowtime, makespan
from simulator.policies import make_policy
from simulator.policies.batch import SearchPolicy
from simulator.solvers import Solver
from simulator.solvers.list_heuristics import min_min

DEMO = SCENARIOS / "demo_edge_cloud.toml"


def small_batch_run(policy: str, params: dict, seed: int = 3) -> None:
    scenario = load_scenario(DEMO, ["simulation.max_jobs=60", "simulation.warmup_s=0", 'policy.mode="batch"',
                                    "policy.batch_interval_s=0.5"])
    result = run(scenario, policy=policy, params=params, seed=seed)
    assert result.summary["jobs_completed"] > 50


@pytest.mark.unit
@pytest.mark.parametrize("evaluations_per_task", [1, 2, 6])
def test_the_budget_bounds_the_evaluations_of_every_batch(monkeypatch, evaluations_per_task):
    """Each batch's GA gets ``max_evaluations = evaluations_per_task x tasks``, and what it evaluates (rows of
    populations scored plus neighbourhood scans of the local search, counted here from outside the solver)
    stays within it."""
    calls: list[dict] = []
    spent = {"evaluations": 0}
    original_solve, original_makespan = Solver.solve, ga.makespan
    original_surrogate, original_critical = ga.surrogate_descent, ga.critical_descent

    def counting_makespan(problem, assignment):
        if np.ndim(assignment) == 2:  # a population scored (the local search's own checks are 1-D)
            spent["evaluations"] += np.shape(assignment)[0]
        return original_makespan(problem, assignment)

    def counting(descent):
        def wrapped(*args):
            steps = descent(*args)
            max_steps = args[-1]
            spent["evaluations"] += steps + (max_steps > 0 and steps < max_steps)  # the last, failed look too
            return steps
        return wrapped

    def spying_solve(self, problem, rng, time_limit_s=None, *, max_evaluations=None, initial=None):
        spent["evaluations"] = 0
        result = original_solve(self, problem, rng, time_limit_s, max_evaluations=max_evaluations, initial=initial)
        calls.append({"tasks": problem.n_tasks, "budget": max_evaluations, "spent": spent["evaluations"],
                      "reported": result.extras["evaluations"]})
        return result

    monkeypatch.setattr(ga, "makespan", counting_makespan)
    monkeypatch.setattr(ga, "surrogate_descent", counting(original_surrogate))
    monkeypatch.setattr(ga, "critical_descent", counting(original_critical))
    monkeypatch.setattr(ga.GeneticAlgorithm, "solve", spying_solve)
    small_batch_run("ga", {"evaluations_per_task": evaluations_per_task})
    assert len(calls) > 10
    for call in calls:
        assert call["budget"] == evaluations_per_task * call["tasks"]
        assert 0 < call["spent"] <= call["budget"]
        assert call["spent"] == call["reported"]
    # the budget is used, not merely respected: larger batches get more work
    assert max(call["spent"] for call in calls) > 2 * min(call["spent"] for call in calls)


@pytest.mark.unit
@pytest.mark.parametrize("name", ["ga", "pso", "nsga2"])
def test_every_batch_answer_is_at_least_as_good_as_min_min(monkeypatch, name):
    """On each batch's own problem the policy's slots have a makespan and a flowtime no larger than Min-min's
    assignment of that batch (its warm start is Min-min's or better, and a worse answer is not taken)."""
    answers: list[tuple[MappingProblem, np.ndarray]] = []
    original = SearchPolicy.map_batch

    def recording(self, problem, tasks, eligible):
        slots = original(self, problem, tasks, eligible)
        answers.append((problem, slots))
        return slots

    monkeypatch.setattr(SearchPolicy, "map_batch", recording)
    small_batch_run(name, {**QUICK_PARAMS.get(name, {}), "evaluations_per_task": 2})
    assert len(answers) > 10
    improved = 0
    for problem, slots in answers:
        reference = min_min(problem)
        assert makespan(problem, slots) <= makespan(problem, reference) * (1 + 1e-12)
        assert flowtime(problem, slots) <= flowtime(problem, reference) * (1 + 1e-12)
        improved += makespan(problem, slots) < makespan(problem, reference)
    if name == "ga":  # the GA's local search of its warm start does improve on Min-min in some batches
        assert improved > 0


@pytest.mark.unit
def test_the_previous_batch_answer_carries_over_by_stage():
    """A batch remembers the slots of each stage; the next batch's tasks of that stage take them in turn, and
    that assignment is the warm start when it is no worse than Min-min's in makespan and flowtime. Tasks 0 and 1
    of stage "a", ETC [[1, 2], [1.5, 10]]: Min-min maps task 0 -> slot 0 (1 s), then task 1 -> slot 0 (2.5 s):
    makespan 2.5 s, flowtime 3.5 s; the carried slots [1, 0] give 2 s and 3.5 s."""
    view = FakeView(loads=[0, 0], slot_counts=[1, 1], ready_s=[0.0, 1.0], exec_s=[1.0, 1.5], transfer_s=[0, 0])
    policy = make_policy("ga", {"evaluations_per_task": 4, "max_generations": 2})
    policy.bind(view, np.random.default_rng(0))
    assert policy.assign_batch([FakeTask(job_id=0, stage_name="a")]) == [0]
    assert policy.previous_slots_ == {("app", "a"): [0]}

    policy.previous_slots_ = {("app", "a"): [1, 0]}
    problem = MappingProblem(etc_s=np.array([[1.0, 2.0], [1.5, 10.0]]), ready_time_s=np.zeros(2))
    tasks = [FakeTask(job_id=1, stage_name="a"), FakeTask(job_id=2, stage_name="a")]
    assert min_min(problem).tolist() == [0, 0] and makespan(problem, np.array([1, 0])) == 2.0
    assert flowtime(problem, np.array([1, 0])) == flowtime(problem, np.array([0, 0])) == 3.5
    assert policy.warm_start(problem, tasks, np.ones((2, 2), dtype=bool)).tolist() == [1, 0]
    # A task that cannot run on its carried slot keeps Min-min's: here that leaves Min-min's assignment.
    assert policy.warm_start(problem, tasks, np.array([[True, False], [True, True]])).tolist() == [0, 0]
    # A stage absent from the previous batch takes Min-min's slot.
    other = [FakeTask(job_id=3, stage_name="b"), FakeTask(job_id=4, stage_name="b")]
    assert policy.warm_start(problem, other, np.ones((2, 2), dtype=bool)).tolist() == [0, 0]


@pytest.mark.unit
def test_search_policies_take_an_evaluation_budget_and_rules_do_not():
    assert make_policy("ga").get_params()["evaluations_per_task"] == 2
    assert make_policy("pso").get_params()["evaluations_per_task"] == 1  # see EVALUATIONS_PER_TASK_BY_SOLVER
    assert make_policy("nsga2").get_params()["evaluations_per_task"] == 1
    assert "evaluations_per_task" not in make_policy("min_min").get_params()
    with pytest.raises(Exception, match="evaluations_per_task"):
        make_policy("pso", {"evaluations_per_task": 0})
