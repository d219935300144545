"""Clairvoyant task sizes (`simulator.sizes`): the scenario field and its refusals, what the policies' view says
about sizes and work left (checked against hand sums over the tasks' recorded times), common random numbers, and
known sizes across restarts and re-dispatches."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pandas as pd
import pytest
from conftest import MINIMAL, SCENARIOS
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cli import main
from simulator.config import load_scenario, parse_scenario
from simulator.errors import ScenarioError
from simulator.policies import IMMEDIATE, Policy, TaskView
from simulator.simulation import run
from simulator.stepping import DecisionStepper
from simulator.workload import Task

pytestmark = pytest.mark.unit

TWO_SPEEDS = """
[simulation]
max_jobs = 60
seed = 3

[policy]
clairvoyant = true

[nodes.slow]
kind = "cpu"

[nodes.fast]
kind = "cpu"
speed = 2.5

[models.m.devices.cpu]
mean_s = 1.0
distribution = "lognormal"
cv = 1.5

[applications.app.stages.only]
model = "m"
work = 2.0

[arrivals.users]
application = "app"
process = "poisson"
rate_per_s = 1.2
"""
"""Two one-slot nodes of speeds 1 and 2.5, lognormal sizes, a stage of work 2: known times differ per node."""


class ViewRecorder(Policy):
    """Places each task on a uniformly random available node and keeps what the view said at each decision."""

    modes = (IMMEDIATE,)
    stochastic = True

    def __init__(self) -> None:
        pass

    def bind(self, view, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
        super().bind(view, rng)
        self.seen_: list[dict] = []

    def assign(self, task: TaskView) -> int:
        view = self.view_
        nodes = range(view.n_nodes)
        self.seen_.append({
            "now": view.now, "task": task, "sizes_known": view.sizes_known, "size_s": view.task_size_s(task),
            "work_left_s": [view.work_left_s(node) for node in nodes],
            "known_s": [view.known_service_s(task, node) for node in nodes],
            "queue_length": [view.queue_length(node) for node in nodes],
        })
        candidates = view.eligible_nodes(task)
        return candidates[int(self.rng_.integers(len(candidates)))]


def observed_run(text: str, seed: int = 3, **overrides: object) -> tuple[ViewRecorder, object]:
    scenario = parse_scenario(_with(text, overrides))
    policy = ViewRecorder()
    return policy, run(scenario, policy, seed=seed)


def _with(text: str, overrides: dict[str, object]) -> dict:
    """The scenario text parsed, with each dotted field set to its value."""
    raw = tomllib.loads(text)
    for dotted, value in overrides.items():
        table = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            table = table.setdefault(part, {})
        table[leaf] = value
    return raw


def refusals(text: str, **overrides: object) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(_with(text, overrides), source="s.toml")
    return str(caught.value)


# -- the view ------------------------------------------------------------------------------------------------


def test_known_service_is_the_service_the_task_received_and_size_is_its_time_at_speed_one():
    """known_service_s(task, node) equals the service time recorded on the node it ran on; on every node it is
    the size factor times the stage's expected time there, so time x speed / work is one size per task."""
    policy, _ = observed_run(TWO_SPEEDS)
    speeds = [1.0, 2.5]
    assert len(policy.seen_) == 60
    for seen in policy.seen_:
        task: Task = seen["task"]
        assert seen["sizes_known"]
        assert task.finish_s - task.start_s == pytest.approx(seen["known_s"][task.node], rel=1e-12)
        for node, speed in enumerate(speeds):
            assert seen["known_s"][node] * speed / 2.0 == pytest.approx(seen["size_s"] / 2.0, rel=1e-12)
    sizes = [seen["size_s"] for seen in policy.seen_]
    assert len(set(sizes)) == len(sizes)  # drawn, not the mean


def test_work_left_is_the_hand_summed_remaining_service_at_each_decision():
    """At each decision, work_left_s(node) = sum over the tasks placed there earlier and unfinished of
    finish - max(start, now) (their remaining service), and queue_length counts those not started."""
    policy, _ = observed_run(TWO_SPEEDS)
    checked = 0
    for k, seen in enumerate(policy.seen_):
        now = seen["now"]
        for node in range(2):
            earlier = [other["task"] for other in policy.seen_[:k]
                       if other["task"].node == node and other["task"].finish_s > now]
            remaining = sum(task.finish_s - max(task.start_s, now) for task in earlier)
            assert seen["work_left_s"][node] == pytest.approx(remaining, rel=1e-9, abs=1e-9)
            assert seen["queue_length"][node] == sum(task.start_s > now for task in earlier)
            checked += bool(earlier)
    assert checked > 20  # the hand sums were not all empty


def test_without_clairvoyance_sizes_are_unknown_and_work_left_is_expected():
    """sizes_known is false, known_service_s and task_size_s are NaN, and work_left_s is the expected backlog:
    with deterministic times it equals the remaining service exactly."""
    policy, _ = observed_run(TWO_SPEEDS, **{"policy.clairvoyant": False,
                                            "models.m.devices.cpu.distribution": "deterministic"})
    for k, seen in enumerate(policy.seen_):
        assert not seen["sizes_known"]
        assert math.isnan(seen["size_s"]) and all(math.isnan(value) for value in seen["known_s"])
        now = seen["now"]
        for node in range(2):
            remaining = sum(other["task"].finish_s - max(other["task"].start_s, now) for other in policy.seen_[:k]
                            if other["task"].node == node and other["task"].finish_s > now)
            assert seen["work_left_s"][node] == pytest.approx(remaining, rel=1e-9, abs=1e-9)


def test_sizes_do_not_depend_on_the_policy():
    """Common random numbers: the size of each job (service time x speed) is the same under two policies."""
    scenario = parse_scenario(_with(TWO_SPEEDS, {}))
    sizes = []
    for name in ("round_robin", "least_work_left"):
        tasks = run(scenario, name, seed=5).tasks.sort_values("job_id")
        speed = np.where(tasks["node"] == "fast", 2.5, 1.0)
        sizes.append(tasks["service_s"].to_numpy() * speed)
    np.testing.assert_allclose(sizes[0], sizes[1], rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), speed=st.floats(0.1, 10.0), cv=st.floats(0.1, 3.0))
def test_every_service_is_the_size_factor_times_the_expected_time(seed: int, speed: float, cv: float):
    """In a clairvoyant run every task's recorded service equals r x exec_mean_s on its node, with one r per task
    (task_size_s / (model mean x work) = r)."""
    policy, _ = observed_run(TWO_SPEEDS, seed=seed, **{"nodes.fast.speed": speed, "models.m.devices.cpu.cv": cv,
                                                       "simulation.max_jobs": 20})
    for seen in policy.seen_:
        task = seen["task"]
        factor = seen["size_s"] / (1.0 * 2.0)
        assert task.finish_s - task.start_s == pytest.approx(factor * task.stage.exec_mean_s[task.node], rel=1e-12)


# -- dynamic runs --------------------------------------------------------------------------------------------

FAILING = TWO_SPEEDS.replace("max_jobs = 60", "max_jobs = 300\nhorizon_s = 400.0") + """
[nodes.slow.failures]
time_to_failure = { distribution = "exponential", mean_s = 20.0 }
time_to_repair = { distribution = "exponential", mean_s = 3.0 }

[nodes.fast.failures]
time_to_failure = { distribution = "exponential", mean_s = 20.0 }
time_to_repair = { distribution = "exponential", mean_s = 3.0 }
"""


@pytest.mark.parametrize("on_failure", ["restart", "redispatch"])
def test_restarted_and_redispatched_attempts_keep_the_size(on_failure: str):
    """A restart repeats the same work and a re-dispatched attempt carries its size: every finished task's
    service time x speed / work is the size its job drew, and every decision about a job sees one size."""
    policy, result = observed_run(FAILING + f'\n[recovery]\non_failure = "{on_failure}"\n')
    assert result.summary["node_failures"] > 0 and result.summary["retries"] + result.summary["migrations"] > 0
    size_of: dict[int, float] = {}
    for seen in policy.seen_:
        size_of.setdefault(seen["task"].job_id, seen["size_s"])
        assert size_of[seen["task"].job_id] == seen["size_s"]
    tasks = result.tasks[result.tasks["state"] == "finished"]
    speed = np.where(tasks["node"] == "fast", 2.5, 1.0)
    sizes = np.array([size_of[job] for job in tasks["job_id"]])
    np.testing.assert_allclose(tasks["service_s"].to_numpy() * speed, sizes, rtol=1e-9)


# -- the scenario field --------------------------------------------------------------------------------------


def test_clairvoyant_is_false_by_default_and_read_from_the_policy_table():
    assert parse_scenario(_with(MINIMAL, {})).policy.clairvoyant is False
    assert parse_scenario(_with(MINIMAL, {"policy.clairvoyant": True})).policy.clairvoyant is True


def test_a_non_boolean_clairvoyant_is_refused():
    message = refusals(MINIMAL, **{"policy.clairvoyant": "yes"})
    assert "policy.clairvoyant" in message and "true or false" in message.lower()


MIXED_KINDS = MINIMAL.replace('[models.m.devices.cpu]\nmean_s = 0.5\n', """[models.m.devices.cpu]
mean_s = 0.5

[models.m.devices.gpu]
mean_s = 0.1
distribution = "lognormal"
cv = 2.0
""") + '\n[nodes.accel]\nkind = "gpu"\n'


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, ["model 'm'", "different families or shapes", "cpu: exponential 1.0", "gpu: lognormal 2.0"]),
    ({"models.m.devices.gpu.distribution": "exponential", "models.m.devices.gpu.cv": 1.0,
      "models.m.devices.cpu.batch_scaling": 0.5}, ["model 'm'", "batch curve", "batch_scaling"]),
    ({"models.m.devices.gpu.distribution": "exponential", "models.m.devices.gpu.cv": 1.0,
      "models.m.devices.gpu.memory_bytes": 1e9, "nodes.accel.memory_bytes": 2e9},
     ["node group 'accel'", "limited memory", "model server"]),
], ids=["families", "batch_curve", "model_server"])
def test_clairvoyance_is_refused_where_one_size_cannot_give_every_time(overrides: dict, expected: list[str]):
    message = refusals(MIXED_KINDS, **{"policy.clairvoyant": True, **overrides})
    assert "policy.clairvoyant" in message
    for part in expected:
        assert part in message, message


def test_device_kinds_with_the_same_law_up_to_their_means_are_accepted():
    scenario = parse_scenario(_with(MIXED_KINDS, {"policy.clairvoyant": True,
                                                  "models.m.devices.cpu.distribution": "lognormal",
                                                  "models.m.devices.cpu.cv": 2.0}))
    assert scenario.policy.clairvoyant


def test_a_calibrated_profile_is_refused_on_the_command_line(capsys: pytest.CaptureFixture[str]):
    """A scenario taking its costs from a profile: exit status 2 and a message naming the field and the model."""
    code = main(["validate", str(SCENARIOS / "calibrated_vision.toml"), "--set", "policy.clairvoyant=true"])
    err = capsys.readouterr().err
    assert code == 2
    assert "policy.clairvoyant" in err and "calibrated profile" in err and "Traceback" not in err


def test_validate_says_sizes_are_known(capsys: pytest.CaptureFixture[str]):
    assert main(["validate", str(SCENARIOS / "rl" / "park_load_balance.toml")]) == 0
    assert "task sizes known (clairvoyant)" in capsys.readouterr().out


def test_the_park_scenario_is_clairvoyant():
    assert load_scenario(SCENARIOS / "rl" / "park_load_balance.toml").policy.clairvoyant


@pytest.mark.parametrize("policy", ["least_work_left", "shortest_expected_delay"])
def test_a_stepped_clairvoyant_run_is_the_policys_own_run(policy: str):
    """Decision points (`simulator.stepping`) see the same sizes: stepping the policy gives its own run exactly."""
    scenario = load_scenario(SCENARIOS / "rl" / "park_load_balance.toml", {"simulation.max_jobs": 300})
    expected = run(scenario, policy, seed=7)
    stepped = DecisionStepper(scenario, seed=7).run_policy(policy)
    pd.testing.assert_frame_equal(stepped.tasks, expected.tasks)


def test_on_identical_servers_shortest_expected_delay_decides_as_least_work_left():
    """With equal speeds and no transfers a task's own service is the same everywhere, so both policies rank the
    nodes alike and (drawing ties from the same stream) produce the same run."""
    scenario = load_scenario(SCENARIOS / "validation" / "mmc.toml",
                             {"simulation.max_jobs": 2000, "policy.clairvoyant": True, "nodes.server.count": 4,
                              "nodes.server.slots": 1})
    tables = [run(scenario, name, seed=2).tasks for name in ("least_work_left", "shortest_expected_delay")]
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert tables[0]["node"].nunique() == 4
