"""Regression tests of the scheduling algorithms in the simulator: HEFT on deep DAGs (no recursion limit) and
NSGA-II with the energy objective as a batch policy (the nodes' power reaches the solver)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import SCENARIOS

from simulator import load_scenario, parse_scenario, run
from simulator.cli import main
from simulator.dag_scheduling import heft, upward_ranks
from simulator.mapping import MappingProblem
from simulator.policies import batch, make_policy

pytestmark = pytest.mark.unit

DEMO = SCENARIOS / "demo_edge_cloud.toml"


def test_heft_ranks_a_chain_deeper_than_the_recursion_limit() -> None:
    """A 5000-task chain on 2 processors (execution 1 s and 2 s, edges 0.5 s between processors): upward
    ranks are computed without recursion. rank_u(i) = 1.5 + 0.5 + rank_u(i + 1) with rank_u(last) = 1.5, so
    rank_u(0) = 1.5 + 2 x 4999; HEFT keeps every task on the faster processor: makespan 5000 s."""
    n_tasks = 5000
    exec_s = np.tile([1.0, 2.0], (n_tasks, 1))
    predecessors = [[]] + [[task - 1] for task in range(1, n_tasks)]
    schedule = heft(exec_s, predecessors, lambda i, j, p, q: 0.0 if p == q else 0.5,
                    mean_edge_s=lambda i, j: 0.5)
    assert schedule.upward_rank[0] == pytest.approx(1.5 + 2.0 * (n_tasks - 1))
    assert schedule.upward_rank[-1] == pytest.approx(1.5)
    assert schedule.order == tuple(range(n_tasks))
    assert set(schedule.processor) == {0} and schedule.makespan_s == pytest.approx(n_tasks)


def test_upward_ranks_refuse_a_cycle() -> None:
    """A cyclic successor list has no upward ranks: a ValueError, not a RecursionError."""
    with pytest.raises(ValueError, match="cycle"):
        upward_ranks(np.ones((2, 1)), [[1], [0]], lambda i, j: 0.0)


def test_heft_policy_runs_a_400_stage_chain() -> None:
    """The `heft` policy plans a job of a 400-stage chain (two nodes, one link) to completion; before the fix
    its upward-rank recursion, through the network's transfer estimate, died with RecursionError."""
    n_stages = 400
    stages: dict[str, Any] = {
        f"s{i}": {"model": "m", "output_bytes": 1000.0, **({"after": [f"s{i - 1}"]} if i else {})}
        for i in range(n_stages)
    }
    raw = {
        "simulation": {"seed": 1, "max_jobs": 2},
        "policy": {"name": "heft"},
        "nodes": {"a": {"kind": "cpu"}, "b": {"kind": "cpu"}},
        "network": {"links": {"l": {"endpoints": ["a", "b"], "latency_s": 0.001, "bandwidth_bytes_per_s": 1e6}}},
        "models": {"m": {"devices": {"cpu": {"mean_s": 0.01}}}},
        "applications": {"chain": {"stages": stages}},
        "arrivals": {"users": {"application": "chain", "process": "poisson", "rate_per_s": 1.0}},
    }
    result = run(parse_scenario(raw, source="chain.toml"))
    assert (result.jobs["state"] == "finished").all() and len(result.jobs) == 2
    assert len(result.tasks) == 2 * n_stages


def test_nsga2_energy_objective_runs_on_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m simulator run scenarios/demo_edge_cloud.toml --policy nsga2` in batch mode with
    third_objective = "energy" completes: the demo's nodes set idle_power_w and busy_power_w, and they now
    reach the mapping problem (before: "needs busy_power_w and idle_power_w")."""
    status = main(["run", str(DEMO), "--policy", "nsga2", "--set", "policy.mode=\"batch\"",
                   "--set", "policy.params.third_objective=\"energy\"", "--set", "policy.params.max_generations=5",
                   "--set", "policy.params.population_size=8", "--set", "simulation.max_jobs=50"])
    captured = capsys.readouterr()
    assert status == 0, captured.err


def test_batch_policy_hands_each_slot_its_share_of_node_power(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each slot of a node gets the node's idle and busy power divided by its slots (the simulator's linear
    power model), so the power summed over a node's slots is the node's."""
    scenario = load_scenario(DEMO, ["policy.mode=\"batch\"", "simulation.max_jobs=20"])
    seen: list[MappingProblem] = []

    def capture(**kwargs: Any) -> MappingProblem:
        seen.append(MappingProblem(**kwargs))
        return seen[-1]

    monkeypatch.setattr(batch, "MappingProblem", capture)
    run(scenario, policy=make_policy("nsga2", {"third_objective": "energy", "max_generations": 2,
                                              "population_size": 8}))
    assert seen and seen[0].has_energy
    nodes = scenario.nodes
    expected_busy = [node.busy_power_w / node.slots for node in nodes for _ in range(node.slots)]
    expected_idle = [node.idle_power_w / node.slots for node in nodes for _ in range(node.slots)]
    np.testing.assert_allclose(np.asarray(seen[0].busy_power_w), expected_busy)
    np.testing.assert_allclose(np.asarray(seen[0].idle_power_w), expected_idle)
    assert math.isclose(sum(expected_busy), sum(node.busy_power_w for node in nodes))
