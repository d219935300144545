"""Tiny scenarios and experiment files shared by the runner's tests (each run takes milliseconds)."""

from __future__ import annotations

from pathlib import Path

SCENARIO = """
[simulation]
max_jobs = 100
seed = 3

[nodes.server]
kind = "cpu"
slots = 2

[nodes.small]
kind = "cpu"
slots = 1
speed = 0.5

[models.m.devices.cpu]
mean_s = 0.5

[applications.app.stages.only]
model = "m"

[arrivals.users]
application = "app"
process = "poisson"
rate_per_s = 1.0
"""

EXPERIMENT = """
[experiment]
name = "tiny"
scenario = "scenario.toml"
replications = 2
seed = 7

[set]
"simulation.max_jobs" = 120

[factors]
"nodes.server.slots" = [1, 2]
load = [0.3, 0.6]

[derived]
"arrivals.users.rate_per_s" = "load * capacity_per_s"

[[policies]]
name = "random"

[[policies]]
name = "least_loaded"
params = { tie_break = "lowest_index" }
"""
"""2 slot levels x 2 loads x 2 policies x 2 replications = 16 runs."""


def write_experiment(directory: Path, experiment: str = EXPERIMENT, scenario: str = SCENARIO,
                     name: str = "tiny.toml") -> Path:
    """Write the scenario (scenario.toml) and the experiment into ``directory``; returns the experiment path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "scenario.toml").write_text(scenario)
    path = directory / name
    path.write_text(experiment)
    return path


def write_json_store(experiment: Path, root: Path) -> None:
    """Run an experiment serially into the older JSON store layout (``store.json``, ``manifest.json``,
    ``runs/<key>.json``, as allocsim wrote it before the SQLite store), for the migration tests."""
    import json

    from simulator import __version__
    from simulator.runner import STORE_FORMAT, execute_run, plan
    from simulator.runner.sweeps import manifest_for

    spec, runs = plan(experiment)
    (root / "runs").mkdir(parents=True)
    (root / "store.json").write_text(json.dumps({"format": STORE_FORMAT, "package": "allocsim",
                                                 "package_version": __version__, "experiment": spec.name}))
    (root / "manifest.json").write_text(json.dumps(manifest_for(spec, runs), default=str))
    for run in {run.key: run for run in runs}.values():
        (root / "runs" / f"{run.key}.json").write_text(json.dumps(execute_run(run), indent=1, default=str))
