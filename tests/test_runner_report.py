"""Reports (mean and t-interval per cell, CSV and Parquet) and the standard figures of a sweep."""

from __future__ import annotations

import contextlib
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
from runner_support import write_experiment
from scipy import stats

from simulator.cli import main
from simulator.runner import Results, load_results, run_sweep, summarize, t_interval

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("report")
    run_sweep(write_experiment(directory), out=directory / "results", progress=False)
    return directory / "results"


def test_t_interval_by_hand():
    mean, low, high = t_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2  # t_{0.975, 3} x s / sqrt(n)
    assert mean == 2.5 and low == pytest.approx(2.5 - half) and high == pytest.approx(2.5 + half)
    assert t_interval([5.0, 5.0, 5.0]) == (5.0, 5.0, 5.0)
    one = t_interval([3.0, float("nan")])
    assert one[0] == 3.0 and math.isnan(one[1]) and math.isnan(one[2])
    assert all(math.isnan(v) for v in t_interval([]))


def test_summary_has_one_row_per_cell_with_scipy_intervals(results_dir):
    results = load_results(results_dir)
    summary = summarize(results)
    assert len(summary) == 8 and (summary["replications"] == 2).all() and (summary["failed"] == 0).all()
    row = summary.iloc[0]
    cell = results.runs[(results.runs["nodes.server.slots"] == row["nodes.server.slots"])
                        & (results.runs["load"] == row["load"]) & (results.runs["policy"] == row["policy"])]
    values = cell["response_time_mean_s"].to_numpy()
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert row["response_time_mean_s_mean"] == pytest.approx(values.mean())
    assert row["response_time_mean_s_ci_low"] == pytest.approx(low)
    assert row["response_time_mean_s_ci_high"] == pytest.approx(high)
    assert np.isclose(summary["arrivals.users.rate_per_s"], summary["load"] * (2 * summary["nodes.server.slots"] + 1)
                      ).all()


def test_summary_of_every_cell_leaves_out_failed_and_missing_runs(tmp_path):
    """All cells at once, against ``scipy.stats.t.interval`` per cell: failed runs (whose metrics are kept
    in the table) and missing runs are counted, not averaged; NaN values are left out; a factor whose levels
    are lists is grouped by its JSON text; cells come in the order of the runs."""
    rng = np.random.default_rng(5)
    shapes = [[1, 2], [3]]
    rows = [{"key": f"k{i}", "status": "ok", "shape": shapes[i % 2], "load": [0.5, 0.9][(i // 2) % 2],
             "policy": ["b", "a"][(i // 4) % 2], "replication": i // 8, "response_s": float(rng.exponential()),
             "jobs": int(rng.integers(10, 20))} for i in range(40)]
    rows[0]["status"] = "failed"
    rows[9].update(status="missing", response_s=math.nan, jobs=None)
    rows[17]["response_s"] = math.nan
    manifest = {"experiment": "hand-made", "factors": [{"name": "shape", "levels": shapes},
                                                       {"name": "load", "levels": [0.5, 0.9]}], "policies": ["b", "a"]}
    results = Results(tmp_path, manifest, pd.DataFrame(rows))
    summary = summarize(results, ["response_s", "jobs", "absent"], confidence=0.9)
    runs = results.runs.assign(shape=results.runs["shape"].map(str))
    cells = runs[["shape", "load", "policy"]].drop_duplicates()
    assert summary[["load", "policy"]].to_numpy().tolist() == cells[["load", "policy"]].to_numpy().tolist()
    assert list(summary["shape"]) == ["[1, 2]", "[3]"] * 4
    assert summary["failed"].sum() == 1 and summary["missing"].sum() == 1 and summary["replications"].sum() == 38
    for (_, row), (_, cell) in zip(summary.iterrows(), cells.iterrows(), strict=True):
        group = runs[(runs["shape"] == cell["shape"]) & (runs["load"] == cell["load"])
                     & (runs["policy"] == cell["policy"])]
        ok = group[group["status"] == "ok"]
        assert row["replications"] == len(ok) and row["failed"] + row["missing"] == len(group) - len(ok)
        for metric in ("response_s", "jobs"):
            values = ok[metric].dropna().to_numpy(dtype=float)
            low, high = stats.t.interval(0.9, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
            assert row[f"{metric}_mean"] == pytest.approx(values.mean(), rel=1e-12)
            assert row[f"{metric}_ci_low"] == pytest.approx(low, rel=1e-12)
            assert row[f"{metric}_ci_high"] == pytest.approx(high, rel=1e-12)
        assert math.isnan(row["absent_mean"]) and math.isnan(row["absent_ci_low"])


def test_report_command_prints_and_writes_csv_and_parquet(results_dir, tmp_path, capsys):
    assert main(["report", str(results_dir), "--out", str(tmp_path),
                 "--metrics", "response_time_mean_s,throughput_per_s"]) == 0
    output = capsys.readouterr().out
    assert "16 runs (16 ok, 0 failed, 0 missing)" in output and "least_loaded" in output and "±" in output
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 8 and "throughput_per_s_ci_high" in summary.columns
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "summary.parquet"), summary, check_dtype=False)
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    assert len(runs) == 16 and {"seed", "policy.tie_break", "load"} <= set(runs.columns)
    assert main(["report", str(results_dir), "--metrics", "nonsense"]) == 2
    assert "unknown metric(s) nonsense" in capsys.readouterr().err


def test_report_lists_missing_runs(results_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(results_dir, copy)
    with contextlib.closing(sqlite3.connect(copy / "store.sqlite")) as database, database:
        database.execute("DELETE FROM runs WHERE key IN (SELECT key FROM grid ORDER BY position LIMIT 3)")
    assert main(["report", str(copy)]) == 0
    assert "3 runs are missing" in capsys.readouterr().out


def test_figures_command_draws_the_standard_figures(results_dir, tmp_path, capsys):
    assert main(["figures", str(results_dir), "--out", str(tmp_path), "--x", "load"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["metrics_vs_load.png", "policy_ranking.png", "response_cdf.png", "utilization_heatmap.png"]
    assert all((tmp_path / name).stat().st_size > 10_000 for name in names)
    assert main(["figures", str(results_dir), "--x", "nope", "--out", str(tmp_path)]) == 2
    assert "--x 'nope' is not a factor" in capsys.readouterr().err
