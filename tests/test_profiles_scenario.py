"""Scenario files that take service times from calibrated profiles: validation, eligibility, runs, the shipped
calibrated scenario and the profile commands of the CLI. Hand-made profiles; no torch needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SCENARIOS

from simulator import ScenarioError, load_scenario, run
from simulator.cli import main
from simulator.config import EMPIRICAL
from simulator.costs import CostTable

pytestmark = pytest.mark.unit

PROFILE = """model,device_kind,dtype,batch_size,mean_s,weights_bytes,load_time_s,samples_s
net,cpu,float32,1,0.2,1000,0.5,0.1 0.2 0.3
net,cpu,float32,2,0.3,1000,0.5,0.2 0.3 0.4
net,cpu,float16,1,0.1,500,0.5,
net,gpu,float32,1,0.05,1000,0.1,
"""


def scenario_text(model_table: str, nodes: str = '[nodes.server]\nkind = "cpu"\n') -> str:
    return f"""
[simulation]
max_jobs = 200
seed = 3

{nodes}

{model_table}

[applications.app.stages.only]
model = "classify"

[arrivals.users]
application = "app"
process = "poisson"
rate_per_s = 2.0
"""


@pytest.fixture
def write(tmp_path: Path):
    (tmp_path / "net.csv").write_text(PROFILE)

    def write_scenario(model_table: str, nodes: str = '[nodes.server]\nkind = "cpu"\n') -> Path:
        path = tmp_path / "scenario.toml"
        path.write_text(scenario_text(model_table, nodes))
        return path

    return write_scenario


def test_a_model_takes_its_device_kinds_and_means_from_the_profile(write) -> None:
    scenario = load_scenario(write('[models.classify]\nprofile = "net.csv"\nprofile_model = "net"\n'))
    model = scenario.models["classify"]
    assert model.profile is not None and model.profile.model == "net" and model.profile.dtype == "float32"
    assert set(model.devices) == {"cpu", "gpu"}
    cpu = model.devices["cpu"]
    assert cpu.distribution == EMPIRICAL
    assert cpu.mean_s == pytest.approx(0.2)
    assert cpu.cv == pytest.approx(0.5)
    assert (cpu.memory_bytes, cpu.load_time_s) == (1000, 0.5)


def test_runs_draw_service_times_from_the_measured_samples(write) -> None:
    result = run(load_scenario(write('[models.classify]\nprofile = "net.csv"\nprofile_model = "net"\n')))
    service = result.tasks["service_s"].to_numpy()
    assert set(np.round(service, 9)) == {0.1, 0.2, 0.3}
    again = run(load_scenario(write('[models.classify]\nprofile = "net.csv"\nprofile_model = "net"\n')))
    assert np.array_equal(service, again.tasks["service_s"].to_numpy())


def test_dtype_selects_rows_and_memory_and_load_can_be_overridden(write) -> None:
    scenario = load_scenario(write('[models.classify]\nprofile = "net.csv"\nprofile_model = "net"\n'
                                   'dtype = "float16"\nmemory_bytes = 7\nload_time_s = 2.0\n'))
    devices = scenario.models["classify"].devices
    assert set(devices) == {"cpu"}
    assert devices["cpu"].mean_s == pytest.approx(0.1)
    assert (devices["cpu"].memory_bytes, devices["cpu"].load_time_s) == (7, 2.0)


def test_a_hand_given_cost_replaces_the_profile_for_its_kind(write) -> None:
    scenario = load_scenario(write('[models.classify]\nprofile = "net.csv"\nprofile_model = "net"\n'
                                   '[models.classify.devices.gpu]\nmean_s = 0.01\ndistribution = "deterministic"\n'
                                   '[models.classify.devices.edge]\nmean_s = 1.0\n'))
    devices = scenario.models["classify"].devices
    assert devices["cpu"].distribution == EMPIRICAL
    assert (devices["gpu"].mean_s, devices["gpu"].distribution) == (0.01, "deterministic")
    assert devices["edge"].mean_s == 1.0
    costs = CostTable(scenario.models)
    assert costs.max_batch_size("classify", "cpu") == 2
    assert costs.max_batch_size("classify", "gpu") == 1
    assert costs.batch_mean_s("classify", "cpu", 2) == pytest.approx(0.3)
    with pytest.raises(KeyError, match="no batch curve"):
        costs.batch_sampler("classify", "gpu", seed=1)


@pytest.mark.parametrize(("model_table", "message"), [
    ('[models.classify]\nprofile = "nope"\n', r"models\.classify\.profile unknown profile 'nope'; shipped profiles"),
    ('[models.classify]\nprofile = "absent.csv"\n', r"models\.classify\.profile .*absent\.csv: no such profile file"),
    ('[models.classify]\nprofile = "net.csv"\n',
     r"models\.classify\.profile profile .*net\.csv has no rows for model 'classify' in float32; it has: "
     r"net \(float16\), net \(float32\)"),
    ('[models.classify]\nprofile = "net.csv"\nprofile_model = "net"\ndtype = "bfloat16"\n',
     r"models\.classify\.profile_model .* no rows for model 'net' in bfloat16"),
    ('[models.classify]\ndtype = "float16"\n[models.classify.devices.cpu]\nmean_s = 1.0\n',
     r"models\.classify\.dtype needs profile"),
    ('[models.classify]\nprofile = "net.csv"\nprofile_model = "net"\ndtype = "int8"\n',
     r"models\.classify\.dtype must be one of"),
    ("[models.classify]\n", r"models\.classify\.devices must give .*or name a calibrated profile"),
])
def test_profile_mistakes_name_the_field(write, model_table: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(write(model_table))


def test_a_model_too_large_for_a_node_cannot_run_there(write) -> None:
    nodes = '[nodes.small]\nkind = "cpu"\nmemory_bytes = 999\n[nodes.big]\nkind = "cpu"\nmemory_bytes = 1000\n'
    scenario = load_scenario(write('[models.classify]\nprofile = "net.csv"\nprofile_model = "net"\n', nodes))
    result = run(scenario)
    assert set(result.tasks["node"]) == {"big"}
    nodes = '[nodes.small]\nkind = "cpu"\nmemory_bytes = 999\n'
    with pytest.raises(ScenarioError, match=r"can run on no node.*too little memory_bytes.*small \(999 < 1000"):
        load_scenario(write('[models.classify]\nprofile = "net.csv"\nprofile_model = "net"\n', nodes))


# -- the shipped scenario and the CLI --------------------------------------------------------------------


@pytest.mark.examples
def test_the_calibrated_vision_scenario_runs() -> None:
    scenario = load_scenario(SCENARIOS / "calibrated_vision.toml", overrides=["simulation.max_jobs=600",
                                                                                  "simulation.warmup_s=10"])
    assert any(node.max_batch_size > 1 for node in scenario.nodes)
    assert any(model.profile is not None for model in scenario.models.values())
    result = run(scenario)
    assert result.summary["jobs_completed"] > 0
    assert len(result.batches) > 0 and result.batches["batch_size"].max() > 1
    assert (result.batches["load_s"] > 0).any()  # the server swaps models in its 128 MiB
    assert (result.nodes["utilization"] <= 1.0 + 1e-9).all()


def test_profiles_command_lists_and_shows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    assert "cpu-2core" in capsys.readouterr().out
    assert main(["profiles", "cpu-2core"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet-v2" in out and "torch" in out


def test_derive_profile_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "net.csv"
    source.write_text(PROFILE)
    out = tmp_path / "derived.csv"
    assert main(["derive-profile", str(source), "--from-kind", "cpu", "--kind", "edge", "--factor", "4",
                 "--rule", "assumed", "--out", str(out)]) == 0
    assert "wrote 3 derived rows" in capsys.readouterr().out
    text = out.read_text()
    assert "edge" in text and "assumed" in text
    assert main(["derive-profile", str(source), "--from-kind", "tpu", "--kind", "edge", "--factor", "4",
                 "--rule", "x"]) == 2
    assert "no measured rows of device kind 'tpu'" in capsys.readouterr().err


def test_calibrate_command_lists_models_and_checks_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("resnet50", "mobilenet-v2", "vit-b16", "yolos-tiny", "bert-base", "whisper-tiny", "gpt2-decode-128"):
        assert name in listed
    assert main(["calibrate", "--models", "resnet51"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet51'" in err and "--out is required" in err
