"""Decision points (`simulator.stepping`): a run whose placements are answered from outside, one at a time."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from simulator.config import load_scenario, parse_scenario
from simulator.errors import UserInputError
from simulator.policies import make_policy
from simulator.simulation import run
from simulator.stepping import DecisionStepper

TWO_NODES = """
[simulation]
max_jobs = 4
seed = 1

[nodes.a]
kind = "cpu"
[nodes.b]
kind = "cpu"

[models.m.devices.cpu]
mean_s = 1.0
distribution = "deterministic"

[applications.app.stages.only]
model = "m"

[arrivals.users]
application = "app"
process = "deterministic"
rate_per_s = 2.0
"""

FORK = """
[simulation]
max_jobs = 1
seed = 1

[nodes.a]
kind = "cpu"
[nodes.b]
kind = "cpu"

[models.m.devices.cpu]
mean_s = 1.0
distribution = "deterministic"

[network]
switches = ["sw"]
[network.links.la]
endpoints = ["a", "sw"]
latency_s = 0.01
bandwidth_bytes_per_s = 1e7
[network.links.lb]
endpoints = ["b", "sw"]
latency_s = 0.01
bandwidth_bytes_per_s = 1e7

[applications.app.stages.left]
model = "m"
[applications.app.stages.right]
model = "m"

[arrivals.users]
application = "app"
process = "deterministic"
rate_per_s = 1.0
"""


def _scenario(text: str, **simulation: object):
    raw = tomllib.loads(text)
    raw["simulation"].update(simulation)
    return parse_scenario(raw)


EXACT_CASES = [
    ("demo_edge_cloud.toml", {"simulation.max_jobs": 300}),
    ("failures_edge.toml", {"simulation.horizon_s": 150.0}),
]


@pytest.mark.parametrize(("path", "overrides"), EXACT_CASES)
@pytest.mark.parametrize("policy", ["random", "round_robin", "least_loaded", "min_completion_time", "heft"])
def test_stepped_run_answered_by_a_policy_is_the_policys_own_run(path, overrides, policy):
    """The same policy answering every decision of a stepped run gives the task and job tables of
    `simulator.simulation.run` with the same seed, exactly (the demo's parallel audio and video branches release
    several tasks per event; the failures scenario re-places tasks after failures)."""
    scenario = load_scenario(f"scenarios/{path}", overrides)
    expected = run(scenario, policy, seed=7)
    stepper = DecisionStepper(scenario, seed=7)
    stepped = stepper.run_policy(policy)
    pd.testing.assert_frame_equal(stepped.tasks, expected.tasks)
    pd.testing.assert_frame_equal(stepped.jobs, expected.jobs)
    assert stepper.n_decisions > 0
    assert stepper.next_decision() is None


def test_a_controller_that_always_picks_node_zero_gives_the_times_computed_by_hand():
    """Jobs arrive at 0.5, 1.0, 1.5, 2.0 s, each a 1 s task, all on node a (one slot): they start at 0.5, 1.5,
    2.5, 3.5 s and finish one second later; node b never works."""
    stepper = DecisionStepper(_scenario(TWO_NODES))
    times = []
    while (decision := stepper.next_decision()) is not None:
        assert decision.available_nodes == (0, 1)
        times.append(decision.time_s)
        stepper.decide(0)
    result = stepper.result()
    assert times == [0.5, 1.0, 1.5, 2.0]
    assert stepper.n_decisions == 4
    tasks = result.tasks.sort_values("job_id")
    assert list(tasks["node"].astype(str)) == ["a"] * 4
    assert list(tasks["start_s"]) == [0.5, 1.5, 2.5, 3.5]
    assert list(tasks["finish_s"]) == [1.5, 2.5, 3.5, 4.5]
    assert list(result.jobs.sort_values("job_id")["response_s"]) == [1.0, 1.5, 2.0, 2.5]


def test_decide_refuses_a_node_that_is_not_available_and_the_run_goes_on_unharmed():
    """A refused answer leaves the decision pending and the run untouched; the valid answer then placed
    gives the same run as answering it right away."""
    stepper = DecisionStepper(_scenario(TWO_NODES))
    first = stepper.next_decision()
    assert first is not None
    for bad in (2, -1, True, "0"):
        with pytest.raises(ValueError, match=r"not available.*available nodes: \[0, 1\]"):
            stepper.decide(bad)  # type: ignore[arg-type]
    assert stepper.next_decision() is first
    assert stepper.n_decisions == 0
    while stepper.next_decision() is not None:
        stepper.decide(0)
    assert list(stepper.result().tasks["finish_s"]) == [1.5, 2.5, 3.5, 4.5]


def test_decide_without_a_pending_decision_is_an_error():
    stepper = DecisionStepper(_scenario(TWO_NODES))
    with pytest.raises(RuntimeError, match="no decision is pending"):
        stepper.decide(0)


def test_decisions_at_the_same_instant_see_each_other():
    """An arrival releases both entry stages of a fork: two decisions at the same time, the second seeing the
    first one's task on its node (as a policy in immediate mode would)."""
    stepper = DecisionStepper(_scenario(FORK))
    first = stepper.next_decision()
    assert first is not None and first.view.load(0) == 0
    stepper.decide(0)
    second = stepper.next_decision()
    assert second is not None
    assert second.time_s == first.time_s == 1.0
    assert second.task.stage_name != first.task.stage_name
    assert second.view.load(0) == 1 and second.view.load(1) == 0
    stepper.decide(1)
    assert stepper.next_decision() is None
    assert list(stepper.result().tasks["finish_s"]) == [2.0, 2.0]


def test_after_the_end_next_decision_returns_none():
    stepper = DecisionStepper(_scenario(TWO_NODES))
    result = stepper.run_policy("round_robin")
    assert stepper.next_decision() is None
    assert stepper.next_decision() is None
    assert len(result.jobs) == 4
    pd.testing.assert_frame_equal(stepper.result().tasks, result.tasks)


def test_result_with_a_pending_decision_is_an_error():
    stepper = DecisionStepper(_scenario(TWO_NODES))
    assert stepper.next_decision() is not None
    with pytest.raises(RuntimeError, match=r"a decision is pending at t=0.5 s"):
        stepper.result()
    stepper.close()


def test_result_before_any_decision_runs_to_the_first_one_and_refuses():
    stepper = DecisionStepper(_scenario(TWO_NODES))
    with pytest.raises(RuntimeError, match="a decision is pending"):
        stepper.result()
    assert stepper.next_decision() is not None


def test_batch_mode_is_refused():
    scenario = parse_scenario({**tomllib.loads(TWO_NODES), "policy": {"name": "olb", "mode": "batch"}})
    with pytest.raises(UserInputError, match="decision points are for immediate mode"):
        DecisionStepper(scenario)


def test_run_policy_refuses_a_batch_only_policy():
    with pytest.raises(UserInputError, match="does not support immediate mode"):
        DecisionStepper(_scenario(TWO_NODES)).run_policy(make_policy("ga"))


def test_a_closed_stepper_ends_its_run_thread():
    stepper = DecisionStepper(_scenario(TWO_NODES))
    assert stepper.next_decision() is not None
    thread = stepper._thread
    assert thread.is_alive()
    stepper.close()
    assert not thread.is_alive()


def test_an_error_in_the_run_reaches_the_controller():
    """An exception raised inside the run (here: by the placement the answer triggers) is raised by `decide` in
    the caller's thread, not lost in the run's."""
    stepper = DecisionStepper(_scenario(TWO_NODES))
    assert stepper.next_decision() is not None

    def broken_assign(task, node_index, now):
        raise ZeroDivisionError("placement bug")

    stepper._simulation.dispatcher._assign = broken_assign  # type: ignore[method-assign]
    stepper.decide(0)  # the placement being asked for was under way: it ends with the method it started with
    with pytest.raises(ZeroDivisionError, match="placement bug"):
        stepper.decide(0)
    assert not stepper._thread.is_alive()


def test_a_decision_in_a_dynamic_run_never_offers_a_down_node():
    """failures_edge takes edge-1 down from 600 s to 720 s (a scripted outage) and its edge servers also fail at
    random: every decision offers only nodes that are up, and none in the outage window offers edge-1."""
    scenario = load_scenario("scenarios/failures_edge.toml", {"simulation.horizon_s": 660.0})
    stepper = DecisionStepper(scenario, seed=2)
    policy = make_policy("least_loaded")
    policy.bind(stepper.view, np.random.default_rng(5))
    edge_1 = scenario.node_names.index("edge-1")
    in_outage = 0
    with_a_node_down = 0
    while (decision := stepper.next_decision()) is not None:
        view = decision.view
        assert decision.available_nodes
        assert all(view.is_up(node) for node in decision.available_nodes)
        with_a_node_down += not all(view.is_up(node) for node in range(view.n_nodes))
        if 600.0 <= decision.time_s < 720.0:
            in_outage += 1
            assert edge_1 not in decision.available_nodes
        stepper.decide(policy.assign(decision.task))
    assert in_outage > 100
    assert with_a_node_down >= in_outage
    assert stepper.result().summary["jobs_completed"] > 0


def test_run_policy_defaults_to_the_scenarios_policy_and_parameters():
    """With no policy named, the scenario's own (here least_loaded with its tie_break) answers, as `run` uses it."""
    scenario = load_scenario("scenarios/failures_edge.toml", {"simulation.horizon_s": 60.0})
    assert scenario.policy.name == "least_loaded"
    expected = run(scenario)
    stepped = DecisionStepper(scenario).run_policy()
    assert stepped.policy == "controller"
    pd.testing.assert_frame_equal(stepped.tasks, expected.tasks)
    pd.testing.assert_frame_equal(stepped.jobs, expected.jobs)


def test_the_readme_stepping_example_runs_and_is_olb(monkeypatch):
    """The README's stepping snippet runs as written (STYLE.md: every README snippet runs); its rule, the node
    expected to be ready first with ties to the lowest index, is the OLB policy, so the stepped run equals
    `run(..., "olb")` bit for bit."""
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("### Stepping a run decision by decision", 1)[1].split("```python\n", 1)[1]
    snippet = snippet.split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    expected = run(load_scenario(ROOT / "scenarios" / "demo_edge_cloud.toml"), "olb", seed=1)
    pd.testing.assert_frame_equal(namespace["result"].tasks, expected.tasks)
    pd.testing.assert_frame_equal(namespace["result"].jobs, expected.jobs)
