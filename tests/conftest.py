"""Shared fixtures: paths to the shipped scenarios and a helper writing scenario files."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write TOML text to a file in a temporary directory and return its path."""

    def write(text: str, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


MINIMAL = """
[simulation]
max_jobs = 50
seed = 3

[nodes.server]
kind = "cpu"
slots = 2

[models.m.devices.cpu]
mean_s = 0.5

[applications.app.stages.only]
model = "m"

[arrivals.users]
application = "app"
process = "poisson"
rate_per_s = 1.0
"""


@pytest.fixture(scope="session")
def drl_agents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Agents trained once per test session (the extra [rl]; skipped without it), by name:

    * ``tiny``: MaskablePPO, 3,000 steps on `rl_support.TINY` (one server ten times faster than the two others);
    * ``fake_view``: a few hundred steps on the structure of the contract battery's hand-made view;
    * ``demo``: a few hundred steps on the shipped demo (the battery runs every policy on it while nodes fail).

    Each directory also holds the scenario file the agent was trained on (``NAME.toml``).
    """
    pytest.importorskip("stable_baselines3")
    from rl_support import FAKE_VIEW_SCENARIO, TINY

    from simulator.config import load_scenario
    from simulator.rl.agents import train_agent

    directory = tmp_path_factory.mktemp("agents")
    (directory / "tiny.toml").write_text(TINY)
    (directory / "fake_view.toml").write_text(FAKE_VIEW_SCENARIO)
    (directory / "demo.toml").write_text((SCENARIOS / "demo_edge_cloud.toml").read_text())
    quick = {"n_steps": 128, "batch_size": 64}
    plans = {"tiny": ({}, 3000, None), "fake_view": ({}, 256, quick), "demo": ({"simulation.max_jobs": 30}, 256, quick)}
    agents = {}
    for name, (overrides, timesteps, hyperparameters) in plans.items():
        scenario = load_scenario(directory / f"{name}.toml", overrides)
        agents[name] = directory / f"{name}.zip"
        train_agent(scenario, "maskable_ppo", timesteps, seed=1, out=agents[name], progress=False,
                    learning_curve=directory / f"{name}.curve.csv", hyperparameters=hyperparameters)
    return agents
