"""Columnar records of tasks and jobs, turned into tidy pandas tables after the run.

Rows go into typed ``array`` columns (8 bytes a value), not one Python object per row, so a run of a million
jobs records its tables in tens of megabytes.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulator.workload import Job, Task

TASK_STATES = ("finished", "running", "queued", "transferring", "pending")
JOB_STATES = ("finished", "unfinished")


class Recorder:
    """Appends one row per finished task and per finished job; unfinished ones are added at the end."""

    def __init__(self) -> None:
        self.task_ints = {name: array("q") for name in ("job_id", "application", "stage", "node", "state")}
        self.task_times = {name: array("d") for name in ("arrival_s", "dispatch_s", "ready_s", "start_s",
                                                         "finish_s")}
        self.job_ints = {name: array("q") for name in ("job_id", "application", "source", "sink", "state")}
        self.job_times = {name: array("d") for name in ("arrival_s", "finish_s", "deadline_s")}
        self._task_columns = (*self.task_ints.values(), *self.task_times.values())

    def task(self, task: Task, state: int = 0) -> None:
        job = task.job
        ints = self.task_ints
        ints["job_id"].append(job.id)
        ints["application"].append(job.application.index)
        ints["stage"].append(task.stage.index)
        ints["node"].append(task.node)
        ints["state"].append(state)
        times = self.task_times
        times["arrival_s"].append(job.arrival_s)
        times["dispatch_s"].append(task.dispatch_s)
        times["ready_s"].append(task.ready_s)
        times["start_s"].append(task.start_s)
        times["finish_s"].append(task.finish_s)

    def job(self, job: Job, state: int = 0) -> None:
        ints = self.job_ints
        ints["job_id"].append(job.id)
        ints["application"].append(job.application.index)
        ints["source"].append(job.source)
        ints["sink"].append(job.sink)
        ints["state"].append(state)
        times = self.job_times
        times["arrival_s"].append(job.arrival_s)
        times["finish_s"].append(job.finish_s)
        times["deadline_s"].append(job.deadline_s)

    def unfinished(self, jobs: Sequence[Job]) -> None:
        """Record jobs still in the system when the run ended, with the state each of their tasks was in."""
        for job in jobs:
            for task in job.tasks:
                if task.finish_s != task.finish_s:
                    self.task(task, TASK_STATES.index(task.state))
            self.job(job, 1)

    def task_table(self, application_names: Sequence[str], stage_names: Sequence[Sequence[str]],
                   node_names: Sequence[str]) -> pd.DataFrame:
        """One row per task: times in seconds, node and stage by name, derived waiting and transfer times."""
        ints = {name: np.frombuffer(column, dtype=np.int64) for name, column in self.task_ints.items()}
        times = {name: np.frombuffer(column, dtype=np.float64) for name, column in self.task_times.items()}
        applications = ints["application"]
        stage_labels = np.array([name for names in stage_names for name in names] or [""], dtype=object)
        offsets = np.cumsum([0, *[len(names) for names in stage_names]])[:-1]
        nodes = ints["node"]
        frame = pd.DataFrame({
            "job_id": ints["job_id"].copy(),
            "application": pd.Categorical.from_codes(applications, categories=pd.Index(list(application_names))),
            "stage": stage_labels[offsets[applications] + ints["stage"]] if len(applications) else [],
            "node": pd.Categorical.from_codes(nodes, categories=pd.Index(list(node_names))),
            "node_index": nodes.copy(),
            **{name: values.copy() for name, values in times.items()},
            "state": pd.Categorical.from_codes(ints["state"], categories=pd.Index(list(TASK_STATES))),
        })
        frame["transfer_s"] = frame["ready_s"] - frame["dispatch_s"]
        frame["wait_s"] = frame["start_s"] - frame["ready_s"]
        frame["service_s"] = frame["finish_s"] - frame["start_s"]
        return frame

    def job_table(self, application_names: Sequence[str], vertex_names: Sequence[str]) -> pd.DataFrame:
        """One row per job: arrival, finish (NaN if unfinished), response time, deadline and whether met."""
        ints = {name: np.frombuffer(column, dtype=np.int64) for name, column in self.job_ints.items()}
        times = {name: np.frombuffer(column, dtype=np.float64).copy() for name, column in self.job_times.items()}
        labels = np.array([*vertex_names, ""], dtype=object)
        frame = pd.DataFrame({
            "job_id": ints["job_id"].copy(),
            "application": pd.Categorical.from_codes(ints["application"], categories=pd.Index(list(application_names))),
            "source": labels[ints["source"]],
            "sink": labels[ints["sink"]],
            **times,
            "state": pd.Categorical.from_codes(ints["state"], categories=pd.Index(list(JOB_STATES))),
        })
        frame["response_s"] = frame["finish_s"] - frame["arrival_s"]
        frame["deadline_met"] = frame["response_s"] <= frame["deadline_s"]
        return frame.sort_values("job_id", kind="stable").reset_index(drop=True)
