"""The shipped failure scenario and its sweep: the scenario validates and runs, nodes fail, work is retried and
the stability metric agrees with the jobs table; the experiment file expands into its grid; the figure script
draws from a small sweep of it."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys

import pytest
from conftest import ROOT, SCENARIOS

from simulator import load_scenario, run
from simulator.runner import expand, load_experiment, run_sweep

pytestmark = pytest.mark.examples

SCENARIO = SCENARIOS / "failures_edge.toml"
EXPERIMENT = ROOT / "experiments" / "failures_sweep.toml"
MTBF = "nodes.edge.failures.time_to_failure.mean_s"


@pytest.fixture(scope="module")
def result():
    return run(load_scenario(SCENARIO))


def test_the_scenario_validates():
    completed = subprocess.run([sys.executable, "-m", "simulator", "validate", str(SCENARIO)], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr


def test_the_scenario_is_dynamic_with_the_failures_it_describes():
    scenario = load_scenario(SCENARIO)
    assert scenario.is_dynamic
    failing = {node for process in scenario.failures for node in process.nodes}
    assert failing == {"edge-0", "edge-1", "edge-2"}  # the cameras and the cloud never fail
    assert any(process.links for process in scenario.failures)  # the WAN does
    assert [outage.nodes for outage in scenario.outages] == [("edge-1",)]
    assert scenario.recovery.on_failure == "redispatch" and scenario.recovery.max_retries == 3
    assert scenario.simulation.horizon_s == 1200.0


def test_nodes_fail_and_lost_work_is_retried(result):
    summary = result.summary
    assert summary["node_failures"] >= 1
    assert summary["retries"] >= 1
    assert (result.tasks["state"] == "failed").sum() >= 1  # the attempts lost to a failure are rows of their own
    assert (result.nodes["availability"] < 1).any()


def test_stability_is_a_fraction_consistent_with_the_jobs_table(result):
    """stability = 1 - (failed + abandoned) / arrived and completion_rate = completed / arrived
    (docs/dynamics.md), over the jobs measured after the warm-up."""
    jobs = result.jobs
    measured = jobs[jobs["arrival_s"] >= result.scenario.simulation.warmup_s]
    states = measured["state"].value_counts()
    summary = result.summary
    assert summary["jobs_failed"] == states.get("failed", 0)
    assert summary["jobs_abandoned"] == states.get("abandoned", 0)
    lost = states.get("failed", 0) + states.get("abandoned", 0)
    assert 0 < summary["stability"] <= 1
    assert summary["stability"] == pytest.approx(1 - lost / len(measured))
    assert summary["completion_rate"] == pytest.approx(states.get("finished", 0) / len(measured))


def test_the_sweep_expands_into_mtbf_levels_times_recovery_variants_times_policies():
    spec = load_experiment(EXPERIMENT)
    runs = expand(spec)
    levels = {factor.name: factor.levels for factor in spec.factors}
    assert len(levels[MTBF]) >= 4 and list(levels[MTBF]) == sorted(levels[MTBF])
    assert set(levels["recovery_variant"]) == {"none", "retries", "rebalancing", "stealing"}
    assert {"least_loaded", "min_completion_time", "round_robin"} <= {policy.name for policy in spec.policies}
    assert spec.replications >= 3
    assert len(runs) == len(levels[MTBF]) * 4 * len(spec.policies) * spec.replications
    switches = {(run.factors["recovery_variant"], run.config["recovery"]["max_retries"],
                 run.config["rebalancing"]["trigger"], run.config["work_stealing"]["enabled"]) for run in runs}
    assert switches == {("none", 0, "off", False), ("retries", 3, "off", False),
                        ("rebalancing", 3, "threshold", False), ("stealing", 3, "off", True)}


def test_the_figure_script_draws_stability_and_p95_from_a_small_sweep(tmp_path):
    spec = load_experiment(EXPERIMENT)
    factors = tuple(dataclasses.replace(factor, levels=factor.levels[:2]) if factor.name == MTBF else factor
                    for factor in spec.factors)
    small = dataclasses.replace(spec, factors=factors, policies=spec.policies[:2]).with_quick()
    outcome = run_sweep(small, out=tmp_path / "results" / "quick" / "failures_sweep", progress=False)
    assert not outcome.failed
    path = ROOT / "experiments" / "figures" / "fig_failures.py"
    sys.path.insert(0, str(path.parent))
    try:
        module_spec = importlib.util.spec_from_file_location("fig_failures", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        assert module.main(["--quick", "--results", str(tmp_path / "results"), "--out", str(tmp_path)]) == 0
    finally:
        sys.path.remove(str(path.parent))
    assert (tmp_path / "failures_mtbf.pdf").stat().st_size > 1000
