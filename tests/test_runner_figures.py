"""The figures of a sweep fit a notebook: importing them leaves matplotlib's backend alone, and every plotting
function draws onto the axes it is given (or pyplot's current ones) and returns them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT
from matplotlib.figure import Figure
from runner_support import write_experiment

from simulator.runner import load_results, run_sweep, summarize
from simulator.runner.figures import (
    plot_metric_vs_factor,
    plot_policy_ranking,
    plot_response_cdf,
    plot_utilization_heatmap,
)

pytestmark = pytest.mark.unit

PROBE = """
import json, sys
import matplotlib
before = dict.__getitem__(matplotlib.rcParams, "backend")
import simulator.runner.figures
after = dict.__getitem__(matplotlib.rcParams, "backend")
print(json.dumps({"same": after is before or after == before, "after": str(after),
                  "pyplot": "matplotlib.pyplot" in sys.modules}))
"""


def test_importing_the_figures_leaves_the_backend_alone():
    """A library module must not call matplotlib.use(): a notebook's inline backend would be replaced."""
    completed = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                               timeout=120, check=True)
    probe = json.loads(completed.stdout.strip().splitlines()[-1])
    assert probe["same"], f"importing simulator.runner.figures set the backend to {probe['after']}"
    assert not probe["pyplot"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    directory = tmp_path_factory.mktemp("figures")
    run_sweep(write_experiment(directory), out=directory / "results", progress=False)
    results = load_results(directory / "results")
    return results, summarize(results)


def _drawings(results, summary):
    """Each plotting function with its arguments, and what it must have drawn on the axes."""
    return {
        "metric vs factor": (lambda ax: plot_metric_vs_factor(results, summary, "response_time_mean_s", "load",
                                                               where={"nodes.server.slots": 2}, ax=ax),
                             lambda ax: len(ax.lines) == 2 and len(ax.collections) == 2),
        "metric per policy": (lambda ax: plot_metric_vs_factor(results, summary, "throughput_per_s", ax=ax),
                              lambda ax: len(ax.patches) == 2),
        "response cdf": (lambda ax: plot_response_cdf(results, where={"load": 0.6}, ax=ax),
                         lambda ax: len(ax.lines) == 2 and "load=0.6" in ax.get_title()),
        "utilization": (lambda ax: plot_utilization_heatmap(results, where={"load": 0.3}, ax=ax),
                        lambda ax: len(ax.images) == 1 and ax.images[0].get_array().shape == (2, 2)),
        "ranking": (lambda ax: plot_policy_ranking(results, summary, "response_time_mean_s", ax=ax),
                    lambda ax: len(ax.patches) == 2),
    }


@pytest.mark.parametrize("name", ["metric vs factor", "metric per policy", "response cdf", "utilization", "ranking"])
def test_each_plot_draws_onto_the_given_axes_and_returns_them(swept, name):
    draw, drew = _drawings(*swept)[name]
    figure = Figure()
    ax, other = figure.subplots(1, 2)
    assert draw(ax) is ax
    assert drew(ax), f"{name}: nothing (or the wrong thing) drawn"
    assert not (other.lines or other.patches or other.images or other.collections)


def test_without_axes_a_plot_draws_on_pyplots_current_axes(swept):
    import matplotlib.pyplot as plt

    figure = plt.figure()
    try:
        assert plot_policy_ranking(*swept, "response_time_mean_s") is figure.gca()
    finally:
        plt.close(figure)
