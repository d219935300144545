"""Applications compiled for dispatch: eligible nodes, expected times and samplers per node, DAG links."""

from __future__ import annotations

import math
import tomllib

import pytest

from simulator.config import parse_scenario
from simulator.costs import CostTable
from simulator.workload import compile_applications

pytestmark = pytest.mark.unit

FORK = """
[simulation]
max_jobs = 1
[network]
switches = ["sw"]
[network.links.slow]
endpoints = ["slow", "sw"]
bandwidth_bytes_per_s = 1e9
[network.links.fast]
endpoints = ["fast", "sw"]
bandwidth_bytes_per_s = 1e9
[network.links.gpu]
endpoints = ["gpu", "sw"]
bandwidth_bytes_per_s = 1e9
[nodes.slow]
kind = "cpu"
[nodes.fast]
kind = "cpu"
speed = 4.0
[nodes.gpu]
kind = "gpu"
[models.m.devices.cpu]
mean_s = 1.0
distribution = "deterministic"
[models.g.devices.gpu]
mean_s = 0.5
distribution = "deterministic"
[applications.app.stages.split]
model = "m"
[applications.app.stages.left]
model = "m"
work = 2.0
after = ["split"]
[applications.app.stages.right]
model = "g"
after = ["split"]
[arrivals.users]
application = "app"
rate_per_s = 1.0
"""


def test_stages_know_their_nodes_times_and_neighbours() -> None:
    """Stage time = model mean on the node's kind x work / speed: left (work 2) takes 2 s on the slow cpu node
    and 0.5 s on the fast one (speed 4); right runs on the gpu only. split feeds left and right, the exits."""
    scenario = parse_scenario(tomllib.loads(FORK))
    [app] = compile_applications(scenario, CostTable(scenario.models), seed=1)
    split, left, right = app.stages
    assert (app.entry, app.exits) == ((0,), (1, 2))
    assert (split.successors, left.predecessors, right.predecessors) == ((1, 2), (0,), (0,))
    assert (left.eligible, right.eligible) == ((0, 1), (2,))
    assert left.exec_mean_s == [2.0, 0.5, math.inf]
    assert right.exec_mean_s == [math.inf, math.inf, 0.5] and right.only_node == 2
    assert [sampler() if sampler else None for sampler in left.samplers] == [2.0, 0.5, None]
    assert split.samplers[0] is not left.samplers[0]  # the same draws, scaled by each stage's own work
