"""The ``train`` command's refusals and the agent file format: bad input exits 2 with one clear line, before any
training; a missing extra [rl] says how to install it; the ``drl`` policy names a bad agent file."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT
from rl_support import TINY, write

from simulator.cli import main
from simulator.config import load_scenario
from simulator.errors import ScenarioError, UserInputError
from simulator.policies.learned import AGENT_METADATA_MEMBER, read_agent_metadata
from simulator.train_cli import parse_seeds

pytestmark = pytest.mark.unit


def train_argv(scenario, out, *extra):
    return ["train", str(scenario), "--algorithm", "ppo", "--timesteps", "100", "--out", str(out), *extra]


@pytest.mark.parametrize("arguments, message", [
    (["--algorithm", "a2c"], "argument --algorithm: invalid choice: 'a2c'"),
    (["--timesteps", "0"], "--timesteps: 0 trains nothing; it is allowed only with --imitate"),
    (["--timesteps", "-5"], "argument --timesteps: must be an integer in [0, 1000000000], got -5"),
    (["--eval-seeds", "10-3"], "argument --eval-seeds: '10-3' is not a range of seeds"),
    (["--eval-seeds", "a-b"], "argument --eval-seeds: must be seeds like 101-110"),
    (["--envs", "0"], "argument --envs: must be an integer in [1, 64]"),
])
def test_bad_arguments_exit_2_before_training(tmp_path, arguments, message):
    scenario = write(tmp_path, TINY, "tiny.toml")
    completed = subprocess.run([sys.executable, "-m", "simulator", *train_argv(scenario, tmp_path / "a.zip"),
                                *arguments], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert completed.returncode == 2 and message in completed.stderr
    assert "Traceback" not in completed.stderr and not (tmp_path / "a.zip").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--eval-seeds", "101-105,1000000003"], "--eval-seeds: evaluation seeds 1000000003 are in the range training "
                                             "episodes draw their seeds from (1000000000-1999999999)"),
    (["--reward", "speed"], "--reward: unknown reward term 'speed'; allowed terms: response"),
    (["--reward", "response=x"], "--reward: reward term 'response' has weight 'x'"),
    (["--tensorboard", "logs"], "TensorBoard logs need the tensorboard package"),
])
def test_refusals_name_the_option(tmp_path, capsys, arguments, message):
    pytest.importorskip("stable_baselines3")
    if "--tensorboard" in arguments and __import__("importlib").util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here")
    scenario = write(tmp_path, TINY, "tiny.toml")
    assert main(train_argv(scenario, tmp_path / "a.zip", *arguments)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


def test_out_must_be_a_zip(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    scenario = write(tmp_path, TINY, "tiny.toml")
    assert main(train_argv(scenario, tmp_path / "agent.pt")) == 2
    assert "out must name a .zip file (the agent file), got" in capsys.readouterr().err


def test_missing_rl_extra_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    """Without stable-baselines3 (simulated: its import fails), `train` and a `drl` run exit 2 naming the extra."""
    for name in [name for name in sys.modules if name.startswith("simulator.rl")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # `import stable_baselines3` now fails
    scenario = write(tmp_path, TINY, "tiny.toml")
    assert main(train_argv(scenario, tmp_path / "a.zip")) == 2
    error = capsys.readouterr().err
    assert "install the rl extra: pip install 'allocsim[rl]'" in error and "stable_baselines3 is missing" in error
    agent = tmp_path / "agent.zip"
    with zipfile.ZipFile(agent, "w") as archive:  # a file that passes the metadata check (no torch needed)
        archive.writestr(AGENT_METADATA_MEMBER, '{"format": "allocsim-agent/1", "algorithm": "ppo"}')
    assert main(["run", str(scenario), "--policy", "drl", "--set", f'policy.params.agent="{agent}"']) == 2
    assert "policy 'drl' needs torch" in capsys.readouterr().err


def test_parse_seeds_ranges_and_lists():
    assert parse_seeds("101-105") == [101, 102, 103, 104, 105]
    assert parse_seeds("1,3, 2-4") == [1, 3, 2, 4]


def test_agent_file_refusals_name_the_file(tmp_path):
    """The drl policy's `agent` parameter: a missing file, a file that is not a zip, a zip that is not an agent,
    and an agent of another format are refused by name, at validation (no torch needed)."""
    scenario = write(tmp_path, TINY, "tiny.toml")
    (tmp_path / "text.zip").write_text("hello")
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as archive:
        archive.writestr("data", "{}")
    with zipfile.ZipFile(tmp_path / "old.zip", "w") as archive:
        archive.writestr(AGENT_METADATA_MEMBER, '{"format": "allocsim-agent/0"}')
    cases = {"missing.zip": "no such agent file", "text.zip": "not an agent file (not a readable zip archive",
             "plain.zip": "not an allocsim agent (the zip has no allocsim_agent.json",
             "old.zip": "agent format 'allocsim-agent/0' is not 'allocsim-agent/1'"}
    for name, message in cases.items():
        with pytest.raises(ScenarioError) as caught:  # relative to the scenario's directory
            load_scenario(scenario, {"policy.name": "drl", "policy.params": {"agent": name}})
        assert f"policy.params policy 'drl': agent: {tmp_path / name}: {message}" in str(caught.value)
        with pytest.raises(UserInputError, match=message.replace("(", r"\(")):
            read_agent_metadata(tmp_path / name)
    with pytest.raises(ScenarioError, match="policy.params policy 'drl' needs parameter 'agent' \\(it has no default"):
        load_scenario(scenario, {"policy.name": "drl"})
    with pytest.raises(ScenarioError, match="agent must be the path of an agent file"):
        load_scenario(scenario, {"policy.name": "drl", "policy.params.agent": ""})
