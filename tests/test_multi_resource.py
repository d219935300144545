"""Stage demands of several slots and working memory: the scenario fields, the checks that refuse what the
multi-resource node does not support, which node kind `build_nodes` makes, and the node's queue (head-of-line
blocking) and accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import MINIMAL

from simulator.cli import main
from simulator.cluster import Node, build_nodes
from simulator.config import load_scenario
from simulator.config.checks import check_resource_demands
from simulator.config.problems import Problems
from simulator.config.specs import ApplicationSpec, ModelSpec, NodeSpec, ServiceSpec, StageSpec
from simulator.costs import CostTable
from simulator.engine import Environment
from simulator.errors import ScenarioError
from simulator.multi_resource import MultiResourceNode
from simulator.policies import make_policy
from simulator.simulation import Simulation, run

pytestmark = pytest.mark.unit

DEMANDS = """
[simulation]
seed = 1

[nodes.big]
kind = "cpu"
slots = 4
memory_bytes = 8e9

[nodes.plain]
kind = "gpu"

[models.m.devices.cpu]
mean_s = 1.0
distribution = "deterministic"

[models.g.devices.gpu]
mean_s = 1.0

[applications.wide.stages.s]
model = "m"
slots = 3
memory_bytes = 1e9

[applications.pair.stages.s]
model = "m"
slots = 2
memory_bytes = 1e9

[applications.fat.stages.s]
model = "m"
memory_bytes = 7.5e9

[applications.thin.stages.s]
model = "m"

[applications.other.stages.s]
model = "g"

[arrivals.replay]
process = "trace"
file = "arrivals.csv"
"""


def demand_scenario(write_scenario, rows: str, text: str = DEMANDS):
    write_scenario("time_s,application\n" + rows, "arrivals.csv")
    return load_scenario(write_scenario(text))


def starts(result) -> dict[str, float]:
    tasks = result.tasks
    return dict(zip(tasks["application"].astype(str), tasks["start_s"], strict=True))


def test_stage_demands_default_to_one_slot_and_no_memory(write_scenario):
    stage = load_scenario(write_scenario(MINIMAL)).applications["app"].stages[0]
    assert (stage.slots, stage.memory_bytes, stage.demands_resources) == (1, 0.0, False)


def test_build_nodes_makes_a_multi_resource_node_only_where_a_demanding_stage_may_run(write_scenario):
    scenario = demand_scenario(write_scenario, "0.0,wide\n")
    nodes = build_nodes(Environment(), scenario, CostTable(scenario.models), 0, lambda task: None)
    assert [type(node) for node in nodes] == [MultiResourceNode, Node]
    plain = load_scenario(write_scenario(MINIMAL, "plain.toml"))
    assert [type(node) for node in build_nodes(Environment(), plain, CostTable(plain.models), 0,
                                               lambda task: None)] == [Node]


def test_a_head_that_lacks_slots_blocks_the_queue(write_scenario):
    """By hand: wide (3 of 4 slots, 1 s) starts at 0; pair (2 slots) arrives at 0.1 and finds one slot free, so
    it waits; thin (1 slot) arrives at 0.2 and would fit, but waits behind pair (head-of-line blocking). At 1
    wide ends: pair and thin start together."""
    result = run(demand_scenario(write_scenario, "0.0,wide\n0.1,pair\n0.2,thin\n"))
    assert starts(result) == {"wide": 0.0, "pair": 1.0, "thin": 1.0}


def test_a_head_that_lacks_memory_blocks_the_queue(write_scenario):
    """By hand: wide holds 1e9 of 8e9 bytes from 0 to 1; fat (7.5e9 bytes, one slot) arrives at 0.1 and finds
    7e9 free, so it waits although three slots are; thin behind it waits too. At 1 both start."""
    result = run(demand_scenario(write_scenario, "0.0,wide\n0.1,fat\n0.2,thin\n"))
    assert starts(result) == {"wide": 0.0, "fat": 1.0, "thin": 1.0}


def test_slots_and_memory_held_never_exceed_the_node_and_utilization_counts_slots(write_scenario):
    """Over a random stream, at every start the running tasks' slots and memory fit the node; busy slot-seconds
    weigh each task by its slots (each task runs 1 s)."""
    rng = np.random.default_rng(5)
    times = np.cumsum(rng.exponential(0.4, 300))
    names = rng.choice(["wide", "pair", "fat", "thin"], 300)
    scenario = demand_scenario(write_scenario, "".join(f"{t:.4f},{n}\n" for t, n in zip(times, names, strict=True)))
    result = run(scenario)
    tasks = result.tasks
    demand = {"wide": (3, 1e9), "pair": (2, 1e9), "fat": (1, 7.5e9), "thin": (1, 0.0)}
    intervals = [(row.start_s, row.finish_s, *demand[row.application]) for row in tasks.itertuples()]
    for start, _, _, _ in intervals:
        running = [(slots, memory) for s, f, slots, memory in intervals if s <= start < f]
        assert sum(slots for slots, _ in running) <= 4
        assert sum(memory for _, memory in running) <= 8e9
    big = result.nodes.set_index("node").loc["big"]
    expected = sum(demand[name][0] * (f - s) for name, (s, f) in zip(
        tasks["application"], zip(tasks["start_s"], tasks["finish_s"], strict=True), strict=True))
    assert big["busy_slot_s"] == pytest.approx(expected)
    assert big["busy_slot_s"] > len(tasks)  # more than one slot-second per 1-second task


def test_expected_ready_time_spreads_remaining_slot_seconds(write_scenario):
    """By hand at t = 0.5: wide (3 slots, 1 s) has 1.5 slot-seconds left, pair (2 slots, 1 s) waits with 2:
    3.5 slot-seconds over 4 slots, ready at 0.5 + 0.875."""
    scenario = demand_scenario(write_scenario, "0.0,wide\n0.1,pair\n")
    simulation = Simulation(scenario, make_policy("least_loaded"), 1)
    simulation.env.run(until=0.5)
    node = simulation.nodes[0]
    assert node.busy == 3 and node.queue_length == 1
    assert (node.free_slots, node.free_memory_bytes) == (0, 6e9)  # 4 - 3 held - 2 claimed, clamped at 0
    assert node.expected_ready_time_s() == pytest.approx(1.375)


@pytest.mark.parametrize("change, message", [
    ("slots = 3\nmemory_bytes = 1e9", None),
    ("slots = 5\nmemory_bytes = 1e9", "applications.wide.stages.s can run on no node"),
    ("slots = 0\nmemory_bytes = 1e9", "applications.wide.stages.s.slots must be an integer in [1, 100000]"),
    ("slots = 3\nmemory_bytes = -1", "applications.wide.stages.s.memory_bytes must be"),
    ("slots = 3\nmemory_bytes = 9e9", "it demands 3 slots and 9e+09 memory_bytes, which a node must have"),
])
def test_demand_fields_are_checked_with_file_and_field(write_scenario, change, message):
    write_scenario("time_s,application\n0.0,wide\n", "arrivals.csv")
    path = write_scenario(DEMANDS.replace("slots = 3\nmemory_bytes = 1e9", change))
    if message is None:
        load_scenario(path)
        return
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert any(problem.startswith(str(path)) and message in problem for problem in caught.value.problems), \
        caught.value.problems


@pytest.mark.parametrize("node_fields, why", [
    ("max_batch_size = 4", "which batches"),
    ("memory_bytes = 8e9", "holds models resident"),
])
def test_demands_on_model_serving_nodes_are_refused(write_scenario, node_fields, why):
    text = DEMANDS.replace("memory_bytes = 8e9\n", node_fields + "\n", 1).replace(
        'distribution = "deterministic"', 'distribution = "deterministic"\nmemory_bytes = 1e8\nbatch_scaling = 0.5')
    write_scenario("time_s,application\n0.0,wide\n", "arrivals.csv")
    path = write_scenario(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert any("applications.wide.stages.s demands 3 slots" in p and "'big'" in p and why in p
               for p in caught.value.problems), caught.value.problems
    assert main(["validate", str(path)]) == 2


def test_demands_on_a_node_with_another_queue_discipline_are_refused():
    """Only FIFO and priority queues block at their head; any other discipline is named as not allowed."""
    problems = Problems("s.toml")
    node = NodeSpec(name="n", kind="cpu", group="n", slots=2, queue="shortest_first")
    models = {"m": ModelSpec("m", {"cpu": ServiceSpec(1.0)})}
    stage = StageSpec(name="s", model="m", slots=2)
    check_resource_demands(problems, [node], models, {"a": ApplicationSpec("a", (stage,))})
    assert problems.items == ["s.toml: applications.a.stages.s demands 2 slots and 0 memory_bytes, but may run on "
                              "node 'n', whose queue is 'shortest_first'; nodes running stages with demands allow "
                              "queue = 'fifo' or 'priority'"]


def test_priority_queue_head_is_the_most_urgent_task(write_scenario):
    """By hand with queue = "priority": wide runs from 0 to 1; pair (priority 5) arrives at 0.1 and thin
    (priority 0, more urgent) at 0.2: thin is the head, fits in the free slot and starts at 0.2; pair at 1."""
    text = DEMANDS.replace("memory_bytes = 8e9\n", 'memory_bytes = 8e9\nqueue = "priority"\n', 1).replace(
        "[applications.pair.stages.s]", "[applications.pair]\npriority = 5\n[applications.pair.stages.s]")
    result = run(demand_scenario(write_scenario, "0.0,wide\n0.1,pair\n0.2,thin\n", text))
    assert starts(result) == {"wide": 0.0, "pair": 1.0, "thin": 0.2}
    assert math.isclose(result.tasks.set_index("application").loc["thin", "finish_s"], 1.2)


TWO_NODES = """
[simulation]
max_jobs = 300
seed = 2

[policy]
batch_interval_s = 0.5

[nodes.big]
kind = "cpu"
slots = 4
memory_bytes = 8e9
busy_power_w = 100.0

[nodes.fast]
kind = "cpu"
slots = 4
speed = 2.0
memory_bytes = 4e9
busy_power_w = 300.0

[network.links.l]
endpoints = ["big", "fast"]
bandwidth_bytes_per_s = 1e9

[models.m.devices.cpu]
mean_s = 1.0

[applications.app.stages.prep]
model = "m"
slots = 3
memory_bytes = 3e9

[applications.app.stages.infer]
model = "m"
after = ["prep"]
memory_bytes = 1e9

[arrivals.users]
application = "app"
process = "poisson"
rate_per_s = 0.8
"""


@pytest.mark.parametrize("name", ["best_fit", "most_free_resources", "longest_to_fastest", "energy_proportional"])
@pytest.mark.parametrize("mode", ["immediate", "batch"])
def test_packing_policies_run_every_job_of_a_demanding_scenario(write_scenario, name, mode):
    scenario = load_scenario(write_scenario(TWO_NODES), overrides=[f"policy.mode={mode}"])
    result = run(scenario, policy=name)
    assert result.summary["jobs_completed"] == 300
    assert set(result.tasks["node"].astype(str)) == {"big", "fast"}


@pytest.mark.parametrize("node_memory, expected", [(8e9, 2.0), (5e9, 5 / 3)])
def test_capacity_counts_slots_and_memory_held(write_scenario, node_memory, expected):
    """By hand: one stage of 1 s holding 2 of 4 slots and 3e9 bytes. Slots bound the rate at 4 / (2 x 1) = 2
    jobs/s, memory at node_memory / (3e9 x 1): 2.67 with 8e9 (slots bind), 1.67 with 5e9 (memory binds)."""
    from simulator.capacity import capacity_per_s

    text = MINIMAL.replace("slots = 2", f"slots = 4\nmemory_bytes = {node_memory}").replace(
        'model = "m"', 'model = "m"\nslots = 2\nmemory_bytes = 3e9').replace("mean_s = 0.5", "mean_s = 1.0")
    assert capacity_per_s(load_scenario(write_scenario(text))) == pytest.approx(expected)
