"""The command line answers `--help`, `validate` and `policies` without importing the heavy libraries, and
`report` with pandas but without what it does not use.

Checked in a fresh interpreter (``sys.modules`` after the command): no optimiser (DEAP's operators,
pyswarms, scipy.optimize), no hypervolume indicator (pymoo), no pandas, no matplotlib, none of the extra [rl]
(torch, gymnasium, Stable-Baselines3: `policies` lists the `drl` policy without them). Only DEAP's small
``base`` module is loaded, because the GA and NSGA-II solvers subclass its ``Fitness`` to register their
parameters. A simulation run with a multi-objective batch policy does not import pymoo either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from runner_support import write_experiment

from simulator.runner import run_sweep

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("deap.tools", "pyswarms", "scipy.optimize", "pandas", "matplotlib", "pymoo", "torch", "gymnasium",
         "stable_baselines3", "sb3_contrib")
PROBE = """
import json, sys
from simulator.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["validate", "scenarios/demo_edge_cloud.toml"], ["policies"]])
def test_light_commands_import_no_heavy_library(argv):
    completed = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True,
                               timeout=120, check=False)
    modules = json.loads(completed.stderr.strip().splitlines()[-1])
    loaded = [name for name in HEAVY if name in modules]
    assert not loaded, f"{' '.join(argv)} imported {loaded}"


def test_report_imports_no_simulator_plotting_or_optimiser(tmp_path):
    """`report` reads a store into pandas and computes t-intervals: no SimPy, no matplotlib, and no
    scipy.stats, whose import (with scipy.optimize) took 0.75 s of a 100,000-run report."""
    run_sweep(write_experiment(tmp_path), out=tmp_path / "results", progress=False)
    completed = subprocess.run([sys.executable, "-c", PROBE, "report", str(tmp_path / "results"), "--out",
                                str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                               check=False)
    modules = json.loads(completed.stderr.strip().splitlines()[-1])
    assert (tmp_path / "out" / "runs.parquet").exists(), completed.stdout
    loaded = [name for name in ("simpy", "matplotlib", "scipy.stats", "scipy.optimize", "deap.tools", "pyswarms")
              if name in modules]
    assert not loaded, f"report imported {loaded}"


def test_a_run_with_a_multi_objective_batch_policy_imports_no_hypervolume_library():
    argv = ["run", "scenarios/demo_edge_cloud.toml", "--policy", "nsga2", "--set", 'policy.mode="batch"',
            "--set", "policy.params.max_generations=2", "--set", "policy.params.population_size=8",
            "--set", "simulation.max_jobs=20", "--set", "simulation.warmup_s=0",
            "--set", 'policy.params.pick_rule="weights"',
            "--set", "policy.params.pick_weights={energy=1}", "--set", 'policy.params.third_objective="energy"']
    completed = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True,
                               timeout=120, check=False)
    modules = json.loads(completed.stderr.strip().splitlines()[-1])
    assert "jobs_completed        20" in completed.stdout and "pymoo" not in modules
