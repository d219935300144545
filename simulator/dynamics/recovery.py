"""What a node failure does to the work on it, retries with backoff, and jobs that end before they finish.

Per `RecoverySpec.on_failure` (docs/dynamics.md, "Behaviour"):

- ``redispatch``: running tasks lose their attempt (row ``failed``, its service wasted) and a new attempt is
  placed through the policy after the backoff (a retry); queued tasks, and tasks whose inputs arrive while the node
  is down, are placed again at once (row ``moved``, a migration).
- ``resume``: running tasks continue with their remaining service after the repair (the interrupted attempt is a
  ``failed`` row, the continuation a new attempt); queued and arriving tasks wait at the node.
- ``restart``: as resume, but a running task starts again with a new draw (a retry; its lost service is wasted).

A task retried more than ``max_retries`` times fails its job; every live attempt of an ended job (failed, or
abandoned at its timeout) is withdrawn and recorded ``cancelled``. With asynchronous joins (`simulator.joins`), a
late task (one whose output its job can no longer use) is never retried: its lost attempt ends its stage.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Any

import simpy

from simulator.config.specs import RecoverySpec
from simulator.joins import JoinDispatcher
from simulator.workload import NO_TASKS, Job, Task, new_attempt

if TYPE_CHECKING:
    from simulator.cluster import Node
    from simulator.dynamics.dispatcher import DynamicDispatcher
    from simulator.dynamics.watch import NodeWatch


class Recovery:
    """Acts on node failures and repairs, counts retries per (job, stage), ends jobs early.

    Attempts held at a down node wait in ``held_running`` (continuations: resumed with their remaining service,
    or restarted, remaining NaN) and ``held_queued`` (tasks that had not started, in order), per node.
    """

    def __init__(self, dispatcher: DynamicDispatcher, spec: RecoverySpec) -> None:
        self.dispatcher = dispatcher
        self.spec = spec
        self.env = dispatcher.env
        self.recorder = dispatcher.recorder
        self.nodes = dispatcher.nodes
        self.watch: NodeWatch | None = None
        self.held: dict[Task, int] = {}
        self.held_running: dict[int, list[tuple[Task, float]]] = {}
        self.held_queued: dict[int, list[Task]] = {}
        self.backing_off: set[Task] = set()
        self.recorded: set[Task] = set()  # failed attempts still current in their job (between failure and retry)
        self._retry_counts: dict[int, dict[int, int]] = {}  # job id -> stage -> retries so far
        self._saved_enqueue: dict[int, Any] = {}
        self.joins = dispatcher if isinstance(dispatcher, JoinDispatcher) else None
        """The dispatcher when some stage has an asynchronous join (late work is not retried), else None."""
        self.retries = 0
        """Retries over the run (migrations and wasted work follow from the task rows, in `metrics.summarize`)."""

    # -- failure and repair ----------------------------------------------------------------------------------

    def node_changed(self, index: int, up: bool) -> None:
        """The world's callback: node ``index`` failed (``up`` False) or was repaired."""
        if up:
            self._repaired(self.nodes[index])
        else:
            self._failed(self.nodes[index])

    def _failed(self, node: Node) -> None:
        node.up = False
        self.dispatcher.component_changed(up=False)
        now = self.env._now
        running, queued = node.drain()
        self._saved_enqueue[node.index] = vars(node).get("enqueue")
        node.enqueue = partial(self._arrived_while_down, node)  # type: ignore[method-assign]
        redispatch = self.spec.on_failure == "redispatch"
        resume = self.spec.on_failure == "resume"
        if redispatch:
            for task in queued:
                self._move(task)
        else:
            self.held_queued[node.index] = list(queued)
            self.held.update((task, node.index) for task in queued)
        for task, _, _ in running:  # every interrupted attempt is recorded before any job can end
            task.finish_s = now
            self.recorder.attempt(task, "failed")
            self.recorded.add(task)
        held = self.held_running.setdefault(node.index, [])
        dropped: list[Job] = []
        for task, _, remaining_s in running:
            if task not in self.recorded:
                continue  # its job ended while an earlier task of this node was handled
            if self._sibling_carries_on(task, recorded=True):
                self.recorded.discard(task)
                continue
            if self.joins is not None and not resume and not self.joins.needs(task):
                self.recorded.discard(task)
                self.joins.drop(task)  # late work is not retried
                dropped.append(task.job)
                continue
            retry = 0 if resume else self._count_retry(task)
            self.recorded.discard(task)
            if retry < 0:
                continue  # the job failed
            attempt = new_attempt(task, now)
            if redispatch:
                self._place_after_backoff(attempt, retry)
            else:
                attempt.node = node.index
                attempt.ready_s = now
                held.append((attempt, remaining_s if resume else math.nan))
                self.held[attempt] = node.index
        if self.joins is not None:
            for job in dropped:  # once every interrupted attempt is handled: a complete job may now be settled
                self.joins.settle(job)
        self._refresh(node)

    def _arrived_while_down(self, node: Node, task: Task) -> None:
        """A down node's ``enqueue``: a task whose inputs arrived (or that needs none) while the node is down."""
        node.load -= 1
        node.backlog_s -= task.exec_s[node.index]
        task.ready_s = self.env._now
        if self.spec.on_failure == "redispatch":
            self._move(task)
        else:
            self.held_queued.setdefault(node.index, []).append(task)
            self.held[task] = node.index

    def _repaired(self, node: Node) -> None:
        """Held continuations first (resumed or restarted), then held tasks in order; then parked tasks."""
        node.up = True
        self.dispatcher.component_changed(up=True)
        saved = self._saved_enqueue.pop(node.index)
        if saved is None:
            del vars(node)["enqueue"]
        else:
            node.enqueue = saved  # type: ignore[method-assign]
        index = node.index
        for task, remaining_s in self.held_running.pop(index, []):
            del self.held[task]
            node.load += 1
            node.backlog_s += task.exec_s[index]
            if math.isnan(remaining_s):
                node.enqueue(task)
            else:
                node.start_with(task, remaining_s)
        for task in self.held_queued.pop(index, []):
            del self.held[task]
            node.load += 1
            node.backlog_s += task.exec_s[index]
            node.enqueue(task)
        self._refresh(node)
        self.dispatcher.examine_parked()

    # -- retries and moves -----------------------------------------------------------------------------------

    def _count_retry(self, task: Task) -> int:
        """One more retry of the task's stage: its number (1 for the first), or -1 when that exceeds
        ``max_retries`` and the job has failed."""
        counts = self._retry_counts.setdefault(task.job.id, {})
        retry = counts.get(task.stage.index, 0) + 1
        if retry > self.spec.max_retries:
            self.end_job(task.job, "failed")
            return -1
        counts[task.stage.index] = retry
        self.retries += 1
        return retry

    def _place_after_backoff(self, task: Task, retry: int) -> None:
        delay_s = self.spec.backoff_s * self.spec.backoff_factor ** (retry - 1)
        if delay_s > 0:
            self.backing_off.add(task)
            self.env.timeout(delay_s).callbacks.append(partial(self._backoff_over, task))
        else:
            self.dispatcher.place(task)

    def _backoff_over(self, task: Task, _event: simpy.Event) -> None:
        if task in self.backing_off:  # not cancelled meanwhile
            self.backing_off.discard(task)
            task.dispatch_s = self.env._now
            self.dispatcher.place(task)

    def _move(self, task: Task) -> None:
        """A task that had not started leaves its failed node; a new attempt is placed at once (unless it is a
        replica whose sibling still races)."""
        if not self._sibling_carries_on(task, recorded=False):
            self.dispatcher.place(self.moved(task))

    def moved(self, task: Task) -> Task:
        """A task taken off its node before it started is recorded ``moved`` (a migration); returns its new
        attempt, not placed yet."""
        self.recorder.attempt(task, "moved")
        return new_attempt(task, self.env._now)

    def _sibling_carries_on(self, task: Task, recorded: bool) -> bool:
        """Redundant execution: an attempt a failure took is not replaced while a sibling replica still races."""
        redundancy = self.dispatcher.redundancy
        return redundancy is not None and redundancy.lost(task, recorded)

    # -- taking work back and ending jobs --------------------------------------------------------------------

    def withdraw(self, task: Task) -> float:
        """Take a live, unfinished attempt back from wherever it is (waiting for a placement, a backoff, a node or
        its inputs; queued or running on a node), as if it had never been placed; returns the service it had
        received. An attempt whose inputs are still travelling gets ``node = -1``, so they are ignored."""
        dispatcher = self.dispatcher
        dispatcher.exclusions.pop(task, None)
        if task in self.held:
            index = self.held.pop(task)
            self.held_running[index] = [entry for entry in self.held_running.get(index, []) if entry[0] is not task]
            self.held_queued[index] = [waiting for waiting in self.held_queued.get(index, []) if waiting is not task]
            return 0.0
        if task in self.backing_off:
            self.backing_off.discard(task)
            return 0.0
        if task in dispatcher.parked:
            del dispatcher.parked[task]
            return 0.0
        if task.node < 0:
            dispatcher.pending.remove(task)  # released, waiting for the next batch tick
            return 0.0
        node = self.nodes[task.node]
        if math.isnan(task.ready_s):  # inputs travelling: the node counts it in its load
            node.load -= 1
            node.backlog_s -= task.exec_s[task.node]
            task.node = -1
            return 0.0
        received_s = node.remove(task)
        self._refresh(node)
        return received_s

    def end_job(self, job: Job, state: str) -> None:
        """End a live job before it finished (``failed`` or ``abandoned``): its live attempts are withdrawn and
        recorded ``cancelled`` (the service they had received is wasted), its finished tasks recorded."""
        del self.dispatcher.live_jobs[job.id]
        self.forget(job)
        if self.joins is not None:
            self.joins.forget(job)
        if self.dispatcher.redundancy is not None:
            self.dispatcher.redundancy.end_groups(job)
        for task in job.tasks:
            if task is None:
                continue
            if task in self.recorded:  # a failed attempt, already recorded
                self.recorded.discard(task)
                continue
            if not math.isnan(task.finish_s):
                self.recorder.attempt(task, "finished")
                continue
            self.cancel(task)
        self.recorder.ended(job, state)
        job.tasks = NO_TASKS

    def cancel(self, task: Task) -> None:
        """Take a live attempt back and record it ``cancelled`` (the service it had received wasted, in its row)."""
        self.withdraw(task)
        if not math.isnan(task.start_s):
            task.finish_s = self.env._now
        self.recorder.attempt(task, "cancelled")

    def forget(self, job: Job) -> None:
        """Drop the retry counts of a job that has left the system."""
        self._retry_counts.pop(job.id, None)

    def _refresh(self, node: Node) -> None:
        if self.watch is not None:
            self.watch.refresh(node.index)
