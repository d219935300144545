"""From a validated scenario file to the objects the simulator runs: defaults that depend on other fields,
groups of nodes expanded into members (and links into a link per member), references between tables
checked, calibrated profiles bound to models, and trace CSVs read into arrival streams.

Every function adds what it finds wrong to the shared `Problems` and still returns what it could build, so
one pass reports every problem of the file.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from simulator.calibration.profile import ProfileError, load_profile, resolve_profile
from simulator.config.network_spec import (
    BrokerSpec,
    CompressionSpec,
    LinkSpec,
    NetworkSpec,
    ProtocolSpec,
    network_problems,
)
from simulator.config.problems import Problems
from simulator.config.schema import (
    ARRIVAL_TIME_S,
    CV_MAX,
    CV_MIN,
    EMPIRICAL,
    MAX_NODES,
    MAX_TIME_S,
    MAX_TOTAL_SLOTS,
    MIN_ARRIVALS_PER_CYCLE,
    PARETO_SHAPE_MIN,
    SAMPLES,
    SHAPE_FAMILIES,
    ApplicationTable,
    ArrivalTable,
    DeviceCostTable,
    ModelTable,
    NetworkTable,
    NodeGroupTable,
    PolicyTable,
    SimulationTable,
)
from simulator.config.specs import (
    ApplicationSpec,
    ArrivalSpec,
    ModelSpec,
    NodeSpec,
    PolicySpec,
    ProfileBinding,
    ServiceSpec,
    SimulationSpec,
    StageSpec,
)
from simulator.errors import UnknownPolicyError, UserInputError
from simulator.policies import absolute_path_params, check_policy_params, policy_class
from simulator.user_files import read_user_text

__all__ = [
    "resolve_applications",
    "resolve_arrivals",
    "resolve_models",
    "resolve_network",
    "resolve_nodes",
    "resolve_policy",
    "resolve_simulation",
]


def resolve_simulation(table: SimulationTable, problems: Problems) -> SimulationSpec:
    """When the run stops; an infinite horizon is no horizon."""
    horizon = None if table.horizon_s is None or math.isinf(table.horizon_s) else table.horizon_s
    if horizon is not None and table.warmup_s >= horizon:
        problems.warn("simulation.warmup_s", f"({table.warmup_s:g} s) is not shorter than horizon_s "
                      f"({horizon:g} s): no job is measured and every response-time metric is undefined")
    return SimulationSpec(max_jobs=table.max_jobs, horizon_s=horizon, warmup_s=table.warmup_s, seed=table.seed)


def resolve_policy(table: PolicyTable, base_dir: Path, problems: Problems) -> PolicySpec:
    """The policy, checked against the registry: a known name, its parameters, a mode it supports.

    A user's ``path/file.py:Class`` is read relative to the scenario's directory and kept under the name that
    finds it from any directory and process (its absolute path), so a worker of a sweep loads the same class;
    so are parameters that name files (a trained agent)."""
    spec = PolicySpec(table.name, table.params, table.mode, table.batch_interval_s, table.clairvoyant)
    try:
        cls = policy_class(table.name, base_dir=base_dir)
    except UnknownPolicyError as error:
        problems.add("policy.name", str(error))
        return spec
    params = absolute_path_params(cls, dict(table.params), base_dir)
    spec = PolicySpec(cls.name, params, table.mode, table.batch_interval_s, table.clairvoyant)
    for problem in check_policy_params(cls.name, params):
        problems.add("policy.params", problem)
    if table.mode not in cls.modes:
        problems.add("policy.mode", f"{table.mode!r} is not supported by policy {table.name!r}; it supports: "
                     f"{', '.join(cls.modes)}")
    return spec


def resolve_nodes(tables: Mapping[str, NodeGroupTable],
                  problems: Problems) -> tuple[list[NodeSpec], dict[str, list[str]]]:
    """Nodes, expanding `count = n` into members `NAME-0` .. `NAME-(n-1)`; also returns the groups."""
    nodes: list[NodeSpec] = []
    groups: dict[str, list[str]] = {}
    members: dict[str, str] = {}  # node name -> the group that made it
    total_slots = 0
    if not tables:
        problems.add("nodes", "must define at least one node, e.g. [nodes.server] kind = \"cpu-server\"")
    for group, table in tables.items():
        path = f"nodes.{group}"
        if len(nodes) + table.count > MAX_NODES:
            problems.add(f"{path}.count", f"makes more than {MAX_NODES} nodes in total")
            continue
        busy = table.idle_power_w if table.busy_power_w is None else table.busy_power_w
        if busy < table.idle_power_w:
            problems.add(f"{path}.busy_power_w", f"must be >= idle_power_w ({table.idle_power_w}), got {busy}")
        names = [group] if table.count == 1 else [f"{group}-{i}" for i in range(table.count)]
        total_slots += table.count * table.slots
        if total_slots > MAX_TOTAL_SLOTS:
            problems.add(path, f"makes the nodes' slots (count x slots, all groups together) exceed "
                         f"{MAX_TOTAL_SLOTS}")
            continue
        if table.queue == "rr" and table.quantum_s is None:
            problems.add(f"{path}.quantum_s", "is required with queue = \"rr\" (round robin): the time a task runs "
                         "before the next waiting task gets the slot, e.g. quantum_s = 0.01")
        groups[group] = names
        for name in names:
            if name in members:
                problems.add(path, f"makes node {name!r}, a name that [nodes.{members[name]}] already makes; "
                             "node and group names must all differ")
            members[name] = group
        nodes.extend(NodeSpec(
            name=name, kind=table.kind, group=group, slots=table.slots, speed=table.speed, queue=table.queue,
            sjf_by=table.sjf_by, quantum_s=math.inf if table.quantum_s is None else table.quantum_s,
            memory_bytes=math.inf if table.memory_bytes is None else table.memory_bytes,
            idle_power_w=table.idle_power_w, busy_power_w=busy, max_batch_size=table.max_batch_size,
            max_batch_wait_s=table.max_batch_wait_s,
        ) for name in names)
    for group in groups:
        if group in members and members[group] != group:
            problems.add(f"nodes.{group}", f"has the name of a node of [nodes.{members[group]}]; "
                         "node and group names must all differ")
    return nodes, groups


def resolve_network(table: NetworkTable, groups: Mapping[str, list[str]], node_names: set[str],
                    problems: Problems) -> tuple[NetworkSpec, dict[str, list[str]]]:
    """The network: a link with a group endpoint becomes one link per member (``LINK-MEMBER``); also returns the
    links each ``[network.links.NAME]`` table made."""
    for switch in table.switches:
        if switch in groups and switch not in node_names:
            problems.add("network.switches", f"name {switch!r} is already used by a group of nodes")
    links: list[LinkSpec] = []
    table_of_link: dict[str, str] = {}  # a link's name -> its [network.links.NAME] table
    links_of_table: dict[str, list[str]] = {}
    for link_name, link in table.links.items():
        path = f"network.links.{link_name}"
        if len(link.endpoints) != 2:
            problems.add(f"{path}.endpoints", f"must name exactly two vertices, got {list(link.endpoints)}")
            continue
        expanded = [groups.get(end, [end]) for end in link.endpoints]
        if len(expanded[0]) > 1 and len(expanded[1]) > 1:
            problems.add(f"{path}.endpoints", "at most one endpoint may be a group of several nodes")
            continue
        pairs = [(a, b) for a in expanded[0] for b in expanded[1]]
        for a, b in pairs:
            name = link_name if len(pairs) == 1 else f"{link_name}-{a if len(expanded[0]) > 1 else b}"
            links.append(LinkSpec(name, (a, b), link.latency_s, link.bandwidth_bytes_per_s, link.duplex))
            table_of_link.setdefault(name, link_name)
            links_of_table.setdefault(link_name, []).append(name)
    protocol = None if table.protocol is None else ProtocolSpec(
        header_bytes=table.protocol.header_bytes, latency_s=table.protocol.latency_s, name=table.protocol.name or "")
    compression = None if table.compression is None else CompressionSpec(
        ratio=table.compression.ratio, sender_s_per_mb=table.compression.sender_s_per_mb,
        receiver_s_per_mb=table.compression.receiver_s_per_mb)
    brokers = []
    for name, broker in table.brokers.items():
        if name in node_names or name in groups or name in table.switches:
            problems.add(f"network.brokers.{name}", f"name {name!r} is already used by a node, group or switch (a "
                         "broker is a vertex of its own)")
        else:
            brokers.append(BrokerSpec(name, broker.service_s, broker.s_per_mb, broker.slots, broker.distribution))
    spec = NetworkSpec(sharing=table.sharing, switches=(*table.switches, *(b.name for b in brokers)),
                       links=tuple(links), protocol=protocol, compression=compression, brokers=tuple(brokers))
    for where, message in network_problems(spec, sorted(node_names)):
        kind, _, name = where.partition(".")
        if kind == "links":  # the message names the endpoints; the path is the table the link came from
            field = "endpoints" if "vertex" in message else ""
            path = f"network.links.{table_of_link.get(name, name)}"
            problems.add(f"{path}.{field}" if field else path, message)
        elif kind != "nodes":  # duplicate node names are reported by [nodes]
            problems.add(f"network.{where}", message)
    return spec, links_of_table


def _hand_given_cost(model: ModelTable, device: DeviceCostTable, model_path: str, device_path: str,
                     problems: Problems) -> ServiceSpec:
    """A device's cost with the model's fields as defaults; the family says which fields it takes (see
    `_service_mean_cv_shape`)."""
    distribution = device.distribution or model.distribution
    distribution_path = f"{device_path if device.distribution else model_path}.distribution"
    mean, cv, shape = _service_mean_cv_shape(model, device, distribution, distribution_path, model_path,
                                              device_path, problems)
    memory = device.memory_bytes if device.memory_bytes is not None else model.memory_bytes
    load = device.load_time_s if device.load_time_s is not None else model.load_time_s
    return ServiceSpec(mean_s=mean, distribution=distribution, cv=cv,
                       memory_bytes=0.0 if memory is None else memory, load_time_s=0.0 if load is None else load,
                       batch_scaling=device.batch_scaling if device.batch_scaling is not None
                       else model.batch_scaling, shape=shape, samples_s=device.samples_s or ())


def _service_mean_cv_shape(model: ModelTable, device: DeviceCostTable, distribution: str, distribution_path: str,
                           model_path: str, device_path: str, problems: Problems) -> tuple[float, float, float]:
    """Mean, coefficient of variation and shape of a hand-given cost. ``samples`` takes only ``samples_s`` (its
    mean and cv, population form, are the samples'); every other family takes ``mean_s``; the cv is fixed by
    exponential (1) and deterministic (0), given for lognormal and gamma (bounded below), and follows from
    ``shape`` for pareto (shape > 1, else no mean) and weibull. A field the family does not take is refused."""
    mean = math.nan if device.mean_s is None else device.mean_s
    if distribution == SAMPLES:
        if device.mean_s is not None:
            problems.add(f"{device_path}.mean_s", "a \"samples\" distribution's mean is the mean of its samples_s; "
                         "remove mean_s (to reach another mean, scale the samples)")
        if device.samples_s is None:
            problems.add(f"{device_path}.samples_s", f"must list service times in seconds for distribution = "
                         f"\"samples\" ({distribution_path}), e.g. samples_s = [0.04, 0.05, 0.09]")
        else:
            samples = np.asarray(device.samples_s, dtype=float)
            mean = float(samples.mean())
    elif device.samples_s is not None:
        problems.add(f"{device_path}.samples_s", f"is the parameter of distribution = \"samples\"; this cost's "
                     f"distribution is {distribution!r} ({distribution_path})")
    elif device.mean_s is None:
        problems.add(f"{device_path}.mean_s", "must be given: the mean service time in seconds (or give "
                     "distribution = \"samples\" with samples_s)")
    shape = _service_shape(model, device, distribution, model_path, device_path, problems)
    cv_path = f"{device_path}.cv" if device.cv is not None else f"{model_path}.cv"
    given_cv = device.cv if device.cv is not None else model.cv
    if distribution in SHAPE_FAMILIES or distribution == SAMPLES:
        if device.cv is not None:
            follows = "its shape" if distribution in SHAPE_FAMILIES else "its samples_s"
            problems.add(f"{device_path}.cv", f"a {distribution} distribution's cv follows from {follows}; remove cv")
        if distribution == SAMPLES:
            return mean, _samples_cv(device.samples_s or (1.0,)), shape
        return mean, _shape_cv(distribution, shape), shape
    if distribution == "exponential" and given_cv is not None and given_cv != 1.0:
        problems.add(cv_path, f"an exponential distribution has cv = 1; got {given_cv} (use gamma or lognormal)")
    if distribution == "deterministic":
        return mean, 0.0, shape
    if distribution == "exponential":
        return mean, 1.0, shape
    cv = 1.0 if given_cv is None else given_cv
    if cv < CV_MIN:
        problems.add(cv_path, f"must be in [{CV_MIN:g}, {CV_MAX:g}] for a {distribution} distribution, got "
                     f"{cv!r} (for no variation use distribution = \"deterministic\")")
    return mean, cv, shape


def _service_shape(model: ModelTable, device: DeviceCostTable, distribution: str, model_path: str,
                   device_path: str, problems: Problems) -> float:
    """The shape of a pareto or weibull cost (the device's, else the model's); 1.0 for the other families, which
    refuse a device's shape given with them (a model's: `_model_defaults_problems`)."""
    shape_path = f"{device_path}.shape" if device.shape is not None else f"{model_path}.shape"
    given = device.shape if device.shape is not None else model.shape
    if distribution not in SHAPE_FAMILIES:
        if device.shape is not None:
            problems.add(shape_path, f"is the parameter of the pareto and weibull distributions; this cost's "
                         f"distribution is {distribution!r}")
        return 1.0
    if given is None:
        problems.add(f"{device_path}.shape", f"must be given for a {distribution} distribution (here or as "
                     f"{model_path}.shape), e.g. shape = 1.5")
        return math.nan
    if distribution == "pareto" and given <= PARETO_SHAPE_MIN:
        problems.add(shape_path, f"must be above {PARETO_SHAPE_MIN:g} for a pareto distribution, got {given!r}: "
                     "at shape <= 1 the mean service time is infinite (1.5 is a common heavy tail)")
        return math.nan
    return given


def _model_defaults_problems(model: ModelTable, path: str, problems: Problems) -> None:
    """A model's ``shape`` or ``cv`` its own distribution does not take (a device's override may use them)."""
    if model.shape is not None and model.distribution not in SHAPE_FAMILIES and not any(
            device.distribution in SHAPE_FAMILIES for device in model.devices.values()):
        problems.add(f"{path}.shape", f"is the parameter of the pareto and weibull distributions; this model's "
                     f"distribution is {model.distribution!r}")
    if model.cv is not None and (model.distribution in SHAPE_FAMILIES or model.distribution == SAMPLES):
        follows = "its shape" if model.distribution in SHAPE_FAMILIES else "its samples_s"
        problems.add(f"{path}.cv", f"a {model.distribution} distribution's cv follows from {follows}; remove cv")


def _shape_cv(distribution: str, shape: float) -> float:
    """The cv of a pareto (``1 / sqrt(shape (shape - 2))``, inf for shape <= 2: no variance) or weibull
    (``sqrt(Gamma(1 + 2/shape) / Gamma(1 + 1/shape)**2 - 1)``) distribution of a given shape."""
    if math.isnan(shape):
        return math.nan
    if distribution == "pareto":
        return 1.0 / math.sqrt(shape * (shape - 2.0)) if shape > 2.0 else math.inf
    log_ratio = math.lgamma(1.0 + 2.0 / shape) - 2.0 * math.lgamma(1.0 + 1.0 / shape)
    return math.sqrt(math.expm1(log_ratio))


def _samples_cv(samples_s: tuple[float, ...]) -> float:
    """The cv of drawing uniformly from ``samples_s``: their population standard deviation over their mean."""
    samples = np.asarray(samples_s, dtype=float)
    return float(samples.std() / samples.mean())


def _profile_costs(table: ModelTable, path: str, name: str, base_dir: Path,
                   problems: Problems) -> tuple[ProfileBinding | None, dict[str, ServiceSpec]]:
    """The model's profile (if it names one) and a cost per device kind the profile measured."""
    if table.profile is None:
        for key in ("profile_model", "dtype"):
            if getattr(table, key) is not None:
                problems.add(f"{path}.{key}", "needs profile = \"...\" (a shipped profile's name or a CSV path)")
        return None, {}
    profile_model = table.profile_model or name
    dtype = table.dtype or "float32"
    try:
        profile = load_profile(resolve_profile(table.profile, base_dir))
    except ProfileError as error:
        for problem in error.problems:
            problems.add(f"{path}.profile", problem)
        return None, {}
    kinds = profile.device_kinds(profile_model, dtype)
    if not kinds:
        listed = sorted({(row.model, row.dtype) for row in profile.rows})
        problems.add(f"{path}.profile_model" if table.profile_model is not None else f"{path}.profile",
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
            memory_bytes=(table.memory_bytes if table.memory_bytes is not None
                          else 0.0 if math.isnan(curve.weights_bytes) else curve.weights_bytes),
            load_time_s=(table.load_time_s if table.load_time_s is not None
                         else 0.0 if math.isnan(curve.load_time_s) else curve.load_time_s),
        )
    return ProfileBinding(name=table.profile, path=profile.path, model=profile_model, dtype=dtype), services


def resolve_models(tables: Mapping[str, ModelTable], base_dir: Path, problems: Problems) -> dict[str, ModelSpec]:
    """The cost table: a profile's measured costs, replaced per device kind by costs given by hand."""
    models: dict[str, ModelSpec] = {}
    for name, table in tables.items():
        path = f"models.{name}"
        binding, devices = _profile_costs(table, path, name, base_dir, problems)
        if table.batch_scaling is not None and table.profile is not None and not table.devices:
            problems.add(f"{path}.batch_scaling", "is the batch rule of costs given by hand "
                         f"([{path}.devices.KIND] mean_s = ...); this model's batches follow the batch curve "
                         "measured in its profile: remove batch_scaling")
        if not table.devices and table.profile is None:
            problems.add(f"{path}.devices", "must give the service time on at least one device kind, e.g. "
                         f"[{path}.devices.cpu-server] mean_s = 0.05 (or name a calibrated profile: "
                         "profile = \"cpu-2core\")")
        _model_defaults_problems(table, path, problems)
        for kind, device in table.devices.items():
            devices[kind] = _hand_given_cost(table, device, path, f"{path}.devices.{kind}", problems)
        models[name] = ModelSpec(name=name, devices=devices, profile=binding)
    return models


def _check_join(path: str, join: str | int, after: tuple[str, ...], problems: Problems) -> None:
    """A join other than "all" needs predecessors to wait for, and at most as many as the stage has."""
    if join == "all":
        return
    if not after:
        problems.add(path, f"is {join!r}, but the stage has no predecessors (`after`) to wait for; remove `join` "
                     f"or give the stage predecessors")
    elif isinstance(join, int) and join > len(after):
        problems.add(path, f"is {join}, but the stage has only {len(after)} predecessors (`after`); it must be "
                     f"\"all\", \"any\" or an integer in [1, {len(after)}]")


def _topological_stages(path: str, stages: dict[str, StageSpec], problems: Problems) -> tuple[StageSpec, ...]:
    import networkx as nx  # imported where used: the CLI answers --help without it

    graph = nx.DiGraph()
    graph.add_nodes_from(stages)
    for stage in stages.values():
        for before in stage.after:
            if before not in stages:
                problems.add(f"{path}.stages.{stage.name}.after", f"names unknown stage {before!r}; stages of "
                             f"this application: {', '.join(stages)}")
            else:
                graph.add_edge(before, stage.name)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        order = list(nx.lexicographical_topological_sort(graph, key=list(stages).index))
        return tuple(stages[name] for name in order)
    loop = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
    problems.add(f"{path}.stages", f"must form a DAG, but contain the cycle {loop}")
    return tuple(stages.values())


def resolve_applications(tables: Mapping[str, ApplicationTable], models: Mapping[str, ModelSpec],
                         vertex_names: set[str], problems: Problems) -> dict[str, ApplicationSpec]:
    """The applications, their stages in topological order; the sink defaults to the source."""
    applications: dict[str, ApplicationSpec] = {}
    if not tables:
        problems.add("applications", "must define at least one application with at least one stage")
    for name, table in tables.items():
        path = f"applications.{name}"
        if not table.stages:
            problems.add(f"{path}.stages", "must define at least one stage, e.g. "
                         f"[{path}.stages.infer] model = \"...\"")
        stages: dict[str, StageSpec] = {}
        for stage_name, stage in table.stages.items():
            if stage.model not in models:
                problems.add(f"{path}.stages.{stage_name}.model", f"unknown model {stage.model!r}; models in "
                             f"[models]: {', '.join(models) or '(none)'}")
            stages[stage_name] = StageSpec(name=stage_name, model=stage.model, work=stage.work,
                                           output_bytes=stage.output_bytes, after=stage.after,
                                           placement=stage.placement, input_bytes=stage.input_bytes,
                                           slots=stage.slots, memory_bytes=stage.memory_bytes,
                                           replicas=stage.replicas, join=stage.join, chunks=stage.chunks,
                                           streaming=stage.streaming, broker=stage.broker)
            _check_join(f"{path}.stages.{stage_name}.join", stage.join, stage.after, problems)
        sink = table.source if table.sink is None else table.sink
        for key, vertex in (("source", table.source), ("sink", sink)):
            if vertex is not None and vertex not in vertex_names:
                problems.add(f"{path}.{key}", f"unknown vertex {vertex!r}; known nodes, groups and switches: "
                             f"{', '.join(sorted(vertex_names))}")
        applications[name] = ApplicationSpec(
            name=name, stages=_topological_stages(path, stages, problems), source=table.source, sink=sink,
            input_bytes=table.input_bytes, deadline_s=math.inf if table.deadline_s is None else table.deadline_s,
            priority=table.priority, weight=table.weight,
            timeout_s=math.inf if table.timeout_s is None else table.timeout_s,
        )
    return applications


def _read_trace(problems: Problems, path: str, file_name: str, base_dir: Path, default_application: str | None,
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
            problems.add(field_path, problem)
        return (), ()
    times: list[float] = []
    names: list[str] = []
    rows = csv.DictReader(io.StringIO(text, newline=""))
    line = 1
    try:
        columns = rows.fieldnames or []
        if "time_s" not in columns:
            problems.add(field_path, f"trace {trace_path} needs a 'time_s' column; it has: "
                         f"{', '.join(columns) or '(no header)'}")
            return (), ()
        column = columns.index("time_s") + 1
        for row in rows:
            line = rows.line_num
            value = row["time_s"]
            try:
                time = ARRIVAL_TIME_S(float(value)) if isinstance(value, str) else math.nan
            except ValueError:  # not a number, or out of range (InvalidValueError)
                time = math.nan
            if math.isnan(time):
                problems.add(field_path, f"{trace_path} line {line}: time_s (column {column}) must be a "
                             f"number of seconds in [0, {MAX_TIME_S:g}], got {value!r}")
                return (), ()
            name = row.get("application") or default_application
            if name not in applications:
                problems.add(field_path, f"{trace_path} line {line}: application {name!r} is unknown; "
                             f"defined: {', '.join(applications) or '(none)'}")
                return (), ()
            if times and time < times[-1]:
                problems.add(field_path, f"{trace_path} line {line}: time_s must not decrease ({time:g} "
                             f"after {times[-1]:g})")
                return (), ()
            times.append(time)
            names.append(str(name))
    except csv.Error as error:
        problems.add(field_path, f"{trace_path} line {rows.line_num or line}: not valid CSV: {error}")
        return (), ()
    if not times:
        problems.warn(field_path, f"trace {trace_path} has a header but no rows: the stream makes no arrivals")
    return tuple(times), tuple(names)


def _check_cycle_rates(path: str, process: str, params: Mapping[str, object], problems: Problems) -> None:
    """An MMPP or on/off stream must expect at least `MIN_ARRIVALS_PER_CYCLE` arrivals per cycle of states."""
    if process == "mmpp":
        rates: tuple[float, ...] = params["rates_per_s"]  # type: ignore[assignment]
        sojourns: tuple[float, ...] = params["mean_sojourn_s"]  # type: ignore[assignment]
        if len(rates) != len(sojourns):
            problems.add(f"{path}.mean_sojourn_s", "must have one entry per entry of rates_per_s")
        elif not any(rate > 0 for rate in rates):
            problems.add(f"{path}.rates_per_s", "must have at least one positive rate")
        else:
            per_cycle = sum(r * t for r, t in zip(rates, sojourns, strict=True))
            if per_cycle < MIN_ARRIVALS_PER_CYCLE:
                problems.add(f"{path}.rates_per_s", f"x mean_sojourn_s summed over the states must be at least "
                             f"{MIN_ARRIVALS_PER_CYCLE:g} (expected arrivals per cycle of the states), got "
                             f"{per_cycle:.3g}")
    elif process == "on_off":
        per_cycle = float(params["rate_per_s"]) * float(params["mean_on_s"])  # type: ignore[arg-type]
        if per_cycle < MIN_ARRIVALS_PER_CYCLE:
            problems.add(f"{path}.mean_on_s", f"x rate_per_s must be at least {MIN_ARRIVALS_PER_CYCLE:g} "
                         f"(expected arrivals per on period), got {per_cycle:.3g}")


def resolve_arrivals(tables: Mapping[str, ArrivalTable], applications: Mapping[str, ApplicationSpec],
                     groups: Mapping[str, list[str]], vertex_names: set[str], base_dir: Path,
                     problems: Problems) -> list[ArrivalSpec]:
    """The arrival streams. A stream whose source (or sink) is a group becomes one stream per member; a trace
    naming several applications becomes one stream per application, so that each row's job comes from its
    application's own source and goes to its sink unless the stream sets `source` / `sink`."""
    arrivals: list[ArrivalSpec] = []
    if not tables:
        problems.add("arrivals", "must define at least one arrival stream, e.g. [arrivals.users] "
                     "application = \"...\", process = \"poisson\", rate_per_s = 1.0")
    for name, table in tables.items():
        path = f"arrivals.{name}"
        application = table.application
        if application is not None and application not in applications:
            problems.add(f"{path}.application", f"unknown application {application!r}; defined: "
                         f"{', '.join(applications) or '(none)'}")
            continue
        params = table.process_params()
        _check_cycle_rates(path, table.process, params, problems)
        start = table.start_s
        stop = math.inf if table.stop_s is None else table.stop_s
        if stop <= start:
            problems.warn(f"{path}.stop_s", f"({stop:g} s) is not after start_s ({start:g} s): the stream makes "
                          "no arrivals")
        for key, vertex in (("source", table.source), ("sink", table.sink)):
            if vertex is not None and vertex not in vertex_names and vertex not in groups:
                problems.add(f"{path}.{key}", f"unknown vertex {vertex!r}; known nodes, groups and switches: "
                             f"{', '.join(sorted(vertex_names | set(groups)))}")
        trace_times: tuple[float, ...] = ()
        trace_apps: tuple[str, ...] = ()
        if table.process == "trace":
            trace_times, trace_apps = _read_trace(problems, path, str(params["file"]), base_dir, application,
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
            source = table.source if table.source is not None else app_spec.source if app_spec else None
            sink: str | None
            if table.sink is not None:
                sink = table.sink
            elif table.source is not None and (app_spec is None or app_spec.sink == app_spec.source):
                sink = table.source
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
                    process=table.process,
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
