"""Imitation warm start: behaviour cloning of a heuristic before reinforcement learning.

A policy-gradient agent that starts from random weights in a heavy-tailed queueing system spends its budget in
runs whose queues explode, where the reward of a placement arrives long after it and varies wildly (Mao et al.,
"Variance reduction for reinforcement learning in input-driven environments", ICLR 2019, and the Park platform,
NeurIPS 2019, discuss this variance; Decima, SIGCOMM 2019, trains on a curriculum of growing episodes for the
same reason). The standard remedy is to pre-train the policy on a good controller's decisions (behaviour
cloning, e.g. the ``imitation`` library's BC or Stable-Baselines3's "pretraining" guide) and then fine-tune it
with the RL algorithm.

`collect_demonstrations` steps training episodes (run seeds inside `TRAINING_SEEDS`, never evaluation seeds) of
the training environment, each decision answered by the teacher bound to the run's view exactly as a plain run
binds it, and records the observation, the action mask, the teacher's node and the discounted return that
followed. `clone` fits the agent's policy network to the teacher's nodes by cross-entropy, through the policy's
own ``evaluate_actions`` (for MaskablePPO with the masks, so the masking is the one used at inference), and its
value network to the returns, so that fine-tuning starts with a critic that knows the teacher's costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from simulator.config import Scenario
from simulator.errors import UserInputError
from simulator.policies import IMMEDIATE, policy_class
from simulator.randomness import stream
from simulator.rl.env import AllocationEnv
from simulator.simulation import scenario_policy

__all__ = ["IMITATION_EPOCHS", "Demonstrations", "check_teacher", "clone", "collect_demonstrations"]

IMITATION_EPOCHS = 30
"""Passes over the demonstrations when cloning."""

IMITATION_BATCH = 256
IMITATION_LEARNING_RATE = 1e-3


def check_teacher(name: str) -> None:
    """Refuse a teacher that is not a policy name usable by itself in immediate mode (one decision at a time).

    Raises:
        UserInputError: Naming the teacher and what is allowed.
    """
    if not isinstance(name, str) or not name:
        raise UserInputError([f"imitate must name a policy, got {name!r}"])
    try:
        cls = policy_class(name)
    except UserInputError as error:
        raise UserInputError([f"imitate: {problem}" for problem in error.problems]) from None
    if IMMEDIATE not in cls.modes:
        raise UserInputError([f"imitate: policy {name!r} places tasks in batches only ({', '.join(cls.modes)}); the "
                              "agent places one task at a time, so the teacher must support immediate mode"])
    required = cls.required_params()
    if required:
        raise UserInputError([f"imitate: policy {name!r} needs parameters ({', '.join(required)}); "
                              "choose a policy usable by its name alone"])


@dataclass(frozen=True)
class Demonstrations:
    """The teacher's decisions: per decision the observation, the action mask, the node and the return after it.

    ``episodes``: how many runs they come from; ``response_time_s``: the mean response time of the runs that
    ended within the collection (NaN when none did).
    """

    observations: np.ndarray
    masks: np.ndarray
    actions: np.ndarray
    returns: np.ndarray
    episodes: int
    response_time_s: float

    def __len__(self) -> int:
        return len(self.actions)


def collect_demonstrations(scenario: Scenario, teacher: str, decisions: int, run_seeds: np.random.Generator,
                           seed_range: range, reward: str | Mapping[str, float], gamma: float,
                           max_decisions: int | None = None) -> Demonstrations:
    """``decisions`` decisions of ``teacher`` on episodes of the training environment whose run seeds
    ``run_seeds`` draws from ``seed_range`` (the training seeds).

    Returns are discounted by ``gamma`` (the algorithm's) to the end of each episode; the last episode is cut at
    ``decisions``, so its last returns miss the rest of the run (a small bias, on its last ~1/(1 - gamma) steps).
    """
    check_teacher(teacher)
    environment = AllocationEnv(scenario, reward=reward, max_decisions=max_decisions)
    observations: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    actions: list[int] = []
    returns: list[np.ndarray] = []
    responses: list[float] = []
    episodes = 0
    try:
        while len(actions) < decisions:
            run_seed = int(run_seeds.integers(seed_range.start, seed_range.stop))
            observation, _ = environment.reset(seed=run_seed)
            stepper = environment.stepper
            assert stepper is not None
            policy = scenario_policy(scenario, teacher)
            policy.prepare(scenario)
            policy.bind(stepper.view, stream(run_seed, "policy"))
            episodes += 1
            rewards: list[float] = []
            done = False
            while not done and len(actions) < decisions:
                decision = stepper.next_decision()
                assert decision is not None
                node = int(policy.assign(decision.task))
                observations.append(observation)
                masks.append(environment.action_masks())
                actions.append(node)
                observation, reward_value, terminated, truncated, info = environment.step(node)
                rewards.append(reward_value)
                done = terminated or truncated
                if terminated:
                    responses.append(float(info["summary"].get("response_time_mean_s", np.nan)))
            returns.append(_discounted(np.asarray(rewards), gamma))
    finally:
        environment.close()
    finite = [value for value in responses if np.isfinite(value)]
    return Demonstrations(np.asarray(observations, dtype=np.float32), np.asarray(masks, dtype=bool),
                          np.asarray(actions, dtype=np.int64), np.concatenate(returns).astype(np.float32),
                          episodes, float(np.mean(finite)) if finite else float("nan"))


def _discounted(rewards: np.ndarray, gamma: float) -> np.ndarray:
    result = np.empty_like(rewards, dtype=np.float64)
    running = 0.0
    for index in range(len(rewards) - 1, -1, -1):
        running = rewards[index] + gamma * running
        result[index] = running
    return result


def clone(model: BaseAlgorithm, demonstrations: Demonstrations, masked: bool, seed: int,
          epochs: int | None = None) -> dict[str, Any]:
    """Fit ``model``'s policy to the teacher's nodes (cross-entropy) and its value network to the returns (mean
    squared error), in minibatches for ``epochs`` passes; ``masked``: give the policy the action masks (as
    MaskablePPO's inference does). Returns what it did and the final agreement with the teacher (the share of
    demonstrations where the policy's most likely node is the teacher's)."""
    epochs = IMITATION_EPOCHS if epochs is None else epochs
    policy: Any = model.policy
    generator = torch.Generator().manual_seed(seed)
    observations = torch.as_tensor(demonstrations.observations)
    actions = torch.as_tensor(demonstrations.actions)
    masks = torch.as_tensor(demonstrations.masks)
    returns = torch.as_tensor(demonstrations.returns)
    optimizer = torch.optim.Adam(policy.parameters(), lr=IMITATION_LEARNING_RATE)
    policy.set_training_mode(True)
    for _ in range(epochs):
        order = torch.randperm(len(actions), generator=generator)
        for start in range(0, len(order), IMITATION_BATCH):
            batch = order[start:start + IMITATION_BATCH]
            values, log_prob, _ = _evaluate(policy, observations[batch], actions[batch],
                                            masks[batch] if masked else None)
            loss = -log_prob.mean() + torch.nn.functional.mse_loss(values.flatten(), returns[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    policy.set_training_mode(False)
    with torch.no_grad():
        chosen = []
        for start in range(0, len(actions), 4096):
            distribution = (policy.get_distribution(observations[start:start + 4096],
                                                    action_masks=masks[start:start + 4096].numpy())
                            if masked else policy.get_distribution(observations[start:start + 4096]))
            chosen.append(distribution.mode())
        agreement = float((torch.cat(chosen) == actions).float().mean())
    return {"epochs": epochs, "batch_size": IMITATION_BATCH, "learning_rate": IMITATION_LEARNING_RATE,
            "agreement": round(agreement, 4)}


def _evaluate(policy: Any, observations: torch.Tensor, actions: torch.Tensor,
              masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, Any]:
    if masks is None:
        return policy.evaluate_actions(observations, actions)
    return policy.evaluate_actions(observations, actions, action_masks=masks)
