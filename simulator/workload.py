"""Jobs and tasks as plain data (not SimPy processes), and applications compiled for fast dispatch.

A job is one arrival of an application; each stage of the application's DAG becomes a task of the job once
its predecessors have finished. `compile_applications` turns a scenario's applications into the compiled form
once per run, so that the dispatcher looks up eligible nodes, expected times and samplers instead of deriving
them per task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.config import ApplicationSpec, Scenario, StageSpec, eligible_nodes, runs_on
from simulator.costs import Sampler, ServiceTimeModel
from simulator.policies.base import StageGraph


@dataclass(eq=False)
class CompiledVariant:
    """One model variant of a stage (`simulator.variants`): its stated accuracy, and its expected service times and
    samplers per node, scaled as the stage's are (inf and None where the variant's model cannot run)."""

    model: str
    accuracy: float
    exec_mean_s: list[float]
    samplers: list[Sampler | None]


@dataclass(eq=False)
class CompiledStage:
    """A stage with everything the dispatcher needs precomputed per node.

    ``exec_mean_s[node]`` is the expected service time on each node, scaled by the stage's work and the node's
    speed (inf where it cannot run); ``samplers[node]`` draws actual, equally scaled times (None where it
    cannot run). A stage with model variants lists them in ``variants``; its own times and samplers are then, per
    node, those of the variant its rule prefers there (`simulator.variants.preferred_variant`), which policies
    plan with.
    """

    index: int
    spec: StageSpec
    application: str
    predecessors: tuple[int, ...]
    successors: tuple[int, ...]
    eligible: tuple[int, ...]
    exec_mean_s: list[float]
    samplers: list[Sampler | None]
    variants: tuple[CompiledVariant, ...] = ()

    def __post_init__(self) -> None:
        # The node of a stage with a single eligible node (placed without asking the policy), else -1.
        self.only_node = self.eligible[0] if len(self.eligible) == 1 else -1

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

    def __post_init__(self) -> None:
        self.initial_waiting = [stage.spec.join_count for stage in self.stages]  # "all": every predecessor
        self.n_stages = len(self.stages)
        self.n_exits = len(self.exits)
        self.entry_stages = [self.stages[index] for index in self.entry]
        self.stage_graph = StageGraph(
            names=tuple(stage.spec.name for stage in self.stages),
            predecessors=tuple(stage.predecessors for stage in self.stages),
            output_bytes=tuple(stage.spec.output_bytes for stage in self.stages),
            exec_s=np.array([stage.exec_mean_s for stage in self.stages], dtype=float),
        )

    @property
    def name(self) -> str:
        return self.spec.name


def _scaled(sampler: Sampler, factor: float) -> Sampler:
    if factor == 1.0:
        return sampler
    return lambda: sampler() * factor


def _times(model: str, stage: StageSpec, eligible: Sequence[int], scenario: Scenario, costs: ServiceTimeModel,
           seed: int, samplers: dict[tuple[str, str], Sampler]) -> tuple[list[float], list[Sampler | None]]:
    """Expected service times and samplers of ``model`` for ``stage`` on each node (inf and None on the nodes not in
    ``eligible`` and on those the model has no cost for); samplers are shared per (model, device kind)."""
    means = [math.inf] * len(scenario.nodes)
    node_samplers: list[Sampler | None] = [None] * len(scenario.nodes)
    spec = scenario.models[model]
    for node_index in eligible:
        node = scenario.nodes[node_index]
        if not runs_on(spec, node):
            continue  # another variant of the stage runs here
        key = (model, node.kind)
        if key not in samplers:
            samplers[key] = costs.sampler(model, node.kind, seed)
        factor = stage.work / node.speed
        means[node_index] = costs.mean_s(model, node.kind) * factor
        node_samplers[node_index] = _scaled(samplers[key], factor)
    return means, node_samplers


def _preferred_times(variants: Sequence[CompiledVariant], rule: str,
                     n_nodes: int) -> tuple[list[float], list[Sampler | None]]:
    """Per node, the expected time and sampler of the variant ``rule`` prefers there (what policies plan with)."""
    from simulator.variants import preferred_variant

    means = [math.inf] * n_nodes
    node_samplers: list[Sampler | None] = [None] * n_nodes
    for node in range(n_nodes):
        chosen = preferred_variant(variants, node, rule)
        if chosen >= 0:
            means[node] = variants[chosen].exec_mean_s[node]
            node_samplers[node] = variants[chosen].samplers[node]
    return means, node_samplers


def compile_applications(scenario: Scenario, costs: ServiceTimeModel, seed: int) -> list[CompiledApplication]:
    """Precompute, per stage, the eligible nodes, scaled mean times and samplers (shared per model and kind)."""
    samplers: dict[tuple[str, str], Sampler] = {}
    applications = []
    for app_index, app in enumerate(scenario.applications.values()):
        names = [stage.name for stage in app.stages]
        successors: dict[str, list[int]] = {name: [] for name in names}
        for index, stage in enumerate(app.stages):
            for before in stage.after:
                successors[before].append(index)
        stages = []
        for index, stage in enumerate(app.stages):
            eligible = tuple(eligible_nodes(stage, scenario))
            if stage.variants:
                variants = tuple(
                    CompiledVariant(variant.model, variant.accuracy,
                                    *_times(variant.model, stage, eligible, scenario, costs, seed, samplers))
                    for variant in stage.variants)
                means, node_samplers = _preferred_times(variants, scenario.policy.variant, len(scenario.nodes))
            else:
                variants = ()
                means, node_samplers = _times(stage.model, stage, eligible, scenario, costs, seed, samplers)
            stages.append(CompiledStage(
                index=index, spec=stage, application=app.name,
                predecessors=tuple(names.index(before) for before in stage.after),
                successors=tuple(successors[stage.name]), eligible=eligible,
                exec_mean_s=means, samplers=node_samplers, variants=variants,
            ))
        applications.append(CompiledApplication(
            index=app_index, spec=app, stages=stages,
            entry=tuple(s.index for s in stages if not s.predecessors),
            exits=tuple(s.index for s in stages if not s.successors),
        ))
    return applications


class KnownSize:
    """A clairvoyant task's (`simulator.sizes`) stand-in for its stage's samplers: "drawing" its service time on
    node n gives its known service time there. ``factor`` is r; ``size_s`` the task's size as a duration on a node
    of speed 1 (r x its model's mean on its first device kind x the stage's work)."""

    __slots__ = ("factor", "service_s", "size_s")

    def __init__(self, factor: float, size_s: float, service_s: list[float]) -> None:
        self.factor = factor
        self.size_s = size_s
        self.service_s = service_s

    def __getitem__(self, node: int) -> Sampler:
        return self.service_s[node].__float__  # a float's own __float__: a sampler that always gives that float


ServiceSamplers = Sequence[Sampler | None] | KnownSize
"""What a task draws its service time on a node from: its stage's samplers, or its known size."""


NO_TASKS: list[Task | None] = []
"""The task list of a job once recorded (see `Dispatcher._result_delivered`); shared, never written to."""


class Job:
    """One arrival of an application, from ``source`` to ``sink`` (vertex indices, -1 for none); made by
    `new_job`.

    ``tasks[stage]`` is the job's task for each stage once released (None before); ``waiting_predecessors``
    counts, per stage, the predecessors not finished yet that it waits for (its ``join_count``; below zero once
    late inputs of an asynchronous join have finished, `simulator.joins`); ``results_pending`` the exit results
    not delivered.
    """

    __slots__ = ("application", "arrival_s", "finish_s", "id", "results_pending", "sink", "source", "tasks",
                 "waiting_predecessors")
    id: int
    application: CompiledApplication
    arrival_s: float
    source: int
    sink: int
    finish_s: float
    waiting_predecessors: list[int]
    results_pending: int
    tasks: list[Task | None]

    @property
    def priority(self) -> float:
        return self.application.spec.priority

    @property
    def deadline_s(self) -> float:
        return self.application.spec.deadline_s


class Task:
    """One stage of one job. Times are seconds of simulated time; NaN until reached.

    ``dispatch_s``: predecessors done (released for placement; in batch mode, the tick that placed it);
    ``ready_s``: inputs arrived at the node; ``start_s``/``finish_s``: service. ``inputs_pending`` is set
    only when inputs travel. It also satisfies the policies' read-only `TaskView`. Made by `new_task`.

    ``samplers[node]`` draws the task's service time on a node and ``exec_s[node]`` is what the node counts in
    its backlog: its stage's samplers and expected times, or, for a task whose size is known (`simulator.sizes`),
    its known service time on each node. Nodes read them off the task, never off the stage.

    ``variant``, set only in a run with model variants (`simulator.variants`) once the task is placed, is the index
    of the stage's variant it runs; ``samplers`` and ``exec_s`` are then that variant's.
    """

    __slots__ = ("dispatch_s", "exec_s", "finish_s", "inputs_pending", "job", "node", "ready_s", "samplers", "stage",
                 "start_s", "variant")
    job: Job
    stage: CompiledStage
    samplers: ServiceSamplers
    exec_s: Sequence[float]
    node: int
    dispatch_s: float
    ready_s: float
    start_s: float
    finish_s: float
    inputs_pending: int
    variant: int

    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def application(self) -> str:
        return self.stage.application

    @property
    def stage_index(self) -> int:
        return self.stage.index

    @property
    def stage_name(self) -> str:
        return self.stage.spec.name

    @property
    def model(self) -> str:
        """The model the task runs: its stage's, or, for a stage with variants, its variant's once placed (the
        first variant's before)."""
        variants = self.stage.variants
        if variants and hasattr(self, "variant"):
            return variants[self.variant].model
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


# Jobs and tasks are made by plain functions rather than by calling their classes: a class call runs
# ``__init__`` through the type machinery, about 100 ns more per object, and a run makes one job per arrival
# and one task per stage of it.
_new_object = object.__new__


def new_job(job_id: int, application: CompiledApplication, arrival_s: float, source: int, sink: int) -> Job:
    """A job that has just arrived: no stage finished, no task released yet."""
    job: Job = _new_object(Job)
    job.id = job_id
    job.application = application
    job.arrival_s = arrival_s
    job.source = source
    job.sink = sink
    job.finish_s = math.nan
    job.waiting_predecessors = application.initial_waiting.copy()
    job.results_pending = application.n_exits
    job.tasks = [None] * application.n_stages
    return job


def new_task(job: Job, stage: CompiledStage, dispatch_s: float) -> Task:
    """The task of ``stage`` of ``job``, released at ``dispatch_s`` and not placed yet."""
    task: Task = _new_object(Task)
    task.job = job
    task.stage = stage
    task.samplers = stage.samplers
    task.exec_s = stage.exec_mean_s
    task.node = -1
    task.dispatch_s = dispatch_s
    task.ready_s = math.nan
    task.start_s = math.nan
    task.finish_s = math.nan
    job.tasks[stage.index] = task
    return task


def new_attempt(task: Task, dispatch_s: float) -> Task:
    """A new attempt (or a replica) of ``task``, released at ``dispatch_s``: the same work, so a known size stays."""
    attempt = new_task(task.job, task.stage, dispatch_s)
    attempt.samplers = task.samplers
    attempt.exec_s = task.exec_s
    if task.stage.variants and hasattr(task, "variant"):  # placed again, it may get another variant
        attempt.variant = task.variant
    return attempt
