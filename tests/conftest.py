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
