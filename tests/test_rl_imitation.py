"""The imitation warm start (behaviour cloning of a heuristic, then the RL algorithm): a cloned agent decides as its
teacher on seeds it never saw, the option is validated, and what was done is recorded in the agent file."""

from __future__ import annotations

import numpy as np
import pytest
from rl_support import write

pytest.importorskip("stable_baselines3")

from simulator.cli import main
from simulator.config import load_scenario
from simulator.errors import UserInputError
from simulator.policies.learned import read_agent_metadata
from simulator.rl.agents import IMITATION_DECISIONS, TRAINING_SEEDS, load_agent, train_agent
from simulator.rl.evaluate import evaluate
from simulator.rl.imitation import collect_demonstrations
from simulator.train_cli import IMITATION_DECISIONS_DEFAULT

pytestmark = pytest.mark.examples

BALANCE = """
# Three servers, one twice as fast as the others, loaded to 0.6 of their capacity: where a job should go depends
# on the queues at the time (min_completion_time sends it where it would finish first), not on the servers alone.
[scenario]
name = "balance"

[simulation]
max_jobs = 150
seed = 1

[policy]
name = "random"

[nodes.fast]
kind = "server"

[nodes.slow]
kind = "server"
count = 2
speed = 0.5

[models.job.devices.server]
mean_s = 1.0

[applications.job.stages.serve]
model = "job"

[arrivals.jobs]
application = "job"
process = "poisson"
rate_per_s = 1.2
"""

HELD_OUT = range(1, 7)
"""Seeds outside TRAINING_SEEDS: the cloned agent never saw them."""


@pytest.fixture(scope="module")
def cloned(tmp_path_factory: pytest.TempPathFactory):
    """An agent that only cloned min_completion_time (no RL step) on 4,000 of its decisions."""
    directory = tmp_path_factory.mktemp("imitation")
    scenario = load_scenario(write(directory, BALANCE, "balance.toml"))
    agent = train_agent(scenario, "maskable_ppo", 0, seed=3, out=directory / "cloned.zip", progress=False,
                        imitate="min_completion_time", imitation_decisions=4000)
    return scenario, agent


def test_a_cloned_agent_decides_as_its_teacher_on_held_out_seeds(cloned):
    """Behaviour cloning reproduces the teacher: on seeds never seen in training, the agent's node is the teacher's
    for most decisions (taken from the teacher's own runs), and its runs' mean response time is within 5 % of the
    teacher's (common random numbers: the same arrivals and sizes on each seed)."""
    scenario, agent = cloned
    demonstrations = collect_demonstrations(scenario, "min_completion_time", 600,
                                            np.random.default_rng(0), HELD_OUT, "response", gamma=0.99)
    predicted = [agent.predict(observation, mask)
                 for observation, mask in zip(demonstrations.observations, demonstrations.masks, strict=True)]
    agreement = float(np.mean(np.asarray(predicted) == demonstrations.actions))
    assert agreement > 0.9, agreement
    runs = evaluate(scenario, [agent.path, "min_completion_time", "random"], list(HELD_OUT))
    means = runs.groupby("policy")["response_time_mean_s"].mean()
    assert abs(means["drl(cloned.zip)"] / means["min_completion_time"] - 1) < 0.05, means
    assert means["drl(cloned.zip)"] < 0.8 * means["random"], means


def test_the_imitation_is_recorded_in_the_agent_metadata(cloned):
    _, agent = cloned
    metadata = read_agent_metadata(agent.path)
    imitation = metadata["imitation"]
    assert imitation["teacher"] == "min_completion_time" and imitation["decisions"] == 4000
    assert imitation["episodes"] >= 4000 // 150 and 0.9 < imitation["agreement"] <= 1.0
    assert metadata["timesteps"] == 0  # no RL step after the cloning
    assert load_agent(agent.path).metadata["imitation"] == imitation


def test_demonstrations_come_from_training_seeds_and_hold_the_teachers_decisions(tmp_path):
    """The teacher's nodes are available ones (inside the mask), and the returns are the discounted rewards."""
    scenario = load_scenario(write(tmp_path, BALANCE, "balance.toml"))
    demonstrations = collect_demonstrations(scenario, "least_loaded", 200, np.random.default_rng(1), TRAINING_SEEDS,
                                            "response", gamma=0.5)
    assert len(demonstrations) == 200 and demonstrations.episodes == 2
    assert demonstrations.masks[np.arange(200), demonstrations.actions].all()
    assert (demonstrations.returns < 0).all() and np.isfinite(demonstrations.observations).all()


def test_fine_tuning_after_imitation_uses_smaller_steps(tmp_path):
    """PPO after the warm start: SB3's steps made smaller (FINE_TUNING_HYPERPARAMETERS), and the RL budget runs."""
    scenario = load_scenario(write(tmp_path, BALANCE, "balance.toml"))
    agent = train_agent(scenario, "ppo", 256, seed=1, out=tmp_path / "tuned.zip", progress=False,
                        imitate="least_loaded", imitation_decisions=300,
                        hyperparameters={"n_steps": 128, "batch_size": 64})
    assert agent.metadata["hyperparameters"]["learning_rate"] == 1e-4
    assert agent.metadata["hyperparameters"]["clip_range"] == 0.1
    assert agent.metadata["timesteps"] >= 256 and agent.metadata["imitation"]["teacher"] == "least_loaded"


@pytest.mark.parametrize(("arguments", "message"), [
    (["--imitate", "no_such_policy"], "--imitate: unknown policy 'no_such_policy'"),
    (["--imitate", "min_min"], "--imitate: policy 'min_min' places tasks in batches only"),
    (["--imitate", "drl"], "--imitate: policy 'drl' needs parameters (agent)"),
    (["--imitate", "least_loaded", "--algorithm", "dqn"], "DQN has none"),
    (["--timesteps", "0"], "--timesteps: 0 trains nothing; it is allowed only with --imitate"),
    (["--imitation-decisions", "10"], "--imitation-decisions: needs --imitate POLICY"),
])
def test_train_refuses_bad_imitation_options(tmp_path, capsys, arguments, message):
    scenario = write(tmp_path, BALANCE, "balance.toml")
    base = {"--algorithm": "maskable_ppo", "--timesteps": "64"}
    for option, value in zip(arguments[::2], arguments[1::2], strict=True):
        base[option] = value
    argv = ["train", str(scenario), "--out", str(tmp_path / "a.zip"), *[item for pair in base.items() for item in pair]]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_train_refuses_a_non_positive_number_of_imitation_decisions(tmp_path, capsys, value):
    scenario = write(tmp_path, BALANCE, "balance.toml")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(scenario), "--algorithm", "maskable_ppo", "--timesteps", "0", "--out",
              str(tmp_path / "a.zip"), "--imitate", "least_loaded", "--imitation-decisions", value])
    assert exit_info.value.code == 2 and "--imitation-decisions" in capsys.readouterr().err


def test_train_agent_refuses_bad_imitation_arguments(tmp_path):
    scenario = load_scenario(write(tmp_path, BALANCE, "balance.toml"))
    with pytest.raises(UserInputError, match="imitation_decisions must be a positive integer"):
        train_agent(scenario, "maskable_ppo", 0, out=tmp_path / "a.zip", imitate="least_loaded",
                    imitation_decisions=0)
    with pytest.raises(UserInputError, match="timesteps must be a positive integer"):
        train_agent(scenario, "maskable_ppo", 0, out=tmp_path / "a.zip")
    with pytest.raises(UserInputError, match="DQN has none"):
        train_agent(scenario, "dqn", 10, out=tmp_path / "a.zip", imitate="least_loaded")


def test_train_command_clones_and_reports_the_agreement(tmp_path, capsys):
    scenario = write(tmp_path, BALANCE, "balance.toml")
    out = tmp_path / "cli.zip"
    assert main(["train", str(scenario), "--algorithm", "maskable_ppo", "--timesteps", "0", "--out", str(out),
                 "--imitate", "least_loaded", "--imitation-decisions", "300"]) == 0
    assert "cloned least_loaded on 300 decisions" in capsys.readouterr().out
    assert read_agent_metadata(out)["imitation"]["decisions"] == 300
    assert out.with_suffix(".curve.csv").read_text().splitlines() == [
        "timesteps,episodes,mean_episode_reward,mean_response_time_s"]  # no RL step: no row


def test_the_cli_default_number_of_imitation_decisions_is_the_trainers():
    assert IMITATION_DECISIONS_DEFAULT == IMITATION_DECISIONS
