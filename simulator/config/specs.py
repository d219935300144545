"""The resolved scenario the simulator runs: frozen dataclasses made from a validated scenario file.

`simulator.config.resolve` builds them (groups expanded, links per member, profiles and traces read); nothing
after that boundary reads the file's tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.config.network_spec import NetworkSpec

__all__ = [
    "RESOURCE_QUEUES",
    "ApplicationSpec",
    "ArrivalSpec",
    "ModelSpec",
    "NodeSpec",
    "PolicySpec",
    "ProfileBinding",
    "Scenario",
    "ServiceSpec",
    "SimulationSpec",
    "StageSpec",
    "eligible_node_names",
    "eligible_nodes",
    "memory_limits_residency",
]

RESOURCE_QUEUES = ("fifo", "priority")
"""Queue disciplines of a node that runs stages demanding resources (its head waits until its demand fits)."""


@dataclass(frozen=True)
class SimulationSpec:
    """When a run stops and what it measures.

    Attributes:
        max_jobs: Arrivals stop after this many jobs in total (None: no limit).
        horizon_s: The clock stops here even if jobs are unfinished (None: run until all jobs finish).
        warmup_s: Jobs arriving before this time are left out of the summary metrics.
        seed: The run's root seed; every random stream is derived from it.
    """

    max_jobs: int | None = None
    horizon_s: float | None = None
    warmup_s: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class PolicySpec:
    """Which allocation policy decides, with its parameters, in immediate or batch (periodic) mode."""

    name: str = "least_loaded"
    params: Mapping[str, Any] = field(default_factory=dict)
    mode: str = "immediate"
    batch_interval_s: float = 1.0


@dataclass(frozen=True)
class NodeSpec:
    """A compute node: `slots` tasks run in parallel, each at `speed` times the device kind's cost-table rate.

    Power is linear in the number of busy slots between `idle_power_w` and `busy_power_w` (watts). With
    `max_batch_size` > 1 the node batches waiting tasks of the same model (as model servers do), waiting at
    most `max_batch_wait_s` for a batch to fill; with a finite `memory_bytes` only the models that fit are
    resident, and loading one costs its load time. `queue` is the node's discipline (`simulator.disciplines`):
    shortest-job-first orders by `sjf_by`, round robin preempts every `quantum_s`.
    """

    name: str
    kind: str
    group: str
    slots: int = 1
    speed: float = 1.0
    queue: str = "fifo"
    sjf_by: str = "expected"
    quantum_s: float = math.inf
    memory_bytes: float = math.inf
    idle_power_w: float = 0.0
    busy_power_w: float = 0.0
    max_batch_size: int = 1
    max_batch_wait_s: float = 0.0


@dataclass(frozen=True)
class ServiceSpec:
    """Service time of one model on one device kind: mean in seconds and distribution with its coefficient
    of variation (standard deviation / mean); the memory the model occupies while resident on a device of
    that kind (bytes) and the time to load it there (seconds). Distribution ``empirical``: from a profile.

    ``batch_scaling`` is the batch rule of a cost given by hand: a batch of ``b`` tasks takes one draw of the
    single-task time times ``b ** batch_scaling`` (0: a batch costs as much as one task, 1: as much as ``b``
    tasks one after the other); None: no rule, such a model is not batched (a profile's measured batch curve is
    the rule of an ``empirical`` cost).
    """

    mean_s: float
    distribution: str = "exponential"
    cv: float = 1.0
    memory_bytes: float = 0.0
    load_time_s: float = 0.0
    batch_scaling: float | None = None


@dataclass(frozen=True)
class ProfileBinding:
    """Where a model's calibrated service times come from: a profile (as named in the scenario and its
    resolved path), the model's name in it and the dtype of the rows used."""

    name: str
    path: str
    model: str
    dtype: str = "float32"


@dataclass(frozen=True)
class ModelSpec:
    """A model of the cost table: its service time per device kind, and the profile it was read from (if any)."""

    name: str
    devices: Mapping[str, ServiceSpec]
    profile: ProfileBinding | None = None


@dataclass(frozen=True)
class StageSpec:
    """One stage of an application DAG: the model it runs, its relative work, bytes it outputs, predecessors
    and where it may run (device kinds, node groups or node names; empty: anywhere its model has a cost).

    An entry stage (no predecessors) reads ``input_bytes`` from the job's source; None means the
    application's ``input_bytes``.

    A task of the stage holds ``slots`` of its node's slots and ``memory_bytes`` of its node's memory (working
    memory, drawn from the same ``memory_bytes`` as model residency) while it runs; the defaults (1, 0) are a
    plain task's demand.
    """

    name: str
    model: str
    work: float = 1.0
    output_bytes: float = 0.0
    after: tuple[str, ...] = ()
    placement: tuple[str, ...] = ()
    input_bytes: float | None = None
    slots: int = 1
    memory_bytes: float = 0.0

    @property
    def demands_resources(self) -> bool:
        """Whether a task of the stage needs more than one slot or any memory (a multi-resource node runs it)."""
        return self.slots > 1 or self.memory_bytes > 0


@dataclass(frozen=True)
class ApplicationSpec:
    """An application: a DAG of stages (in topological order), where its input originates (`source`), where
    its result must go (`sink`), its input size, deadline (SLO), priority (lower runs first) and weight (its share
    at nodes with weighted fair queueing)."""

    name: str
    stages: tuple[StageSpec, ...]
    source: str | None = None
    sink: str | None = None
    input_bytes: float = 0.0
    deadline_s: float = math.inf
    priority: float = 0.0
    weight: float = 1.0


@dataclass(frozen=True)
class ArrivalSpec:
    """One arrival stream: jobs of `application` from `source`, by an arrival process with its parameters.

    For `trace`, `trace_times_s` and `trace_applications` hold the replayed rows. `table` is the
    ``[arrivals.TABLE]`` it came from: a table becomes several streams when its source is a group (one per
    member) or its trace names several applications (one per application).
    """

    name: str
    application: str
    process: str
    params: Mapping[str, Any]
    source: str | None
    sink: str | None
    start_s: float = 0.0
    stop_s: float = math.inf
    trace_times_s: tuple[float, ...] = ()
    trace_applications: tuple[str, ...] = ()
    table: str = ""


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. `config` is the fully resolved configuration (after overrides) it came from."""

    name: str
    path: str
    simulation: SimulationSpec
    policy: PolicySpec
    nodes: tuple[NodeSpec, ...]
    network: NetworkSpec
    models: Mapping[str, ModelSpec]
    applications: Mapping[str, ApplicationSpec]
    arrivals: tuple[ArrivalSpec, ...]
    config: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    """Things that are valid but probably not what the user meant (each names file and field); a run reports
    them on stderr and in its summary's ``warnings``."""

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.nodes]


def eligible_node_names(stage: StageSpec, nodes: Sequence[NodeSpec], models: Mapping[str, ModelSpec]) -> list[str]:
    """Names of the nodes a stage may run on: its model has a cost on their kind, fits their memory, the node
    has the slots and memory the stage demands, and the stage's placement (if any) names the node, its group or
    its kind."""
    model = models.get(stage.model)
    if model is None:
        return []
    return [
        node.name
        for node in nodes
        if node.kind in model.devices
        and model.devices[node.kind].memory_bytes <= node.memory_bytes
        and stage.slots <= node.slots
        and stage.memory_bytes <= node.memory_bytes
        and (not stage.placement or {node.name, node.group, node.kind} & set(stage.placement))
    ]


def eligible_nodes(stage: StageSpec, scenario: Scenario) -> list[int]:
    """Indices of the nodes a stage may run on: its model has a cost there and its placement admits it."""
    names = set(eligible_node_names(stage, scenario.nodes, scenario.models))
    return [index for index, node in enumerate(scenario.nodes) if node.name in names]


def memory_limits_residency(node: NodeSpec, models: Mapping[str, ModelSpec]) -> bool:
    """Whether the node has a finite memory that some model it can run occupies (models are then loaded and
    evicted, as `simulator.cluster.ModelServerNode` does)."""
    return math.isfinite(node.memory_bytes) and any(
        model.devices[node.kind].memory_bytes > 0 for model in models.values() if node.kind in model.devices)
