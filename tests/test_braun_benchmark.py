"""A quick end-to-end run of experiments/braun_benchmark.py (2 instances, 1 seed, a fraction of a second)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "braun_benchmark.py"


@pytest.mark.examples
def test_quick_benchmark_writes_tables_and_figure(tmp_path: Path) -> None:
    """Reference: the script's documented outputs; Min-min on u_c_hihi.0 must equal the published 8460675.0
    and every makespan must lie above the LP bound."""
    spec = importlib.util.spec_from_file_location("braun_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status = module.main(["--quick", "--seeds", "1", "--time-limit", "0.3", "--out", str(tmp_path)])
    assert status == 0
    for name in ("runs.csv", "convergence.csv", "summary.csv", "summary.md", "convergence.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs["instance"]) == {"u_c_hihi.0", "u_i_lolo.0"}
    assert {"min_min", "sufferage", "sufferage_batch", "ga", "pso"} <= set(runs["algorithm"])
    assert (runs["gap_to_lp"] >= -1e-9).all()
    min_min = runs[(runs["instance"] == "u_c_hihi.0") & (runs["algorithm"] == "min_min")]["makespan_s"].item()
    assert min_min == pytest.approx(8460675.0, abs=0.01)
    report = (tmp_path / "summary.md").read_text()
    assert "time limit 0.3 s per run" in report and "| u_c_hihi.0 |" in report
