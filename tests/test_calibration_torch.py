"""A small real calibration on the CPU: a tiny transformers model measured by the harness, written as a
profile and used by a simulation. Runs only where torch and transformers are installed (the calibrate extra)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import load_scenario, run
from simulator.calibration import TimingPlan, read_profile, write_profile

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from simulator.calibration.harness import calibrate, environment  # noqa: E402
from simulator.calibration.zoo import RECIPES  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_tiny_model_is_measured_and_its_profile_drives_a_simulation(tmp_path: Path) -> None:
    rows = calibrate([RECIPES["tiny-bert"]], device="cpu", batch_sizes=(1, 2), threads=1,
                     plan=TimingPlan(warmup_reps=2, min_reps=5, max_reps=20, max_time_s=0.5), device_kind="cpu")
    assert [row.batch_size for row in rows] == [1, 2]
    for row in rows:
        assert row.model == "tiny-bert" and row.device == "cpu" and row.dtype == "float32"
        assert 5 <= row.n_reps == len(row.samples_s) <= 20
        assert 0 < row.min_s <= row.p50_s <= row.p99_s <= row.max_s
        assert row.mean_s > 0 and row.std_s >= 0
        assert row.weights_bytes > 0 and row.load_time_s > 0
        assert row.input_bytes == row.batch_size * 16 * 8 * 2  # input ids and attention mask, int64
        assert row.output_bytes == row.batch_size * 32 * 4  # pooled embedding, float32
        assert row.torch_version == torch.__version__ and row.threads == "1" and row.date
    path = write_profile(tmp_path / "tiny.csv", rows)
    assert read_profile(path).curve("tiny-bert", "cpu").batch_sizes == (1, 2)
    scenario_path = tmp_path / "scenario.toml"
    scenario_path.write_text("""
[simulation]
max_jobs = 100
[nodes.server]
kind = "cpu"
max_batch_size = 2
[models.tiny-bert]
profile = "tiny.csv"
[applications.app.stages.only]
model = "tiny-bert"
[arrivals.users]
application = "app"
process = "poisson"
rate_per_s = 50.0
""")
    result = run(load_scenario(scenario_path))
    assert result.summary["jobs_completed"] == 100


def test_environment_names_the_device_and_versions() -> None:
    env = environment("cpu")
    assert env["device"] == "cpu" and env["torch_version"] == torch.__version__
    assert env["device_name"] and env["driver"] and env["date"].endswith("Z")
