"""Bad input through the command line: one clear message naming file and field, exit status 2, no traceback,
no hang; whatever `run` would refuse, `validate` refuses first; suspicious runs warn instead of printing
undefined or meaningless numbers as if all were well."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MINIMAL, ROOT

from simulator.cli import main
from simulator.config import find_scenario, load_scenario

NETWORKED = MINIMAL + """
[network]
switches = ["switch"]
[network.links.uplink]
endpoints = ["server", "switch"]
latency_s = 0.001
bandwidth_bytes_per_s = 1e6
"""


def _fails_cleanly(capsys, argv: list[str], *expected: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err
    return err


def _refused_by_validate_and_run(capsys, path: Path, *expected: str) -> None:
    _fails_cleanly(capsys, ["validate", str(path)], str(path), *expected)
    _fails_cleanly(capsys, ["run", str(path)], str(path), *expected)


# Files that cannot be read as text


def test_scenario_not_utf8_names_the_file_and_line(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace("[simulation]", "# caf\u00e9\n[simulation]").encode("latin-1"))
    _fails_cleanly(capsys, ["validate", str(path)], str(path), "not UTF-8", "line 2")


def test_scenario_path_that_is_a_directory(tmp_path, capsys):
    _fails_cleanly(capsys, ["validate", str(tmp_path)], str(tmp_path), "directory")


def test_scenario_symlink_loop(tmp_path, capsys):
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    _fails_cleanly(capsys, ["run", str(loop)], str(loop), "symbolic link loop")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_scenario(write_scenario, capsys):
    path = write_scenario(MINIMAL)
    path.chmod(0)
    _fails_cleanly(capsys, ["validate", str(path)], str(path), "cannot read")


def test_toml_nested_too_deeply(write_scenario, capsys):
    path = write_scenario("x = " + "[" * 5000 + "]" * 5000)
    _fails_cleanly(capsys, ["validate", str(path)], str(path), "not valid TOML")


# What run would refuse, validate refuses first


def test_link_joining_a_vertex_to_itself(write_scenario, capsys):
    path = write_scenario(NETWORKED.replace('endpoints = ["server", "switch"]', 'endpoints = ["switch", "switch"]'))
    _refused_by_validate_and_run(capsys, path, "network.links.uplink.endpoints joins a vertex to itself")


def test_switch_listed_twice(write_scenario, capsys):
    path = write_scenario(NETWORKED.replace('switches = ["switch"]', 'switches = ["switch", "switch"]'))
    _refused_by_validate_and_run(capsys, path, "network.switches lists 'switch' twice")


def test_group_member_named_like_another_group(write_scenario, capsys):
    text = MINIMAL.replace("slots = 2", "slots = 2\ncount = 2") + '\n[nodes.server-0]\nkind = "cpu"\n'
    _refused_by_validate_and_run(capsys, write_scenario(text), "node and group names must all differ")


def test_negative_seed_in_file_and_on_the_command_line(write_scenario, capsys):
    _refused_by_validate_and_run(capsys, write_scenario(MINIMAL.replace("seed = 3", "seed = -1")),
                                 "simulation.seed must be an integer in [0, ")
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(write_scenario(MINIMAL)), "--seed", "-1"])
    assert exit_.value.code == 2 and "--seed: must be an integer in [0, " in capsys.readouterr().err


# Numeric extremes and sizes


@pytest.mark.parametrize(("override", "field"), [
    ("policy.batch_interval_s=1e308", "policy.batch_interval_s"),
    ("policy.batch_interval_s=5e-324", "policy.batch_interval_s"),
    ("policy.batch_interval_s=1e-300", "policy.batch_interval_s"),
    ("nodes.server.speed=5e-324", "nodes.server.speed"),
    ("nodes.server.idle_power_w=1e308", "nodes.server.idle_power_w"),
    ("nodes.server.slots=1000000000", "nodes.server.slots"),
    ("nodes.server.count=1000000000", "nodes.server.count"),
    ("network.links.uplink.latency_s=1e308", "network.links.uplink.latency_s"),
    ("network.links.uplink.bandwidth_bytes_per_s=1e-300", "network.links.uplink.bandwidth_bytes_per_s"),
    ("applications.app.stages.only.work=1e308", "applications.app.stages.only.work"),
    ("applications.app.stages.only.output_bytes=1e308", "applications.app.stages.only.output_bytes"),
    ("applications.app.deadline_s=nan", "applications.app.deadline_s"),
    ("simulation.max_jobs=1000000000000", "simulation.max_jobs"),
    ("simulation.horizon_s=1e308", "simulation.horizon_s"),
])
def test_numbers_outside_their_documented_range(write_scenario, capsys, override, field):
    path = write_scenario(NETWORKED)
    _fails_cleanly(capsys, ["validate", str(path), "--set", override], f"{field} must be a")


def test_many_slots_together_are_refused_quickly(write_scenario, capsys):
    path = write_scenario(MINIMAL)
    _fails_cleanly(capsys, ["validate", str(path), "--set", "nodes.server.count=100000", "--set",
                            "nodes.server.slots=100"], "exceed 1000000")


# Warnings instead of meaningless numbers


def test_warmup_longer_than_the_horizon_warns(write_scenario, capsys):
    path = write_scenario(MINIMAL.replace("max_jobs = 50", "horizon_s = 10.0\nwarmup_s = 20.0"))
    assert main(["run", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert any("warmup_s" in warning and "horizon_s" in warning for warning in summary["warnings"])
    assert "warning:" in captured.err
    assert summary["response_time_mean_s"] is None and "response_time_mean_s" in summary["undefined_metrics"]


def test_offered_load_above_capacity_says_unstable(write_scenario, capsys):
    """Capacity of one 2-slot node with mean service 0.5 s is 4 jobs/s (c x mu); 5 jobs/s is unstable."""
    text = MINIMAL.replace("rate_per_s = 1.0", "rate_per_s = 5.0")
    assert main(["run", str(write_scenario(text)), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert any("unstable" in warning and "(4 jobs/s" in warning for warning in summary["warnings"])


def test_stable_load_gives_no_stability_warning(write_scenario, capsys):
    text = MINIMAL.replace("rate_per_s = 1.0", "rate_per_s = 3.0")
    assert main(["run", str(write_scenario(text)), "--json"]) == 0
    assert not any("unstable" in warning for warning in json.loads(capsys.readouterr().out)["warnings"])


# Output paths and arguments


@pytest.mark.parametrize("command", ["run", "demo"])
def test_out_path_problems(tmp_path, write_scenario, capsys, command):
    scenario = str(write_scenario(MINIMAL))
    extra = ["--policies", "random", "--replications", "1"] if command == "demo" else []
    existing = tmp_path / "file.txt"
    existing.write_text("keep me")
    _fails_cleanly(capsys, [command, scenario, "--out", str(existing), *extra], "is an existing file")
    assert existing.read_text() == "keep me"
    _fails_cleanly(capsys, [command, scenario, "--out", str(existing / "below"), *extra], "cannot write")
    _fails_cleanly(capsys, [command, scenario, "--out", "/proc/allocsim-out", *extra], "cannot write")


def test_demo_with_no_policies(write_scenario, capsys):
    _fails_cleanly(capsys, ["demo", str(write_scenario(MINIMAL)), "--policies", ""], "--policies must name")


def test_closed_pipe_ends_quietly():
    """`policies | head -1`: the reader closes the pipe early; no BrokenPipeError traceback."""
    completed = subprocess.run(f"{sys.executable} -m simulator policies | head -1", shell=True, cwd=ROOT,
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.stdout.strip() and "Traceback" not in completed.stderr, completed.stderr


# Shipped scenarios by name


def test_shipped_scenarios_are_found_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_scenario("demo_edge_cloud").name == "demo_edge_cloud.toml"
    assert find_scenario("scenarios/demo_edge_cloud.toml").is_file()
    assert load_scenario("validation/mm1").name == "mm1"


@pytest.mark.slow
def test_the_wheel_ships_the_demo_and_validation_scenarios(tmp_path):
    """An installed package (not a checkout) can run the demo: the wheel holds the scenarios, the case studies too."""
    import zipfile

    pytest.importorskip("setuptools", minversion="77")  # what pyproject's build backend needs, without isolation
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    str(ROOT), "-w", str(tmp_path)], check=True, timeout=600, capture_output=True)
    (wheel,) = tmp_path.glob("allocsim-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"simulator/scenarios/demo_edge_cloud.toml", "simulator/scenarios/validation/mm1.toml",
            "simulator/scenarios/cases/medical_diagnosis.toml"} <= names


def test_long_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """A command whose output far exceeds the pipe's buffer, read by `head`: no traceback, nothing on stderr."""
    script = tmp_path / "long_output.py"
    script.write_text("import sys\nfrom simulator import cli\n"
                      "cli.COMMANDS['policies'] = lambda args: [print('x' * 100) for _ in range(100000)] and 0\n"
                      "sys.exit(cli.main(['policies']))\n")
    completed = subprocess.run(f"{sys.executable} {script} | head -c 10", shell=True, cwd=ROOT,
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.stdout == "x" * 10 and not completed.stderr.strip(), completed.stderr
