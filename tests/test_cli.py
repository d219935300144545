"""End-to-end tests of the command line: outputs, files written, and exit status 2 without traceback on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import MINIMAL, ROOT
from runner_support import write_experiment

from simulator.cli import main
from simulator.runner import load_results

pytestmark = pytest.mark.examples


def test_run_prints_summary_and_writes_tables(write_scenario, tmp_path, capsys):
    path = write_scenario(MINIMAL)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--seed", "7"]) == 0
    output = capsys.readouterr().out
    assert "response_time_mean_s" in output and "seed 7" in output
    tasks = pd.read_csv(tmp_path / "out" / "tasks.csv")
    assert len(tasks) == 50
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["simulation"]["seed"] == 7 and config["policy"]["name"] == "least_loaded"


def test_run_json_and_parquet(write_scenario, tmp_path, capsys):
    path = write_scenario(MINIMAL)
    assert main(["run", str(path), "--json", "--policy", "round_robin", "--out", str(tmp_path / "o"),
                 "--format", "parquet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["policy"] == "round_robin" and summary["jobs_completed"] == 50
    assert len(pd.read_parquet(tmp_path / "o" / "jobs.parquet")) == 50


def test_validate_ok_and_errors(write_scenario, capsys):
    assert main(["validate", str(write_scenario(MINIMAL))]) == 0
    assert "OK" in capsys.readouterr().out
    bad = write_scenario(MINIMAL.replace("slots = 2", "slots = 0").replace("rate_per_s = 1.0", "rate = 1"),
                         "bad.toml")
    assert main(["validate", str(bad)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) >= 2 and all(line.startswith(f"error: {bad}") for line in errors)


@pytest.mark.parametrize("arguments, message", [
    (["--policy", "nope"], "unknown policy 'nope'"),
    (["--set", "nodes.server.slots=-2"], "nodes.server.slots must be an integer in [1, 100000]"),
    (["--set", "broken"], "must look like dotted.key=value"),
])
def test_run_bad_input_exits_2_without_traceback(write_scenario, arguments, message):
    path = write_scenario(MINIMAL)
    completed = subprocess.run([sys.executable, "-m", "simulator", "run", str(path), *arguments],
                               capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_policies_lists_every_registered_policy(capsys):
    from simulator.policies import POLICIES

    assert main(["policies", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {entry["name"] for entry in entries} == set(POLICIES)
    least_loaded = next(e for e in entries if e["name"] == "least_loaded")
    assert least_loaded["params"] == {"tie_break": "random"}


def test_demo_prints_table_and_writes_figures(tmp_path, capsys):
    """The demo is a sweep of the built-in experiment: its store, report tables and standard figures."""
    demo = ROOT / "scenarios" / "demo_edge_cloud.toml"
    assert main(["demo", str(demo), "--replications", "2", "--set", "simulation.max_jobs=200",
                 "--policies", "random,least_loaded", "--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert "least_loaded" in output and "resp mean" in output and "4 runs (4 ok, 0 failed, 0 missing)" in output
    figures = tmp_path / "figures"
    assert sorted(p.name for p in figures.iterdir()) == ["metrics_vs_policy.png", "policy_ranking.png",
                                                         "response_cdf.png", "utilization_heatmap.png"]
    assert all(path.stat().st_size > 10_000 for path in figures.iterdir())
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    assert len(runs) == 4 and set(runs["policy"]) == {"random", "least_loaded"}
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["policy"]) == ["random", "least_loaded"] and (summary["replications"] == 2).all()
    assert load_results(tmp_path).name == "demo"


def test_demo_by_scenario_name_reuses_finished_runs(tmp_path, monkeypatch, capsys):
    """A shipped scenario is found by name from any directory; the same command again runs nothing new."""
    monkeypatch.chdir(tmp_path)
    argv = ["demo", "demo_edge_cloud", "--replications", "2", "--set", "simulation.max_jobs=100",
            "--policies", "round_robin", "--out", "out"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "round_robin" in first and "reused" not in first
    assert main(argv) == 0
    assert "(reused 2 of 2 runs already stored in out)" in capsys.readouterr().out


def test_demo_unknown_policy_exits_2_before_running(tmp_path, capsys):
    assert main(["demo", "--policies", "random,nope", "--out", str(tmp_path / "out")]) == 2
    assert "--policies: unknown policy 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("logging")
    return write_experiment(directory), directory / "results"


def test_log_lines_go_to_stderr_and_q_silences_them(tiny_sweep, capsys):
    experiment, out = tiny_sweep
    assert main(["sweep", str(experiment), "--out", str(out)]) == 0
    default = capsys.readouterr().err
    assert "experiment tiny: 16 runs into" in default and "tiny: 16/16 runs, 0 failed" in default
    assert main(["sweep", str(experiment), "--out", str(out.with_name("quiet")), "-q"]) == 0  # after the command too
    assert capsys.readouterr().err == ""


def test_v_shows_debugging_details(tiny_sweep, tmp_path, capsys):
    experiment, out = tiny_sweep
    assert main(["-q", "sweep", str(experiment), "--out", str(out)]) == 0
    assert main(["-v", "figures", str(out), "--out", str(tmp_path)]) == 0
    assert f"debug: simulator.runner.figures: wrote {tmp_path / 'response_cdf.png'}" in capsys.readouterr().err
    assert main(["figures", str(out), "--out", str(tmp_path)]) == 0
    assert "debug" not in capsys.readouterr().err


def test_the_printed_summary_shows_the_dynamic_worlds_metrics_only_when_something_happened():
    """A static run would print only zeros and ones for failures and moves; once a node failed they are shown."""
    from simulator.cli import DYNAMICS_ORDER, SUMMARY_ORDER, format_summary

    summary = {key: 0 for key in SUMMARY_ORDER} | {key: 0 for key in DYNAMICS_ORDER}
    summary |= {"stability": 1.0, "utilization_by_node": {"a": 0.5}}
    assert "stability" not in format_summary(summary)
    printed = format_summary(summary | {"node_failures": 2, "stability": 0.75})
    assert "node_failures" in printed and "stability" in printed and "0.75" in printed


def test_validate_says_what_can_change_during_a_run(capsys):
    """The summary line of a dynamic scenario names its failure processes, recovery, outages and timeouts."""
    assert main(["validate", str(ROOT / "scenarios" / "failures_edge.toml")]) == 0
    line = capsys.readouterr().out
    assert "; 4 failure processes, on failure redispatch; 1 outages; job timeouts)" in line
