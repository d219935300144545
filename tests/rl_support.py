"""Scenarios and helpers shared by the training, evaluation and ``drl`` tests (the extra [rl])."""

from __future__ import annotations

from pathlib import Path

TINY = """
# Three servers, one clearly better: a job takes 1 s on average on "fast" and 10 s on either slow one. Arrivals
# at 0.5 per second load the fast server to 0.5, while a slow one sent a third of the jobs is overloaded (1.67).
[scenario]
name = "tiny_one_fast"

[simulation]
max_jobs = 40
seed = 1

[policy]
name = "random"

[nodes.fast]
kind = "server"

[nodes.slow]
kind = "server"
count = 2
speed = 0.1

[models.job.devices.server]
mean_s = 1.0

[applications.job.stages.serve]
model = "job"

[arrivals.jobs]
application = "job"
process = "poisson"
rate_per_s = 0.5
"""

FAKE_VIEW_SCENARIO = """
# The structure the contract battery's hand-made view (tests/test_policies_baselines.py, FakeView) describes:
# nodes a, b, c, d and one application "app" with one stage "s" of model "m".
[simulation]
max_jobs = 30

[nodes.a]
kind = "k"

[nodes.b]
kind = "k"
slots = 2

[nodes.c]
kind = "k"

[nodes.d]
kind = "k"

[models.m.devices.k]
mean_s = 1.0

[applications.app.stages.s]
model = "m"

[arrivals.users]
application = "app"
process = "poisson"
rate_per_s = 1.5
"""


def write(directory: Path, text: str, name: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path
