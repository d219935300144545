"""Asynchronous joins: a stage with ``join = "any"`` or k is released when k of its predecessors have finished.

The dispatcher of a run whose scenario has such a stage (`JoinDispatcher`, placed under the run's dispatcher class
by `with_joins`, so a dynamic dispatcher's checks wrap it) changes three things; a run where every join is "all"
uses none of this module.

- Release: a job's count of predecessors a stage waits for starts at the stage's ``join_count`` (compiled into
  `CompiledApplication.initial_waiting`), so the plain release rule fires after k of them. The task's inputs are
  the outputs of those k predecessors (remembered per job and stage at release), so it starts when they have
  arrived; every later attempt of the stage (a retry, a move, a continuation, a replica) takes the same k inputs.
- Late inputs: a predecessor that finishes after its successor was released still ran (it had been released);
  its output is counted in the job's ``late_inputs`` (once per successor, when the attempt that finishes ends) and
  dropped (nothing travels).
- Completion: the job is complete when its sink results have arrived, even with late predecessors still running
  or not yet released. Its job row is written then; its task rows when it has no live attempt left (its last late
  task finished or was dropped), or, for tasks still in the system when the run ends, with the state they are in
  then.

In a dynamic world (docs/dynamics.md, "Asynchronous joins"): a task is *late* when the job can no longer use its
output (`JoinDispatcher.needs` is False): its job is complete or ended, or every path from its stage to an exit
passes through a stage already released. Late work is never retried: an attempt of a late task lost to a node
failure under ``redispatch`` or ``restart`` is recorded ``failed`` and its stage ends there (`drop`): no retry is
counted, so it never fails its job nor touches a job that is complete. Moves and resumed continuations are not
retries and apply to late work as to any. A job's timeout abandons only a job that is not complete; ending a job
cancels its late work with the rest.
"""

from __future__ import annotations

from typing import Any

from simulator.dispatch import Dispatcher
from simulator.workload import NO_TASKS, CompiledApplication, CompiledStage, Job, Task


def has_joins(applications: list[CompiledApplication]) -> bool:
    """Whether some stage waits for fewer than all of its predecessors."""
    return any(stage.spec.join != "all" for app in applications for stage in app.stages)


class JoinDispatcher(Dispatcher):
    """A dispatcher whose stages may wait for only some of their predecessors (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.late_inputs: dict[int, int] = {}
        """Per job id with any: the predecessor outputs that arrived after their successor was released."""
        self.completed_with_tasks: dict[int, Job] = {}
        """Complete jobs (job row written) with live attempts (late work), by job id."""
        self._joined: dict[int, dict[int, list[int]]] = {}
        """Per job id, per stage of a partial join released: the predecessors whose outputs its attempts take."""

    def inputs_of(self, task: Task) -> list[tuple[int, float]]:
        job = task.job
        joined = self._joined.get(job.id)
        predecessors = joined.get(task.stage.index) if joined is not None else None
        if predecessors is None:
            return super().inputs_of(task)
        stages = job.application.stages
        return [(job.tasks[p].node, stages[p].spec.output_bytes) for p in predecessors]  # type: ignore[union-attr]

    def on_task_done(self, task: Task) -> None:
        job = task.job
        stages = job.application.stages
        waiting = job.waiting_predecessors
        late = 0
        for successor in task.stage.successors:
            if waiting[successor] <= 0:
                late += 1
            elif waiting[successor] == 1 and stages[successor].spec.join != "all":  # this finish releases it
                tasks = job.tasks
                self._joined.setdefault(job.id, {})[successor] = [
                    p for p in stages[successor].predecessors
                    if (done := tasks[p]) is not None and done.finish_s == done.finish_s]
        if late:
            self.late_inputs[job.id] = self.late_inputs.get(job.id, 0) + late
        super().on_task_done(task)
        self.settle(job)

    def _result_delivered(self, job: Job) -> None:
        """As the plain dispatcher's, but a job with live late work keeps its tasks until that work ends."""
        if job.results_pending > 1 or _no_live_attempt(job):
            super()._result_delivered(job)
            if job.results_pending == 0:
                self._joined.pop(job.id, None)
            return
        job.results_pending = 0
        job.finish_s = self.env._now
        del self.live_jobs[job.id]
        self.recorder.job_row(job)
        self.completed_with_tasks[job.id] = job

    def needs(self, task: Task) -> bool:
        """Whether ``task``'s job can still use its output: the job is live (not complete, not ended) and the
        stage is an exit or feeds one through stages not released yet (monotone: once False, False for good)."""
        job = task.job
        return job.id in self.live_jobs and _feeds_an_exit(job, task.stage)

    def drop(self, task: Task) -> None:
        """A late attempt lost to a failure is not replaced (its row is written by the caller): its stage ends
        there. The caller then calls `settle` for its job, once every attempt the failure interrupted is handled
        (until then those attempts look finished, and a complete job would be settled with them)."""
        job = task.job
        if job.tasks[task.stage.index] is task:
            job.tasks[task.stage.index] = None

    def forget(self, job: Job) -> None:
        """A job ended early (failed or abandoned, `simulator.dynamics.recovery`): drop what joins kept for it."""
        self._joined.pop(job.id, None)

    def settle(self, job: Job) -> None:
        """A complete job whose late work has all ended: its task rows, and it leaves the system."""
        if job.id in self.completed_with_tasks and _no_live_attempt(job):
            del self.completed_with_tasks[job.id]
            self._joined.pop(job.id, None)
            self.recorder.tasks_of(job)
            job.tasks = NO_TASKS

    def record_unfinished(self) -> None:
        super().record_unfinished()
        for job in self.completed_with_tasks.values():
            self.recorder.tasks_of(job)

    def late_inputs_per_job(self, n_jobs: int) -> list[int]:
        """The ``late_inputs`` column of the job table: one count per job id 0..n_jobs-1."""
        return [self.late_inputs.get(job_id, 0) for job_id in range(n_jobs)]


def _no_live_attempt(job: Job) -> bool:
    """Every released stage of ``job`` finished (a stage whose late work was dropped has no attempt)."""
    return all(task is None or task.finish_s == task.finish_s for task in job.tasks)


def _feeds_an_exit(job: Job, stage: CompiledStage) -> bool:
    """Whether ``stage`` is an exit of ``job`` or the predecessor of a stage not released yet that feeds one."""
    if not stage.successors:
        return True
    waiting, stages = job.waiting_predecessors, job.application.stages
    return any(waiting[successor] > 0 and _feeds_an_exit(job, stages[successor]) for successor in stage.successors)


_JOIN_CLASSES: dict[type[Dispatcher], type[Dispatcher]] = {}


def with_joins(dispatcher_class: type[Dispatcher]) -> type[Dispatcher]:
    """``dispatcher_class`` with asynchronous joins (one class per dispatcher class). Joins sit under the given
    class, just above the plain dispatcher, so a dynamic dispatcher's checks (results of ended jobs ignored) wrap
    the joins' completion rule."""
    if dispatcher_class is Dispatcher:
        return JoinDispatcher
    if dispatcher_class not in _JOIN_CLASSES:
        _JOIN_CLASSES[dispatcher_class] = type(f"Join{dispatcher_class.__name__}",
                                               (dispatcher_class, JoinDispatcher), {})
    return _JOIN_CLASSES[dispatcher_class]
