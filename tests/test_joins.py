"""Asynchronous joins (`simulator.joins`): release after k predecessors, late inputs, jobs that complete while late
predecessors still run, refusals of bad joins, and the fork-join validation against order statistics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import ScenarioError, parse_scenario, run
from simulator.cli import main
from simulator.config.json_schema import scenario_json_schema
from simulator.dispatch import Dispatcher
from simulator.joins import JoinDispatcher
from simulator.policies import make_policy
from simulator.recorder import JOB_ROW
from simulator.simulation import Simulation
from simulator.stepping import DecisionStepper


def scenario_dict(times: dict[str, float], after: dict[str, list[str]], joins: dict[str, Any],
                  jobs: int = 1, gap_s: float = 100.0, horizon_s: float | None = None,
                  distribution: str = "deterministic") -> dict[str, Any]:
    """One application whose stage NAME runs on its own node ``NAME`` for ``times[NAME]`` seconds (one model per
    stage), nodes joined by a zero-latency star, outputs of 0 bytes; ``jobs`` arrivals ``gap_s`` apart."""
    nodes = {name: {"kind": f"k_{name}"} for name in times}
    models = {f"m_{name}": {"distribution": distribution, "devices": {f"k_{name}": mean}}
              for name, mean in times.items()}
    stages: dict[str, Any] = {}
    for name in times:
        stage: dict[str, Any] = {"model": f"m_{name}", "after": after.get(name, [])}
        if name in joins:
            stage["join"] = joins[name]
        stages[name] = stage
    links = {f"{name}-hub": {"endpoints": [name, "hub"], "latency_s": 0.0, "bandwidth_bytes_per_s": 1e9}
             for name in times}
    simulation: dict[str, Any] = {"max_jobs": jobs, "seed": 7}
    if horizon_s is not None:
        simulation["horizon_s"] = horizon_s
    return {"simulation": simulation, "nodes": nodes, "models": models,
            "network": {"switches": ["hub"], "links": links},
            "applications": {"app": {"stages": stages}},
            "arrivals": {"users": {"application": "app", "process": "deterministic", "rate_per_s": 1 / gap_s}}}


# -- hand-computed deterministic cases ------------------------------------------------------------------------

def test_any_join_starts_after_the_first_predecessor_and_counts_the_other_as_late():
    """x (1 s) and y (3 s) feed z (1 s) with join "any": z runs 1..2 s after arrival, the job completes at 2 s
    while y still runs; y finishes at 3 s, normally, and is one late input."""
    scenario = parse_scenario(scenario_dict({"x": 1.0, "y": 3.0, "z": 1.0}, {"z": ["x", "y"]}, {"z": "any"},
                                            jobs=2, gap_s=10.0))
    result = run(scenario, "round_robin")
    tasks = result.tasks.set_index(["job_id", "stage"])
    first_arrival = result.jobs["arrival_s"][0]
    assert tasks.loc[(0, "z"), "dispatch_s"] == first_arrival + 1.0
    assert tasks.loc[(0, "z"), "start_s"] == first_arrival + 1.0
    assert tasks.loc[(0, "y"), "finish_s"] == first_arrival + 3.0
    assert (result.tasks["state"] == "finished").all() and len(result.tasks) == 6
    assert list(result.jobs["response_s"]) == [2.0, 2.0]
    assert list(result.jobs["late_inputs"]) == [1, 1]
    assert result.summary["late_inputs"] == 2


def test_k_of_n_waits_for_the_kth_predecessor_and_a_late_branch_still_runs_after_completion():
    """a 1 s, b 2 s, c 4 s then d 1 s (so the c-d branch ends at 5 s) feed j (0.5 s) with join = 2: j starts at
    2 s (a and b), the job completes at 2.5 s; c and d still run; d's output is the one late input of j (c is a
    predecessor of d only, not late)."""
    scenario = parse_scenario(scenario_dict({"a": 1.0, "b": 2.0, "c": 4.0, "d": 1.0, "j": 0.5},
                                            {"d": ["c"], "j": ["a", "b", "d"]}, {"j": 2}))
    result = run(scenario, "round_robin")
    arrival = result.jobs["arrival_s"][0]
    tasks = result.tasks.set_index("stage")
    assert tasks.loc["j", "start_s"] - arrival == 2.0
    assert result.jobs["response_s"][0] == 2.5
    assert tasks.loc["d", "dispatch_s"] - arrival == 4.0 and tasks.loc["d", "finish_s"] - arrival == 5.0
    assert (tasks["state"] == "finished").all() and len(tasks) == 5
    assert result.jobs["late_inputs"][0] == 1


def test_a_late_predecessor_still_running_at_the_horizon_is_recorded_as_running_in_a_finished_job():
    scenario = parse_scenario(scenario_dict({"x": 1.0, "y": 30.0, "z": 1.0}, {"z": ["x", "y"]}, {"z": "any"},
                                            gap_s=1.0, horizon_s=10.0))
    result = run(scenario, "round_robin")
    states = dict(zip(result.tasks["stage"], result.tasks["state"], strict=True))
    assert states == {"x": "finished", "y": "running", "z": "finished"}
    assert list(result.jobs["state"]) == ["finished"] and result.jobs["late_inputs"][0] == 0


def test_join_all_is_the_plain_dispatcher_and_the_same_run():
    """Writing join = "all" changes nothing: the plain dispatcher class and identical tables and summary."""
    base = scenario_dict({"x": 1.0, "y": 3.0, "z": 1.0}, {"z": ["x", "y"]}, {}, jobs=20, gap_s=1.0,
                         distribution="exponential")
    explicit = scenario_dict({"x": 1.0, "y": 3.0, "z": 1.0}, {"z": ["x", "y"]}, {"z": "all"}, jobs=20, gap_s=1.0,
                             distribution="exponential")
    simulations = [Simulation(parse_scenario(raw), make_policy("least_loaded"), 3) for raw in (base, explicit)]
    assert all(type(simulation.dispatcher) is Dispatcher for simulation in simulations)
    first, second = (simulation.run() for simulation in simulations)
    pd.testing.assert_frame_equal(first.tasks, second.tasks)
    pd.testing.assert_frame_equal(first.jobs, second.jobs)
    assert "late_inputs" not in first.jobs and "late_inputs" not in first.summary


def test_batch_mode_and_clairvoyance_mix_with_joins():
    raw = scenario_dict({"x": 1.0, "y": 3.0, "z": 1.0}, {"z": ["x", "y"]}, {"z": "any"}, jobs=5, gap_s=2.0,
                        distribution="exponential")
    raw["policy"] = {"name": "min_completion_time", "mode": "batch", "batch_interval_s": 0.5, "clairvoyant": True}
    simulation = Simulation(parse_scenario(raw), make_policy("min_completion_time"), 1)
    assert isinstance(simulation.dispatcher, JoinDispatcher)
    result = simulation.run()
    assert (result.jobs["state"] == "finished").all() and len(result.tasks) == 15
    assert result.jobs["late_inputs"].sum() == 5


def test_a_stepped_run_with_joins_gives_the_plain_runs_tables():
    """Decision points see join runs as any other: stepping the same policy reproduces the run exactly."""
    raw = scenario_dict({"x": 1.0, "y": 3.0, "z": 1.0}, {"z": ["x", "y"]}, {"z": "any"}, jobs=15, gap_s=1.0,
                        horizon_s=12.0, distribution="exponential")
    raw["models"]["m_z"]["devices"]["k_x"] = 1.0  # z may run on x or z: a decision per job
    scenario = parse_scenario(raw)
    expected = run(scenario, "least_loaded", seed=4)
    stepper = DecisionStepper(scenario, seed=4)
    stepped = stepper.run_policy("least_loaded")
    assert stepper.n_decisions > 0
    pd.testing.assert_frame_equal(stepped.tasks, expected.tasks)
    pd.testing.assert_frame_equal(stepped.jobs, expected.jobs)
    assert stepped.summary["late_inputs"] == expected.summary["late_inputs"] > 0


# -- refusals -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("join", "message"), [
    (3, 'applications.app.stages.z.join is 3, but the stage has only 2 predecessors (`after`); it must be "all", '
        '"any" or an integer in [1, 2]'),
    (0, 'applications.app.stages.z.join must be "all", "any" or an integer >= 1'),
    ("some", 'applications.app.stages.z.join must be "all", "any" or an integer >= 1'),
    (True, 'applications.app.stages.z.join must be "all", "any" or an integer >= 1'),
    (1.5, 'applications.app.stages.z.join must be "all", "any" or an integer >= 1'),
])
def test_a_bad_join_is_refused_naming_file_and_field(join: Any, message: str):
    raw = scenario_dict({"x": 1.0, "y": 3.0, "z": 1.0}, {"z": ["x", "y"]}, {"z": join})
    with pytest.raises(ScenarioError) as error:
        parse_scenario(raw, source="s.toml")
    assert any(problem.startswith(f"s.toml: {message}") for problem in error.value.problems), error.value.problems


def test_a_join_on_a_stage_without_predecessors_is_refused():
    raw = scenario_dict({"x": 1.0, "z": 1.0}, {"z": ["x"]}, {"x": "any"})
    with pytest.raises(ScenarioError) as error:
        parse_scenario(raw, source="s.toml")
    assert error.value.problems == [
        "s.toml: applications.app.stages.x.join is 'any', but the stage has no predecessors (`after`) to wait for; "
        "remove `join` or give the stage predecessors"]


def test_cli_refuses_a_bad_join_with_status_2_and_validate_names_the_joins(tmp_path, capsys):
    path = tmp_path / "joins.toml"
    path.write_text(TOML.replace('join = "any"', "join = 5"), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    assert f"{path}: applications.app.stages.z.join is 5, but the stage has only 2" in capsys.readouterr().err
    path.write_text(TOML, encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    assert "; asynchronous joins: app.z (any of 2)" in capsys.readouterr().out


def test_json_schema_describes_join():
    stage = scenario_json_schema()["$defs"]["StageTable"]["properties"]["join"]
    assert stage["anyOf"] == [{"enum": ["all", "any"]}, {"type": "integer", "minimum": 1}]


TOML = """
[simulation]
max_jobs = 3
[nodes.a]
kind = "cpu"
[models.m.devices.cpu]
mean_s = 1.0
[applications.app.stages.x]
model = "m"
[applications.app.stages.y]
model = "m"
[applications.app.stages.z]
model = "m"
after = ["x", "y"]
join = "any"
[arrivals.users]
application = "app"
rate_per_s = 0.5
"""


# -- validation against order statistics -----------------------------------------------------------------------

@pytest.mark.validation
@pytest.mark.parametrize(("join", "k"), [("all", 4), ("any", 1), (2, 2), (3, 3)])
def test_fork_join_of_exponentials_matches_the_order_statistics_of_the_exponential(join: Any, k: int):
    """n = 4 parallel exponential stages (rate mu = 2), each on a dedicated node, arrivals 1000 s apart (no
    queueing), feeding a deterministic 1 s join stage: the parallel part's mean response time is the mean of the
    k-th smallest of n exponentials, sum_{i=n-k+1}^{n} 1/(i mu) (Renyi's representation of exponential order
    statistics; David and Nagaraja, Order Statistics, 3rd ed. 2003, section 2.5): H_n / mu for "all", 1/(n mu)
    for "any". Checked with a 99.9% confidence interval over 4000 jobs."""
    n, mu, jobs = 4, 2.0, 4000
    times = {f"p{i}": 1 / mu for i in range(n)} | {"j": 1.0}
    raw = scenario_dict(times, {"j": [f"p{i}" for i in range(n)]}, {"j": join}, jobs=jobs, gap_s=1000.0,
                        distribution="exponential")
    raw["models"]["m_j"]["distribution"] = "deterministic"
    result = run(parse_scenario(raw), "round_robin")
    parallel = result.jobs["response_s"].to_numpy() - 1.0
    expected = sum(1 / (i * mu) for i in range(n - k + 1, n + 1))
    half_width = 3.2905 * parallel.std(ddof=1) / math.sqrt(jobs)
    assert abs(parallel.mean() - expected) <= half_width, (parallel.mean(), expected, half_width)
    assert result.jobs["late_inputs"].sum() == jobs * (n - k) if join != "all" else "late_inputs" not in result.jobs


# -- property ----------------------------------------------------------------------------------------------------

@st.composite
def join_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A random DAG of 2-6 stages, each on its own node, with random joins and exponential or deterministic times."""
    n = draw(st.integers(2, 6))
    names = [f"s{i}" for i in range(n)]
    after: dict[str, list[str]] = {}
    joins: dict[str, Any] = {}
    for index, name in enumerate(names[1:], start=1):
        predecessors = draw(st.lists(st.sampled_from(names[:index]), unique=True, max_size=index))
        if predecessors:
            after[name] = predecessors
            joins[name] = draw(st.sampled_from(["all", "any", *range(1, len(predecessors) + 1)]))
    times = {name: draw(st.floats(0.05, 2.0)) for name in names}
    return scenario_dict(times, after, joins, jobs=draw(st.integers(1, 12)), gap_s=draw(st.floats(0.1, 3.0)),
                         horizon_s=draw(st.sampled_from([None, 8.0])),
                         distribution=draw(st.sampled_from(["exponential", "deterministic"])))


@pytest.mark.property
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(join_scenarios())
def test_every_job_ends_once_and_no_task_starts_before_its_kth_predecessor(raw: dict[str, Any]):
    """Each job has exactly one row; each (job, stage) at most one task row; a stage waiting for k predecessors
    starts no earlier than the k-th of them finished; a finished job completes no earlier than its exit stages,
    hence no earlier than its k-th fastest predecessor path; without a horizon every task finishes."""
    scenario = parse_scenario(raw)
    simulation = Simulation(scenario, make_policy("least_loaded"), 5)
    result = simulation.run()
    jobs, tasks = result.jobs, result.tasks
    job_ids = np.frombuffer(simulation.recorder.job_rows, dtype=JOB_ROW)["job_id"]  # before the table's scatter
    assert sorted(job_ids) == list(range(simulation.dispatcher.jobs_created))
    assert not tasks.duplicated(["job_id", "stage"]).any()
    stages = {stage.name: stage for stage in scenario.applications["app"].stages}
    finish = {(row.job_id, row.stage): math.inf if math.isnan(row.finish_s) else row.finish_s
              for row in tasks.itertuples()}
    start = {(row.job_id, row.stage): row.start_s for row in tasks.itertuples()}
    for (job_id, name), started in start.items():
        stage = stages[name]
        if not stage.after or math.isnan(started):
            continue
        done = sorted(finish.get((job_id, p), math.inf) for p in stage.after)
        assert started >= done[stage.join_count - 1] - 1e-9
    for job in jobs.itertuples():
        if job.state == "finished":
            exits = [finish[(job.job_id, name)] for name, stage in stages.items()
                     if not any(name in other.after for other in stages.values())]
            assert job.finish_s >= max(exits) - 1e-9
    if raw["simulation"].get("horizon_s") is None:
        assert len(jobs) == raw["simulation"]["max_jobs"] and (jobs["state"] == "finished").all()
        assert len(tasks) == len(jobs) * len(stages) and (tasks["state"] == "finished").all()
    assert np.isfinite(jobs.loc[jobs["state"] == "finished", "response_s"]).all()
