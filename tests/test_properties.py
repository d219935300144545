"""Invariants of the simulator core over random small scenarios (Hypothesis).

Each example builds a scenario as a plain dict (random DAG of 1-5 stages per application, random node groups,
kinds, slots, speeds and queue disciplines, a star network with random latencies, bandwidths, duplex modes
and sharing model, random arrival processes, a random registered policy in immediate or batch mode, and a
horizon that sometimes cuts jobs off), validates it with `parse_scenario`, runs it and checks the tables:

* every job appears exactly once, finished or reported unfinished (only possible with a horizon);
* every task of a job appears at most once, and a finished job has exactly one finished task per stage;
* DAG precedence: a task is dispatched, gets its inputs and starts only after every predecessor finished;
* the times of a task are ordered: arrival <= dispatch <= ready <= start <= finish, each defined exactly
  when its state says it was reached, and nothing happens after the horizon;
* a node never runs more tasks than it has slots (sweep over start and finish events; under processor sharing and
  round robin a task's span is not one slot's, and the node table's utilization <= 1 checks them);
* tasks only run on nodes their stage is eligible for;
* the summary's and node table's counts equal the counts in the task and job tables.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import POLICIES, ScenarioError, parse_scenario, run
from simulator.config import QUEUE_DISCIPLINES, Scenario, eligible_nodes
from simulator.config.network_spec import SHARING_MODELS
from simulator.policies import policy_class
from simulator.simulation import RunResult

pytestmark = pytest.mark.property

KINDS = ("cpu", "gpu", "edge")
DISTRIBUTIONS = ("deterministic", "exponential", "lognormal", "gamma")
PROCESSES = ("poisson", "deterministic", "mmpp", "on_off", "diurnal")
POLICY_NAMES = sorted(name for name in POLICIES if not POLICIES[name].required_params())
"""Every policy usable by name alone (not `drl`, whose agent is trained for one scenario's nodes and stages)."""
SHARED_SLOTS = ("ps", "rr")
"""Disciplines under which a task does not hold one slot from its start to its finish."""

# ----------------------------------------------------------------------------------------------------------
# Strategies

positive_time = st.floats(min_value=0.01, max_value=2.0, allow_nan=False, allow_infinity=False)


@st.composite
def arrival_tables(draw: st.DrawFn, application: str) -> dict[str, Any]:
    process = draw(st.sampled_from(PROCESSES))
    table: dict[str, Any] = {"application": application, "process": process}
    rate = draw(st.floats(min_value=0.2, max_value=5.0))
    if process in ("poisson", "deterministic"):
        table["rate_per_s"] = rate
    elif process == "mmpp":
        n_states = draw(st.integers(2, 3))
        rates = draw(st.lists(st.sampled_from([0.0, 0.5, 2.0, 8.0]), min_size=n_states, max_size=n_states))
        if not any(rates):
            rates[0] = rate
        table["rates_per_s"] = rates
        table["mean_sojourn_s"] = draw(st.lists(positive_time, min_size=n_states, max_size=n_states))
    elif process == "on_off":
        table.update(rate_per_s=rate, mean_on_s=draw(positive_time), mean_off_s=draw(positive_time))
    else:
        table.update(rate_per_s=rate, amplitude=draw(st.floats(0.0, 1.0)),
                     period_s=draw(st.floats(0.5, 20.0)), phase_s=draw(st.floats(0.0, 10.0)))
    if draw(st.booleans()):
        table["start_s"] = draw(st.floats(0.0, 3.0))
    if draw(st.integers(0, 3)) == 0:
        table["stop_s"] = draw(st.floats(0.5, 20.0))
    return table


@st.composite
def raw_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A small random scenario as the dict a TOML file would give."""
    # Nodes: 1-4 groups of 1-2 nodes each.
    n_groups = draw(st.integers(1, 4))
    nodes: dict[str, dict[str, Any]] = {}
    members: dict[str, list[str]] = {}
    for index in range(n_groups):
        group = f"g{index}"
        count = draw(st.integers(1, 2))
        nodes[group] = {
            "kind": draw(st.sampled_from(KINDS)),
            "slots": draw(st.integers(1, 3)),
            "count": count,
            "speed": draw(st.sampled_from([0.5, 1.0, 2.0])),
            "queue": draw(st.sampled_from(QUEUE_DISCIPLINES)),
        }
        if nodes[group]["queue"] == "rr":
            nodes[group]["quantum_s"] = draw(st.sampled_from([0.01, 0.1, 1.0]))
        if nodes[group]["queue"] == "sjf":
            nodes[group]["sjf_by"] = draw(st.sampled_from(["expected", "drawn"]))
        members[group] = [group] if count == 1 else [f"{group}-{i}" for i in range(count)]
    kinds_present = sorted({table["kind"] for table in nodes.values()})
    all_nodes = [name for names in members.values() for name in names]

    # Network: a star around one switch, each group linked to it (a group endpoint expands to its members).
    links = {
        f"l{group}": {
            "endpoints": [group, "sw"],
            "latency_s": draw(st.sampled_from([0.0, 0.001, 0.05])),
            "bandwidth_bytes_per_s": draw(st.sampled_from([1e5, 1e6, 1e8])),
            "duplex": draw(st.sampled_from(["full", "half"])),
        }
        for group in nodes
    }
    network = {"sharing": draw(st.sampled_from(SHARING_MODELS)), "switches": ["sw"], "links": links}

    # Applications: 1-2, each a random DAG of 1-5 stages; each stage has its own model.
    models: dict[str, Any] = {}
    applications: dict[str, Any] = {}
    arrivals: dict[str, Any] = {}
    for app_index in range(draw(st.integers(1, 2))):
        app = f"app{app_index}"
        stages: dict[str, Any] = {}
        n_stages = draw(st.integers(1, 5))
        for stage_index in range(n_stages):
            model = f"{app}-m{stage_index}"
            kinds = draw(st.lists(st.sampled_from(kinds_present), min_size=1, unique=True))
            devices = {}
            for kind in kinds:
                distribution = draw(st.sampled_from(DISTRIBUTIONS))
                device: dict[str, Any] = {"mean_s": draw(st.floats(0.01, 1.0)), "distribution": distribution}
                if distribution in ("lognormal", "gamma"):
                    device["cv"] = draw(st.floats(0.2, 2.0))
                devices[kind] = device
            models[model] = {"devices": devices}
            stage: dict[str, Any] = {"model": model, "output_bytes": draw(st.sampled_from([0.0, 1e3, 1e5]))}
            if stage_index > 0:
                stage["after"] = draw(st.lists(st.sampled_from([f"s{i}" for i in range(stage_index)]),
                                               unique=True, max_size=3))
            if draw(st.integers(0, 3)) == 0:
                candidates = [name for group, table in nodes.items() if table["kind"] in kinds
                              for name in (group, *members[group], table["kind"])]
                stage["placement"] = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=2,
                                                   unique=True))
            if draw(st.integers(0, 4)) == 0:
                stage["work"] = draw(st.floats(0.5, 3.0))
            stages[f"s{stage_index}"] = stage
        application: dict[str, Any] = {"stages": stages, "priority": draw(st.integers(0, 2)),
                                       "weight": draw(st.sampled_from([0.5, 1.0, 3.0]))}
        if draw(st.booleans()):
            application["source"] = draw(st.sampled_from(all_nodes))
            application["input_bytes"] = draw(st.sampled_from([0.0, 1e3, 1e5]))
            if draw(st.booleans()):
                application["sink"] = draw(st.sampled_from(all_nodes))
        if draw(st.booleans()):
            application["deadline_s"] = draw(st.floats(0.1, 5.0))
        applications[app] = application
        for stream_index in range(draw(st.integers(1, 2))):
            arrivals[f"{app}-a{stream_index}"] = draw(arrival_tables(app))

    # Policy and run length.
    policy_name = draw(st.sampled_from(POLICY_NAMES))
    policy: dict[str, Any] = {"name": policy_name, "mode": draw(st.sampled_from(policy_class(policy_name).modes))}
    if policy["mode"] == "batch":
        policy["batch_interval_s"] = draw(st.sampled_from([0.05, 0.5, 2.0]))
    simulation: dict[str, Any] = {"max_jobs": draw(st.integers(1, 25)), "seed": draw(st.integers(0, 2**31))}
    if draw(st.booleans()):
        simulation["horizon_s"] = draw(st.floats(0.5, 15.0))
    if draw(st.integers(0, 3)) == 0:
        simulation["warmup_s"] = draw(st.floats(0.0, 3.0))
    return {
        "scenario": {"name": "property"},
        "simulation": simulation,
        "policy": policy,
        "nodes": nodes,
        "network": network,
        "models": models,
        "applications": applications,
        "arrivals": arrivals,
    }


# ----------------------------------------------------------------------------------------------------------
# Invariant checks, each on one run's tables


def stage_index(scenario: Scenario) -> dict[tuple[str, str], tuple[int, tuple[str, ...], set[int]]]:
    """(application, stage) -> (stage count of the application, predecessors, eligible node indices)."""
    index = {}
    for application in scenario.applications.values():
        for stage in application.stages:
            index[(application.name, stage.name)] = (len(application.stages), stage.after,
                                                      set(eligible_nodes(stage, scenario)))
    return index


def check_jobs(result: RunResult) -> None:
    jobs = result.jobs
    simulation = result.scenario.simulation
    assert list(jobs["job_id"]) == list(range(len(jobs))), "every job appears exactly once"
    assert simulation.max_jobs is None or len(jobs) <= simulation.max_jobs
    arrivals = jobs["arrival_s"].to_numpy()
    assert np.all(np.diff(arrivals) >= 0), "job ids follow arrival order: the clock never goes back"
    finished = (jobs["state"] == "finished").to_numpy()
    assert np.array_equal(finished, jobs["finish_s"].notna().to_numpy())
    if simulation.horizon_s is None:
        assert finished.all(), "without a horizon every job finishes"
    else:
        assert np.all(jobs["finish_s"][finished] <= simulation.horizon_s)
        assert np.all(arrivals <= simulation.horizon_s)
    assert np.all(jobs["response_s"][finished] >= 0)


def check_task_times(tasks: pd.DataFrame, horizon_s: float | None) -> None:
    state = tasks["state"].astype(str).to_numpy()
    node = tasks["node_index"].to_numpy()
    defined = {column: tasks[column].notna().to_numpy() for column in ("dispatch_s", "ready_s", "start_s",
                                                                       "finish_s")}
    assert defined["dispatch_s"].all(), "a recorded task was released"
    expected = {
        "finished": (True, True, True, True),
        "running": (True, True, True, False),
        "queued": (True, True, False, False),
        "transferring": (True, False, False, False),
        "pending": (False, False, False, False),
    }
    for name, (has_node, has_ready, has_start, has_finish) in expected.items():
        rows = state == name
        assert np.all((node[rows] >= 0) == has_node), name
        assert np.all(defined["ready_s"][rows] == has_ready), name
        assert np.all(defined["start_s"][rows] == has_start), name
        assert np.all(defined["finish_s"][rows] == has_finish), name
    order = ["arrival_s", "dispatch_s", "ready_s", "start_s", "finish_s"]
    for earlier, later in itertools.pairwise(order):
        both = tasks[earlier].notna() & tasks[later].notna()
        assert np.all(tasks.loc[both, later] >= tasks.loc[both, earlier]), f"{later} < {earlier}"
    if horizon_s is not None:
        for column in order:
            assert np.all(tasks[column].dropna() <= horizon_s), f"{column} after the horizon"


def check_tasks_and_precedence(result: RunResult) -> None:
    tasks = result.tasks
    jobs = result.jobs
    stages = stage_index(result.scenario)
    assert not tasks.duplicated(["job_id", "stage"]).any(), "a task appears at most once"
    assert set(tasks["job_id"]) <= set(jobs["job_id"])
    check_task_times(tasks, result.scenario.simulation.horizon_s)

    # Arrival of each task is its job's arrival.
    arrival_by_job = jobs.set_index("job_id")["arrival_s"]
    assert np.array_equal(tasks["arrival_s"].to_numpy(), arrival_by_job.loc[tasks["job_id"]].to_numpy())

    by_key = {(row.job_id, row.stage): row for row in tasks.itertuples(index=False)}
    finished_jobs = set(jobs.loc[jobs["state"] == "finished", "job_id"])
    job_finish = jobs.set_index("job_id")["finish_s"]
    for row in tasks.itertuples(index=False):
        _, predecessors, eligible = stages[(str(row.application), row.stage)]
        if row.node_index >= 0:
            assert row.node_index in eligible, f"{row.stage} ran on ineligible node {row.node}"
        for before in predecessors:
            previous = by_key.get((row.job_id, before))
            assert previous is not None and previous.state == "finished", (
                f"job {row.job_id}: {row.stage} released before its predecessor {before} finished")
            assert row.dispatch_s >= previous.finish_s
            if not math.isnan(row.ready_s):
                assert row.ready_s >= previous.finish_s + 0.0
        if row.job_id in finished_jobs:
            assert row.state == "finished"
            assert job_finish[row.job_id] >= row.finish_s
    finished_tasks = tasks[tasks["state"] == "finished"]
    counts = finished_tasks.groupby("job_id").size()
    for job_id in finished_jobs:
        application = str(jobs.loc[job_id, "application"])
        n_stages = len(result.scenario.applications[application].stages)
        assert counts.get(job_id, 0) == n_stages, f"finished job {job_id} lacks finished tasks"


def check_capacity(result: RunResult) -> None:
    tasks = result.tasks
    end = result.summary["duration_s"]
    started = tasks[tasks["start_s"].notna()]
    for node_index, node in enumerate(result.scenario.nodes):
        on_node = started[started["node_index"] == node_index]
        if on_node.empty or node.queue in SHARED_SLOTS:
            continue
        starts = on_node["start_s"].to_numpy()
        finishes = on_node["finish_s"].fillna(max(end, starts.max()) + 1.0).to_numpy()
        # Finishes sort before starts at the same instant: a slot freed at t can be reused at t.
        times = np.concatenate([finishes, starts])
        deltas = np.concatenate([-np.ones(len(finishes)), np.ones(len(starts))])
        order = np.lexsort((deltas, times))
        running = np.cumsum(deltas[order])
        assert running.max() <= node.slots, f"node {node.name} ran {running.max()} tasks on {node.slots} slots"
        assert running.min() >= 0


def check_summary(result: RunResult) -> None:
    tasks, jobs, summary = result.tasks, result.jobs, result.summary
    warmup = result.scenario.simulation.warmup_s
    measured_jobs = jobs[jobs["arrival_s"] >= warmup]
    assert summary["jobs_completed"] == int((measured_jobs["state"] == "finished").sum())
    assert summary["jobs_unfinished"] == int((measured_jobs["state"] == "unfinished").sum())
    measured_tasks = tasks[(tasks["arrival_s"] >= warmup) & (tasks["state"] == "finished")]
    assert summary["tasks_completed"] == len(measured_tasks)
    finished_in_window = tasks[(tasks["state"] == "finished") & (tasks["finish_s"] >= warmup)]
    assert int(result.nodes["tasks_completed"].sum()) == len(finished_in_window)
    assert list(result.nodes["node"]) == result.scenario.node_names
    utilization = result.nodes["utilization"].to_numpy()
    assert np.all((utilization >= -1e-9) & (utilization <= 1 + 1e-9))
    transfers = result.transfers
    assert np.all(transfers["end_s"] >= transfers["start_s"])
    assert summary["bytes_transferred"] == pytest.approx(float(transfers["bytes"].sum()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_scenarios())
def test_invariants_hold_on_random_scenarios(raw: dict[str, Any]) -> None:
    """Every invariant of the module docstring holds for a random small scenario and policy."""
    scenario = parse_scenario(raw, source="property")
    result = run(scenario)
    check_jobs(result)
    check_tasks_and_precedence(result)
    check_capacity(result)
    check_summary(result)


# ----------------------------------------------------------------------------------------------------------
# Regression tests for bugs found by the property tests


def test_link_without_bandwidth_is_reported_or_kept() -> None:
    """A link table that omits bandwidth_bytes_per_s must not vanish: either the loader names the missing field
    or the link exists (as a latency-only link of infinite bandwidth, as LinkSpec documents)."""
    raw = {
        "simulation": {"max_jobs": 2},
        "nodes": {"a": {"kind": "cpu"}, "b": {"kind": "cpu"}},
        "network": {"links": {"ab": {"endpoints": ["a", "b"], "latency_s": 0.5}}},
        "models": {"m": {"devices": {"cpu": {"mean_s": 1.0}}}},
        "applications": {"app": {"stages": {"s": {"model": "m"}}}},
        "arrivals": {"users": {"application": "app", "rate_per_s": 1.0}},
    }
    try:
        scenario = parse_scenario(raw, source="link.toml")
    except ScenarioError as error:
        assert "network.links.ab.bandwidth_bytes_per_s" in str(error)
    else:
        assert [link.name for link in scenario.network.links] == ["ab"]
