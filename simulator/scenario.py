"""Scenario files: the schema, loading TOML, dotted-path overrides, and validation into frozen dataclasses.

Validation happens once, here, at the boundary: after `load_scenario` no code reads a raw dict. Every problem
is reported (not only the first), each naming the file, the dotted field path and what is allowed. Unknown keys
are errors, so a typo never silently becomes a default.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.calibration.profile import DTYPES, ProfileError, load_profile, resolve_profile
from simulator.errors import ScenarioError, UnknownPolicyError, UserInputError
from simulator.network_spec import DUPLEX_MODES, SHARING_MODELS, LinkSpec, NetworkSpec, network_problems
from simulator.policies import MODES, check_policy_params, policy_class
from simulator.user_files import read_user_text, read_user_toml

DISTRIBUTIONS = ("deterministic", "exponential", "lognormal", "gamma")
EMPIRICAL = "empirical"
"""The distribution of a service time read from a calibrated profile (the measured samples, bootstrapped)."""
QUEUE_DISCIPLINES = ("fifo", "priority")

# Sane ranges of numeric fields (also in the README's scenario section). They keep every derived quantity
# (a rate times a horizon, bytes over a bandwidth, energy summed over a run) finite and every size tractable.
MAX_TIME_S = 1e9
"""Longest time any field may give, in seconds (about 32 years)."""
MIN_TIME_STEP_S = 1e-6
"""Shortest period the simulator advances by on its own (a batch interval), in seconds."""
MAX_BYTES = 1e15
"""Largest size of data or memory, in bytes (a petabyte)."""
BANDWIDTH_RANGE_BYTES_PER_S = (1.0, 1e15)
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
ARRIVAL_PROCESSES = ("poisson", "deterministic", "mmpp", "on_off", "diurnal", "trace")

__all__ = [
    "ARRIVAL_PROCESSES",
    "DISTRIBUTIONS",
    "QUEUE_DISCIPLINES",
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
    "apply_overrides",
    "load_scenario",
    "parse_scenario",
]


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
    resident, and loading one costs its load time.
    """

    name: str
    kind: str
    group: str
    slots: int = 1
    speed: float = 1.0
    queue: str = "fifo"
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
    """

    name: str
    model: str
    work: float = 1.0
    output_bytes: float = 0.0
    after: tuple[str, ...] = ()
    placement: tuple[str, ...] = ()
    input_bytes: float | None = None


@dataclass(frozen=True)
class ApplicationSpec:
    """An application: a DAG of stages (in topological order), where its input originates (`source`), where
    its result must go (`sink`), its input size, deadline (SLO) and priority (lower runs first)."""

    name: str
    stages: tuple[StageSpec, ...]
    source: str | None = None
    sink: str | None = None
    input_bytes: float = 0.0
    deadline_s: float = math.inf
    priority: float = 0.0


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


# ----------------------------------------------------------------------------------------------------------
# Loading and overrides


BUNDLED_SCENARIOS = Path(__file__).parent / "scenarios"
"""The demo and validation scenarios shipped with the package (a link to the checkout's scenarios/)."""


def bundled_scenario_names() -> list[str]:
    """Names by which the shipped scenarios can be run from anywhere, e.g. ``demo_edge_cloud``, ``validation/mm1``."""
    if not BUNDLED_SCENARIOS.is_dir():
        return []
    return sorted(str(p.relative_to(BUNDLED_SCENARIOS).with_suffix("")) for p in BUNDLED_SCENARIOS.rglob("*.toml")
                  if "data" not in p.relative_to(BUNDLED_SCENARIOS).parts)


def find_scenario(path: str | Path) -> Path:
    """The scenario file `path` names: the file itself when it exists, else a shipped scenario by name
    (``demo_edge_cloud``, ``validation/mm1``, or ``scenarios/demo_edge_cloud.toml`` as the README writes it),
    so that an installed package runs its demo from any directory."""
    path = Path(path)
    try:
        path.lstat()
        return path  # a broken link or a loop is reported when the file is read
    except FileNotFoundError:
        pass
    except (OSError, ValueError):  # a name too long, a NUL in it: also reported when read
        return path
    name = path.with_suffix("") if path.suffix == ".toml" else path
    parts = name.parts[1:] if name.parts[:1] == ("scenarios",) else name.parts
    if parts and f"{Path(*parts)}" in bundled_scenario_names():
        return BUNDLED_SCENARIOS / Path(*parts).with_suffix(".toml")
    raise ScenarioError([f"{path}: no such scenario file (shipped scenarios, usable by name: "
                         f"{', '.join(bundled_scenario_names()) or 'none'})"])


def load_scenario(path: str | Path, overrides: Iterable[str] | Mapping[str, Any] = (),
                  policy: str | None = None) -> Scenario:
    """Read a TOML scenario file, apply dotted-path overrides, validate, and return a `Scenario`.

    Args:
        path: The scenario file.
        overrides: `"dotted.key=value"` strings (value parsed as TOML, else a string) or a mapping of dotted
            keys to values.
        policy: Use this policy instead of the file's; the file's policy parameters are dropped when the name
            changes (they belong to the other policy), and overrides apply after.

    Raises:
        ScenarioError: Listing every problem found, each naming file, field and what is allowed.
    """
    path = find_scenario(path)
    try:
        raw = read_user_toml(path, "scenario file")
    except UserInputError as error:
        raise ScenarioError(error.problems) from None
    if policy is not None:
        policy_table = dict(raw.get("policy", {})) if isinstance(raw.get("policy", {}), dict) else {}
        if policy_table.get("name", "least_loaded") != policy:
            policy_table.pop("params", None)
        raw["policy"] = {**policy_table, "name": policy}
    raw = apply_overrides(raw, overrides, source=str(path))
    return parse_scenario(raw, source=str(path), base_dir=path.parent)


def parse_override(text: str, source: str = "--set") -> tuple[str, Any]:
    """Split `"a.b.c=value"`; the value is read as a TOML value (number, bool, string, array, inline table)
    and falls back to a plain string."""
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError([f"{source}: override {text!r} must look like dotted.key=value"])
    try:
        value = tomllib.loads(f"value = {value_text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    return key, value


def apply_overrides(
    raw: Mapping[str, Any], overrides: Iterable[str] | Mapping[str, Any], source: str = "scenario"
) -> dict[str, Any]:
    """Return a copy of `raw` with dotted-path overrides set (tables are created as needed)."""
    result = copy.deepcopy(dict(raw))
    pairs = overrides.items() if isinstance(overrides, Mapping) else (parse_override(o) for o in overrides)
    for dotted_key, value in pairs:
        parts = dotted_key.split(".")
        table: Any = result
        for depth, part in enumerate(parts[:-1]):
            next_table = table.setdefault(part, {})
            if not isinstance(next_table, dict):
                prefix = ".".join(parts[: depth + 1])
                raise ScenarioError([f"{source}: cannot override {dotted_key!r}: {prefix} is not a table"])
            table = next_table
        table[parts[-1]] = value
    return result


# ----------------------------------------------------------------------------------------------------------
# Field readers: each returns the checked value or raises _InvalidError with what is allowed.


class _InvalidError(Exception):
    pass


_REQUIRED = object()


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _InvalidError(f"must be a number, got {_describe(value)}")
    return float(value)


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _InvalidError(f"must be a non-empty string, got {_describe(value)}")
    return value


def _string_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _InvalidError(f"must be a list of names, got {_describe(value)}")
    return tuple(value)


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _InvalidError(f"must be a table, got {_describe(value)}")
    return value


def _choice(allowed: Sequence[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise _InvalidError(f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return str(value)

    return check


def _in_range(low: float, high: float, *, low_open: bool = False, inf_allowed: bool = False,
              unit: str = "") -> Callable[[Any], float]:
    """A number in [low, high] (or (low, high] with `low_open`): the sane range of a field, so that derived
    quantities (rates x times, bytes / bandwidth, sums over a run) stay finite. With `inf_allowed`, +inf is
    accepted too, where it means "no limit" (a horizon, a deadline, a memory size, a bandwidth); `unit`, when
    given, is named in the message."""
    in_unit = f" ({unit})" if unit else ""

    def check(value: Any) -> float:
        number = _number(value)
        if inf_allowed and number == math.inf:
            return number
        below = number <= low if low_open else number < low
        if below or not number <= high:
            opening = "(" if low_open else "["
            also = " or inf" if inf_allowed else ""
            raise _InvalidError(f"must be a number in {opening}{low:g}, {high:g}]{also}, got {value!r}{in_unit}")
        return number

    return check


_LIMIT_S = _in_range(0, MAX_TIME_S, low_open=True, inf_allowed=True)
"""A time limit in seconds (a horizon, a deadline): inf means none."""
_CAPACITY_BYTES = _in_range(0, MAX_BYTES, low_open=True, inf_allowed=True)
"""A memory size in bytes: inf means unlimited."""


def _int_in_range(low: int, high: int) -> Callable[[Any], int]:
    """An integer in [low, high]: sizes have upper limits so that a typo cannot exhaust memory or time."""
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _InvalidError(f"must be an integer in [{low}, {high}], got {_describe(value)}")
        return value

    return check


class _Reader:
    """Collects problems while reading tables, so one pass reports every mistake in a file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path} {message}" if path else f"{self.source}: {message}")

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{self.source}: {path} {message}" if path else f"{self.source}: {message}")

    def section(self, raw: Mapping[str, Any], key: str, path: str = "") -> dict[str, Any]:
        """A sub-table (empty when absent); a non-table value is reported."""
        full = f"{path}.{key}" if path else key
        value = raw.get(key, {})
        try:
            return _table(value)
        except _InvalidError as problem:
            self.error(full, str(problem))
            return {}

    def take(self, table: Mapping[str, Any], path: str, key: str, check: Callable[[Any], Any],
             default: Any = _REQUIRED) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in table:
            if default is _REQUIRED:
                self.error(full, "is required")
            return None if default is _REQUIRED else default
        try:
            return check(table[key])
        except _InvalidError as problem:
            self.error(full, str(problem))
            return None if default is _REQUIRED else default

    def no_unknown_keys(self, table: Mapping[str, Any], path: str, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for key in table:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                self.error(where, f"is not a known field; allowed here: {', '.join(allowed)}")


# ----------------------------------------------------------------------------------------------------------
# Sections


def _read_simulation(reader: _Reader, raw: Mapping[str, Any]) -> SimulationSpec:
    table = reader.section(raw, "simulation")
    reader.no_unknown_keys(table, "simulation", ["max_jobs", "horizon_s", "warmup_s", "seed"])
    spec = SimulationSpec(
        max_jobs=reader.take(table, "simulation", "max_jobs", _int_in_range(1, MAX_JOBS), None),
        horizon_s=reader.take(table, "simulation", "horizon_s", _LIMIT_S, None),
        warmup_s=reader.take(table, "simulation", "warmup_s", _in_range(0, MAX_TIME_S), 0.0),
        seed=reader.take(table, "simulation", "seed", _int_in_range(0, MAX_SEED), 0),
    )
    if spec.horizon_s is not None and math.isinf(spec.horizon_s):
        spec = SimulationSpec(spec.max_jobs, None, spec.warmup_s, spec.seed)
    if spec.horizon_s is not None and spec.warmup_s >= spec.horizon_s:
        reader.warn("simulation.warmup_s", f"({spec.warmup_s:g} s) is not shorter than horizon_s "
                    f"({spec.horizon_s:g} s): no job is measured and every response-time metric is undefined")
    return spec



def _read_policy(reader: _Reader, raw: Mapping[str, Any]) -> PolicySpec:
    table = reader.section(raw, "policy")
    reader.no_unknown_keys(table, "policy", ["name", "params", "mode", "batch_interval_s"])
    name = reader.take(table, "policy", "name", _string, "least_loaded")
    params = reader.take(table, "policy", "params", _table, {})
    mode = reader.take(table, "policy", "mode", _choice(MODES), "immediate")
    interval = reader.take(table, "policy", "batch_interval_s", _in_range(MIN_TIME_STEP_S, MAX_TIME_S), 1.0)
    try:
        cls = policy_class(name)
    except UnknownPolicyError as error:
        reader.error("policy.name", str(error))
        return PolicySpec(name, params, mode, interval)
    for problem in check_policy_params(name, params):
        reader.error("policy.params", problem)
    if mode not in cls.modes:
        reader.error("policy.mode", f"{mode!r} is not supported by policy {name!r}; it supports: "
                     f"{', '.join(cls.modes)}")
    return PolicySpec(name, params, mode, interval)


_NODE_FIELDS = ["kind", "slots", "count", "speed", "queue", "memory_bytes", "idle_power_w", "busy_power_w",
                "max_batch_size", "max_batch_wait_s"]


def _read_nodes(reader: _Reader, raw: Mapping[str, Any]) -> tuple[list[NodeSpec], dict[str, list[str]]]:
    """Nodes, expanding `count = n` into members `NAME-0` .. `NAME-(n-1)`; also returns the groups."""
    nodes: list[NodeSpec] = []
    groups: dict[str, list[str]] = {}
    members: dict[str, str] = {}  # node name -> the group that made it
    total_slots = 0
    section = reader.section(raw, "nodes")
    if not section:
        reader.error("nodes", "must define at least one node, e.g. [nodes.server] kind = \"cpu-server\"")
    for group, value in section.items():
        path = f"nodes.{group}"
        try:
            table = _table(value)
        except _InvalidError as problem:
            reader.error(path, str(problem))
            continue
        reader.no_unknown_keys(table, path, _NODE_FIELDS)
        kind = reader.take(table, path, "kind", _string, "node")
        count = reader.take(table, path, "count", _int_in_range(1, MAX_NODES), 1)
        if len(nodes) + count > MAX_NODES:
            reader.error(f"{path}.count", f"makes more than {MAX_NODES} nodes in total")
            continue
        idle = reader.take(table, path, "idle_power_w", _in_range(0, MAX_POWER_W), 0.0)
        busy = reader.take(table, path, "busy_power_w", _in_range(0, MAX_POWER_W), idle)
        if busy < idle:
            reader.error(f"{path}.busy_power_w", f"must be >= idle_power_w ({idle}), got {busy}")
        template = dict(
            kind=kind,
            group=group,
            slots=reader.take(table, path, "slots", _int_in_range(1, MAX_SLOTS), 1),
            speed=reader.take(table, path, "speed", _in_range(*SPEED_RANGE), 1.0),
            queue=reader.take(table, path, "queue", _choice(QUEUE_DISCIPLINES), "fifo"),
            memory_bytes=reader.take(table, path, "memory_bytes", _CAPACITY_BYTES, math.inf),
            idle_power_w=idle,
            busy_power_w=busy,
            max_batch_size=reader.take(table, path, "max_batch_size", _int_in_range(1, MAX_BATCH_SIZE), 1),
            max_batch_wait_s=reader.take(table, path, "max_batch_wait_s", _in_range(0, MAX_TIME_S), 0.0),
        )
        names = [group] if count == 1 else [f"{group}-{i}" for i in range(count)]
        if template["slots"] is not None:
            total_slots += count * template["slots"]
            if total_slots > MAX_TOTAL_SLOTS:
                reader.error(path, f"makes the nodes' slots (count x slots, all groups together) exceed "
                             f"{MAX_TOTAL_SLOTS}")
                continue
        groups[group] = names
        for name in names:
            if name in members:
                reader.error(path, f"makes node {name!r}, a name that [nodes.{members[name]}] already makes; "
                             "node and group names must all differ")
            members[name] = group
        nodes.extend(NodeSpec(name=name, **template) for name in names)
    for group in groups:
        if group in members and members[group] != group:
            reader.error(f"nodes.{group}", f"has the name of a node of [nodes.{members[group]}]; "
                         "node and group names must all differ")
    return nodes, groups



def _read_network(
    reader: _Reader, raw: Mapping[str, Any], groups: Mapping[str, list[str]], node_names: set[str]
) -> NetworkSpec:
    table = reader.section(raw, "network")
    reader.no_unknown_keys(table, "network", ["sharing", "switches", "links"])
    sharing = reader.take(table, "network", "sharing", _choice(SHARING_MODELS), "max-min")
    switches = reader.take(table, "network", "switches", _string_list, ())
    for switch in switches:
        if switch in groups and switch not in node_names:
            reader.error("network.switches", f"name {switch!r} is already used by a group of nodes")
    links: list[LinkSpec] = []
    table_of_link: dict[str, str] = {}  # a link's name -> its [network.links.NAME] table
    for link_name, value in reader.section(table, "links", "network").items():
        path = f"network.links.{link_name}"
        try:
            link = _table(value)
        except _InvalidError as problem:
            reader.error(path, str(problem))
            continue
        reader.no_unknown_keys(link, path, ["endpoints", "latency_s", "bandwidth_bytes_per_s", "duplex"])
        endpoints = reader.take(link, path, "endpoints", _string_list, ())
        latency = reader.take(link, path, "latency_s", _in_range(0, MAX_TIME_S), 0.0)
        bandwidth = reader.take(link, path, "bandwidth_bytes_per_s",
                                _in_range(*BANDWIDTH_RANGE_BYTES_PER_S, inf_allowed=True))
        duplex = reader.take(link, path, "duplex", _choice(DUPLEX_MODES), "full")
        if len(endpoints) != 2:
            if "endpoints" in link:
                reader.error(f"{path}.endpoints", f"must name exactly two vertices, got {list(endpoints)}")
            continue
        expanded = [groups.get(end, [end]) for end in endpoints]
        if len(expanded[0]) > 1 and len(expanded[1]) > 1:
            reader.error(f"{path}.endpoints", "at most one endpoint may be a group of several nodes")
            continue
        if bandwidth is None:
            continue
        pairs = [(a, b) for a in expanded[0] for b in expanded[1]]
        for a, b in pairs:
            name = link_name if len(pairs) == 1 else f"{link_name}-{a if len(expanded[0]) > 1 else b}"
            links.append(LinkSpec(name, (a, b), latency, bandwidth, duplex))
            table_of_link.setdefault(name, link_name)
    spec = NetworkSpec(sharing=sharing, switches=tuple(switches), links=tuple(links))
    for where, message in network_problems(spec, sorted(node_names)):
        kind, _, name = where.partition(".")
        if kind == "links":  # the message names the endpoints; the path is the table the link came from
            field = "endpoints" if "vertex" in message else ""
            path = f"network.links.{table_of_link.get(name, name)}"
            reader.error(f"{path}.{field}" if field else path, message)
        elif kind != "nodes":  # duplicate node names are reported by [nodes]
            reader.error(f"network.{where}", message)
    return spec



def _read_service(reader: _Reader, table: Mapping[str, Any], path: str,
                  defaults: ServiceSpec | None) -> ServiceSpec | None:
    distribution = reader.take(table, path, "distribution", _choice(DISTRIBUTIONS),
                               defaults.distribution if defaults else "exponential")
    default_cv = defaults.cv if defaults else (0.0 if distribution == "deterministic" else 1.0)
    cv = reader.take(table, path, "cv", _in_range(0.0, CV_MAX, unit="a coefficient of variation"), default_cv)
    if distribution == "exponential" and "cv" in table and cv != 1.0:
        reader.error(f"{path}.cv", f"an exponential distribution has cv = 1; got {cv} (use gamma or lognormal)")
    if distribution == "deterministic":
        cv = 0.0
    elif distribution == "exponential":
        cv = 1.0
    elif cv < CV_MIN:
        reader.error(f"{path}.cv", f"must be in [{CV_MIN:g}, {CV_MAX:g}] for a {distribution} distribution, got {cv!r} "
                     "(for no variation use distribution = \"deterministic\")")
    mean = reader.take(table, path, "mean_s", _in_range(*MEAN_S_RANGE, unit="seconds"),
                       defaults.mean_s if defaults else _REQUIRED)
    memory = reader.take(table, path, "memory_bytes", _in_range(0.0, MEMORY_BYTES_MAX, unit="bytes"), 0.0)
    load = reader.take(table, path, "load_time_s", _in_range(0.0, LOAD_TIME_S_MAX, unit="seconds"), 0.0)
    scaling = reader.take(table, path, "batch_scaling",
                          _in_range(0.0, 1.0, unit="the exponent of the batch size"), None)
    if mean is None:
        return None
    return ServiceSpec(mean_s=mean, distribution=distribution, cv=cv, memory_bytes=memory, load_time_s=load,
                       batch_scaling=scaling)


_MODEL_FIELDS = ["distribution", "cv", "devices", "profile", "profile_model", "dtype", "memory_bytes", "load_time_s",
                 "batch_scaling"]
_DEVICE_FIELDS = ["mean_s", "distribution", "cv", "memory_bytes", "load_time_s", "batch_scaling"]

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


def _read_profile_binding(reader: _Reader, table: Mapping[str, Any], path: str, name: str,
                          base_dir: Path) -> tuple[ProfileBinding | None, dict[str, ServiceSpec]]:
    """The model's profile (if it names one) and a service spec per device kind the profile measured."""
    profile_name = reader.take(table, path, "profile", _string, None)
    profile_model = reader.take(table, path, "profile_model", _string, name)
    dtype = reader.take(table, path, "dtype", _choice(DTYPES), "float32")
    if profile_name is None:
        for key in ("profile_model", "dtype"):
            if key in table:
                reader.error(f"{path}.{key}", "needs profile = \"...\" (a shipped profile's name or a CSV path)")
        return None, {}
    try:
        profile = load_profile(resolve_profile(profile_name, base_dir))
    except ProfileError as error:
        for problem in error.problems:
            reader.error(f"{path}.profile", problem)
        return None, {}
    memory_override = reader.take(table, path, "memory_bytes", _in_range(0.0, MEMORY_BYTES_MAX, unit="bytes"), None)
    load_override = reader.take(table, path, "load_time_s", _in_range(0.0, LOAD_TIME_S_MAX, unit="seconds"), None)
    kinds = profile.device_kinds(profile_model, dtype)
    if not kinds:
        listed = sorted({(row.model, row.dtype) for row in profile.rows})
        reader.error(f"{path}.profile_model" if "profile_model" in table else f"{path}.profile",
                     f"profile {profile.path} has no rows for model {profile_model!r} in {dtype}; it has: "
                     f"{', '.join(f'{model} ({dtype_})' for model, dtype_ in listed)}")
    services = {}
    for kind in kinds:
        curve = profile.curve(profile_model, kind, dtype)
        samples = curve.sorted_samples[0]
        mean = curve.mean_s(1)
        services[kind] = ServiceSpec(
            mean_s=mean, distribution=EMPIRICAL,
            cv=float(samples.std(ddof=1) / mean) if len(samples) > 1 else 0.0,
            memory_bytes=(memory_override if memory_override is not None
                          else 0.0 if math.isnan(curve.weights_bytes) else curve.weights_bytes),
            load_time_s=(load_override if load_override is not None
                         else 0.0 if math.isnan(curve.load_time_s) else curve.load_time_s),
        )
    return ProfileBinding(name=profile_name, path=profile.path, model=profile_model, dtype=dtype), services


def _read_models(reader: _Reader, raw: Mapping[str, Any], base_dir: Path = Path(".")) -> dict[str, ModelSpec]:
    models: dict[str, ModelSpec] = {}
    for name, value in reader.section(raw, "models").items():
        path = f"models.{name}"
        try:
            table = _table(value)
        except _InvalidError as problem:
            reader.error(path, str(problem))
            continue
        reader.no_unknown_keys(table, path, _MODEL_FIELDS)
        model_default_distribution = reader.take(table, path, "distribution", _choice(DISTRIBUTIONS), "exponential")
        model_defaults = {"distribution": model_default_distribution}
        for key in ("cv", "memory_bytes", "load_time_s", "batch_scaling"):
            if key in table:
                model_defaults[key] = table[key]
        binding, devices = _read_profile_binding(reader, table, path, name, base_dir)
        device_tables = reader.section(table, "devices", path)
        if "batch_scaling" in table and "profile" in table and not device_tables:
            reader.error(f"{path}.batch_scaling", "is the batch rule of costs given by hand "
                         f"([{path}.devices.KIND] mean_s = ...); this model's batches follow the batch curve "
                         "measured in its profile: remove batch_scaling")
        if not device_tables and "profile" not in table:
            reader.error(f"{path}.devices", "must give the service time on at least one device kind, e.g. "
                         f"[{path}.devices.cpu-server] mean_s = 0.05 (or name a calibrated profile: "
                         "profile = \"cpu-2core\")")
        for kind, device_value in device_tables.items():
            device_path = f"{path}.devices.{kind}"
            if isinstance(device_value, int | float) and not isinstance(device_value, bool):
                device_value = {"mean_s": device_value}
            try:
                device_table = {**model_defaults, **_table(device_value)}
            except _InvalidError as problem:
                reader.error(device_path, str(problem))
                continue
            reader.no_unknown_keys(device_table, device_path, _DEVICE_FIELDS)
            service = _read_service(reader, device_table, device_path, None)
            if service is not None:
                devices[kind] = service  # a hand-given cost replaces the profile's for this kind
        models[name] = ModelSpec(name=name, devices=devices, profile=binding)
    return models


def _has_batch_rule(model: ModelSpec, kind: str) -> bool:
    """Whether batches of ``model`` on ``kind`` have a cost: ``batch_scaling``, or a profile measured at a batch
    size above 1."""
    service = model.devices.get(kind)
    if service is None:
        return False
    if service.batch_scaling is not None:
        return True
    if service.distribution != EMPIRICAL or model.profile is None:
        return False
    binding = model.profile
    try:
        return load_profile(binding.path).curve(binding.model, kind, binding.dtype).max_batch_size > 1
    except ProfileError:
        return False


def _check_batch_rules(reader: _Reader, nodes: Sequence[NodeSpec], models: Mapping[str, ModelSpec]) -> None:
    """A node that batches (``max_batch_size`` > 1) needs at least one model it can run with a batch rule;
    otherwise every batch would hold one task and the setting would silently do nothing."""
    reported: set[str] = set()
    for node in nodes:
        if node.max_batch_size <= 1 or node.group in reported:
            continue
        runnable = [name for name, model in models.items() if node.kind in model.devices]
        if not runnable or any(_has_batch_rule(models[name], node.kind) for name in runnable):
            continue
        reported.add(node.group)
        reader.error(f"nodes.{node.group}.max_batch_size",
                     f"is {node.max_batch_size}, but no model that runs on device kind {node.kind!r} "
                     f"({', '.join(runnable)}) has a batch rule, so every batch would hold one task: give a model "
                     f"batch_scaling (e.g. [models.{runnable[0]}] batch_scaling = 0.5: a batch of b tasks takes "
                     "the time of one x b**0.5), or a profile measured at batch sizes above 1, or set "
                     "max_batch_size = 1")


_STAGE_FIELDS = ["model", "work", "output_bytes", "after", "placement", "input_bytes"]
_APPLICATION_FIELDS = ["source", "sink", "input_bytes", "deadline_s", "priority", "stages"]


def _topological_stages(reader: _Reader, path: str, stages: dict[str, StageSpec]) -> tuple[StageSpec, ...]:
    import networkx as nx  # imported where used: the CLI answers --help without it

    graph = nx.DiGraph()
    graph.add_nodes_from(stages)
    for stage in stages.values():
        for before in stage.after:
            if before not in stages:
                reader.error(f"{path}.stages.{stage.name}.after", f"names unknown stage {before!r}; stages of "
                             f"this application: {', '.join(stages)}")
            else:
                graph.add_edge(before, stage.name)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        order = list(nx.lexicographical_topological_sort(graph, key=list(stages).index))
        return tuple(stages[name] for name in order)
    loop = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
    reader.error(f"{path}.stages", f"must form a DAG, but contain the cycle {loop}")
    return tuple(stages.values())



def _read_applications(reader: _Reader, raw: Mapping[str, Any], models: Mapping[str, ModelSpec],
                       vertex_names: set[str]) -> dict[str, ApplicationSpec]:
    applications: dict[str, ApplicationSpec] = {}
    section = reader.section(raw, "applications")
    if not section:
        reader.error("applications", "must define at least one application with at least one stage")
    for name, value in section.items():
        path = f"applications.{name}"
        try:
            table = _table(value)
        except _InvalidError as problem:
            reader.error(path, str(problem))
            continue
        reader.no_unknown_keys(table, path, _APPLICATION_FIELDS)
        stages: dict[str, StageSpec] = {}
        stage_tables = reader.section(table, "stages", path)
        if not stage_tables:
            reader.error(f"{path}.stages", "must define at least one stage, e.g. "
                         f"[{path}.stages.infer] model = \"...\"")
        for stage_name, stage_value in stage_tables.items():
            stage_path = f"{path}.stages.{stage_name}"
            try:
                stage_table = _table(stage_value)
            except _InvalidError as problem:
                reader.error(stage_path, str(problem))
                continue
            reader.no_unknown_keys(stage_table, stage_path, _STAGE_FIELDS)
            model = reader.take(stage_table, stage_path, "model", _string)
            if model is not None and model not in models:
                reader.error(f"{stage_path}.model", f"unknown model {model!r}; models in [models]: "
                             f"{', '.join(models) or '(none)'}")
            stages[stage_name] = StageSpec(
                name=stage_name,
                model=model or "",
                work=reader.take(stage_table, stage_path, "work", _in_range(*SPEED_RANGE), 1.0),
                output_bytes=reader.take(stage_table, stage_path, "output_bytes", _in_range(0, MAX_BYTES), 0.0),
                after=reader.take(stage_table, stage_path, "after", _string_list, ()),
                placement=reader.take(stage_table, stage_path, "placement", _string_list, ()),
                input_bytes=reader.take(stage_table, stage_path, "input_bytes", _in_range(0, MAX_BYTES), None),
            )
        source = reader.take(table, path, "source", _string, None)
        sink = reader.take(table, path, "sink", _string, source)
        for key, vertex in (("source", source), ("sink", sink)):
            if vertex is not None and vertex not in vertex_names:
                reader.error(f"{path}.{key}", f"unknown vertex {vertex!r}; known nodes, groups and switches: "
                             f"{', '.join(sorted(vertex_names))}")
        applications[name] = ApplicationSpec(
            name=name,
            stages=_topological_stages(reader, path, stages),
            source=source,
            sink=sink,
            input_bytes=reader.take(table, path, "input_bytes", _in_range(0, MAX_BYTES), 0.0),
            deadline_s=reader.take(table, path, "deadline_s", _LIMIT_S, math.inf),
            priority=reader.take(table, path, "priority", _in_range(-1e9, 1e9), 0.0),
        )
    return applications


ARRIVAL_RATE_RANGE_PER_S = (1e-6, 1e6)
"""Rates of arrival processes, per second (an MMPP state may also have rate 0)."""
MIN_ARRIVALS_PER_CYCLE = 1e-3
"""An MMPP or on/off stream must expect at least this many arrivals per cycle of its states (the sum of rate x
mean sojourn over the states), or it would spend nearly all its work switching states without arrivals."""
MAX_MMPP_STATES = 1000
_ARRIVAL_RATE = _in_range(*ARRIVAL_RATE_RANGE_PER_S)
_ARRIVAL_DURATION_S = _in_range(MIN_TIME_STEP_S, MAX_TIME_S)
"""A mean sojourn, on or off time, or a diurnal period: at least the simulator's smallest step, so that time
advances."""
_ARRIVAL_TIME_S = _in_range(0, MAX_TIME_S)
"""A point in time (start_s, a diurnal phase_s, a trace's time_s)."""


def _state_rate(value: Any) -> float:
    if _number(value) == 0:
        return 0.0
    low, high = ARRIVAL_RATE_RANGE_PER_S
    try:
        return _ARRIVAL_RATE(value)
    except _InvalidError:
        raise _InvalidError(f"must be 0 or a number in [{low:g}, {high:g}], got {value!r}") from None


def _list_of(check: Callable[[Any], float]) -> Callable[[Any], tuple[float, ...]]:
    """A list of 1 to `MAX_MMPP_STATES` numbers, each read by `check` (a problem names its position)."""
    def read(value: Any) -> tuple[float, ...]:
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_MMPP_STATES:
            raise _InvalidError(f"must be a list of 1 to {MAX_MMPP_STATES} numbers, got {_describe(value)}")
        items = []
        for position, item in enumerate(value):
            try:
                items.append(check(item))
            except _InvalidError as problem:
                raise _InvalidError(f"[{position}] {problem}") from None
        return tuple(items)

    return read


_PROCESS_FIELDS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "poisson": {"rate_per_s": _ARRIVAL_RATE},
    "deterministic": {"rate_per_s": _ARRIVAL_RATE},
    "mmpp": {"rates_per_s": _list_of(_state_rate), "mean_sojourn_s": _list_of(_ARRIVAL_DURATION_S)},
    "on_off": {"rate_per_s": _ARRIVAL_RATE, "mean_on_s": _ARRIVAL_DURATION_S, "mean_off_s": _ARRIVAL_DURATION_S},
    "diurnal": {"rate_per_s": _ARRIVAL_RATE, "amplitude": _in_range(0, 1), "period_s": _ARRIVAL_DURATION_S,
                "phase_s": _ARRIVAL_TIME_S},
    "trace": {"file": _string},
}
_OPTIONAL_PROCESS_FIELDS = {"phase_s": 0.0}
_ARRIVAL_FIELDS = ["application", "process", "source", "sink", "start_s", "stop_s"]


def _read_trace(reader: _Reader, path: str, file_name: str, base_dir: Path, default_application: str | None,
                applications: Mapping[str, ApplicationSpec]) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """The rows of a trace CSV: `time_s` (seconds from the stream's start_s, in [0, MAX_TIME_S], not
    decreasing) and optionally `application` (default: the stream's). A problem names file, line and column;
    a header without rows is a warning (the stream then makes no arrivals)."""
    trace_path = (base_dir / file_name).resolve()
    field_path = f"{path}.file"
    try:
        text = read_user_text(trace_path, "trace file")
    except UserInputError as error:
        for problem in error.problems:
            reader.error(field_path, problem)
        return (), ()
    times: list[float] = []
    names: list[str] = []
    rows = csv.DictReader(io.StringIO(text, newline=""))
    line = 1
    try:
        columns = rows.fieldnames or []
        if "time_s" not in columns:
            reader.error(field_path, f"trace {trace_path} needs a 'time_s' column; it has: "
                         f"{', '.join(columns) or '(no header)'}")
            return (), ()
        column = columns.index("time_s") + 1
        for row in rows:
            line = rows.line_num
            value = row["time_s"]
            try:
                time = _ARRIVAL_TIME_S(float(value)) if isinstance(value, str) else math.nan
            except (ValueError, _InvalidError):
                time = math.nan
            if math.isnan(time):
                reader.error(field_path, f"{trace_path} line {line}: time_s (column {column}) must be a "
                             f"number of seconds in [0, {MAX_TIME_S:g}], got {value!r}")
                return (), ()
            name = row.get("application") or default_application
            if name not in applications:
                reader.error(field_path, f"{trace_path} line {line}: application {name!r} is unknown; "
                             f"defined: {', '.join(applications) or '(none)'}")
                return (), ()
            if times and time < times[-1]:
                reader.error(field_path, f"{trace_path} line {line}: time_s must not decrease ({time:g} "
                             f"after {times[-1]:g})")
                return (), ()
            times.append(time)
            names.append(str(name))
    except csv.Error as error:
        reader.error(field_path, f"{trace_path} line {rows.line_num or line}: not valid CSV: {error}")
        return (), ()
    if not times:
        reader.warn(field_path, f"trace {trace_path} has a header but no rows: the stream makes no arrivals")
    return tuple(times), tuple(names)


def _read_arrivals(reader: _Reader, raw: Mapping[str, Any], applications: Mapping[str, ApplicationSpec],
                   groups: Mapping[str, list[str]], vertex_names: set[str], base_dir: Path) -> list[ArrivalSpec]:
    """The arrival streams. A stream whose source (or sink) is a group becomes one stream per member; a trace
    naming several applications becomes one stream per application, so that each row's job comes from its
    application's own source and goes to its sink unless the stream sets `source` / `sink`."""
    arrivals: list[ArrivalSpec] = []
    section = reader.section(raw, "arrivals")
    if not section:
        reader.error("arrivals", "must define at least one arrival stream, e.g. [arrivals.users] "
                     "application = \"...\", process = \"poisson\", rate_per_s = 1.0")
    for name, value in section.items():
        path = f"arrivals.{name}"
        try:
            table = _table(value)
        except _InvalidError as problem:
            reader.error(path, str(problem))
            continue
        process = reader.take(table, path, "process", _choice(ARRIVAL_PROCESSES), "poisson")
        fields = _PROCESS_FIELDS.get(process, {})
        reader.no_unknown_keys(table, path, _ARRIVAL_FIELDS + list(fields))
        application = reader.take(table, path, "application", _string, None)
        if application is None and process != "trace":
            reader.error(f"{path}.application", "is required")
        if application is not None and application not in applications:
            reader.error(f"{path}.application", f"unknown application {application!r}; defined: "
                         f"{', '.join(applications) or '(none)'}")
            continue
        params = {}
        for key, check in fields.items():
            params[key] = reader.take(table, path, key, check, _OPTIONAL_PROCESS_FIELDS.get(key, _REQUIRED))
        if process == "mmpp" and params["rates_per_s"] and params["mean_sojourn_s"]:
            if len(params["rates_per_s"]) != len(params["mean_sojourn_s"]):
                reader.error(f"{path}.mean_sojourn_s", "must have one entry per entry of rates_per_s")
            elif not any(rate > 0 for rate in params["rates_per_s"]):
                reader.error(f"{path}.rates_per_s", "must have at least one positive rate")
            else:
                per_cycle = sum(r * t for r, t in zip(params["rates_per_s"], params["mean_sojourn_s"], strict=True))
                if per_cycle < MIN_ARRIVALS_PER_CYCLE:
                    reader.error(f"{path}.rates_per_s", f"x mean_sojourn_s summed over the states must be at least "
                                 f"{MIN_ARRIVALS_PER_CYCLE:g} (expected arrivals per cycle of the states), got "
                                 f"{per_cycle:.3g}")
        if process == "on_off" and params["rate_per_s"] and params["mean_on_s"]:
            per_cycle = params["rate_per_s"] * params["mean_on_s"]
            if per_cycle < MIN_ARRIVALS_PER_CYCLE:
                reader.error(f"{path}.mean_on_s", f"x rate_per_s must be at least {MIN_ARRIVALS_PER_CYCLE:g} "
                             f"(expected arrivals per on period), got {per_cycle:.3g}")
        start = reader.take(table, path, "start_s", _ARRIVAL_TIME_S, 0.0)
        stop = reader.take(table, path, "stop_s", _LIMIT_S, math.inf)
        if stop <= start:
            reader.warn(f"{path}.stop_s", f"({stop:g} s) is not after start_s ({start:g} s): the stream makes "
                        "no arrivals")
        explicit_source = reader.take(table, path, "source", _string, None)
        explicit_sink = reader.take(table, path, "sink", _string, None)
        for key, vertex in (("source", explicit_source), ("sink", explicit_sink)):
            if vertex is not None and vertex not in vertex_names and vertex not in groups:
                reader.error(f"{path}.{key}", f"unknown vertex {vertex!r}; known nodes, groups and switches: "
                             f"{', '.join(sorted(vertex_names | set(groups)))}")
        trace_times: tuple[float, ...] = ()
        trace_apps: tuple[str, ...] = ()
        if process == "trace" and params.get("file"):
            trace_times, trace_apps = _read_trace(reader, path, params["file"], base_dir, application,
                                                  applications)
        # (application, its rows) of each part of the stream: one part per application a trace names
        parts: list[tuple[str | None, tuple[float, ...], tuple[str, ...]]]
        if len(set(trace_apps)) > 1:
            rows_by_application: dict[str, list[float]] = {}
            for time, row_application in zip(trace_times, trace_apps, strict=True):
                rows_by_application.setdefault(row_application, []).append(time)
            parts = [(row_application, tuple(times), (row_application,) * len(times))
                     for row_application, times in rows_by_application.items()]
        else:
            parts = [(trace_apps[0] if trace_apps else application, trace_times, trace_apps)]
        for part_application, part_times, part_apps in parts:
            app_spec = applications.get(part_application) if part_application else None
            source = explicit_source if explicit_source is not None else app_spec.source if app_spec else None
            if explicit_sink is not None:
                sink = explicit_sink
            elif explicit_source is not None and (app_spec is None or app_spec.sink == app_spec.source):
                sink = explicit_source
            else:
                sink = app_spec.sink if app_spec else None
            part_name = name if len(parts) == 1 else f"{name}-{part_application}"
            sources = groups.get(source, [source]) if source is not None else [None]
            sink_members = groups.get(sink, [sink]) if sink is not None else [None]
            for index, member in enumerate(sources):
                member_sink = sink_members[index] if len(sink_members) == len(sources) else sink_members[0]
                arrivals.append(ArrivalSpec(
                    name=part_name if len(sources) == 1 else f"{part_name}-{member}",
                    application=part_application or "",
                    process=process,
                    params=params,
                    source=member,
                    sink=member_sink,
                    start_s=start,
                    stop_s=stop,
                    trace_times_s=part_times,
                    trace_applications=part_apps,
                    table=name,
                ))
    return arrivals


def _eligible_node_names(stage: StageSpec, nodes: Sequence[NodeSpec], models: Mapping[str, ModelSpec]) -> list[str]:
    model = models.get(stage.model)
    if model is None:
        return []
    return [
        node.name
        for node in nodes
        if node.kind in model.devices
        and model.devices[node.kind].memory_bytes <= node.memory_bytes
        and (not stage.placement or {node.name, node.group, node.kind} & set(stage.placement))
    ]


def _check_placement_and_routes(reader: _Reader, scenario_nodes: Sequence[NodeSpec], network: NetworkSpec,
                                models: Mapping[str, ModelSpec], applications: Mapping[str, ApplicationSpec],
                                arrivals: Sequence[ArrivalSpec]) -> None:
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(node.name for node in scenario_nodes)
    graph.add_nodes_from(network.switches)
    graph.add_edges_from(link.endpoints for link in network.links)
    vertices = set(graph.nodes)
    component_of: dict[str, int] = {}  # vertex -> index of its connected component, computed on first need
    known_targets = {label for n in scenario_nodes for label in (n.name, n.group, n.kind)}
    for application in applications.values():
        involved: set[str] = set()
        for stage in application.stages:
            path = f"applications.{application.name}.stages.{stage.name}"
            for target in stage.placement:
                if target not in known_targets:
                    reader.error(f"{path}.placement", f"names {target!r}, which is no node, group or device kind; "
                                 f"known: {', '.join(sorted(known_targets))}")
            eligible = _eligible_node_names(stage, scenario_nodes, models)
            if not eligible and stage.model in models:
                kinds = ", ".join(map(repr, models[stage.model].devices)) or "(none)"
                node_kinds = ", ".join(sorted({repr(node.kind) for node in scenario_nodes}))
                where = f" and placement {list(stage.placement)}" if stage.placement else ""
                services = models[stage.model].devices
                too_small = [f"{node.name} ({node.memory_bytes:.4g} < {services[node.kind].memory_bytes:.4g} bytes)"
                             for node in scenario_nodes
                             if node.kind in services and services[node.kind].memory_bytes > node.memory_bytes]
                memory = f"; too little memory_bytes for the model on: {', '.join(too_small)}" if too_small else ""
                reader.error(path, f"can run on no node: model {stage.model!r} has costs for device kinds {kinds}"
                             f"{where}, but the nodes are of kinds {node_kinds}{memory}")
            involved.update(eligible)
        needs_network = len(application.stages) > 1
        for arrival in arrivals:
            if arrival.application == application.name:
                for vertex in (arrival.source, arrival.sink):
                    if vertex is not None:
                        involved.add(vertex)
                        needs_network = True
        involved &= vertices
        if needs_network and len(involved) > 1:
            if not component_of:
                component_of = {vertex: index for index, component in enumerate(nx.connected_components(graph))
                                for vertex in component}
            touched: dict[int, list[str]] = {}
            for vertex in sorted(involved):
                touched.setdefault(component_of[vertex], []).append(vertex)
            if len(touched) > 1:
                parts = "; ".join(sorted(", ".join(members) for members in touched.values()))
                reader.error(f"applications.{application.name}",
                             f"needs data transfers between vertices that no links connect: {parts}")


def parse_scenario(raw: Mapping[str, Any], source: str = "scenario", base_dir: str | Path = ".") -> Scenario:
    """Validate a raw configuration (as read from TOML) into a `Scenario`.

    Raises:
        ScenarioError: Listing every problem found.
    """
    reader = _Reader(source)
    reader.no_unknown_keys(raw, "", ["scenario", "simulation", "policy", "nodes", "network", "models",
                                     "applications", "arrivals"])
    meta = reader.section(raw, "scenario")
    reader.no_unknown_keys(meta, "scenario", ["name", "description"])
    name = reader.take(meta, "scenario", "name", _string, Path(source).stem)
    reader.take(meta, "scenario", "description", str, "")
    simulation = _read_simulation(reader, raw)
    policy = _read_policy(reader, raw)
    nodes, groups = _read_nodes(reader, raw)
    node_names = {node.name for node in nodes}
    network = _read_network(reader, raw, groups, node_names)
    vertex_names = node_names | set(network.switches) | set(groups)
    models = _read_models(reader, raw, Path(base_dir))
    applications = _read_applications(reader, raw, models, vertex_names)
    arrivals = _read_arrivals(reader, raw, applications, groups, node_names | set(network.switches),
                              Path(base_dir))
    if not reader.problems:
        _check_placement_and_routes(reader, nodes, network, models, applications, arrivals)
        _check_batch_rules(reader, nodes, models)
    if simulation.max_jobs is None and simulation.horizon_s is None and any(
        a.process != "trace" and math.isinf(a.stop_s) for a in arrivals
    ):
        reader.error("simulation", "needs max_jobs or horizon_s (or every arrival stream needs stop_s), "
                     "otherwise the run never ends")
    if reader.problems:
        raise ScenarioError(reader.problems)
    return Scenario(
        name=name,
        path=source,
        simulation=simulation,
        policy=policy,
        nodes=tuple(nodes),
        network=network,
        models=models,
        applications=applications,
        arrivals=tuple(arrivals),
        config=copy.deepcopy(dict(raw)),
        warnings=tuple(reader.warnings),
    )


def eligible_nodes(stage: StageSpec, scenario: Scenario) -> list[int]:
    """Indices of the nodes a stage may run on: its model has a cost there and its placement admits it."""
    names = set(_eligible_node_names(stage, scenario.nodes, scenario.models))
    return [index for index, node in enumerate(scenario.nodes) if node.name in names]
