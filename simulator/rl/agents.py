"""Training agents on a scenario's environment (Stable-Baselines3), saving them with their metadata, loading them.

Algorithms: ``ppo`` (SB3's PPO), ``maskable_ppo`` (sb3-contrib's MaskablePPO: chooses among the nodes the
action mask allows) and ``dqn`` (SB3's DQN: it has no masks; a node that is not available is replaced by the
environment's ``invalid_action`` rule, as every action outside the mask is). The networks are small MLPs
(`NET_ARCH`), so a saved agent takes a few hundred kB.

Seeds: one training seed seeds the algorithm (torch, numpy, its exploration) and the environments; each
environment draws its episodes' run seeds from its own generator, seeded from the training seed, inside
`TRAINING_SEEDS`. Evaluation seeds outside that range (`check_evaluation_seeds`) are never training episodes.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

import simulator
from simulator.config import Scenario
from simulator.errors import UserInputError
from simulator.policies.learned import read_agent_metadata, write_agent_metadata
from simulator.rl.env import AllocationEnv
from simulator.rl.imitation import check_teacher, clone, collect_demonstrations
from simulator.rl.observation import Observer
from simulator.rl.rewards import parse_reward
from simulator.user_files import user_output, writable_directory

__all__ = ["ALGORITHMS", "FINE_TUNING_HYPERPARAMETERS", "IMITATION_DECISIONS", "NET_ARCH", "TRAINING_SEEDS", "Agent",
           "check_evaluation_seeds", "load_agent", "observation_layout", "train_agent"]

logger = logging.getLogger(__name__)

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "maskable_ppo": MaskablePPO, "dqn": DQN}
"""The algorithms `train_agent` knows, by the name the CLI and the agent file use."""

NET_ARCH = (64, 64)
"""Hidden layers of the policy and value networks (DQN: of the Q-network)."""

TRAINING_SEEDS = range(1_000_000_000, 2_000_000_000)
"""Run seeds of training episodes; evaluation seeds must lie outside (`check_evaluation_seeds`)."""

MAX_TRAINING_SEED = 2**32 - 1
"""The training seed seeds numpy's legacy global generator too (SB3's ``set_random_seed``), which takes 32 bits."""

DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "ppo": {"n_steps": 512, "batch_size": 64},
    "maskable_ppo": {"n_steps": 512, "batch_size": 64},
    "dqn": {"learning_starts": 500, "buffer_size": 50_000, "exploration_fraction": 0.3, "target_update_interval": 500},
}
"""Defaults that differ from SB3's: shorter PPO rollouts (episodes of a scenario are short and the budgets of
the tests and benchmarks small) and a DQN that starts learning early; ``hyperparameters`` overrides them."""


IMITATION_DECISIONS = 20_000
"""Teacher decisions collected for the imitation warm start (`train_agent`'s ``imitate``), by default."""

FINE_TUNING_HYPERPARAMETERS: dict[str, Any] = {"learning_rate": 1e-4, "clip_range": 0.1}
"""PPO after an imitation warm start: smaller steps than SB3's defaults (3e-4, 0.2), so that the first updates,
made with noisy advantages, do not undo the cloned policy; ``hyperparameters`` overrides them."""


def observation_layout(observer: Observer) -> dict[str, Any]:
    """What an agent's observations and actions mean: the nodes (the actions, in order), the stages (the task's
    one-hot, in order) and every entry of the observation by name. An agent fits a scenario whose layout is equal.
    """
    return {"observation_size": int(np.prod(observer.space.shape)), "node_names": list(observer.node_names),
            "stages": [list(pair) for pair in observer.stages], "features": list(observer.feature_names)}


def check_evaluation_seeds(seeds: Sequence[int]) -> None:
    """Refuse evaluation seeds inside `TRAINING_SEEDS` (they could be training episodes).

    Raises:
        UserInputError: Naming the offending seeds and the training range.
    """
    inside = [seed for seed in seeds if seed in TRAINING_SEEDS]
    if inside:
        shown = ", ".join(map(str, inside[:5])) + (", ..." if len(inside) > 5 else "")
        raise UserInputError([f"evaluation seeds {shown} are in the range training episodes draw their seeds from "
                              f"({TRAINING_SEEDS.start}-{TRAINING_SEEDS.stop - 1}); choose seeds outside it"])


class TrainingSeeds(gymnasium.Wrapper[Any, Any, Any, Any]):
    """Each episode starts a run whose seed this wrapper draws from its generator inside `TRAINING_SEEDS`; a seed
    given to ``reset`` (SB3 gives each environment one, derived from the training seed, at the first reset)
    reseeds the generator."""

    def __init__(self, env: gymnasium.Env[Any, Any], seed: int) -> None:
        super().__init__(env)
        self._seeds = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self._seeds = np.random.default_rng(seed)
        run_seed = int(self._seeds.integers(TRAINING_SEEDS.start, TRAINING_SEEDS.stop))
        return self.env.reset(seed=run_seed, options=options)


@dataclass(frozen=True)
class _EnvironmentFactory:
    """Builds one training environment (picklable, so `SubprocVecEnv` builds it in its worker process)."""

    scenario: Scenario
    reward: str | Mapping[str, float]
    seed: int
    max_decisions: int | None

    def __call__(self) -> gymnasium.Env[Any, Any]:
        torch.set_num_threads(1)
        environment = AllocationEnv(self.scenario, seed=self.seed, reward=self.reward,
                                    max_decisions=self.max_decisions)
        return Monitor(TrainingSeeds(environment, self.seed))


class _TrainingProgress(BaseCallback):
    """Shows progress (a tqdm bar on a terminal, else a log line every 10 s) and writes the learning curve.

    The curve has a row every ``curve_every`` timesteps in which an episode ended: the timesteps so far, the
    episodes ended since the previous row, their mean episode reward and the mean response time of those among
    them whose run finished (a truncated episode has no run summary).
    """

    def __init__(self, total: int, show: bool, curve: Path | None, curve_every: int) -> None:
        super().__init__()
        self.total = total
        self.show = show
        self.curve = curve
        self.curve_every = curve_every
        self.rows: list[dict[str, float]] = []
        self._rewards: list[float] = []
        self._responses: list[float] = []
        self._last_row = 0
        self._bar: Any = None
        self._started = time.monotonic()
        self._last_line = self._started

    def _on_training_start(self) -> None:
        if self.show and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc="training", unit="step", file=sys.stderr, dynamic_ncols=True)

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            episode = info.get("episode")
            if episode is None:
                continue
            self._rewards.append(float(episode["r"]))
            summary = info.get("summary")
            if summary is not None:
                self._responses.append(float(summary.get("response_time_mean_s", math.nan)))
        steps = self.num_timesteps
        if self._rewards and steps - self._last_row >= self.curve_every:
            self._add_row(steps)
        self._show(steps)
        return True

    def _add_row(self, steps: int) -> None:
        responses = [value for value in self._responses if math.isfinite(value)]
        self.rows.append({"timesteps": steps, "episodes": len(self._rewards),
                          "mean_episode_reward": float(np.mean(self._rewards)),
                          "mean_response_time_s": float(np.mean(responses)) if responses else math.nan})
        self._rewards, self._responses, self._last_row = [], [], steps

    def _show(self, steps: int) -> None:
        if self._bar is not None:
            self._bar.update(max(0, min(steps, self.total) - self._bar.n))
            return
        now = time.monotonic()
        if self.show and now - self._last_line >= 10.0:
            self._last_line = now
            logger.info("training: %d/%d timesteps (%.0f%%), %.0f s elapsed", steps, self.total,
                        100.0 * steps / self.total, now - self._started)

    def _on_training_end(self) -> None:
        if self._rewards:
            self._add_row(self.num_timesteps)
        if self._bar is not None:
            self._bar.close()
        if self.curve is not None:
            _write_curve(self.curve, self.rows)


def _write_curve(path: Path, rows: Sequence[Mapping[str, float]]) -> None:
    fields = ["timesteps", "episodes", "mean_episode_reward", "mean_response_time_s"]
    with user_output(path, "learning curve"), path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        writer.writerows({key: ("" if isinstance(value, float) and math.isnan(value) else value)
                          for key, value in row.items()} for row in rows)


def _check_training_arguments(algorithm: str, timesteps: int, seed: int, n_envs: int, out: Path,
                              tensorboard_dir: Path | None, imitate: str | None, imitation_decisions: int) -> None:
    problems = []
    if algorithm not in ALGORITHMS:
        problems.append(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    if imitate is None and (isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps <= 0):
        problems.append(f"timesteps must be a positive integer, got {timesteps!r}")
    if imitate is not None:
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 0:
            problems.append(f"timesteps must be a non-negative integer (0: imitation only), got {timesteps!r}")
        if algorithm == "dqn":
            problems.append("imitate: the imitation warm start fits a policy network to the teacher's nodes; DQN has "
                            "none (only Q-values): use ppo or maskable_ppo")
        if (isinstance(imitation_decisions, bool) or not isinstance(imitation_decisions, int)
                or imitation_decisions <= 0):
            problems.append(f"imitation_decisions must be a positive integer, got {imitation_decisions!r}")
        try:
            check_teacher(imitate)
        except UserInputError as error:
            problems.extend(error.problems)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_TRAINING_SEED:
        problems.append(f"seed must be an integer in [0, {MAX_TRAINING_SEED}], got {seed!r}")
    if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
        problems.append(f"n_envs must be a positive integer, got {n_envs!r}")
    if Path(out).suffix != ".zip":
        problems.append(f"out must name a .zip file (the agent file), got {str(out)!r}")
    if tensorboard_dir is not None and importlib.util.find_spec("tensorboard") is None:
        problems.append("TensorBoard logs need the tensorboard package, which is not installed: "
                        "pip install tensorboard (or train without them)")
    if problems:
        raise UserInputError(problems)


def train_agent(scenario: Scenario, algorithm: str, timesteps: int, seed: int = 0,
                reward: str | Mapping[str, float] = "response", n_envs: int = 1, out: Path | str = "agent.zip",
                tensorboard_dir: Path | str | None = None, progress: bool = True,
                learning_curve: Path | str | None = None, hyperparameters: Mapping[str, Any] | None = None,
                max_decisions: int | None = None, imitate: str | None = None,
                imitation_decisions: int = IMITATION_DECISIONS) -> Agent:
    """Train an agent on ``scenario``'s environment and save it (with its metadata) at ``out``.

    With ``imitate``, the agent first clones the named heuristic (`simulator.rl.imitation`): its decisions on
    ``imitation_decisions`` decisions of training episodes, then ``timesteps`` decisions of the RL algorithm with
    `FINE_TUNING_HYPERPARAMETERS` (0: the cloned agent as it is).

    Args:
        scenario: A validated scenario in immediate mode.
        algorithm: ``ppo``, ``maskable_ppo`` or ``dqn`` (`ALGORITHMS`).
        timesteps: Decisions to train on (all environments together); after imitation, 0 is allowed.
        seed: The training seed (algorithm and episode seeds).
        reward: A reward term or a mapping term -> weight (`simulator.rl.parse_reward`).
        n_envs: Environments stepped together; more than one run in subprocesses.
        out: The agent file (``.zip``).
        tensorboard_dir: Where SB3 writes TensorBoard logs (needs the tensorboard package).
        progress: Show a progress bar (a terminal) or progress log lines.
        learning_curve: A CSV file for the learning curve (see `_TrainingProgress`); None: none.
        hyperparameters: Keyword arguments of the SB3 algorithm, over `DEFAULT_HYPERPARAMETERS`.
        max_decisions: Truncate training episodes after this many decisions (None: each runs to its end).
        imitate: A policy name usable in immediate mode: clone it before the RL algorithm (ppo, maskable_ppo).
        imitation_decisions: How many of the teacher's decisions to clone.

    Raises:
        UserInputError: A bad argument, a scenario the environment refuses, an unwritable output.
    """
    out = Path(out)
    tensorboard = Path(tensorboard_dir) if tensorboard_dir is not None else None
    _check_training_arguments(algorithm, timesteps, seed, n_envs, out, tensorboard, imitate, imitation_decisions)
    weights = parse_reward(reward)
    writable_directory(out.parent if str(out.parent) else Path("."), "--out")
    torch.set_num_threads(1)
    factories: list[Callable[[], gymnasium.Env[Any, Any]]] = [
        _EnvironmentFactory(scenario, weights, seed + index, max_decisions) for index in range(n_envs)]
    probe = AllocationEnv(scenario, reward=weights, max_decisions=max_decisions)  # refuses what the copies would
    observer = probe.observer
    probe.close()
    environments: VecEnv = SubprocVecEnv(factories) if n_envs > 1 else DummyVecEnv(factories)
    try:
        arguments: dict[str, Any] = {**DEFAULT_HYPERPARAMETERS[algorithm],
                                     **(FINE_TUNING_HYPERPARAMETERS if imitate is not None else {}),
                                     **(hyperparameters or {})}
        if algorithm != "dqn":
            arguments["batch_size"] = min(int(arguments["batch_size"]), int(arguments["n_steps"]) * n_envs)
        model = ALGORITHMS[algorithm]("MlpPolicy", environments, seed=seed, device="cpu", verbose=0,
                                      policy_kwargs={"net_arch": list(NET_ARCH)},
                                      tensorboard_log=str(tensorboard) if tensorboard is not None else None,
                                      **arguments)
        curve_every = max(1, timesteps // 100)
        callback = _TrainingProgress(timesteps, progress, Path(learning_curve) if learning_curve else None,
                                     curve_every)
        started = time.monotonic()
        imitation = None
        if imitate is not None:
            imitation = _imitate(model, scenario, imitate, imitation_decisions, seed, weights, max_decisions,
                                 masked=algorithm == "maskable_ppo")
        if timesteps > 0:
            model.learn(total_timesteps=timesteps, callback=callback)
        elif callback.curve is not None:
            _write_curve(callback.curve, [])  # imitation only: no RL episode, a curve without rows
        training_s = time.monotonic() - started
    finally:
        environments.close()
    metadata = {
        "algorithm": algorithm, "layout": observation_layout(observer), "time_scale_s": observer.time_scale_s,
        "scenario": {"name": scenario.name, "path": str(scenario.path)},
        "reward": weights, "timesteps": int(model.num_timesteps),
        "seed": seed, "n_envs": n_envs, "max_decisions": max_decisions,
        "training_seeds": [TRAINING_SEEDS.start, TRAINING_SEEDS.stop - 1],
        "imitation": imitation,
        "net_arch": list(NET_ARCH), "hyperparameters": {k: _plain(v) for k, v in arguments.items()},
        "training_s": round(training_s, 3), "allocsim_version": simulator.__version__,
    }
    with user_output(out, "--out"):
        model.save(out)
        write_agent_metadata(out, metadata)
    return Agent(out, read_agent_metadata(out), model)


def _imitate(model: BaseAlgorithm, scenario: Scenario, teacher: str, decisions: int, seed: int,
             reward: Mapping[str, float], max_decisions: int | None, masked: bool) -> dict[str, Any]:
    """Clone ``teacher`` into ``model`` on episodes whose run seeds come from `TRAINING_SEEDS` (a generator of
    their own, seeded from the training seed); what was done, for the agent's metadata."""
    started = time.monotonic()
    run_seeds = np.random.default_rng([seed, 1])
    demonstrations = collect_demonstrations(scenario, teacher, decisions, run_seeds, TRAINING_SEEDS, reward,
                                            gamma=float(getattr(model, "gamma", 0.99)), max_decisions=max_decisions)
    collected_s = time.monotonic() - started
    fit = clone(model, demonstrations, masked=masked, seed=seed)
    response = demonstrations.response_time_s
    return {"teacher": teacher, "decisions": len(demonstrations), "episodes": demonstrations.episodes,
            "teacher_response_time_mean_s": None if math.isnan(response) else round(response, 6), **fit,
            "collection_s": round(collected_s, 3), "fit_s": round(time.monotonic() - started - collected_s, 3)}


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a hyperparameter value."""
    return value if isinstance(value, bool | int | float | str) or value is None else repr(value)


@dataclass(frozen=True)
class Agent:
    """A trained agent: its file, its metadata and the SB3 model."""

    path: Path
    metadata: Mapping[str, Any]
    model: BaseAlgorithm

    @property
    def algorithm(self) -> str:
        return str(self.metadata["algorithm"])

    def predict(self, observation: np.ndarray, mask: np.ndarray) -> int:
        """The node the agent chooses for ``observation`` (deterministic); MaskablePPO only among ``mask``."""
        if self.algorithm == "maskable_ppo":
            action, _ = self.model.predict(observation, deterministic=True, action_masks=mask)  # type: ignore[call-arg]
        else:
            action, _ = self.model.predict(observation, deterministic=True)
        return int(action)

    def check_fits(self, scenario: Scenario, observer: Observer) -> None:
        """Raise `UserInputError` naming the file and the difference unless the agent fits ``scenario`` (observed
        by ``observer``): the same nodes, stages and observation entries, in the same order."""
        trained = self.metadata["layout"]
        here = observation_layout(observer)
        differences = [f"{key}: agent {_shown(trained.get(key))}, scenario {_shown(value)}"
                       for key, value in here.items() if trained.get(key) != value]
        if differences:
            raise UserInputError([f"{self.path}: the agent does not fit scenario {scenario.path} (it was trained on "
                                  f"{self.metadata['scenario']['path']}): " + "; ".join(differences[:2])
                                  + "; train an agent on this scenario"])


def _shown(value: Any) -> str:
    """A layout value in a message: short lists whole, long ones by their length and first entries."""
    if isinstance(value, list) and len(value) > 6:
        return f"{len(value)} entries [{', '.join(map(repr, value[:3]))}, ...]"
    return repr(value)


def load_agent(path: str | Path) -> Agent:
    """Load an agent file saved by `train_agent`.

    Raises:
        UserInputError: Naming the file: missing, not an agent, an unknown algorithm, unreadable by SB3.
    """
    path = Path(path)
    metadata = read_agent_metadata(path)
    algorithm = metadata.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise UserInputError([f"{path}: unknown algorithm {algorithm!r} in the agent's metadata; known: "
                              f"{', '.join(ALGORITHMS)}"])
    torch.set_num_threads(1)
    try:
        model = ALGORITHMS[algorithm].load(path, device="cpu")
    except Exception as error:  # a damaged or foreign zip: say which file, no traceback
        raise UserInputError([f"{path}: cannot load the {algorithm} agent: {type(error).__name__}: {error}"]) from None
    return Agent(path, metadata, model)
