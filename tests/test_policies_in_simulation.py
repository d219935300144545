"""Every registered policy in the simulator: runs the demo end to end in each mode it supports; batch mode with
the static solvers maps pending tasks as their definitions say; least_loaded beats random under load."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SCENARIOS
from test_policies_baselines import QUICK_PARAMS, FakeTask, FakeView, quick_params

from simulator import load_scenario, run
from simulator.policies import POLICIES, make_policy

DEMO = SCENARIOS / "demo_edge_cloud.toml"

@pytest.mark.examples
@pytest.mark.parametrize("name, mode", [(name, mode) for name in sorted(POLICIES) for mode in POLICIES[name].modes])
def test_every_policy_runs_the_demo_end_to_end(name, mode, request):
    overrides = ["simulation.max_jobs=120", "simulation.warmup_s=0", f"policy.mode=\"{mode}\"",
                 "policy.batch_interval_s=0.5"]
    scenario = load_scenario(DEMO, overrides)
    result = run(scenario, policy=name, params=quick_params(name, request, agent="demo"), seed=2)
    assert result.summary["jobs_completed"] == 120 - result.summary["jobs_unfinished"] > 100
    tasks = result.tasks
    assert (tasks["state"] == "finished").all()
    if mode == "batch":
        assert np.allclose(tasks["dispatch_s"] / 0.5, np.round(tasks["dispatch_s"] / 0.5))


@pytest.mark.unit
def test_min_min_batch_policy_maps_like_its_definition():
    """Two tasks, two single-slot nodes, both idle. Execution times: task 0 (1 s, 3 s), task 1 (2 s, 4 s).
    Min-min: the smallest minimum completion time first: task 0 -> node 0 (1 s); then task 1: node 0 would
    finish at 1 + 2 = 3 s, node 1 at 4 s -> node 0."""

    class TwoTaskView(FakeView):
        def exec_estimate_s(self, task, node: int) -> float:
            return [[1.0, 3.0], [2.0, 4.0]][task.job_id][node]

    view = TwoTaskView(loads=[0, 0], slot_counts=[1, 1], ready_s=[0, 0], exec_s=[0, 0], transfer_s=[0, 0])
    policy = make_policy("min_min")
    policy.bind(view, np.random.default_rng(0))
    assert policy.assign_batch([FakeTask(job_id=0), FakeTask(job_id=1)]) == [0, 0]
    max_min = make_policy("max_min")
    max_min.bind(view, np.random.default_rng(0))
    # Max-min: the largest minimum first: task 1 -> node 0 (2 s); task 0: node 0 at 3 s, node 1 at 3 s -> node 0
    assert max_min.assign_batch([FakeTask(job_id=0), FakeTask(job_id=1)]) == [0, 0]


@pytest.mark.unit
def test_batch_policy_never_uses_an_ineligible_node():
    view = FakeView(loads=[0, 0, 0], slot_counts=[1, 2, 1], ready_s=[0, 0, 0], exec_s=[1, 5, 0.1],
                    transfer_s=[0, 0, 0], eligible=[0, 1])
    for name in ("min_min", "sufferage", "ga", "pso"):
        policy = make_policy(name, QUICK_PARAMS.get(name, {}))
        policy.bind(view, np.random.default_rng(1))
        assert set(policy.assign_batch([FakeTask(job_id=i) for i in range(6)])) <= {0, 1}


@pytest.mark.validation
def test_least_loaded_beats_random_under_load():
    """Join-the-shortest-queue keeps queues short where random placement lets them grow (Winston 1977)."""
    scenario = load_scenario(DEMO, ["simulation.max_jobs=1500"])
    random_rt = np.mean([run(scenario, policy="random", seed=s).summary["response_time_mean_s"] for s in (1, 2)])
    jsq_rt = np.mean([run(scenario, policy="least_loaded", seed=s).summary["response_time_mean_s"] for s in (1, 2)])
    assert jsq_rt < 0.95 * random_rt


@pytest.mark.unit
@pytest.mark.parametrize("name", ["ga", "nsga2", "pso", "min_min"])
def test_solvers_cope_when_the_makespan_is_a_ready_time(name):
    """In batch mode a busy node can be the makespan machine with no new task on it: the local search of the
    GA and NSGA-II must then stop rather than fail (a regression found through the simulator)."""
    from simulator.mapping import MappingProblem
    from simulator.solvers import get_solver

    problem = MappingProblem(etc_s=np.array([[1.0, 1.0], [2.0, 1.0]]), ready_time_s=np.array([5.0, 0.0]))
    params = {"pso": {"max_iterations": 5}, "min_min": {}}.get(name, {"max_generations": 3})
    result = get_solver(name, **params).solve(problem, np.random.default_rng(0))
    assert result.assignment.tolist() == [1, 1]
