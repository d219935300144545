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
