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
    "FAILURE_CLOCKS",
    "ON_FAILURE_ACTIONS",
    "REBALANCING_TRIGGERS",
    "RESOURCE_QUEUES",
    "ApplicationSpec",
    "ArrivalSpec",
    "DurationSpec",
    "FailureProcessSpec",
    "ModelSpec",
    "NodeSpec",
    "OutageSpec",
    "PolicySpec",
    "ProfileBinding",
    "RebalancingSpec",
    "RecoverySpec",
    "Scenario",
    "ServiceSpec",
    "SimulationSpec",
    "StageSpec",
    "WorkStealingSpec",
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
    """Which allocation policy decides, with its parameters, in immediate or batch (periodic) mode; with
    ``clairvoyant`` each task's size is drawn when it is released and the policy may read it (`simulator.sizes`)."""

    name: str = "least_loaded"
    params: Mapping[str, Any] = field(default_factory=dict)
    mode: str = "immediate"
    batch_interval_s: float = 1.0
    clairvoyant: bool = False


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
    ``pareto`` and ``weibull`` are given by mean and ``shape`` (their ``cv`` follows from it: inf for a pareto
    shape <= 2), ``samples`` by the hand-given ``samples_s`` (``mean_s`` and ``cv`` are theirs).

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
    shape: float = 1.0
    samples_s: tuple[float, ...] = ()


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
    replicas: int = 1
    """Redundant execution: a task of the stage runs on up to this many distinct nodes at once; the first to
    finish wins and the others are cancelled (their work counted as wasted)."""
    join: str | int = "all"
    """Asynchronous join: the stage is released when this many of its predecessors have finished (``"all"``,
    ``"any"`` = 1, or k); the outputs of predecessors that finish later are dropped (late inputs)."""

    chunks: int = 1
    """The stage's output travels to each successor (and to the sink) as this many messages of equal size, one after
    another (`simulator.streaming`)."""
    streaming: bool = False
    """A task of the stage starts when the first chunk of each of its inputs has arrived (instead of the last), and
    finishes no earlier than its last chunk's arrival plus its service time / that input's chunks."""
    broker: str | None = None
    """The message broker (`[network.brokers.NAME]`) the stage's outputs travel through; None: directly."""

    @property
    def join_count(self) -> int:
        """How many predecessors the stage waits for."""
        if self.join == "all":
            return len(self.after)
        return 1 if self.join == "any" else int(self.join)

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
    timeout_s: float = math.inf
    """A job not complete ``timeout_s`` after its arrival is abandoned (its tasks cancelled); inf: never."""


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


FAILURE_CLOCKS = ("wall", "busy")
"""What a time to failure elapses in: simulated time, or only time during which the node has at least one task
queued or in service (failures caused by use)."""
ON_FAILURE_ACTIONS = ("redispatch", "resume", "restart")
"""What a node failure does to the tasks on the node: running and queued tasks go back to the policy (a running
one as a retry after a backoff), or they wait for the repair and then resume where they stopped
(preemptive-resume) or start again with a new draw (preemptive-repeat)."""
REBALANCING_TRIGGERS = ("off", "periodic", "threshold")
"""When queued tasks are moved to other nodes: never, at every check, or when a node's utilization or queue
over the window is above its threshold."""


@dataclass(frozen=True)
class DurationSpec:
    """A distribution of durations in seconds (a time to failure, a time to repair); `simulator.distributions`
    draws from it.

    ``distribution``: ``exponential`` and ``deterministic`` (by ``mean_s``), ``lognormal`` and ``gamma`` (by
    ``mean_s`` and ``cv``), ``weibull`` (by ``shape`` and ``scale_s``), ``empirical`` (``samples_s`` drawn
    uniformly with replacement). ``mean_s`` is the distribution's mean whatever the family (computed for
    ``weibull`` and ``empirical``).
    """

    distribution: str
    mean_s: float
    cv: float = 0.0
    shape: float = 1.0
    scale_s: float = 0.0
    samples_s: tuple[float, ...] = ()


@dataclass(frozen=True)
class FailureProcessSpec:
    """One failure process: a renewal sequence of up times (``time_to_failure``, elapsing in ``clock`` time) and
    repair times (``time_to_repair``) that takes down all of its nodes and links together.

    A node group or link table with ``correlated = false`` makes one process per member (independent failures);
    with ``correlated = true`` one process for the whole group (a site losing power). ``name`` is the node, group,
    link or link table the process belongs to; ``table`` the file's dotted path of its ``failures`` table.
    """

    name: str
    table: str
    nodes: tuple[str, ...]
    links: tuple[str, ...]
    time_to_failure: DurationSpec
    time_to_repair: DurationSpec
    clock: str = "wall"


@dataclass(frozen=True)
class OutageSpec:
    """A scripted outage: ``target`` (a node, node group, link or link table, as written) is down from
    ``start_s`` for ``duration_s``; ``nodes`` and ``links`` are what it names, resolved."""

    target: str
    nodes: tuple[str, ...]
    links: tuple[str, ...]
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class RecoverySpec:
    """What a node failure does to the work on it (``on_failure``, one of `ON_FAILURE_ACTIONS`), and how failed
    tasks are retried: at most ``max_retries`` re-executions (redispatch or restart) of a task before its job
    fails; the n-th retry of a task waits ``backoff_s * backoff_factor ** (n - 1)`` before it is placed again."""

    on_failure: str = "redispatch"
    max_retries: int = 3
    backoff_s: float = 0.0
    backoff_factor: float = 2.0


@dataclass(frozen=True)
class RebalancingSpec:
    """Moving queued, not yet started tasks away from loaded nodes during a run.

    Every ``interval_s`` a monitor samples each node's busy fraction (busy slots / slots) and queue length; with
    ``trigger = "periodic"`` it moves tasks from every node with a queue, with ``"threshold"`` only from nodes
    whose mean utilization over the last ``window_s`` is above ``utilization_above`` or whose mean queue is above
    ``queue_above``. At most ``max_moves`` tasks leave one node per check; each goes back to the policy (its node
    of origin excluded) and its inputs travel to its new node.
    """

    trigger: str = "off"
    interval_s: float = 10.0
    window_s: float = 30.0
    utilization_above: float = 0.8
    queue_above: float = math.inf
    max_moves: int = 10


@dataclass(frozen=True)
class WorkStealingSpec:
    """Work stealing: a node with a free slot and an empty queue takes the oldest queued task it may run from the
    eligible node with the longest queue (at least ``min_queue`` tasks queued there)."""

    enabled: bool = False
    min_queue: int = 1


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
    failures: tuple[FailureProcessSpec, ...] = ()
    outages: tuple[OutageSpec, ...] = ()
    recovery: RecoverySpec = field(default_factory=RecoverySpec)
    rebalancing: RebalancingSpec = field(default_factory=RebalancingSpec)
    work_stealing: WorkStealingSpec = field(default_factory=WorkStealingSpec)

    @property
    def is_dynamic(self) -> bool:
        """Whether anything can change the world or move work during a run (failures, outages, job timeouts,
        rebalancing, work stealing, redundant stages): only then does a run build the machinery for it."""
        return bool(self.failures or self.outages or self.rebalancing.trigger != "off" or self.work_stealing.enabled
                    or any(math.isfinite(app.timeout_s) or any(stage.replicas > 1 for stage in app.stages)
                           for app in self.applications.values()))

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
