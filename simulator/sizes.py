"""Clairvoyant task sizes: each task's service requirement is drawn when it is released, and policies may read it.

With ``[policy] clairvoyant = true`` a task draws, at release and before it is placed, one size factor r (mean 1)
from its model's service distribution divided by that distribution's mean, from one random stream per model (common
random numbers: changing the policy does not change the sizes). Its service time on node n is then r x its stage's
expected time there (``exec_mean_s[n]``, which includes work / speed): exact in distribution because the
configuration admits clairvoyance only where every device kind of a model has the same law up to its mean
(`simulator.config.checks.check_clairvoyance`).

The known size rides on the task: ``task.samplers`` hands out its known service time on each node instead of a
draw, and ``task.exec_s`` holds those times, so every node counts them in its backlog (its ``work_left_s`` is then
exact) and no node needs code of its own; disciplines that order by expected size (``sjf``, ``wfq``'s tags) order
by the known size. A run without clairvoyance builds the plain dispatcher and draws nothing here. A retried,
restarted or moved attempt and a replica keep the task's size (`simulator.workload.new_attempt`): a restart
repeats the same work, a resumed task finishes what is left of it.
"""

from __future__ import annotations

import math
from typing import Any

from simulator.config import Scenario
from simulator.costs import Sampler, service_sampler
from simulator.dispatch import Dispatcher
from simulator.randomness import stream
from simulator.workload import KnownSize, Task

__all__ = ["ClairvoyantDispatcher", "TaskSizes"]


class TaskSizes:
    """Draws the size factor of each released task from its model's stream (``stream(seed, "sizes", model)``), in
    the law of the model's first device kind divided by its mean (every kind has that law up to its mean)."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self._draws: dict[str, tuple[Sampler, float]] = {}
        for application in scenario.applications.values():
            for stage in application.stages:
                if stage.model not in self._draws:
                    service = next(iter(scenario.models[stage.model].devices.values()))
                    rng = stream(seed, "sizes", stage.model)
                    self._draws[stage.model] = service_sampler(service, rng), service.mean_s

    def draw(self, task: Task) -> None:
        """Give ``task`` its known size: a factor r drawn now, its service time r x the expected time per node."""
        stage = task.stage
        sampler, mean_s = self._draws[stage.spec.model]
        factor = sampler() / mean_s
        service_s = [factor * expected if expected != math.inf else math.inf for expected in stage.exec_mean_s]
        task.samplers = KnownSize(factor, factor * mean_s * stage.spec.work, service_s)
        task.exec_s = service_s


class ClairvoyantDispatcher(Dispatcher):
    """A dispatcher whose tasks draw their size when they are released (mixed in before the dispatcher class of
    the run by `clairvoyant`). A task that already has one (a new attempt, a replica) keeps it."""

    sizes_known = True

    def __init__(self, *args: Any, sizes: TaskSizes, **kwargs: Any) -> None:
        self.sizes = sizes
        super().__init__(*args, **kwargs)

    def _release(self, task: Task, now: float) -> None:
        if task.samplers is task.stage.samplers:  # no size yet
            self.sizes.draw(task)
        super()._release(task, now)
