"""Experiment files: parsing, and a clear message naming file and field for every mistake (exit status 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT
from runner_support import EXPERIMENT, write_experiment

from simulator.cli import main
from simulator.errors import UserInputError
from simulator.runner import ExperimentError, load_experiment
from simulator.runner.expressions import ExpressionError, compile_expression

pytestmark = pytest.mark.unit


def test_parses_factors_policies_and_quick(tmp_path):
    text = EXPERIMENT + """
[[policies]]
name = "round_robin"
label = "rr"
grid = { }

[quick]
replications = 1
max_jobs = 30
set = { "simulation.warmup_s" = 1.0 }
"""
    spec = load_experiment(write_experiment(tmp_path, text))
    assert spec.name == "tiny" and spec.replications == 2 and spec.seed == 7
    assert [(f.name, f.levels) for f in spec.factors] == [("nodes.server.slots", (1, 2)), ("load", (0.3, 0.6))]
    assert spec.free_factors == ("load",)
    assert [p.label for p in spec.policies] == ["random", "least_loaded", "rr"]
    assert spec.policies[1].params == {"tie_break": "lowest_index"}
    assert spec.base_config["simulation"]["max_jobs"] == 120
    quick = spec.with_quick()
    assert quick.replications == 1 and quick.is_quick
    assert quick.base_config["simulation"] == {"max_jobs": 30, "seed": 3, "warmup_s": 1.0}
    assert spec.with_replications(5).replications == 5


def test_policy_parameter_grid_expands_into_labelled_variants(tmp_path):
    text = EXPERIMENT.replace('params = { tie_break = "lowest_index" }',
                              'grid = { tie_break = ["lowest_index", "random"] }')
    spec = load_experiment(write_experiment(tmp_path, text))
    assert [p.label for p in spec.policies] == ["random", "least_loaded(tie_break=lowest_index)",
                                                "least_loaded(tie_break=random)"]


def test_bare_dotted_keys_are_paths(tmp_path):
    text = EXPERIMENT.replace('"nodes.server.slots" = [1, 2]', "nodes.server.slots = [1, 2]")
    spec = load_experiment(write_experiment(tmp_path, text))
    assert spec.factors[0].name == "nodes.server.slots"


@pytest.mark.parametrize("old, new, message", [
    ('"nodes.server.slots" = [1, 2]', '"nodes.sever.slots" = [1, 2]',
     "unknown factor path 'nodes.sever.slots': scenario.toml has no table nodes.sever (nodes has: server, small)"),
    ('"nodes.server.slots" = [1, 2]', '"nodes.server.slot" = [1, 2]',
     "unknown factor path 'nodes.server.slot': no such field in scenario.toml; allowed there: kind, slots"),
    ('"nodes.server.slots" = [1, 2]', '"workload.arrival_rate" = [1, 2]',
     "unknown factor path 'workload.arrival_rate': a scenario has no section 'workload'"),
    ('"nodes.server.slots" = [1, 2]', '"nodes.server.slots" = []',
     'factors."nodes.server.slots" must be a non-empty list of levels, got []'),
    ('"nodes.server.slots" = [1, 2]', '"nodes.server.slots" = 4',
     'factors."nodes.server.slots" must be a non-empty list of levels, got 4'),
    ('"nodes.server.slots" = [1, 2]', '"nodes.server.slots" = [1, 1]', "repeats a level"),
    ('"nodes.server.slots" = [1, 2]', '"policy.params.tie_break" = ["random"]', "are chosen in [[policies]]"),
    ('name = "random"', 'name = "fastest"', "policies[0].name unknown policy 'fastest'; known policies:"),
    ('params = { tie_break = "lowest_index" }', 'params = { tie = "x" }',
     "policies[1].params unknown parameter 'tie' for policy 'least_loaded'"),
    ("replications = 2", "replications = 0", "experiment.replications must be a positive integer, got 0"),
    ("seed = 7", "seed = -1", "experiment.seed must be an integer >= 0"),
    ('scenario = "scenario.toml"', 'scenario = "missing.toml"', "experiment.scenario no such scenario file"),
    ("[set]", "[sett]", "sett is not a known section; allowed: experiment, set, factors"),
    ('"load * capacity_per_s"', '"lod * capacity_per_s"', "uses unknown name(s) 'lod'"),
    ('"load * capacity_per_s"', '"__import__(\'os\')"', "only these functions may be called"),
    ('"load * capacity_per_s"', '"load *"', "is not a valid expression"),
])
def test_bad_experiment_is_reported_with_file_and_field(tmp_path, old, new, message):
    assert old in EXPERIMENT
    path = write_experiment(tmp_path, EXPERIMENT.replace(old, new, 1))
    with pytest.raises(ExperimentError) as raised:
        load_experiment(path)
    assert isinstance(raised.value, UserInputError)
    assert any(message in problem for problem in raised.value.problems), raised.value.problems
    assert all(problem.startswith(str(path)) for problem in raised.value.problems)


def test_a_level_invalid_for_the_scenario_is_reported_before_any_run(tmp_path, capsys):
    path = write_experiment(tmp_path, EXPERIMENT.replace("[1, 2]", "[1, 0]"))
    out = tmp_path / "results"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "with nodes.server.slots = 0, load = 0.3" in error
    assert "scenario.toml: nodes.server.slots must be" in error and "got 0" in error
    assert not out.exists()


def test_cli_bad_experiment_exits_2_without_traceback(tmp_path):
    path = write_experiment(tmp_path, EXPERIMENT.replace('"nodes.server.slots"', '"nodes.server.sluts"'))
    completed = subprocess.run([sys.executable, "-m", "simulator", "sweep", str(path)], capture_output=True,
                               text=True, cwd=ROOT)
    assert completed.returncode == 2
    assert "unknown factor path 'nodes.server.sluts'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_missing_experiment_file_and_bad_options(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml")]) == 2
    assert "no such experiment file" in capsys.readouterr().err
    path = write_experiment(tmp_path)
    assert main(["sweep", str(path), "--scheduler", "tcp://x:1", "--out", str(tmp_path / "r")]) == 2
    assert "--scheduler is for --executor dask" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        main(["sweep", str(path), "--workers", "0"])
    assert raised.value.code == 2


@pytest.mark.parametrize("text", ["a.b()", "[x for x in y]", "lambda: 1", "x[0]", "f(a=1)", "'a' @ 'b'"])
def test_expression_language_rejects_everything_else(text):
    with pytest.raises(ExpressionError):
        compile_expression(text)


def test_expression_evaluation():
    expression = compile_expression("min(load * 2, 1) if nodes.server.slots > 1 else -load", frozenset())
    assert expression.names == {"load"} and expression.paths == {"nodes.server.slots"}
    values = {"load": 0.7}
    assert expression.evaluate(values.__getitem__, lambda path: 2) == 1
    assert expression.evaluate(values.__getitem__, lambda path: 1) == -0.7
    with pytest.raises(ExpressionError, match="division by zero"):
        compile_expression("1 / 0").evaluate(values.__getitem__, lambda path: 0)
