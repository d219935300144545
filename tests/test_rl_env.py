"""The RL environment (`simulator.rl`): Gymnasium's checker, seeds, the action mask, reward identities, vector envs."""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="the RL environment needs the rl extra: pip install 'allocsim[rl]'")

from gymnasium.utils.env_checker import check_env

from simulator.config import load_scenario, parse_scenario
from simulator.config.specs import eligible_nodes
from simulator.costs import CostTable
from simulator.errors import UserInputError
from simulator.rl import REWARD_TERMS, AllocationEnv, Observer, parse_reward
from simulator.stepping import shortest_response_s
from simulator.workload import compile_applications

TINY = """
[simulation]
max_jobs = 4
seed = 1

[nodes.a]
kind = "cpu"
idle_power_w = 10.0
busy_power_w = 30.0
[nodes.b]
kind = "cpu"
idle_power_w = 10.0
busy_power_w = 30.0

[models.m.devices.cpu]
mean_s = 1.0
distribution = "deterministic"

[applications.app]
deadline_s = 1.25
[applications.app.stages.only]
model = "m"

[arrivals.users]
application = "app"
process = "deterministic"
rate_per_s = 2.0
"""

PLACED = """
[simulation]
max_jobs = 40
seed = 3

[nodes.a]
kind = "cpu"
[nodes.b]
kind = "cpu"
[nodes.c]
kind = "cpu"
speed = 2.0

[network]
switches = ["sw"]
[network.links.la]
endpoints = ["a", "sw"]
bandwidth_bytes_per_s = 1e7
[network.links.lb]
endpoints = ["b", "sw"]
bandwidth_bytes_per_s = 1e7
[network.links.lc]
endpoints = ["c", "sw"]
bandwidth_bytes_per_s = 1e7

[models.m.devices.cpu]
mean_s = 1.0

[applications.app.stages.first]
model = "m"
placement = ["a", "b"]
[applications.app.stages.second]
model = "m"
after = ["first"]
placement = ["b", "c"]
output_bytes = 1e6

[arrivals.users]
application = "app"
rate_per_s = 1.5
"""


def _scenario(text: str, **simulation: object):
    raw = tomllib.loads(text)
    raw["simulation"].update(simulation)
    return parse_scenario(raw)


def _episode(env: AllocationEnv, seed: int, choose) -> tuple[list[np.ndarray], list[float], list[dict]]:
    """Observations, rewards and infos of one episode whose actions ``choose(step, mask)`` picks."""
    observation, _ = env.reset(seed=seed)
    observations, rewards, infos = [observation], [], []
    for step in range(100_000):
        observation, reward, terminated, truncated, info = env.step(choose(step, env.action_masks()))
        observations.append(observation)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return observations, rewards, infos


def _alternate(step: int, mask: np.ndarray) -> int:
    return step % 2


def _all_on_first(step: int, mask: np.ndarray) -> int:
    return 0


def test_env_passes_gymnasium_checker():
    env = AllocationEnv(load_scenario("demo_edge_cloud", {"simulation.max_jobs": 60}), seed=2, max_decisions=50)
    check_env(env, skip_render_check=True)
    env.close()


def test_same_seed_and_actions_give_the_same_episode():
    scenario = load_scenario("demo_edge_cloud", {"simulation.max_jobs": 80})
    first, second = AllocationEnv(scenario), AllocationEnv(scenario)

    def spread(step: int, mask: np.ndarray) -> int:
        return int(np.flatnonzero(mask)[(7 * step) % mask.sum()])

    observations_1, rewards_1, infos_1 = _episode(first, 5, spread)
    observations_2, rewards_2, infos_2 = _episode(second, 5, spread)
    assert len(rewards_1) > 20
    assert all(np.array_equal(a, b) for a, b in zip(observations_1, observations_2, strict=True))
    assert rewards_1 == rewards_2
    summary_1 = {k: v for k, v in infos_1[-1]["summary"].items() if k != "wall_s"}
    summary_2 = {k: v for k, v in infos_2[-1]["summary"].items() if k != "wall_s"}
    assert summary_1 == summary_2
    _, rewards_3, _ = _episode(first, 6, spread)
    assert rewards_3 != rewards_1  # another seed, another run


def test_episodes_without_a_seed_follow_the_envs_generator():
    scenario = load_scenario("demo_edge_cloud", {"simulation.max_jobs": 20})
    seeds = [[AllocationEnv(scenario, seed=9).reset()[1]["seed"]] for _ in range(2)]
    env = AllocationEnv(scenario, seed=9)
    sequence = [env.reset()[1]["seed"] for _ in range(3)]
    assert seeds[0] == seeds[1] == sequence[:1]
    assert len(set(sequence)) == 3
    env.close()


def test_littles_law_response_rewards_by_hand():
    """Two nodes, deterministic 1 s service, arrivals every 0.5 s: the response rewards are minus the job-seconds
    between decisions, computed by hand, and add up to minus the total sojourn time (Little's law)."""
    scenario = _scenario(TINY)
    env = AllocationEnv(scenario, reward="response", reward_scale=1.0)
    _, rewards, _infos = _episode(env, 1, _alternate)
    # jobs arrive at t0, t0 + 0.5, t0 + 1, t0 + 1.5, alternately on a and b: each is alone on its node
    assert rewards == pytest.approx([-0.5, -1.0, -1.0, -1.5])
    assert sum(rewards) == pytest.approx(-4.0)
    _, rewards, _ = _episode(env, 1, _all_on_first)  # one FIFO queue: sojourns 1, 1.5, 2, 2.5
    assert sum(rewards) == pytest.approx(-7.0)
    env.close()


def test_littles_law_with_jobs_unfinished_at_the_end():
    """With a horizon that cuts jobs short, the response rewards add up to minus the sojourn times with each
    unfinished job counted up to the end of the run."""
    scenario = load_scenario("demo_edge_cloud", {"simulation.horizon_s": 40.0, "simulation.max_jobs": 10_000})
    env = AllocationEnv(scenario, reward="response", reward_scale=1.0)
    decisions = 0

    def crowd(step: int, mask: np.ndarray) -> int:
        nonlocal decisions
        decisions += 1
        return int(np.flatnonzero(mask)[0])

    _, rewards, _ = _episode(env, 4, crowd)
    jobs = env.stepper.result().jobs
    finish = jobs["finish_s"].fillna(40.0).to_numpy()
    assert jobs["finish_s"].isna().sum() > 0
    assert sum(rewards) == pytest.approx(-(finish - jobs["arrival_s"].to_numpy()).sum(), rel=1e-9)
    env.close()


def test_other_terms_by_hand():
    """The tiny run alternating nodes: busy a [t0, t0+2], b [t0+0.5, t0+2.5], run ends at t0+2.5. Energy is
    idle power on both from 0 plus 20 W per busy node-second; utilizations (1,0) or (0,1) for 1 s in all (variance
    0.25); each job takes 1 s (its shortest response), so its slowdown is 1; no job misses its 1.25 s deadline."""
    scenario = _scenario(TINY)
    env = AllocationEnv(scenario, reward="response", reward_scale=1.0)
    _, _, infos = _episode(env, 1, _alternate)
    totals = {term: sum(info["reward_terms"][term] for info in infos) for term in REWARD_TERMS}
    end_s = infos[-1]["time_s"]
    t0 = end_s - 2.5
    assert totals["energy"] == pytest.approx(-(2 * 10.0 * end_s + 20.0 * 4.0))
    assert totals["load_variance"] == pytest.approx(-0.25)
    assert totals["slowdown"] == pytest.approx(-4.0)
    assert totals["slo"] == 0.0
    assert t0 > 0
    _, _, infos = _episode(env, 1, _all_on_first)  # sojourns 1, 1.5, 2, 2.5: three miss 1.25 s
    assert sum(info["reward_terms"]["slo"] for info in infos) == -3.0
    env.close()


def test_reward_identities_against_the_run_tables():
    """Over an episode, each term adds up to minus its cost in the run's own tables: sojourn times, slowdowns
    (over `shortest_response_s`), deadline misses, and the node table's energy (measured from time 0)."""
    scenario = load_scenario("demo_edge_cloud", {"simulation.max_jobs": 300, "simulation.warmup_s": 0.0})
    env = AllocationEnv(scenario, reward_scale=1.0)
    _, _, infos = _episode(env, 8, lambda step, mask: int(np.flatnonzero(mask)[step % mask.sum()]))
    result = env.stepper.result()
    totals = {term: sum(info["reward_terms"][term] for info in infos) for term in REWARD_TERMS}
    jobs = result.jobs
    response = (jobs["finish_s"] - jobs["arrival_s"]).to_numpy()
    shortest = {app.name: shortest_response_s(app)
                for app in compile_applications(scenario, CostTable(scenario.models), 1)}
    slowdown = response / jobs["application"].astype(str).map(shortest).to_numpy()
    misses = int((np.isfinite(jobs["deadline_s"]) & ~jobs["deadline_met"].astype(bool)).sum())
    assert totals["response"] == pytest.approx(-response.sum(), rel=1e-9)
    assert totals["slowdown"] == pytest.approx(-slowdown.sum(), rel=1e-9)
    assert totals["slo"] == -misses and misses > 0
    assert totals["energy"] == pytest.approx(-result.nodes["energy_j"].sum(), rel=1e-9)
    env.close()


def test_weighted_reward_is_the_weighted_sum_of_terms():
    scenario = load_scenario("demo_edge_cloud", {"simulation.max_jobs": 60})
    weights = {"response": 2.0, "energy": 0.5, "slo": 3.0}
    raw = AllocationEnv(scenario, reward=weights, reward_scale=10.0)
    _, rewards, infos = _episode(raw, 3, lambda step, mask: int(np.flatnonzero(mask)[-1]))
    for reward, info in zip(rewards, infos, strict=True):
        assert reward == pytest.approx(sum(w * info["reward_terms"][t] for t, w in weights.items()) / 10.0)
    scaled = AllocationEnv(scenario, reward="response=2, energy=0.5, slo=3")
    _, scaled_rewards, _ = _episode(scaled, 3, lambda step, mask: int(np.flatnonzero(mask)[-1]))
    units = dict(zip(REWARD_TERMS, scaled._units, strict=True))
    for reward, info in zip(scaled_rewards, infos, strict=True):
        assert reward == pytest.approx(sum(w * info["reward_terms"][t] / units[t] for t, w in weights.items()))


@pytest.mark.parametrize(("scenario", "seed"), [
    (lambda: load_scenario("failures_edge", {"simulation.horizon_s": 150.0}), 2),
    (lambda: _scenario(PLACED), 3),
])
def test_mask_never_allows_a_down_or_ineligible_node(scenario, seed):
    scenario = scenario()
    env = AllocationEnv(scenario, reward_scale=1.0)
    allowed = {(app.name, stage.name): set(eligible_nodes(stage, scenario))
               for app in scenario.applications.values() for stage in app.stages}
    rng = np.random.default_rng(0)
    env.reset(seed=seed)
    checked = down_seen = invalid = 0
    while True:
        decision = env.stepper.next_decision()
        mask = env.action_masks()
        for node in np.flatnonzero(mask):
            assert decision.view.is_up(int(node))
            assert int(node) in allowed[(decision.task.application, decision.task.stage_name)]
        down_seen += sum(not decision.view.is_up(node) for node in range(len(mask)))
        assert set(np.flatnonzero(mask)) == set(decision.available_nodes)
        action = int(rng.integers(len(mask)))  # any node: one outside the mask is replaced
        _, _, terminated, truncated, info = env.step(action)
        invalid += info["invalid_action"]
        assert info["invalid_action"] == (not mask[action])
        checked += 1
        if terminated or truncated:
            break
    assert checked > 30 and invalid > 0
    if scenario.failures:
        assert down_seen > 0  # the run did take nodes down while decisions were made
    env.close()


def test_invalid_action_error_rule_refuses():
    env = AllocationEnv(_scenario(PLACED), invalid_action="error")
    env.reset(seed=1)
    outside = int(np.flatnonzero(~env.action_masks())[0])
    with pytest.raises(ValueError, match="not an available node"):
        env.step(outside)
    env.close()


def test_observation_is_the_observers_for_the_same_view():
    """What the `drl` policy computes from a policy view is exactly what the agent saw in training."""
    scenario = load_scenario("demo_edge_cloud", {"simulation.max_jobs": 50})
    env = AllocationEnv(scenario)
    observer = Observer(scenario)
    observation, _ = env.reset(seed=11)
    for step in range(30):
        decision = env.stepper.next_decision()
        expected = observer.observe(decision.view, decision.task)
        assert np.array_equal(observation, expected)
        assert np.array_equal(env.action_masks(), observer.mask(decision.view, decision.task))
        assert observation.dtype == np.float32 and np.isfinite(observation).all()
        assert env.observation_space.contains(observation)
        observation, _, terminated, truncated, _ = env.step(int(np.flatnonzero(env.action_masks())[step % 2 - 1]))
        if terminated or truncated:
            break
    assert len(observer.feature_names) == observer.space.shape[0]
    env.close()


def test_truncation_at_max_decisions():
    env = AllocationEnv(load_scenario("demo_edge_cloud"), max_decisions=5)
    _, rewards, infos = _episode(env, 1, lambda step, mask: int(np.flatnonzero(mask)[0]))
    assert len(rewards) == 5 and "summary" not in infos[-1]
    env.close()


def test_vector_envs():
    vec_env = pytest.importorskip("stable_baselines3.common.vec_env",
                                  reason="vector environments need the rl extra: pip install 'allocsim[rl]'")
    scenario = load_scenario("demo_edge_cloud", {"simulation.max_jobs": 30})

    def make(seed: int):
        return lambda: AllocationEnv(scenario, seed=seed, max_decisions=20)

    for vector_class in (vec_env.DummyVecEnv, vec_env.SubprocVecEnv):
        envs = vector_class([make(1), make(2)])
        observations = envs.reset()
        assert observations.shape == (2, *Observer(scenario).space.shape)
        for _ in range(25):  # past max_decisions: the vector env resets the episode itself
            masks = np.stack(envs.env_method("action_masks"))
            observations, rewards, _dones, _infos = envs.step(masks.argmax(axis=1))
            assert np.isfinite(rewards).all() and np.isfinite(observations).all()
        envs.close()


@pytest.mark.parametrize(("value", "expected"), [
    ("response", {"response": 1.0}),
    ("response=1, energy=0.25", {"response": 1.0, "energy": 0.25}),
    ({"slo": 2, "slowdown": 0}, {"slo": 2.0, "slowdown": 0.0}),
])
def test_parse_reward(value, expected):
    assert parse_reward(value) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("latency", "unknown reward term 'latency'; allowed terms: response, slowdown"),
    ({"response": math.inf}, "finite number"),
    ("response=abc", "finite number"),
    ({"response": True}, "finite number"),
    ("response=0", "no non-zero weight"),
    ("energy,energy=2", "given twice"),
    (3, "a term name"),
])
def test_parse_reward_refuses(value, message):
    with pytest.raises(UserInputError, match=message):
        parse_reward(value)


@pytest.mark.parametrize(("options", "message"), [
    ({"reward_scale": 0.0}, "reward_scale"),
    ({"max_decisions": 0}, "max_decisions"),
    ({"invalid_action": "guess"}, "invalid_action"),
    ({"seed": -1}, "seed"),
])
def test_env_refuses_bad_parameters(options, message):
    with pytest.raises(UserInputError, match=message):
        AllocationEnv(_scenario(PLACED), **options)


def test_batch_mode_is_refused():
    raw = tomllib.loads(PLACED)
    raw["policy"] = {"mode": "batch", "name": "min_min"}
    with pytest.raises(UserInputError, match="immediate"):
        AllocationEnv(parse_scenario(raw))


def test_sizes_known_show_in_the_observation():
    """With clairvoyant sizes, the task's size and its known service time per node fill their entries and flag."""
    scenario = load_scenario("rl/park_load_balance", {"simulation.max_jobs": 30, "policy.clairvoyant": True})
    observer = Observer(scenario)
    env = AllocationEnv(scenario)
    observation, _ = env.reset(seed=1)
    decision = env.stepper.next_decision()
    names = observer.feature_names
    assert observation[names.index("sizes_known")] == 1.0
    size = decision.view.task_size_s(decision.task)
    assert observation[names.index("size")] == pytest.approx(math.log1p(size / observer.time_scale_s))
    known = decision.view.known_service_s(decision.task, 0)
    assert observation[names.index("server0.known_service")] == pytest.approx(
        math.log1p(known / observer.time_scale_s))
    plain = AllocationEnv(load_scenario("rl/park_load_balance", {"simulation.max_jobs": 30,
                                                                 "policy.clairvoyant": False}))
    observation, _ = plain.reset(seed=1)
    assert observation[names.index("sizes_known")] == observation[names.index("size")] == 0.0
    assert observation[names.index("server0.known_service")] == 0.0
    env.close()
    plain.close()


def test_core_modules_do_not_import_the_rl_libraries():
    """`import simulator` and a stepped run never load gymnasium, stable-baselines3 or torch."""
    probe = ("import sys, simulator, simulator.stepping, simulator.simulation, simulator.cli; "
             "print(sorted(m for m in ('gymnasium', 'stable_baselines3', 'sb3_contrib', 'torch') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent.parent).stdout
    assert output.strip() == "[]"


def test_the_readme_maskable_ppo_example_runs(monkeypatch):
    """The README's snippet runs as written (STYLE.md: every README snippet runs): MaskablePPO trains on the
    environment and its deterministic action respects the mask."""
    pytest.importorskip("sb3_contrib", reason="MaskablePPO needs the rl extra: pip install 'allocsim[rl]'")
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    snippet = readme.split("## Learning-based allocation", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(root)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["agent"].num_timesteps >= 1024
    assert not namespace["info"]["invalid_action"]
    namespace["env"].close()
