"""Grid expansion: derived parameters, filters, seeds (common random numbers) and run keys."""

from __future__ import annotations

import numpy as np
import pytest
from runner_support import EXPERIMENT, SCENARIO, write_experiment

from simulator.capacity import capacity_per_s, stream_counts
from simulator.config import load_scenario
from simulator.runner import ExperimentError, expand, load_experiment, replication_seed, run_key

pytestmark = pytest.mark.unit


def test_expansion_covers_every_combination_policy_and_replication(tmp_path):
    runs = expand(load_experiment(write_experiment(tmp_path)))
    assert len(runs) == 2 * 2 * 2 * 2 and len({run.key for run in runs}) == 16
    cells = {(run.factors["nodes.server.slots"], run.factors["load"], run.policy, run.replication) for run in runs}
    assert len(cells) == 16
    assert [run.replication for run in runs] == [0] * 8 + [1] * 8  # replication-major
    first = runs[0]
    assert first.config["policy"] == {"name": "random", "params": {}}
    assert runs[1].config["policy"] == {"name": "least_loaded", "params": {"tie_break": "lowest_index"}}
    assert first.config["simulation"] == {"max_jobs": 120, "seed": first.seed}


def test_derived_rate_is_a_fraction_of_capacity(tmp_path):
    runs = expand(load_experiment(write_experiment(tmp_path)))
    for run in runs:
        # capacity: server slots / 0.5 s + 1 slot of speed 0.5 / 0.5 s = 2 x slots + 1 jobs/s
        expected = run.factors["load"] * (2 * run.factors["nodes.server.slots"] + 1)
        assert run.derived["arrivals.users.rate_per_s"] == pytest.approx(expected)
        assert run.config["arrivals"]["users"]["rate_per_s"] == run.derived["arrivals.users.rate_per_s"]


def test_capacity_of_heterogeneous_nodes_and_stream_counts(write_scenario):
    scenario = load_scenario(write_scenario(SCENARIO))
    assert capacity_per_s(scenario) == pytest.approx(2 * 2 + 1)
    mmc = load_scenario("scenarios/validation/mmc.toml")
    assert capacity_per_s(mmc) == pytest.approx(4.0)
    demo = load_scenario("scenarios/demo_edge_cloud.toml")
    assert stream_counts(demo) == {"clips": 6}
    assert capacity_per_s(demo) > 100  # GPUs alone serve 8 slots / 0.075 s of work per job


def test_filters_and_policy_names(tmp_path):
    text = EXPERIMENT.replace('seed = 7', 'seed = 7\nfilters = ["load < 0.5 or policy != \'random\'"]')
    runs = expand(load_experiment(write_experiment(tmp_path, text)))
    assert len(runs) == 12
    assert not any(run.policy == "random" and run.factors["load"] == 0.6 for run in runs)


def test_filter_removing_everything_is_an_error(tmp_path):
    text = EXPERIMENT.replace('seed = 7', 'seed = 7\nfilters = ["load > 1"]')
    with pytest.raises(ExperimentError, match="the filters leave no run to do"):
        expand(load_experiment(write_experiment(tmp_path, text)))


def test_derived_expression_failing_at_expansion_names_the_combination(tmp_path):
    text = EXPERIMENT.replace('"load * capacity_per_s"', '"load / (nodes.server.slots - 1)"')
    with pytest.raises(ExperimentError) as raised:
        expand(load_experiment(write_experiment(tmp_path, text)))
    assert 'derived."arrivals.users.rate_per_s" with nodes.server.slots = 1, load = 0.3' in raised.value.problems[0]


def test_seeds_depend_on_root_seed_and_replication_only(tmp_path):
    runs = expand(load_experiment(write_experiment(tmp_path)))
    for replication in (0, 1):
        seeds = {run.seed for run in runs if run.replication == replication}
        assert seeds == {replication_seed(7, replication)}  # every combination and policy: common random numbers
    assert replication_seed(7, 0) != replication_seed(7, 1) != replication_seed(8, 1)
    assert replication_seed(7, 0) == int(np.random.SeedSequence([7, 0]).generate_state(1)[0])


def test_keys_are_stable_and_unchanged_runs_are_reused_after_an_edit(tmp_path):
    runs = expand(load_experiment(write_experiment(tmp_path)))
    again = expand(load_experiment(write_experiment(tmp_path)))
    assert [run.key for run in runs] == [run.key for run in again]
    first = runs[0]
    assert first.key == run_key(first.config, first.policy_name, first.policy_params, first.seed)
    assert run_key(first.config, first.policy_name, first.policy_params, first.seed + 1) != first.key
    edited = EXPERIMENT.replace("load = [0.3, 0.6]", "load = [0.3, 0.6, 0.9]").replace("replications = 2",
                                                                                      "replications = 3")
    bigger = expand(load_experiment(write_experiment(tmp_path, edited)))
    assert len(bigger) == 2 * 3 * 2 * 3
    assert {run.key for run in runs} < {run.key for run in bigger}


def test_quick_and_replication_overrides_change_the_grid(tmp_path):
    spec = load_experiment(write_experiment(tmp_path))
    quick = expand(spec.with_quick())
    assert len(quick) == 16 and quick[0].config["simulation"]["max_jobs"] == 120  # [quick] max_jobs 200 > 120
    assert len(expand(spec.with_replications(1))) == 8
