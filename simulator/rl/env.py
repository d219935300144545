"""`AllocationEnv`: any immediate-mode scenario as a Gymnasium environment, one placement decision per step.

It drives a `simulator.stepping.DecisionStepper`: an observation (`Observer`) describes the pending decision, the
action is the node, and the run continues to the next decision; the reward is minus the growth of the run's
costs in between (`simulator.rl.rewards`). docs/rl.md is the contract the `drl` policy and training follow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from simulator.config import Scenario
from simulator.config.schema import MAX_SEED
from simulator.errors import UserInputError
from simulator.policies import BATCH
from simulator.rl.observation import Observer
from simulator.rl.rewards import REWARD_TERMS, meter_costs, parse_reward, term_units
from simulator.stepping import Decision, DecisionStepper

__all__ = ["INVALID_ACTIONS", "AllocationEnv"]

INVALID_ACTIONS = ("first_available", "error")
"""What an action outside the mask does: replaced by the available node with the lowest index, or ValueError."""


class AllocationEnv(gym.Env[np.ndarray, np.int64]):
    """Runs of ``scenario`` as episodes; a step places the pending task on the node the action names.

    Args:
        scenario: A validated scenario in immediate mode.
        seed: Seeds the environment's generator of episode seeds (default: the scenario's ``simulation.seed``).
        reward: A term of `REWARD_TERMS`, ``"name=weight,..."`` or a mapping of terms to weights.
        reward_scale: What every term is divided by; None: each term by its own unit (`term_units`).
        max_decisions: Episodes are truncated after this many decisions; None: they run to the end of the run.
        invalid_action: ``"first_available"`` (an action outside the mask becomes the lowest-index available
            node, and ``info["invalid_action"]`` is True) or ``"error"`` (ValueError).

    Raises:
        UserInputError: The scenario is in batch mode, or a parameter is out of range.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None, reward: str | Mapping[str, float] = "response",
                 reward_scale: float | None = None, max_decisions: int | None = None,
                 invalid_action: str = "first_available") -> None:
        if scenario.policy.mode == BATCH:
            raise UserInputError([f"{scenario.path}: policy.mode is 'batch', but the RL environment places one task "
                                  "at a time; set policy.mode = 'immediate'"])
        if reward_scale is not None and (isinstance(reward_scale, bool) or not isinstance(reward_scale, int | float)
                                         or not math.isfinite(reward_scale) or reward_scale <= 0):
            raise UserInputError([f"reward_scale must be a positive finite number or None, got {reward_scale!r}"])
        if max_decisions is not None and (isinstance(max_decisions, bool) or not isinstance(max_decisions, int)
                                          or max_decisions < 1):
            raise UserInputError([f"max_decisions must be a positive integer or None, got {max_decisions!r}"])
        if invalid_action not in INVALID_ACTIONS:
            raise UserInputError([f"invalid_action must be one of {', '.join(INVALID_ACTIONS)}, "
                                  f"got {invalid_action!r}"])
        _check_seed(seed, "seed")
        self.scenario = scenario
        self.observer = Observer(scenario)
        self.observation_space = self.observer.space
        self.action_space = gym.spaces.Discrete(self.observer.n_nodes)
        self.reward_weights = parse_reward(reward)
        self._weights = np.array([self.reward_weights.get(term, 0.0) for term in REWARD_TERMS])
        self._units = (term_units(scenario, self.observer.time_scale_s) if reward_scale is None
                       else np.full(len(REWARD_TERMS), float(reward_scale)))
        self.max_decisions = max_decisions
        self.invalid_action = invalid_action
        self._episode_seeds = np.random.default_rng(scenario.simulation.seed if seed is None else seed)
        self._stepper: DecisionStepper | None = None
        self._decision: Decision | None = None
        self._observation = np.zeros(self.observation_space.shape, dtype=np.float32)
        self._costs = np.zeros(len(REWARD_TERMS))
        self._decisions = 0

    @property
    def stepper(self) -> DecisionStepper | None:
        """The current episode's run (None before the first reset)."""
        return self._stepper

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new run: with ``seed``, that run's seed (and the generator of later episode seeds restarts from
        it); without, the next seed of the environment's generator."""
        _check_seed(seed, "reset(seed=...)")
        super().reset(seed=seed)
        if seed is not None:
            self._episode_seeds = np.random.default_rng(seed)
            run_seed = int(seed)
        else:
            run_seed = int(self._episode_seeds.integers(0, MAX_SEED, endpoint=True, dtype=np.uint64))
        if self._stepper is not None:
            self._stepper.close()
        self._stepper = DecisionStepper(self.scenario, run_seed)
        self._decision = self._stepper.next_decision()
        if self._decision is None:
            raise UserInputError([f"{self.scenario.path}: the run with seed {run_seed} asks for no placement "
                                  "decision (every stage has a single eligible node, or no job arrives before the "
                                  "horizon); there is nothing for an agent to decide"])
        self._costs = np.zeros(len(REWARD_TERMS))
        self._decisions = 0
        self._observation = self.observer.observe(self._decision.view, self._decision.task)
        return self._observation, {"time_s": self._decision.time_s, "seed": run_seed}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Place the pending task on node ``action`` and run to the next decision (or the end of the run)."""
        decision, stepper = self._decision, self._stepper
        if decision is None or stepper is None:
            raise RuntimeError("no decision is pending: call reset() first (and again after an episode ends)")
        node = int(action)
        invalid = node not in decision.available_nodes
        if invalid:
            if self.invalid_action == "error":
                raise ValueError(f"action {node} is not an available node; available: "
                                 f"{list(decision.available_nodes)}")
            node = decision.available_nodes[0]
        stepper.decide(node)
        self._decisions += 1
        self._decision = stepper.next_decision()
        costs = meter_costs(stepper.meter)
        terms = self._costs - costs
        self._costs = costs
        reward = float(self._weights @ (terms / self._units))
        info: dict[str, Any] = {"time_s": stepper.meter.time_s, "invalid_action": invalid,
                                "reward_terms": dict(zip(REWARD_TERMS, terms.tolist(), strict=True))}
        terminated = self._decision is None
        if terminated:
            info["summary"] = stepper.result().summary
        else:
            assert self._decision is not None
            info["time_s"] = self._decision.time_s
            self._observation = self.observer.observe(self._decision.view, self._decision.task)
        truncated = not terminated and self.max_decisions is not None and self._decisions >= self.max_decisions
        if truncated:
            self._decision = None
        return self._observation, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """The nodes the pending task may go to (sb3-contrib's MaskablePPO reads this); all, when none is pending."""
        if self._decision is None:
            return np.ones(self.observer.n_nodes, dtype=bool)
        return self.observer.mask(self._decision.view, self._decision.task)

    def close(self) -> None:
        """End the current run's thread."""
        if self._stepper is not None:
            self._stepper.close()
            self._stepper = None
        self._decision = None


def _check_seed(seed: Any, name: str) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                             or not 0 <= seed <= MAX_SEED):
        raise UserInputError([f"{name} must be an integer in [0, {MAX_SEED}] or None, got {seed!r}"])
