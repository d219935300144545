"""Jobs and tasks as plain data (not SimPy processes), and applications compiled for fast dispatch.

A job is one arrival of an application; each stage of the application's DAG becomes a task of the job once
its predecessors have finished.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.costs import Sampler
from simulator.scenario import ApplicationSpec, StageSpec


@dataclass(eq=False)
class CompiledStage:
    """A stage with everything the dispatcher needs precomputed per node.

    ``exec_mean_s[node]`` is the expected service time on each node, scaled by the stage's work and the node's
    speed (inf where it cannot run); ``samplers[node]`` draws actual, equally scaled times (None where it
    cannot run).
    """

    index: int
    spec: StageSpec
    application: str
    predecessors: tuple[int, ...]
    successors: tuple[int, ...]
    eligible: tuple[int, ...]
    exec_mean_s: list[float]
    samplers: list[Sampler | None]

    @property
    def is_exit(self) -> bool:
        return not self.successors


@dataclass(eq=False)
class CompiledApplication:
    """An application's stages in topological order, with entry and exit stage indices."""

    index: int
    spec: ApplicationSpec
    stages: list[CompiledStage]
    entry: tuple[int, ...]
    exits: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.spec.name


class Job:
    """One arrival of an application, from ``source`` to ``sink`` (vertex indices, -1 for none)."""

    __slots__ = ("application", "arrival_s", "deadline_s", "finish_s", "id", "priority", "results_pending",
                 "sink", "source", "stage_nodes", "tasks", "waiting_predecessors")

    def __init__(self, job_id: int, application: CompiledApplication, arrival_s: float, source: int,
                 sink: int) -> None:
        self.id = job_id
        self.application = application
        self.arrival_s = arrival_s
        self.source = source
        self.sink = sink
        spec = application.spec
        self.deadline_s = spec.deadline_s
        self.priority = spec.priority
        self.finish_s = math.nan
        self.waiting_predecessors = [len(stage.predecessors) for stage in application.stages]
        self.stage_nodes = [-1] * len(application.stages)
        self.results_pending = len(application.exits)
        self.tasks: list[Task] = []


class Task:
    """One stage of one job. Times are seconds of simulated time; NaN until reached.

    ``dispatch_s``: predecessors done and node chosen; ``ready_s``: inputs arrived at the node;
    ``start_s``/``finish_s``: service. It also satisfies the policies' read-only `TaskView`.
    """

    __slots__ = ("dispatch_s", "finish_s", "inputs_pending", "job", "node", "ready_s", "stage", "start_s")

    def __init__(self, job: Job, stage: CompiledStage) -> None:
        self.job = job
        self.stage = stage
        self.node = -1
        self.dispatch_s = math.nan
        self.ready_s = math.nan
        self.start_s = math.nan
        self.finish_s = math.nan
        self.inputs_pending = 0

    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def application(self) -> str:
        return self.stage.application

    @property
    def stage_name(self) -> str:
        return self.stage.spec.name

    @property
    def model(self) -> str:
        return self.stage.spec.model

    @property
    def priority(self) -> float:
        return self.job.priority

    @property
    def deadline_s(self) -> float:
        return self.job.deadline_s

    @property
    def arrival_s(self) -> float:
        return self.job.arrival_s

    @property
    def state(self) -> str:
        if self.finish_s == self.finish_s:
            return "finished"
        if self.start_s == self.start_s:
            return "running"
        if self.ready_s == self.ready_s:
            return "queued"
        if self.node >= 0:
            return "transferring"
        return "pending"
