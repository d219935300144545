"""Reproducibility: a run is a pure function of (scenario, policy, seed).

Same seed, same tables; another seed, other tables; the arrivals do not depend on the policy (common random
numbers: each named stream is derived from the seed alone); and results do not depend on the order runs
execute in or on global random state.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulator import POLICIES, Scenario, parse_scenario, run
from simulator.simulation import RunResult


def multi_node_raw(max_jobs: int = 300) -> dict[str, Any]:
    """Three heterogeneous nodes behind a switch, a two-stage application with input from an edge node,
    plus a second application with an MMPP stream, so policies have real choices to make."""
    return {
        "scenario": {"name": "reproducibility"},
        "simulation": {"max_jobs": max_jobs, "seed": 7},
        "policy": {"name": "least_loaded"},
        "nodes": {
            "edge": {"kind": "edge", "slots": 1},
            "cpu": {"kind": "cpu", "slots": 2, "count": 2},
            "gpu": {"kind": "gpu", "slots": 4, "speed": 2.0},
        },
        "network": {
            "switches": ["sw"],
            "links": {
                "edge-sw": {"endpoints": ["edge", "sw"], "latency_s": 0.01, "bandwidth_bytes_per_s": 1e6},
                "cpu-sw": {"endpoints": ["cpu", "sw"], "latency_s": 0.001, "bandwidth_bytes_per_s": 1e7},
                "gpu-sw": {"endpoints": ["gpu", "sw"], "latency_s": 0.001, "bandwidth_bytes_per_s": 1e7},
            },
        },
        "models": {
            "detect": {"devices": {"edge": {"mean_s": 0.5}, "cpu": {"mean_s": 0.2, "distribution": "gamma",
                                                                    "cv": 0.5},
                                   "gpu": {"mean_s": 0.05, "distribution": "lognormal", "cv": 1.5}}},
            "classify": {"devices": {"cpu": {"mean_s": 0.1}, "gpu": {"mean_s": 0.02}}},
        },
        "applications": {
            "vision": {
                "source": "edge",
                "input_bytes": 2e5,
                "stages": {
                    "detect": {"model": "detect", "output_bytes": 1e4},
                    "classify": {"model": "classify", "after": ["detect"]},
                },
            },
            "batchy": {"stages": {"classify": {"model": "classify"}}},
        },
        "arrivals": {
            "cameras": {"application": "vision", "process": "poisson", "rate_per_s": 4.0},
            "bursts": {"application": "batchy", "process": "mmpp", "rates_per_s": [1.0, 10.0],
                       "mean_sojourn_s": [5.0, 1.0]},
        },
    }


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse_scenario(multi_node_raw(), source="reproducibility")


def assert_same_run(first: RunResult, second: RunResult) -> None:
    for table in ("tasks", "jobs", "nodes", "transfers", "links"):
        pd.testing.assert_frame_equal(getattr(first, table), getattr(second, table), check_exact=True)
    strip = {key: value for key, value in first.summary.items() if key != "wall_s"}
    assert strip == {key: value for key, value in second.summary.items() if key != "wall_s"}


@pytest.mark.unit
def test_same_seed_gives_identical_tables(scenario: Scenario) -> None:
    assert_same_run(run(scenario, seed=3), run(scenario, seed=3))


@pytest.mark.unit
def test_scenario_seed_is_the_default_seed(scenario: Scenario) -> None:
    assert_same_run(run(scenario), run(scenario, seed=scenario.simulation.seed))


@pytest.mark.unit
def test_different_seed_gives_different_tables(scenario: Scenario) -> None:
    first, second = run(scenario, seed=3), run(scenario, seed=4)
    assert not first.tasks.equals(second.tasks)
    assert not np.array_equal(first.jobs["arrival_s"].to_numpy(), second.jobs["arrival_s"].to_numpy())
    assert not np.array_equal(first.tasks["service_s"].to_numpy(), second.tasks["service_s"].to_numpy())


@pytest.mark.unit
@pytest.mark.parametrize("policy", sorted(name for name in POLICIES  # not drl: no agent is trained for this scenario
                                           if name != "least_loaded" and not POLICIES[name].required_params()))
def test_policy_does_not_change_arrivals(scenario: Scenario, policy: str) -> None:
    """Common random numbers: the arrival stream comes from its own seed-derived stream, so the job table's
    arrival times (and applications) are the same whichever policy places the tasks."""
    mode = POLICIES[policy].modes[0]  # batch-only policies (the static solvers) run in batch mode
    scenario = dataclasses.replace(scenario, policy=dataclasses.replace(scenario.policy, mode=mode))
    quick = {"ga": {"max_generations": 2}, "pso": {"max_iterations": 3}, "nsga2": {"max_generations": 2},
             "mopso": {"max_iterations": 2}}
    baseline = run(scenario, policy="least_loaded", seed=5)
    other = run(scenario, policy=policy, seed=5, params=quick.get(policy, {}))
    pd.testing.assert_series_equal(baseline.jobs["arrival_s"], other.jobs["arrival_s"], check_exact=True)
    pd.testing.assert_series_equal(baseline.jobs["application"], other.jobs["application"])
    if policy == "random":
        # The placements do differ, so the equality above is not trivial.
        assert not np.array_equal(baseline.tasks.sort_values(["job_id", "stage"])["node_index"].to_numpy(),
                                  other.tasks.sort_values(["job_id", "stage"])["node_index"].to_numpy())


@pytest.mark.unit
def test_run_order_does_not_matter(scenario: Scenario) -> None:
    """Runs are independent: executing them in another order, interleaved with other runs and after global
    random state was changed, gives the same results."""
    first_order = [run(scenario, policy="random", seed=1), run(scenario, policy="least_loaded", seed=2)]
    np.random.seed(12345)
    random.seed(12345)
    other = parse_scenario(multi_node_raw(max_jobs=50), source="other")
    run(other, policy="random", seed=1)
    second = run(scenario, policy="least_loaded", seed=2)
    np.random.seed(999)
    random.seed(999)
    first = run(scenario, policy="random", seed=1)
    assert_same_run(first_order[0], first)
    assert_same_run(first_order[1], second)
