"""The dispatcher of a dynamic run: tasks are placed only on available nodes, wait when there is none, and can be
placed again (after a failure, a move, a retry) through the same policy.

A static run uses the plain `simulator.dispatch.Dispatcher`; this subclass overrides only the slow-path methods
(release, the decision check, the batch tick, input and result arrival), so a static run pays nothing for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from functools import partial
from typing import Any

import simpy

from simulator.config.specs import RecoverySpec
from simulator.dispatch import Dispatcher, ReadOnlyView
from simulator.dynamics.recovery import Recovery
from simulator.dynamics.redundancy import Redundancy
from simulator.workload import Job, Task


class AvailableView(ReadOnlyView):
    """The policies' view in a dynamic run: a task's eligible nodes are those that are up, that every input of the
    task can reach over links that are up, and that the current re-placement does not exclude."""

    _dispatcher: DynamicDispatcher

    def eligible_nodes(self, task: Task) -> Sequence[int]:
        dispatcher = self._dispatcher
        if not dispatcher.components_down and task not in dispatcher.exclusions:
            return task.stage.eligible  # all up: the configuration checked that every eligible node is reachable
        excluded: Collection[int] = dispatcher.exclusions.get(task, ())
        sources = [source for source, _ in dispatcher.inputs_of(task)]
        has_route = dispatcher.network.has_route
        nodes = self._nodes
        return [node for node in task.stage.eligible
                if nodes[node].up and node not in excluded
                and all(source == node or has_route(source, node) for source in sources)]

    def is_up(self, node: int) -> bool:
        return bool(self._nodes[node].up)


class DynamicDispatcher(Dispatcher):
    """A `Dispatcher` for a world where nodes fail: tasks with no available node are parked until a node or link
    comes up; a decision for an unavailable node is refused; withdrawn attempts (``node = -1``) ignore inputs that
    still arrive for them; jobs that ended early ignore their results; a job past its application's
    ``timeout_s`` is abandoned.

    Primitives for recovery and re-allocation: `place` (a task placed again through the policy, some nodes
    excluded), `Recovery.withdraw` (a task taken back from wherever it is), `Recovery.end_job`.
    """

    view_class = AvailableView
    view: AvailableView

    def __init__(self, *args: Any, recovery: RecoverySpec, **kwargs: Any) -> None:
        self.exclusions: dict[Task, frozenset[int]] = {}
        self.components_down = 0
        """Nodes and links down now (`component_changed`): while none is, every eligible node is available."""
        self.parked: dict[Task, None] = {}  # tasks with no available node, in the order they came
        self.redundancy: Redundancy | None = None  # set when some stage runs replicas
        super().__init__(*args, **kwargs)
        self.recovery = Recovery(self, recovery)
        if any(math.isfinite(application.spec.timeout_s) for application in self.applications):
            self._timed_jobs = 0
            self._arrival_callbacks.append(self._start_timeout)

    # -- placement -------------------------------------------------------------------------------------------

    def place(self, task: Task, exclude: Collection[int] = ()) -> None:
        """Place a new attempt of a task through the policy (or park it), never on a node in ``exclude``."""
        if exclude:
            self.exclusions[task] = frozenset(exclude)
        self._release(task, self.env._now)

    def _release(self, task: Task, now: float) -> None:
        if self._has_available_node(task):
            super()._release(task, now)
        else:
            self.parked[task] = None

    def _has_available_node(self, task: Task) -> bool:
        """Whether some node is available to the task. A move's exclusion (its node of origin) is dropped when it
        is all that stands in the way, so a moved task never waits for a node it may go back to."""
        if self.view.eligible_nodes(task):
            return True
        if self.exclusions.pop(task, None) is None:
            return False
        return bool(self.view.eligible_nodes(task))

    def component_changed(self, up: bool) -> None:
        """A node or link went down or came back up (called before anything is placed in the changed world)."""
        self.components_down += -1 if up else 1

    def examine_parked(self) -> None:
        """A node or link came up: place the parked tasks that now have an available node, in order."""
        parked, self.parked = self.parked, {}
        now = self.env._now
        for task in parked:
            self._release(task, now)

    def _checked(self, task: Task, node: int) -> int:
        available = self.view.eligible_nodes(task)
        if node not in available:
            raise RuntimeError(
                f"policy {self.policy.name!r} placed stage {task.stage_name!r} of application {task.application!r} "
                f"on node {node}, which is not available to it (down, unreachable from its inputs over links that "
                f"are up, excluded, or not eligible; available: {list(available)})")
        return node

    def _place_batch(self, tasks: list[Task], now: float) -> None:
        """Tasks whose nodes all went down since their release are parked; the policy places the others."""
        placeable = []
        for task in tasks:
            if self._has_available_node(task):
                placeable.append(task)
            else:
                self.parked[task] = None
        if placeable:
            if self.redundancy is not None:
                placeable = self.redundancy.with_replicas(placeable)
            super()._place_batch(placeable, now)

    def _assign(self, task: Task, node_index: int, now: float) -> None:
        if self.exclusions:
            self.exclusions.pop(task, None)
        redundancy = self.redundancy
        if redundancy is None or task.stage.spec.replicas == 1:
            super()._assign(task, node_index, now)
        elif redundancy.admits(task, node_index):
            super()._assign(task, node_index, now)
            redundancy.placed(task, now)

    def _input_arrived(self, task: Task) -> None:
        if task.node >= 0:  # a withdrawn attempt (node -1) ignores inputs still arriving for it
            super()._input_arrived(task)

    def _result_delivered(self, job: Job) -> None:
        if job.id in self.live_jobs:  # a job that ended early ignores results still arriving for it
            super()._result_delivered(job)
            if job.id not in self.live_jobs:
                self.recovery.forget(job)

    # -- timeouts --------------------------------------------------------------------------------------------

    def _start_timeout(self, _event: simpy.Event) -> None:
        """Second arrival callback (only when some application has a timeout): arm the new job's timeout."""
        if self.jobs_created == self._timed_jobs:
            return  # no job was created (``max_jobs`` reached)
        self._timed_jobs = self.jobs_created
        job = self.live_jobs.get(self.jobs_created - 1)
        if job is not None and math.isfinite(job.application.spec.timeout_s):
            callback: Callable[[Any], None] = partial(self._timed_out, job)
            self.env.timeout(job.application.spec.timeout_s).callbacks.append(callback)

    def _timed_out(self, job: Job, _event: simpy.Event) -> None:
        if job.id in self.live_jobs:
            self.recovery.end_job(job, "abandoned")
