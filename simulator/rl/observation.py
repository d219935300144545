"""What a learning agent sees of a decision: a fixed-size vector made from the policy view and the task alone.

The observation is a pure function of the `SystemView` and the `TaskView` a policy is handed, so an agent trained
on `AllocationEnv` can run as an ordinary policy and see exactly what it saw in training. Its layout and
normalisation (docs/rl.md) are fixed per scenario: per node, then per task; times are divided by the scenario's
time scale (`time_scale_s`) and heavy-tailed quantities (counts, seconds) compressed with ``log1p``.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from simulator.config import Scenario
from simulator.costs import CostTable
from simulator.policies import SystemView, TaskView
from simulator.workload import compile_applications

__all__ = ["NODE_FEATURES", "TASK_FEATURES", "Observer", "time_scale_s"]

NODE_FEATURES = ("up", "eligible", "slots", "capacity", "queue_length", "load", "work_left", "ready_in",
                 "expected_service", "transfer", "known_service")
"""Per node, in this order (docs/rl.md gives each one's normalisation)."""

TASK_FEATURES = ("size", "sizes_known")
"""After the per-node block and the one-hot of the task's (application, stage)."""


def time_scale_s(scenario: Scenario) -> float:
    """The scenario's time scale: the mean, over its applications' stages, of a stage's expected service time on
    its fastest eligible node (seconds); 1 s when that is not a positive finite number."""
    applications = compile_applications(scenario, CostTable(scenario.models), scenario.simulation.seed)
    fastest = [min(stage.exec_mean_s[node] for node in stage.eligible)
               for application in applications for stage in application.stages if stage.eligible]
    scale = float(np.mean(fastest)) if fastest else math.nan
    return scale if math.isfinite(scale) and scale > 0 else 1.0


def _compressed(seconds: float, scale_s: float) -> float:
    """``log1p(seconds / scale)``, 0 for a value that is not a non-negative finite number."""
    value = seconds / scale_s
    return math.log1p(value) if math.isfinite(value) and value > 0 else 0.0


class Observer:
    """The observation and action mask of decisions in runs of one scenario (its nodes and stages fixed).

    Attributes:
        space: The observation space: float32, ``n_nodes * len(NODE_FEATURES) + n_stages + len(TASK_FEATURES)``.
        node_names: The scenario's nodes, in index order.
        stages: The scenario's (application, stage) pairs, in the order of the one-hot.
        time_scale_s: What times are divided by.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.node_names = tuple(scenario.node_names)
        self.stages = tuple((application.name, stage.name) for application in scenario.applications.values()
                            for stage in application.stages)
        self._stage_index = {pair: index for index, pair in enumerate(self.stages)}
        self.time_scale_s = time_scale_s(scenario)
        slots = np.array([node.slots for node in scenario.nodes], dtype=float)
        capacity = slots * np.array([node.speed for node in scenario.nodes], dtype=float)
        self._slots = slots / slots.max()
        self._capacity = capacity / capacity.max() if capacity.max() > 0 else np.zeros_like(capacity)
        n_nodes = len(self.node_names)
        self._task_offset = n_nodes * len(NODE_FEATURES)
        size = self._task_offset + len(self.stages) + len(TASK_FEATURES)
        self.space = gym.spaces.Box(low=0.0, high=np.finfo(np.float32).max, shape=(size,), dtype=np.float32)

    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """One name per entry of the observation (``node.feature``, ``stage=app.stage``, then the task's)."""
        return (*(f"{node}.{feature}" for node in self.node_names for feature in NODE_FEATURES),
                *(f"stage={application}.{stage}" for application, stage in self.stages), *TASK_FEATURES)

    def mask(self, view: SystemView, task: TaskView) -> np.ndarray:
        """True exactly for the nodes the task may be placed on now (``view.eligible_nodes(task)``)."""
        mask = np.zeros(self.n_nodes, dtype=bool)
        mask[list(view.eligible_nodes(task))] = True
        return mask

    def observe(self, view: SystemView, task: TaskView) -> np.ndarray:
        """The observation of placing ``task`` now (float32, finite, non-negative, shaped as ``space``)."""
        scale = self.time_scale_s
        now = view.now
        known = view.sizes_known
        eligible = self.mask(view, task)
        node_block = np.empty((self.n_nodes, len(NODE_FEATURES)), dtype=np.float64)
        for node in range(self.n_nodes):
            node_block[node] = (
                1.0 if view.is_up(node) else 0.0,
                1.0 if eligible[node] else 0.0,
                self._slots[node],
                self._capacity[node],
                math.log1p(view.queue_length(node)),
                math.log1p(view.load(node)),
                _compressed(view.work_left_s(node), scale),
                _compressed(view.expected_ready_time_s(node) - now, scale),
                _compressed(view.exec_estimate_s(task, node), scale) if eligible[node] else 0.0,
                _compressed(view.transfer_estimate_s(task, node), scale) if eligible[node] else 0.0,
                _compressed(view.known_service_s(task, node), scale) if known and eligible[node] else 0.0,
            )
        observation = np.zeros(self.space.shape, dtype=np.float32)
        observation[:self._task_offset] = node_block.ravel()
        stage = self._stage_index.get((task.application, task.stage_name))
        if stage is not None:
            observation[self._task_offset + stage] = 1.0
        observation[-2] = _compressed(view.task_size_s(task), scale) if known else 0.0
        observation[-1] = 1.0 if known else 0.0
        return observation
