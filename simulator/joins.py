"""Asynchronous joins: a stage with ``join = "any"`` or k is released when k of its predecessors have finished.

The dispatcher of a run whose scenario has such a stage (`JoinDispatcher`, mixed in before the run's dispatcher
class by `with_joins`) changes three things; a run where every join is "all" uses none of this module.

- Release: a job's count of predecessors a stage waits for starts at the stage's ``join_count`` (compiled into
  `CompiledApplication.initial_waiting`), so the plain release rule fires after k of them. The task's inputs are
  the outputs of those k predecessors (remembered at release), so it starts when they have arrived.
- Late inputs: a predecessor that finishes after its successor was released still ran (it had been released);
  its output is counted in the job's ``late_inputs`` and dropped (nothing travels).
- Completion: the job is complete when its sink results have arrived, even with late predecessors still running
  or not yet released. Its job row is written then; its task rows when its last task has finished (every stage
  of a job still runs), or, for a task still in the system when the run ends, with the state it is in then.
"""

from __future__ import annotations

from typing import Any

from simulator.dispatch import Dispatcher
from simulator.workload import NO_TASKS, CompiledApplication, Job, Task


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
        """Complete jobs (job row written) with tasks not finished yet, by job id."""
        self._joined: dict[Task, list[int]] = {}
        """Per released task of a partial join, not placed yet: the predecessors whose outputs it waits for."""

    def _release(self, task: Task, now: float) -> None:
        stage = task.stage
        if stage.spec.join != "all":
            tasks = task.job.tasks
            self._joined[task] = [p for p in stage.predecessors
                                  if (done := tasks[p]) is not None and done.finish_s == done.finish_s]
        super()._release(task, now)

    def inputs_of(self, task: Task) -> list[tuple[int, float]]:
        joined = self._joined.get(task)
        if joined is None:
            return super().inputs_of(task)
        job = task.job
        stages = job.application.stages
        return [(job.tasks[p].node, stages[p].spec.output_bytes) for p in joined]  # type: ignore[union-attr]

    def _assign(self, task: Task, node_index: int, now: float) -> None:
        super()._assign(task, node_index, now)
        self._joined.pop(task, None)

    def on_task_done(self, task: Task) -> None:
        job = task.job
        waiting = job.waiting_predecessors
        late = sum(1 for successor in task.stage.successors if waiting[successor] <= 0)
        if late:
            self.late_inputs[job.id] = self.late_inputs.get(job.id, 0) + late
        super().on_task_done(task)
        if job.id in self.completed_with_tasks and _all_finished(job):
            del self.completed_with_tasks[job.id]
            self.recorder.tasks_of(job)
            job.tasks = NO_TASKS

    def _result_delivered(self, job: Job) -> None:
        """As the plain dispatcher's, but a job whose late predecessors still run keeps its tasks until they end."""
        job.results_pending -= 1
        if job.results_pending == 0:
            job.finish_s = self.env._now
            del self.live_jobs[job.id]
            if _all_finished(job):
                self._record_job(job)
                job.tasks = NO_TASKS
            else:
                self.recorder.job_row(job)
                self.completed_with_tasks[job.id] = job

    def record_unfinished(self) -> None:
        super().record_unfinished()
        for job in self.completed_with_tasks.values():
            self.recorder.tasks_of(job)

    def late_inputs_per_job(self, n_jobs: int) -> list[int]:
        """The ``late_inputs`` column of the job table: one count per job id 0..n_jobs-1."""
        return [self.late_inputs.get(job_id, 0) for job_id in range(n_jobs)]


def _all_finished(job: Job) -> bool:
    """Every stage of ``job`` released and finished."""
    return all(task is not None and task.finish_s == task.finish_s for task in job.tasks)


_JOIN_CLASSES: dict[type[Dispatcher], type[Dispatcher]] = {}


def with_joins(dispatcher_class: type[Dispatcher]) -> type[Dispatcher]:
    """``dispatcher_class`` with asynchronous joins (one class per dispatcher class)."""
    if dispatcher_class not in _JOIN_CLASSES:
        _JOIN_CLASSES[dispatcher_class] = type(f"Join{dispatcher_class.__name__}",
                                               (JoinDispatcher, dispatcher_class), {})
    return _JOIN_CLASSES[dispatcher_class]
