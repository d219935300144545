"""Training, evaluation and the ``drl`` policy end to end (the extra [rl]): a trained agent beats random on seeds it
never trained on, runs as a policy in `run`, scenario files and sweeps, and decides in a plain run exactly as in
a stepped environment episode."""

from __future__ import annotations

import csv
import os
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from rl_support import TINY, write

pytest.importorskip("stable_baselines3")

from simulator.cli import main
from simulator.config import load_scenario
from simulator.errors import UserInputError
from simulator.policies.learned import AGENT_METADATA_MEMBER, read_agent_metadata
from simulator.rl import AllocationEnv
from simulator.rl.agents import TRAINING_SEEDS, Agent, TrainingSeeds, load_agent
from simulator.rl.evaluate import evaluate, evaluation_table
from simulator.rl.policy import agent_decider
from simulator.runner import load_results, run_sweep
from simulator.runner.report import t_interval
from simulator.simulation import run

pytestmark = pytest.mark.examples

HELD_OUT = range(1, 9)
"""Evaluation seeds: outside TRAINING_SEEDS, so never a training episode."""


def test_a_trained_agent_beats_random_on_held_out_seeds(drl_agents):
    """3,000 MaskablePPO steps on three servers, one ten times faster: on seeds it never trained on the agent's
    mean response time is far below random's (random overloads the slow servers) and near the fast server's."""
    scenario = load_scenario(drl_agents["tiny"].with_suffix(".toml"))
    runs = evaluate(scenario, [drl_agents["tiny"], "random"], list(HELD_OUT), workers=2)  # in spawned processes
    assert runs[["policy", "seed"]].values.tolist() == [[label, seed] for label in ("drl(tiny.zip)", "random")
                                                          for seed in HELD_OUT]
    table = evaluation_table(runs).set_index("policy")
    agent = table.loc["drl(tiny.zip)", "response_time_mean_s_mean"]
    random = table.loc["random", "response_time_mean_s_mean"]
    assert agent < 0.5 * random, table
    assert table.loc["drl(tiny.zip)", "response_time_mean_s_ci_high"] < table.loc["random",
                                                                                   "response_time_mean_s_ci_low"]


def test_agent_file_holds_the_model_and_its_metadata(drl_agents):
    path = drl_agents["tiny"]
    assert path.stat().st_size < 1_000_000  # a small MLP: a few hundred kB at most
    with zipfile.ZipFile(path) as archive:
        assert AGENT_METADATA_MEMBER in archive.namelist() and "policy.pth" in archive.namelist()
    metadata = read_agent_metadata(path)
    assert metadata["algorithm"] == "maskable_ppo" and metadata["seed"] == 1
    assert metadata["layout"]["node_names"] == ["fast", "slow-0", "slow-1"]
    assert metadata["layout"]["stages"] == [["job", "serve"]]
    assert metadata["training_seeds"] == [TRAINING_SEEDS.start, TRAINING_SEEDS.stop - 1]
    agent = load_agent(path)
    assert agent.model.observation_space.shape == (metadata["layout"]["observation_size"],)


def test_learning_curve_is_written_beside_the_agent(drl_agents):
    with open(drl_agents["tiny"].with_suffix(".curve.csv"), newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows and list(rows[0]) == ["timesteps", "episodes", "mean_episode_reward", "mean_response_time_s"]
    steps = [int(row["timesteps"]) for row in rows]
    assert steps == sorted(steps) and steps[-1] >= 3000
    assert all(float(row["mean_response_time_s"]) > 0 for row in rows)  # every episode ran to its end here
    assert sum(int(row["episodes"]) for row in rows) >= 3000 // 40  # 40 jobs, one decision each, per episode


def test_training_episodes_draw_their_seeds_inside_the_training_range(tmp_path):
    scenario = load_scenario(write(tmp_path, TINY, "tiny.toml"))
    wrapped = TrainingSeeds(AllocationEnv(scenario), seed=5)
    seeds = [wrapped.reset(seed=5 if index == 0 else None)[1]["seed"] for index in range(4)]
    assert all(seed in TRAINING_SEEDS for seed in seeds) and len(set(seeds)) == 4
    again = TrainingSeeds(AllocationEnv(scenario), seed=5)
    assert [again.reset(seed=5 if index == 0 else None)[1]["seed"] for index in range(4)] == seeds
    wrapped.close()
    again.close()


def test_a_stepped_episode_answered_by_the_agent_is_the_drl_run(drl_agents, monkeypatch):
    """The environment's observations and masks, answered by the agent, make the same run (every task on the same
    node at the same times) as `run` with the `drl` policy, whose agent is handed the same observations and masks
    decision by decision: the policy sees what the agent saw in training."""
    path = drl_agents["demo"]
    scenario = load_scenario(path.with_suffix(".toml"), {"simulation.max_jobs": 30})
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    predict = Agent.predict
    monkeypatch.setattr(Agent, "predict", lambda self, observation, mask: (
        seen.append((observation.copy(), mask.copy())), predict(self, observation, mask))[1])
    agent = load_agent(path)
    environment = AllocationEnv(scenario)
    observation, _ = environment.reset(seed=11)
    terminated = False
    while not terminated:
        observation, _, terminated, _, _ = environment.step(agent.predict(observation, environment.action_masks()))
    assert environment.stepper is not None
    stepped, in_episode = environment.stepper.result(), list(seen)
    environment.close()
    seen.clear()
    plain = run(scenario, policy="drl", params={"agent": str(path)}, seed=11)
    pd.testing.assert_frame_equal(stepped.tasks, plain.tasks)
    assert len(seen) == len(in_episode) == len(plain.tasks)
    for (observed, mask), (expected, expected_mask) in zip(seen, in_episode, strict=True):
        np.testing.assert_array_equal(observed, expected)
        np.testing.assert_array_equal(mask, expected_mask)
    assert len({observed.tobytes() for observed, _ in seen}) > len(seen) // 2  # they change from decision to decision


def test_run_policy_drl_from_the_command_line(drl_agents, capsys):
    scenario = drl_agents["tiny"].with_suffix(".toml")
    assert main(["run", str(scenario), "--policy", "drl", "--set", 'policy.params.agent="tiny.zip"',
                 "--seed", "3"]) == 0  # relative to the scenario file's directory
    output = capsys.readouterr().out
    assert "policy drl" in output and str(drl_agents["tiny"]) in output and "jobs_completed        40" in output


def test_an_agent_that_does_not_fit_the_scenario_is_refused_naming_the_file(drl_agents, capsys):
    """An agent trained on three servers cannot place tasks on the demo's nodes: exit 2, the file named, the
    difference said."""
    demo = drl_agents["demo"].with_suffix(".toml")
    agent = drl_agents["tiny"]
    assert main(["run", str(demo), "--policy", "drl", "--set", f'policy.params.agent="{agent}"']) == 2
    error = capsys.readouterr().err
    assert f"{agent}: the agent does not fit scenario {demo}" in error and "node_names: agent ['fast'" in error
    with pytest.raises(UserInputError, match="train an agent on this scenario"):
        agent_decider(agent, load_scenario(demo))


def test_the_agent_is_loaded_once_per_file_version(drl_agents, tmp_path):
    scenario = load_scenario(drl_agents["tiny"].with_suffix(".toml"))
    copy = tmp_path / "copy.zip"
    copy.write_bytes(drl_agents["tiny"].read_bytes())
    first, second = agent_decider(copy, scenario), agent_decider(copy, scenario)
    assert first.agent is second.agent
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a newer file: loaded again
    assert agent_decider(copy, scenario).agent is not first.agent


def test_a_sweep_with_drl_records_the_agent_by_absolute_path_and_runs_in_worker_processes(drl_agents, tmp_path):
    """The experiment names the agent relative to itself; the recorded parameter is its absolute path, which the
    worker processes load."""
    directory = tmp_path / "experiment"
    directory.mkdir()
    (directory / "tiny.toml").write_text(TINY)
    (directory / "agents").mkdir()
    (directory / "agents" / "tiny.zip").write_bytes(drl_agents["tiny"].read_bytes())
    experiment = directory / "compare.toml"
    experiment.write_text('[experiment]\nname = "drl_sweep"\nscenario = "tiny.toml"\nreplications = 2\n\n'
                          '[[policies]]\nname = "drl"\nparams = { agent = "agents/tiny.zip" }\n\n'
                          '[[policies]]\nname = "random"\n')
    outcome = run_sweep(experiment, executor="processes", workers=2, out=tmp_path / "results", progress=False)
    assert not outcome.failed
    runs = load_results(outcome.results_dir).runs
    drl = runs[runs["policy"] == "drl"]
    assert len(drl) == 2 and (drl["status"] == "ok").all()
    assert set(drl["policy.agent"]) == {str(directory / "agents" / "tiny.zip")}
    table = runs.groupby("policy")["response_time_mean_s"].mean()
    assert table["drl"] < table["random"]


def test_train_command_with_two_environments_and_evaluation(tmp_path, capsys):
    """`train` end to end: PPO on two environments in subprocesses, the agent and its curve written, and the
    comparison with the heuristics on held-out seeds printed and written (one row per policy and seed)."""
    scenario = write(tmp_path, TINY, "tiny.toml")
    out = tmp_path / "agents" / "tiny_ppo.zip"
    (tmp_path / "agents").mkdir()
    assert main(["train", str(scenario), "--algorithm", "ppo", "--timesteps", "256", "--out", str(out),
                 "--envs", "2", "--seed", "4", "--eval-seeds", "101-102", "--reward", "response=1,energy=0"]) == 0
    output = capsys.readouterr().out
    assert f"agent written to {out}" in output and "drl(tiny_ppo.zip)" in output
    for name in ("least_loaded", "round_robin", "random", "min_completion_time", "power_of_d"):
        assert name in output
    runs = pd.read_csv(out.with_suffix(".evaluation.csv"))
    assert len(runs) == 2 * runs["policy"].nunique() and set(runs["seed"]) == {101, 102}
    assert read_agent_metadata(out)["n_envs"] == 2 and out.with_suffix(".curve.csv").exists()


def test_dqn_trains_and_runs_as_a_policy(tmp_path):
    """DQN has no action masks: an action outside the mask is replaced by the first available node, in training
    (the environment's rule) and as a policy alike, so its runs complete."""
    scenario = load_scenario(write(tmp_path, TINY, "tiny.toml"))
    from simulator.rl.agents import train_agent

    agent = train_agent(scenario, "dqn", 300, seed=2, out=tmp_path / "dqn.zip", progress=False,
                        hyperparameters={"learning_starts": 100})
    assert agent.algorithm == "dqn"
    result = run(scenario, policy="drl", params={"agent": str(tmp_path / "dqn.zip")}, seed=5)
    assert result.summary["jobs_completed"] == 40


def test_evaluation_table_uses_the_runners_t_interval():
    runs = pd.DataFrame({"policy": ["a"] * 3 + ["b"] * 2, "seed": [1, 2, 3, 1, 2],
                         "response_time_mean_s": [1.0, 2.0, 4.0, 3.0, 5.0],
                         "response_time_p95_s": [2.0, 3.0, 5.0, np.nan, 6.0]})
    table = evaluation_table(runs).set_index("policy")
    mean, low, high = t_interval([1.0, 2.0, 4.0])
    assert table.loc["a", "response_time_mean_s_mean"] == mean and table.loc["a", "response_time_mean_s_ci_low"] == low
    assert table.loc["a", "response_time_mean_s_ci_high"] == high and table.loc["a", "n"] == 3
    assert table.loc["b", "response_time_p95_s_mean"] == 6.0 and np.isnan(table.loc["b", "response_time_p95_s_ci_low"])


def test_the_readme_training_snippet_runs(tmp_path, monkeypatch, capsys):
    """The README's Python example of training and evaluation runs as written (STYLE.md: every README snippet runs),
    from a fresh directory, and prints the comparison it promises."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Training an agent"):]
    snippet = section[section.index("```python") + len("```python"):]
    snippet = snippet[:snippet.index("```")]
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {})
    output = capsys.readouterr().out
    assert "drl(park_demo.zip)" in output and "least_loaded" in output and "response_time_mean_s" in output
    assert (tmp_path / "agents" / "park_demo.zip").exists()
