"""Columnar records of tasks and jobs, turned into tidy pandas tables after the run (and the batches of model
servers into theirs).

Rows are packed into byte buffers (8 bytes a value), not kept as Python objects, so a run of a million jobs
records its tables in about 150 megabytes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from simulator.workload import Job, Task

TASK_STATES = ("finished", "running", "queued", "transferring", "pending", "failed", "moved", "cancelled")
"""A task row's state: the first five as in `Task.state`; an attempt that ended without finishing is ``failed``
(lost to a node failure), ``moved`` (taken off its node before it started) or ``cancelled`` (its job ended)."""
JOB_STATES = ("finished", "unfinished", "failed", "abandoned")
"""A job row's state: ``failed`` (a task exhausted its retries) and ``abandoned`` (its timeout passed) end a job
before it finished; ``unfinished`` jobs were still in the system when the run ended."""


TASK_ROW = np.dtype([("job_id", "<i8"), ("application", "<i8"), ("stage", "<i8"), ("node", "<i8"),
                     ("state", "<i8"), ("arrival_s", "<f8"), ("dispatch_s", "<f8"), ("ready_s", "<f8"),
                     ("start_s", "<f8"), ("finish_s", "<f8")])
JOB_ROW = np.dtype([("job_id", "<i8"), ("application", "<i8"), ("source", "<i8"), ("sink", "<i8"),
                    ("state", "<i8"), ("arrival_s", "<f8"), ("finish_s", "<f8")])
_pack_task = struct.Struct("<5q5d").pack
_pack_job = struct.Struct("<5q2d").pack


class Recorder:
    """Appends the packed rows of each job when it leaves the system: its own and one per task; jobs still in the
    system when the run ends are added by `unfinished`.

    A row is one ``struct.pack`` into a ``bytearray`` (80 bytes a task, 56 a job), read back after the run as
    a numpy structured array without copying. Writing a job's rows together costs one call per job.
    """

    def __init__(self) -> None:
        self.task_rows = bytearray()
        self.job_rows = bytearray()

    def job(self, job: Job, finished: bool = True) -> None:
        """Rows of a job and of its tasks: a job whose results have all been delivered (every task finished), or,
        with ``finished=False``, one still in the system when the run ended (each task with the state it was in;
        stages not released yet have no task and no row)."""
        job_id, application, arrival_s = job.id, job.application.index, job.arrival_s
        for task in job.tasks:
            if task is not None:
                self.task_rows += _pack_task(job_id, application, task.stage.index, task.node,
                                             0 if finished else TASK_STATES.index(task.state), arrival_s,
                                             task.dispatch_s, task.ready_s, task.start_s, task.finish_s)
        self.job_rows += _pack_job(job_id, application, job.source, job.sink, 0 if finished else 1, arrival_s,
                                   job.finish_s)

    def job_row(self, job: Job) -> None:
        """The row of a complete job alone: one whose late inputs (`simulator.joins`) still run; `tasks_of` writes
        its tasks' rows later."""
        self.job_rows += _pack_job(job.id, job.application.index, job.source, job.sink, 0, job.arrival_s,
                                   job.finish_s)

    def tasks_of(self, job: Job) -> None:
        """The rows of a complete job's tasks, each with the state it is in (released ones only)."""
        job_id, application, arrival_s = job.id, job.application.index, job.arrival_s
        for task in job.tasks:
            if task is not None:
                self.task_rows += _pack_task(job_id, application, task.stage.index, task.node,
                                             TASK_STATES.index(task.state), arrival_s, task.dispatch_s,
                                             task.ready_s, task.start_s, task.finish_s)

    def attempt(self, task: Task, state: str) -> None:
        """The row of one attempt of a task that ends in ``state`` (one of `TASK_STATES`), written at once: a
        dynamic run records attempts that fail, move or are cancelled when that happens."""
        job = task.job
        self.task_rows += _pack_task(job.id, job.application.index, task.stage.index, task.node,
                                     TASK_STATES.index(state), job.arrival_s, task.dispatch_s, task.ready_s,
                                     task.start_s, task.finish_s)

    def ended(self, job: Job, state: str) -> None:
        """The row of a job that ended before it finished (``failed`` or ``abandoned``); its tasks' rows are
        written by `attempt`."""
        self.job_rows += _pack_job(job.id, job.application.index, job.source, job.sink, JOB_STATES.index(state),
                                   job.arrival_s, job.finish_s)

    def unfinished(self, jobs: Sequence[Job]) -> None:
        """Rows of the jobs still in the system when the run ended."""
        for job in jobs:
            self.job(job, finished=False)

    def task_table(self, application_names: Sequence[str], stage_names: Sequence[Sequence[str]],
                   node_names: Sequence[str]) -> pd.DataFrame:
        """One row per task: times in seconds, node and stage by name, derived waiting and transfer times."""
        rows = np.frombuffer(self.task_rows, dtype=TASK_ROW)
        applications = rows["application"]
        flat_stage_names = [name for names in stage_names for name in names]
        stage_categories = list(dict.fromkeys(flat_stage_names))
        stage_codes = np.array([stage_categories.index(name) for name in flat_stage_names] or [0])
        offsets = np.cumsum([0, *[len(names) for names in stage_names]])[:-1]
        nodes = rows["node"].copy()
        times = {name: rows[name].copy() for name in ("arrival_s", "dispatch_s", "ready_s", "start_s", "finish_s")}
        frame = pd.DataFrame({
            "job_id": rows["job_id"].copy(),
            "application": _categorical(applications, application_names),
            "stage": _categorical(stage_codes[offsets[applications] + rows["stage"]] if len(rows) else rows["stage"],
                                  stage_categories),
            "node": _categorical(nodes, node_names),
            "node_index": nodes,
            **times,
            "state": _categorical(rows["state"], TASK_STATES),
            "transfer_s": times["ready_s"] - times["dispatch_s"],
            "wait_s": times["start_s"] - times["ready_s"],
            "service_s": times["finish_s"] - times["start_s"],
        })
        return frame

    def job_table(self, application_names: Sequence[str], vertex_names: Sequence[str],
                  deadlines_s: Sequence[float]) -> pd.DataFrame:
        """One row per job, in job order: arrival, finish (NaN if unfinished), response time, deadline (its
        application's, ``deadlines_s`` per application) and whether it was met."""
        rows = np.frombuffer(self.job_rows, dtype=JOB_ROW)
        order = np.empty(len(rows), dtype=np.intp)  # every job id 0..n-1 has exactly one row: scatter by id
        order[rows["job_id"]] = np.arange(len(rows))
        columns = {name: rows[name][order] for name in ("application", "source", "sink", "state", "arrival_s",
                                                         "finish_s")}
        labels = [*vertex_names, ""]  # -1 (no source or sink) maps to the last label
        arrival, finish = columns["arrival_s"], columns["finish_s"]
        deadline = np.asarray(deadlines_s, dtype=float)[columns["application"]] if len(rows) else np.empty(0)
        response = finish - arrival
        return pd.DataFrame({
            "job_id": np.arange(len(rows), dtype=np.int64),
            "application": _categorical(columns["application"], application_names),
            "source": _categorical(columns["source"] % len(labels), labels),
            "sink": _categorical(columns["sink"] % len(labels), labels),
            "arrival_s": arrival,
            "finish_s": finish,
            "deadline_s": deadline,
            "state": _categorical(columns["state"], JOB_STATES),
            "response_s": response,
            "deadline_met": response <= deadline,
        })


def batch_table(batches: Mapping[str, Sequence[tuple[str, float, float, int, float]]]) -> pd.DataFrame:
    """One row per finished batch, in start order: node, model, start, finish, size and the load time it
    included; ``batches`` gives, per node name, its batches as (model, start_s, finish_s, size, load_s)."""
    rows = [(node, model, start, finish, size, load)
            for node, node_batches in batches.items() for model, start, finish, size, load in node_batches]
    frame = pd.DataFrame(rows, columns=["node", "model", "start_s", "finish_s", "batch_size", "load_s"])
    frame["batch_size"] = frame["batch_size"].astype(np.int64)
    return frame.sort_values(["start_s", "node"], kind="stable").reset_index(drop=True)


def _categorical(codes: np.ndarray, categories: Sequence[str]) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(codes, categories=pd.Index(list(categories)))
