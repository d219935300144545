"""Issue 12's benchmarks: the agent-against-best-heuristic comparison, the seeds kept apart, and the figure and
table scripts on the committed results (experiments/rl/results/)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from scipy import stats

sys.path.insert(0, str(ROOT / "experiments" / "rl"))
from suite import AGENT, BENCHMARKS, compare_with_best, read_evaluation

pytestmark = pytest.mark.examples


def test_comparison_is_the_paired_t_interval_against_the_heuristic_with_the_lowest_mean():
    """The difference agent - best heuristic per seed, and its 95 % t-interval (reference: scipy.stats.t)."""
    frame = pd.DataFrame({"policy": ["a"] * 3 + ["b"] * 3 + [AGENT] * 3, "seed": [1, 2, 3] * 3,
                          "response_time_mean_s": [10, 12, 14, 8, 9, 13, 7, 8, 10]})
    comparison = compare_with_best(frame)
    difference = np.array([7 - 8, 8 - 9, 10 - 13], dtype=float)
    low, high = stats.t.interval(0.95, 2, loc=difference.mean(), scale=stats.sem(difference))
    assert comparison.best_heuristic == "b" and comparison.n_seeds == 3
    assert comparison.heuristic_mean == pytest.approx(10.0) and comparison.agent_mean == pytest.approx(25 / 3)
    assert (comparison.difference_mean, comparison.difference_low, comparison.difference_high) == pytest.approx(
        (difference.mean(), low, high))
    assert comparison.relative_mean == pytest.approx(difference.mean() / 10.0)
    assert not comparison.beats_every_heuristic  # the interval reaches above zero with three seeds
    better = frame.assign(response_time_mean_s=[10, 12, 14, 8, 9, 13, 6, 7, 11])
    assert compare_with_best(better).beats_every_heuristic  # differences -2, -2, -2: no spread, all below zero
    assert compare_with_best(frame[frame["policy"] != AGENT]) is None


def test_evaluation_seeds_are_never_training_seeds():
    """Held-out seeds lie outside the range training episodes draw from (the trainer's own check accepts them)."""
    pytest.importorskip("torch")
    from simulator.rl.agents import TRAINING_SEEDS, check_evaluation_seeds

    for item in BENCHMARKS:
        assert len(item.evaluation_seeds) >= 10
        assert not set(item.evaluation_seeds) & set(range(1, 6))  # the scenarios' design seeds
        check_evaluation_seeds(item.evaluation_seeds)
        assert all(seed not in TRAINING_SEEDS for seed in item.evaluation_seeds)


def run_figure_script(name: str, out):
    path = ROOT / "experiments" / "figures" / name
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"rl_figure_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(out)]) == 0


def test_figure_and_table_scripts_read_the_committed_results(tmp_path):
    """Every shipped benchmark has committed results, and the scripts draw them without training anything."""
    evaluations = {item.name: read_evaluation(item) for item in BENCHMARKS}
    assert all(frame is not None for frame in evaluations.values()), "run experiments/rl/benchmark.py"
    for item in BENCHMARKS:
        frame = evaluations[item.name]
        assert set(frame["policy"]) == {AGENT, *item.policies}
        assert sorted(frame["seed"].unique()) == sorted(item.evaluation_seeds)
        assert item.agent_path.exists() and item.learning_curve_csv.exists()
    run_figure_script("table_rl.py", tmp_path)
    run_figure_script("fig_rl_learning.py", tmp_path)
    table = (tmp_path / "rl_table.tex").read_text()
    assert r"\begin{tabular}" in table and "DRL agent" in table
    assert all(item.title in table for item in BENCHMARKS)
    assert (tmp_path / "rl_learning_curves.pdf").stat().st_size > 10_000


def test_benchmark_script_trains_evaluates_and_writes_the_files_the_figures_read(tmp_path, capsys):
    """``benchmark.py --quick``: a tiny training, the agent and every heuristic on two held-out seeds, the files;
    a second call loads the agent instead of training again, keeps the heuristics' runs and gets the same rows."""
    pytest.importorskip("sb3_contrib")
    spec = importlib.util.spec_from_file_location("rl_benchmark", ROOT / "experiments" / "rl" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    arguments = ["--quick", "--only", "wan_offload", "--results", str(tmp_path), "--agents", str(tmp_path)]
    assert module.main(arguments) == 0
    item = next(item for item in BENCHMARKS if item.name == "wan_offload")
    folder = tmp_path / item.name
    evaluation = pd.read_csv(folder / "evaluation.csv")
    assert set(evaluation["policy"]) == {AGENT, *item.policies}
    assert sorted(evaluation["seed"].unique()) == list(item.evaluation_seeds[:2])
    assert (evaluation["jobs_completed"] > 0).all()
    curve = pd.read_csv(folder / "learning_curve.csv")
    assert list(curve.columns[:2]) == ["timesteps", "episodes"] and len(curve) > 0
    assert set(pd.read_csv(folder / "training_reference.csv")["policy"]) == set(item.policies)
    assert (tmp_path / "wan_offload.zip").exists() and "training" in capsys.readouterr().out
    stored = evaluation.set_index(["policy", "seed"])
    assert module.main(arguments) == 0
    assert "loaded" in capsys.readouterr().out
    again = pd.read_csv(folder / "evaluation.csv").set_index(["policy", "seed"])
    assert again.index.equals(stored.index) and again["response_time_mean_s"].equals(stored["response_time_mean_s"])
    with pytest.raises(SystemExit):  # --quick refuses to overwrite the committed results
        module.main(["--quick", "--only", "wan_offload"])
