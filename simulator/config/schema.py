"""The scenario FILE format as pydantic models: what each table may hold and the sane range of every field.

Each field's check is a `simulator.config.values` checker, so pydantic reports every problem at once with the
project's own messages, and the JSON Schema editors use (`python -m simulator schema`) comes from the same
definitions. `validate_file` turns pydantic's errors into ``FILE: dotted.field ...`` problems. Values that
depend on other fields (a default taken from another field, references between tables, trace files,
profiles) are the business of `simulator.config.resolve`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Tag,
    ValidationError,
)
from pydantic_core import core_schema

from simulator.calibration.profile import DTYPES
from simulator.config.network_spec import BROKER_SERVICE_DISTRIBUTIONS, DUPLEX_MODES, SHARING_MODELS
from simulator.config.problems import Problems
from simulator.config.specs import (
    FAILURE_CLOCKS,
    ON_FAILURE_ACTIONS,
    REBALANCING_TRIGGERS,
    RebalancingSpec,
    RecoverySpec,
    WorkStealingSpec,
)
from simulator.config.values import (
    Boolean,
    Choice,
    InRange,
    IntInRange,
    JoinCount,
    ListOf,
    NameList,
    NonEmptyString,
    StateRate,
    Table,
    describe,
)
from simulator.policies import MODES

__all__ = [
    "ARRIVAL_PROCESSES",
    "DEFAULT_DURATION_DISTRIBUTION",
    "DISTRIBUTIONS",
    "DURATION_TABLES",
    "EMPIRICAL",
    "MAX_SEED",
    "PARETO_SHAPE_MIN",
    "PROCESS_TABLES",
    "QUEUE_DISCIPLINES",
    "SAMPLES",
    "SHAPE_FAMILIES",
    "SJF_SIZES",
    "ApplicationTable",
    "ArrivalTable",
    "CompressionTable",
    "DeviceCostTable",
    "DurationTable",
    "FailuresTable",
    "LinkTable",
    "ModelTable",
    "NodeGroupTable",
    "OutageTable",
    "ProtocolTable",
    "RebalancingTable",
    "RecoveryTable",
    "ScenarioFile",
    "WorkStealingTable",
    "validate_file",
]

DISTRIBUTIONS = ("deterministic", "exponential", "lognormal", "gamma", "pareto", "weibull", "samples")
"""Families of a hand-given service time: by ``mean_s`` (deterministic, exponential), ``mean_s`` and ``cv``
(lognormal, gamma), ``mean_s`` and ``shape`` (pareto, weibull), or a device's own ``samples_s`` (samples)."""
SHAPE_FAMILIES = ("pareto", "weibull")
"""Service-time families given by mean and ``shape`` (the shape fixes their coefficient of variation)."""
SAMPLES = "samples"
"""The service-time family drawn uniformly with replacement from a device's hand-given ``samples_s``."""
PARETO_SHAPE_MIN = 1.0
"""A Pareto service time needs shape > 1: at shape <= 1 its mean is infinite."""
EMPIRICAL = "empirical"
"""The distribution of a service time read from a calibrated profile (the measured samples, bootstrapped)."""
QUEUE_DISCIPLINES = ("fifo", "priority", "sjf", "ps", "rr", "wfq")
"""How a node orders its tasks: first come first served, by application priority, shortest job first, processor
sharing, round robin with a quantum, weighted fair queueing between applications (see `simulator.disciplines`)."""
SJF_SIZES = ("expected", "drawn")
"""What shortest-job-first orders by: the stage's expected service time on the node, or the time drawn for the task
(sizes known in advance)."""
WEIGHT_RANGE = (1e-6, 1e6)
"""Range of an application's weight in weighted fair queueing."""
ARRIVAL_PROCESSES = ("poisson", "deterministic", "mmpp", "on_off", "diurnal", "trace")

# Sane ranges of numeric fields (also in the README's scenario section). They keep every derived quantity
# (a rate times a horizon, bytes over a bandwidth, energy summed over a run) finite and every size tractable.
MAX_TIME_S = 1e9
"""Longest time any field may give, in seconds (about 32 years)."""
MIN_TIME_STEP_S = 1e-6
"""Shortest period the simulator advances by on its own (a batch interval), in seconds."""
MAX_BYTES = 1e15
"""Largest size of data or memory, in bytes (a petabyte)."""
BANDWIDTH_RANGE_BYTES_PER_S = (1.0, 1e15)
MAX_CODEC_S_PER_MB = 1e6
"""Slowest compression or decompression, in seconds per megabyte of payload."""
SPEED_RANGE = (1e-6, 1e6)
MAX_POWER_W = 1e7
MAX_SLOTS = 100_000
MAX_NODES = 100_000
"""Largest number of nodes a scenario may define in total (a group's ``count`` included)."""
MAX_TOTAL_SLOTS = 1_000_000
"""Largest number of slots of all nodes together (each slot holds one reusable event)."""
MAX_JOBS = 100_000_000
MAX_BATCH_SIZE = 4096
MAX_SEED = 2**64 - 1
MEAN_S_RANGE = (1e-9, 1e6)
"""Sane range of a hand-given mean service time (seconds: a nanosecond to about 11.6 days), so that sums over a
run, rates and ratios stay finite."""
CV_MIN, CV_MAX = 1e-6, 10.0
"""Range of the coefficient of variation of a lognormal or gamma service time (so their parameters, e.g. the gamma
shape 1 / cv**2, stay finite and well-conditioned)."""
MEMORY_BYTES_MAX = 1e15
"""Largest memory footprint of a model (bytes: 1 PB)."""
LOAD_TIME_S_MAX = 1e6
"""Longest load time of a model (seconds)."""
ARRIVAL_RATE_RANGE_PER_S = (1e-6, 1e6)
"""Rates of arrival processes, per second (an MMPP state may also have rate 0)."""
MIN_ARRIVALS_PER_CYCLE = 1e-3
"""An MMPP or on/off stream must expect at least this many arrivals per cycle of its states (the sum of rate x
mean sojourn over the states), or it would spend nearly all its work switching states without arrivals."""
MAX_MMPP_STATES = 1000
WEIBULL_SHAPE_RANGE = (0.05, 100.0)
"""Range of a Weibull shape: from a very heavy tail (at 0.05 the mean is 2.4e18 scales) to nearly deterministic."""
MAX_DURATION_SAMPLES = 100_000
"""Most samples of an empirical duration distribution."""
MAX_RETRIES = 1000
BACKOFF_FACTOR_RANGE = (1.0, 100.0)
MAX_REPLICAS = 64
MAX_CHUNKS = 100_000
"""Most chunks a stage's output may be sent in (each chunk is a message and an event)."""
"""Most nodes a task of a stage runs on at once (redundant execution)."""
MAX_COUNT_PER_CHECK = 1_000_000
"""Largest count of tasks in a rebalancing or work-stealing setting (moves per check, a queue length)."""
MAX_FAILURE_EVENTS = 1_000_000
"""Most failures and repairs a scenario's failure processes may expect before the horizon (each costs the work on
a node or link), so that no time to failure, however short, makes a run that cannot end in reasonable time."""
MAX_MONITOR_SAMPLES = 10_000_000
"""Most node samples the rebalancing monitor may take before the horizon (checks x nodes)."""

LIMIT_S = InRange(0, MAX_TIME_S, low_open=True, inf_allowed=True)
"""A time limit in seconds (a horizon, a deadline): inf means none."""
CAPACITY_BYTES = InRange(0, MAX_BYTES, low_open=True, inf_allowed=True)
"""A memory size in bytes: inf means unlimited."""
ARRIVAL_RATE = InRange(*ARRIVAL_RATE_RANGE_PER_S)
ARRIVAL_DURATION_S = InRange(MIN_TIME_STEP_S, MAX_TIME_S)
"""A mean sojourn, on or off time, or a diurnal period: at least the simulator's smallest step, so that time
advances."""
ARRIVAL_TIME_S = InRange(0, MAX_TIME_S)
"""A point in time (start_s, a diurnal phase_s, a trace's time_s)."""
CV = InRange(0.0, CV_MAX, unit="a coefficient of variation")
MEAN_S = InRange(*MEAN_S_RANGE, unit="seconds")
SHAPE = InRange(*WEIBULL_SHAPE_RANGE, unit="a shape")
"""The shape of a pareto or weibull service time (a pareto one must also exceed 1)."""
MODEL_MEMORY_BYTES = InRange(0.0, MEMORY_BYTES_MAX, unit="bytes")
LOAD_TIME_S = InRange(0.0, LOAD_TIME_S_MAX, unit="seconds")
BATCH_SCALING = InRange(0.0, 1.0, unit="the exponent of the batch size")
DURATION_S = InRange(MIN_TIME_STEP_S, MAX_TIME_S, unit="seconds")
"""A time to failure or to repair (a mean, a scale, a sample): at least the simulator's smallest step, so that a
failure process that alternates them advances time."""
CODEC_S_PER_MB = InRange(0, MAX_CODEC_S_PER_MB, unit="seconds per MB of uncompressed payload")
NAME = NonEmptyString()
NAMES = NameList()


@dataclass(frozen=True)
class Checked:
    """Field metadata: validate with a `simulator.config.values` checker (its message is the problem) and
    describe the field by the checker's JSON Schema."""

    check: Callable[[Any], Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return dict(self.check.json_schema())  # type: ignore[attr-defined]


class _Table(BaseModel):
    """A table of a scenario file: unknown keys are errors (a typo never silently becomes a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_UNKNOWN_TAG = "?"


def _tag_of(key: str, tables: Mapping[str, type[BaseModel]], default: str) -> Callable[[Any], str]:
    """The discriminator of a tagged union of table models: a table is read by the model its `key` names (a table
    without the key by `default`'s, and so is a value that is not a table, to be reported as not a table); a key
    naming no model picks the `_UNKNOWN_TAG` model, whose check of the key reports it."""

    def tag(value: Any) -> str:
        if not isinstance(value, Mapping):
            return default
        name = value.get(key, default)
        return name if isinstance(name, str) and name in tables else _UNKNOWN_TAG

    return tag


# ----------------------------------------------------------------------------------------------------------
# Durations (times to failure and to repair) and failures


DEFAULT_DURATION_DISTRIBUTION = "exponential"


class _DurationTable(_Table):
    """A distribution of durations in seconds; each family adds its parameters (``distribution`` picks it)."""

    distribution: str = DEFAULT_DURATION_DISTRIBUTION


class ExponentialDuration(_DurationTable):
    mean_s: Annotated[float, Checked(DURATION_S)]


class DeterministicDuration(_DurationTable):
    mean_s: Annotated[float, Checked(DURATION_S)]


class LognormalDuration(_DurationTable):
    """A lognormal by mean and coefficient of variation; cv = 0 is the deterministic duration."""

    mean_s: Annotated[float, Checked(DURATION_S)]
    cv: Annotated[float, Checked(CV)]


class GammaDuration(_DurationTable):
    """A gamma by mean and coefficient of variation (shape 1 / cv**2, so cv must be positive)."""

    mean_s: Annotated[float, Checked(DURATION_S)]
    cv: Annotated[float, Checked(InRange(CV_MIN, CV_MAX, unit="a coefficient of variation"))]


class WeibullDuration(_DurationTable):
    """A Weibull by shape and scale (mean scale x Gamma(1 + 1/shape)); shape 1 is the exponential."""

    shape: Annotated[float, Checked(InRange(*WEIBULL_SHAPE_RANGE, unit="the Weibull shape"))]
    scale_s: Annotated[float, Checked(DURATION_S)]


class EmpiricalDuration(_DurationTable):
    """Measured durations, drawn uniformly with replacement."""

    samples_s: Annotated[tuple[float, ...], Checked(ListOf(DURATION_S, MAX_DURATION_SAMPLES))]


DURATION_TABLES: dict[str, type[_DurationTable]] = {
    "exponential": ExponentialDuration,
    "deterministic": DeterministicDuration,
    "lognormal": LognormalDuration,
    "gamma": GammaDuration,
    "weibull": WeibullDuration,
    "empirical": EmpiricalDuration,
}
"""The table model of each duration family (`simulator.distributions.DURATION_DISTRIBUTIONS` draws them)."""


class UnknownDuration(_DurationTable):
    """A table whose ``distribution`` is no known family: only ``distribution`` is checked (and fails); the
    parameters of every family are let through unchecked, so that the one mistake is reported once."""

    distribution: Annotated[str, Checked(Choice(tuple(DURATION_TABLES)))] = DEFAULT_DURATION_DISTRIBUTION
    mean_s: Any = None
    cv: Any = None
    shape: Any = None
    scale_s: Any = None
    samples_s: Any = None

DurationTable = Annotated[
    Annotated[ExponentialDuration, Tag("exponential")]
    | Annotated[DeterministicDuration, Tag("deterministic")]
    | Annotated[LognormalDuration, Tag("lognormal")]
    | Annotated[GammaDuration, Tag("gamma")]
    | Annotated[WeibullDuration, Tag("weibull")]
    | Annotated[EmpiricalDuration, Tag("empirical")]
    | Annotated[UnknownDuration, Tag(_UNKNOWN_TAG)],
    Discriminator(_tag_of("distribution", DURATION_TABLES, DEFAULT_DURATION_DISTRIBUTION)),
]
"""A duration table, read by its family's model: ``{ distribution = "weibull", shape = 1.5, scale_s = 7200 }``."""


def _family_parameter_problem(table: type[BaseModel], key: str) -> str | None:
    """The message for a parameter of another duration family given to `table`'s family, if `key` is one."""
    family = next((name for name, model in DURATION_TABLES.items() if model is table), None)
    owners = [name for name, model in DURATION_TABLES.items() if key in model.model_fields and model is not table]
    if family is None or key == "distribution" or not owners:
        return None
    takes = ", ".join(name for name in table.model_fields if name != "distribution")
    owner = owners[0] if len(owners) == 1 else f"{', '.join(owners[:-1])} and {owners[-1]}"
    article = "an" if owner[0] in "aeiou" else "a"
    kind = f"{article} {owner} parameter" if len(owners) == 1 else f"a parameter of {owner}"
    return f"is {kind}; {family} takes {takes}"


class FailuresTable(_Table):
    """``[nodes.GROUP.failures]``: a renewal process of failures and repairs of each member of the group (with
    ``correlated = true``: one process that takes the whole group down together)."""

    time_to_failure: DurationTable
    time_to_repair: DurationTable
    clock: Annotated[str, Checked(Choice(FAILURE_CLOCKS))] = "wall"
    correlated: Annotated[bool, Checked(Boolean())] = False


class LinkFailuresTable(FailuresTable):
    """``[network.links.LINK.failures]``: as a node group's, for each link the table makes (or all together); a
    time to failure elapses in wall time only."""

    clock: Annotated[str, Checked(Choice(("wall",), why="a link has no busy time"))] = "wall"


class OutageTable(_Table):
    """``[[outages]]``: a scripted outage of a node, node group, link or link table."""

    target: Annotated[str, Checked(NAME)]
    start_s: Annotated[float, Checked(ARRIVAL_TIME_S)]
    duration_s: Annotated[float, Checked(DURATION_S)]


class RecoveryTable(_Table):
    """``[recovery]``: what a node failure does to the work on it, and how failed tasks are retried."""

    on_failure: Annotated[str, Checked(Choice(ON_FAILURE_ACTIONS))] = RecoverySpec.on_failure
    max_retries: Annotated[int, Checked(IntInRange(0, MAX_RETRIES))] = RecoverySpec.max_retries
    backoff_s: Annotated[float, Checked(InRange(0, MAX_TIME_S))] = RecoverySpec.backoff_s
    backoff_factor: Annotated[float, Checked(InRange(*BACKOFF_FACTOR_RANGE))] = RecoverySpec.backoff_factor


class RebalancingTable(_Table):
    """``[rebalancing]``: moving queued tasks away from loaded nodes during a run."""

    trigger: Annotated[str, Checked(Choice(REBALANCING_TRIGGERS))] = RebalancingSpec.trigger
    interval_s: Annotated[float, Checked(DURATION_S)] = RebalancingSpec.interval_s
    window_s: Annotated[float, Checked(DURATION_S)] = RebalancingSpec.window_s
    utilization_above: Annotated[float, Checked(InRange(0, 1, unit="a busy fraction"))] = \
        RebalancingSpec.utilization_above
    queue_above: Annotated[float, Checked(InRange(0, MAX_COUNT_PER_CHECK, inf_allowed=True, unit="tasks"))] = \
        RebalancingSpec.queue_above
    max_moves: Annotated[int, Checked(IntInRange(1, MAX_COUNT_PER_CHECK))] = RebalancingSpec.max_moves


class WorkStealingTable(_Table):
    """``[work_stealing]``: an idle node takes queued tasks from the most loaded eligible node."""

    enabled: Annotated[bool, Checked(Boolean())] = WorkStealingSpec.enabled
    min_queue: Annotated[int, Checked(IntInRange(1, MAX_COUNT_PER_CHECK))] = WorkStealingSpec.min_queue


# ----------------------------------------------------------------------------------------------------------
# The tables of a scenario


class ScenarioMeta(_Table):
    """``[scenario]``: the scenario's name (default: the file name) and a free description."""

    name: Annotated[str | None, Checked(NAME)] = None
    description: str = ""


class SimulationTable(_Table):
    """``[simulation]``: when a run stops and what it measures."""

    max_jobs: Annotated[int | None, Checked(IntInRange(1, MAX_JOBS))] = None
    horizon_s: Annotated[float | None, Checked(LIMIT_S)] = None
    warmup_s: Annotated[float, Checked(InRange(0, MAX_TIME_S))] = 0.0
    seed: Annotated[int, Checked(IntInRange(0, MAX_SEED))] = 0


class PolicyTable(_Table):
    """``[policy]``: the allocation policy, its parameters (checked by the policy), its mode, and whether task
    sizes are known when tasks are placed (``clairvoyant``, `simulator.sizes`)."""

    name: Annotated[str, Checked(NAME)] = "least_loaded"
    params: Annotated[dict[str, Any], Checked(Table())] = Field(default_factory=dict)
    mode: Annotated[str, Checked(Choice(MODES))] = "immediate"
    batch_interval_s: Annotated[float, Checked(InRange(MIN_TIME_STEP_S, MAX_TIME_S))] = 1.0
    clairvoyant: Annotated[bool, Checked(Boolean())] = False


class NodeGroupTable(_Table):
    """``[nodes.NAME]``: one node, or with ``count`` a group of identical nodes."""

    kind: Annotated[str, Checked(NAME)] = "node"
    slots: Annotated[int, Checked(IntInRange(1, MAX_SLOTS))] = 1
    count: Annotated[int, Checked(IntInRange(1, MAX_NODES))] = 1
    speed: Annotated[float, Checked(InRange(*SPEED_RANGE))] = 1.0
    queue: Annotated[str, Checked(Choice(QUEUE_DISCIPLINES))] = "fifo"
    sjf_by: Annotated[str, Checked(Choice(SJF_SIZES))] = "expected"
    quantum_s: Annotated[float | None, Checked(InRange(MIN_TIME_STEP_S, MAX_TIME_S))] = None
    memory_bytes: Annotated[float | None, Checked(CAPACITY_BYTES)] = None
    idle_power_w: Annotated[float, Checked(InRange(0, MAX_POWER_W))] = 0.0
    busy_power_w: Annotated[float | None, Checked(InRange(0, MAX_POWER_W))] = None
    max_batch_size: Annotated[int, Checked(IntInRange(1, MAX_BATCH_SIZE))] = 1
    max_batch_wait_s: Annotated[float, Checked(InRange(0, MAX_TIME_S))] = 0.0
    failures: FailuresTable | None = None


class LinkTable(_Table):
    """``[network.links.NAME]``: a link between two vertices (an endpoint may be a group: a link per member)."""

    endpoints: Annotated[tuple[str, ...], Checked(NAMES)]
    latency_s: Annotated[float, Checked(InRange(0, MAX_TIME_S))] = 0.0
    bandwidth_bytes_per_s: Annotated[float, Checked(InRange(*BANDWIDTH_RANGE_BYTES_PER_S, inf_allowed=True))]
    duplex: Annotated[str, Checked(Choice(DUPLEX_MODES))] = "full"
    failures: LinkFailuresTable | None = None


class ProtocolTable(_Table):
    """``[network.protocol]``: what every message (one per transfer between distinct vertices) costs on top of its
    payload."""

    name: Annotated[str | None, Checked(NAME)] = None
    header_bytes: Annotated[float, Checked(InRange(0, MAX_BYTES, unit="bytes"))] = 0.0
    latency_s: Annotated[float, Checked(InRange(0, MAX_TIME_S, unit="seconds"))] = 0.0


class CompressionTable(_Table):
    """``[network.compression]``: every message's payload is compressed by the sender and decompressed by the
    receiver."""

    ratio: Annotated[float, Checked(InRange(0, 1, low_open=True, unit="bytes on the wire per byte of payload"))]
    sender_s_per_mb: Annotated[float, Checked(CODEC_S_PER_MB)] = 0.0
    receiver_s_per_mb: Annotated[float, Checked(CODEC_S_PER_MB)] = 0.0


class BrokerTable(_Table):
    """``[network.brokers.NAME]``: a message broker, a vertex linked like a switch, with a FIFO queue and servers."""

    service_s: Annotated[float, Checked(InRange(0, MAX_TIME_S, unit="seconds per message"))] = 0.0
    s_per_mb: Annotated[float, Checked(InRange(0, MAX_CODEC_S_PER_MB, unit="seconds per MB of payload"))] = 0.0
    slots: Annotated[int, Checked(IntInRange(1, MAX_SLOTS))] = 1
    distribution: Annotated[str, Checked(Choice(BROKER_SERVICE_DISTRIBUTIONS))] = "deterministic"


class NetworkTable(_Table):
    """``[network]``: the sharing model, switch vertices, links, the per-message protocol and compression, and
    message brokers."""

    sharing: Annotated[str, Checked(Choice(SHARING_MODELS))] = "max-min"
    switches: Annotated[tuple[str, ...], Checked(NAMES)] = ()
    links: dict[str, LinkTable] = Field(default_factory=dict)
    protocol: ProtocolTable | None = None
    compression: CompressionTable | None = None
    brokers: dict[str, BrokerTable] = Field(default_factory=dict)


class DeviceCostTable(_Table):
    """``[models.NAME.devices.KIND]``: the service time on one device kind; fields not given are the model's."""

    mean_s: Annotated[float | None, Checked(MEAN_S)] = None
    distribution: Annotated[str | None, Checked(Choice(DISTRIBUTIONS))] = None
    cv: Annotated[float | None, Checked(CV)] = None
    shape: Annotated[float | None, Checked(SHAPE)] = None
    samples_s: Annotated[tuple[float, ...] | None, Checked(ListOf(MEAN_S, MAX_DURATION_SAMPLES))] = None
    memory_bytes: Annotated[float | None, Checked(MODEL_MEMORY_BYTES)] = None
    load_time_s: Annotated[float | None, Checked(LOAD_TIME_S)] = None
    batch_scaling: Annotated[float | None, Checked(BATCH_SCALING)] = None


def _bare_mean(value: Any) -> Any:
    """``KIND = 0.05`` is short for ``KIND = { mean_s = 0.05 }``."""
    return {"mean_s": value} if isinstance(value, int | float) and not isinstance(value, bool) else value


DeviceCost = Annotated[DeviceCostTable, BeforeValidator(_bare_mean, json_schema_input_type=float | DeviceCostTable)]


class ModelTable(_Table):
    """``[models.NAME]``: a model's costs, by hand per device kind or from a calibrated profile; the fields
    shared with a device's table are defaults for every device kind."""

    distribution: Annotated[str, Checked(Choice(DISTRIBUTIONS))] = "exponential"
    cv: Annotated[float | None, Checked(CV)] = None
    shape: Annotated[float | None, Checked(SHAPE)] = None
    devices: dict[str, DeviceCost] = Field(default_factory=dict)
    profile: Annotated[str | None, Checked(NAME)] = None
    profile_model: Annotated[str | None, Checked(NAME)] = None
    dtype: Annotated[str | None, Checked(Choice(DTYPES))] = None
    memory_bytes: Annotated[float | None, Checked(MODEL_MEMORY_BYTES)] = None
    load_time_s: Annotated[float | None, Checked(LOAD_TIME_S)] = None
    batch_scaling: Annotated[float | None, Checked(BATCH_SCALING)] = None


class StageTable(_Table):
    """``[applications.APP.stages.NAME]``: one stage of an application's DAG."""

    model: Annotated[str, Checked(NAME)]
    work: Annotated[float, Checked(InRange(*SPEED_RANGE))] = 1.0
    output_bytes: Annotated[float, Checked(InRange(0, MAX_BYTES))] = 0.0
    after: Annotated[tuple[str, ...], Checked(NAMES)] = ()
    placement: Annotated[tuple[str, ...], Checked(NAMES)] = ()
    input_bytes: Annotated[float | None, Checked(InRange(0, MAX_BYTES))] = None
    slots: Annotated[int, Checked(IntInRange(1, MAX_SLOTS))] = 1
    memory_bytes: Annotated[float, Checked(InRange(0, MAX_BYTES))] = 0.0
    replicas: Annotated[int, Checked(IntInRange(1, MAX_REPLICAS))] = 1
    join: Annotated[str | int, Checked(JoinCount())] = "all"
    chunks: Annotated[int, Checked(IntInRange(1, MAX_CHUNKS))] = 1
    streaming: Annotated[bool, Checked(Boolean())] = False
    broker: Annotated[str | None, Checked(NAME)] = None


class ApplicationTable(_Table):
    """``[applications.NAME]``: a DAG of stages, where its input comes from and its result goes."""

    source: Annotated[str | None, Checked(NAME)] = None
    sink: Annotated[str | None, Checked(NAME)] = None
    input_bytes: Annotated[float, Checked(InRange(0, MAX_BYTES))] = 0.0
    deadline_s: Annotated[float | None, Checked(LIMIT_S)] = None
    priority: Annotated[float, Checked(InRange(-1e9, 1e9))] = 0.0
    weight: Annotated[float, Checked(InRange(*WEIGHT_RANGE))] = 1.0
    timeout_s: Annotated[float | None, Checked(LIMIT_S)] = None
    stages: dict[str, StageTable] = Field(default_factory=dict)


class _ArrivalTable(_Table):
    """``[arrivals.NAME]``: the fields every arrival process has; each process adds its parameters."""

    application: Annotated[str | None, Checked(NAME)] = None
    process: Annotated[str, Checked(Choice(ARRIVAL_PROCESSES))] = "poisson"
    source: Annotated[str | None, Checked(NAME)] = None
    sink: Annotated[str | None, Checked(NAME)] = None
    start_s: Annotated[float, Checked(ARRIVAL_TIME_S)] = 0.0
    stop_s: Annotated[float | None, Checked(LIMIT_S)] = None

    def process_params(self) -> dict[str, Any]:
        """The process's own parameters (the fields beyond the common ones)."""
        return {key: getattr(self, key) for key in type(self).model_fields if key not in _ArrivalTable.model_fields}


class _NamedApplication(_ArrivalTable):
    application: Annotated[str, Checked(NAME)]


class PoissonArrivals(_NamedApplication):
    rate_per_s: Annotated[float, Checked(ARRIVAL_RATE)]


class DeterministicArrivals(_NamedApplication):
    rate_per_s: Annotated[float, Checked(ARRIVAL_RATE)]


class MmppArrivals(_NamedApplication):
    rates_per_s: Annotated[tuple[float, ...], Checked(ListOf(StateRate(ARRIVAL_RATE), MAX_MMPP_STATES))]
    mean_sojourn_s: Annotated[tuple[float, ...], Checked(ListOf(ARRIVAL_DURATION_S, MAX_MMPP_STATES))]


class OnOffArrivals(_NamedApplication):
    rate_per_s: Annotated[float, Checked(ARRIVAL_RATE)]
    mean_on_s: Annotated[float, Checked(ARRIVAL_DURATION_S)]
    mean_off_s: Annotated[float, Checked(ARRIVAL_DURATION_S)]


class DiurnalArrivals(_NamedApplication):
    rate_per_s: Annotated[float, Checked(ARRIVAL_RATE)]
    amplitude: Annotated[float, Checked(InRange(0, 1))]
    period_s: Annotated[float, Checked(ARRIVAL_DURATION_S)]
    phase_s: Annotated[float, Checked(ARRIVAL_TIME_S)] = 0.0


class TraceArrivals(_ArrivalTable):
    """A trace replays a CSV file; its rows may name the application, so ``application`` is optional."""

    file: Annotated[str, Checked(NAME)]


class UnknownProcessArrivals(_ArrivalTable):
    """A table whose ``process`` is no known one: only the common fields are checked (``process`` fails)."""


PROCESS_TABLES: dict[str, type[_ArrivalTable]] = {
    "poisson": PoissonArrivals,
    "deterministic": DeterministicArrivals,
    "mmpp": MmppArrivals,
    "on_off": OnOffArrivals,
    "diurnal": DiurnalArrivals,
    "trace": TraceArrivals,
}
"""The table model of each arrival process."""


ArrivalTable = Annotated[
    Annotated[PoissonArrivals, Tag("poisson")]
    | Annotated[DeterministicArrivals, Tag("deterministic")]
    | Annotated[MmppArrivals, Tag("mmpp")]
    | Annotated[OnOffArrivals, Tag("on_off")]
    | Annotated[DiurnalArrivals, Tag("diurnal")]
    | Annotated[TraceArrivals, Tag("trace")]
    | Annotated[UnknownProcessArrivals, Tag(_UNKNOWN_TAG)],
    Discriminator(_tag_of("process", PROCESS_TABLES, "poisson")),
]


class ScenarioFile(_Table):
    """A whole scenario file (see the README's scenario section)."""

    scenario: ScenarioMeta = Field(default_factory=ScenarioMeta)
    simulation: SimulationTable = Field(default_factory=SimulationTable)
    policy: PolicyTable = Field(default_factory=PolicyTable)
    nodes: dict[str, NodeGroupTable] = Field(default_factory=dict)
    network: NetworkTable = Field(default_factory=NetworkTable)
    models: dict[str, ModelTable] = Field(default_factory=dict)
    applications: dict[str, ApplicationTable] = Field(default_factory=dict)
    arrivals: dict[str, ArrivalTable] = Field(default_factory=dict)
    outages: tuple[OutageTable, ...] = ()
    recovery: RecoveryTable = Field(default_factory=RecoveryTable)
    rebalancing: RebalancingTable = Field(default_factory=RebalancingTable)
    work_stealing: WorkStealingTable = Field(default_factory=WorkStealingTable)


# ----------------------------------------------------------------------------------------------------------
# pydantic's errors as the project's problems


def _unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated`` and ``Optional`` wrappers."""
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in (
                options := typing.get_args(annotation)) and len(options) == 2:
            annotation = next(option for option in options if option is not type(None))
        else:
            return annotation


def _walk(loc: tuple[int | str, ...]) -> tuple[str, Any]:
    """The dotted field path of a pydantic error location (the tags of arrival processes left out), and the
    type found there."""
    parts: list[str] = []
    current: Any = ScenarioFile
    for item in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(item))
            current = field.annotation if field else None
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) is tuple and isinstance(item, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) in (typing.Union, types.UnionType):
            tagged = {meta.tag: typing.get_args(option)[0] for option in typing.get_args(current)
                      if typing.get_origin(option) is Annotated
                      for meta in typing.get_args(option)[1:] if isinstance(meta, Tag)}
            if item in tagged:
                current = tagged[item]
                continue
            current = None
        else:
            current = None
        parts.append(str(item) if isinstance(item, str) else f"[{item}]")
    return ".".join(parts).replace(".[", "["), _unwrap(current)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "missing":
        return "is required"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a table, got {describe(error['input'])}"
    if kind == "string_type":
        return f"must be a string, got {describe(error['input'])}"
    if kind in ("tuple_type", "list_type"):
        return f"must be an array of tables ([[...]] in TOML), got {describe(error['input'])}"
    return f"{error['msg']}, got {describe(error['input'])}"


def validate_file(raw: Mapping[str, Any], problems: Problems) -> ScenarioFile | None:
    """The file's content as a `ScenarioFile`, or None with every problem added to `problems`."""
    try:
        return ScenarioFile.model_validate(raw)
    except ValidationError as error:
        for item in error.errors(include_url=False):
            loc = tuple(item["loc"])
            if item["type"] == "extra_forbidden":
                where, table = _walk(loc[:-1])
                allowed = ", ".join(table.model_fields)  # an unknown key is always in a table model
                path = f"{where}.{loc[-1]}" if where else str(loc[-1])
                problems.add(path, _family_parameter_problem(table, str(loc[-1]))
                             or f"is not a known field; allowed here: {allowed}")
            elif loc[-1:] == ("[key]",):  # a table's key that is not a string (a table built in code)
                problems.add(_walk(loc[:-2])[0], f"has a key that is not a string: {describe(loc[-2])}")
            else:
                problems.add(_walk(loc)[0], _message(item))
        return None
