"""Semantic checks of a resolved scenario: things no single table shows wrong, found by looking at the whole
(every stage can run somewhere and reach its data, a batching node has something to batch, the run ends)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from simulator.calibration.profile import ProfileError, load_profile
from simulator.config.network_spec import NetworkSpec
from simulator.config.problems import Problems
from simulator.config.schema import EMPIRICAL, MAX_FAILURE_EVENTS, MAX_MONITOR_SAMPLES, SAMPLES
from simulator.config.specs import (
    RESOURCE_QUEUES,
    ApplicationSpec,
    ArrivalSpec,
    FailureProcessSpec,
    ModelSpec,
    NodeSpec,
    PolicySpec,
    RebalancingSpec,
    Scenario,
    ServiceSpec,
    SimulationSpec,
    StageSpec,
    eligible_node_names,
    memory_limits_residency,
)

__all__ = [
    "check_batch_rules",
    "check_clairvoyance",
    "check_endless_processes",
    "check_joins",
    "check_placement_and_routes",
    "check_queue_disciplines",
    "check_replicas",
    "check_resource_demands",
    "check_run_ends",
    "check_streaming",
]


def check_placement_and_routes(problems: Problems, nodes: Sequence[NodeSpec], network: NetworkSpec,
                               models: Mapping[str, ModelSpec], applications: Mapping[str, ApplicationSpec],
                               arrivals: Sequence[ArrivalSpec]) -> None:
    """Every stage names known placement targets and can run on some node, and the vertices an application
    moves data between (its eligible nodes, its streams' sources and sinks) are connected by links."""
    import networkx as nx  # imported where used: the CLI answers --help without it

    graph = nx.Graph()
    graph.add_nodes_from(node.name for node in nodes)
    graph.add_nodes_from(network.switches)
    graph.add_edges_from(link.endpoints for link in network.links)
    vertices = set(graph.nodes)
    component_of: dict[str, int] = {}  # vertex -> index of its connected component, computed on first need
    known_targets = {label for n in nodes for label in (n.name, n.group, n.kind)}
    for application in applications.values():
        involved: set[str] = set()
        for stage in application.stages:
            path = f"applications.{application.name}.stages.{stage.name}"
            for target in stage.placement:
                if target not in known_targets:
                    problems.add(f"{path}.placement", f"names {target!r}, which is no node, group or device kind; "
                                 f"known: {', '.join(sorted(known_targets))}")
            eligible = eligible_node_names(stage, nodes, models)
            if not eligible and stage.model in models:
                kinds = ", ".join(map(repr, models[stage.model].devices)) or "(none)"
                node_kinds = ", ".join(sorted({repr(node.kind) for node in nodes}))
                where = f" and placement {list(stage.placement)}" if stage.placement else ""
                services = models[stage.model].devices
                too_small = [f"{node.name} ({node.memory_bytes:.4g} < {services[node.kind].memory_bytes:.4g} bytes)"
                             for node in nodes
                             if node.kind in services and services[node.kind].memory_bytes > node.memory_bytes]
                memory = f"; too little memory_bytes for the model on: {', '.join(too_small)}" if too_small else ""
                demand = (f"; it demands {stage.slots} slots and {stage.memory_bytes:.4g} memory_bytes, which a node "
                          "must have" if stage.demands_resources else "")
                problems.add(path, f"can run on no node: model {stage.model!r} has costs for device kinds {kinds}"
                             f"{where}, but the nodes are of kinds {node_kinds}{memory}{demand}")
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
                problems.add(f"applications.{application.name}",
                             f"needs data transfers between vertices that no links connect: {parts}")


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


def check_batch_rules(problems: Problems, nodes: Sequence[NodeSpec], models: Mapping[str, ModelSpec]) -> None:
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
        problems.add(f"nodes.{node.group}.max_batch_size",
                     f"is {node.max_batch_size}, but no model that runs on device kind {node.kind!r} "
                     f"({', '.join(runnable)}) has a batch rule, so every batch would hold one task: give a model "
                     f"batch_scaling (e.g. [models.{runnable[0]}] batch_scaling = 0.5: a batch of b tasks takes "
                     "the time of one x b**0.5), or a profile measured at batch sizes above 1, or set "
                     "max_batch_size = 1")


def check_queue_disciplines(problems: Problems, nodes: Sequence[NodeSpec], models: Mapping[str, ModelSpec]) -> None:
    """The disciplines of `simulator.disciplines` (sjf, ps, rr, wfq) serve one task at a time per slot or share
    the node between tasks: they do not batch and do not load models into a limited memory."""
    reported: set[str] = set()
    for node in nodes:
        if node.queue in ("fifo", "priority") or node.group in reported:
            continue
        if node.max_batch_size > 1:
            reported.add(node.group)
            problems.add(f"nodes.{node.group}.queue", f"is {node.queue!r}, which does not batch: with "
                         f"max_batch_size = {node.max_batch_size} use queue = \"fifo\" or \"priority\", or set "
                         "max_batch_size = 1")
        elif memory_limits_residency(node, models):
            reported.add(node.group)
            problems.add(f"nodes.{node.group}.queue", f"is {node.queue!r}, which does not manage model residency: "
                         f"with a finite memory_bytes ({node.memory_bytes:.4g}) that models occupy use queue = "
                         "\"fifo\" or \"priority\", or remove memory_bytes")


def check_resource_demands(problems: Problems, nodes: Sequence[NodeSpec], models: Mapping[str, ModelSpec],
                           applications: Mapping[str, ApplicationSpec]) -> None:
    """A stage that demands resources (``slots`` > 1 or ``memory_bytes`` > 0) runs only on nodes that neither
    batch nor hold models resident in a finite memory, and queue first-come-first-served or by priority: the
    multi-resource node that runs it does not combine with model serving."""
    for application in applications.values():
        for stage in application.stages:
            if not stage.demands_resources:
                continue
            path = f"applications.{application.name}.stages.{stage.name}"
            names = set(eligible_node_names(stage, nodes, models))
            for node in nodes:
                if node.name not in names:
                    continue
                if node.max_batch_size > 1 or memory_limits_residency(node, models):
                    why = ("batches (max_batch_size > 1)" if node.max_batch_size > 1
                           else "holds models resident in a finite memory_bytes")
                    problems.add(path, f"demands {stage.slots} slots and {stage.memory_bytes:.4g} memory_bytes, but "
                                 f"may run on node {node.name!r}, which {why}; stage demands are allowed only on "
                                 "nodes without batching or model residency: restrict the stage's placement, or "
                                 "set slots = 1 and memory_bytes = 0")
                    break
                if node.queue not in RESOURCE_QUEUES:
                    problems.add(path, f"demands {stage.slots} slots and {stage.memory_bytes:.4g} memory_bytes, but "
                                 f"may run on node {node.name!r}, whose queue is {node.queue!r}; nodes running stages "
                                 f"with demands allow queue = {' or '.join(map(repr, RESOURCE_QUEUES))}")
                    break


def check_run_ends(problems: Problems, simulation: SimulationSpec, arrivals: Sequence[ArrivalSpec]) -> None:
    """A run needs an end: a job limit, a horizon, or streams that all stop (a trace stops by itself)."""
    if simulation.max_jobs is None and simulation.horizon_s is None and any(
        a.process != "trace" and math.isinf(a.stop_s) for a in arrivals
    ):
        problems.add("simulation", "needs max_jobs or horizon_s (or every arrival stream needs stop_s), "
                     "otherwise the run never ends")


def check_endless_processes(problems: Problems, simulation: SimulationSpec, failures: Sequence[FailureProcessSpec],
                            rebalancing: RebalancingSpec, n_nodes: int) -> None:
    """Failure processes (a failure is always followed by a repair, and that by the next failure) and the
    rebalancing monitor (a check every interval) never end by themselves: only a horizon ends such a run, and the
    horizon must not hold more of their events than a run can process (`MAX_FAILURE_EVENTS`,
    `MAX_MONITOR_SAMPLES`)."""
    horizon_s = simulation.horizon_s
    if horizon_s is None:
        if failures:
            tables = ", ".join(f"[{table}]" for table in dict.fromkeys(process.table for process in failures))
            problems.add("simulation.horizon_s", f"is required with failures ({tables}): failure processes never "
                         "end (each repair is followed by the next failure), so only a horizon ends the run: set "
                         "simulation.horizon_s")
        if rebalancing.trigger != "off":
            problems.add("simulation.horizon_s", f"is required with rebalancing.trigger = {rebalancing.trigger!r}: "
                         "the rebalancing monitor checks every interval_s for ever, so only a horizon ends the run: "
                         "set simulation.horizon_s")
        return
    expected = {process.table: 0.0 for process in failures}
    for process in failures:
        cycle_s = process.time_to_failure.mean_s + process.time_to_repair.mean_s
        expected[process.table] += 2 * horizon_s / cycle_s if cycle_s > 0 else math.inf
    if sum(expected.values()) > MAX_FAILURE_EVENTS:
        worst = max(expected, key=lambda table: expected[table])
        problems.add(f"{worst}.time_to_failure", f"makes about {sum(expected.values()):.3g} failures and repairs "
                     f"expected before simulation.horizon_s ({horizon_s:g} s) with the other failure tables; at "
                     f"most {MAX_FAILURE_EVENTS:g} are allowed: lengthen the mean time to failure or repair, or "
                     "shorten the horizon")
    if rebalancing.trigger != "off" and horizon_s / rebalancing.interval_s * n_nodes > MAX_MONITOR_SAMPLES:
        problems.add("rebalancing.interval_s", f"({rebalancing.interval_s:g} s) makes the monitor sample "
                     f"{horizon_s / rebalancing.interval_s * n_nodes:.3g} node states before simulation.horizon_s "
                     f"({horizon_s:g} s, {n_nodes} nodes); at most {MAX_MONITOR_SAMPLES:g} are allowed: lengthen "
                     "the interval or shorten the horizon")


def check_replicas(problems: Problems, nodes: Sequence[NodeSpec], models: Mapping[str, ModelSpec],
                   applications: Mapping[str, ApplicationSpec]) -> None:
    """A stage runs its ``replicas`` on distinct nodes: asking for more replicas than it has eligible nodes is
    valid (it gets as many as there are) but probably not what was meant."""
    for application in applications.values():
        for stage in application.stages:
            if stage.replicas <= 1:
                continue
            eligible = eligible_node_names(stage, nodes, models)
            if 0 < len(eligible) < stage.replicas:
                problems.warn(f"applications.{application.name}.stages.{stage.name}.replicas",
                              f"is {stage.replicas}, but the stage may run on only {len(eligible)} nodes "
                              f"({', '.join(eligible)}): a task runs on at most {len(eligible)} at once")


def check_joins(problems: Problems, scenario: Scenario) -> None:
    """Asynchronous joins (a stage's ``join`` other than "all") run only in a static world for now: with failures,
    outages, timeouts, re-allocation or replicas a late predecessor could be re-run or cancelled after its job
    completed, which the recovery layer does not model."""
    if not scenario.is_dynamic:
        return
    for application in scenario.applications.values():
        for stage in application.stages:
            if stage.join != "all":
                problems.add(f"applications.{application.name}.stages.{stage.name}.join",
                             f"is {stage.join!r}, but asynchronous joins are not supported in a dynamic scenario "
                             f"(failures, outages, job timeouts, rebalancing, work stealing or replicas); use "
                             f"join = \"all\" or a static scenario")


def check_streaming(problems: Problems, scenario: Scenario) -> None:
    """Chunked outputs, streaming stages and brokers (`simulator.streaming`): a known broker connected to the nodes
    it serves, a streaming stage with inputs that wait for all of them on nodes whose slots each serve one task
    (not processor sharing, round robin, batching or model residency), and a static world (a failure, retry or
    move of a task whose chunks are in flight is not modelled)."""
    brokers = {broker.name for broker in scenario.network.brokers}
    for application in scenario.applications.values():
        stages = {stage.name: stage for stage in application.stages}
        for stage in application.stages:
            path = f"applications.{application.name}.stages.{stage.name}"
            used = [(field, value) for field, value, default in (("chunks", stage.chunks, 1),
                                                                   ("streaming", stage.streaming, False),
                                                                   ("broker", stage.broker, None))
                    if value != default]
            if stage.broker is not None and stage.broker not in brokers:
                problems.add(f"{path}.broker", f"names unknown broker {stage.broker!r}; brokers in "
                             f"[network.brokers]: {', '.join(sorted(brokers)) or '(none)'}")
            if scenario.is_dynamic:
                for field, value in used:
                    problems.add(f"{path}.{field}", f"is {value!r}, but chunked outputs, streaming and brokers are "
                                 "not supported in a dynamic scenario (failures, outages, job timeouts, "
                                 "rebalancing, work stealing or replicas); remove it or use a static scenario")
            if stage.streaming:
                if not stage.after:
                    problems.add(f"{path}.streaming", "is true, but the stage has no predecessors (`after`) whose "
                                 "output could stream to it; remove it or set chunks on a predecessor")
                if stage.join != "all":
                    problems.add(f"{path}.streaming", f"is true, but the stage's join is {stage.join!r}: a streaming "
                                 "stage waits for all of its inputs (join = \"all\")")
                _check_streaming_nodes(problems, path, stage, scenario)
            if (stage.chunks > 1 or stage.broker is not None) and any(
                    stages[other].join != "all" for other in stages if stage.name in stages[other].after):
                field = "chunks" if stage.chunks > 1 else "broker"
                problems.add(f"{path}.{field}", f"is {getattr(stage, field)!r}, but a successor of the stage has an "
                             "asynchronous join (join other than \"all\"), which takes its inputs whole and direct")
    _check_broker_routes(problems, scenario)


def _check_streaming_nodes(problems: Problems, path: str, stage: StageSpec, scenario: Scenario) -> None:
    """A streaming task holds its slot until its last chunk is in: only nodes whose slots serve one task each, whose
    completions `StreamingDispatcher.gate_nodes` can hold."""
    demanding = {name for application in scenario.applications.values() for other in application.stages
                 if other.demands_resources for name in eligible_node_names(other, scenario.nodes, scenario.models)}
    for name in eligible_node_names(stage, scenario.nodes, scenario.models):
        node = next(node for node in scenario.nodes if node.name == name)
        if (node.queue in ("ps", "rr") or node.max_batch_size > 1 or memory_limits_residency(node, scenario.models)
                or name in demanding):
            problems.add(f"{path}.streaming", f"is true, but the stage may run on node {name!r}, which shares its "
                         f"slots (queue {node.queue!r}), batches, limits model residency or runs stages with slot or "
                         "memory demands; streaming stages run on nodes with queue fifo, priority, sjf or wfq, no "
                         "batching, unlimited memory and one slot per task (restrict the stage's placement)")


def _check_broker_routes(problems: Problems, scenario: Scenario) -> None:
    """A stage's outputs reach its broker from every node it may run on, and its successors and sink from there."""
    import networkx as nx  # imported where used: the CLI answers --help without it

    routed = [(application, stage) for application in scenario.applications.values()
              for stage in application.stages if stage.broker is not None]
    if not routed or not scenario.network.brokers:
        return
    graph = nx.Graph()
    graph.add_nodes_from(scenario.node_names)
    graph.add_nodes_from(scenario.network.switches)
    graph.add_edges_from(link.endpoints for link in scenario.network.links)
    for application, stage in routed:
        if stage.broker not in graph:
            continue
        reached = nx.node_connected_component(graph, stage.broker)
        ends = set(eligible_node_names(stage, scenario.nodes, scenario.models))
        successors = [other for other in application.stages if stage.name in other.after]
        for successor in successors:
            ends |= set(eligible_node_names(successor, scenario.nodes, scenario.models))
        if not successors:  # an exit stage: its results go to the sinks
            ends |= {sink for sink in (application.sink, *(arrival.sink for arrival in scenario.arrivals
                                                            if arrival.application == application.name)) if sink}
        unreached = sorted(ends - reached)
        if unreached:
            problems.add(f"applications.{application.name}.stages.{stage.name}.broker",
                         f"is {stage.broker!r}, but no links connect the broker to {', '.join(unreached)} (nodes "
                         "the stage or its successors may run on, or its sink)")


def _size_law(service: ServiceSpec) -> tuple[object, ...]:
    """What a service time divided by its mean follows: the family and its shape parameter (cv, shape, or the
    samples over their mean); two device kinds with equal laws scale one size factor by their means exactly."""
    if service.distribution == "deterministic":
        return ("deterministic",)
    if service.distribution in ("pareto", "weibull"):
        return service.distribution, service.shape
    if service.distribution == SAMPLES:
        return SAMPLES, tuple(round(sample / service.mean_s, 12) for sample in sorted(service.samples_s))
    return service.distribution, service.cv


def check_clairvoyance(problems: Problems, policy: PolicySpec, nodes: Sequence[NodeSpec],
                       models: Mapping[str, ModelSpec], applications: Mapping[str, ApplicationSpec]) -> None:
    """``clairvoyant`` draws one size factor per task and scales it by the task's expected time on each node
    (`simulator.sizes`): exact only when every device kind of a stage's model has the same law up to its mean,
    and only for costs given by hand (a profile's measured latencies and batch curves are not a law times a
    mean) on nodes that serve one task per slot (model servers batch and load models)."""
    if not policy.clairvoyant:
        return
    path = "policy.clairvoyant"
    used = dict.fromkeys(stage.model for application in applications.values() for stage in application.stages)
    for name in used:
        model = models[name]
        if model.profile is not None or any(service.distribution == EMPIRICAL for service in model.devices.values()):
            problems.add(path, f"is true, but model {name!r} takes its costs from a calibrated profile: task sizes "
                         "are known only for costs given by hand (mean_s with a distribution); set clairvoyant = "
                         "false or give the model's costs by hand")
            continue
        batched = [kind for kind, service in model.devices.items() if service.batch_scaling is not None]
        if batched:
            problems.add(path, f"is true, but model {name!r} has a batch curve (batch_scaling) on device kind "
                         f"{batched[0]!r}: a batch's time is not the sum of known task sizes; set clairvoyant = "
                         "false or remove batch_scaling")
            continue
        laws = {kind: _size_law(service) for kind, service in model.devices.items()}
        if len(set(laws.values())) > 1:
            described = ", ".join(f"{kind}: {' '.join(map(str, law))}" for kind, law in laws.items())
            problems.add(path, f"is true, but model {name!r} has service times of different families or shapes "
                         f"on its device kinds ({described}): one known size cannot give each kind's times; set "
                         "clairvoyant = false or give every device kind the same distribution and cv (or shape)")
    for node in nodes:
        if node.max_batch_size > 1 or memory_limits_residency(node, models):
            why = (f"batches (max_batch_size = {node.max_batch_size})" if node.max_batch_size > 1
                   else f"loads models into a limited memory (memory_bytes = {node.memory_bytes:.4g})")
            problems.add(path, f"is true, but node group {node.group!r} {why}, as a model server does: known "
                         "sizes apply to nodes that serve one task per slot; set clairvoyant = false, or "
                         "max_batch_size = 1 and no memory_bytes limit on that group")
            return
